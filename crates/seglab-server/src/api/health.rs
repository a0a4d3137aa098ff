//! `/healthz` and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::AppState;

pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"status": "ok", "pending_events": state.store.pending_events()}))
}

pub async fn metrics() -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        crate::metrics::install().render(),
    )
}

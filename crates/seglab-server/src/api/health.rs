//! `/healthz` and `/metrics`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::AppState;

/// `{"status": "ok"}`, or `"storage_full"` with the databases that found
/// their disk full (ingestion answers 503 while `seglab.db` is among them).
/// Always 200: the process is alive and recovers by itself when there is
/// room.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    let full = full_databases(&state);
    Json(json!({
        "status": if full.is_empty() { "ok" } else { "storage_full" },
        "storage_full": full,
        "pending_events": state.store.pending_events(),
    }))
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let full = full_databases(&state);
    for db in [
        seglab_store::DB_FILE,
        seglab_live::db::LIVE_DB_FILE,
        seglab_campaign::db::CAMPAIGNS_DB_FILE,
    ] {
        crate::metrics::storage_full(db, full.contains(&db));
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        crate::metrics::install().render(),
    )
}

/// The databases whose latest write failed for want of space.
fn full_databases(state: &AppState) -> Vec<&'static str> {
    [
        (seglab_store::DB_FILE, state.store.storage_full()),
        (seglab_live::db::LIVE_DB_FILE, state.live.storage_full()),
        (
            seglab_campaign::db::CAMPAIGNS_DB_FILE,
            state.campaigns.storage_full(),
        ),
    ]
    .into_iter()
    .filter_map(|(db, full)| full.then_some(db))
    .collect()
}

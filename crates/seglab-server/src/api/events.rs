//! `GET /api/v1/events?after=SEQ&limit=N`: the event log in order.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;

use crate::extract::Query;
use axum::Json;
use seglab_store::StoredEvent;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::ApiResult;

pub const MAX_LIMIT: usize = 1000;

pub(crate) fn routes() -> Management {
    Management::new().read(Method::GET, "/api/v1/events", list)
}

#[derive(Deserialize)]
struct Params {
    after: Option<i64>,
    limit: Option<usize>,
}

async fn list(
    State(state): State<Arc<AppState>>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let after = params.after.unwrap_or(0);
    let events = super::blocking(&state, move |s| {
        Ok(s.store.reader().events_after(after, limit)?)
    })
    .await?;
    let next = if events.len() == limit {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(
        json!({"events": events.iter().map(StoredEvent::to_json).collect::<Vec<_>>(), "next": next}),
    ))
}

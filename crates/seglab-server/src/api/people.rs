//! `GET /api/v1/people/{id}`: a person's ids, traits and latest events.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;

use crate::extract::{Path, Query};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult};

pub(crate) fn routes() -> Management {
    Management::new().read(Method::GET, "/api/v1/people/{id}", show)
}

#[derive(Deserialize)]
struct Params {
    events: Option<usize>,
}

async fn show(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(params): Query<Params>,
) -> ApiResult<Json<Value>> {
    let latest = params.events.unwrap_or(20).min(1000);
    let lookup = id.clone();
    let person = super::blocking(&state, move |s| {
        Ok(s.store.reader().person(&lookup, latest)?)
    })
    .await?;
    person
        .map(|p| Json(p.to_json()))
        .ok_or_else(|| ApiError::not_found(format!("no person with id {id:?}")))
}

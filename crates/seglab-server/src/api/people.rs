//! People:
//!
//! - `GET /api/v1/people/{id}`: a person's ids, traits and latest events.
//! - `DELETE /api/v1/people/{id}`: deletes the person and everyone merged
//!   into them, everywhere (ADR 0014); answers what was deleted.
//! - `DELETE /api/v1/tombstones/{id}`: lets an id (or email address) of a
//!   deleted person in again.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode};

use crate::extract::{Path, Query};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult};

pub(crate) fn routes() -> Management {
    Management::new()
        .read(Method::GET, "/api/v1/people/{id}", show)
        .full(Method::DELETE, "/api/v1/people/{id}", remove)
        .full(Method::DELETE, "/api/v1/tombstones/{id}", lift)
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

async fn remove(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    super::blocking(&state, move |s| {
        match crate::erase::delete_person(s, &id)? {
            Some(deletion) => Ok(Json(deletion.to_json())),
            None => Err(ApiError::not_found(format!("no person with id {id:?}"))),
        }
    })
    .await
}

async fn lift(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    super::blocking(&state, move |s| {
        if s.store.lift_tombstone(&id)? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::not_found(format!(
                "{id:?} is not the id or address of a deleted person"
            )))
        }
    })
    .await
}

//! Write keys: `GET /api/v1/keys`, `POST /api/v1/keys {"name"}`,
//! `DELETE /api/v1/keys/{key}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;

use crate::extract::Path;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use seglab_event::time::format_timestamp;
use seglab_store::WriteKey;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult};

pub(crate) fn routes() -> Management {
    // Listing shows the keys themselves: credentials, so `full`.
    Management::new()
        .full(Method::GET, "/api/v1/keys", list)
        .full(Method::POST, "/api/v1/keys", create)
        .full(Method::DELETE, "/api/v1/keys/{key}", revoke)
}

pub fn key_json(k: &WriteKey) -> Value {
    json!({
        "key": k.key,
        "name": k.name,
        "created_at": format_timestamp(k.created_at),
        "revoked_at": k.revoked_at.map(format_timestamp),
    })
}

async fn list(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    let keys = super::blocking(&state, |s| Ok(s.store.reader().list_keys()?)).await?;
    Ok(Json(
        json!({"keys": keys.iter().map(key_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    name: String,
}

async fn create(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let req: NewKey = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("expected {{\"name\": \"…\"}}: {e}"))
    })?;
    if req.name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_name",
            "`name` must not be empty",
        ));
    }
    let key = super::blocking(&state, move |s| {
        Ok(s.store.reader().create_key(req.name.trim())?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(key_json(&key))).into_response())
}

async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    let done = super::blocking(&state, move |s| {
        let done = s.store.reader().revoke_key(&key)?;
        s.keys.refresh(s.store.reader());
        Ok(done)
    })
    .await?;
    if done {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no active key with that value"))
    }
}

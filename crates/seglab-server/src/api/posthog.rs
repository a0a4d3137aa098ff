//! PostHog's capture endpoints: `/batch`, `/capture`, `/e`, `/i/v0/e`, `/track`,
//! `/engage`, with or without a trailing slash, by POST or GET.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;

use crate::extract::Query;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use seglab_event::time::now_millis;
use seglab_event::wire::posthog;

use crate::error::{ApiError, ApiResult};
use crate::{AppState, body, preflight, with_cors};

const PATHS: [&str; 6] = ["/batch", "/capture", "/e", "/i/v0/e", "/track", "/engage"];

pub fn routes() -> Router<Arc<AppState>> {
    let mut r = Router::new();
    for p in PATHS {
        for path in [p.to_owned(), format!("{p}/")] {
            r = r.route(&path, get(handle).post(handle).options(preflight));
        }
    }
    r
}

async fn handle(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let res = match capture(&state, &query, &headers, body).await {
        Ok(()) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"status":1}"#,
        )
            .into_response(),
        Err(e) => {
            crate::metrics::rejected(e.code);
            e.into_response()
        }
    };
    with_cors(res)
}

/// `data=` values are base64 (as posthog-js sends them) or plain JSON.
fn decode_data(data: &str) -> ApiResult<Vec<u8>> {
    let t = data.trim();
    if t.starts_with('{') || t.starts_with('[') {
        return Ok(t.as_bytes().to_vec());
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|_| ApiError::bad_request("invalid_body", "`data` is neither JSON nor base64"))
}

async fn capture(
    state: &AppState,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<()> {
    let raw = body::read(body).await?;
    let form = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let mut fields: HashMap<String, String> = query.clone();
    if form {
        fields.extend(form_urlencoded::parse(&raw).into_owned());
    }
    let gzip = body::is_gzip(headers)
        || fields
            .get("compression")
            .is_some_and(|c| c.starts_with("gzip"));
    let mut bytes = match fields.get("data") {
        Some(data) if form || raw.is_empty() => decode_data(data)?,
        _ => raw.to_vec(),
    };
    if gzip {
        bytes = body::gunzip(&bytes)?;
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request("invalid_body", "the body is empty"));
    }
    let batch = posthog::parse(&bytes, now_millis())?;
    let key = batch
        .write_key
        .as_deref()
        .ok_or(seglab_event::Error::MissingWriteKey)?;
    crate::auth::writer(state, key)?;
    super::store_events(state, batch.events, false, "posthog").await
}

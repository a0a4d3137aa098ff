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
use seglab_event::time::now_millis;
use seglab_event::wire::body::{PostHogHeaders, posthog_body};
use seglab_event::wire::posthog;

use crate::error::ApiResult;
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
    let sent = PostHogHeaders {
        form,
        gzip: body::is_gzip(headers),
    };
    let bytes = posthog_body(query, sent, &raw)?;
    let batch = posthog::parse(&bytes, now_millis())?;
    let key = batch
        .write_key
        .as_deref()
        .ok_or(seglab_event::Error::MissingWriteKey)?;
    crate::auth::writer(state, key)?;
    super::store_events(state, batch.events, false, "posthog").await
}

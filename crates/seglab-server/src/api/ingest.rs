//! The Segment HTTP Tracking API: `/v1/{track,identify,page,screen,group,alias}`,
//! `/v1/batch`, `/v1/import` and analytics.js's short paths.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;

use crate::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use seglab_event::time::now_millis;
use seglab_event::wire::body::gunzip;
use seglab_event::wire::segment_spec::{self, Endpoint};

use crate::error::{ApiError, ApiResult};
use crate::{AppState, auth, body, preflight, with_cors};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/v1/{kind}", post(handle).options(preflight))
}

/// Exactly what Segment answers, and what the SDKs check for.
pub(crate) fn success() -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        r#"{"success":true}"#,
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<AppState>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let res = match ingest(&state, &kind, &headers, body).await {
        Ok(()) => success(),
        Err(e) => {
            crate::metrics::rejected(e.code);
            e.into_response()
        }
    };
    with_cors(res)
}

async fn ingest(state: &AppState, kind: &str, headers: &HeaderMap, body: Body) -> ApiResult<()> {
    let endpoint = Endpoint::from_path(kind)
        .ok_or_else(|| ApiError::not_found(format!("no ingestion endpoint /v1/{kind}")))?;
    let header_key = auth::basic_key(headers)?;
    if let Some(key) = &header_key {
        auth::writer(state, key)?;
    }
    let raw = body::read(body).await?;
    let bytes: Cow<'_, [u8]> = if body::is_gzip(headers) {
        Cow::Owned(gunzip(&raw)?)
    } else {
        Cow::Borrowed(&raw)
    };
    let batch = segment_spec::parse(&bytes, endpoint, now_millis())?;
    if header_key.is_none() {
        let key = batch
            .write_key
            .as_deref()
            .ok_or(seglab_event::Error::MissingWriteKey)?;
        auth::writer(state, key)?;
    }
    super::store_events(state, batch.events, kind == "import", "segment").await
}

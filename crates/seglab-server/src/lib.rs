//! seglab's HTTP server.
//!
//! [`router`] builds the whole axum application from an [`AppState`], so tests call
//! it in-process and the binary serves it on a socket:
//!
//! * ingestion: the Segment HTTP Tracking API (`/v1/*`) and PostHog capture paths,
//!   authenticated by write keys;
//! * management: JSON under `/api/v1/*`, authenticated by the admin token;
//! * operations: `/healthz` and `/metrics` (Prometheus).

mod api;
mod auth;
mod body;
mod error;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use seglab_segments::Segments;
use seglab_store::Store;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::KeyCache;
pub use error::{ApiError, ErrorKind};

/// Limits and tuning of the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Events waiting for a commit beyond which ingestion answers 429.
    pub max_pending_events: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_pending_events: 200_000,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub store: Arc<Store>,
    pub keys: KeyCache,
    pub admin_token: String,
    pub limits: Limits,
    /// Timelines and segment definitions, loaded from the store.
    pub segments: Segments,
}

impl AppState {
    /// Builds the state for `store`: its write keys, and the engine loaded with
    /// every event, trait and segment definition.
    pub fn new(
        store: Arc<Store>,
        admin_token: String,
        limits: Limits,
    ) -> seglab_segments::Result<Arc<AppState>> {
        metrics::install();
        let keys = KeyCache::load(store.reader())?;
        let segments = Segments::open(store.reader(), Some(store.dir()))?;
        Ok(Arc::new(AppState {
            store,
            keys,
            admin_token,
            limits,
            segments,
        }))
    }
}

/// The whole application.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .merge(api::ingest::routes())
        .merge(api::posthog::routes())
        .merge(api::people::routes())
        .merge(api::events::routes())
        .merge(api::keys::routes())
        .merge(api::segments::routes())
        .route("/healthz", get(api::health::healthz))
        .route("/metrics", get(api::health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(ErrorKind::Internal, "internal", "internal error").into_response()
        }))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorKind::MethodNotAllowed,
        "method_not_allowed",
        "method not allowed on this endpoint",
    )
}

/// Adds the CORS headers browsers need to post events from any site.
pub(crate) fn with_cors(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Content-Type, Authorization, Content-Encoding"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    res
}

pub(crate) async fn preflight(method: Method) -> Response {
    debug_assert_eq!(method, Method::OPTIONS);
    with_cors(StatusCode::NO_CONTENT.into_response())
}

/// Refreshes the write-key cache every `every` until the process ends, so a key
/// revoked from the CLI stops working within that time.
pub fn spawn_key_refresh(state: Arc<AppState>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || s.keys.refresh(s.store.reader())).await;
        }
    })
}

/// Loads newly committed events, merges and definitions into the timelines every
/// `every`, so segments stay current between API calls.
pub fn spawn_segment_refresh(state: Arc<AppState>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = state.clone();
            let done =
                tokio::task::spawn_blocking(move || s.segments.refresh(s.store.reader())).await;
            if let Ok(Err(e)) = done {
                tracing::warn!(error = %e, "refreshing the timelines");
            }
        }
    })
}

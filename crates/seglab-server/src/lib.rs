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
mod extract;
pub mod metrics;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use seglab_event::time::now_millis;
use seglab_live::Live;
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
    /// Live memberships, kept current by [`spawn_live`].
    pub live: Mutex<Live>,
    /// Wakes the webhook deliverer when changes were recorded.
    pub deliveries: Arc<tokio::sync::Notify>,
    /// Tells the live thread to stop.
    stop: AtomicBool,
    /// Changes as they are recorded (for the event stream).
    pub feed: tokio::sync::broadcast::Sender<Arc<seglab_live::Change>>,
    /// Becomes true when the server starts shutting down (open streams end).
    pub shutdown: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// Builds the state for `store`: its write keys, and the engine loaded with
    /// every event, trait and segment definition.
    pub fn new(
        store: Arc<Store>,
        admin_token: String,
        limits: Limits,
    ) -> seglab_live::Result<Arc<AppState>> {
        metrics::install();
        let keys = KeyCache::load(store.reader())?;
        let segments = Segments::open(store.reader(), Some(store.dir()))?;
        let live = Live::open(store.dir(), &segments, store.reader(), now_millis())?;
        let feed = live.feed();
        Ok(Arc::new(AppState {
            store,
            keys,
            admin_token,
            limits,
            segments,
            live: Mutex::new(live),
            deliveries: Arc::new(tokio::sync::Notify::new()),
            stop: AtomicBool::new(false),
            feed,
            shutdown: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// A connection to `live.db`, for history queries.
    pub fn live_conn(&self) -> seglab_live::Result<rusqlite::Connection> {
        seglab_live::db::open(self.store.dir())
    }

    /// Ends open event streams (so a graceful shutdown does not wait on them).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Stops the live thread and checkpoints the memberships.
    pub fn stop_live(&self) {
        self.stop.store(true, Ordering::Release);
        self.store.commits().nudge();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = live.checkpoint() {
            tracing::warn!(error = %e, "checkpointing memberships");
        }
    }
}

/// The whole application.
pub fn router(state: Arc<AppState>) -> Router {
    // Management: every route needs the admin token.
    let admin = Router::new()
        .merge(api::people::routes())
        .merge(api::events::routes())
        .merge(api::keys::routes())
        .merge(api::segments::routes())
        .merge(api::live::routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::admin_only,
        ));
    Router::new()
        .merge(api::ingest::routes())
        .merge(api::posthog::routes())
        .merge(admin)
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

/// Keeps memberships live on a thread of its own: after every commit it loads
/// the new events, merges and definitions and re-evaluates the people they
/// touched; in between it sleeps until the next timer is due (at most `idle`).
/// Recorded changes wake the webhook deliverer.
pub fn spawn_live(
    state: Arc<AppState>,
    idle: Duration,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("seglab-live".into())
        .spawn(move || {
            let commits = state.store.commits();
            let mut seen = commits.count();
            while !state.stop.load(Ordering::Acquire) {
                let now = now_millis();
                let started = std::time::Instant::now();
                let next = {
                    let mut live = state.live.lock().unwrap_or_else(|e| e.into_inner());
                    match live.step(&state.segments, state.store.reader(), now) {
                        Ok(s) => {
                            if s.changes > 0 {
                                state.deliveries.notify_one();
                            }
                            let committed = state.store.reader().last_seq().unwrap_or(0);
                            metrics::live_step(
                                started.elapsed().as_secs_f64(),
                                &s,
                                committed - live.last_seq(),
                                live.timer_count(),
                            );
                        }
                        Err(e) => tracing::warn!(error = %e, "live memberships step"),
                    }
                    live.next_timer()
                };
                let wait = next.map_or(idle.as_millis() as i64, |t| t - now_millis());
                let wait = Duration::from_millis(wait.clamp(1, idle.as_millis() as i64) as u64);
                seen = commits.wait(seen, wait);
            }
        })
}

/// Delivers webhooks until the process ends.
pub fn spawn_deliveries(state: Arc<AppState>) -> seglab_live::Result<tokio::task::JoinHandle<()>> {
    let reader = state.clone();
    let deliverer = seglab_live::webhook::Deliverer::new(
        state.store.dir(),
        state.deliveries.clone(),
        Arc::new(move |p| reader.store.reader().user_id(p).ok().flatten()),
    )?;
    Ok(tokio::spawn(deliverer.run()))
}

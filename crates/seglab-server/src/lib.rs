//! seglab's HTTP server.
//!
//! [`router`] builds the whole axum application from an [`AppState`], so tests call
//! it in-process and the binary serves it on a socket:
//!
//! * ingestion: the Segment HTTP Tracking API (`/v1/*`) and PostHog capture paths,
//!   authenticated by write keys, each within its rate;
//! * management: JSON under `/api/v1/*`, authenticated by an admin token
//!   whose scope (`read` or `full`) each route checks ([`management_routes`]);
//! * operations: `/healthz` and `/metrics` (Prometheus);
//! * the web dashboard under `/ui` (HTML; a session cookie from an admin
//!   token, read-only from a `read` one), and `/`, which leads to it.

mod api;
mod auth;
mod body;
pub mod dashboard;
pub mod erase;
mod error;
mod extract;
pub mod metrics;
mod rate;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use seglab_campaign::Campaigns;
use seglab_live::{Pool, Runner};
use seglab_segments::Segments;
use seglab_store::Store;
use tower_http::catch_panic::CatchPanicLayer;

pub use auth::scope::ManagementRoute;
pub use auth::{Granted, KeyCache, TokenCache};
pub use error::{ApiError, ErrorKind};
pub use rate::{RateLimit, RateLimiter};
pub use seglab_store::Scope;

/// Limits and tuning of the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Events waiting for a commit beyond which ingestion answers 429.
    pub max_pending_events: usize,
    /// Campaigns: where links point and the SMTP server. An https
    /// `base_url` also makes the dashboard's cookie `Secure`.
    pub campaigns: seglab_campaign::Settings,
    /// A dashboard session ends after this long without a request.
    pub session_idle: Duration,
    /// Requests per write key on the ingestion paths (`None`: unlimited).
    pub rate_limit: Option<RateLimit>,
    /// Memberships computed in ClickHouse on a schedule, the log exported
    /// to it (ADR 0018); `None`: by the native engine.
    pub warehouse: Option<seglab_warehouse::Settings>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_pending_events: 200_000,
            campaigns: seglab_campaign::Settings {
                base_url: "http://127.0.0.1:8080".into(),
                smtp: None,
            },
            session_idle: dashboard::session::DEFAULT_IDLE,
            rate_limit: Some(RateLimit::DEFAULT),
            warehouse: None,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub store: Arc<Store>,
    pub keys: KeyCache,
    /// The built-in admin token (scope `full`).
    pub admin_token: String,
    /// The stored admin tokens that are not revoked.
    pub tokens: TokenCache,
    /// The token buckets of the write keys.
    pub rate: RateLimiter,
    pub limits: Limits,
    /// Timelines and segment definitions, loaded from the store.
    pub segments: Arc<Segments>,
    /// Live memberships, kept current by their own thread.
    pub live: Arc<Runner>,
    /// Handles on `live.db` for history queries and subscriptions.
    pub live_db: Pool,
    /// Campaigns: their worker and sender run once [`AppState::start`] is
    /// called on a runtime.
    pub campaigns: Arc<Campaigns>,
    /// Dashboard sessions (in memory).
    pub sessions: dashboard::Sessions,
    /// Becomes true when the server starts shutting down (open streams end).
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The export to the warehouse and its schedule, when memberships are
    /// computed there.
    pub warehouse: std::sync::Mutex<Option<seglab_warehouse::Warehouse>>,
}

impl AppState {
    /// Builds the state for `store`: its write keys, the engine loaded with
    /// every event, trait and segment definition, and live memberships (whose
    /// thread starts here, once deletions of people a stopped server left
    /// half done are finished).
    pub fn new(
        store: Arc<Store>,
        admin_token: String,
        limits: Limits,
    ) -> seglab_live::Result<Arc<AppState>> {
        metrics::install();
        let keys = KeyCache::load(store.reader())?;
        let tokens = TokenCache::load(store.reader())?;
        let segments = Arc::new(Segments::open(store.reader(), Some(store.dir()))?);
        let mode = match limits.warehouse {
            Some(_) => seglab_live::Mode::Warehouse,
            None => seglab_live::Mode::Native,
        };
        let live = Runner::open_in(store.clone(), segments.clone(), mode)?;
        let live_db = Pool::open(store.dir())?;
        // Before the live thread records anything: campaigns settle their
        // position in `live.db` (which may have been rebuilt just now).
        let campaigns = Campaigns::open(
            store.clone(),
            segments.clone(),
            live.clone(),
            limits.campaigns.clone(),
        )
        .map_err(|e| seglab_live::Error::Invalid(format!("campaigns: {e}")))?;
        let state = Arc::new(AppState {
            store,
            keys,
            admin_token,
            tokens,
            rate: RateLimiter::new(limits.rate_limit),
            sessions: dashboard::Sessions::new(limits.session_idle),
            limits,
            segments,
            live,
            live_db,
            campaigns,
            shutdown: tokio::sync::watch::Sender::new(false),
            warehouse: std::sync::Mutex::new(None),
        });
        // Before anything runs: no step or delivery for a deleted person.
        erase::finish_pending(&state).map_err(|e| {
            seglab_live::Error::Invalid(format!("finishing deletions of people: {}", e.message))
        })?;
        state.live.start(LIVE_IDLE)?;
        if let Some(settings) = state.limits.warehouse.clone() {
            let warehouse = seglab_warehouse::Warehouse::start(
                state.store.clone(),
                state.segments.clone(),
                state.live.clone(),
                settings,
            )?;
            *state.warehouse.lock().unwrap_or_else(|e| e.into_inner()) = Some(warehouse);
        }
        Ok(state)
    }

    /// Ends open event streams (so a graceful shutdown does not wait on them).
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Starts what sends campaigns (a thread, and a task on `runtime`).
    pub fn start_campaigns(&self, runtime: &tokio::runtime::Handle) -> seglab_campaign::Result<()> {
        self.campaigns.start(runtime)
    }

    /// Stops the warehouse's thread, campaigns and the live thread, and
    /// checkpoints the memberships.
    pub fn stop_live(&self) {
        let warehouse = self
            .warehouse
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(w) = warehouse {
            w.stop();
        }
        self.campaigns.stop();
        self.live.stop();
    }
}

/// The longest the live thread sleeps with nothing to do.
const LIVE_IDLE: Duration = Duration::from_millis(500);

/// The whole application.
pub fn router(state: Arc<AppState>) -> Router {
    // Management: every route needs an admin token, and checks its scope.
    let (admin, _) = api::management().into_parts();
    let admin = admin.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::admin_only,
    ));
    Router::new()
        .merge(api::ingest::routes())
        .merge(api::posthog::routes())
        .merge(api::track::routes())
        .merge(admin)
        .merge(dashboard::routes(state.clone()))
        .route("/healthz", get(api::health::healthz))
        .route("/metrics", get(api::health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(ErrorKind::Internal, "internal", "internal error").into_response()
        }))
        .with_state(state)
}

/// Every management route with its method and the scope it needs.
pub fn management_routes() -> Vec<ManagementRoute> {
    api::management().into_parts().1
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

/// Refreshes the write-key and admin-token caches every `every` until the
/// process ends, so a key or token revoked from the CLI stops working within
/// that time (and dashboard sessions opened with a revoked token end);
/// also forgets refilled rate buckets.
pub fn spawn_key_refresh(state: Arc<AppState>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let s = state.clone();
            let _ = tokio::task::spawn_blocking(move || s.refresh_access()).await;
        }
    })
}

/// Runs a retention pass (ADR 0016) at once and then `every` while the
/// store has a retention: events older than it are deleted from the store
/// and the engine, and the memberships that change are recorded.
pub fn spawn_retention(state: Arc<AppState>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let s = state.clone();
            let pass = tokio::task::spawn_blocking(move || -> Result<(), String> {
                let Some(keep) = s.store.reader().retention().map_err(|e| e.to_string())? else {
                    return Ok(());
                };
                let cutoff = seglab_event::time::now_millis() - keep;
                s.live.expire(cutoff).map(drop).map_err(|e| e.to_string())
            })
            .await;
            match pass {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "retention pass failed; retried at the next")
                }
                Err(e) => tracing::warn!(error = %e, "retention pass panicked"),
            }
        }
    })
}

impl AppState {
    /// Reloads the write keys and admin tokens from the store, ends the
    /// dashboard sessions of revoked tokens, and forgets refilled rate
    /// buckets. [`spawn_key_refresh`] calls it every second.
    pub fn refresh_access(&self) {
        let reader = self.store.reader();
        self.keys.refresh(reader);
        self.tokens.refresh(reader);
        self.sessions
            .retain(|g| g.token.is_none_or(|id| self.tokens.is_active(id)));
        self.rate.sweep(std::time::Instant::now());
    }
}

/// Delivers webhooks until the process ends.
pub fn spawn_deliveries(state: Arc<AppState>) -> seglab_live::Result<tokio::task::JoinHandle<()>> {
    let reader = state.clone();
    let deliverer = seglab_live::webhook::Deliverer::new(
        state.store.dir(),
        state.live.recorded(),
        Arc::new(move |p| reader.store.reader().user_id(p).ok().flatten()),
    )?;
    Ok(tokio::spawn(deliverer.run()))
}

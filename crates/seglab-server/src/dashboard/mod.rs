//! The web dashboard under `/ui`: HTML rendered on the server (maud), a
//! vendored htmx for the editor's live preview, charts drawn as SVG on the
//! server, one stylesheet and one small script, all compiled into the binary.
//!
//! Pages, one module each:
//!
//! - `/ui` ([`overview`]): every segment with its size, share, 30-day trend
//!   and guardrail badges; sizes move live with `/api/v1/stream`;
//! - `/ui/segments/{name}` ([`segment`]): size over time, entered and exited
//!   per day, revenue, members page by page, and why one person is in or out;
//! - `/ui/editor` ([`editor`]): a definition checked and counted as it is
//!   typed (`POST /ui/editor/preview`, a fragment), saved with
//!   `POST /ui/editor/save`;
//! - `/ui/overlap` ([`overlap`]): the overlap heatmap;
//! - `/ui/rfm` ([`rfm`]): buyers by recency and frequency score;
//! - `/ui/campaigns` ([`campaigns`]): campaigns with their sends by outcome;
//! - `/ui/experiments` and `/ui/experiments/{name}` ([`experiments`]): arms
//!   and lift intervals.
//!
//! Access: `GET/POST /ui/login` exchanges the admin token for a session
//! cookie ([`session`]); everything else under `/ui` needs it, and forms that
//! change something carry the session's CSRF token ([`guard`]). With the
//! cookie, GET requests to the JSON API pass too (the overview's event
//! stream). Errors are HTML pages with their status ([`error`]).

mod assets;
mod campaigns;
mod editor;
mod error;
mod experiments;
mod guard;
mod insights;
mod layout;
mod login;
mod overlap;
mod overview;
mod rfm;
mod segment;
pub mod session;
mod svg;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{MethodRouter, any, get, post};

pub use session::Sessions;

use crate::AppState;
use error::{PageError, PageResult};

/// Every dashboard route: the login page, its stylesheet and icon, and the
/// pages behind the session guard.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let pages = Router::new()
        .route("/ui", page(get(overview::page)))
        .route("/ui/overview/rows", page(get(overview::rows_fragment)))
        .route("/ui/segments/{name}", page(get(segment::page)))
        .route("/ui/editor", page(get(editor::page)))
        .route("/ui/editor/preview", page(post(editor::preview_fragment)))
        .route("/ui/editor/save", page(post(editor::save)))
        .route("/ui/overlap", page(get(overlap::page)))
        .route("/ui/rfm", page(get(rfm::page)))
        .route("/ui/campaigns", page(get(campaigns::page)))
        .route("/ui/experiments", page(get(experiments::list)))
        .route("/ui/experiments/{name}", page(get(experiments::page)))
        .route("/ui/logout", page(post(login::logout)))
        .route(assets::HTMX_URL, get(assets::htmx))
        .route("/ui/assets/dashboard.js", get(assets::js))
        .route("/ui/{*rest}", any(not_found))
        .route_layer(from_fn_with_state(state, guard::require_session));
    Router::new()
        .route("/", get(login::root))
        .route("/ui/login", page(get(login::page).post(login::login)))
        .route("/ui/assets/dashboard.css", get(assets::css))
        .route(assets::FAVICON_URL, get(assets::favicon))
        .merge(pages)
        .layer(from_fn(guard::headers))
}

/// A page's routes answer an HTML 405 for other methods.
fn page(route: MethodRouter<Arc<AppState>>) -> MethodRouter<Arc<AppState>> {
    route.fallback(method_not_allowed)
}

async fn not_found() -> PageError {
    PageError::not_found("there is no such page")
}

async fn method_not_allowed() -> PageError {
    PageError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed",
        "this page does not take that kind of request",
    )
}

/// Runs blocking work (SQLite, the engine) off the async threads.
async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> PageResult<T> + Send + 'static,
) -> PageResult<T> {
    crate::api::blocking(state, move |s| Ok(f(s))).await?
}

/// The names of every saved segment, in order.
fn segment_names(state: &AppState) -> PageResult<Vec<String>> {
    Ok(state
        .store
        .reader()
        .segments()?
        .into_iter()
        .map(|r| r.name)
        .collect())
}

/// A saved segment's record, or a 404 page.
fn segment_record(state: &AppState, name: &str) -> PageResult<seglab_store::SegmentRecord> {
    state
        .store
        .reader()
        .segment(name)?
        .ok_or_else(|| PageError::not_found(format!("no segment named {name:?}")))
}

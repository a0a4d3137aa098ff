//! Insights and guardrails (admin token), from the live member bitmaps, the
//! recorded history and the timelines. The JSON shapes are those of
//! `seglab-insights` (its crate docs describe each one).
//!
//! - `GET /api/v1/segments/{name}/insights?days=30`: size and share now and
//!   per UTC day, entered and exited per day, revenue, revenue per member,
//!   average order value, conversion rate, email engagement.
//! - `GET /api/v1/insights/rfm`: the 5×5 recency × frequency grid, with
//!   buyers and revenue per cell and per named cell.
//! - `GET /api/v1/insights/overlap?segments=a,b,c`: people in both and the
//!   Jaccard index of every pair (every segment when `segments` is left out).
//! - `GET /api/v1/insights/families?segments=a,b,c`: a mutually exclusive
//!   family in that priority order (each person in the first that holds).
//! - `GET /api/v1/insights/guardrails?segments=&lift=&weeks=`: the warnings
//!   (`too_small`, `near_duplicate`, `stale`, `small_but_valuable`) of the
//!   segments named (default: all), as `{"at", "thresholds", "guardrails"}`;
//!   `lift` (0.1 is +10 %) and `weeks` change the `too_small` test.
//!
//! An unknown segment is 404 `not_found`; a bad parameter 400
//! (`invalid_query` when it does not parse, `invalid_request` when it is out
//! of range).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use seglab_event::time::{format_timestamp, now_millis};
use seglab_insights::{
    DEFAULT_DAYS, Evaluated, Families, Guardrail, Insights, Layered, Overlap, RfmGrid,
    SegmentInsights, Thresholds,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};

pub(crate) fn routes() -> Management {
    Management::new()
        .read(Method::GET, "/api/v1/segments/{name}/insights", segment)
        .read(Method::GET, "/api/v1/insights/rfm", rfm)
        .read(Method::GET, "/api/v1/insights/overlap", overlap)
        .read(Method::GET, "/api/v1/insights/families", families)
        .read(Method::GET, "/api/v1/insights/guardrails", guardrails)
}

/// Runs `f` with insights over the live state, once it has applied every
/// acknowledged event.
async fn with_insights<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&Insights<'_>) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    super::blocking(state, move |s| {
        super::live::caught_up(s)?;
        f(&Insights::new(&s.segments, &*s.live, &s.live_db))
    })
    .await
}

/// `a,b,,c` → `[a, b, c]`.
fn names(list: Option<&str>) -> Vec<String> {
    list.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(Deserialize)]
struct Days {
    days: Option<u32>,
}

async fn segment(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<Days>,
) -> ApiResult<Json<SegmentInsights>> {
    let days = q.days.unwrap_or(DEFAULT_DAYS);
    with_insights(&state, move |i| {
        Ok(Json(i.segment(&name, now_millis(), days)?))
    })
    .await
}

async fn rfm(State(state): State<Arc<AppState>>) -> ApiResult<Json<RfmGrid>> {
    with_insights(&state, |i| Ok(Json(i.rfm_grid(now_millis())))).await
}

#[derive(Deserialize)]
struct Segments {
    segments: Option<String>,
}

async fn overlap(
    State(state): State<Arc<AppState>>,
    Query(q): Query<Segments>,
) -> ApiResult<Json<Overlap>> {
    let names = names(q.segments.as_deref());
    with_insights(&state, move |i| Ok(Json(i.overlap(&names)?))).await
}

async fn families(
    State(state): State<Arc<AppState>>,
    Query(q): Query<Segments>,
) -> ApiResult<Json<Families>> {
    let names = names(q.segments.as_deref());
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`segments` must name the segments of the family, in priority order",
        ));
    }
    with_insights(&state, move |i| Ok(Json(i.families(&names)?))).await
}

#[derive(Deserialize)]
struct GuardrailQuery {
    segments: Option<String>,
    lift: Option<f64>,
    weeks: Option<u32>,
}

async fn guardrails(
    State(state): State<Arc<AppState>>,
    Query(q): Query<GuardrailQuery>,
) -> ApiResult<Json<Value>> {
    let names = names(q.segments.as_deref());
    let defaults = Thresholds::default();
    let thresholds = Thresholds {
        lift: q.lift.unwrap_or(defaults.lift),
        weeks: q.weeks.unwrap_or(defaults.weeks),
        ..defaults
    };
    with_insights(&state, move |i| {
        let now = now_millis();
        let list = i.guardrails(&names, now, &thresholds)?;
        Ok(Json(json!({
            "at": format_timestamp(now),
            "thresholds": thresholds,
            "guardrails": list,
        })))
    })
    .await
}

/// The guardrail warnings of `names` (every segment when empty) now, over
/// the live bitmaps, as the segment list and writes show them. The segments
/// in `written`, and any the live engine has not picked up yet, are
/// evaluated afresh. A failure is logged and gives no warnings: it must not
/// fail the list or the write.
pub(crate) fn guardrails_now(s: &AppState, names: &[String], written: &[String]) -> Vec<Guardrail> {
    let result = (|| -> seglab_insights::Result<Vec<Guardrail>> {
        let now = now_millis();
        let mut fresh: Vec<String> = written.to_vec();
        let defined: Vec<String> = s
            .segments
            .with_engine(|e| e.definitions().keys().cloned().collect());
        for n in defined {
            if !fresh.contains(&n) && !s.live.with_live(|l| l.members(&n).is_some()) {
                fresh.push(n);
            }
        }
        let evaluated = Evaluated::only(&s.segments, &fresh, now)?;
        let members = Layered {
            first: &evaluated,
            then: &*s.live,
        };
        Insights::new(&s.segments, &members, &s.live_db).guardrails(
            names,
            now,
            &Thresholds::default(),
        )
    })();
    result.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "guardrails not computed");
        Vec::new()
    })
}

//! Live membership: history and changes of a segment, a person's memberships
//! (now or as of any instant) and why, webhook subscriptions, and a stream of
//! changes as server-sent events.
//!
//! - `GET /api/v1/segments/{name}/history?from=&to=`: per UTC day, entered,
//!   exited and size at the end of the day.
//! - `GET /api/v1/segments/{name}/changes?after=&limit=`: entries and exits.
//! - `GET /api/v1/segments/{name}/members/recorded?at=`: members as recorded at
//!   an instant (what seglab knew then).
//! - `GET /api/v1/people/{id}/segments?at=`: memberships now (or at `at`) and
//!   the person's membership timeline.
//! - `GET /api/v1/people/{id}/segments/{name}/explain?at=`: why in or out.
//! - `GET/POST /api/v1/webhooks`, `DELETE /api/v1/webhooks/{id}`.
//! - `GET /api/v1/stream?segments=a,b`: changes as they happen (SSE).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;

use crate::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use seglab_event::time::{format_timestamp, now_millis, parse_timestamp};
use seglab_live::ChangeFilter;
use seglab_live::webhook::{self, NewSubscription};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult, ErrorKind};

pub(crate) fn routes() -> Management {
    Management::new()
        .read(
            Method::GET,
            "/api/v1/segments/{name}/history",
            segment_history,
        )
        .read(
            Method::GET,
            "/api/v1/segments/{name}/changes",
            segment_changes,
        )
        .read(
            Method::GET,
            "/api/v1/segments/{name}/members/recorded",
            recorded_members,
        )
        .read(Method::GET, "/api/v1/people/{id}/segments", person_segments)
        .read(
            Method::GET,
            "/api/v1/people/{id}/segments/{name}/explain",
            explain,
        )
        .read(Method::GET, "/api/v1/webhooks", list_webhooks)
        .full(Method::POST, "/api/v1/webhooks", create_webhook)
        .full(Method::DELETE, "/api/v1/webhooks/{id}", delete_webhook)
        .read(Method::GET, "/api/v1/stream", stream)
        .read(Method::GET, "/api/v1/live", status)
}

fn time_param(name: &str, value: Option<&str>, default: i64) -> ApiResult<i64> {
    match value {
        None => Ok(default),
        Some(t) => parse_timestamp(t).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_time",
                format!("`{name}` is not an ISO-8601 time: {t:?}"),
            )
        }),
    }
}

/// Waits for the live thread to apply everything committed so far, so answers
/// include every acknowledged event. When it takes too long, the answer is
/// what `live.db` recorded: still right up to its position.
pub(crate) fn caught_up(s: &AppState) -> ApiResult<()> {
    if !s.live.catch_up(CATCH_UP) {
        tracing::warn!("live memberships are behind; answering from what is recorded");
    }
    Ok(())
}

/// The longest a request waits for the live thread.
const CATCH_UP: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct Range {
    from: Option<String>,
    to: Option<String>,
}

async fn segment_history(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<Range>,
) -> ApiResult<Json<Value>> {
    let now = now_millis();
    let to = time_param("to", q.to.as_deref(), now)?;
    let from = time_param("from", q.from.as_deref(), to - 29 * 86_400_000)?;
    super::blocking(&state, move |s| {
        caught_up(s)?;
        let days = s.live_db.with(|db| db.daily(&name, from, to))?;
        Ok(Json(json!({"segment": name, "days": days})))
    })
    .await
}

#[derive(Deserialize)]
struct Page {
    after: Option<i64>,
    limit: Option<usize>,
}

fn change_json(c: &seglab_live::Change) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    v["at"] = json!(format_timestamp(c.at));
    v
}

async fn segment_changes(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<Page>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    super::blocking(&state, move |s| {
        caught_up(s)?;
        let filter = ChangeFilter {
            segment: Some(name.clone()),
            person: None,
            after: q.after.unwrap_or(0),
            limit,
        };
        let changes = s.live_db.with(|db| db.changes(&filter))?;
        let next = (changes.len() == limit).then(|| changes.last().map(|c| c.id));
        Ok(Json(json!({
            "segment": name,
            "changes": changes.iter().map(change_json).collect::<Vec<_>>(),
            "next_after": next.flatten(),
        })))
    })
    .await
}

#[derive(Deserialize)]
struct AtPage {
    at: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn recorded_members(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<AtPage>,
) -> ApiResult<Json<Value>> {
    let at = time_param("at", q.at.as_deref(), now_millis())?;
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    super::blocking(&state, move |s| {
        caught_up(s)?;
        let members = s.live_db.with(|db| db.members_at(&name, at))?;
        let page: Vec<i64> = members
            .iter()
            .skip(offset)
            .take(limit)
            .map(|p| p as i64)
            .collect();
        let next = (offset + page.len() < members.len() as usize).then_some(offset + page.len());
        Ok(Json(json!({
            "segment": name, "at": format_timestamp(at), "total": members.len(),
            "members": page, "next_offset": next,
        })))
    })
    .await
}

/// The person id behind any of a person's ids (user id, anonymous id or the
/// numeric person id).
pub(crate) fn person_of(s: &AppState, id: &str) -> ApiResult<i64> {
    let person = s
        .store
        .reader()
        .resolve_id(id)?
        .ok_or_else(|| ApiError::not_found(format!("no person with id {id:?}")))?;
    Ok(s.segments.resolve(person))
}

#[derive(Deserialize)]
struct At {
    at: Option<String>,
}

async fn person_segments(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<At>,
) -> ApiResult<Json<Value>> {
    let at =
        q.at.as_deref()
            .map(|t| time_param("at", Some(t), 0))
            .transpose()?;
    super::blocking(&state, move |s| {
        caught_up(s)?;
        let person = person_of(s, &id)?;
        let segments = match at {
            Some(t) => s.live_db.with(|db| db.segments_at(person, t))?,
            None => s.live.with_live(|live| live.segments_of(person)),
        };
        let timeline = s.live_db.with(|db| db.timeline(person))?;
        Ok(Json(json!({
            "person_id": person,
            "at": at.map(format_timestamp),
            "segments": segments,
            "timeline": timeline.iter().map(change_json).collect::<Vec<_>>(),
        })))
    })
    .await
}

async fn explain(
    State(state): State<Arc<AppState>>,
    Path((id, name)): Path<(String, String)>,
    Query(q): Query<At>,
) -> ApiResult<Json<Value>> {
    let at = time_param("at", q.at.as_deref(), now_millis())?;
    super::blocking(&state, move |s| {
        caught_up(s)?;
        let person = person_of(s, &id)?;
        let explanation = s.segments.explain(person, &name, at)?;
        Ok(Json(json!({
            "person_id": person,
            "segment": name,
            "at": format_timestamp(at),
            "member": explanation.holds,
            "explanation": explanation,
        })))
    })
    .await
}

async fn list_webhooks(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    super::blocking(&state, move |s| {
        let subs = s.live_db.with(webhook::list)?;
        let mut out = Vec::new();
        for sub in subs {
            let stats = s.live_db.with(|db| webhook::stats(db, sub.id))?;
            let mut v = serde_json::to_value(&sub).unwrap_or(Value::Null);
            v["deliveries"] = serde_json::to_value(stats).unwrap_or(Value::Null);
            v["created_at"] = json!(format_timestamp(sub.created_at));
            out.push(v);
        }
        Ok(Json(json!({"webhooks": out})))
    })
    .await
}

async fn create_webhook(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let new: NewSubscription = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    super::blocking(&state, move |s| {
        if let Some(names) = &new.segments {
            let known = s.store.reader().segments()?;
            for n in names {
                if !known.iter().any(|r| r.name == *n) {
                    return Err(ApiError::bad_request(
                        "unknown_segment",
                        format!("no segment named {n:?}"),
                    ));
                }
            }
        }
        let sub = s
            .live_db
            .with(|db| webhook::subscribe(db, &new, now_millis()))?;
        s.live.with_live(|live| live.reload_subscriptions())?;
        let mut v = serde_json::to_value(&sub).unwrap_or(Value::Null);
        v["created_at"] = json!(format_timestamp(sub.created_at));
        Ok((StatusCode::CREATED, Json(v)).into_response())
    })
    .await
}

async fn delete_webhook(
    State(state): State<Arc<AppState>>,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    super::blocking(&state, move |s| {
        if !s
            .live_db
            .with(|db| webhook::unsubscribe(db, id, now_millis()))?
        {
            return Err(ApiError::not_found(format!("no webhook {id}")));
        }
        s.live.with_live(|live| live.reload_subscriptions())?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Where the live engine is: the newest event applied against the newest
/// committed, timers, and the instant memberships describe.
async fn status(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    super::blocking(&state, move |s| {
        let committed = s.store.reader().last_seq()?;
        let memory = s.segments.memory();
        let engine = json!({
            "people": memory.person_count,
            "events": memory.event_count,
            "memory_bytes": memory.total(),
        });
        // With a warehouse, what counts is how far the export got.
        let exported = match &s.limits.warehouse {
            Some(w) => Some(
                seglab_warehouse::Cursor::load(s.store.dir(), &w.target)
                    .map_err(|e| ApiError::new(ErrorKind::Internal, e.code(), e.to_string()))?
                    .last_seq,
            ),
            None => None,
        };
        Ok(Json(s.live.with_live(|live| {
            let applied = exported.unwrap_or(live.last_seq());
            json!({
                "engine": engine,
                "mode": if exported.is_some() { "warehouse" } else { "native" },
                "applied_seq": applied,
                "committed_seq": committed,
                "behind": (committed - applied).max(0),
                "timers": live.timer_count(),
                "next_timer": live.next_timer().map(format_timestamp),
                "clock": (live.clock() > i64::MIN).then(|| format_timestamp(live.clock())),
            })
        })))
    })
    .await
}

#[derive(Deserialize)]
struct StreamQuery {
    segments: Option<String>,
}

/// Changes as server-sent events: `event: entered|exited`, `id:` the change id,
/// `data:` the change as JSON. A subscriber that falls behind by more than the
/// feed holds gets an `event: lagged` with how many it missed.
async fn stream(
    State(state): State<Arc<AppState>>,
    Query(q): Query<StreamQuery>,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let only: Option<Vec<String>> = q
        .segments
        .map(|s| s.split(',').map(|n| n.trim().to_owned()).collect());
    let rx = state.live.feed().subscribe();
    let closing = state.shutdown.subscribe();
    let stream = futures_util::stream::unfold(
        (rx, only, closing),
        |(mut rx, only, mut closing)| async move {
            loop {
                let next = tokio::select! {
                    next = rx.recv() => next,
                    _ = closing.wait_for(|&c| c) => return None,
                };
                match next {
                    Ok(c) => {
                        if only.as_ref().is_some_and(|o| !o.contains(&c.segment)) {
                            continue;
                        }
                        let event = Event::default()
                            .event(if c.entered { "entered" } else { "exited" })
                            .id(c.id.to_string())
                            .data(change_json(&c).to_string());
                        return Some((Ok(event), (rx, only, closing)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let event = Event::default()
                            .event("lagged")
                            .data(json!({"missed": n}).to_string());
                        return Some((Ok(event), (rx, only, closing)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

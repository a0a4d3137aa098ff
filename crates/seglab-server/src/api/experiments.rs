//! Experiments (admin token): every campaign with more than one message or a
//! holdout.
//!
//! - `GET /api/v1/experiments`: the experiments and their arms;
//! - `GET /api/v1/experiments/{name}?segment=`: results (estimates,
//!   intervals, chance to win, sample ratio check, per-segment effects raw and
//!   shrunk, a hint);
//! - `POST /api/v1/experiments/{name}/ship` `{"variant": "b"}`: makes that
//!   message the campaign's only one (a new version).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;
use seglab_campaign::experiment;
use seglab_event::time::now_millis;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};

pub(crate) fn routes() -> Management {
    Management::new()
        .read(Method::GET, "/api/v1/experiments", list)
        .read(Method::GET, "/api/v1/experiments/{name}", results)
        .full(Method::POST, "/api/v1/experiments/{name}/ship", ship)
        .read(Method::GET, "/api/v1/global-holdout", global)
}

async fn list(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    super::blocking(&state, |s| {
        let campaigns = s.campaigns.pool.with(|db| db.campaigns())?;
        let list: Vec<Value> = campaigns
            .iter()
            .filter(|c| c.def.messages.len() > 1 || c.def.holdout > 0)
            .map(|c| {
                json!({
                    "name": c.name,
                    "segment": c.def.segment,
                    "goal": c.def.goal,
                    "holdout": c.def.holdout,
                    "arms": c.def.messages.iter().map(|m| json!({"name": m.name, "weight": m.weight})).collect::<Vec<_>>(),
                })
            })
            .collect();
        Ok(Json(json!({ "experiments": list })))
    })
    .await
}

#[derive(Deserialize)]
struct Segment {
    segment: Option<String>,
}

async fn results(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<Segment>,
) -> ApiResult<Json<Value>> {
    super::blocking(&state, move |s| {
        let c = s
            .campaigns
            .pool
            .with(|db| db.campaign(&name))?
            .ok_or_else(|| ApiError::not_found(format!("no campaign named {name:?}")))?;
        let names: Vec<String> = s
            .store
            .reader()
            .segments()?
            .into_iter()
            .map(|r| r.name)
            .collect();
        if let Some(seg) = &q.segment
            && !names.contains(seg)
        {
            return Err(ApiError::not_found(format!("no segment named {seg:?}")));
        }
        s.live.catch_up(std::time::Duration::from_secs(10));
        let r = experiment::results(&s.segments, &*s.live, &c.def, q.segment.as_deref(), &names);
        Ok(Json(serde_json::to_value(r).unwrap_or(Value::Null)))
    })
    .await
}

#[derive(Deserialize)]
struct Days {
    days: Option<u32>,
}

/// `GET /api/v1/global-holdout?days=30`: the global holdout against everyone
/// else.
async fn global(
    State(state): State<Arc<AppState>>,
    Query(q): Query<Days>,
) -> ApiResult<Json<Value>> {
    let days = q.days.unwrap_or(30).clamp(1, 3660);
    super::blocking(&state, move |s| {
        let share = s.campaigns.pool.with(|db| db.policy())?.global_holdout;
        let g = experiment::global(&s.segments, share, days, now_millis());
        Ok(Json(serde_json::to_value(g).unwrap_or(Value::Null)))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ship {
    variant: String,
}

async fn ship(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ship: Ship = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("expected {{\"variant\": \"…\"}}: {e}"),
        )
    })?;
    super::blocking(&state, move |s| {
        let applied = s
            .campaigns
            .pool
            .with(|db| seglab_campaign::code::ship(db, &name, &ship.variant, now_millis()))?;
        let mut v = serde_json::to_value(applied).unwrap_or(Value::Null);
        v["name"] = json!(name);
        v["variant"] = json!(ship.variant);
        Ok(Json(v))
    })
    .await
}

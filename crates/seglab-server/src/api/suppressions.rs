//! The suppression list (admin token): who must not be sent to, on a channel
//! or on all of them. Unsubscribes and bounces land here too.
//!
//! - `GET /api/v1/people/{id}/suppressions`
//! - `POST /api/v1/people/{id}/suppressions` `{"channel": "email"|"webhook"|"onsite"|"any"}`
//! - `DELETE /api/v1/people/{id}/suppressions/{channel}`

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use seglab_event::time::{format_timestamp, now_millis};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult};
use crate::extract::Path;

pub(crate) fn routes() -> Management {
    Management::new()
        .read(Method::GET, "/api/v1/people/{id}/suppressions", list)
        .full(Method::POST, "/api/v1/people/{id}/suppressions", add)
        .full(
            Method::DELETE,
            "/api/v1/people/{id}/suppressions/{channel}",
            remove,
        )
}

const CHANNELS: [&str; 4] = ["email", "webhook", "onsite", "any"];

fn channel(c: &str) -> ApiResult<&str> {
    CHANNELS.iter().copied().find(|k| *k == c).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_channel",
            format!("channel {c:?}: expected one of email, webhook, onsite, any"),
        )
    })
}

fn listed(s: &AppState, person: i64) -> ApiResult<Value> {
    let list = s.campaigns.pool.with(|db| db.suppressions_of(person))?;
    Ok(json!({
        "person_id": person,
        "suppressions": list.iter().map(|x| json!({
            "channel": x.channel, "reason": x.reason, "at": format_timestamp(x.at),
        })).collect::<Vec<_>>(),
    }))
}

async fn list(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    super::blocking(&state, move |s| {
        let person = super::live::person_of(s, &id)?;
        Ok(Json(listed(s, person)?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    channel: String,
}

async fn add(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let add: Add = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("expected {{\"channel\": \"…\"}}: {e}"),
        )
    })?;
    channel(&add.channel)?;
    super::blocking(&state, move |s| {
        let person = super::live::person_of(s, &id)?;
        s.campaigns
            .pool
            .with(|db| db.suppress(person, &add.channel, "listed", now_millis()))?;
        Ok((StatusCode::CREATED, Json(listed(s, person)?)))
    })
    .await
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Path((id, ch)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    channel(&ch)?;
    super::blocking(&state, move |s| {
        let person = super::live::person_of(s, &id)?;
        if !s.campaigns.pool.with(|db| db.unsuppress(person, &ch))? {
            return Err(ApiError::not_found(format!(
                "person {person} is not suppressed on {ch}"
            )));
        }
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

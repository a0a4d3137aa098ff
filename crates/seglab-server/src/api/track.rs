//! What messages link back to, and on-site decisions (no admin token: the
//! links carry a signed token, decisions take a write key):
//!
//! - `GET /t/o/{token}` (the open pixel, `{token}.gif`): an `Email Opened`
//!   event of the person;
//! - `GET /t/c/{token}/{link}?u=URL&s=SIG`: an `Email Link Clicked` event,
//!   then a redirect to `URL` (http and https only, signed for the send by
//!   `SIG`: no one can point a message's link elsewhere);
//! - `GET /u/{token}`: a page that confirms; `POST /u/{token}` (RFC 8058
//!   one-click, body `List-Unsubscribe=One-Click`, or the page's form):
//!   unsubscribes the person from email and stores an `Unsubscribed` event;
//! - `GET /api/v1/decide?person=ID&placement=P`: the best eligible on-site
//!   message (write key or admin token).
//!
//! Events go through ingestion like any other, so segments can use them.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use seglab_campaign::db::SendRow;
use seglab_event::time::{format_timestamp, now_millis};
use seglab_event::wire::segment_spec::{self, Endpoint};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorKind};
use crate::extract::{Path, Query};

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/t/o/{token}", get(opened))
        .route("/t/c/{token}/{link}", get(clicked))
        .route("/u/{token}", get(unsubscribe_page).post(unsubscribe))
        .route("/api/v1/decide", get(decide))
}

/// A transparent 1×1 GIF.
const PIXEL: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// The send a token names.
fn send_of(s: &AppState, token: &str) -> ApiResult<SendRow> {
    let id = s
        .campaigns
        .tokens()
        .verify(token.trim_end_matches(".gif"))
        .ok_or_else(|| ApiError::not_found("no such link"))?;
    s.campaigns
        .pool
        .with(|db| db.send(id))?
        .ok_or_else(|| ApiError::not_found("no such link"))
}

/// Stores `event` as the person of `send` did it now, with the campaign's
/// properties; `message_id` makes repeats (a pixel loaded twice) one event.
async fn record(
    state: &Arc<AppState>,
    send: &SendRow,
    event: &str,
    message_id: String,
    mut properties: Value,
) -> ApiResult<()> {
    let st = state.clone();
    let person = send.person;
    let id = tokio::task::spawn_blocking(move || st.store.reader().an_id_of(person))
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, "internal", e.to_string()))??;
    let Some((id, is_user)) = id else {
        return Ok(());
    };
    properties["campaign_id"] = json!(send.campaign);
    properties["email_id"] = json!(send.key());
    properties["variant"] = json!(send.variant);
    let mut msg = json!({
        "type": "track",
        "event": event,
        "messageId": message_id,
        "timestamp": format_timestamp(now_millis()),
        "properties": properties,
    });
    msg[if is_user { "userId" } else { "anonymousId" }] = json!(id);
    let batch = segment_spec::parse(
        msg.to_string().as_bytes(),
        Endpoint::Single(seglab_event::EventType::Track),
        now_millis(),
    )?;
    super::store_events(state, batch.events, false, "campaign").await
}

async fn opened(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let send = super::blocking(&state, move |s| send_of(s, &token)).await?;
    record(
        &state,
        &send,
        "Email Opened",
        format!("opened-{}", send.id),
        json!({}),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        PIXEL,
    )
        .into_response())
}

async fn clicked(
    State(state): State<Arc<AppState>>,
    Path((token, link)): Path<(String, u32)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let send = super::blocking(&state, move |s| send_of(s, &token)).await?;
    // Only a target the message had: the link signs it for the send.
    let target = state
        .campaigns
        .tokens()
        .click_target(send.id, query.as_deref().unwrap_or_default())
        .ok_or_else(|| ApiError::not_found("no such link"))?;
    record(
        &state,
        &send,
        "Email Link Clicked",
        format!("clicked-{}-{link}-{}", send.id, now_millis() / 60_000),
        json!({"link_id": link, "url": target}),
    )
    .await?;
    let location = HeaderValue::from_str(&target)
        .map_err(|_| ApiError::bad_request("invalid_link", "the link is not a valid URL"))?;
    Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
}

async fn unsubscribe_page(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> ApiResult<Html<String>> {
    let t = token.clone();
    super::blocking(&state, move |s| send_of(s, &t)).await?;
    Ok(Html(format!(
        "<!doctype html><meta charset=utf-8><title>Unsubscribe</title>\
         <form method=post action=\"/u/{token}\">\
         <p>Stop receiving these emails?</p>\
         <button name=List-Unsubscribe value=One-Click>Unsubscribe</button></form>"
    )))
}

async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    body: Bytes,
) -> ApiResult<Html<&'static str>> {
    // RFC 8058: the body is `List-Unsubscribe=One-Click`; the page's form
    // sends the same.
    let one_click =
        form_urlencoded::parse(&body).any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click");
    if !one_click {
        return Err(ApiError::bad_request(
            "invalid_unsubscribe",
            "expected the body List-Unsubscribe=One-Click",
        ));
    }
    let send = super::blocking(&state, move |s| {
        let send = send_of(s, &token)?;
        s.campaigns
            .pool
            .with(|db| db.suppress(send.person, "email", "unsubscribed", now_millis()))?;
        Ok(send)
    })
    .await?;
    record(
        &state,
        &send,
        "Unsubscribed",
        format!("unsubscribed-{}", send.id),
        json!({"channel": "email"}),
    )
    .await?;
    Ok(Html(
        "<!doctype html><meta charset=utf-8><title>Unsubscribed</title><p>You are unsubscribed.</p>",
    ))
}

#[derive(Deserialize)]
struct DecideQuery {
    person: String,
    placement: String,
}

async fn decide(
    State(state): State<Arc<AppState>>,
    query: Result<Query<DecideQuery>, ApiError>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    // Who asks comes first: a caller without a key learns nothing, not even
    // which parameters are expected.
    crate::auth::require_writer_or_admin(&state, &headers)?;
    let Query(q) = query?;
    super::blocking(&state, move |s| {
        let person = super::live::person_of(s, &q.person)?;
        let decision = s.campaigns.decide(person, &q.placement, now_millis())?;
        Ok(match decision {
            Some(d) => {
                axum::Json(json!({"person_id": person, "placement": q.placement, "decision": d}))
                    .into_response()
            }
            None => {
                axum::Json(json!({"person_id": person, "placement": q.placement, "decision": null}))
                    .into_response()
            }
        })
    })
    .await
}

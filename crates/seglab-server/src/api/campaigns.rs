//! Campaigns (admin token): `GET/POST /api/v1/campaigns`, `POST
//! /api/v1/campaigns/diff`, `GET/PUT/DELETE /api/v1/campaigns/{name}`,
//! `…/{name}/preview?person=`, `…/{name}/why?person=`, `…/{name}/sends`,
//! `POST …/{name}/coupons`. Definitions are sent as TOML source
//! (`{"source": "[[campaign]] …"}`); errors carry `diagnostics` with line,
//! column and hint. `GET …/{name}` of a webhook campaign shows the
//! `webhook_secret` its requests are signed with (to a `full` token only).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use seglab_campaign::code;
use seglab_campaign::db::{LedgerFilter, Status};
use seglab_campaign::def::Channel;
use seglab_event::time::{format_timestamp, now_millis};
use seglab_store::Scope;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::Granted;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Path, Query};

pub(crate) fn routes() -> Management {
    Management::new()
        .read(Method::GET, "/api/v1/campaigns", list)
        .full(Method::POST, "/api/v1/campaigns", apply)
        // What applying would change, computed and not stored.
        .read(Method::POST, "/api/v1/campaigns/diff", diff)
        .read(Method::GET, "/api/v1/campaigns/{name}", show)
        .full(Method::PUT, "/api/v1/campaigns/{name}", update)
        .full(Method::DELETE, "/api/v1/campaigns/{name}", remove)
        .read(Method::GET, "/api/v1/campaigns/{name}/preview", preview)
        .read(Method::GET, "/api/v1/campaigns/{name}/why", why)
        .read(Method::GET, "/api/v1/campaigns/{name}/sends", sends)
        .full(Method::POST, "/api/v1/campaigns/{name}/coupons", coupons)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Source {
    source: String,
}

fn source_of(body: &Bytes) -> ApiResult<String> {
    serde_json::from_slice::<Source>(body)
        .map(|s| s.source)
        .map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("expected {{\"source\": \"…\"}}: {e}"),
            )
        })
}

/// Turns a campaigns error into an API error, with structured diagnostics.
fn with_diagnostics(e: seglab_campaign::Error, source: &str) -> ApiError {
    let diagnostics = match &e {
        seglab_campaign::Error::Invalid(invalid) => Some(
            invalid
                .diagnostics
                .iter()
                .map(|(file, d)| {
                    let (line, column) = d.line_col(source);
                    json!({
                        "file": file, "severity": d.severity.as_str(), "code": d.code,
                        "message": d.message, "hint": d.hint, "line": line, "column": column,
                    })
                })
                .collect::<Vec<_>>(),
        ),
        _ => None,
    };
    let mut err: ApiError = e.into();
    if let Some(d) = diagnostics {
        let mut details = serde_json::Map::new();
        details.insert("diagnostics".into(), Value::Array(d));
        err.details = Some(details);
    }
    err
}

fn campaign_json(s: &code::Summary) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    v["updated_at"] = json!(format_timestamp(s.campaign.updated_at));
    v["next_run"] = json!(s.campaign.next_run.map(format_timestamp));
    if let Some((free, given, redeemed)) = s.coupons {
        v["coupons"] = json!({"pool": free, "given": given, "redeemed": redeemed});
    }
    v
}

async fn list(State(state): State<Arc<AppState>>) -> ApiResult<Json<Value>> {
    super::blocking(&state, |s| {
        let list = s.campaigns.pool.with(|db| code::list(db))?;
        Ok(Json(json!({
            "campaigns": list.iter().map(campaign_json).collect::<Vec<_>>()
        })))
    })
    .await
}

/// Checks and saves every campaign (and the policy) of the source.
fn apply_source(s: &AppState, source: &str, only: Option<&str>) -> ApiResult<Value> {
    let files = [("request.toml".to_owned(), source.to_owned())];
    let checked = code::check(s.store.reader(), &files).map_err(|e| with_diagnostics(e, source))?;
    // `PUT …/{name}` saves that campaign and nothing else (no policy).
    if let Some(name) = only
        && !(checked.definitions.policy.is_none()
            && matches!(&checked.definitions.campaigns[..], [c] if c.name == name))
    {
        return Err(ApiError::bad_request(
            "name_mismatch",
            format!("the source must define the campaign {name:?} and nothing else"),
        ));
    }
    let applied = s
        .campaigns
        .pool
        .with(|db| code::apply(db, &checked, now_millis()))?;
    Ok(json!({
        "applied": applied.iter().map(|(name, a)| {
            let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
            v["name"] = json!(name);
            v
        }).collect::<Vec<_>>(),
    }))
}

async fn apply(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let source = source_of(&body)?;
    super::blocking(&state, move |s| {
        let out = apply_source(s, &source, None)?;
        Ok((StatusCode::OK, Json(out)).into_response())
    })
    .await
}

async fn update(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let source = source_of(&body)?;
    super::blocking(&state, move |s| {
        Ok(Json(apply_source(s, &source, Some(&name))?))
    })
    .await
}

async fn diff(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Json<Value>> {
    let source = source_of(&body)?;
    super::blocking(&state, move |s| {
        let files = [("request.toml".to_owned(), source.clone())];
        let checked =
            code::check(s.store.reader(), &files).map_err(|e| with_diagnostics(e, &source))?;
        let diff = s
            .campaigns
            .pool
            .with(|db| code::diff(db, &checked, &*s.live))?;
        Ok(Json(json!({ "campaigns": diff })))
    })
    .await
}

async fn show(
    State(state): State<Arc<AppState>>,
    Extension(granted): Extension<Granted>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    super::blocking(&state, move |s| {
        let (summary, versions) = s.campaigns.pool.with(|db| {
            let summary = code::list(db)?
                .into_iter()
                .find(|c| c.campaign.name == name);
            Ok((summary, db.campaign_versions(&name)?))
        })?;
        let summary =
            summary.ok_or_else(|| ApiError::not_found(format!("no campaign named {name:?}")))?;
        let mut v = campaign_json(&summary);
        // What a receiver verifies `Seglab-Signature` with (a secret: shown
        // to full tokens only).
        if let Channel::Webhook { .. } = summary.campaign.def.channel
            && granted.scope.allows(Scope::Full)
        {
            v["webhook_secret"] = json!(summary.campaign.secret);
        }
        v["versions"] =
            json!(versions
            .iter()
            .map(|(version, at)| json!({"version": version, "created_at": format_timestamp(*at)}))
            .collect::<Vec<_>>());
        Ok(Json(v))
    })
    .await
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    super::blocking(&state, move |s| {
        if !s
            .campaigns
            .pool
            .with(|db| db.delete_campaign(&name, now_millis()))?
        {
            return Err(ApiError::not_found(format!("no campaign named {name:?}")));
        }
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[derive(Deserialize)]
struct PersonQuery {
    person: String,
}

async fn preview(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<PersonQuery>,
) -> ApiResult<Json<Value>> {
    super::blocking(&state, move |s| {
        let person = super::live::person_of(s, &q.person)?;
        let p = s.campaigns.preview(&name, person, now_millis())?;
        Ok(Json(serde_json::to_value(p).unwrap_or(Value::Null)))
    })
    .await
}

async fn why(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<PersonQuery>,
) -> ApiResult<Json<Value>> {
    super::blocking(&state, move |s| {
        let person = super::live::person_of(s, &q.person)?;
        let w = s.campaigns.why(&name, person, now_millis())?;
        Ok(Json(serde_json::to_value(w).unwrap_or(Value::Null)))
    })
    .await
}

#[derive(Deserialize)]
struct SendsQuery {
    after: Option<i64>,
    limit: Option<usize>,
    status: Option<String>,
}

async fn sends(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<SendsQuery>,
) -> ApiResult<Json<Value>> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            Status::ALL
                .into_iter()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_status",
                        format!("status {s:?}: expected one of scheduled, deferred, owed, sent, skipped, failed"),
                    )
                })?,
        ),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    super::blocking(&state, move |s| {
        let rows = s.campaigns.pool.with(|db| {
            if db.campaign(&name)?.is_none() {
                return Err(seglab_campaign::Error::NotFound(name.clone()));
            }
            db.sends(&LedgerFilter {
                campaign: Some(name.clone()),
                person: None,
                status,
                after: q.after.unwrap_or(0),
                limit,
            })
        })?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|r| r.id))
            .flatten();
        Ok(Json(
            json!({"campaign": name, "sends": rows, "next_after": next}),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Codes {
    codes: Vec<String>,
}

async fn coupons(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let codes: Codes = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("expected {{\"codes\": [\"…\"]}}: {e}"),
        )
    })?;
    if let Some(bad) = codes
        .codes
        .iter()
        .find(|c| c.is_empty() || c.len() > 64 || c.chars().any(char::is_whitespace))
    {
        return Err(ApiError::bad_request(
            "invalid_code",
            format!("coupon code {bad:?}: 1 to 64 characters, no spaces"),
        ));
    }
    super::blocking(&state, move |s| {
        let added = s.campaigns.pool.with(|db| {
            if db.campaign(&name)?.is_none() {
                return Err(seglab_campaign::Error::NotFound(name.clone()));
            }
            db.add_pool_codes(&name, &codes.codes)
        })?;
        Ok(Json(
            json!({"campaign": name, "added": added, "received": codes.codes.len()}),
        ))
    })
    .await
}

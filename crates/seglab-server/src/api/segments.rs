//! Segments: `GET/POST /api/v1/segments`, `GET/PUT/DELETE /api/v1/segments/{name}`,
//! `…/{name}/members`, `…/{name}/count`, and `POST /api/v1/segments/preview` for a
//! live editor. Definitions are sent as source text (`{"source": "segment …"}`) or
//! as the syntax tree's JSON form (`{"name", "title", "condition"}`).
//!
//! The list gives each segment its `guardrails`, and a write (POST, PUT) answers
//! `{"segments": […], "guardrails": […]}` with those of the segments written:
//! the warnings of `GET /api/v1/insights/guardrails`, as of now.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;

use crate::extract::{Path, Query};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use seglab_event::time::{format_timestamp, now_millis, parse_timestamp};
use seglab_insights::Guardrail;
use seglab_lang::ast::Condition;
use seglab_lang::{Diagnostic, Severity};
use seglab_store::SaveOutcome;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult, ErrorKind};

pub(crate) fn routes() -> Management {
    Management::new()
        .read(Method::GET, "/api/v1/segments", list)
        .full(Method::POST, "/api/v1/segments", create)
        // The size and a sample of an unsaved definition: nothing is stored.
        .read(Method::POST, "/api/v1/segments/preview", preview)
        .read(Method::GET, "/api/v1/segments/{name}", show)
        .full(Method::PUT, "/api/v1/segments/{name}", update)
        .full(Method::DELETE, "/api/v1/segments/{name}", remove)
        .read(Method::GET, "/api/v1/segments/{name}/members", members)
        .read(Method::GET, "/api/v1/segments/{name}/count", count)
}

#[derive(Deserialize)]
struct At {
    at: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

fn instant(at: Option<&str>) -> ApiResult<i64> {
    match at {
        None => Ok(now_millis()),
        Some(t) => parse_timestamp(t).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_time",
                format!("`at` is not an ISO-8601 time: {t:?}"),
            )
        }),
    }
}

/// A definition in either form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Definition {
    source: Option<String>,
    name: Option<String>,
    title: Option<String>,
    condition: Option<Condition>,
}

fn parse_body<T: for<'de> Deserialize<'de>>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid request body: {e}")))
}

fn diagnostics_json(diags: &[Diagnostic], source: &str) -> Value {
    Value::Array(
        diags
            .iter()
            .map(|d| {
                let (line, column) = d.line_col(source);
                json!({
                    "severity": match d.severity { Severity::Error => "error", Severity::Warning => "warning" },
                    "code": d.code,
                    "message": d.message,
                    "line": line,
                    "column": column,
                    "start": d.span.start,
                    "end": d.span.end,
                    "hint": d.hint,
                })
            })
            .collect(),
    )
}

/// Turns a segments error into an API error, with structured diagnostics.
fn segments_error(e: seglab_segments::Error, source: &str) -> ApiError {
    let diagnostics = match &e {
        seglab_segments::Error::Invalid { diagnostics, .. } => {
            Some(diagnostics_json(diagnostics, source))
        }
        _ => None,
    };
    let mut err = ApiError::from(e);
    if let Some(d) = diagnostics {
        let mut m = Map::new();
        m.insert("diagnostics".into(), d);
        err.details = Some(m);
    }
    err
}

fn outcome_json(name: &str, o: SaveOutcome) -> Value {
    let (status, version) = match o {
        SaveOutcome::Created { version } => ("created", version),
        SaveOutcome::Updated { version } => ("updated", version),
        SaveOutcome::Unchanged { version } => ("unchanged", version),
    };
    json!({"name": name, "status": status, "version": version})
}

/// Brings the timelines up to the last commit, so answers include every
/// acknowledged event.
fn fresh(s: &AppState) -> ApiResult<()> {
    s.segments.refresh(s.store.reader())?;
    Ok(())
}

async fn list(State(state): State<Arc<AppState>>, Query(q): Query<At>) -> ApiResult<Json<Value>> {
    let now = instant(q.at.as_deref())?;
    super::blocking(&state, move |s| {
        fresh(s)?;
        let records = s.store.reader().segments()?;
        let evals = s.segments.evaluate(s.store.reader(), &[], now)?;
        let warnings = super::insights::guardrails_now(s, &[], &[]);
        let out: Vec<Value> = records
            .iter()
            .zip(&evals)
            .map(|(r, e)| {
                let mine: Vec<&Guardrail> =
                    warnings.iter().filter(|g| g.segment == r.name).collect();
                json!({
                    "name": r.name, "title": r.title, "version": r.version, "source": r.source,
                    "updated_at": format_timestamp(r.updated_at), "size": e.size, "share": e.share,
                    "guardrails": mine,
                })
            })
            .collect();
        Ok(Json(
            json!({"segments": out, "people": s.segments.people(), "at": format_timestamp(now)}),
        ))
    })
    .await
}

/// A definition, checked when given as source.
enum Parsed {
    Source(String, seglab_segments::Checked),
    Tree {
        name: String,
        title: Option<String>,
        condition: Box<Condition>,
    },
}

/// Checks and saves a definition; `expected` is the name in the path of a PUT.
fn save(
    s: &AppState,
    def: Definition,
    expected: Option<&str>,
    must_be_new: bool,
) -> ApiResult<Vec<Value>> {
    let reader = s.store.reader();
    fresh(s)?;
    let parsed = match (def.source, def.condition) {
        (Some(source), None) => {
            let checked = s
                .segments
                .check(reader, &source, "request")
                .map_err(|e| segments_error(e, &source))?;
            Parsed::Source(source, checked)
        }
        (None, Some(condition)) => {
            let name = def
                .name
                .or_else(|| expected.map(str::to_owned))
                .ok_or_else(|| {
                    ApiError::bad_request("invalid_segment", "`name` is required with `condition`")
                })?;
            Parsed::Tree {
                name,
                title: def.title,
                condition: Box::new(condition),
            }
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_segment",
                "send either `source` or `condition` (with `name`)",
            ));
        }
    };
    let names: Vec<String> = match &parsed {
        Parsed::Source(_, checked) => checked
            .file
            .segments
            .iter()
            .map(|d| d.name.text.clone())
            .collect(),
        Parsed::Tree { name, .. } => vec![name.clone()],
    };
    if let Some(exp) = expected
        && names.iter().any(|n| n != exp)
    {
        return Err(ApiError::bad_request(
            "name_mismatch",
            format!("the definition must be of segment {exp:?} only"),
        ));
    }
    for n in &names {
        let exists = reader.segment(n)?.is_some();
        if must_be_new && exists {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                "already_exists",
                format!("segment {n:?} exists; PUT /api/v1/segments/{n} to change it"),
            ));
        }
        if !must_be_new && !exists {
            return Err(ApiError::not_found(format!("no segment named {n:?}")));
        }
    }
    match parsed {
        Parsed::Source(source, checked) => {
            // The checker's warnings (unknown properties, windows beyond the
            // retention, …) go with each segment saved from this source.
            let warnings = diagnostics_json(&checked.warnings, &source);
            Ok(s.segments
                .apply(reader, &checked, &source)?
                .into_iter()
                .map(|(n, o)| {
                    let mut v = outcome_json(&n, o);
                    v["warnings"] = warnings.clone();
                    v
                })
                .collect())
        }
        Parsed::Tree {
            name,
            title,
            condition,
        } => {
            let o = s
                .segments
                .save_condition(reader, &name, title.as_deref(), &condition)
                .map_err(|e| segments_error(e, ""))?;
            Ok(vec![outcome_json(&name, o)])
        }
    }
}

/// Saves a definition and answers what was saved with its guardrails.
fn save_and_warn(
    s: &AppState,
    def: Definition,
    expected: Option<&str>,
    must_be_new: bool,
) -> ApiResult<Value> {
    let saved = save(s, def, expected, must_be_new)?;
    let names: Vec<String> = saved
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_owned))
        .collect();
    let warnings = super::insights::guardrails_now(s, &names, &names);
    Ok(json!({"segments": saved, "guardrails": warnings}))
}

async fn create(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Response> {
    let def: Definition = parse_body(&body)?;
    let saved = super::blocking(&state, move |s| save_and_warn(s, def, None, true)).await?;
    Ok((StatusCode::CREATED, Json(saved)).into_response())
}

async fn update(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let def: Definition = parse_body(&body)?;
    let saved = super::blocking(&state, move |s| save_and_warn(s, def, Some(&name), false)).await?;
    Ok(Json(saved))
}

async fn show(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<At>,
) -> ApiResult<Json<Value>> {
    let now = instant(q.at.as_deref())?;
    super::blocking(&state, move |s| {
        fresh(s)?;
        let reader = s.store.reader();
        let record = reader.segment(&name)?.ok_or_else(|| ApiError::not_found(format!("no segment named {name:?}")))?;
        let eval = s.segments.evaluate(reader, std::slice::from_ref(&name), now)?.remove(0);
        let versions: Vec<Value> = reader
            .segment_versions(&name)?
            .iter()
            .map(|v| json!({"version": v.version, "created_at": format_timestamp(v.created_at), "source": v.source}))
            .collect();
        let condition: Value = serde_json::from_str(&record.ast).unwrap_or(Value::Null);
        Ok(Json(json!({
            "name": record.name, "title": record.title, "version": record.version,
            "source": record.source, "condition": condition,
            "size": eval.size, "share": eval.share, "sample": eval.sample,
            "at": format_timestamp(now), "versions": versions,
        })))
    })
    .await
}

async fn remove(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    super::blocking(&state, move |s| {
        // Campaigns stop reaching anyone without their segment.
        let campaigns: Vec<String> = s
            .campaigns
            .pool
            .with(|db| db.campaigns())?
            .into_iter()
            .filter(|c| c.def.segment == name)
            .map(|c| format!("campaign {}", c.name))
            .collect();
        if !campaigns.is_empty() {
            return Err(seglab_segments::Error::InUse(name, campaigns.join(", ")).into());
        }
        s.segments.delete(s.store.reader(), &name)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn members(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<At>,
) -> ApiResult<Json<Value>> {
    let now = instant(q.at.as_deref())?;
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    super::blocking(&state, move |s| {
        fresh(s)?;
        let (total, page) = s.segments.members(&name, now, offset, limit)?;
        let next = (offset + page.len() < total as usize).then_some(offset + page.len());
        Ok(Json(json!({"total": total, "members": page, "next_offset": next, "at": format_timestamp(now)})))
    })
    .await
}

async fn count(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<At>,
) -> ApiResult<Json<Value>> {
    let now = instant(q.at.as_deref())?;
    super::blocking(&state, move |s| {
        fresh(s)?;
        let (total, _) = s.segments.members(&name, now, 0, 0)?;
        Ok(Json(json!({"count": total, "at": format_timestamp(now)})))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    /// A condition in source form: `did "Order Completed" in last 30d`.
    source: Option<String>,
    condition: Option<Condition>,
    at: Option<String>,
}

async fn preview(State(state): State<Arc<AppState>>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: PreviewRequest = parse_body(&body)?;
    let now = instant(req.at.as_deref())?;
    super::blocking(&state, move |s| {
        fresh(s)?;
        let reader = s.store.reader();
        let (condition, warnings) = match (req.source, req.condition) {
            (Some(source), None) => {
                // Checked as the body of a segment, so names and types are verified.
                let wrapped = format!("segment preview = {source}");
                let offset = "segment preview = ".len();
                let checked = s.segments.check(reader, &wrapped, "preview").map_err(|e| {
                    let mut err = segments_error(e, &wrapped);
                    shift_columns(&mut err, offset);
                    err
                })?;
                let warnings = diagnostics_json(&checked.warnings, &wrapped);
                (checked.file.segments.into_iter().next().map(|d| d.condition), warnings)
            }
            (None, Some(c)) => (Some(c), Value::Array(Vec::new())),
            _ => return Err(ApiError::bad_request("invalid_segment", "send either `source` or `condition`")),
        };
        let condition = condition.ok_or_else(|| ApiError::bad_request("invalid_segment", "empty condition"))?;
        let started = Instant::now();
        let eval = s.segments.preview(&condition, now)?;
        Ok(Json(json!({
            "size": eval.size, "share": eval.share, "sample": eval.sample, "people": s.segments.people(),
            "warnings": warnings, "elapsed_ms": started.elapsed().as_secs_f64() * 1000.0, "at": format_timestamp(now),
        })))
    })
    .await
}

/// Diagnostics of a preview refer to the condition as sent, not the wrapper.
fn shift_columns(err: &mut ApiError, offset: usize) {
    if let Some(Value::Array(diags)) = err.details.as_mut().and_then(|d| d.get_mut("diagnostics")) {
        for d in diags {
            for key in ["column", "start", "end"] {
                if let Some(n) = d.get(key).and_then(Value::as_u64) {
                    d[key] = json!(n.saturating_sub(offset as u64).max(if key == "column" {
                        1
                    } else {
                        0
                    }));
                }
            }
        }
    }
}

//! `/ui/editor`: write a segment and see, as you type, what is wrong with it
//! (line, column, message and hint, did-you-mean included) or how many people
//! it holds now, with a sample. `POST /ui/editor/preview` answers that as a
//! fragment (htmx posts the form 300 ms after the last change); `POST
//! /ui/editor/save` checks and applies the definition (a new version) and
//! goes to the segment's page.
//!
//! The text is a segment file (`segment name "Title" = condition`, one or
//! more); a bare condition is previewed too (as the body of a segment) but
//! cannot be saved.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use seglab_event::time::now_millis;
use seglab_lang::Diagnostic;
use serde::Deserialize;

use super::error::{Form, PageError, PageResult, Query};
use super::layout::{self, Nav, percent, thousands};
use super::login::redirect;
use super::session::Session;
use super::{blocking, segment_record};
use crate::AppState;

const STARTER: &str =
    "segment my_segment \"My segment\" =\n    did \"Order Completed\" in last 30d\n";

/// What a bare condition is wrapped in to be checked.
const WRAPPER: &str = "segment preview = ";

/// Sample members shown with a count.
const SAMPLE: usize = 5;

#[derive(Deserialize)]
pub struct EditorQuery {
    segment: Option<String>,
}

#[derive(Deserialize)]
pub struct SourceForm {
    source: String,
}

/// One diagnostic, placed in the text as typed.
struct Placed {
    severity: &'static str,
    line: usize,
    column: usize,
    code: &'static str,
    message: String,
    hint: Option<String>,
}

fn place(diags: &[Diagnostic], checked: &str, wrapped: bool) -> Vec<Placed> {
    diags
        .iter()
        .map(|d| {
            let (line, column) = d.line_col(checked);
            let column = if wrapped && line == 1 {
                column.saturating_sub(WRAPPER.chars().count()).max(1)
            } else {
                column
            };
            Placed {
                severity: d.severity.as_str(),
                line,
                column,
                code: d.code,
                message: d.message.clone(),
                hint: d.hint.clone(),
            }
        })
        .collect()
}

struct Counted {
    name: String,
    size: u64,
    share: f64,
    sample: Vec<String>,
}

enum Preview {
    Empty,
    Invalid(Vec<Placed>),
    Counted {
        segments: Vec<Counted>,
        warnings: Vec<Placed>,
        bare: bool,
        elapsed_ms: f64,
    },
    Failed(String),
}

/// Whether the text defines segments (else it is a bare condition).
fn is_file(source: &str) -> bool {
    source
        .lines()
        .map(str::trim_start)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with("segment ") || l == "segment")
}

fn preview(s: &AppState, source: &str) -> PageResult<Preview> {
    if source.trim().is_empty() {
        return Ok(Preview::Empty);
    }
    let reader = s.store.reader();
    s.segments.refresh(reader)?;
    let bare = !is_file(source);
    let text = if bare {
        format!("{WRAPPER}{source}")
    } else {
        source.to_owned()
    };
    let checked = match s.segments.check(reader, &text, "editor") {
        Ok(c) => c,
        Err(seglab_segments::Error::Invalid { diagnostics, .. }) => {
            return Ok(Preview::Invalid(place(&diagnostics, &text, bare)));
        }
        Err(e) => return Ok(Preview::Failed(e.to_string())),
    };
    let started = Instant::now();
    let now = now_millis();
    let mut segments = Vec::new();
    for def in &checked.file.segments {
        match s.segments.preview(&def.condition, now) {
            Ok(eval) => segments.push(Counted {
                name: def.name.text.clone(),
                size: eval.size,
                share: eval.share,
                sample: eval
                    .sample
                    .iter()
                    .take(SAMPLE)
                    .map(|&p| {
                        reader
                            .user_id(p)
                            .ok()
                            .flatten()
                            .unwrap_or_else(|| format!("person {p}"))
                    })
                    .collect(),
            }),
            Err(e) => return Ok(Preview::Failed(e.to_string())),
        }
    }
    Ok(Preview::Counted {
        segments,
        warnings: place(&checked.warnings, &text, bare),
        bare,
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

fn diagnostics(list: &[Placed]) -> Markup {
    html! {
        ul.diagnostics {
            @for d in list {
                li class=(d.severity) {
                    span.at { (d.line) ":" (d.column) } " "
                    strong { (d.severity) } " "
                    (d.message)
                    " " code.muted { (d.code) }
                    @if let Some(h) = &d.hint {
                        br; span.hint { "hint: " (h) }
                    }
                }
            }
        }
    }
}

fn render_preview(p: &Preview) -> Markup {
    html! {
        @match p {
            Preview::Empty => p.muted { "Write a definition to see how many people it holds." },
            Preview::Invalid(list) => {
                p.verdict.invalid { (list.len()) " problem" (if list.len() == 1 { "" } else { "s" }) }
                (diagnostics(list))
            }
            Preview::Failed(m) => p.error role="alert" { (m) },
            Preview::Counted { segments, warnings, bare, elapsed_ms } => {
                @for c in segments {
                    p.verdict.count {
                        @if !*bare { code { (c.name) } ": " }
                        strong.preview-count data-count=(c.size) { (thousands(c.size)) }
                        " people now (" (percent(c.share)) ")"
                    }
                    @if !c.sample.is_empty() {
                        p.sample.muted { "For example: " (c.sample.join(", ")) }
                    }
                }
                @if !warnings.is_empty() { (diagnostics(warnings)) }
                @if *bare {
                    p.muted { "To save it, write it as " code { "segment name \"Title\" = …" } "." }
                }
                p.muted.small { "Counted in " (format!("{elapsed_ms:.1}")) " ms." }
            }
        }
    }
}

fn editor(session: &Session, source: &str, preview: &Preview, editing: Option<&str>) -> Markup {
    let body = html! {
        div.heading {
            h1 { @if let Some(n) = editing { "Edit " code { (n) } } @else { "New segment" } }
        }
        form #editor.editor method="post" action="/ui/editor/save" {
            (layout::csrf_field(session))
            label for="source" { "Definition" }
            textarea #source name="source" rows="10" spellcheck="false" autocomplete="off"
                hx-post="/ui/editor/preview" hx-trigger="input changed delay:300ms"
                hx-target="#preview" hx-include="closest form" hx-sync="this:replace" { (source) }
            div #preview.preview aria-live="polite" { (render_preview(preview)) }
            div.actions {
                @if session.can_write() {
                    button type="submit" { "Save" }
                    span.muted { "Saving checks the definition again and keeps every version." }
                } @else {
                    button type="submit" disabled { "Save" }
                    span.muted { "This session is read-only: saving needs a full admin token." }
                }
            }
        }
        details.help {
            summary { "The language in brief" }
            pre { code {
                "did \"Order Completed\" in last 30d\n"
                "count(\"Product Viewed\" where category = \"shoes\" in last 30d) >= 3\n"
                "did \"Product Added\" in last 7d then not \"Order Completed\" within 24h\n"
                "sum(\"Order Completed\".revenue in last 365d) >= 500\n"
                "last_seen in last 7d and not in segment dormant\n"
                "rfm in [Champions, Loyal]"
            } }
        }
    };
    layout::page(session, Nav::Editor, "Editor", body)
}

/// `GET /ui/editor?segment=`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Query(q): Query<EditorQuery>,
) -> PageResult<Markup> {
    let (source, p) = blocking(&state, move |s| {
        let source = match &q.segment {
            Some(name) => segment_record(s, name)?.source,
            None => STARTER.to_owned(),
        };
        let p = preview(s, &source)?;
        Ok(((source, q.segment), p))
    })
    .await?;
    Ok(editor(&session, &source.0, &p, source.1.as_deref()))
}

/// `POST /ui/editor/preview`: the preview fragment.
pub async fn preview_fragment(
    State(state): State<Arc<AppState>>,
    Form(form): Form<SourceForm>,
) -> PageResult<Markup> {
    let p = blocking(&state, move |s| preview(s, &form.source)).await?;
    Ok(render_preview(&p))
}

/// `POST /ui/editor/save`: applies the definition, then shows its page.
pub async fn save(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Form(form): Form<SourceForm>,
) -> PageResult<Response> {
    let source = form.source;
    let outcome = blocking(&state, move |s| {
        let reader = s.store.reader();
        s.segments.refresh(reader)?;
        let checked = match s.segments.check(reader, &source, "editor") {
            Ok(c) => c,
            Err(seglab_segments::Error::Invalid { diagnostics, .. }) => {
                let placed = place(&diagnostics, &source, false);
                return Ok(Err((source, Preview::Invalid(placed))));
            }
            Err(e) => return Err(e.into()),
        };
        if checked.file.segments.is_empty() {
            return Err(PageError::bad_request(
                "there is no segment to save: write `segment name \"Title\" = …`",
            ));
        }
        let saved = s.segments.apply(reader, &checked, &source)?;
        Ok(Ok(saved.into_iter().next().map(|(name, _)| name)))
    })
    .await?;
    match outcome {
        Ok(Some(name)) => Ok(redirect(
            StatusCode::SEE_OTHER,
            &format!("/ui/segments/{name}"),
        )),
        Ok(None) => Ok(redirect(StatusCode::SEE_OTHER, "/ui")),
        Err((source, p)) => {
            Ok((StatusCode::BAD_REQUEST, editor(&session, &source, &p, None)).into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_bare_conditions_are_told_apart() {
        assert!(is_file("segment a = did \"x\""));
        assert!(is_file("# a comment\n\n  segment a = did \"x\""));
        assert!(!is_file("did \"Order Completed\" in last 30d"));
        assert!(!is_file("segmentation"));
    }
}

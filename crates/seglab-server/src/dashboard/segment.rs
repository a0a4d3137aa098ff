//! `/ui/segments/{name}`: one segment. Its size now and its revenue, the size
//! over time (a line; days before the segment was defined are evaluated and
//! drawn dashed) and the entries and exits per day (bars) for the last `days`
//! days, its definition, its members page by page (`page`), and why
//! one person is in it or not (`person`: any of their ids).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};
use seglab_engine::Explanation;
use seglab_event::time::now_millis;
use serde::Deserialize;

use super::error::{PageResult, Path, Query};
use super::insights::{self, DayPoint, Revenue};
use super::layout::{self, Nav, instant, money, percent, thousands};
use super::overview::{BACKFILL_BUDGET, size_now};
use super::session::Session;
use super::{blocking, segment_record, svg};
use crate::AppState;

const DAY: i64 = 86_400_000;
/// Members per page.
pub const PAGE: usize = 50;

#[derive(Deserialize)]
pub struct SegmentQuery {
    page: Option<usize>,
    person: Option<String>,
    days: Option<i64>,
}

struct Member {
    person: u64,
    user_id: Option<String>,
}

enum Explained {
    Tree(Box<Explanation>),
    /// The person is unknown, or has no events yet.
    Failed(String),
}

struct SegmentPage {
    record: seglab_store::SegmentRecord,
    size: u64,
    people: u64,
    days: Vec<DayPoint>,
    revenue: Option<Revenue>,
    members: Vec<Member>,
    page: usize,
    explained: Option<(String, Explained)>,
}

fn load(s: &AppState, name: &str, q: &SegmentQuery, span: i64) -> PageResult<SegmentPage> {
    let record = segment_record(s, name)?;
    let now = now_millis();
    let size = size_now(s, name, now);
    let days = insights::daily_sizes(
        s,
        &[(record.name.clone(), record.created_at)],
        now - (span - 1) * DAY,
        now,
        BACKFILL_BUDGET,
    )
    .pop()
    .unwrap_or_default();
    let page = q.page.unwrap_or(0);
    let offset = page.saturating_mul(PAGE);
    let ids: Vec<u64> = match s.live.with_live(|l| {
        l.members(name)
            .map(|m| m.iter().skip(offset).take(PAGE).collect::<Vec<u64>>())
    }) {
        Some(ids) => ids,
        None => s
            .segments
            .members(name, now, offset, PAGE)?
            .1
            .into_iter()
            .map(|p| p as u64)
            .collect(),
    };
    let reader = s.store.reader();
    let members = ids
        .into_iter()
        .map(|person| Member {
            person,
            user_id: reader.user_id(person as i64).ok().flatten(),
        })
        .collect();
    let explained = q
        .person
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|id| {
            let outcome = crate::api::live::person_of(s, id)
                .map_err(|e| e.message)
                .and_then(|person| {
                    s.segments
                        .explain(person, name, now)
                        .map_err(|e| e.to_string())
                });
            let e = match outcome {
                Ok(tree) => Explained::Tree(Box::new(tree)),
                Err(message) => Explained::Failed(message),
            };
            (id.to_owned(), e)
        });
    Ok(SegmentPage {
        revenue: insights::revenue(s, name),
        people: s.segments.people(),
        record,
        size,
        days,
        members,
        page,
        explained,
    })
}

fn tree(e: &Explanation) -> Markup {
    html! {
        li.node.holds[e.holds].fails[!e.holds] {
            span.verdict aria-label=(if e.holds { "holds" } else { "does not hold" }) { (if e.holds { "✓" } else { "✗" }) }
            " "
            code { (e.condition) }
            @if let Some(seg) = &e.segment {
                " · segment " a href={"/ui/segments/" (seg)} { (seg) }
            }
            @if let Some(v) = &e.value {
                " · value " code { (v.to_string()) }
            }
            @if let Some(r) = &e.rfm {
                " · R " (r.r) " F " (r.f) " M " (r.m) " (" (r.cell) ")"
            }
            @if let Some(w) = e.window {
                " · window " (instant(w.from)) " – " (instant(w.to))
            }
            @if let Some(t) = e.next_change {
                span.muted { " · can change by itself at " (instant(t)) }
            }
            @if !e.events.is_empty() {
                ul.events {
                    @for ev in &e.events {
                        li {
                            time { (instant(ev.time)) } " "
                            strong { (ev.name) }
                            @if let Some(role) = ev.role { " (" (role) ")" }
                            @if ev.properties.as_object().is_some_and(|o| !o.is_empty()) {
                                " " code.props { (ev.properties.to_string()) }
                            }
                        }
                    }
                    @if e.event_count > e.events.len() {
                        li.muted { "and " (e.event_count - e.events.len()) " more" }
                    }
                }
            }
            @if !e.children.is_empty() {
                ul.tree { @for c in &e.children { (tree(c)) } }
            }
        }
    }
}

fn body(p: &SegmentPage, span: i64) -> Markup {
    let name = &p.record.name;
    let title = p.record.title.as_deref().unwrap_or(name);
    let line: Vec<(String, Option<u64>, bool)> = p
        .days
        .iter()
        .map(|d| (d.day.clone(), d.size, d.estimated))
        .collect();
    let bars: Vec<(String, u64, u64)> = p
        .days
        .iter()
        .map(|d| (d.day.clone(), d.entered, d.exited))
        .collect();
    let share = if p.people == 0 {
        0.0
    } else {
        p.size as f64 / p.people as f64
    };
    let base = format!("/ui/segments/{name}");
    html! {
        div.heading {
            h1 { (title) " " code.muted { (name) } }
            a.button href={"/ui/editor?segment=" (name)} { "Edit" }
        }
        p.stats {
            span { strong #size { (thousands(p.size)) } " members" }
            span { strong { (percent(share)) } " of " (thousands(p.people)) " people" }
            @if let Some(r) = p.revenue {
                span { strong { (money(r.total)) } " revenue in " (insights::REVENUE_DAYS) " days (" (thousands(r.orders)) " orders)" }
                span { strong { (money(r.per_member)) } " per member" }
            }
        }
        nav.range aria-label="time range" {
            "Days: "
            @for d in [30, 90, 365] {
                @if d == span {
                    strong { (d) }
                } @else {
                    a href={(base) "?days=" (d)} { (d) }
                }
            }
        }
        section.charts {
            figure {
                figcaption {
                    "Members at the end of each day"
                    @if p.days.iter().any(|d| d.estimated) {
                        span.muted { " (dashed: before the segment was defined, evaluated on the events stored now)" }
                    }
                }
                (svg::line_chart(&line, &format!("{title}: members per day over the last {span} days")))
            }
            figure {
                figcaption { "Entered and exited per day" }
                (svg::entered_exited(&bars, &format!("{title}: people who entered and exited per day over the last {span} days")))
            }
        }
        details.definition {
            summary { "Definition (version " (p.record.version) ", saved " (instant(p.record.updated_at)) ")" }
            pre { code { (p.record.source) } }
        }
        section #explain {
            h2 { "Why is someone in or out?" }
            form.inline method="get" action=(base) {
                label for="person" { "Person" }
                input #person name="person" type="search" required
                    placeholder="user id, anonymous id or person id"
                    value=(p.explained.as_ref().map_or("", |e| e.0.as_str()));
                input type="hidden" name="days" value=(span);
                button type="submit" { "Explain" }
            }
            @match p.explained.as_ref().map(|e| &e.1) {
                Some(Explained::Tree(t)) => {
                    p.verdict {
                        strong { (p.explained.as_ref().map_or("", |e| e.0.as_str())) }
                        (if t.holds { " is in " } else { " is not in " }) (title) " now."
                    }
                    ul.tree.explanation { (tree(t)) }
                }
                Some(Explained::Failed(m)) => { p.error role="alert" { (m) } }
                None => {}
            }
        }
        section #members {
            h2 { "Members " span.muted { "(" (thousands(p.size)) ")" } }
            @if p.members.is_empty() {
                p.muted { "No members on this page." }
            } @else {
                table.data {
                    (layout::thead(&[("Person", true), ("User id", false), ("", false)]))
                    tbody {
                        @for m in &p.members {
                            tr {
                                td.num { (m.person) }
                                td { (m.user_id.as_deref().unwrap_or("–")) }
                                td { a href={(base) "?person=" (m.person) "&days=" (span) "#explain"} { "explain" } }
                            }
                        }
                    }
                }
            }
            nav.pager aria-label="member pages" {
                @if p.page > 0 {
                    a rel="prev" href={(base) "?page=" (p.page - 1) "&days=" (span) "#members"} { "← previous" }
                }
                span.muted { "page " (p.page + 1) " of " (((p.size as usize).div_ceil(PAGE)).max(1)) }
                @if (p.page + 1) * PAGE < p.size as usize {
                    a rel="next" href={(base) "?page=" (p.page + 1) "&days=" (span) "#members"} { "next →" }
                }
            }
        }
    }
}

/// `GET /ui/segments/{name}?page=&person=&days=`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    Query(q): Query<SegmentQuery>,
) -> PageResult<Markup> {
    let span = q.days.unwrap_or(90).clamp(7, 365);
    let p = blocking(&state, move |s| load(s, &name, &q, span)).await?;
    let title = p
        .record
        .title
        .clone()
        .unwrap_or_else(|| p.record.name.clone());
    Ok(layout::page(
        &session,
        Nav::Overview,
        &title,
        body(&p, span),
    ))
}

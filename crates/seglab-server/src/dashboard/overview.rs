//! `/ui`: every segment with its size and share now, its last 30 days as a
//! sparkline (dashed where the days come before the segment was defined and
//! were evaluated rather than recorded), the change over them, and its
//! guardrail badges. `dashboard.js`
//! keeps the sizes current from `/api/v1/stream` (each entry adds one, each
//! exit takes one away) and lists the latest changes; after a reconnect it
//! reloads the rows from `/ui/overview/rows`.

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};
use seglab_event::time::now_millis;

use super::error::PageResult;
use super::insights::{self, Guardrail};
use super::layout::{self, Nav, percent, thousands};
use super::session::Session;
use super::{blocking, svg};
use crate::AppState;

const DAY: i64 = 86_400_000;
/// Days in the sparkline.
pub const TREND_DAYS: i64 = 30;
/// The most time spent evaluating sizes of days before a segment existed.
pub const BACKFILL_BUDGET: Duration = Duration::from_millis(1500);

struct Row {
    name: String,
    title: Option<String>,
    size: u64,
    /// Size per day, and whether it was evaluated rather than recorded.
    trend: Vec<(Option<u64>, bool)>,
    badges: Vec<Guardrail>,
}

struct Overview {
    rows: Vec<Row>,
    people: u64,
    events: u64,
    behind: i64,
}

/// A segment's live size now (its batch size while the live thread has not
/// picked a new definition up yet).
pub fn size_now(s: &AppState, name: &str, now: i64) -> u64 {
    match s.live.with_live(|l| l.members(name).map(|m| m.len())) {
        Some(n) => n,
        None => s
            .segments
            .members(name, now, 0, 0)
            .map(|(n, _)| n)
            .unwrap_or(0),
    }
}

fn load(s: &AppState) -> PageResult<Overview> {
    let now = now_millis();
    let records = s.store.reader().segments()?;
    let mut badges = insights::guardrails(s);
    let created: Vec<(String, i64)> = records
        .iter()
        .map(|r| (r.name.clone(), r.created_at))
        .collect();
    let mut trends = insights::daily_sizes(
        s,
        &created,
        now - (TREND_DAYS - 1) * DAY,
        now,
        BACKFILL_BUDGET,
    )
    .into_iter();
    let rows = records
        .into_iter()
        .map(|r| {
            let trend = trends
                .next()
                .unwrap_or_default()
                .into_iter()
                .map(|p| (p.size, p.estimated))
                .collect();
            let (mine, rest) = badges.drain(..).partition(|g| g.segment == r.name);
            badges = rest;
            Row {
                size: size_now(s, &r.name, now),
                name: r.name,
                title: r.title,
                trend,
                badges: mine,
            }
        })
        .collect();
    let committed = s.store.reader().last_seq()?;
    let applied = s.live.with_live(|l| l.last_seq());
    Ok(Overview {
        rows,
        people: s.segments.people(),
        events: s.segments.events(),
        behind: (committed - applied).max(0),
    })
}

fn rows(o: &Overview) -> Markup {
    html! {
        tbody #segment-rows {
            @if o.rows.is_empty() {
                tr { td colspan="6" .muted { "No segments yet: write one in the " a href="/ui/editor" { "editor" } "." } }
            }
            @for r in &o.rows {
                @let share = if o.people == 0 { 0.0 } else { r.size as f64 / o.people as f64 };
                @let known: Vec<u64> = r.trend.iter().filter_map(|t| t.0).collect();
                @let change = match (known.first(), known.last()) {
                    (Some(&a), Some(&b)) => Some(b as i64 - a as i64),
                    _ => None,
                };
                tr data-segment=(r.name) {
                    td {
                        a href={"/ui/segments/" (r.name)} { (r.title.as_deref().unwrap_or(&r.name)) }
                        br;
                        code.muted { (r.name) }
                    }
                    td.num.size data-size=(r.size) { (thousands(r.size)) }
                    td.num.share data-people=(o.people) { (percent(share)) }
                    td { (svg::sparkline(&r.trend, &r.name)) }
                    td.num {
                        @match change {
                            Some(c) if c > 0 => span.up { "+" (thousands(c as u64)) },
                            Some(c) if c < 0 => span.down { "−" (thousands(c.unsigned_abs())) },
                            Some(_) => span.muted { "0" },
                            None => span.muted { "–" },
                        }
                    }
                    td {
                        @if r.badges.is_empty() {
                            span.muted { "–" }
                        }
                        @for b in &r.badges {
                            span class={"badge " (b.level)} title=(b.message) { (b.message) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /ui`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> PageResult<Markup> {
    let o = blocking(&state, load).await?;
    let body = html! {
        div.heading {
            h1 { "Segments" }
            a.button href="/ui/editor" { "New segment" }
        }
        p.stats {
            span { strong { (thousands(o.people)) } " people" }
            span { strong { (thousands(o.events)) } " events" }
            span { strong { (o.rows.len()) } " segments" }
            @if o.behind > 0 {
                span.muted { "live membership is " (thousands(o.behind as u64)) " events behind" }
            }
            span #live.live data-state="connecting" role="status" { "connecting…" }
        }
        table #segments.data {
            (layout::thead(&[
                ("Segment", false),
                ("Members", true),
                ("Share", true),
                (&format!("Last {TREND_DAYS} days"), false),
                ("Change", true),
                ("Guardrails", false),
            ]))
            (rows(&o))
        }
        section.recent {
            h2 { "Latest changes" }
            ul #recent-changes { li.muted.placeholder { "Entries and exits appear here as they happen." } }
        }
    };
    Ok(layout::page(&session, Nav::Overview, "Segments", body))
}

/// `GET /ui/overview/rows`: the table's rows alone.
pub async fn rows_fragment(State(state): State<Arc<AppState>>) -> PageResult<Markup> {
    let o = blocking(&state, load).await?;
    Ok(rows(&o))
}

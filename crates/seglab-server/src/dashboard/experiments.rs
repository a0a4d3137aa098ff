//! `/ui/experiments`: campaigns with several messages or a holdout, and
//! `/ui/experiments/{name}?segment=`: one experiment's results, its arms, the
//! lift of each arm over the control with its interval (bars around zero),
//! the always-valid interval, the sample ratio check, and the effect per
//! segment raw and shrunk.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};
use seglab_campaign::experiment::{self, Comparison, Results};
use serde::Deserialize;

use super::campaigns::is_experiment;
use super::error::{PageError, PageResult, Path, Query};
use super::layout::{self, Nav, money, percent, signed_percent, thousands};
use super::session::Session;
use super::svg::{self, IntervalRow};
use super::{blocking, segment_names};
use crate::AppState;

/// `GET /ui/experiments`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> PageResult<Markup> {
    let campaigns = blocking(&state, |s| {
        Ok(s.campaigns.pool.with(|db| db.campaigns())?)
    })
    .await?;
    let experiments: Vec<_> = campaigns.iter().filter(|c| is_experiment(&c.def)).collect();
    let body = html! {
        h1 { "Experiments" }
        @if experiments.is_empty() {
            p.muted { "No experiments: a campaign with more than one message, or a holdout, is one." }
        } @else {
            table.data {
                (layout::thead(&[("Experiment", false), ("Segment", false), ("Goal", false), ("Arms (share of the audience)", false)]))
                tbody {
                    @for c in &experiments {
                        tr {
                            td { a href={"/ui/experiments/" (c.name)} { (c.def.title.as_deref().unwrap_or(&c.name)) } br; code.muted { (c.name) } }
                            td { a href={"/ui/segments/" (c.def.segment)} { (c.def.segment) } }
                            td { (c.def.goal.as_ref().map_or("Order Completed (default)", |g| g.event.as_str())) }
                            td {
                                @for m in &c.def.messages { span.arm { (m.name) " " (m.weight) " %" } " " }
                                @if c.def.holdout > 0 { span.arm.holdout { "holdout " (c.def.holdout) " %" } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        &session,
        Nav::Experiments,
        "Experiments",
        body,
    ))
}

#[derive(Deserialize)]
pub struct ExperimentQuery {
    segment: Option<String>,
}

fn comparisons(list: &[&Comparison], metric: &str) -> Markup {
    let rows: Vec<IntervalRow> = list
        .iter()
        .map(|c| IntervalRow {
            label: format!("{} vs {}", c.arm, c.control),
            point: c.lift,
            interval: c.lift_interval,
            outer: None,
        })
        .collect();
    html! {
        (svg::interval_bars(&rows, &format!("Relative lift in {metric} over the control, with 95 % intervals"), &format!("relative lift in {metric}")))
        table.data {
            (layout::thead(&[("Arm", false), ("Control", true), ("Arm", true), ("Lift", true), ("95 % interval", true), ("Always-valid interval (difference)", true), ("p (Holm)", true), ("Chance to win", true)]))
            tbody {
                @for c in list {
                    @let fmt = |x: f64| if metric == "revenue" { money(x) } else { percent(x) };
                    tr {
                        td { (c.arm) " vs " (c.control) }
                        td.num { (fmt(c.control_mean)) }
                        td.num { (fmt(c.arm_mean)) }
                        td.num { (signed_percent(c.lift)) }
                        td.num { (signed_percent(c.lift_interval[0])) " to " (signed_percent(c.lift_interval[1])) }
                        td.num.significant[c.sequential_significant] {
                            (format!("{:+.4}", c.sequential_interval[0])) " to " (format!("{:+.4}", c.sequential_interval[1]))
                        }
                        td.num { (format!("{:.3}", c.p_adjusted)) }
                        td.num { (percent(c.chance_to_win)) }
                    }
                }
            }
        }
    }
}

fn results(r: &Results, segments: &[String]) -> Markup {
    let metrics: Vec<&str> = {
        let mut m: Vec<&str> = Vec::new();
        for c in &r.comparisons {
            if !m.contains(&c.metric) {
                m.push(c.metric);
            }
        }
        m
    };
    let effects: Vec<IntervalRow> = r
        .by_segment
        .iter()
        .map(|e| IntervalRow {
            label: format!("{} ({})", e.segment, thousands(e.exposed)),
            point: e.shrunk_lift,
            interval: e.shrunk_interval,
            outer: Some(e.raw_interval),
        })
        .collect();
    html! {
        form.inline method="get" {
            label for="segment" { "Only members of" }
            select #segment name="segment" {
                option value="" { "everyone" }
                @for s in segments {
                    option value=(s) selected[r.segment.as_deref() == Some(s.as_str())] { (s) }
                }
            }
            button type="submit" { "Show" }
        }
        p.stats {
            span { "Goal " strong { (r.goal) } " within " (format!("{:.0}", r.window_days)) " days" }
            @if let Some(p) = r.srm_p_value {
                span { "sample ratio p = " (format!("{p:.3}")) }
            }
        }
        @if r.srm_alert {
            p.error role="alert" { "Sample ratio mismatch: the arms did not get the shares planned, so the results are not to be trusted." }
        }
        p.hint { (r.hint) }
        h2 { "Arms" }
        table.data {
            (layout::thead(&[("Arm", false), ("Exposed", true), ("Conversions", true), ("Conversion rate", true), ("Revenue", true), ("Revenue per person", true)]))
            tbody {
                @for a in &r.arms {
                    tr {
                        td { (a.arm) }
                        td.num { (thousands(a.exposed)) }
                        td.num { (thousands(a.conversions)) }
                        td.num { (percent(a.conversion_rate)) }
                        td.num { (money(a.revenue)) }
                        td.num { (money(a.revenue_per_person)) }
                    }
                }
            }
        }
        @for m in &metrics {
            h2 { "Lift in " (m) }
            (comparisons(&r.comparisons.iter().filter(|c| c.metric == *m).collect::<Vec<_>>(), m))
        }
        @if !effects.is_empty() {
            h2 { "By segment" }
            p.muted { "The leading arm's conversion lift per segment: the thick bar is shrunk toward the overall effect, the thin one is the segment's own (raw) interval." }
            (svg::interval_bars(&effects, "Conversion lift of the leading arm per segment, shrunk and raw", "relative lift in conversion"))
        }
        @if !r.notes.is_empty() {
            h2 { "Notes" }
            ul { @for n in &r.notes { li { (n) } } }
        }
    }
}

/// `GET /ui/experiments/{name}?segment=`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    Path(name): Path<String>,
    Query(q): Query<ExperimentQuery>,
) -> PageResult<Markup> {
    let segment = q.segment.filter(|s| !s.is_empty());
    let (title, r, names) = blocking(&state, move |s| {
        let c = s
            .campaigns
            .pool
            .with(|db| db.campaign(&name))?
            .ok_or_else(|| PageError::not_found(format!("no campaign named {name:?}")))?;
        if !is_experiment(&c.def) {
            return Err(PageError::not_found(format!(
                "campaign {name:?} has one message and no holdout: it is not an experiment"
            )));
        }
        let names = segment_names(s)?;
        if let Some(seg) = &segment
            && !names.contains(seg)
        {
            return Err(PageError::not_found(format!("no segment named {seg:?}")));
        }
        let r = experiment::results(&s.segments, &*s.live, &c.def, segment.as_deref(), &names);
        Ok((c.def.title.clone().unwrap_or(name), r, names))
    })
    .await?;
    let body = html! {
        h1 { (title) " " code.muted { (r.experiment) } }
        (results(&r, &names))
    };
    Ok(layout::page(&session, Nav::Experiments, &title, body))
}

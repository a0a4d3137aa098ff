//! `/ui/campaigns`: every campaign with its audience, channel, trigger, its
//! sends by outcome (a stacked bar and the counts) and its coupons; the
//! experiments link to their results.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};
use seglab_campaign::code::Summary;
use seglab_campaign::db::Status;
use seglab_campaign::def::Trigger;
use seglab_campaign::duration::format_duration as duration;

use super::error::PageResult;
use super::layout::{self, Nav, instant, thousands};
use super::session::Session;
use super::{blocking, svg};
use crate::AppState;

fn trigger(t: &Trigger) -> String {
    match t {
        Trigger::Entry { delay_ms, .. } if *delay_ms > 0 => {
            format!("on entry, after {}", duration(*delay_ms))
        }
        Trigger::Entry { .. } => "on entry".into(),
        Trigger::Schedule {
            at,
            every_ms: Some(every),
        } => {
            format!("from {}, every {}", instant(*at), duration(*every))
        }
        Trigger::Schedule { at, every_ms: None } => format!("at {}", instant(*at)),
        Trigger::Decision { placement } => format!("on-site: {placement}"),
    }
}

pub fn is_experiment(def: &seglab_campaign::def::CampaignDef) -> bool {
    def.messages.len() > 1 || def.holdout > 0
}

fn row(c: &Summary) -> Markup {
    let def = &c.campaign.def;
    let parts: Vec<(&str, u64, &str)> = Status::ALL
        .iter()
        .map(|s| (s.as_str(), c.sends.get(s).copied().unwrap_or(0), s.as_str()))
        .collect();
    let total: u64 = parts.iter().map(|p| p.1).sum();
    html! {
        tr {
            td {
                strong { (def.title.as_deref().unwrap_or(&c.campaign.name)) }
                br;
                code.muted { (c.campaign.name) } span.muted { " v" (c.campaign.version) }
            }
            td { a href={"/ui/segments/" (def.segment)} { (def.segment) } }
            td { (def.channel.kind().as_str()) }
            td { (trigger(&def.trigger)) }
            td.num { (def.priority) }
            td {
                (svg::stacked_bar(&parts, &format!("{}: {} sends by outcome", c.campaign.name, total)))
                div.legend {
                    @for (label, n, _) in &parts {
                        @if *n > 0 { span class={"key " (label)} { (label) " " (thousands(*n)) } }
                    }
                    @if total == 0 { span.muted { "no sends yet" } }
                }
            }
            td.num {
                @match c.coupons {
                    Some((pool, given, redeemed)) => {
                        (thousands(given)) " given, " (thousands(redeemed)) " redeemed"
                        @if pool > 0 { br; span.muted { (thousands(pool)) " in the pool" } }
                    }
                    None => span.muted { "–" },
                }
            }
            td {
                @if is_experiment(def) {
                    a href={"/ui/experiments/" (c.campaign.name)} { "results" }
                }
            }
        }
    }
}

/// `GET /ui/campaigns`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
) -> PageResult<Markup> {
    let list = blocking(&state, |s| {
        Ok(s.campaigns
            .pool
            .with(|db| seglab_campaign::code::list(db))?)
    })
    .await?;
    let body = html! {
        h1 { "Campaigns" }
        @if list.is_empty() {
            p.muted { "No campaigns yet: " code { "seglab campaigns install-starter" } " or " code { "seglab campaigns apply campaigns/" } "." }
        } @else {
            table.data.campaigns {
                (layout::thead(&[("Campaign", false), ("Segment", false), ("Channel", false), ("Trigger", false), ("Priority", true), ("Sends by outcome", false), ("Coupons", true), ("Experiment", false)]))
                tbody { @for c in &list { (row(c)) } }
            }
        }
    };
    Ok(layout::page(&session, Nav::Campaigns, "Campaigns", body))
}

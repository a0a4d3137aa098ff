//! What the pages show about segments beyond their definitions: sizes per
//! day, pairwise overlap, the RFM grid, revenue of a segment's members, and
//! guardrails.
//!
//! Computed here from what the server already holds (recorded history and
//! the engine for days before a segment existed, live member bitmaps, the
//! engine's RFM scores, order events in the timelines). Each is one
//! function with its own plain result type; guardrails come from
//! `seglab-insights`, as the API's segment list shows them.

use std::time::{Duration, Instant};

use seglab_event::time::{format_timestamp, now_millis};
use seglab_lang::ast::Condition;

use super::error::{PageError, PageResult};
use crate::AppState;

/// Days of orders counted in a segment's revenue.
pub const REVENUE_DAYS: i64 = 30;

/// The order event and its revenue property (as the RFM scores read them).
const ORDER_EVENT: &str = "Order Completed";
const REVENUE_PROPERTY: &str = "revenue";

const DAY: i64 = 86_400_000;

/// Pairwise overlap of live memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct Overlap {
    pub segments: Vec<String>,
    pub sizes: Vec<u64>,
    /// `shared[i][j]`: people in both (the diagonal: the size).
    pub shared: Vec<Vec<u64>>,
    /// `jaccard[i][j]`: in both ÷ in either (0 when both are empty).
    pub jaccard: Vec<Vec<f64>>,
}

/// The overlap of the `limit` largest segments (by live members now), from
/// `seglab-insights`.
pub fn overlap(state: &AppState, limit: usize) -> PageResult<Overlap> {
    let i = seglab_insights::Insights::new(&state.segments, &*state.live, &state.live_db);
    let mut names: Vec<(String, u64)> = i
        .overlap(&super::segment_names(state)?)
        .map_err(|e| PageError::bad_request(e.to_string()))?
        .segments
        .into_iter()
        .map(|s| (s.name, s.size))
        .collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    names.truncate(limit);
    let names: Vec<String> = names.into_iter().map(|(n, _)| n).collect();
    let o = i
        .overlap(&names)
        .map_err(|e| PageError::bad_request(e.to_string()))?;
    Ok(Overlap {
        sizes: o.segments.iter().map(|s| s.size).collect(),
        segments: o.segments.into_iter().map(|s| s.name).collect(),
        shared: o.intersections,
        jaccard: o.jaccard,
    })
}

/// A segment's size on one UTC day.
#[derive(Debug, Clone, PartialEq)]
pub struct DayPoint {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Members at the end of the day; `None` when unknown (before the
    /// segment existed and beyond the time allowed for evaluating it).
    pub size: Option<u64>,
    pub entered: u64,
    pub exited: u64,
    /// Not recorded but evaluated now on the events stored, at the end of
    /// that day (a day before the segment was defined).
    pub estimated: bool,
}

/// The daily sizes of `segments` (name, created at) over the days from
/// `from` to `now`: what live membership recorded, and for the days before a
/// segment was defined, its definition evaluated at the end of each day on
/// the events stored now. Those evaluations run latest day first and stop
/// once `budget` is spent (older days stay unknown), so a large store
/// answers in bounded time.
pub fn daily_sizes(
    state: &AppState,
    segments: &[(String, i64)],
    from: i64,
    now: i64,
    budget: Duration,
) -> Vec<Vec<DayPoint>> {
    let first_day = from.div_euclid(DAY);
    let last_day = now.div_euclid(DAY);
    // A segment live membership has not recorded yet (defined a moment
    // ago): its days, all unknown.
    let unknown = || -> Vec<DayPoint> {
        (first_day..=last_day)
            .map(|d| DayPoint {
                day: format_timestamp(d * DAY).chars().take(10).collect(),
                size: None,
                entered: 0,
                exited: 0,
                estimated: false,
            })
            .collect()
    };
    let mut out: Vec<Vec<DayPoint>> = segments
        .iter()
        .map(
            |(name, _)| match state.live_db.with(|db| db.daily(name, from, now)) {
                Ok(days) => days
                    .into_iter()
                    .map(|d| DayPoint {
                        day: d.day,
                        size: Some(d.size),
                        entered: d.entered,
                        exited: d.exited,
                        estimated: false,
                    })
                    .collect(),
                Err(_) => unknown(),
            },
        )
        .collect();
    let days = out.iter().map(Vec::len).max().unwrap_or(0);
    let started = Instant::now();
    for i in (0..days).rev() {
        if started.elapsed() > budget {
            break;
        }
        let end = ((first_day + i as i64 + 1) * DAY - 1).min(now);
        let wanted: Vec<usize> = (0..segments.len())
            .filter(|&k| segments[k].1 > end && i < out[k].len())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let list: Vec<(String, Condition)> = state.segments.with_engine(|e| {
            wanted
                .iter()
                .filter_map(|&k| {
                    let name = &segments[k].0;
                    e.definitions().get(name).map(|c| (name.clone(), c.clone()))
                })
                .collect()
        });
        let Ok(sizes) = state.segments.with_engine(|e| e.evaluate_all(&list, end)) else {
            continue;
        };
        for (name, members) in sizes {
            if let Some(&k) = wanted.iter().find(|&&k| segments[k].0 == name) {
                let point = &mut out[k][i];
                point.size = Some(members.len());
                point.estimated = true;
            }
        }
    }
    // Days before the segment existed that were not evaluated are unknown.
    for (k, points) in out.iter_mut().enumerate() {
        for (i, p) in points.iter_mut().enumerate() {
            let end = ((first_day + i as i64 + 1) * DAY - 1).min(now);
            if !p.estimated && segments[k].1 > end {
                p.size = None;
            }
        }
    }
    out
}

/// Buyers by recency and frequency score.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmGrid {
    /// `counts[r - 1][f - 1]`.
    pub counts: [[u64; 5]; 5],
    /// Buyers in each named cell, in the order of `seglab_lang::RFM_CELLS`.
    pub cells: Vec<(&'static str, u64)>,
    pub buyers: u64,
    pub people: u64,
}

/// The RFM grid now, from `seglab-insights`.
pub fn rfm(state: &AppState) -> PageResult<RfmGrid> {
    let grid = seglab_insights::Insights::new(&state.segments, &*state.live, &state.live_db)
        .rfm_grid(now_millis());
    let mut counts = [[0u64; 5]; 5];
    for c in &grid.cells {
        if (1..=5).contains(&c.r) && (1..=5).contains(&c.f) {
            counts[usize::from(c.r - 1)][usize::from(c.f - 1)] = c.people;
        }
    }
    Ok(RfmGrid {
        buyers: grid.buyers,
        counts,
        cells: grid.named.iter().map(|c| (c.cell, c.people)).collect(),
        people: state.segments.people(),
    })
}

/// What a segment's members spent in the last [`REVENUE_DAYS`] days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Revenue {
    pub total: f64,
    pub orders: u64,
    pub per_member: f64,
}

/// The revenue of `segment`'s members now (their orders in the last
/// [`REVENUE_DAYS`] days); `None` when the segment has no live members set.
pub fn revenue(state: &AppState, segment: &str) -> Option<Revenue> {
    let members = state
        .live
        .with_live(|live| live.members(segment).cloned())?;
    let since = now_millis() - REVENUE_DAYS * DAY;
    let (mut total, mut orders) = (0.0, 0u64);
    state.segments.with_engine(|e| {
        e.timelines()
            .for_each_named(ORDER_EVENT, since, |person, _, props| {
                if person >= 0 && members.contains(person as u64) {
                    orders += 1;
                    total += props
                        .get(REVENUE_PROPERTY)
                        .and_then(serde_json::Value::as_f64)
                        .filter(|v| v.is_finite())
                        .unwrap_or(0.0);
                }
            })
    });
    Some(Revenue {
        total,
        orders,
        per_member: if members.is_empty() {
            0.0
        } else {
            total / members.len() as f64
        },
    })
}

/// A warning about a segment (too small to act on, shrinking fast, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrail {
    pub segment: String,
    /// `warning` or `alert`.
    pub level: &'static str,
    pub message: String,
}

/// Guardrails of every segment (`seglab-insights`, as the segment list
/// shows them): too small to test, a near-duplicate and stale are warnings;
/// small but valuable is an alert (worth a campaign).
pub fn guardrails(state: &AppState) -> Vec<Guardrail> {
    crate::api::insights::guardrails_now(state, &[], &[])
        .into_iter()
        .map(|g| Guardrail {
            level: match g.kind {
                seglab_insights::Kind::SmallButValuable => "alert",
                _ => "warning",
            },
            segment: g.segment,
            message: g.message,
        })
        .collect()
}

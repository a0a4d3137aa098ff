//! What the pages show about segments beyond their definitions: sizes per
//! day, pairwise overlap, the RFM grid, revenue of a segment's members, and
//! guardrails.
//!
//! Computed here from what the server already holds (recorded history and
//! the engine for days before a segment existed, live member bitmaps, the
//! engine's RFM scores, order events in the timelines). Each is one
//! function with its own plain result type, so the pages do not change when
//! these answers come from a dedicated insights crate instead. Guardrails
//! have no source yet: [`guardrails`] answers none.

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

/// The overlap of the `limit` largest segments (by live members now).
pub fn overlap(state: &AppState, limit: usize) -> PageResult<Overlap> {
    let names = super::segment_names(state)?;
    Ok(state.live.with_live(|live| {
        let mut sets: Vec<(String, &roaring::RoaringTreemap)> = names
            .iter()
            .filter_map(|n| live.members(n).map(|m| (n.clone(), m)))
            .collect();
        sets.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        sets.truncate(limit);
        let n = sets.len();
        let mut shared = vec![vec![0u64; n]; n];
        let mut jaccard = vec![vec![0f64; n]; n];
        for i in 0..n {
            for j in i..n {
                let both = if i == j {
                    sets[i].1.len()
                } else {
                    sets[i].1.intersection_len(sets[j].1)
                };
                let either = sets[i].1.len() + sets[j].1.len() - both;
                let jac = if either == 0 {
                    0.0
                } else {
                    both as f64 / either as f64
                };
                shared[i][j] = both;
                shared[j][i] = both;
                jaccard[i][j] = jac;
                jaccard[j][i] = jac;
            }
        }
        Overlap {
            sizes: sets.iter().map(|s| s.1.len()).collect(),
            segments: sets.into_iter().map(|s| s.0).collect(),
            shared,
            jaccard,
        }
    }))
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

/// The RFM grid now: one evaluation of the 25 (R, F) squares.
pub fn rfm(state: &AppState) -> PageResult<RfmGrid> {
    let now = now_millis();
    let mut list: Vec<(String, Condition)> = Vec::with_capacity(25);
    for r in 1..=5 {
        for f in 1..=5 {
            let source = format!("rfm.r = {r} and rfm.f = {f}");
            let condition: Condition = source
                .parse()
                .map_err(|_| PageError::bad_request(format!("cannot read {source:?}")))?;
            list.push((format!("{r}{f}"), condition));
        }
    }
    let evaluated = state
        .segments
        .with_engine(|e| {
            e.evaluate_all(&list, now)
                .map(|v| v.into_iter().map(|(_, b)| b.len()).collect::<Vec<u64>>())
        })
        .map_err(|e| PageError::from(seglab_segments::Error::Engine("rfm".into(), e)))?;
    let mut counts = [[0u64; 5]; 5];
    for (i, n) in evaluated.into_iter().enumerate().take(25) {
        counts[i / 5][i % 5] = n;
    }
    let cells = seglab_lang::RFM_CELLS
        .iter()
        .map(|&cell| {
            let mut n = 0;
            for (r, row) in seglab_lang::RFM_GRID.iter().enumerate() {
                for (f, name) in row.iter().enumerate() {
                    if *name == cell {
                        n += counts[r][f];
                    }
                }
            }
            (cell, n)
        })
        .collect();
    Ok(RfmGrid {
        buyers: counts.iter().flatten().sum(),
        counts,
        cells,
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

/// Guardrails of every segment. None are computed here yet: the badges on
/// the overview read this list.
pub fn guardrails(_state: &AppState) -> Vec<Guardrail> {
    Vec::new()
}

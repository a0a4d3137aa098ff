//! What the pages show about segments beyond their definitions: pairwise
//! overlap, the RFM grid, revenue of a segment's members, and guardrails.
//!
//! Computed here from what the server already holds (live member bitmaps,
//! the engine's RFM scores, order events in the timelines). Each is one
//! function with its own plain result type, so the pages do not change when
//! these answers come from a dedicated insights crate instead. Guardrails
//! have no source yet: [`guardrails`] answers none.

use seglab_event::time::now_millis;
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
    let names: Vec<String> = state
        .store
        .reader()
        .segments()?
        .into_iter()
        .map(|r| r.name)
        .collect();
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
        .with_engine(|e| e.evaluate_all(&list, now).map(|v| v.into_iter().map(|(_, b)| b.len()).collect::<Vec<u64>>()))
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

//! The RFM grid: buyers and their revenue in each of the 5×5 recency ×
//! frequency cells, with the scores and cell names of [`seglab_engine::rfm`].

use std::collections::HashMap;

use seglab_engine::{Engine, RFM_CELLS, rfm_cell};
use serde::Serialize;

use crate::{ORDER_EVENT, REVENUE_PROPERTY, ratio};

/// The grid at one instant (shape in the crate docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfmGrid {
    /// ISO-8601.
    pub at: String,
    /// People with an order at or before `at`.
    pub buyers: u64,
    /// Their revenue, every order at or before `at`.
    pub revenue: f64,
    /// 25 cells: R = 5 down to 1, and within each F = 1 to 5.
    pub cells: Vec<RfmCell>,
    /// The cells summed by name, in the order of [`RFM_CELLS`].
    pub named: Vec<NamedCell>,
}

/// One cell of the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RfmCell {
    /// Recency score, 1–5 (5: ordered most recently).
    pub r: u8,
    /// Frequency score, 1–5 (5: most orders).
    pub f: u8,
    /// The cell's name (`Champions`, `At risk`, …).
    pub cell: &'static str,
    pub people: u64,
    pub revenue: f64,
}

/// The buyers of every cell with one name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedCell {
    pub cell: &'static str,
    pub people: u64,
    pub revenue: f64,
    /// `people / buyers` (0 with no buyers).
    pub share_of_buyers: f64,
    /// `revenue / revenue of all buyers` (0 with no revenue).
    pub share_of_revenue: f64,
}

/// The grid of everyone in `engine` at `now`.
pub(crate) fn grid(engine: &Engine, now: i64) -> RfmGrid {
    let mut revenue: HashMap<i64, f64> = HashMap::new();
    engine
        .timelines()
        .for_each_number(ORDER_EVENT, Some(REVENUE_PROPERTY), i64::MIN, |p, t, v| {
            if t <= now {
                *revenue.entry(p).or_default() += v.unwrap_or(0.0);
            }
        });
    // [r - 1][f - 1]: (people, revenue)
    let mut counts = [[(0u64, 0.0f64); 5]; 5];
    let mut buyers = 0;
    let mut total = 0.0;
    for (&person, &money) in &revenue {
        let Some(s) = engine.rfm(person, now) else {
            continue;
        };
        let c = &mut counts[usize::from(s.r.clamp(1, 5) - 1)][usize::from(s.f.clamp(1, 5) - 1)];
        c.0 += 1;
        c.1 += money;
        buyers += 1;
        total += money;
    }
    let mut cells = Vec::with_capacity(25);
    for r in (1..=5u8).rev() {
        for f in 1..=5u8 {
            let (people, revenue) = counts[usize::from(r - 1)][usize::from(f - 1)];
            cells.push(RfmCell {
                r,
                f,
                cell: rfm_cell(r, f),
                people,
                revenue,
            });
        }
    }
    let named = RFM_CELLS
        .iter()
        .map(|&name| {
            let (people, revenue) = cells
                .iter()
                .filter(|c| c.cell == name)
                .fold((0, 0.0), |(n, m), c| (n + c.people, m + c.revenue));
            NamedCell {
                cell: name,
                people,
                revenue,
                share_of_buyers: ratio(people as f64, buyers as f64).unwrap_or(0.0),
                share_of_revenue: ratio(revenue, total).unwrap_or(0.0),
            }
        })
        .collect();
    RfmGrid {
        at: seglab_event::time::format_timestamp(now),
        buyers,
        revenue: total,
        cells,
        named,
    }
}

//! RFM (recency, frequency, monetary) scores and the named cells.
//!
//! Buyers are the people with at least one [`ORDER_EVENT`] at or before `now`.
//! For each buyer:
//!
//! - recency: the time of the last order (later is better);
//! - frequency: the number of orders;
//! - monetary: the sum of the numeric [`REVENUE_PROPERTY`] values of the orders
//!   (non-numeric values are skipped; in time order).
//!
//! Each dimension is scored 1–5 by [`quintile`]: with `n` buyers and `w` of them
//! strictly worse on that dimension, the score is `1 + floor(5 * w / n)`. Equal
//! values get equal scores; the worst value always scores 1, and a value better
//! than 80 % of the buyers scores 5. People who are not buyers have no scores:
//! every RFM test is false for them.
//!
//! Cells come from the recency and frequency scores, by [`rfm_cell`]:
//!
//! | R \ F | 1              | 2                   | 3                   | 4         | 5                |
//! |-------|----------------|---------------------|---------------------|-----------|------------------|
//! | 5     | New customers  | Potential loyalists | Potential loyalists | Champions | Champions        |
//! | 4     | Promising      | Potential loyalists | Potential loyalists | Loyal     | Loyal            |
//! | 3     | About to sleep | About to sleep      | Need attention      | Loyal     | Loyal            |
//! | 2     | Hibernating    | Hibernating         | At risk             | At risk   | Cannot lose them |
//! | 1     | Lost           | Lost                | At risk             | At risk   | Cannot lose them |

use rayon::prelude::*;
use seglab_lang::ast::Name;

use crate::props::{Scalar, values_of};
use std::sync::LazyLock;

use crate::EngineError;
use crate::timeline::{Timelines, name_bit};

/// The event that makes someone a buyer.
pub const ORDER_EVENT: &str = "Order Completed";
/// The order property summed for the monetary score.
pub const REVENUE_PROPERTY: &str = "revenue";

/// Every cell name, in the order of [`rfm_cell_index`]: the language's list.
pub use seglab_lang::RFM_CELLS;

/// The language's grid ([`seglab_lang::RFM_GRID`]) as indexes into
/// [`RFM_CELLS`], rows R = 1 to 5, columns F = 1 to 5.
static GRID: LazyLock<[[u8; 5]; 5]> = LazyLock::new(|| {
    let mut grid = [[0u8; 5]; 5];
    for (r, row) in seglab_lang::RFM_GRID.iter().enumerate() {
        for (f, name) in row.iter().enumerate() {
            // Every grid name is one of the cells (the language crate tests it).
            grid[r][f] = RFM_CELLS.iter().position(|c| c == name).unwrap_or(0) as u8;
        }
    }
    grid
});

/// The index in [`RFM_CELLS`] of the cell of recency score `r` and frequency
/// score `f` (scores outside 1–5 are clamped).
pub fn rfm_cell_index(r: u8, f: u8) -> usize {
    let r = r.clamp(1, 5) as usize;
    let f = f.clamp(1, 5) as usize;
    GRID[r - 1][f - 1] as usize
}

/// The cell of recency score `r` and frequency score `f` (scores outside 1–5
/// are clamped).
pub fn rfm_cell(r: u8, f: u8) -> &'static str {
    RFM_CELLS[rfm_cell_index(r, f)]
}

/// The cells named, as a mask: bit `i` for [`RFM_CELLS`]`[i]`. A name that is
/// not a cell is an error.
pub(crate) fn cell_mask(cells: &[Name]) -> Result<u16, EngineError> {
    let mut mask = 0u16;
    for c in cells {
        let i = RFM_CELLS.iter().position(|n| *n == c.text).ok_or_else(|| {
            EngineError::UnknownRfmCell {
                name: c.text.clone(),
            }
        })?;
        mask |= 1 << i;
    }
    Ok(mask)
}

/// The score of a buyer with `worse` of `buyers` buyers strictly worse:
/// `1 + floor(5 * worse / buyers)`.
pub fn quintile(worse: usize, buyers: usize) -> u8 {
    if buyers == 0 {
        return 1;
    }
    (1 + (5 * worse as u128 / buyers as u128)).min(5) as u8
}

/// Scores of one buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmScores {
    pub r: u8,
    pub f: u8,
    pub m: u8,
}

impl RfmScores {
    pub fn cell(&self) -> &'static str {
        rfm_cell(self.r, self.f)
    }
}

/// Scores of every person index at one `now` (`[0, 0, 0]`: not a buyer).
pub(crate) struct RfmTable {
    pub(crate) scores: Vec<[u8; 3]>,
}

impl RfmTable {
    pub(crate) fn get(&self, index: u32) -> Option<RfmScores> {
        match self.scores.get(index as usize) {
            Some(&[r, f, m]) if r > 0 => Some(RfmScores { r, f, m }),
            _ => None,
        }
    }

    pub(crate) fn compute(tl: &Timelines, now: i64) -> RfmTable {
        let mut scores = vec![[0u8; 3]; tl.persons.len()];
        let Some(order) = tl.name_id(ORDER_EVENT) else {
            return RfmTable { scores };
        };
        let revenue = tl.dict.keys.get(REVENUE_PROPERTY);
        // (person, keys of recency, frequency and monetary value)
        let buyers: Vec<(u32, [u64; 3])> = (0..tl.persons.len() as u32)
            .into_par_iter()
            .filter(|&i| tl.is_alive(i))
            .filter_map(|i| buyer_keys(tl, i, order, revenue, now).map(|k| (i, k)))
            .collect();
        let n = buyers.len();
        // Sorts (key, person) pairs; equal keys form one group with one score.
        let mut assign = |dim: usize, mut keyed: Vec<(u64, u32)>| {
            keyed.sort_unstable();
            let mut start = 0;
            while start < n {
                let key = keyed[start].0;
                let end = start + keyed[start..].partition_point(|k| k.0 == key);
                let score = quintile(start, n);
                for &(_, person) in &keyed[start..end] {
                    scores[person as usize][dim] = score;
                }
                start = end;
            }
        };
        for dim in 0..3 {
            assign(dim, buyers.iter().map(|b| (b.1[dim], b.0)).collect());
        }
        RfmTable { scores }
    }
}

/// A buyer's values at `now` as keys that compare as unsigned integers in
/// the order of the values (higher is better): the time of the last order
/// shifted by 2^63, the number of orders, and the revenue by
/// [`ordered_bits`]. `None`: no order at or before `now`.
pub(crate) fn buyer_keys(
    tl: &Timelines,
    index: u32,
    order: u32,
    revenue: Option<u32>,
    now: i64,
) -> Option<[u64; 3]> {
    if tl.persons[index as usize].names & name_bit(order) == 0 {
        return None;
    }
    let events = tl.events(index);
    let visible = &events[..events.partition_point(|e| e.ts() <= now)];
    let mut last = None;
    let mut count = 0u64;
    let mut sum = 0.0f64;
    for e in visible.iter().filter(|e| e.name() == order) {
        last = Some(e.ts());
        count += 1;
        if let Some(key) = revenue {
            for v in values_of(tl.set(e.props()), key) {
                if let Scalar::Num(x) = tl.dict.scalar(v.value) {
                    sum += x;
                }
            }
        }
    }
    last.map(|t| [(t as u64) ^ (1 << 63), count, ordered_bits(sum)])
}

/// Bits of a number that compare as unsigned integers in the order of the
/// numbers (`-0.0` and `0.0` are the same number).
fn ordered_bits(x: f64) -> u64 {
    let bits = (x + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_matches_the_documented_table() {
        assert_eq!(rfm_cell(5, 5), "Champions");
        assert_eq!(rfm_cell(5, 4), "Champions");
        assert_eq!(rfm_cell(5, 1), "New customers");
        assert_eq!(rfm_cell(5, 2), "Potential loyalists");
        assert_eq!(rfm_cell(4, 3), "Potential loyalists");
        assert_eq!(rfm_cell(4, 1), "Promising");
        assert_eq!(rfm_cell(4, 4), "Loyal");
        assert_eq!(rfm_cell(3, 5), "Loyal");
        assert_eq!(rfm_cell(3, 3), "Need attention");
        assert_eq!(rfm_cell(3, 2), "About to sleep");
        assert_eq!(rfm_cell(2, 3), "At risk");
        assert_eq!(rfm_cell(1, 4), "At risk");
        assert_eq!(rfm_cell(2, 5), "Cannot lose them");
        assert_eq!(rfm_cell(2, 2), "Hibernating");
        assert_eq!(rfm_cell(1, 2), "Lost");
        assert_eq!(rfm_cell(1, 1), "Lost");
        assert_eq!(rfm_cell(0, 9), "Cannot lose them");
        // Every cell is reachable.
        let mut seen = [false; 11];
        for r in 1..=5 {
            for f in 1..=5 {
                seen[rfm_cell_index(r, f)] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn number_keys_sort_like_numbers() {
        let xs = [f64::NEG_INFINITY, -1e9, -2.5, -0.0, 0.0, 1e-9, 3.0, 1e300];
        for w in xs.windows(2) {
            assert!(ordered_bits(w[0]) <= ordered_bits(w[1]), "{w:?}");
            assert_eq!(ordered_bits(w[0]) == ordered_bits(w[1]), w[0] == w[1]);
        }
    }

    #[test]
    fn quintiles() {
        let five: Vec<u8> = (0..5).map(|w| quintile(w, 5)).collect();
        assert_eq!(five, vec![1, 2, 3, 4, 5]);
        let ten: Vec<u8> = (0..10).map(|w| quintile(w, 10)).collect();
        assert_eq!(ten, vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintile(0, 1), 1);
        assert_eq!(quintile(2, 3), 4);
        assert_eq!(quintile(0, 0), 1);
    }
}

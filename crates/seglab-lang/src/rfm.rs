//! RFM: recency, frequency and monetary scores, and the named cells.
//!
//! Scores are quintiles from 1 to 5 computed over buyers (people with at least
//! one `Order Completed`): R from the days since the last order (more recent is
//! higher), F from the number of orders, M from the sum of their revenue. The
//! cell a buyer is in depends on the R and F scores only, by [`RFM_GRID`].

/// The named RFM cells, in the order they are usually listed.
pub const RFM_CELLS: [&str; 11] = [
    "Champions",
    "Loyal",
    "Potential loyalists",
    "New customers",
    "Promising",
    "Need attention",
    "About to sleep",
    "At risk",
    "Cannot lose them",
    "Hibernating",
    "Lost",
];

/// The cell of each (R, F) pair: `RFM_GRID[r - 1][f - 1]`.
///
/// | R \ F | 1 | 2 | 3 | 4 | 5 |
/// |---|---|---|---|---|---|
/// | **5** | New customers | Potential loyalists | Potential loyalists | Champions | Champions |
/// | **4** | Promising | Potential loyalists | Potential loyalists | Loyal | Loyal |
/// | **3** | About to sleep | About to sleep | Need attention | Loyal | Loyal |
/// | **2** | Hibernating | Hibernating | At risk | At risk | Cannot lose them |
/// | **1** | Lost | Lost | At risk | At risk | Cannot lose them |
pub const RFM_GRID: [[&str; 5]; 5] = [
    // R = 1
    ["Lost", "Lost", "At risk", "At risk", "Cannot lose them"],
    // R = 2
    [
        "Hibernating",
        "Hibernating",
        "At risk",
        "At risk",
        "Cannot lose them",
    ],
    // R = 3
    [
        "About to sleep",
        "About to sleep",
        "Need attention",
        "Loyal",
        "Loyal",
    ],
    // R = 4
    [
        "Promising",
        "Potential loyalists",
        "Potential loyalists",
        "Loyal",
        "Loyal",
    ],
    // R = 5
    [
        "New customers",
        "Potential loyalists",
        "Potential loyalists",
        "Champions",
        "Champions",
    ],
];

/// The cell of a buyer with recency score `r` and frequency score `f` (each
/// 1 to 5; values outside are clamped into that range).
pub fn rfm_cell(r: u8, f: u8) -> &'static str {
    let r = usize::from(r.clamp(1, 5)) - 1;
    let f = usize::from(f.clamp(1, 5)) - 1;
    RFM_GRID[r][f]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_on_the_grid_and_every_grid_entry_is_a_cell() {
        let on_grid: std::collections::BTreeSet<&str> =
            RFM_GRID.iter().flatten().copied().collect();
        let cells: std::collections::BTreeSet<&str> = RFM_CELLS.iter().copied().collect();
        assert_eq!(on_grid, cells);
    }

    #[test]
    fn corners() {
        assert_eq!(rfm_cell(5, 5), "Champions");
        assert_eq!(rfm_cell(5, 1), "New customers");
        assert_eq!(rfm_cell(1, 1), "Lost");
        assert_eq!(rfm_cell(1, 5), "Cannot lose them");
        assert_eq!(rfm_cell(3, 3), "Need attention");
        assert_eq!(rfm_cell(0, 9), "Cannot lose them");
    }
}

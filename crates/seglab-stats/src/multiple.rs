//! Multiple-comparison corrections: Holm's step-down family-wise error
//! control and Benjamini–Hochberg's false discovery rate control.

use crate::error::{Result, StatsError, finite_input};

/// Holm–Bonferroni adjusted p-values, in the input order:
/// p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)) over the ascending order.
pub fn holm(p_values: &[f64]) -> Result<Vec<f64>> {
    let order = ascending(p_values)?;
    let m = p_values.len();
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &index) in order.iter().enumerate() {
        let value = ((m - rank) as f64 * p_values[index]).min(1.0);
        running = running.max(value);
        adjusted[index] = running;
    }
    Ok(adjusted)
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the input order:
/// p̃_(i) = min_{j ≥ i} min(1, m/j · p_(j)) over the ascending order.
pub fn benjamini_hochberg(p_values: &[f64]) -> Result<Vec<f64>> {
    let order = ascending(p_values)?;
    let m = p_values.len();
    let mut adjusted = vec![0.0; m];
    let mut running = 1.0f64;
    for (rank, &index) in order.iter().enumerate().rev() {
        let value = (m as f64 / (rank + 1) as f64 * p_values[index]).min(1.0);
        running = running.min(value);
        adjusted[index] = running;
    }
    Ok(adjusted)
}

/// The indexes of `p_values` sorted by value (stable), after checking each
/// is a probability.
fn ascending(p_values: &[f64]) -> Result<Vec<usize>> {
    for (index, &p) in p_values.iter().enumerate() {
        finite_input(p, &format!("p-value {index}"))?;
        if !(0.0..=1.0).contains(&p) {
            return Err(StatsError::OutOfRange {
                what: format!("p-value {index}"),
                value: p,
                range: "[0, 1]",
            });
        }
    }
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_example() {
        let p = [0.01, 0.04, 0.03, 0.005];
        let holm = holm(&p).unwrap();
        let expected = [0.03, 0.06, 0.06, 0.02];
        for (a, b) in holm.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{holm:?}");
        }
        let bh = benjamini_hochberg(&p).unwrap();
        let expected = [0.02, 0.04, 0.04, 0.02];
        for (a, b) in bh.iter().zip(expected) {
            assert!((a - b).abs() < 1e-12, "{bh:?}");
        }
    }

    #[test]
    fn empty_in_empty_out_and_bad_values_rejected() {
        assert_eq!(holm(&[]).unwrap(), Vec::<f64>::new());
        assert_eq!(benjamini_hochberg(&[]).unwrap(), Vec::<f64>::new());
        assert!(holm(&[0.5, 1.5]).is_err());
        assert!(benjamini_hochberg(&[f64::NAN]).is_err());
    }
}

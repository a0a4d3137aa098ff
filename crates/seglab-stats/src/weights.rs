//! Allocation weights: percentages that add up to 100.

use crate::error::{Result, StatsError, finite_input, finite_output};

/// How far from 100 the sum of the weights may be, for rounding in the
/// caller's arithmetic (33.33 + 33.33 + 33.34).
const SUM_TOLERANCE: f64 = 1e-6;

/// Checks that `weights` are finite, non-negative percentages summing to
/// 100 and returns their sum.
pub(crate) fn check_percentages(weights: &[f64]) -> Result<f64> {
    for (index, &weight) in weights.iter().enumerate() {
        finite_input(weight, &format!("weight {index}"))?;
        if weight < 0.0 {
            return Err(StatsError::OutOfRange {
                what: format!("weight {index}"),
                value: weight,
                range: "[0, 100]",
            });
        }
    }
    let sum = finite_output(weights.iter().sum(), "the sum of the weights")?;
    if (sum - 100.0).abs() > SUM_TOLERANCE {
        return Err(StatsError::WeightsSum { sum });
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_tolerated_but_not_more() {
        assert!(check_percentages(&[33.33, 33.33, 33.34]).is_ok());
        assert!(check_percentages(&[50.0, 50.0]).is_ok());
        assert!(matches!(
            check_percentages(&[50.0, 49.0]),
            Err(StatsError::WeightsSum { .. })
        ));
        assert!(check_percentages(&[110.0, -10.0]).is_err());
        assert!(check_percentages(&[f64::NAN, 100.0]).is_err());
        assert!(check_percentages(&[f64::MAX, f64::MAX]).is_err());
    }
}

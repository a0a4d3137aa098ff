//! Sample ratio mismatch: Pearson's chi-square goodness of fit of the
//! observed arm sizes against the allocation weights.

use crate::dist::chi_square_sf;
use crate::error::{Result, StatsError, finite_output};
use crate::weights::check_percentages;

/// The p-value below which [`sample_ratio_mismatch`] raises the alert.
pub const SRM_THRESHOLD: f64 = 0.001;

/// The result of [`sample_ratio_mismatch`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRatio {
    /// Σ (O_i − E_i)² / E_i.
    pub chi_square: f64,
    /// k − 1.
    pub df: u64,
    /// P(χ²_{k−1} ≥ chi_square).
    pub p_value: f64,
    /// `p_value < SRM_THRESHOLD`: the assignment is broken, do not trust the
    /// experiment's results.
    pub mismatch: bool,
}

/// Tests the observed per-arm counts against the expected `weights`
/// (percentages summing to 100, each positive; one per arm, in the same
/// order).
pub fn sample_ratio_mismatch(observed: &[u64], weights: &[f64]) -> Result<SampleRatio> {
    if observed.len() != weights.len() {
        return Err(StatsError::LengthMismatch {
            what: "observed counts against weights",
            left: observed.len(),
            right: weights.len(),
        });
    }
    if observed.len() < 2 {
        return Err(StatsError::TooFewObservations {
            what: "the list of arms".into(),
            n: observed.len() as u64,
            min: 2,
        });
    }
    let sum = check_percentages(weights)?;
    for (index, &weight) in weights.iter().enumerate() {
        if weight <= 0.0 {
            return Err(StatsError::OutOfRange {
                what: format!("weight {index}"),
                value: weight,
                range: "(0, 100]",
            });
        }
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    if total == 0.0 {
        return Err(StatsError::NoExposures {
            what: "the experiment".into(),
        });
    }
    let mut chi_square = 0.0;
    for (&o, &w) in observed.iter().zip(weights) {
        // Normalize by the actual sum so the expected counts add up to the
        // observed total exactly.
        let expected = total * (w / sum);
        let deviation = o as f64 - expected;
        chi_square += deviation / expected * deviation;
    }
    let chi_square = finite_output(chi_square, "the chi-square statistic")?;
    let df = observed.len() as u64 - 1;
    let p_value = chi_square_sf(chi_square, df as f64);
    Ok(SampleRatio {
        chi_square,
        df,
        p_value,
        mismatch: p_value < SRM_THRESHOLD,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balanced_split_passes_and_a_skewed_one_alerts() {
        let fine = sample_ratio_mismatch(&[5_012, 4_988], &[50.0, 50.0]).unwrap();
        assert!(!fine.mismatch);
        let broken = sample_ratio_mismatch(&[5_300, 4_700], &[50.0, 50.0]).unwrap();
        assert!(broken.mismatch, "{broken:?}");
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        assert!(matches!(
            sample_ratio_mismatch(&[0, 0], &[50.0, 50.0]),
            Err(StatsError::NoExposures { .. })
        ));
        assert!(matches!(
            sample_ratio_mismatch(&[10, 10], &[50.0, 40.0]),
            Err(StatsError::WeightsSum { .. })
        ));
        assert!(sample_ratio_mismatch(&[10, 10], &[100.0, 0.0]).is_err());
        assert!(sample_ratio_mismatch(&[10], &[100.0]).is_err());
        assert!(sample_ratio_mismatch(&[10, 10, 3], &[50.0, 50.0]).is_err());
    }
}

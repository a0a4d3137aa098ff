//! Empirical Bayes shrinkage of per-segment effects toward the overall
//! effect, in the normal–normal model with the DerSimonian–Laird moment
//! estimate of the between-segment variance.

use crate::error::{Result, StatsError, finite_input, finite_output, open_unit, two_sided_z};
use crate::summary::Interval;

/// A raw per-segment estimate: an effect (a difference or a lift) and its
/// standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub effect: f64,
    pub standard_error: f64,
}

/// One segment after [`shrink`], raw and shrunk side by side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShrunkEstimate {
    /// The raw effect y_i.
    pub raw: f64,
    /// y_i ± z·s_i.
    pub raw_interval: Interval,
    /// The shrinkage factor B_i = s_i² / (s_i² + τ²), in [0, 1]: the share
    /// of the distance to the overall effect removed.
    pub shrinkage: f64,
    /// μ̂ + (1 − B_i)(y_i − μ̂).
    pub shrunk: f64,
    /// The standard error of the shrunk effect.
    pub standard_error: f64,
    /// shrunk ± z·standard_error.
    pub shrunk_interval: Interval,
}

/// The result of [`shrink`].
#[derive(Debug, Clone, PartialEq)]
pub struct Shrinkage {
    /// The overall effect μ̂, the random-effects weighted mean.
    pub overall: f64,
    /// Its standard error, (Σ 1/(s_i² + τ²))^(−1/2).
    pub overall_standard_error: f64,
    /// The between-segment variance τ̂² (DerSimonian–Laird, truncated at 0).
    pub tau_squared: f64,
    /// One per segment, in the input order.
    pub segments: Vec<ShrunkEstimate>,
}

/// Shrinks per-segment effects toward their common mean, with 1 − `alpha`
/// normal intervals for both the raw and the shrunk effects.
///
/// Needs at least two segments, each with a positive standard error.
pub fn shrink(estimates: &[Estimate], alpha: f64) -> Result<Shrinkage> {
    open_unit(alpha, "alpha")?;
    let k = estimates.len();
    if k < 2 {
        return Err(StatsError::TooFewObservations {
            what: "the list of segments".into(),
            n: k as u64,
            min: 2,
        });
    }
    let mut weights = Vec::with_capacity(k);
    for (index, estimate) in estimates.iter().enumerate() {
        finite_input(estimate.effect, &format!("the effect of segment {index}"))?;
        let se = finite_input(
            estimate.standard_error,
            &format!("the standard error of segment {index}"),
        )?;
        if se <= 0.0 {
            return Err(StatsError::ZeroVariance {
                what: format!("segment {index}"),
            });
        }
        weights.push(finite_output(1.0 / (se * se), "a precision weight")?);
    }
    // Fixed-effect mean and Cochran's Q.
    let sum_w = finite_output(weights.iter().sum(), "the sum of the weights")?;
    let fixed = weighted_mean(estimates, &weights, sum_w)?;
    let q: f64 = estimates
        .iter()
        .zip(&weights)
        .map(|(e, w)| w * (e.effect - fixed) * (e.effect - fixed))
        .sum();
    // c = Σw − Σw²/Σw, the last term summed as Σ (w/Σw)·w to stay in range.
    let c = sum_w - weights.iter().map(|w| (w / sum_w) * w).sum::<f64>();
    let tau_squared = if c > 0.0 {
        finite_output((q - (k - 1) as f64) / c, "tau squared")?.max(0.0)
    } else {
        0.0
    };
    let random: Vec<f64> = estimates
        .iter()
        .map(|e| 1.0 / (e.standard_error * e.standard_error + tau_squared))
        .collect();
    let sum_random = finite_output(random.iter().sum(), "the sum of the weights")?;
    let overall = weighted_mean(estimates, &random, sum_random)?;
    let overall_variance = 1.0 / sum_random;
    let z = two_sided_z(alpha)?;
    let mut segments = Vec::with_capacity(k);
    for estimate in estimates {
        let s2 = estimate.standard_error * estimate.standard_error;
        let b = s2 / (s2 + tau_squared);
        let shrunk = finite_output(
            overall + (1.0 - b) * (estimate.effect - overall),
            "a shrunk effect",
        )?;
        // Morris (1983): the conditional posterior variance (1 − B)s² plus
        // the uncertainty of μ̂ carried by the weight B on it.
        let variance = (1.0 - b) * s2 + b * b * overall_variance;
        let standard_error = finite_output(variance.sqrt(), "a shrunk standard error")?;
        segments.push(ShrunkEstimate {
            raw: estimate.effect,
            raw_interval: Interval::around(
                estimate.effect,
                finite_output(z * estimate.standard_error, "a raw interval")?,
                "a raw interval",
            )?,
            shrinkage: b,
            shrunk,
            standard_error,
            shrunk_interval: Interval::around(
                shrunk,
                finite_output(z * standard_error, "a shrunk interval")?,
                "a shrunk interval",
            )?,
        });
    }
    Ok(Shrinkage {
        overall,
        overall_standard_error: finite_output(overall_variance.sqrt(), "the overall error")?,
        tau_squared,
        segments,
    })
}

fn weighted_mean(estimates: &[Estimate], weights: &[f64], sum: f64) -> Result<f64> {
    let mean = estimates
        .iter()
        .zip(weights)
        .map(|(e, w)| (w / sum) * e.effect)
        .sum();
    finite_output(mean, "the overall effect")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn estimate(effect: f64, standard_error: f64) -> Estimate {
        Estimate {
            effect,
            standard_error,
        }
    }

    #[test]
    fn homogeneous_segments_shrink_all_the_way() {
        let estimates = [
            estimate(0.10, 0.05),
            estimate(0.11, 0.05),
            estimate(0.09, 0.05),
        ];
        let result = shrink(&estimates, 0.05).unwrap();
        assert_eq!(result.tau_squared, 0.0);
        for segment in &result.segments {
            assert!((segment.shrunk - result.overall).abs() < 1e-15);
            assert_eq!(segment.shrinkage, 1.0);
        }
    }

    #[test]
    fn noisy_segments_move_more_than_precise_ones() {
        let estimates = [
            estimate(0.0, 0.01),
            estimate(0.5, 0.01),
            estimate(0.9, 0.3),
            estimate(-0.4, 0.3),
        ];
        let result = shrink(&estimates, 0.05).unwrap();
        assert!(result.tau_squared > 0.0);
        let s = &result.segments;
        assert!(s[2].shrinkage > s[0].shrinkage);
        assert!((s[2].shrunk - s[2].raw).abs() > (s[0].shrunk - s[0].raw).abs());
        for (segment, raw) in s.iter().zip(&estimates) {
            assert!(segment.standard_error <= raw.standard_error);
        }
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        assert!(shrink(&[estimate(0.1, 0.1)], 0.05).is_err());
        assert!(matches!(
            shrink(&[estimate(0.1, 0.0), estimate(0.2, 0.1)], 0.05),
            Err(StatsError::ZeroVariance { .. })
        ));
    }
}

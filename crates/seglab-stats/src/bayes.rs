//! Bayesian comparison under a flat prior: chance to beat control, expected
//! loss, and chance to be best among several arms.

use crate::dist::{normal_cdf, normal_pdf};
use crate::error::{Result, StatsError, finite_output};
use crate::summary::Summary;

/// The result of [`bayes_compare`]: the posterior of μ_T − μ_C.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BayesComparison {
    /// The posterior mean of μ_T − μ_C, x̄_T − x̄_C.
    pub difference: f64,
    /// The posterior standard deviation of μ_T − μ_C.
    pub standard_error: f64,
    /// P(μ_T > μ_C | data).
    pub chance_to_beat_control: f64,
    /// E[max(μ_C − μ_T, 0) | data]: what choosing the treatment is expected
    /// to cost, in units of the metric.
    pub expected_loss: f64,
    /// E[max(μ_T − μ_C, 0) | data]: what keeping the control is expected to
    /// cost.
    pub expected_loss_control: f64,
}

/// The posterior comparison of treatment against control, each arm's mean
/// N(x̄, s²/n) under a flat prior.
pub fn bayes_compare(control: &Summary, treatment: &Summary) -> Result<BayesComparison> {
    control.require_two("the control arm")?;
    treatment.require_two("the treatment arm")?;
    let variance = finite_output(
        treatment.mean_variance() + control.mean_variance(),
        "the posterior variance",
    )?;
    if variance <= 0.0 {
        return Err(StatsError::ZeroVariance {
            what: "the difference of the arms".into(),
        });
    }
    let sd = variance.sqrt();
    let d = finite_output(treatment.mean() - control.mean(), "the difference")?;
    let z = finite_output(d / sd, "the standardized difference")?;
    // For X ~ N(m, s²): E[max(X, 0)] = m·Φ(m/s) + s·φ(m/s).
    // Rounding can take a vanishing loss a hair below zero.
    let positive_part = |m: f64, z: f64| {
        finite_output(m * normal_cdf(z) + sd * normal_pdf(z), "the expected loss")
            .map(|loss| loss.max(0.0))
    };
    Ok(BayesComparison {
        difference: d,
        standard_error: sd,
        chance_to_beat_control: normal_cdf(z),
        expected_loss: positive_part(-d, -z)?,
        expected_loss_control: positive_part(d, z)?,
    })
}

/// Half-width, in standard deviations of the arm being integrated, of the
/// integration range; φ(9) ≈ 1e-18.
const RANGE: f64 = 9.0;
/// Panels the range is cut into before adaptive refinement.
const PANELS: usize = 36;
const TOLERANCE: f64 = 1e-13;
const MAX_DEPTH: u32 = 45;

/// For each arm, the posterior probability that its mean is the largest,
/// each mean N(x̄, s²/n) under a flat prior; the probabilities sum to 1.
///
/// Computed by deterministic numerical integration (adaptive Simpson) of
/// P(arm i best) = ∫ φ(z) Π_{j≠i} Φ((m_i + s_i·z − m_j) / s_j) dz; every arm
/// needs two observations and a positive variance.
pub fn chance_to_be_best(arms: &[Summary]) -> Result<Vec<f64>> {
    if arms.len() < 2 {
        return Err(StatsError::TooFewObservations {
            what: "the experiment".into(),
            n: arms.len() as u64,
            min: 2,
        });
    }
    let mut posteriors = Vec::with_capacity(arms.len());
    for (index, arm) in arms.iter().enumerate() {
        arm.require_two(&format!("arm {index}"))?;
        let sd = arm.standard_error();
        if sd <= 0.0 {
            return Err(StatsError::ZeroVariance {
                what: format!("arm {index}"),
            });
        }
        posteriors.push((arm.mean(), sd));
    }
    let mut chances = Vec::with_capacity(arms.len());
    for (i, &(mi, si)) in posteriors.iter().enumerate() {
        let integrand = |z: f64| {
            let x = mi + si * z;
            let mut product = normal_pdf(z);
            for (j, &(mj, sj)) in posteriors.iter().enumerate() {
                if j != i {
                    product *= normal_cdf((x - mj) / sj);
                }
            }
            if product.is_finite() { product } else { 0.0 }
        };
        let width = 2.0 * RANGE / PANELS as f64;
        let mut total = 0.0;
        for panel in 0..PANELS {
            let a = -RANGE + panel as f64 * width;
            total += adaptive_simpson(&integrand, a, a + width, TOLERANCE);
        }
        chances.push(total.max(0.0));
    }
    let sum: f64 = chances.iter().sum();
    if !(sum.is_finite() && sum > 0.0) {
        return Err(StatsError::Overflow {
            what: "the chance to be best",
        });
    }
    Ok(chances.into_iter().map(|c| (c / sum).min(1.0)).collect())
}

fn adaptive_simpson(f: &impl Fn(f64) -> f64, a: f64, b: f64, tolerance: f64) -> f64 {
    let (fa, fm, fb) = (f(a), f(0.5 * (a + b)), f(b));
    let whole = (b - a) / 6.0 * (fa + 4.0 * fm + fb);
    simpson_step(f, [a, b], [fa, fm, fb], whole, tolerance, MAX_DEPTH)
}

fn simpson_step(
    f: &impl Fn(f64) -> f64,
    [a, b]: [f64; 2],
    [fa, fm, fb]: [f64; 3],
    whole: f64,
    tolerance: f64,
    depth: u32,
) -> f64 {
    let m = 0.5 * (a + b);
    let (lm, rm) = (0.5 * (a + m), 0.5 * (m + b));
    let (flm, frm) = (f(lm), f(rm));
    let left = (m - a) / 6.0 * (fa + 4.0 * flm + fm);
    let right = (b - m) / 6.0 * (fm + 4.0 * frm + fb);
    let delta = left + right - whole;
    if depth == 0 || delta.abs() <= 15.0 * tolerance {
        return left + right + delta / 15.0;
    }
    simpson_step(f, [a, m], [fa, flm, fm], left, tolerance / 2.0, depth - 1)
        + simpson_step(f, [m, b], [fm, frm, fb], right, tolerance / 2.0, depth - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_arms_agree_with_the_closed_form() {
        let c = Summary::new(1000, 0.10, 0.09).unwrap();
        let t = Summary::new(1000, 0.11, 0.0979).unwrap();
        let pair = bayes_compare(&c, &t).unwrap();
        let best = chance_to_be_best(&[c, t]).unwrap();
        assert!((best[1] - pair.chance_to_beat_control).abs() < 1e-10);
        assert!((best[0] + best[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn identical_arms_are_equally_likely_best() {
        let arm = Summary::new(500, 3.0, 2.0).unwrap();
        for chance in chance_to_be_best(&[arm, arm, arm, arm]).unwrap() {
            assert!((chance - 0.25).abs() < 1e-10, "{chance}");
        }
    }

    #[test]
    fn expected_losses_differ_by_the_difference() {
        // E[max(X, 0)] − E[max(−X, 0)] = E[X].
        let c = Summary::new(200, 5.0, 4.0).unwrap();
        let t = Summary::new(300, 5.3, 6.0).unwrap();
        let r = bayes_compare(&c, &t).unwrap();
        assert!((r.expected_loss_control - r.expected_loss - r.difference).abs() < 1e-12);
    }

    #[test]
    fn a_very_precise_arm_is_handled() {
        let sharp = Summary::new(1_000_000_000, 1.0, 1e-6).unwrap();
        let wide = Summary::new(10, 1.0, 1.0).unwrap();
        let chances = chance_to_be_best(&[sharp, wide]).unwrap();
        assert!((chances[0] - 0.5).abs() < 1e-6, "{chances:?}");
    }
}

//! CUPED: variance reduction with the pre-experiment value of the metric as
//! a control variate.

use crate::error::{Result, StatsError, finite_input, finite_output};
use crate::summary::{Summary, mean};

/// One arm's data: the metric during the experiment `y` and the same
/// metric over the pre-period `x`, one pair per person, in the same order.
#[derive(Debug, Clone, Copy)]
pub struct CupedArm<'a> {
    pub y: &'a [f64],
    pub x: &'a [f64],
}

/// One arm after [`cuped`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CupedSummary {
    /// The summary of y alone.
    pub raw: Summary,
    /// The summary of y − θ(x − x̄): same n, shifted mean, smaller variance;
    /// pass it to the tests in place of `raw`.
    pub adjusted: Summary,
    /// 1 − adjusted variance / raw variance (0 when y is constant).
    pub variance_reduction: f64,
}

/// The result of [`cuped`].
#[derive(Debug, Clone, PartialEq)]
pub struct Cuped {
    /// θ = cov(y, x) / var(x) over all arms pooled.
    pub theta: f64,
    /// x̄ over all arms pooled.
    pub pre_period_mean: f64,
    /// One per arm, in the input order.
    pub arms: Vec<CupedSummary>,
}

/// Applies CUPED to every arm with one θ estimated on all arms pooled.
///
/// Each arm needs two observations and as many `x` as `y` values; the
/// pooled pre-period values must vary.
pub fn cuped(arms: &[CupedArm<'_>]) -> Result<Cuped> {
    if arms.is_empty() {
        return Err(StatsError::NoExposures {
            what: "the experiment".into(),
        });
    }
    for (index, arm) in arms.iter().enumerate() {
        if arm.y.len() != arm.x.len() {
            return Err(StatsError::LengthMismatch {
                what: "experiment values against pre-period values",
                left: arm.y.len(),
                right: arm.x.len(),
            });
        }
        if arm.y.is_empty() {
            return Err(StatsError::NoExposures {
                what: format!("arm {index}"),
            });
        }
        if arm.y.len() < 2 {
            return Err(StatsError::TooFewObservations {
                what: format!("arm {index}"),
                n: arm.y.len() as u64,
                min: 2,
            });
        }
        for (&y, &x) in arm.y.iter().zip(arm.x) {
            finite_input(y, "an experiment value")?;
            finite_input(x, "a pre-period value")?;
        }
    }
    let all_y: Vec<f64> = arms.iter().flat_map(|a| a.y.iter().copied()).collect();
    let all_x: Vec<f64> = arms.iter().flat_map(|a| a.x.iter().copied()).collect();
    let (y_bar, x_bar) = (
        finite_output(mean(&all_y), "the mean")?,
        finite_output(mean(&all_x), "the pre-period mean")?,
    );
    let (sxy, sxx) = co_moments(&all_y, &all_x, y_bar, x_bar);
    let sxx = finite_output(sxx, "the pre-period variance")?;
    if sxx <= 0.0 {
        return Err(StatsError::ZeroVariance {
            what: "the pre-period values".into(),
        });
    }
    let theta = finite_output(finite_output(sxy, "the covariance")? / sxx, "theta")?;
    let mut out = Vec::with_capacity(arms.len());
    for arm in arms {
        out.push(adjust(arm, theta, x_bar)?);
    }
    Ok(Cuped {
        theta,
        pre_period_mean: x_bar,
        arms: out,
    })
}

/// Σ (y − ȳ)(x − x̄) and Σ (x − x̄)².
fn co_moments(y: &[f64], x: &[f64], y_bar: f64, x_bar: f64) -> (f64, f64) {
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    for (&yi, &xi) in y.iter().zip(x) {
        let dx = xi - x_bar;
        sxy += (yi - y_bar) * dx;
        sxx += dx * dx;
    }
    (sxy, sxx)
}

fn adjust(arm: &CupedArm<'_>, theta: f64, x_bar: f64) -> Result<CupedSummary> {
    let raw = Summary::from_values(arm.y)?;
    let n = arm.y.len();
    let arm_x = finite_output(mean(arm.x), "the pre-period mean")?;
    let (sxy, sxx) = co_moments(arm.y, arm.x, raw.mean(), arm_x);
    let syy = raw.variance() * (n - 1) as f64;
    // Var(y − θx) = var(y) − 2θ·cov(y, x) + θ²·var(x), within the arm.
    let adjusted_variance = finite_output(
        (syy - 2.0 * theta * sxy + theta * theta * sxx) / (n - 1) as f64,
        "the adjusted variance",
    )?
    // Rounding can take a perfect fit a hair below zero.
    .max(0.0);
    let adjusted_mean = raw.mean() - theta * (arm_x - x_bar);
    let adjusted = Summary::new(
        n as u64,
        finite_output(adjusted_mean, "the adjusted mean")?,
        adjusted_variance,
    )?;
    let variance_reduction = if raw.variance() > 0.0 {
        1.0 - adjusted.variance() / raw.variance()
    } else {
        0.0
    };
    Ok(CupedSummary {
        raw,
        adjusted,
        variance_reduction: finite_output(variance_reduction, "the variance reduction")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_predictor_removes_the_variance() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v + 1.0).collect();
        let arm = CupedArm { y: &y, x: &x };
        let result = cuped(&[arm, arm]).unwrap();
        assert!((result.theta - 2.0).abs() < 1e-12);
        for a in &result.arms {
            assert!(a.adjusted.variance() < 1e-20);
            assert!((a.variance_reduction - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_constant_pre_period_is_an_error() {
        let arm = CupedArm {
            y: &[1.0, 2.0, 3.0],
            x: &[5.0, 5.0, 5.0],
        };
        assert!(matches!(
            cuped(&[arm, arm]),
            Err(StatsError::ZeroVariance { .. })
        ));
        let short = CupedArm {
            y: &[1.0, 2.0],
            x: &[1.0],
        };
        assert!(matches!(
            cuped(&[short]),
            Err(StatsError::LengthMismatch { .. })
        ));
    }
}

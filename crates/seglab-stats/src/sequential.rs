//! Always-valid confidence sequences for the difference of means: the
//! asymptotic confidence sequence of Waudby-Smith et al. with the
//! normal-mixture boundary.

use crate::error::{Result, StatsError, finite_output, open_unit};
use crate::summary::{Interval, Summary};

/// The mixture parameter ρ² that makes the confidence sequence tightest at
/// `target_n` observations (both arms together):
/// ρ² = (−2 ln α + ln(1 − 2 ln α)) / n*.
pub fn sequential_rho_squared(alpha: f64, target_n: u64) -> Result<f64> {
    open_unit(alpha, "alpha")?;
    if target_n == 0 {
        return Err(StatsError::OutOfRange {
            what: "the target sample size".into(),
            value: 0.0,
            range: "[1, ∞)",
        });
    }
    let l = -2.0 * alpha.ln();
    finite_output((l + l.ln_1p()) / target_n as f64, "rho squared")
}

/// The multiplier of the standard error at `n` observations:
/// z(n) = √((1 + 1/(nρ²)) · (2 ln(1/α) + ln(1 + nρ²))).
///
/// A fixed-horizon interval would use z_{1−α/2} ≈ 1.96 at α = 0.05; this one
/// is wider, and valid at every n at once.
pub fn sequential_critical_value(n: u64, rho_squared: f64, alpha: f64) -> Result<f64> {
    open_unit(alpha, "alpha")?;
    if !(rho_squared.is_finite() && rho_squared > 0.0) {
        return Err(StatsError::OutOfRange {
            what: "rho squared".into(),
            value: if rho_squared.is_finite() {
                rho_squared
            } else {
                0.0
            },
            range: "(0, ∞)",
        });
    }
    if n == 0 {
        return Err(StatsError::NoExposures {
            what: "the experiment".into(),
        });
    }
    let v = n as f64 * rho_squared;
    let squared = (1.0 + 1.0 / v) * (-2.0 * alpha.ln() + v.ln_1p());
    finite_output(squared.sqrt(), "the sequential critical value")
}

/// The result of [`sequential_test`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SequentialTest {
    /// x̄_T − x̄_C.
    pub difference: f64,
    /// √(s_T²/n_T + s_C²/n_C).
    pub standard_error: f64,
    /// The critical value z(n) at n = n_T + n_C.
    pub critical_value: f64,
    /// The confidence sequence at this look: difference ± z(n)·standard error.
    pub interval: Interval,
    /// The mixture parameter used.
    pub rho_squared: f64,
    /// Whether the interval excludes zero. The decision stays valid however
    /// often it is looked at.
    pub significant: bool,
}

/// The always-valid 1 − `alpha` confidence sequence for μ_T − μ_C at the
/// current data, tuned for `target_n` observations in both arms together.
pub fn sequential_test(
    control: &Summary,
    treatment: &Summary,
    alpha: f64,
    target_n: u64,
) -> Result<SequentialTest> {
    let rho_squared = sequential_rho_squared(alpha, target_n)?;
    control.require_two("the control arm")?;
    treatment.require_two("the treatment arm")?;
    let variance = finite_output(
        treatment.mean_variance() + control.mean_variance(),
        "the standard error",
    )?;
    if variance <= 0.0 {
        return Err(StatsError::ZeroVariance {
            what: "the difference of the arms".into(),
        });
    }
    let standard_error = variance.sqrt();
    let difference = finite_output(treatment.mean() - control.mean(), "the difference")?;
    let n = control.n().saturating_add(treatment.n());
    let critical_value = sequential_critical_value(n, rho_squared, alpha)?;
    let half = finite_output(critical_value * standard_error, "the confidence sequence")?;
    let interval = Interval::around(difference, half, "the confidence sequence")?;
    Ok(SequentialTest {
        difference,
        standard_error,
        critical_value,
        interval,
        rho_squared,
        significant: !interval.contains(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rho_is_nearly_optimal_at_the_target() {
        // ρ² is the closed-form approximation of the minimizer of z(n*; ρ²).
        let target = 10_000;
        let rho = sequential_rho_squared(0.05, target).unwrap();
        let at = |r: f64| sequential_critical_value(target, r, 0.05).unwrap();
        for factor in [0.25, 0.5, 0.8, 1.25, 2.0, 4.0] {
            assert!(at(rho) <= at(rho * factor) + 1e-3, "factor {factor}");
        }
    }

    #[test]
    fn wider_than_a_fixed_horizon_interval() {
        let rho = sequential_rho_squared(0.05, 5_000).unwrap();
        for n in [10, 1_000, 5_000, 1_000_000] {
            assert!(sequential_critical_value(n, rho, 0.05).unwrap() > 1.96);
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(sequential_rho_squared(0.05, 0).is_err());
        assert!(sequential_rho_squared(1.0, 10).is_err());
        assert!(sequential_critical_value(0, 0.1, 0.05).is_err());
        assert!(sequential_critical_value(10, 0.0, 0.05).is_err());
        assert!(sequential_critical_value(10, f64::NAN, 0.05).is_err());
    }
}

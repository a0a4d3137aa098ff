//! Welch's t-test on the difference of means, and the relative lift with a
//! delta-method interval.

use crate::dist;
use crate::error::{Result, StatsError, finite_output, open_unit, two_sided_z};
use crate::summary::{Interval, Summary};

/// The result of [`welch_t_test`]: treatment minus control.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchTest {
    /// x̄_T − x̄_C.
    pub difference: f64,
    /// √(s_T²/n_T + s_C²/n_C).
    pub standard_error: f64,
    /// The t statistic, difference / standard error.
    pub t: f64,
    /// The Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// The two-sided p-value.
    pub p_value: f64,
    /// The 1 − α confidence interval of the difference.
    pub interval: Interval,
}

/// Welch's unequal-variance t-test of treatment against control, with a
/// 1 − `alpha` confidence interval of the difference.
///
/// Both arms need two observations; their pooled standard error must be
/// positive.
pub fn welch_t_test(control: &Summary, treatment: &Summary, alpha: f64) -> Result<WelchTest> {
    open_unit(alpha, "alpha")?;
    control.require_two("the control arm")?;
    treatment.require_two("the treatment arm")?;
    let (a, b) = (treatment.mean_variance(), control.mean_variance());
    let variance = finite_output(a + b, "the standard error")?;
    if variance <= 0.0 {
        return Err(StatsError::ZeroVariance {
            what: "the difference of the arms".into(),
        });
    }
    let standard_error = variance.sqrt();
    let difference = finite_output(treatment.mean() - control.mean(), "the difference")?;
    let t = finite_output(difference / standard_error, "the t statistic")?;
    // (a + b)² / (a²/(n_T − 1) + b²/(n_C − 1)), with a and b scaled by their
    // sum so that neither squares under- nor overflow.
    let (ra, rb) = (a / variance, b / variance);
    let df = 1.0 / (ra * ra / (treatment.n() - 1) as f64 + rb * rb / (control.n() - 1) as f64);
    let df = finite_output(df, "the degrees of freedom")?;
    let p_value = dist::t_two_sided_p(t, df);
    let quantile = dist::t_upper_quantile(alpha / 2.0, df).ok_or(StatsError::Overflow {
        what: "the t quantile",
    })?;
    let half = finite_output(quantile * standard_error, "the confidence interval")?;
    Ok(WelchTest {
        difference,
        standard_error,
        t,
        df,
        p_value,
        interval: Interval::around(difference, half, "the confidence interval")?,
    })
}

/// The result of [`relative_lift`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelativeLift {
    /// x̄_T / x̄_C − 1 (0.05 is +5 %).
    pub lift: f64,
    /// The delta-method standard error of the lift.
    pub standard_error: f64,
    /// The 1 − α normal interval of the lift.
    pub interval: Interval,
    /// The two-sided p-value of lift / standard error against N(0, 1).
    pub p_value: f64,
}

/// The relative lift of treatment over control, x̄_T / x̄_C − 1, with a
/// delta-method normal interval at level 1 − `alpha`.
///
/// The control mean must be non-zero and the standard error positive.
pub fn relative_lift(control: &Summary, treatment: &Summary, alpha: f64) -> Result<RelativeLift> {
    open_unit(alpha, "alpha")?;
    control.require_two("the control arm")?;
    treatment.require_two("the treatment arm")?;
    let (mc, mt) = (control.mean(), treatment.mean());
    if mc == 0.0 {
        return Err(StatsError::ZeroControlMean);
    }
    let ratio = finite_output(mt / mc, "the lift")?;
    let lift = ratio - 1.0;
    // Var(x̄_T/x̄_C) ≈ (s_T²/n_T + r²·s_C²/n_C) / x̄_C², the first-order
    // Taylor expansion of the ratio.
    let numerator = treatment.mean_variance() + ratio * ratio * control.mean_variance();
    let standard_error = finite_output(
        numerator.sqrt() / mc.abs(),
        "the standard error of the lift",
    )?;
    if standard_error <= 0.0 {
        return Err(StatsError::ZeroVariance {
            what: "the lift".into(),
        });
    }
    let half = finite_output(
        two_sided_z(alpha)? * standard_error,
        "the confidence interval",
    )?;
    let statistic = finite_output(lift / standard_error, "the z statistic")?;
    let p_value = (2.0 * dist::normal_sf(statistic.abs())).min(1.0);
    Ok(RelativeLift {
        lift,
        standard_error,
        interval: Interval::around(lift, half, "the confidence interval")?,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_variance_in_both_arms_is_an_error() {
        let c = Summary::from_conversions(0, 100).unwrap();
        let t = Summary::from_conversions(0, 120).unwrap();
        assert!(matches!(
            welch_t_test(&c, &t, 0.05),
            Err(StatsError::ZeroVariance { .. })
        ));
        assert!(matches!(
            relative_lift(&c, &t, 0.05),
            Err(StatsError::ZeroControlMean)
        ));
        let all = Summary::from_conversions(100, 100).unwrap();
        assert!(matches!(
            welch_t_test(&all, &all, 0.05),
            Err(StatsError::ZeroVariance { .. })
        ));
    }

    #[test]
    fn one_constant_arm_uses_the_other_arms_degrees_of_freedom() {
        let c = Summary::new(10, 1.0, 0.0).unwrap();
        let t = Summary::new(21, 2.0, 4.0).unwrap();
        let test = welch_t_test(&c, &t, 0.05).unwrap();
        assert!((test.df - 20.0).abs() < 1e-12);
    }

    #[test]
    fn a_t_statistic_past_1e154_has_p_zero() {
        let c = Summary::new(1_000_000, 0.0, 1e-300).unwrap();
        let t = Summary::new(1_000_000, 1e3, 1e-300).unwrap();
        let test = welch_t_test(&c, &t, 0.05).unwrap();
        assert!(test.t > 1e154);
        assert_eq!(test.p_value, 0.0);
    }

    #[test]
    fn a_single_observation_is_too_few() {
        let c = Summary::new(1, 1.0, 0.0).unwrap();
        let t = Summary::new(21, 2.0, 4.0).unwrap();
        assert!(matches!(
            welch_t_test(&c, &t, 0.05),
            Err(StatsError::TooFewObservations { .. })
        ));
    }

    #[test]
    fn the_lift_interval_contains_the_lift() {
        let c = Summary::from_conversions(100, 1000).unwrap();
        let t = Summary::from_conversions(120, 1000).unwrap();
        let lift = relative_lift(&c, &t, 0.05).unwrap();
        assert!((lift.lift - 0.2).abs() < 1e-12);
        assert!(lift.interval.contains(0.2));
        assert!(lift.interval.low < 0.0, "not significant at this size");
    }
}

//! Power and minimum detectable effect of the two-sided two-proportion
//! z-test, on the arcsine scale (Cohen's h), as statsmodels'
//! `NormalIndPower` with `proportion_effectsize`.

use crate::dist::{normal_cdf, normal_sf, normal_upper_quantile};
use crate::error::{Result, StatsError, finite_input, finite_output, open_unit, two_sided_z};

/// What to plan for: a baseline conversion rate and the relative lift to
/// detect, at significance `alpha` with probability `power`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerSpec {
    /// The control conversion rate p₁, in (0, 1).
    pub baseline: f64,
    /// The lift to detect, p₂ = p₁·(1 + lift); 0.05 is +5 %. Negative lifts
    /// are allowed; p₂ must stay in (0, 1).
    pub relative_lift: f64,
    /// The two-sided significance level, 0.05 by default.
    pub alpha: f64,
    /// The probability of detecting the lift, 0.8 by default.
    pub power: f64,
}

impl PowerSpec {
    /// A spec with the defaults α = 0.05 and power = 0.8.
    pub fn new(baseline: f64, relative_lift: f64) -> PowerSpec {
        PowerSpec {
            baseline,
            relative_lift,
            alpha: 0.05,
            power: 0.8,
        }
    }
}

/// The result of [`sample_size`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSize {
    /// Cohen's h = 2·asin(√p₂) − 2·asin(√p₁).
    pub effect_size: f64,
    /// The exact solution n of power(n) = target, per arm.
    pub per_arm_exact: f64,
    /// `per_arm_exact` rounded up.
    pub per_arm: u64,
}

/// The sample size per arm (two equal arms) at which the two-sided
/// two-proportion test reaches `spec.power`.
pub fn sample_size(spec: &PowerSpec) -> Result<SampleSize> {
    let (z, power) = check_levels(spec.alpha, spec.power)?;
    let h = effect_size(spec.baseline, spec.relative_lift)?;
    let s = solve_shift(z, power);
    // s = |h|·√(n/2)  ⇒  n = 2·(s/h)².
    let ratio = s / h.abs();
    let per_arm_exact = finite_output(2.0 * ratio * ratio, "the sample size")?;
    let rounded = per_arm_exact.ceil();
    if rounded >= u64::MAX as f64 {
        return Err(StatsError::Overflow {
            what: "the sample size",
        });
    }
    Ok(SampleSize {
        effect_size: h,
        per_arm_exact,
        per_arm: rounded as u64,
    })
}

/// The result of [`weeks_needed`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TestDuration {
    /// The sample size per arm, rounded up.
    pub per_arm: u64,
    /// `per_arm × arms`.
    pub total: u64,
    /// total / weekly size.
    pub weeks: f64,
    /// `weeks` rounded up.
    pub whole_weeks: u64,
}

/// How many weeks a segment that brings `weekly_size` new people a week
/// must run, split evenly over `arms` arms, to reach `spec.power`.
pub fn weeks_needed(spec: &PowerSpec, weekly_size: u64, arms: u32) -> Result<TestDuration> {
    if arms < 2 {
        return Err(StatsError::OutOfRange {
            what: "the number of arms".into(),
            value: arms as f64,
            range: "[2, ∞)",
        });
    }
    if weekly_size == 0 {
        return Err(StatsError::NoExposures {
            what: "the segment".into(),
        });
    }
    let size = sample_size(spec)?;
    let total = size
        .per_arm
        .checked_mul(u64::from(arms))
        .ok_or(StatsError::Overflow {
            what: "the total sample size",
        })?;
    let weeks = total as f64 / weekly_size as f64;
    Ok(TestDuration {
        per_arm: size.per_arm,
        total,
        weeks,
        whole_weeks: weeks.ceil() as u64,
    })
}

/// The smallest upward relative lift (0.05 is +5 %) that `n_per_arm`
/// people per arm detect with probability `power` at level `alpha`.
pub fn minimum_detectable_effect(
    n_per_arm: u64,
    baseline: f64,
    alpha: f64,
    power: f64,
) -> Result<f64> {
    let (z, power) = check_levels(alpha, power)?;
    check_baseline(baseline)?;
    if n_per_arm == 0 {
        return Err(StatsError::NoExposures {
            what: "the arm".into(),
        });
    }
    let h = solve_shift(z, power) / (n_per_arm as f64 / 2.0).sqrt();
    let angle = baseline.sqrt().asin() + h / 2.0;
    if angle >= std::f64::consts::FRAC_PI_2 {
        return Err(StatsError::Undetectable {
            reason: "the detectable rate would exceed 100 %",
        });
    }
    let p2 = angle.sin().powi(2);
    finite_output(p2 / baseline - 1.0, "the minimum detectable effect")
}

/// The power of the two-sided test with `n_per_arm` people per arm when
/// the true lift is `spec.relative_lift` (`spec.power` is not used).
pub fn achieved_power(n_per_arm: u64, spec: &PowerSpec) -> Result<f64> {
    open_unit(spec.alpha, "alpha")?;
    let z = two_sided_z(spec.alpha)?;
    let h = effect_size(spec.baseline, spec.relative_lift)?;
    let s = h.abs() * (n_per_arm as f64 / 2.0).sqrt();
    Ok(power_at(s, z))
}

/// Cohen's h for p₁ = baseline and p₂ = baseline·(1 + lift).
fn effect_size(baseline: f64, relative_lift: f64) -> Result<f64> {
    check_baseline(baseline)?;
    finite_input(relative_lift, "the relative lift")?;
    let p2 = baseline * (1.0 + relative_lift);
    if !(p2 > 0.0 && p2 < 1.0) {
        return Err(StatsError::OutOfRange {
            what: "the treatment rate baseline × (1 + lift)".into(),
            value: finite_output(p2, "the treatment rate")?,
            range: "(0, 1)",
        });
    }
    let h = 2.0 * p2.sqrt().asin() - 2.0 * baseline.sqrt().asin();
    if h == 0.0 {
        return Err(StatsError::Undetectable {
            reason: "the lift is zero",
        });
    }
    Ok(h)
}

fn check_baseline(baseline: f64) -> Result<()> {
    open_unit(baseline, "the baseline rate").map(drop)
}

/// Checks α and the power and returns z_{1−α/2} and the power.
fn check_levels(alpha: f64, power: f64) -> Result<(f64, f64)> {
    open_unit(alpha, "alpha")?;
    open_unit(power, "power")?;
    if power <= alpha {
        return Err(StatsError::OutOfRange {
            what: "power".into(),
            value: power,
            range: "(alpha, 1)",
        });
    }
    Ok((two_sided_z(alpha)?, power))
}

/// Power of the two-sided z-test when the statistic's mean is shifted by s:
/// 1 − Φ(z − s) + Φ(−z − s), with z = z_{1−α/2}.
fn power_at(s: f64, z: f64) -> f64 {
    (normal_sf(z - s) + normal_cdf(-z - s)).min(1.0)
}

/// The shift s ≥ 0 with power_at(s, z) = power, by bisection (power_at is
/// increasing in s, equal to α at 0 and above `power` at z + z_power).
fn solve_shift(z: f64, power: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, z + normal_upper_quantile(1.0 - power));
    hi = hi.max(0.0);
    while power_at(hi, z) < power {
        hi = 2.0 * hi + 1.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if power_at(mid, z) < power {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usual_case() {
        // 10 % baseline, +10 % relative: about 14,750 per arm.
        let size = sample_size(&PowerSpec::new(0.10, 0.10)).unwrap();
        assert!((14_000..15_500).contains(&size.per_arm), "{size:?}");
        let mde = minimum_detectable_effect(size.per_arm, 0.10, 0.05, 0.8).unwrap();
        assert!(mde <= 0.10 && mde > 0.099, "{mde}");
        let power = achieved_power(size.per_arm, &PowerSpec::new(0.10, 0.10)).unwrap();
        assert!((0.8..0.801).contains(&power), "{power}");
    }

    #[test]
    fn weeks_for_a_small_segment() {
        let duration = weeks_needed(&PowerSpec::new(0.10, 0.10), 1_000, 2).unwrap();
        assert_eq!(duration.total, 2 * duration.per_arm);
        assert_eq!(duration.whole_weeks, duration.weeks.ceil() as u64);
        assert!(duration.whole_weeks >= 29);
        assert!(matches!(
            weeks_needed(&PowerSpec::new(0.10, 0.10), 0, 2),
            Err(StatsError::NoExposures { .. })
        ));
    }

    #[test]
    fn degenerate_specs_are_errors() {
        assert!(sample_size(&PowerSpec::new(0.0, 0.1)).is_err());
        assert!(sample_size(&PowerSpec::new(0.5, 1.0)).is_err());
        assert!(sample_size(&PowerSpec::new(0.5, 0.0)).is_err());
        let mut spec = PowerSpec::new(0.1, 0.1);
        spec.power = 0.01;
        assert!(sample_size(&spec).is_err());
        assert!(matches!(
            minimum_detectable_effect(10, 0.99, 0.05, 0.8),
            Err(StatsError::Undetectable { .. })
        ));
    }
}

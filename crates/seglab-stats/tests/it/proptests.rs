//! Nothing public panics or returns a NaN or an infinity, whatever finite
//! (or non-finite) input it gets: every result is either an error or made
//! of finite numbers, with probabilities in [0, 1] and ordered intervals.

use proptest::prelude::*;
use seglab_stats::{
    Allocation, CupedArm, Estimate, Interval, PowerSpec, Summary, achieved_power, assign,
    bayes_compare, benjamini_hochberg, chance_to_be_best, cuped, holm, minimum_detectable_effect,
    relative_lift, sample_ratio_mismatch, sample_size, sequential_critical_value,
    sequential_rho_squared, sequential_test, shrink, weeks_needed, welch_t_test,
};

/// Any finite f64, from subnormals to ±f64::MAX, mixed with ordinary values
/// so that the successful paths are exercised too.
fn finite() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        3 => -1e3..1e3f64,
        1 => POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO,
        1 => prop_oneof![
            Just(0.0),
            Just(f64::MAX),
            Just(-f64::MAX),
            Just(f64::MIN_POSITIVE),
            Just(5e-324),
            Just(1e300),
            Just(1e-300),
        ],
    ]
}

/// Anything, NaN and infinities included, finite most of the time.
fn anything() -> impl Strategy<Value = f64> {
    prop_oneof![8 => finite(), 1 => proptest::num::f64::ANY]
}

/// A probability-like parameter: mostly in (0, 1), sometimes anything.
fn level() -> impl Strategy<Value = f64> {
    prop_oneof![4 => 1e-6..0.999f64, 1 => anything()]
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0..100_000u64, 1 => 0..5u64, 1 => any::<u64>(), 1 => Just(u64::MAX)]
}

/// A positive scale, mostly ordinary.
fn scale() -> impl Strategy<Value = f64> {
    prop_oneof![4 => 1e-3..1e2f64, 1 => anything()]
}

fn summary() -> impl Strategy<Value = Option<Summary>> {
    prop_oneof![
        3 => (2..100_000u64, -1e3..1e3f64, 0.0..1e3f64)
            .prop_map(|(n, m, v)| Summary::new(n, m, v).ok()),
        // Large arms with vanishing variances (log-uniform from 1e-320 to
        // 1e-250): t statistics past 1e154.
        1 => (10_000..1_000_000_000u64, -1e3..1e3f64, -320.0..-250.0f64)
            .prop_map(|(n, m, e)| Summary::new(n, m, 10f64.powf(e)).ok()),
        3 => (0..1_000u64, 2..2_000u64)
            .prop_map(|(c, n)| Summary::from_conversions(c.min(n), n).ok()),
        1 => (count(), anything(), anything()).prop_map(|(n, m, v)| Summary::new(n, m, v).ok()),
        1 => (count(), count()).prop_map(|(c, n)| Summary::from_conversions(c, n).ok()),
        1 => prop::collection::vec(anything(), 0..20).prop_map(|v| Summary::from_values(&v).ok()),
    ]
}

fn ok(x: f64) -> bool {
    x.is_finite()
}

fn probability(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

fn ordered(i: Interval) -> bool {
    ok(i.low) && ok(i.high) && i.low <= i.high
}

/// The test and its interval agree: p < α exactly when the interval
/// excludes 0 (away from the boundary, where rounding may decide).
fn agree(p: f64, alpha: f64, interval: Interval) -> bool {
    let near = (p - alpha).abs() <= 1e-6 * alpha
        || interval.low.abs() <= 1e-9 * interval.high.abs()
        || interval.high.abs() <= 1e-9 * interval.low.abs();
    let significant = p < alpha;
    let excludes_zero = !interval.contains(0.0);
    near || significant == excludes_zero
}

proptest! {
    // Cheap enough to run four times the default number of cases.
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn summaries_are_finite(s in summary()) {
        if let Some(s) = s {
            prop_assert!(ok(s.mean()) && ok(s.variance()) && s.variance() >= 0.0);
            prop_assert!(ok(s.standard_error()));
        }
    }

    #[test]
    fn two_arm_tests_are_finite(c in summary(), t in summary(), alpha in level(), target in count()) {
        let (Some(c), Some(t)) = (c, t) else { return Ok(()) };
        if let Ok(r) = welch_t_test(&c, &t, alpha) {
            prop_assert!(ok(r.difference) && ok(r.standard_error) && ok(r.t) && ok(r.df));
            prop_assert!(probability(r.p_value) && ordered(r.interval), "{r:?}");
            prop_assert!(agree(r.p_value, alpha, r.interval), "{r:?}");
        }
        if let Ok(r) = relative_lift(&c, &t, alpha) {
            prop_assert!(ok(r.lift) && ok(r.standard_error));
            prop_assert!(probability(r.p_value) && ordered(r.interval), "{r:?}");
            prop_assert!(agree(r.p_value, alpha, r.interval), "{r:?}");
        }
        if let Ok(r) = bayes_compare(&c, &t) {
            prop_assert!(ok(r.difference) && ok(r.standard_error));
            prop_assert!(probability(r.chance_to_beat_control), "{r:?}");
            prop_assert!(ok(r.expected_loss) && r.expected_loss >= 0.0, "{r:?}");
            prop_assert!(ok(r.expected_loss_control) && r.expected_loss_control >= 0.0);
        }
        if let Ok(r) = sequential_test(&c, &t, alpha, target) {
            prop_assert!(ok(r.difference) && ok(r.standard_error) && ok(r.critical_value));
            prop_assert!(ok(r.rho_squared) && ordered(r.interval), "{r:?}");
        }
    }

    #[test]
    fn sequential_parameters_are_finite(alpha in level(), n in count(), rho in anything()) {
        if let Ok(r) = sequential_rho_squared(alpha, n) {
            prop_assert!(ok(r) && r > 0.0);
        }
        if let Ok(z) = sequential_critical_value(n, rho, alpha) {
            prop_assert!(ok(z) && z > 0.0);
        }
    }

    #[test]
    fn chance_to_be_best_is_a_distribution(arms in prop::collection::vec(summary(), 0..5)) {
        let arms: Vec<Summary> = arms.into_iter().flatten().collect();
        if let Ok(chances) = chance_to_be_best(&arms) {
            prop_assert_eq!(chances.len(), arms.len());
            prop_assert!(chances.iter().all(|&c| probability(c)), "{:?}", chances);
            let sum: f64 = chances.iter().sum();
            prop_assert!((sum - 1.0).abs() < 1e-9, "{}", sum);
        }
    }

    #[test]
    fn srm_is_finite(
        arms in prop::collection::vec((count(), scale()), 0..6),
        normalize in prop_oneof![3 => Just(true), 1 => Just(false)],
    ) {
        let (observed, weights): (Vec<u64>, Vec<f64>) = arms.into_iter().unzip();
        let weights = if normalize {
            // Scale to 100 to reach the test itself more often.
            let sum: f64 = weights.iter().map(|w| w.abs()).sum();
            weights.iter().map(|w| w.abs() / sum * 100.0).collect()
        } else {
            weights
        };
        if let Ok(r) = sample_ratio_mismatch(&observed, &weights) {
            prop_assert!(ok(r.chi_square) && r.chi_square >= 0.0 && probability(r.p_value));
        }
    }

    #[test]
    fn corrections_keep_order_and_range(p in prop::collection::vec(prop_oneof![3 => 0.0..=1.0f64, 1 => anything()], 0..12)) {
        for adjusted in [holm(&p), benjamini_hochberg(&p)] {
            let Ok(adjusted) = adjusted else { continue };
            prop_assert_eq!(adjusted.len(), p.len());
            for (i, (&a, &raw)) in adjusted.iter().zip(&p).enumerate() {
                prop_assert!(probability(a) && a >= raw);
                for (&b, &other) in adjusted.iter().zip(&p).skip(i + 1) {
                    // The adjustment is monotone: order is preserved.
                    if raw < other {
                        prop_assert!(a <= b);
                    }
                }
            }
        }
    }

    #[test]
    fn power_is_finite(
        baseline in level(),
        lift in prop_oneof![3 => -1.0..2.0f64, 1 => anything()],
        alpha in prop_oneof![3 => 1e-4..0.3f64, 1 => level()],
        power in prop_oneof![3 => 0.5..0.999f64, 1 => level()],
        n in count(),
        weekly in prop_oneof![3 => 1..100_000u64, 1 => count()],
        arms in prop_oneof![3 => 2..6u32, 1 => any::<u32>()],
    ) {
        let spec = PowerSpec { baseline, relative_lift: lift, alpha, power };
        if let Ok(size) = sample_size(&spec) {
            prop_assert!(ok(size.effect_size) && ok(size.per_arm_exact) && size.per_arm >= 1);
        }
        if let Ok(d) = weeks_needed(&spec, weekly, arms) {
            prop_assert!(ok(d.weeks) && d.weeks >= 0.0);
        }
        if let Ok(mde) = minimum_detectable_effect(n, baseline, alpha, power) {
            prop_assert!(ok(mde) && mde >= 0.0, "{}", mde);
        }
        if let Ok(p) = achieved_power(n, &spec) {
            prop_assert!(probability(p));
        }
    }

    #[test]
    fn cuped_is_finite(
        arms in prop::collection::vec(
            prop_oneof![
                4 => prop::collection::vec((-1e3..1e3f64, -1e3..1e3f64), 2..12),
                1 => prop::collection::vec((anything(), anything()), 0..12),
            ],
            0..4,
        ),
    ) {
        let columns: Vec<(Vec<f64>, Vec<f64>)> =
            arms.iter().map(|pairs| pairs.iter().copied().unzip()).collect();
        let arms: Vec<CupedArm<'_>> =
            columns.iter().map(|(y, x)| CupedArm { y, x }).collect();
        if let Ok(r) = cuped(&arms) {
            prop_assert!(ok(r.theta) && ok(r.pre_period_mean));
            for a in &r.arms {
                prop_assert!(ok(a.adjusted.mean()) && ok(a.adjusted.variance()));
                prop_assert!(ok(a.variance_reduction));
            }
        }
    }

    #[test]
    fn shrinkage_is_finite(
        estimates in prop::collection::vec((anything(), scale()), 0..8),
        alpha in level(),
    ) {
        let estimates: Vec<Estimate> = estimates
            .into_iter()
            .map(|(effect, standard_error)| Estimate { effect, standard_error })
            .collect();
        if let Ok(r) = shrink(&estimates, alpha) {
            prop_assert!(ok(r.overall) && ok(r.overall_standard_error));
            prop_assert!(ok(r.tau_squared) && r.tau_squared >= 0.0);
            for s in &r.segments {
                prop_assert!(ok(s.shrunk) && ok(s.standard_error) && probability(s.shrinkage));
                prop_assert!(ordered(s.raw_interval) && ordered(s.shrunk_interval), "{s:?}");
            }
        }
    }

    #[test]
    fn assignment_never_panics(
        experiment in ".*",
        person in ".*",
        variants in prop::collection::vec(prop_oneof![0.0..100.0f64, anything()], 0..5),
        holdout in prop_oneof![0.0..100.0f64, anything()],
    ) {
        // Make the weights add up some of the time.
        let rest = 100.0 - holdout;
        let total: f64 = variants.iter().sum();
        let scaled: Vec<f64> = variants.iter().map(|v| v / total * rest).collect();
        for candidate in [variants, scaled] {
            if let Ok(allocation) = Allocation::new(&candidate, holdout) {
                let arm = assign(&experiment, &person, &allocation);
                if let seglab_stats::Arm::Variant(i) = arm {
                    prop_assert!(candidate[i] > 0.0);
                }
            }
        }
    }
}

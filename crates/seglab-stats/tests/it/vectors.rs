//! Every value in `tests/vectors/vectors.json` (written by
//! `tests/vectors/generate.py` with scipy, statsmodels and numpy) is
//! reproduced to 1e-6 relative: |got − expected| ≤ 1e-6·|expected| + 1e-12,
//! the 1e-12 absolute floor only mattering for expected values near zero.

use seglab_stats::{
    Allocation, Arm, CupedArm, Estimate, Interval, PowerSpec, Summary, achieved_power,
    bayes_compare, benjamini_hochberg, bucket, chance_to_be_best, cuped, holm,
    minimum_detectable_effect, relative_lift, sample_ratio_mismatch, sample_size, sequential_test,
    shrink, weeks_needed, welch_t_test,
};
use serde::Deserialize;

const RELATIVE: f64 = 1e-6;
const ABSOLUTE: f64 = 1e-12;

fn vectors() -> Vectors {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/vectors.json");
    let text = std::fs::read_to_string(path).expect("vectors.json is committed");
    serde_json::from_str(&text).expect("vectors.json parses")
}

#[track_caller]
fn check(what: &str, got: f64, expected: f64) {
    assert!(
        (got - expected).abs() <= RELATIVE * expected.abs() + ABSOLUTE,
        "{what}: got {got:e}, expected {expected:e}"
    );
}

#[track_caller]
fn check_interval(what: &str, got: Interval, expected: &IntervalV) {
    check(&format!("{what} low"), got.low, expected.low);
    check(&format!("{what} high"), got.high, expected.high);
}

#[track_caller]
fn check_all(what: &str, got: &[f64], expected: &[f64]) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        check(&format!("{what}[{i}]"), g, e);
    }
}

#[derive(Deserialize)]
struct Vectors {
    two_arm: Vec<TwoArm>,
    chance_to_be_best: Vec<BestCase>,
    srm: Vec<SrmCase>,
    multiple: Vec<MultipleCase>,
    power: Vec<PowerCase>,
    cuped: Vec<CupedCase>,
    shrinkage: Vec<ShrinkCase>,
    assignment: Vec<AssignCase>,
}

#[derive(Deserialize)]
struct IntervalV {
    low: f64,
    high: f64,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ArmV {
    Values { values: Vec<f64> },
    Conversions { conversions: u64, exposures: u64 },
    Summary { summary: SummaryV },
}

#[derive(Deserialize)]
struct SummaryV {
    n: u64,
    mean: f64,
    variance: f64,
}

impl ArmV {
    fn summary(&self) -> Summary {
        match self {
            ArmV::Values { values } => Summary::from_values(values),
            ArmV::Conversions {
                conversions,
                exposures,
            } => Summary::from_conversions(*conversions, *exposures),
            ArmV::Summary { summary: s } => Summary::new(s.n, s.mean, s.variance),
        }
        .unwrap()
    }
}

#[derive(Deserialize)]
struct TwoArm {
    name: String,
    control: ArmV,
    treatment: ArmV,
    alpha: f64,
    welch: WelchV,
    lift: Option<LiftV>,
    bayes: BayesV,
    sequential_target_n: u64,
    sequential: SequentialV,
}

#[derive(Deserialize)]
struct WelchV {
    difference: f64,
    standard_error: f64,
    t: f64,
    df: f64,
    p_value: f64,
    interval: IntervalV,
}

#[derive(Deserialize)]
struct LiftV {
    lift: f64,
    standard_error: f64,
    interval: IntervalV,
    p_value: f64,
}

#[derive(Deserialize)]
struct BayesV {
    difference: f64,
    standard_error: f64,
    chance_to_beat_control: f64,
    expected_loss: f64,
    expected_loss_control: f64,
}

#[derive(Deserialize)]
struct SequentialV {
    rho_squared: f64,
    critical_value: f64,
    interval: IntervalV,
    significant: bool,
}

#[test]
fn welch_matches_scipy_ttest_ind() {
    for case in vectors().two_arm {
        let (c, t) = (case.control.summary(), case.treatment.summary());
        let got = welch_t_test(&c, &t, case.alpha).unwrap();
        let e = &case.welch;
        let name = &case.name;
        check(&format!("{name}: difference"), got.difference, e.difference);
        check(&format!("{name}: se"), got.standard_error, e.standard_error);
        check(&format!("{name}: t"), got.t, e.t);
        check(&format!("{name}: df"), got.df, e.df);
        check(&format!("{name}: p"), got.p_value, e.p_value);
        check_interval(&format!("{name}: interval"), got.interval, &e.interval);
    }
}

#[test]
fn relative_lift_matches_the_delta_method() {
    for case in vectors().two_arm {
        let (c, t) = (case.control.summary(), case.treatment.summary());
        let got = relative_lift(&c, &t, case.alpha);
        let name = &case.name;
        let Some(e) = &case.lift else {
            assert!(got.is_err(), "{name}: expected an error, got {got:?}");
            continue;
        };
        let got = got.unwrap();
        check(&format!("{name}: lift"), got.lift, e.lift);
        check(&format!("{name}: se"), got.standard_error, e.standard_error);
        check(&format!("{name}: p"), got.p_value, e.p_value);
        check_interval(&format!("{name}: interval"), got.interval, &e.interval);
    }
}

#[test]
fn bayes_matches_scipy_quadrature() {
    for case in vectors().two_arm {
        let (c, t) = (case.control.summary(), case.treatment.summary());
        let got = bayes_compare(&c, &t).unwrap();
        let e = &case.bayes;
        let name = &case.name;
        check(&format!("{name}: difference"), got.difference, e.difference);
        check(&format!("{name}: sd"), got.standard_error, e.standard_error);
        check(
            &format!("{name}: chance"),
            got.chance_to_beat_control,
            e.chance_to_beat_control,
        );
        check(&format!("{name}: loss"), got.expected_loss, e.expected_loss);
        check(
            &format!("{name}: loss of control"),
            got.expected_loss_control,
            e.expected_loss_control,
        );
    }
}

#[test]
fn sequential_matches_the_papers_formula() {
    for case in vectors().two_arm {
        let (c, t) = (case.control.summary(), case.treatment.summary());
        let got = sequential_test(&c, &t, case.alpha, case.sequential_target_n).unwrap();
        let e = &case.sequential;
        let name = &case.name;
        check(&format!("{name}: rho²"), got.rho_squared, e.rho_squared);
        check(&format!("{name}: z"), got.critical_value, e.critical_value);
        check_interval(&format!("{name}: interval"), got.interval, &e.interval);
        assert_eq!(got.significant, e.significant, "{name}");
    }
}

#[derive(Deserialize)]
struct BestCase {
    name: String,
    arms: Vec<ArmV>,
    chances: Vec<f64>,
}

#[test]
fn chance_to_be_best_matches_scipy_quadrature() {
    for case in vectors().chance_to_be_best {
        let arms: Vec<Summary> = case.arms.iter().map(ArmV::summary).collect();
        let got = chance_to_be_best(&arms).unwrap();
        check_all(&case.name, &got, &case.chances);
    }
}

#[derive(Deserialize)]
struct SrmCase {
    observed: Vec<u64>,
    weights: Vec<f64>,
    chi_square: f64,
    p_value: f64,
    mismatch: bool,
}

#[test]
fn srm_matches_scipy_chisquare() {
    for case in vectors().srm {
        let got = sample_ratio_mismatch(&case.observed, &case.weights).unwrap();
        let what = format!("{:?}", case.observed);
        check(&format!("{what}: chi²"), got.chi_square, case.chi_square);
        check(&format!("{what}: p"), got.p_value, case.p_value);
        assert_eq!(got.df, case.observed.len() as u64 - 1);
        assert_eq!(got.mismatch, case.mismatch, "{what}");
    }
}

#[derive(Deserialize)]
struct MultipleCase {
    p_values: Vec<f64>,
    holm: Vec<f64>,
    benjamini_hochberg: Vec<f64>,
}

#[test]
fn corrections_match_statsmodels_multipletests() {
    for case in vectors().multiple {
        let what = format!("{:?}", case.p_values);
        check_all(
            &format!("holm {what}"),
            &holm(&case.p_values).unwrap(),
            &case.holm,
        );
        check_all(
            &format!("bh {what}"),
            &benjamini_hochberg(&case.p_values).unwrap(),
            &case.benjamini_hochberg,
        );
    }
}

#[derive(Deserialize)]
struct PowerCase {
    baseline: f64,
    relative_lift: f64,
    alpha: f64,
    power: f64,
    weekly_size: u64,
    arms: u32,
    effect_size: f64,
    per_arm_exact: f64,
    per_arm: u64,
    total: u64,
    weeks: f64,
    whole_weeks: u64,
    mde_at_per_arm: f64,
    power_at_half: f64,
}

#[test]
fn power_matches_statsmodels_normal_ind_power() {
    for case in vectors().power {
        let spec = PowerSpec {
            baseline: case.baseline,
            relative_lift: case.relative_lift,
            alpha: case.alpha,
            power: case.power,
        };
        let what = format!("{spec:?}");
        let size = sample_size(&spec).unwrap();
        check(&format!("{what}: h"), size.effect_size, case.effect_size);
        check(
            &format!("{what}: n"),
            size.per_arm_exact,
            case.per_arm_exact,
        );
        assert_eq!(size.per_arm, case.per_arm, "{what}");
        let duration = weeks_needed(&spec, case.weekly_size, case.arms).unwrap();
        assert_eq!(duration.total, case.total, "{what}");
        check(&format!("{what}: weeks"), duration.weeks, case.weeks);
        assert_eq!(duration.whole_weeks, case.whole_weeks, "{what}");
        let mde =
            minimum_detectable_effect(case.per_arm, case.baseline, case.alpha, case.power).unwrap();
        check(&format!("{what}: mde"), mde, case.mde_at_per_arm);
        let power = achieved_power(case.per_arm / 2, &spec).unwrap();
        check(&format!("{what}: power"), power, case.power_at_half);
    }
}

#[derive(Deserialize)]
struct CupedCase {
    name: String,
    arms: Vec<CupedArmV>,
    theta: f64,
    pre_period_mean: f64,
    results: Vec<CupedResultV>,
}

#[derive(Deserialize)]
struct CupedArmV {
    y: Vec<f64>,
    x: Vec<f64>,
}

#[derive(Deserialize)]
struct CupedResultV {
    raw_mean: f64,
    raw_variance: f64,
    adjusted_mean: f64,
    adjusted_variance: f64,
}

#[test]
fn cuped_matches_numpy() {
    for case in vectors().cuped {
        let arms: Vec<CupedArm<'_>> = case
            .arms
            .iter()
            .map(|a| CupedArm { y: &a.y, x: &a.x })
            .collect();
        let got = cuped(&arms).unwrap();
        let name = &case.name;
        check(&format!("{name}: theta"), got.theta, case.theta);
        check(
            &format!("{name}: x̄"),
            got.pre_period_mean,
            case.pre_period_mean,
        );
        for (i, (g, e)) in got.arms.iter().zip(&case.results).enumerate() {
            check(&format!("{name} {i}: raw mean"), g.raw.mean(), e.raw_mean);
            check(
                &format!("{name} {i}: raw var"),
                g.raw.variance(),
                e.raw_variance,
            );
            check(
                &format!("{name} {i}: mean"),
                g.adjusted.mean(),
                e.adjusted_mean,
            );
            check(
                &format!("{name} {i}: var"),
                g.adjusted.variance(),
                e.adjusted_variance,
            );
        }
    }
}

#[derive(Deserialize)]
struct ShrinkCase {
    name: String,
    effects: Vec<f64>,
    standard_errors: Vec<f64>,
    alpha: f64,
    overall: f64,
    overall_standard_error: f64,
    tau_squared: f64,
    shrinkage: Vec<f64>,
    shrunk: Vec<f64>,
    standard_error: Vec<f64>,
    shrunk_low: Vec<f64>,
    shrunk_high: Vec<f64>,
    raw_low: Vec<f64>,
    raw_high: Vec<f64>,
}

#[test]
fn shrinkage_matches_numpy_and_statsmodels_tau() {
    for case in vectors().shrinkage {
        let estimates: Vec<Estimate> = case
            .effects
            .iter()
            .zip(&case.standard_errors)
            .map(|(&effect, &standard_error)| Estimate {
                effect,
                standard_error,
            })
            .collect();
        let got = shrink(&estimates, case.alpha).unwrap();
        let name = &case.name;
        check(&format!("{name}: overall"), got.overall, case.overall);
        check(
            &format!("{name}: overall se"),
            got.overall_standard_error,
            case.overall_standard_error,
        );
        check(&format!("{name}: tau²"), got.tau_squared, case.tau_squared);
        let field = |f: fn(&seglab_stats::ShrunkEstimate) -> f64| -> Vec<f64> {
            got.segments.iter().map(f).collect()
        };
        check_all(
            &format!("{name}: B"),
            &field(|s| s.shrinkage),
            &case.shrinkage,
        );
        check_all(
            &format!("{name}: shrunk"),
            &field(|s| s.shrunk),
            &case.shrunk,
        );
        check_all(
            &format!("{name}: se"),
            &field(|s| s.standard_error),
            &case.standard_error,
        );
        check_all(
            &format!("{name}: low"),
            &field(|s| s.shrunk_interval.low),
            &case.shrunk_low,
        );
        check_all(
            &format!("{name}: high"),
            &field(|s| s.shrunk_interval.high),
            &case.shrunk_high,
        );
        check_all(
            &format!("{name}: raw low"),
            &field(|s| s.raw_interval.low),
            &case.raw_low,
        );
        check_all(
            &format!("{name}: raw high"),
            &field(|s| s.raw_interval.high),
            &case.raw_high,
        );
    }
}

#[derive(Deserialize)]
struct AssignCase {
    experiment: String,
    variants: Vec<f64>,
    holdout: f64,
    people: Vec<String>,
    top_bits: Vec<u64>,
    arms: Vec<ArmName>,
}

#[derive(Deserialize, Debug, PartialEq)]
#[serde(untagged)]
enum ArmName {
    Variant(usize),
    Holdout(String),
}

#[test]
fn assignment_matches_python_xxhash() {
    for case in vectors().assignment {
        let allocation = Allocation::new(&case.variants, case.holdout).unwrap();
        for ((person, &bits), expected) in case.people.iter().zip(&case.top_bits).zip(&case.arms) {
            // Exact: the same 53 bits over the same power of two.
            let expected_bucket = bits as f64 / (1u64 << 53) as f64;
            assert_eq!(
                bucket(&case.experiment, person),
                expected_bucket,
                "{person}"
            );
            let arm = seglab_stats::assign(&case.experiment, person, &allocation);
            let expected = match expected {
                ArmName::Variant(i) => Arm::Variant(*i),
                ArmName::Holdout(name) => {
                    assert_eq!(name, "holdout");
                    Arm::Holdout
                }
            };
            assert_eq!(arm, expected, "{} / {person}", case.experiment);
        }
    }
}

//! A/A simulation of daily peeking: with no true difference, how often does
//! each method call an experiment significant at some look?
//!
//! Each simulated experiment runs 28 days with 200 new users per arm per
//! day, every user converting with probability 0.1, and is looked at after
//! every day on the cumulative data. The sequential confidence sequence
//! (tuned for the final 11,200 users) must keep its false-positive rate
//! within α + 1 point; the fixed-horizon Welch test applied at every look
//! must be clearly above α, which is the reason the sequential one exists.
//! A run with a real +20 % lift checks that the sequential test still finds
//! effects.

use seglab_stats::{Summary, sequential_test, welch_t_test};

const ALPHA: f64 = 0.05;
const DAYS: u64 = 28;
const USERS_PER_ARM_PER_DAY: u64 = 200;
const RATE: f64 = 0.1;
const SEED: u64 = 0x5e61_ab57_a75a_0001;

/// SplitMix64 (Steele, Lea & Flood 2014): small, fast and fully determined
/// by its seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The number of successes in `n` Bernoulli(`p`) draws.
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        let threshold = (p * (1u64 << 53) as f64) as u64;
        (0..n).filter(|_| self.next_u64() >> 11 < threshold).count() as u64
    }
}

struct Rates {
    sequential: f64,
    naive: f64,
}

/// The share of `experiments` that each method calls significant at some
/// look, with the treatment converting at `treatment_rate`.
fn simulate(experiments: u64, treatment_rate: f64) -> Rates {
    let target_n = 2 * DAYS * USERS_PER_ARM_PER_DAY;
    let mut rng = SplitMix64(SEED);
    let (mut sequential_hits, mut naive_hits) = (0u64, 0u64);
    for _ in 0..experiments {
        let (mut conversions, mut exposures) = ([0u64; 2], 0u64);
        let (mut sequential_fired, mut naive_fired) = (false, false);
        for _ in 0..DAYS {
            exposures += USERS_PER_ARM_PER_DAY;
            conversions[0] += rng.binomial(USERS_PER_ARM_PER_DAY, RATE);
            conversions[1] += rng.binomial(USERS_PER_ARM_PER_DAY, treatment_rate);
            let control = Summary::from_conversions(conversions[0], exposures).unwrap();
            let treatment = Summary::from_conversions(conversions[1], exposures).unwrap();
            // An error (no conversions yet in either arm) is no decision.
            if let Ok(test) = welch_t_test(&control, &treatment, ALPHA) {
                naive_fired |= test.p_value < ALPHA;
            }
            if let Ok(test) = sequential_test(&control, &treatment, ALPHA, target_n) {
                sequential_fired |= test.significant;
            }
        }
        sequential_hits += u64::from(sequential_fired);
        naive_hits += u64::from(naive_fired);
    }
    let rates = Rates {
        sequential: sequential_hits as f64 / experiments as f64,
        naive: naive_hits as f64 / experiments as f64,
    };
    println!(
        "{RATE} against {treatment_rate}, {experiments} experiments × {DAYS} daily looks: \
         significant at some look: sequential {:.4}, naive t-test {:.4} (α = {ALPHA})",
        rates.sequential, rates.naive
    );
    rates
}

/// 2,000 experiments take about a second in a debug build. The standard
/// error of a rate near 0.05 is then 0.005, so the bounds separate the two
/// methods by many standard errors.
#[test]
fn peeking_keeps_the_sequential_error_rate_and_inflates_the_naive_one() {
    let rates = simulate(2_000, RATE);
    assert!(rates.sequential <= ALPHA + 0.01, "{}", rates.sequential);
    assert!(rates.naive >= 2.0 * ALPHA, "{}", rates.naive);
}

/// 20,000 experiments, for a tighter estimate:
/// `cargo test -p seglab-stats -- --ignored --nocapture`.
#[test]
#[ignore = "about fifteen seconds in a debug build; the 2,000-experiment version runs by default"]
fn peeking_with_20000_experiments() {
    let rates = simulate(20_000, RATE);
    assert!(rates.sequential <= ALPHA + 0.01, "{}", rates.sequential);
    assert!(rates.naive >= 2.0 * ALPHA, "{}", rates.naive);
}

/// A +20 % lift (0.10 to 0.12) over 5,600 users per arm: the sequential
/// test must still find it in most experiments.
#[test]
fn the_sequential_test_finds_a_real_lift() {
    let rates = simulate(500, 0.12);
    assert!(rates.sequential >= 0.6, "{}", rates.sequential);
}

//! seglab's experiment statistics: pure functions from counts, means and
//! variances to tests, intervals and decisions. No IO, no clock, no
//! randomness: the same input gives the same output everywhere.
//!
//! Every public function returns a [`StatsError`] rather than a NaN or an
//! infinity: for zero exposures, zero variance (every conversion equal),
//! an empty arm, weights that do not sum to 100, a probability outside
//! (0, 1), non-finite input, or a result that would overflow. Differences
//! are always treatment minus control. Distributions come from `statrs`.
//!
//! Arms are reduced to a [`Summary`] (n, mean x̄, sample variance s² with
//! divisor n − 1). A conversion rate is the mean of 0/1 values:
//! [`Summary::from_conversions`] gives p = c/n and s² = p(1 − p)·n/(n − 1),
//! the sample variance of the 0/1 data, so proportions go through the same
//! tests as any other mean.
//!
//! ```
//! use seglab_stats::{Summary, sample_ratio_mismatch, sequential_test, welch_t_test};
//!
//! let control = Summary::from_conversions(1_000, 10_000)?;
//! let treatment = Summary::from_conversions(1_100, 10_050)?;
//! assert!(!sample_ratio_mismatch(&[10_000, 10_050], &[50.0, 50.0])?.mismatch);
//! let fixed = welch_t_test(&control, &treatment, 0.05)?;
//! let peeking = sequential_test(&control, &treatment, 0.05, 40_000)?;
//! assert!(fixed.p_value < 0.05);
//! // Wider than the fixed-horizon interval: the price of being valid at every look.
//! assert!(peeking.interval.low < fixed.interval.low);
//! # Ok::<(), seglab_stats::StatsError>(())
//! ```
//!
//! # Welch's t-test — [`welch_t_test`]
//!
//! ```text
//! d  = x̄_T − x̄_C          SE = √(s_T²/n_T + s_C²/n_C)          t = d / SE
//! ν  = SE⁴ / ((s_T²/n_T)²/(n_T − 1) + (s_C²/n_C)²/(n_C − 1))
//! p  = 2·P(T_ν ≥ |t|)      CI = d ± t_{ν, 1−α/2}·SE
//! ```
//!
//! Welch, B. L. (1947), "The generalization of 'Student's' problem when
//! several different population variances are involved", *Biometrika* 34;
//! Satterthwaite, F. E. (1946), *Biometrics Bulletin* 2. For ν ≥ 10⁴ the t
//! tail uses Hill's normalizing transformation (Hill, G. W. (1970),
//! "Algorithm 395: Student's t-distribution", *CACM* 13) and the quantile
//! the Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5), where the
//! incomplete-beta route loses accuracy; both match scipy to ~1e-10.
//!
//! # Relative lift — [`relative_lift`]
//!
//! ```text
//! L     = x̄_T / x̄_C − 1
//! SE(L) = √(s_T²/n_T + (x̄_T/x̄_C)²·s_C²/n_C) / |x̄_C|        (delta method)
//! CI    = L ± z_{1−α/2}·SE(L)          p = 2·(1 − Φ(|L| / SE(L)))
//! ```
//!
//! The first-order Taylor expansion of the ratio of two independent means.
//! Deng, A., Knoblich, U. & Lu, J. (2018), "Applying the delta method in
//! metric analytics: a practical guide with novel ideas", *KDD*.
//!
//! # Bayesian comparison — [`bayes_compare`], [`chance_to_be_best`]
//!
//! The prior is flat (improper uniform) on each arm's mean, and the
//! likelihood of the arm mean is normal by the central limit theorem, so
//! the posterior of each mean is N(x̄, s²/n) and of the difference
//! δ = μ_T − μ_C is N(d, SE²) with d and SE as above. With the flat prior
//! the posterior interval equals the normal confidence interval; nothing is
//! pulled toward a prior guess.
//!
//! ```text
//! P(μ_T > μ_C)            = Φ(d / SE)
//! E[max(μ_C − μ_T, 0)]    = SE·φ(d/SE) − d·Φ(−d/SE)     (expected loss of shipping T)
//! E[max(μ_T − μ_C, 0)]    = SE·φ(d/SE) + d·Φ(d/SE)      (expected loss of keeping C)
//! P(arm i is best)        = ∫ φ(z) Π_{j≠i} Φ((m_i + s_i·z − m_j) / s_j) dz
//! ```
//!
//! The last integral (m = x̄, s = √(s²/n)) is computed deterministically by
//! adaptive Simpson quadrature over z ∈ [−9, 9] (36 panels, tolerance
//! 1e-13), then normalized to sum to 1; no sampling is involved. Gelman,
//! A. et al. (2013), *Bayesian Data Analysis*, 3rd ed., §3.2 (normal model,
//! noninformative prior); expected loss as in Stucchio, C. (2015),
//! "Bayesian A/B testing at VWO".
//!
//! # Always-valid confidence sequences — [`sequential_test`]
//!
//! For peeking at an experiment as data arrive: the asymptotic confidence
//! sequence of Waudby-Smith, I., Arnold, D., Wu, J., Howard, S. R.,
//! Ramdas, A. (2021), "Time-uniform central limit theory and asymptotic
//! confidence sequences", arXiv:2103.06476 (*Annals of Statistics*, 2024),
//! with the normal-mixture (Robbins) boundary, as in GrowthBook and Eppo.
//! For a mean of t observations with standard deviation σ̂ the paper's
//! two-sided sequence is
//!
//! ```text
//! μ̂_t ± σ̂ · √( 2(tρ² + 1) / (t²ρ²) · ln( √(tρ² + 1) / α ) )
//! ```
//!
//! For the difference of two means the time is t = n = n_T + n_C and
//! σ̂² = n·SE², the variance of one observation of the inverse-propensity
//! estimator of the effect; the interval becomes
//!
//! ```text
//! d ± z(n)·SE,     z(n) = √( (1 + 1/(nρ²)) · (2 ln(1/α) + ln(1 + nρ²)) )
//! ```
//!
//! ([`sequential_critical_value`]), valid simultaneously at every n: the
//! probability that the true difference ever leaves the sequence is at most
//! α (asymptotically). It is "significant" when it excludes 0. The tuning
//! parameter ρ sets where the sequence is tightest; it does not affect
//! validity. [`sequential_rho_squared`] takes the paper's closed-form choice
//! that minimizes the width at a planned total sample size n*:
//!
//! ```text
//! ρ² = (−2 ln α + ln(1 − 2 ln α)) / n*
//! ```
//!
//! Set n* to the size expected at the end of the experiment; too small a
//! value costs power late, too large a value costs power early.
//!
//! # Sample ratio mismatch — [`sample_ratio_mismatch`]
//!
//! ```text
//! E_i = N·w_i / Σw      χ² = Σ (O_i − E_i)² / E_i      p = P(χ²_{k−1} ≥ χ²)
//! ```
//!
//! Pearson's goodness-of-fit test of the observed arm sizes against the
//! allocation; an alert when p < [`SRM_THRESHOLD`] = 0.001. Fabijan, A. et
//! al. (2019), "Diagnosing sample ratio mismatch in online controlled
//! experiments", *KDD*; Pearson, K. (1900), *Philosophical Magazine* 50.
//!
//! # CUPED — [`cuped`]
//!
//! With the pre-period value X of the metric Y as a control variate,
//!
//! ```text
//! θ      = cov(Y, X) / var(X)                   over all arms pooled
//! Y_cv   = Y − θ(X − X̄)                         (X̄: pooled pre-period mean)
//! mean_a = Ȳ_a − θ(X̄_a − X̄)
//! var_a  = s²_{Y,a} − 2θ·s_{YX,a} + θ²·s²_{X,a}  (within arm a, divisor n − 1)
//! ```
//!
//! The adjusted summaries go into the tests in place of the raw ones; the
//! variance falls by the factor 1 − ρ²(Y, X). One θ for every arm keeps the
//! adjustment unbiased (X is independent of assignment). Deng, A., Xu, Y.,
//! Kohavi, R. & Walker, T. (2013), "Improving the sensitivity of online
//! controlled experiments by utilizing pre-experiment data", *WSDM*.
//!
//! # Multiple comparisons — [`holm`], [`benjamini_hochberg`]
//!
//! With p_(1) ≤ … ≤ p_(m) sorted ascending, adjusted values are returned in
//! the input order:
//!
//! ```text
//! Holm:  p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j))     (family-wise error)
//! BH:    p̃_(i) = min_{j ≥ i} min(1, m/j · p_(j))           (false discovery rate)
//! ```
//!
//! Holm, S. (1979), "A simple sequentially rejective multiple test
//! procedure", *Scandinavian Journal of Statistics* 6; Benjamini, Y. &
//! Hochberg, Y. (1995), "Controlling the false discovery rate", *JRSS B* 57.
//!
//! # Power and minimum detectable effect — [`sample_size`], [`weeks_needed`], [`minimum_detectable_effect`]
//!
//! The two-sided two-proportion z-test on the arcsine scale, exactly as
//! statsmodels' `NormalIndPower` with `proportion_effectsize` (both tails
//! of the rejection region counted):
//!
//! ```text
//! p₂    = p₁·(1 + lift)          h = 2·asin(√p₂) − 2·asin(√p₁)      (Cohen's h)
//! power = 1 − Φ(z_{1−α/2} − |h|·√(n/2)) + Φ(−z_{1−α/2} − |h|·√(n/2))
//! ```
//!
//! n per arm solves power(n) = target (by bisection), rounded up; weeks are
//! n × arms / (people entering the segment per week). The minimum
//! detectable effect inverts the same equation for h at a given n and
//! returns p₂/p₁ − 1 with p₂ = sin²(asin(√p₁) + h/2). Defaults α = 0.05,
//! power = 0.8. Cohen, J. (1988), *Statistical Power Analysis for the
//! Behavioral Sciences*, 2nd ed., ch. 6.
//!
//! # Empirical Bayes shrinkage — [`shrink`]
//!
//! Per-segment effects y_i with standard errors s_i, in the normal–normal
//! model y_i ~ N(θ_i, s_i²), θ_i ~ N(μ, τ²). τ² by the DerSimonian–Laird
//! method of moments, μ by the random-effects weighted mean:
//!
//! ```text
//! w_i = 1/s_i²      ȳ_w = Σ w_i y_i / Σ w_i      Q = Σ w_i (y_i − ȳ_w)²
//! τ̂²  = max(0, (Q − (k − 1)) / (Σw − Σw²/Σw))
//! μ̂   = Σ y_i/(s_i² + τ̂²) / Σ 1/(s_i² + τ̂²)       V = 1 / Σ 1/(s_i² + τ̂²)
//! B_i = s_i² / (s_i² + τ̂²)
//! θ̂_i = μ̂ + (1 − B_i)(y_i − μ̂)      Var(θ̂_i) = (1 − B_i)s_i² + B_i²·V
//! ```
//!
//! Intervals are θ̂_i ± z_{1−α/2}·√Var(θ̂_i), next to the raw y_i ± z·s_i.
//! The variance adds the uncertainty of μ̂ but not that of τ̂², so it is
//! slightly optimistic with few segments. DerSimonian, R. & Laird, N.
//! (1986), "Meta-analysis in clinical trials", *Controlled Clinical Trials*
//! 7; Morris, C. N. (1983), "Parametric empirical Bayes inference: theory
//! and applications", *JASA* 78.
//!
//! # Assignment — [`assign`]
//!
//! ```text
//! u = (xxh3_64(len(experiment) as u64 LE ‖ experiment ‖ person) >> 11) / 2⁵³  ∈ [0, 1)
//! ```
//!
//! 100·u falls into [0, holdout) for the holdout, then into each variant's
//! share in order. The same keys always give the same arm; different
//! experiments hash independently. Weights are percentages and must sum to
//! 100 ([`Allocation::new`]).
//!
//! # Verification
//!
//! `tests/vectors/generate.py` computes expected values with scipy
//! (`ttest_ind(equal_var=False)`, `chisquare`, quadrature), statsmodels
//! (`multipletests`, `NormalIndPower`, `combine_effects`), numpy (CUPED,
//! shrinkage, the delta method, the confidence sequence in the paper's own
//! form) and the Python xxhash binding, and writes `vectors.json`; the
//! integration test reproduces every value to 1e-6 relative. An A/A
//! simulation (2,000 experiments, 28 daily looks) checks that the confidence
//! sequence keeps its false-positive rate at or below α + 1 point while a
//! t-test repeated at every look does not, and property tests check that no
//! input yields a NaN, an infinity or a panic.

mod assign;
mod bayes;
mod cuped;
mod dist;
mod error;
mod multiple;
mod power;
mod sequential;
mod shrinkage;
mod srm;
mod summary;
mod ttest;
mod weights;

pub use assign::{Allocation, Arm, assign, bucket};
pub use bayes::{BayesComparison, bayes_compare, chance_to_be_best};
pub use cuped::{Cuped, CupedArm, CupedSummary, cuped};
pub use error::{ErrorCode, Result, StatsError};
pub use multiple::{benjamini_hochberg, holm};
pub use power::{
    PowerSpec, SampleSize, TestDuration, achieved_power, minimum_detectable_effect, sample_size,
    weeks_needed,
};
pub use sequential::{
    SequentialTest, sequential_critical_value, sequential_rho_squared, sequential_test,
};
pub use shrinkage::{Estimate, Shrinkage, ShrunkEstimate, shrink};
pub use srm::{SRM_THRESHOLD, SampleRatio, sample_ratio_mismatch};
pub use summary::{Interval, Summary};
pub use ttest::{RelativeLift, WelchTest, relative_lift, welch_t_test};

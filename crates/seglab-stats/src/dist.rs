//! The distribution functions the methods need, on top of statrs.
//!
//! statrs computes the Student t distribution through the regularized
//! incomplete beta function, which is exact for small degrees of freedom but
//! slow and inaccurate for very large ones (a Welch test on a million users
//! per arm has about two million). Above [`LARGE_DF`] the tail probability
//! uses Hill's normalizing transformation and the quantile the
//! Cornish–Fisher expansion; both agree with scipy to about 1e-10 relative
//! there. Below it, the statrs quantile is refined by Newton's method on the
//! log tail, which also fixes its far tails at one or two degrees of freedom.

use statrs::distribution::{ChiSquared, Continuous, ContinuousCDF, Normal, StudentsT};

/// Degrees of freedom from which the asymptotic formulas take over.
const LARGE_DF: f64 = 1e4;

fn standard_normal() -> Normal {
    Normal::standard()
}

/// Φ(x).
pub(crate) fn normal_cdf(x: f64) -> f64 {
    standard_normal().cdf(x)
}

/// 1 − Φ(x), accurate in the upper tail.
pub(crate) fn normal_sf(x: f64) -> f64 {
    standard_normal().sf(x)
}

/// φ(x).
pub(crate) fn normal_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// The upper normal quantile z with 1 − Φ(z) = q, for q in [0, 1]; exact
/// for tiny q where 1 − q would round to 1, and +∞ for q = 0 (which callers
/// turn into an overflow error).
pub(crate) fn normal_upper_quantile(q: f64) -> f64 {
    -standard_normal().inverse_cdf(q.clamp(0.0, 1.0))
}

/// P(|T| ≥ |t|) for T ~ Student t with `df` > 0 degrees of freedom.
pub(crate) fn t_two_sided_p(t: f64, df: f64) -> f64 {
    (2.0 * t_upper_tail(t.abs(), df)).min(1.0)
}

/// P(T ≥ t) for t ≥ 0.
fn t_upper_tail(t: f64, df: f64) -> f64 {
    if df >= LARGE_DF {
        // Hill (1970), Algorithm 395: a normal deviate z with the same tail.
        let a = df - 0.5;
        let b = 48.0 * a * a;
        let y = a * (t * t / df).ln_1p();
        if !y.is_finite() {
            // t² overflowed: the tail is far below the smallest f64.
            return 0.0;
        }
        let z =
            (((((-0.4 * y - 3.3) * y - 24.0) * y - 85.5) / (0.8 * y * y + 100.0 + b) + y + 3.0)
                / b
                + 1.0)
                * y.sqrt();
        normal_sf(z)
    } else {
        students_t(df).sf(t)
    }
}

fn students_t(df: f64) -> StudentsT {
    // df is finite and positive at every call site.
    StudentsT::new(0.0, 1.0, df).expect("finite, positive degrees of freedom")
}

/// The upper t quantile: t ≥ 0 with P(T ≥ t) = q, for q in (0, 0.5).
/// `None` if it exceeds √f64::MAX ≈ 1.3e154 (q below about 1e-154 at one
/// degree of freedom).
pub(crate) fn t_upper_quantile(q: f64, df: f64) -> Option<f64> {
    // q = α/2 underflows to 0 for a subnormal α: the quantile is infinite.
    if !(q > 0.0 && q < 0.5 && df > 0.0) {
        return None;
    }
    let z = normal_upper_quantile(q);
    if df >= LARGE_DF {
        // Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5).
        let x2 = z * z;
        let g1 = (x2 + 1.0) * z / 4.0;
        let g2 = ((5.0 * x2 + 16.0) * x2 + 3.0) * z / 96.0;
        let g3 = (((3.0 * x2 + 19.0) * x2 + 17.0) * x2 - 15.0) * z / 384.0;
        let g4 = ((((79.0 * x2 + 776.0) * x2 + 1482.0) * x2 - 1920.0) * x2 - 945.0) * z / 92160.0;
        let t = z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df;
        return t.is_finite().then_some(t);
    }
    let dist = students_t(df);
    // Newton's method on u = ln t for g(u) = ln P(T ≥ e^u) − ln q, kept
    // inside a bracket [lo, hi]; the log tail is close to linear in u, so it
    // converges in a few steps for heavy and light tails alike.
    let target = q.ln();
    let g = |u: f64| dist.sf(u.exp()).ln() - target;
    // The t tail is heavier than the normal one: t ≥ z.
    let mut lo = z.ln();
    let start = if q > 1e-12 {
        dist.inverse_cdf(1.0 - q)
    } else {
        f64::NAN
    };
    let mut u = if start.is_finite() && start > z {
        start.ln()
    } else {
        lo
    };
    // statrs squares t: past √f64::MAX the tail reads as 0.
    let ceiling = 0.5 * f64::MAX.ln();
    let mut hi = (u.max(lo) + 1.0).min(ceiling);
    while g(hi) > 0.0 {
        if hi >= ceiling {
            return None;
        }
        hi = (hi + 2.0 * (hi - lo).max(1.0)).min(ceiling);
    }
    if g(lo) <= 0.0 {
        return Some(lo.exp());
    }
    for _ in 0..200 {
        let value = g(u);
        if value == 0.0 {
            break;
        }
        if value > 0.0 {
            lo = u;
        } else {
            hi = u;
        }
        let t = u.exp();
        let slope = -t * dist.pdf(t) / dist.sf(t);
        let newton = u - value / slope;
        let next = if newton.is_finite() && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - u).abs() <= 1e-15 * u.abs().max(1.0) {
            u = next;
            break;
        }
        u = next;
    }
    let t = u.exp();
    t.is_finite().then_some(t)
}

/// P(X ≥ x) for X ~ χ² with `df` degrees of freedom (df ≥ 1).
pub(crate) fn chi_square_sf(x: f64, df: f64) -> f64 {
    ChiSquared::new(df)
        .expect("positive degrees of freedom")
        .sf(x)
        .clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn t_quantiles_match_reference_values() {
        // scipy.stats.t.ppf(1 - q, df)
        let cases = [
            (0.025, 1.0, 12.706204736174705),
            (1e-9, 1.0, 318309886.1837907),
            (5e-8, 1.0, 6366197.72367576),
            (1e-150, 1.0, 3.183098861837907e149),
            (0.025, 2.0, 4.302652729749464),
            (0.025, 30.0, 2.042272456301238),
            (0.025, 1000.0, 1.9623390808264085),
            (0.025, 3e4, 1.9600430633839347),
            (0.005, 1e6, 2.5758342201053344),
        ];
        for (q, df, expected) in cases {
            let got = t_upper_quantile(q, df).unwrap();
            assert!(
                close(got, expected, 1e-9),
                "q {q} df {df}: {got} vs {expected}"
            );
        }
        assert_eq!(t_upper_quantile(1e-300, 1.0), None);
    }

    #[test]
    fn t_tails_are_continuous_across_the_switch() {
        for t in [0.1, 1.0, 2.0, 5.0, 10.0] {
            let below = t_two_sided_p(t, LARGE_DF * (1.0 - 1e-12));
            let above = t_two_sided_p(t, LARGE_DF);
            assert!(close(below, above, 1e-9), "t {t}: {below} vs {above}");
        }
    }

    #[test]
    fn enormous_statistics_have_a_zero_tail_not_a_nan() {
        for df in [1.0, 30.0, 1e4, 1e12] {
            for t in [1e160, f64::MAX] {
                let p = t_two_sided_p(t, df);
                assert!(p.is_finite() && p < 1e-150, "df {df} t {t}: {p}");
            }
        }
    }

    #[test]
    fn huge_degrees_of_freedom_approach_the_normal() {
        let p = t_two_sided_p(1.959963984540054, 1e15);
        assert!(close(p, 0.05, 1e-9), "{p}");
    }
}

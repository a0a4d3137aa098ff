//! Per-arm sufficient statistics and intervals.

use crate::error::{Result, StatsError, finite_input, finite_output};

/// One arm's data reduced to what the tests need: the count, the mean and
/// the sample variance (divisor n − 1).
///
/// Proportions are means of 0/1 values: [`Summary::from_conversions`]
/// gives the same summary as [`Summary::from_values`] on the 0/1 data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    n: u64,
    mean: f64,
    variance: f64,
}

impl Summary {
    /// A summary from its parts: `n ≥ 1`, a finite mean, a finite variance
    /// `≥ 0`.
    pub fn new(n: u64, mean: f64, variance: f64) -> Result<Summary> {
        if n == 0 {
            return Err(StatsError::NoExposures {
                what: "the summary".into(),
            });
        }
        finite_input(mean, "the mean")?;
        finite_input(variance, "the variance")?;
        if variance < 0.0 {
            return Err(StatsError::OutOfRange {
                what: "the variance".into(),
                value: variance,
                range: "[0, ∞)",
            });
        }
        Ok(Summary { n, mean, variance })
    }

    /// The summary of raw values (at least two, all finite), computed in two
    /// passes for accuracy.
    pub fn from_values(values: &[f64]) -> Result<Summary> {
        let n = values.len();
        if n == 0 {
            return Err(StatsError::NoExposures {
                what: "the values".into(),
            });
        }
        if n < 2 {
            return Err(StatsError::TooFewObservations {
                what: "the values".into(),
                n: n as u64,
                min: 2,
            });
        }
        for &value in values {
            finite_input(value, "a value")?;
        }
        let mean = finite_output(mean(values), "the mean")?;
        let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        let variance = finite_output(squares / (n - 1) as f64, "the variance")?;
        Ok(Summary {
            n: n as u64,
            mean,
            variance,
        })
    }

    /// The summary of `conversions` successes among `exposures` Bernoulli
    /// trials: mean p = c/n and sample variance p(1 − p)·n/(n − 1), exactly
    /// the sample variance of the 0/1 data.
    pub fn from_conversions(conversions: u64, exposures: u64) -> Result<Summary> {
        if conversions > exposures {
            return Err(StatsError::ConversionsExceedExposures {
                conversions,
                exposures,
            });
        }
        if exposures == 0 {
            return Err(StatsError::NoExposures {
                what: "the arm".into(),
            });
        }
        if exposures < 2 {
            return Err(StatsError::TooFewObservations {
                what: "the arm".into(),
                n: exposures,
                min: 2,
            });
        }
        let n = exposures as f64;
        let c = conversions as f64;
        let mean = c / n;
        // c(n − c) / (n(n − 1)), written to avoid forming n² for huge n.
        let variance = (c / n) * ((exposures - conversions) as f64 / (n - 1.0));
        Ok(Summary {
            n: exposures,
            mean,
            variance,
        })
    }

    /// The number of observations.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// The sample mean.
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The sample variance (divisor n − 1).
    pub fn variance(&self) -> f64 {
        self.variance
    }

    /// The squared standard error of the mean, s²/n.
    pub(crate) fn mean_variance(&self) -> f64 {
        self.variance / self.n as f64
    }

    /// The standard error of the mean, √(s²/n).
    pub fn standard_error(&self) -> f64 {
        self.mean_variance().sqrt()
    }

    /// An error unless the arm has at least two observations (a sample
    /// variance needs them).
    pub(crate) fn require_two(&self, what: &str) -> Result<()> {
        if self.n < 2 {
            return Err(StatsError::TooFewObservations {
                what: what.to_owned(),
                n: self.n,
                min: 2,
            });
        }
        Ok(())
    }
}

/// The mean of finite values, without overflowing on large ones.
pub(crate) fn mean(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let plain: f64 = values.iter().sum::<f64>() / n;
    if plain.is_finite() {
        plain
    } else {
        values.iter().map(|v| v / n).sum()
    }
}

/// A closed interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// `center ± half_width`, or an overflow error.
    pub(crate) fn around(center: f64, half_width: f64, what: &'static str) -> Result<Interval> {
        Ok(Interval {
            low: finite_output(center - half_width, what)?,
            high: finite_output(center + half_width, what)?,
        })
    }

    /// Whether `value` lies in the interval.
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_the_zero_one_values() {
        let values: Vec<f64> = (0..50)
            .map(|i| if i % 7 == 0 { 1.0 } else { 0.0 })
            .collect();
        let conversions = values.iter().filter(|&&v| v == 1.0).count() as u64;
        let a = Summary::from_values(&values).unwrap();
        let b = Summary::from_conversions(conversions, 50).unwrap();
        assert_eq!(a.n(), b.n());
        assert!((a.mean() - b.mean()).abs() < 1e-15);
        assert!((a.variance() - b.variance()).abs() < 1e-15);
    }

    #[test]
    fn degenerate_summaries_are_errors() {
        assert!(matches!(
            Summary::from_conversions(0, 0),
            Err(StatsError::NoExposures { .. })
        ));
        assert!(matches!(
            Summary::from_conversions(3, 2),
            Err(StatsError::ConversionsExceedExposures { .. })
        ));
        assert!(matches!(
            Summary::from_values(&[1.0]),
            Err(StatsError::TooFewObservations { .. })
        ));
        assert!(matches!(
            Summary::from_values(&[1.0, f64::NAN]),
            Err(StatsError::NotFinite { .. })
        ));
        assert!(Summary::new(0, 0.0, 1.0).is_err());
        assert!(Summary::new(5, 0.0, -1.0).is_err());
        assert!(matches!(
            Summary::from_values(&[f64::MAX, -f64::MAX]),
            Err(StatsError::Overflow { .. })
        ));
    }

    #[test]
    fn huge_values_do_not_overflow_the_mean() {
        let s = Summary::from_values(&[f64::MAX, f64::MAX]).unwrap();
        assert_eq!(s.mean(), f64::MAX);
        assert_eq!(s.variance(), 0.0);
    }
}

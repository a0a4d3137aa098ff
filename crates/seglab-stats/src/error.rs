//! The crate's one error type.

/// Why a statistic could not be computed.
///
/// Every public function returns one of these instead of a NaN or an
/// infinity; [`StatsError::code`] sorts them into three stable codes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// An arm (or a group of values) with no observations at all.
    #[error("{what} has no exposures")]
    NoExposures { what: String },
    /// Fewer observations than the method needs (a sample variance needs 2).
    #[error("{what} has {n} observations, at least {min} are needed")]
    TooFewObservations { what: String, n: u64, min: u64 },
    /// A variance of zero where the method divides by it (for conversions:
    /// every exposure converted, or none did).
    #[error("{what} has zero variance")]
    ZeroVariance { what: String },
    /// The relative lift divides by the control mean.
    #[error("the control mean is zero, the relative lift is undefined")]
    ZeroControlMean,
    /// A parameter outside its domain, such as a probability outside (0, 1).
    #[error("{what} must be in {range}, got {value}")]
    OutOfRange {
        what: String,
        value: f64,
        range: &'static str,
    },
    /// A NaN or an infinity among the inputs.
    #[error("{what} is not finite")]
    NotFinite { what: String },
    /// Allocation weights are percentages and must add up to 100.
    #[error("weights sum to {sum}, not 100")]
    WeightsSum { sum: f64 },
    /// Two inputs that must have the same length do not.
    #[error("{what}: {left} against {right}")]
    LengthMismatch {
        what: &'static str,
        left: usize,
        right: usize,
    },
    /// A count of conversions above the count of exposures.
    #[error("{conversions} conversions out of {exposures} exposures")]
    ConversionsExceedExposures { conversions: u64, exposures: u64 },
    /// No effect of the asked kind can reach the asked power.
    #[error("no effect is detectable: {reason}")]
    Undetectable { reason: &'static str },
    /// Finite inputs whose result does not fit in a finite `f64`.
    #[error("{what} overflows")]
    Overflow { what: &'static str },
}

/// The stable classes of [`StatsError`], for callers that map errors to
/// statuses or messages of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The caller passed something outside the method's domain.
    InvalidArgument,
    /// The data are valid but do not (yet) support the statistic.
    InsufficientData,
    /// The result is too large or too small for an `f64`.
    NumericOverflow,
}

impl ErrorCode {
    /// The code as a stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::InsufficientData => "insufficient_data",
            ErrorCode::NumericOverflow => "numeric_overflow",
        }
    }
}

impl StatsError {
    /// The class of the error.
    pub fn code(&self) -> ErrorCode {
        match self {
            StatsError::NoExposures { .. }
            | StatsError::TooFewObservations { .. }
            | StatsError::ZeroVariance { .. }
            | StatsError::ZeroControlMean
            | StatsError::Undetectable { .. } => ErrorCode::InsufficientData,
            StatsError::OutOfRange { .. }
            | StatsError::NotFinite { .. }
            | StatsError::WeightsSum { .. }
            | StatsError::LengthMismatch { .. }
            | StatsError::ConversionsExceedExposures { .. } => ErrorCode::InvalidArgument,
            StatsError::Overflow { .. } => ErrorCode::NumericOverflow,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = StatsError> = std::result::Result<T, E>;

/// `value` if it is finite, else [`StatsError::NotFinite`] naming it.
pub(crate) fn finite_input(value: f64, what: &str) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::NotFinite {
            what: what.to_owned(),
        })
    }
}

/// `value` if it is finite, else [`StatsError::Overflow`]: for results.
pub(crate) fn finite_output(value: f64, what: &'static str) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(StatsError::Overflow { what })
    }
}

/// A probability parameter (a significance level, a power) strictly
/// inside (0, 1).
pub(crate) fn open_unit(value: f64, what: &str) -> Result<f64> {
    finite_input(value, what)?;
    if value > 0.0 && value < 1.0 {
        Ok(value)
    } else {
        Err(StatsError::OutOfRange {
            what: what.to_owned(),
            value,
            range: "(0, 1)",
        })
    }
}

/// z_{1−α/2} for a two-sided level `alpha` already checked to be in
/// (0, 1); an overflow error when α/2 underflows.
pub(crate) fn two_sided_z(alpha: f64) -> Result<f64> {
    finite_output(
        crate::dist::normal_upper_quantile(alpha / 2.0),
        "the normal quantile",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_without_a_period() {
        let errors = [
            StatsError::NoExposures {
                what: "control".into(),
            },
            StatsError::ZeroControlMean,
            StatsError::WeightsSum { sum: 90.0 },
            StatsError::Overflow { what: "the mean" },
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.ends_with('.'), "{message}");
            assert_eq!(message.chars().next().map(char::is_lowercase), Some(true));
        }
    }

    #[test]
    fn probabilities_exclude_the_ends() {
        assert!(open_unit(0.05, "alpha").is_ok());
        for bad in [0.0, 1.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(open_unit(bad, "alpha").is_err(), "{bad}");
        }
        assert_eq!(
            open_unit(f64::NAN, "alpha").unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
    }
}

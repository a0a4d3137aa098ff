//! Durations as campaigns write them: a whole number and a unit, `250ms`,
//! `30s`, `15m`, `2h`, `7d`, `2w` (the segment language's units, plus `ms`).

/// The units, longest suffix first so `ms` is not read as `m`.
const UNITS: &[(&str, i64)] = &[
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
    ("w", 7 * 86_400_000),
];

/// Why a duration could not be read: a message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    /// What is wrong (lowercase, no trailing period).
    pub message: String,
    /// How to write it instead.
    pub hint: String,
}

/// Reads `<n><unit>` (units `ms s m h d w`) as milliseconds. Zero is allowed
/// here; callers that need a positive length say so.
pub fn parse_duration(text: &str) -> Result<i64, DurationError> {
    let fail = |message: String| DurationError {
        message,
        hint: "write a whole number and a unit: ms, s, m, h, d or w (e.g. \"2h\", \"7d\")".into(),
    };
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(fail(format!("invalid duration \"{text}\"")));
    }
    let Some(&(_, millis)) = UNITS.iter().find(|(suffix, _)| *suffix == unit) else {
        return Err(fail(match unit {
            "" => format!("duration \"{text}\" has no unit"),
            _ => format!("unknown unit \"{unit}\" in duration \"{text}\""),
        }));
    };
    number
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(millis))
        .ok_or_else(|| fail(format!("duration \"{text}\" is too large")))
}

/// Writes milliseconds in the largest unit up to days that divides them
/// exactly (`86400000` → `1d`, `5400000` → `90m`, a week → `7d`, as windows
/// are usually written); the inverse of [`parse_duration`].
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (suffix, size) = UNITS
        .iter()
        .rev()
        .filter(|(suffix, _)| *suffix != "w")
        .find(|(_, size)| ms % size == 0)
        .copied()
        .unwrap_or(("ms", 1));
    format!("{}{suffix}", ms / size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_unit() {
        for (text, ms) in [
            ("250ms", 250),
            ("30s", 30_000),
            ("15m", 900_000),
            ("2h", 7_200_000),
            ("7d", 604_800_000),
            ("2w", 1_209_600_000),
            ("0s", 0),
            (" 3d ", 259_200_000),
        ] {
            assert_eq!(parse_duration(text), Ok(ms), "{text}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for (text, message) in [
            ("", "invalid duration \"\""),
            ("d", "invalid duration \"d\""),
            ("-2h", "invalid duration \"-2h\""),
            ("1.5h", "unknown unit \".5h\" in duration \"1.5h\""),
            ("7", "duration \"7\" has no unit"),
            ("7 days", "unknown unit \" days\" in duration \"7 days\""),
            ("7D", "unknown unit \"D\" in duration \"7D\""),
            (
                "99999999999999999999d",
                "duration \"99999999999999999999d\" is too large",
            ),
            (
                "999999999999999w",
                "duration \"999999999999999w\" is too large",
            ),
        ] {
            assert_eq!(parse_duration(text).unwrap_err().message, message, "{text}");
        }
    }

    #[test]
    fn formats_in_the_largest_exact_unit() {
        for (ms, text) in [
            (0, "0s"),
            (1, "1ms"),
            (1_500, "1500ms"),
            (60_000, "1m"),
            (5_400_000, "90m"),
            (86_400_000, "1d"),
            (604_800_000, "7d"),
            (691_200_000, "8d"),
        ] {
            assert_eq!(format_duration(ms), text);
            assert_eq!(parse_duration(text), Ok(ms));
        }
    }
}

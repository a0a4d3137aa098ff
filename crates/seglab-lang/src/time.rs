//! Dates in the language: `2026-01-31`, `2026-01-31T18:30:00Z`,
//! `2026-01-31T18:30:00+01:00`, `2026-01-31T18:30:00` (UTC), as epoch milliseconds.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

const DAY_MS: i64 = 86_400_000;

/// Reads a date (midnight UTC) or an RFC 3339 datetime (UTC when it has no
/// offset) as milliseconds since the epoch. Years are written with four digits;
/// the range is 0000-01-01 to 9999-12-30 (jiff's).
pub fn parse_date(text: &str) -> Option<i64> {
    let four_digit_year = text.len() >= 10
        && text.as_bytes().get(..4)?.iter().all(u8::is_ascii_digit)
        && text.as_bytes().get(4) == Some(&b'-');
    if !four_digit_year {
        return None;
    }
    if text.len() == 10 {
        let date: Date = text.parse().ok()?;
        return Some(
            date.to_zoned(TimeZone::UTC)
                .ok()?
                .timestamp()
                .as_millisecond(),
        );
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts.as_millisecond());
    }
    let dt: DateTime = text.parse().ok()?;
    let zoned: Zoned = dt.to_zoned(TimeZone::UTC).ok()?;
    Some(zoned.timestamp().as_millisecond())
}

/// Writes epoch milliseconds as [`parse_date`] reads them: `2026-01-31` at
/// midnight UTC, else an RFC 3339 time in UTC (`2026-01-31T18:30:00.250Z`).
/// `None` outside the range [`parse_date`] reads: 0000-01-01 to 9999-12-30.
pub fn format_date(ms: i64) -> Option<String> {
    let ts = Timestamp::from_millisecond(ms).ok()?;
    let zoned = ts.to_zoned(TimeZone::UTC);
    if !(0..=9999).contains(&zoned.year()) {
        return None;
    }
    if ms.rem_euclid(DAY_MS) == 0 {
        Some(zoned.date().to_string())
    } else {
        Some(ts.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("1970-01-02"), Some(DAY_MS));
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_date("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date("1970-01-01T00:00:00.25"), Some(250));
        assert_eq!(parse_date("1969-12-31"), Some(-DAY_MS));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("26-01-01"), None);
        assert_eq!(parse_date("2026-01-01T25:00:00Z"), None);
        assert_eq!(parse_date("2026-01-01Tnope"), None);
    }

    #[test]
    fn formats_round_trip() {
        for ms in [
            0,
            DAY_MS,
            -DAY_MS,
            1_767_225_600_000,
            1_767_225_600_001,
            1_767_225_659_999,
            -62_167_219_200_000, // 0000-01-01
            253_402_128_000_000, // 9999-12-30
        ] {
            let text = format_date(ms).unwrap();
            assert_eq!(parse_date(&text), Some(ms), "{text}");
        }
        assert_eq!(format_date(0).as_deref(), Some("1970-01-01"));
        assert_eq!(format_date(1500).as_deref(), Some("1970-01-01T00:00:01.5Z"));
        assert_eq!(format_date(-62_167_219_200_001), None);
        assert_eq!(format_date(i64::MAX), None);
    }
}

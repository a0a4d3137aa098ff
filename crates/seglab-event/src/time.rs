//! Lenient ISO-8601 timestamps and the clock-skew rules of the SDK protocols.
//!
//! Every instant inside seglab is an `i64` of milliseconds since the Unix epoch.

use jiff::Timestamp;
use jiff::civil::DateTime;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Parses an ISO-8601 / RFC 3339 timestamp the way SDKs send them: `Z` or a numeric
/// offset, 0–9 fraction digits, `T` or a space between date and time, and a missing
/// zone meaning UTC. A bare date means midnight UTC.
pub fn parse_timestamp(s: &str) -> Option<Millis> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Some(ts.as_millisecond());
    }
    // No zone: civil date-time taken as UTC.
    if let Ok(dt) = s.parse::<DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    // Offsets written without a colon (`+0200`) or as `+02`.
    if let Some(fixed) = normalize_offset(s)
        && let Ok(ts) = fixed.parse::<Timestamp>()
    {
        return Some(ts.as_millisecond());
    }
    None
}

/// Rewrites `…+0200` and `…+02` into `…+02:00`.
fn normalize_offset(s: &str) -> Option<String> {
    let t = s.find('T').or_else(|| s.find(' '))?;
    let tail = &s[t..];
    let pos = tail.rfind(['+', '-'])? + t;
    let off = &s[pos + 1..];
    if !off.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let fixed = match off.len() {
        4 => format!("{}{}:{}", &s[..=pos], &off[..2], &off[2..]),
        2 => format!("{}{}:00", &s[..=pos], off),
        _ => return None,
    };
    Some(fixed)
}

/// Formats milliseconds as RFC 3339 in UTC with millisecond precision.
pub fn format_timestamp(ms: Millis) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => ms.to_string(),
    }
}

/// The current wall-clock time in milliseconds.
pub fn now_millis() -> Millis {
    Timestamp::now().as_millisecond()
}

/// Segment's rule: `timestamp = receivedAt - (sentAt - originalTimestamp)`.
/// Without `sentAt` the client timestamp is trusted; without a timestamp the event
/// happened when it was received.
pub fn segment_event_time(
    received_at: Millis,
    sent_at: Option<Millis>,
    original: Option<Millis>,
) -> Millis {
    match (original, sent_at) {
        (Some(orig), Some(sent)) => received_at.saturating_sub(sent.saturating_sub(orig)),
        (Some(orig), None) => orig,
        (None, _) => received_at,
    }
}

/// How far in the future PostHog accepts an event time before clamping it to now.
pub const POSTHOG_FUTURE_LIMIT: Millis = 23 * 3600 * 1000;

/// PostHog's rule: `ts = now + (timestamp - sent_at)`, or `now - offset`; times more
/// than 23 hours ahead of now are clamped to now.
pub fn posthog_event_time(
    now: Millis,
    timestamp: Option<Millis>,
    sent_at: Option<Millis>,
    offset: Option<Millis>,
) -> Millis {
    let ts = match (timestamp, sent_at, offset) {
        (Some(t), Some(sent), _) => now.saturating_add(t.saturating_sub(sent)),
        (Some(t), None, _) => t,
        (None, _, Some(off)) => now.saturating_sub(off),
        (None, _, None) => now,
    };
    if ts > now.saturating_add(POSTHOG_FUTURE_LIMIT) {
        now
    } else {
        ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Millis = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    #[test]
    fn parses_the_forms_sdks_send() {
        let cases = [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.000Z",
            "2026-01-01T00:00:00.000000000Z",
            "2026-01-01T01:00:00+01:00",
            "2026-01-01T01:00:00+0100",
            "2026-01-01T01:00:00+01",
            "2025-12-31T19:00:00-05:00",
            "2026-01-01T00:00:00",
            "2026-01-01 00:00:00",
            "2026-01-01T00:00:00.000000",
            "2026-01-01",
        ];
        for c in cases {
            assert_eq!(parse_timestamp(c), Some(T0), "{c}");
        }
        assert_eq!(parse_timestamp("2026-01-01T00:00:00.5Z"), Some(T0 + 500));
        assert_eq!(
            parse_timestamp("2026-01-01T00:00:00.123456789Z"),
            Some(T0 + 123)
        );
    }

    #[test]
    fn rejects_garbage() {
        for c in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-01-01T25:00:00Z",
            "12345",
        ] {
            assert_eq!(parse_timestamp(c), None, "{c}");
        }
    }

    #[test]
    fn formats_utc_millis() {
        assert_eq!(format_timestamp(T0 + 7), "2026-01-01T00:00:00.007Z");
    }

    #[test]
    fn segment_skew_correction() {
        // Client clock is 10 minutes fast: it stamped the event 1 s before sending.
        let fast = 600_000;
        let orig = T0 + fast;
        let sent = T0 + fast + 1_000;
        let received = T0 + 1_000;
        assert_eq!(segment_event_time(received, Some(sent), Some(orig)), T0);
        assert_eq!(segment_event_time(received, None, Some(orig)), orig);
        assert_eq!(segment_event_time(received, Some(sent), None), received);
    }

    #[test]
    fn posthog_skew_and_clamp() {
        let now = T0;
        assert_eq!(
            posthog_event_time(now, Some(T0 + 5_000), Some(T0 + 6_000), None),
            T0 - 1_000
        );
        assert_eq!(posthog_event_time(now, None, None, Some(2_000)), T0 - 2_000);
        let far = T0 + POSTHOG_FUTURE_LIMIT + 1;
        assert_eq!(posthog_event_time(now, Some(far), None, None), now);
        assert_eq!(posthog_event_time(now, None, None, None), now);
    }
}

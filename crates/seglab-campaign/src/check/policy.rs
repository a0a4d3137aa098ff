//! Reads the `[policy]` table.

use jiff::tz::TimeZone;

use super::campaign::cap;
use super::codes;
use super::read::{Report, Table, tables_of};
use crate::def::{Policy, QuietHours, WhenCapped};

const FIELDS: &[&str] = &[
    "caps",
    "when_capped",
    "quiet_hours",
    "default_timezone",
    "consent_trait",
    "global_holdout",
];

/// Reads a policy (reporting every error in it); `None` when it has one.
pub(crate) fn read(t: &Table<'_, '_>, report: &mut Report) -> Option<Policy> {
    let errors_before = report.errors();
    let elsewhere = |key: &str| {
        (key == "cap")
            .then(|| "policy caps are a list: `caps = [ { max = 2, per = \"1d\" } ]`".to_string())
    };
    t.only(report, FIELDS, &elsewhere);
    let mut caps = Vec::new();
    if let Some(value) = t.get("caps") {
        for c in tables_of(report, value, "caps", "policy.caps") {
            caps.extend(cap(&c, report, true));
        }
    }
    let when_capped = match t.choice(report, "when_capped", &["skip", "defer"]) {
        Some("defer") => WhenCapped::Defer,
        _ => WhenCapped::Skip,
    };
    let quiet_hours = t.str(report, "quiet_hours").and_then(|q| {
        let parsed = parse_quiet_hours(q.text);
        if parsed.is_none() {
            report.invalid(
                "quiet_hours",
                q.text,
                &q.span,
                "write local start and end times as HH:MM-HH:MM, e.g. \"21:00-08:00\"",
            );
        }
        parsed
    });
    let default_timezone = match t.str(report, "default_timezone") {
        Some(tz) if TimeZone::get(tz.text).is_ok() => tz.text.to_owned(),
        Some(tz) => {
            report.error(
                codes::TIMEZONE,
                format!("unknown time zone \"{}\"", tz.text),
                &tz.span,
                Some(
                    "write an IANA zone name, e.g. \"Europe/Paris\" or \"America/New_York\"".into(),
                ),
            );
            String::new()
        }
        None => Policy::default().default_timezone,
    };
    let consent_trait = t.str(report, "consent_trait").map(|c| c.text.to_owned());
    let global_holdout = t.int(report, "global_holdout", 0, 50).unwrap_or(0) as u32;
    (report.errors() == errors_before).then_some(Policy {
        caps,
        when_capped,
        quiet_hours,
        default_timezone,
        consent_trait,
        global_holdout,
    })
}

/// `HH:MM-HH:MM` (24-hour local times, start and end different).
pub(crate) fn parse_quiet_hours(text: &str) -> Option<QuietHours> {
    let minute = |hm: &str| -> Option<u16> {
        let (h, m) = hm.trim().split_once(':')?;
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(h) || !two_digits(m) {
            return None;
        }
        let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (start, end) = text.split_once('-')?;
    let (start_minute, end_minute) = (minute(start)?, minute(end)?);
    (start_minute != end_minute).then_some(QuietHours {
        start_minute,
        end_minute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_hours() {
        let q = |s, e| {
            Some(QuietHours {
                start_minute: s,
                end_minute: e,
            })
        };
        assert_eq!(parse_quiet_hours("21:00-08:00"), q(1260, 480));
        assert_eq!(parse_quiet_hours("00:00-23:59"), q(0, 1439));
        assert_eq!(parse_quiet_hours(" 12:30 - 13:45 "), q(750, 825));
        for bad in [
            "",
            "21-08",
            "21:00",
            "9:00-10:00",
            "24:00-08:00",
            "21:60-08:00",
            "08:00-08:00",
            "aa:bb-cc:dd",
            "+1:00-02:00",
        ] {
            assert_eq!(parse_quiet_hours(bad), None, "{bad}");
        }
    }
}

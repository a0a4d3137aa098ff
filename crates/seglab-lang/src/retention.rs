//! How far back a condition reads, and the warnings for a store that does not
//! keep events that long (its *event retention*).
//!
//! A condition reads the events of an instant range that ends at `now`; the
//! range starts at `now - D` (`in last D`), at a date (`between`), `2D` back
//! (`stopped … for D`), `M` periods back (`regularly`), or at the beginning of
//! time (no window, `first`, `last … before`, `restarted`, RFM, which need
//! every event of the person). Where the start is older than what the store
//! keeps, the answer is computed on fewer events than the definition says:
//! the checker warns (`beyond_retention`) at the construct.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ast::{Condition, Duration, EventQuery, File, Span, TimeTest, TimeUnit, Window};
use crate::catalog::Catalog;
use crate::diagnostic::{Diagnostic, codes};

/// What the store keeps, as the checker sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Events older than `now - keep` are deleted.
    pub keep: Duration,
    /// The instant the check is made at (epoch milliseconds).
    pub now: i64,
}

impl Retention {
    /// The oldest instant whose events are still kept at `now`.
    fn oldest_kept(&self) -> i128 {
        i128::from(self.now) - self.keep.exact_millis()
    }
}

/// A duration written as in the language (`400d`, `12w`, `36h`, …) outside
/// a segment source: configuration values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DurationError {}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Duration, DurationError> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        let unit = match suffix {
            "s" => TimeUnit::Seconds,
            "m" => TimeUnit::Minutes,
            "h" => TimeUnit::Hours,
            "d" => TimeUnit::Days,
            "w" => TimeUnit::Weeks,
            _ => {
                return Err(DurationError(format!(
                    "`{s}` is not a duration: write a whole number and a unit, s m h d or w (e.g. 400d)"
                )));
            }
        };
        let amount: u64 = number.parse().map_err(|_| {
            DurationError(format!(
                "`{s}` is not a duration: write a whole number before the unit (e.g. 400d)"
            ))
        })?;
        let d = Duration { amount, unit };
        if amount == 0 || d.exact_millis() > i128::from(i64::MAX / 2) {
            return Err(DurationError(format!(
                "`{s}` is not a usable duration: it must be more than zero and less than a few million years"
            )));
        }
        Ok(d)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.amount, self.unit.suffix())
    }
}

/// The oldest instant a construct reads at `now`, or why it reads them all.
enum Reach {
    Since(i128),
    Ever(&'static str),
}

fn window_reach(q: &EventQuery, now: i128) -> Reach {
    match &q.window {
        None => Reach::Ever("with no window it counts every event ever tracked"),
        Some(Window::Last { duration }) => Reach::Since(now - duration.exact_millis()),
        Some(Window::Between { start, .. }) => Reach::Since(i128::from(*start)),
    }
}

/// The warnings for `file`'s segments under `catalog.retention`.
pub(crate) fn warnings(file: &File, catalog: &Catalog) -> Vec<Diagnostic> {
    let Some(retention) = catalog.retention else {
        return Vec::new();
    };
    let mut w = Walker {
        retention,
        file,
        catalog,
        out: Vec::new(),
    };
    for def in &file.segments {
        w.condition(&def.condition, def.name.span, true, &mut BTreeSet::new());
    }
    w.out
}

struct Walker<'a> {
    retention: Retention,
    file: &'a File,
    catalog: &'a Catalog,
    out: Vec<Diagnostic>,
}

impl<'a> Walker<'a> {
    /// Walks `c`; `report` is false inside a referenced segment, whose own
    /// constructs are reported once, at the reference.
    fn condition(
        &mut self,
        c: &'a Condition,
        ctx: Span,
        report: bool,
        seen: &mut BTreeSet<&'a str>,
    ) -> bool {
        let now = i128::from(self.retention.now);
        let (reach, span) = match c {
            Condition::And { all: items } | Condition::Or { any: items } => {
                let mut any = false;
                for i in items {
                    any |= self.condition(i, ctx, report, seen);
                }
                return any;
            }
            Condition::Not { condition } => return self.condition(condition, ctx, report, seen),
            Condition::InSegment { segment } => {
                let name = segment.text.as_str();
                if !seen.insert(name) {
                    return false;
                }
                let def = self
                    .file
                    .segments
                    .iter()
                    .find(|d| d.name.text == name)
                    .map(|d| &d.condition)
                    .or_else(|| self.catalog.segments.get(name));
                let Some(def) = def else { return false };
                let beyond = self.condition(def, segment.span, false, seen);
                if beyond && report {
                    self.warn(
                        format!(
                            "segment `{name}` reads events older than the {} this store keeps",
                            self.retention.keep
                        ),
                        segment.span,
                    );
                }
                return beyond;
            }
            Condition::Did { query }
            | Condition::Count { query, .. }
            | Condition::Aggregate { query, .. }
            | Condition::Distinct { query, .. }
            | Condition::Top { query, .. } => (window_reach(query, now), query.events.event.span),
            Condition::First { events, .. } => (
                Reach::Ever("`first` needs the person's very first event"),
                events.as_ref().map_or(ctx, |f| f.event.span),
            ),
            Condition::Last { events, time } => {
                let reach = match time {
                    TimeTest::InLast { duration } => Reach::Since(now - duration.exact_millis()),
                    TimeTest::Between { start, .. } => Reach::Since(i128::from(*start)),
                    TimeTest::Before { .. } => {
                        Reach::Ever("`last … before` needs every event up to then")
                    }
                };
                (reach, events.as_ref().map_or(ctx, |f| f.event.span))
            }
            Condition::Then { first, .. } | Condition::ThenNot { first, .. } => {
                (window_reach(first, now), first.events.event.span)
            }
            Condition::Stopped { events, period } => (
                Reach::Since(now - 2 * period.exact_millis()),
                events.event.span,
            ),
            Condition::Restarted { events, .. } => (
                Reach::Ever("`restarted` needs an event from before the gap, however old"),
                events.event.span,
            ),
            Condition::Regularly {
                events,
                period,
                of_last,
                ..
            } => (
                Reach::Since(now - i128::from(*of_last) * period.exact_millis()),
                events.event.span,
            ),
            Condition::RfmScore { .. } | Condition::RfmCell { .. } => (
                Reach::Ever("RFM scores count every order of every buyer"),
                ctx,
            ),
            Condition::Trait { .. } | Condition::Predicted { .. } => return false,
        };
        let keep = self.retention.keep;
        let message = match reach {
            Reach::Since(t) if t >= self.retention.oldest_kept() => return false,
            Reach::Since(t) => {
                let days = (self.retention.oldest_kept() - t + 86_399_999) / 86_400_000;
                format!(
                    "this reads events up to {days} day{} older than the {keep} this store keeps",
                    if days == 1 { "" } else { "s" }
                )
            }
            Reach::Ever(why) => {
                format!("{why}, but this store keeps events {keep}: older ones are not seen")
            }
        };
        if report {
            self.warn(message, span);
        }
        true
    }

    fn warn(&mut self, message: String, span: Span) {
        let mut d = Diagnostic::warning(codes::BEYOND_RETENTION, message, span);
        d.hint = Some(format!(
            "use a window within {} or keep events longer (`[retention] events` in seglab.toml)",
            self.retention.keep
        ));
        self.out.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    const NOW: i64 = 20_000 * DAY;

    fn warnings_of(source: &str, keep: &str) -> Vec<String> {
        let file = crate::parse(source).expect("parses");
        let mut catalog = Catalog::new();
        catalog.retention = Some(Retention {
            keep: keep.parse().unwrap(),
            now: NOW,
        });
        crate::check(&file, &catalog)
            .into_iter()
            .filter(|d| d.code == codes::BEYOND_RETENTION)
            .map(|d| {
                source[d.span.start as usize..d.span.end as usize].to_owned() + ": " + &d.message
            })
            .collect()
    }

    #[test]
    fn durations_parse_as_in_the_language() {
        let d: Duration = "400d".parse().unwrap();
        assert_eq!(d.millis(), 400 * DAY);
        assert_eq!(d.to_string(), "400d");
        assert_eq!("12w".parse::<Duration>().unwrap().millis(), 84 * DAY);
        for bad in [
            "",
            "400",
            "d",
            "0d",
            "1.5d",
            "-3d",
            "3y",
            "99999999999999999999d",
        ] {
            assert!(bad.parse::<Duration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_within_retention_are_quiet() {
        let source = r#"segment a = did "Order Completed" in last 400d
segment b = stopped "Page Viewed" for 200d and regularly "Page Viewed" 1 per 1w in 4 of last 57
segment c = last_seen in last 30d and trait.plan = "pro"
"#;
        assert_eq!(warnings_of(source, "400d"), Vec::<String>::new());
    }

    #[test]
    fn windows_older_than_retention_warn_at_the_construct() {
        let source = r#"segment a = did "Order Completed" in last 401d
segment b = stopped "Page Viewed" for 201d
segment c = regularly "Page Viewed" 1 per 1w in 4 of last 58
segment d = count("Page Viewed") >= 3
segment e = first_seen in last 7d
"#;
        let w = warnings_of(source, "400d");
        assert_eq!(w.len(), 5, "{w:#?}");
        assert!(
            w[0].starts_with(
                "\"Order Completed\": this reads events up to 1 day older than the 400d"
            ),
            "{}",
            w[0]
        );
        assert!(w[1].contains("2 days older"), "{}", w[1]);
        assert!(w[2].contains("6 days older"), "{}", w[2]);
        assert!(w[3].contains("with no window"), "{}", w[3]);
        assert!(w[4].contains("`first` needs"), "{}", w[4]);
    }

    #[test]
    fn a_reference_to_a_segment_that_reads_too_far_warns_at_the_reference() {
        let source = r#"segment buyers = did "Order Completed"
segment vip = in segment buyers and trait.plan = "pro"
"#;
        let w = warnings_of(source, "30d");
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w[1].starts_with("buyers: segment `buyers` reads events older"),
            "{}",
            w[1]
        );
    }

    #[test]
    fn without_retention_nothing_warns() {
        let file = crate::parse("segment d = count(\"Page Viewed\") >= 3\n").unwrap();
        assert!(crate::check(&file, &Catalog::new()).is_empty());
    }
}

//! The guardrails: pitfalls of a segment worth a warning where it is written
//! and listed. Each check here is a pure function of numbers gathered by
//! [`Insights::guardrails`](crate::Insights::guardrails), so its boundary is
//! tested exactly.
//!
//! - `too_small`: a two-arm test on the segment cannot detect a relative
//!   lift of [`LIFT`] in conversion within [`WEEKS`] weeks (two-sided α =
//!   [`ALPHA`], power [`POWER`]; the sample size of `seglab-stats`). The
//!   baseline is the share of members who ordered in the last `weeks` weeks;
//!   the people a test reaches are today's members plus those who enter by
//!   their own behavior during the test, at the rate of the last
//!   [`ENTRY_RATE_DAYS`] days. Fires when the test needs more people than
//!   that. No members, or no member who ordered, fires with a message saying
//!   so; a baseline so high that the lift would pass 100 % does not fire.
//!   Numbers: `size`, `weeks`, `lift`, `converted`, `baseline`, `entries`
//!   (in the last [`ENTRY_RATE_DAYS`] days, when recorded), `reachable`,
//!   `needed`, `weeks_needed` (at the current pace), and
//!   `minimum_detectable_lift` (what `reachable` people can detect).
//! - `near_duplicate`: Jaccard index above [`NEAR_DUPLICATE_JACCARD`] with
//!   another segment (`other`), one warning on each side. Numbers: `jaccard`,
//!   `intersection`, `size`, `other_size`.
//! - `stale`: nobody entered in the last [`STALE_DAYS`] UTC days (today
//!   included; only when history is recorded), or the definition uses an
//!   event not tracked in the last [`STALE_DAYS`] days (`events`). Numbers:
//!   `days`, `entries` (when recorded).
//! - `small_but_valuable`: under [`SMALL_SHARE`] of people but over
//!   [`VALUABLE_REVENUE_SHARE`] of the revenue of the last
//!   [`REVENUE_WINDOW_DAYS`](crate::REVENUE_WINDOW_DAYS) days: worth a
//!   campaign, not to be ignored. Numbers: `size`, `people`, `share`,
//!   `revenue`, `total_revenue`, `revenue_share`.

use std::collections::{BTreeMap, BTreeSet};

use seglab_lang::ast::Condition;
use seglab_stats::{PowerSpec, minimum_detectable_effect, weeks_needed};
use serde::Serialize;

use crate::overlap::Overlap;
use crate::{Error, ORDER_EVENT, Result};

/// The relative lift in conversion a segment should be able to detect.
pub const LIFT: f64 = 0.10;
/// Two-sided significance level of that test.
pub const ALPHA: f64 = 0.05;
/// Its power.
pub const POWER: f64 = 0.8;
/// How long the test may run.
pub const WEEKS: u32 = 4;
/// Above this Jaccard index two segments are near-duplicates.
pub const NEAR_DUPLICATE_JACCARD: f64 = 0.9;
/// No entry, or an event not tracked, in this many days: stale.
pub const STALE_DAYS: u32 = 30;
/// Under this share of people a segment is small…
pub const SMALL_SHARE: f64 = 0.02;
/// …and over this share of revenue it is valuable.
pub const VALUABLE_REVENUE_SHARE: f64 = 0.10;
/// The rate of new entries is measured over this many days.
pub const ENTRY_RATE_DAYS: u32 = 28;

/// What the guardrails compare with. [`Thresholds::default`] is the
/// constants of this module.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    pub lift: f64,
    pub alpha: f64,
    pub power: f64,
    pub weeks: u32,
    pub near_duplicate: f64,
    pub stale_days: u32,
    pub small_share: f64,
    pub valuable_revenue_share: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            lift: LIFT,
            alpha: ALPHA,
            power: POWER,
            weeks: WEEKS,
            near_duplicate: NEAR_DUPLICATE_JACCARD,
            stale_days: STALE_DAYS,
            small_share: SMALL_SHARE,
            valuable_revenue_share: VALUABLE_REVENUE_SHARE,
        }
    }
}

impl Thresholds {
    /// Refuses values no check can use.
    pub fn validate(&self) -> Result<()> {
        let open_unit = |name: &str, x: f64| {
            if x > 0.0 && x < 1.0 {
                Ok(())
            } else {
                Err(Error::Invalid(format!(
                    "{name} must be between 0 and 1, not {x}"
                )))
            }
        };
        if !(self.lift > 0.0 && self.lift <= 10.0) {
            return Err(Error::Invalid(format!(
                "the lift must be above 0 and at most 10 (+1,000 %), not {}",
                self.lift
            )));
        }
        open_unit("alpha", self.alpha)?;
        open_unit("power", self.power)?;
        if self.power <= self.alpha {
            return Err(Error::Invalid("power must be above alpha".into()));
        }
        if !(1..=52).contains(&self.weeks) {
            return Err(Error::Invalid(format!(
                "weeks must be from 1 to 52, not {}",
                self.weeks
            )));
        }
        if !(self.near_duplicate > 0.0 && self.near_duplicate <= 1.0) {
            return Err(Error::Invalid(format!(
                "the near-duplicate Jaccard index must be above 0 and at most 1, not {}",
                self.near_duplicate
            )));
        }
        if !(1..=crate::MAX_DAYS).contains(&self.stale_days) {
            return Err(Error::Invalid(format!(
                "stale days must be from 1 to {}, not {}",
                crate::MAX_DAYS,
                self.stale_days
            )));
        }
        open_unit("the small share", self.small_share)?;
        open_unit("the valuable revenue share", self.valuable_revenue_share)
    }
}

/// Which pitfall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    TooSmall,
    NearDuplicate,
    Stale,
    SmallButValuable,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::TooSmall => "too_small",
            Kind::NearDuplicate => "near_duplicate",
            Kind::Stale => "stale",
            Kind::SmallButValuable => "small_but_valuable",
        }
    }
}

/// One warning about one segment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Guardrail {
    pub segment: String,
    pub kind: Kind,
    /// A sentence: what is wrong, with the numbers.
    pub message: String,
    /// The other segment of a near-duplicate (else `None`).
    pub other: Option<String>,
    /// Events the definition uses that were not tracked lately (`stale`).
    pub events: Vec<String>,
    /// What the message was computed from (keys per kind in the module
    /// docs); every value finite.
    pub numbers: BTreeMap<&'static str, f64>,
}

impl Guardrail {
    fn new(segment: &str, kind: Kind, message: String) -> Guardrail {
        Guardrail {
            segment: segment.to_owned(),
            kind,
            message,
            other: None,
            events: Vec::new(),
            numbers: BTreeMap::new(),
        }
    }

    fn number(mut self, key: &'static str, value: f64) -> Guardrail {
        if value.is_finite() {
            self.numbers.insert(key, value);
        }
        self
    }
}

/// `1234567` → `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `0.1` → `10 %`, `0.0325` → `3.2 %`.
pub(crate) fn percent(x: f64) -> String {
    let p = x * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0} %")
    } else {
        format!("{p:.1} %")
    }
}

/// `30 days`, `1 day`.
fn last_days(n: u32) -> String {
    if n == 1 {
        "day".to_owned()
    } else {
        format!("{n} days")
    }
}

/// What [`too_small`] reads of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeFacts {
    pub size: u64,
    /// Members who ordered in the last `weeks` weeks.
    pub converted: u64,
    /// Entries by behavior in the last [`ENTRY_RATE_DAYS`] days (`None`:
    /// nothing recorded).
    pub entries: Option<u64>,
}

/// The `too_small` check (see the module docs).
pub fn too_small(segment: &str, f: &SizeFacts, t: &Thresholds) -> Option<Guardrail> {
    let lift = percent(t.lift);
    let weeks = t.weeks;
    let base = |g: Guardrail| {
        g.number("size", f.size as f64)
            .number("weeks", f64::from(weeks))
            .number("lift", t.lift)
            .number("converted", f.converted as f64)
    };
    if f.size == 0 {
        return Some(base(Guardrail::new(
            segment,
            Kind::TooSmall,
            format!("no members: a +{lift} lift cannot be measured on nobody"),
        )));
    }
    if f.converted == 0 {
        return Some(base(Guardrail::new(
            segment,
            Kind::TooSmall,
            format!(
                "no member ordered in the last {weeks} weeks: there is no conversion for a +{lift} lift to improve on"
            ),
        )));
    }
    let baseline = f.converted as f64 / f.size as f64;
    let entering = f.entries.unwrap_or(0) * u64::from(weeks) * 7 / u64::from(ENTRY_RATE_DAYS);
    let reachable = f.size.saturating_add(entering);
    let spec = PowerSpec {
        baseline,
        relative_lift: t.lift,
        alpha: t.alpha,
        power: t.power,
    };
    // Rounded down, so that a test that does not fit in `weeks` says it
    // needs more of them.
    let weekly = (reachable / u64::from(weeks)).max(1);
    // Too high a baseline for the lift (over 100 %): not a matter of size.
    let duration = weeks_needed(&spec, weekly, 2).ok()?;
    if duration.total <= reachable {
        return None;
    }
    let mde = minimum_detectable_effect(reachable / 2, baseline, t.alpha, t.power).ok();
    let pace = match f.entries {
        Some(e) if e > 0 => format!(
            "{} members and {} entering a week",
            thousands(f.size),
            thousands(e * 7 / u64::from(ENTRY_RATE_DAYS))
        ),
        _ => format!("{} members", thousands(f.size)),
    };
    let detects = match mde {
        Some(m) => format!("it can detect lifts of +{} or more", percent(m)),
        None => "no lift it could detect keeps conversion under 100 %".to_owned(),
    };
    let message = format!(
        "cannot detect a +{lift} lift in {weeks} weeks: at its {} conversion a two-arm test needs {} people, it reaches about {} ({pace}); {detects}",
        percent(baseline),
        thousands(duration.total),
        thousands(reachable),
    );
    let mut g = base(Guardrail::new(segment, Kind::TooSmall, message))
        .number("baseline", baseline)
        .number("reachable", reachable as f64)
        .number("needed", duration.total as f64)
        .number("weeks_needed", duration.weeks);
    if let Some(e) = f.entries {
        g = g.number("entries", e as f64);
    }
    if let Some(m) = mde {
        g = g.number("minimum_detectable_lift", m);
    }
    Some(g)
}

/// The `near_duplicate` warnings of the segments named `checked` against
/// every segment of `overlap`.
pub fn near_duplicates(overlap: &Overlap, checked: &[String], t: &Thresholds) -> Vec<Guardrail> {
    let mut out = Vec::new();
    for (i, a) in overlap.segments.iter().enumerate() {
        if !checked.contains(&a.name) {
            continue;
        }
        for (j, b) in overlap.segments.iter().enumerate() {
            let jaccard = overlap.jaccard[i][j];
            if i == j || jaccard <= t.near_duplicate {
                continue;
            }
            let both = overlap.intersections[i][j];
            let mut g = Guardrail::new(
                &a.name,
                Kind::NearDuplicate,
                format!(
                    "nearly the same people as {}: {} in both of {} and {} (Jaccard {jaccard:.2}, over {})",
                    b.name,
                    thousands(both),
                    thousands(a.size),
                    thousands(b.size),
                    t.near_duplicate
                ),
            )
            .number("jaccard", jaccard)
            .number("intersection", both as f64)
            .number("size", a.size as f64)
            .number("other_size", b.size as f64);
            g.other = Some(b.name.clone());
            out.push(g);
        }
    }
    out
}

/// An event a definition uses that was not tracked lately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untracked {
    pub event: String,
    /// Whether it was ever tracked.
    pub ever: bool,
}

/// The `stale` check: `entries` is the number of entries in the last
/// `stale_days` UTC days (`None`: nothing recorded).
pub fn stale(
    segment: &str,
    entries: Option<u64>,
    untracked: &[Untracked],
    t: &Thresholds,
) -> Option<Guardrail> {
    let days = t.stale_days;
    let mut parts = Vec::new();
    if entries == Some(0) {
        parts.push(format!("nobody entered in the last {}", last_days(days)));
    }
    if !untracked.is_empty() {
        let list: Vec<String> = untracked
            .iter()
            .map(|u| {
                format!(
                    "{:?} ({})",
                    u.event,
                    if u.ever {
                        format!("not tracked in the last {}", last_days(days))
                    } else {
                        "never tracked".to_owned()
                    }
                )
            })
            .collect();
        parts.push(format!("uses {}", list.join(", ")));
    }
    if parts.is_empty() {
        return None;
    }
    let mut g =
        Guardrail::new(segment, Kind::Stale, parts.join("; ")).number("days", f64::from(days));
    if let Some(e) = entries {
        g = g.number("entries", e as f64);
    }
    g.events = untracked.iter().map(|u| u.event.clone()).collect();
    Some(g)
}

/// What [`small_but_valuable`] reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueFacts {
    pub size: u64,
    pub people: u64,
    /// The members' revenue in the window.
    pub revenue: f64,
    /// Everyone's revenue in the window.
    pub total_revenue: f64,
}

/// The `small_but_valuable` check (see the module docs).
pub fn small_but_valuable(segment: &str, f: &ValueFacts, t: &Thresholds) -> Option<Guardrail> {
    if f.people == 0 || f.total_revenue <= 0.0 {
        return None;
    }
    let share = f.size as f64 / f.people as f64;
    let revenue_share = f.revenue / f.total_revenue;
    if !(share < t.small_share && revenue_share > t.valuable_revenue_share) {
        return None;
    }
    let message = format!(
        "{} of people but {} of revenue: worth a campaign of its own, not to be ignored",
        percent(share),
        percent(revenue_share)
    );
    Some(
        Guardrail::new(segment, Kind::SmallButValuable, message)
            .number("size", f.size as f64)
            .number("people", f.people as f64)
            .number("share", share)
            .number("revenue", f.revenue)
            .number("total_revenue", f.total_revenue)
            .number("revenue_share", revenue_share),
    )
}

/// The events a condition reads, sorted (RFM reads orders; `in segment`
/// is left to the segment named).
pub fn events_used(condition: &Condition) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    condition.walk(|c| {
        let names: Vec<&str> = match c {
            Condition::Did { query }
            | Condition::Count { query, .. }
            | Condition::Aggregate { query, .. }
            | Condition::Distinct { query, .. }
            | Condition::Top { query, .. } => vec![&query.events.event.text],
            Condition::First { events, .. } | Condition::Last { events, .. } => {
                events.iter().map(|f| f.event.text.as_str()).collect()
            }
            Condition::Then { first, then, .. } | Condition::ThenNot { first, then, .. } => {
                vec![&first.events.event.text, &then.event.text]
            }
            Condition::Stopped { events, .. }
            | Condition::Restarted { events, .. }
            | Condition::Regularly { events, .. } => vec![&events.event.text],
            Condition::RfmScore { .. } | Condition::RfmCell { .. } => vec![ORDER_EVENT],
            _ => Vec::new(),
        };
        out.extend(names.into_iter().map(str::to_owned));
    });
    out
}

#[cfg(test)]
mod tests;

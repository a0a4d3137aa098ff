//! Policies and arbitration: which of the campaigns due for one person are
//! sent now, skipped or deferred, by which rule, and why in one sentence.
//!
//! The campaigns due are decided in priority order (higher first, then by
//! name); a send decided counts toward the caps of the ones decided after it.
//! The rules, in order, each with the id recorded with the decision:
//!
//! | rule | applies to | outcome |
//! |---|---|---|
//! | `suppressed` | every send (the list for every channel, or for this one; an address that bounced while it is theirs) | skip |
//! | `unsubscribed.<channel>` | every send | skip |
//! | `no_address` | every send | skip |
//! | `consent` | marketing email | skip |
//! | `not_due` | every send | defer to its due time |
//! | `cap.campaign` | marketing | skip or defer (`when_capped`) |
//! | `cap.<channel or any>.<per>` | marketing | skip or defer (`when_capped`) |
//! | `quiet_hours` | marketing email and webhook | defer to the end of quiet hours |
//!
//! A send no rule holds back has rule `ok`. Transactional campaigns skip
//! consent, caps and quiet hours, and their sends count toward no policy cap.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::def::{CampaignDef, Cap, ChannelKind, Policy, QuietHours, Reentry, WhenCapped};
use crate::duration::format_duration;

/// The trait holding a person's IANA time zone.
pub const TIMEZONE_TRAIT: &str = "timezone";
/// The trait holding a person's email address.
pub const EMAIL_TRAIT: &str = "email";

/// The stable rule ids.
pub mod rules {
    use crate::def::ChannelKind;
    use crate::duration::format_duration;

    /// Sent: no rule held it back.
    pub const OK: &str = "ok";
    /// The person is suppressed (suppression list or bounce).
    pub const SUPPRESSED: &str = "suppressed";
    /// No address for the channel (email without an `email` trait).
    pub const NO_ADDRESS: &str = "no_address";
    /// Marketing email without the consent trait set to `true`.
    pub const CONSENT: &str = "consent";
    /// Due later than now.
    pub const NOT_DUE: &str = "not_due";
    /// The campaign's own cap.
    pub const CAP_CAMPAIGN: &str = "cap.campaign";
    /// Quiet hours in the person's time zone.
    pub const QUIET_HOURS: &str = "quiet_hours";
    /// The campaign's pool of codes is empty (decided where the pool is).
    pub const OFFER_POOL_EMPTY: &str = "offer.pool_empty";

    /// `unsubscribed.email` and so on.
    pub fn unsubscribed(channel: ChannelKind) -> String {
        format!("unsubscribed.{}", channel.as_str())
    }

    /// `cap.any.1d`, `cap.email.7d`: a policy cap.
    pub fn cap(channel: Option<ChannelKind>, per_ms: i64) -> String {
        let channel = channel.map_or("any", ChannelKind::as_str);
        format!("cap.{channel}.{}", format_duration(per_ms))
    }
}

/// What is known of the person a decision is about.
#[derive(Debug, Clone)]
pub struct PersonFacts<'a> {
    /// Their traits (a JSON object): `timezone`, the consent trait, `email`.
    pub traits: &'a Value,
    /// The channels they can be reached on.
    pub has_address: BTreeSet<ChannelKind>,
    /// The channels they unsubscribed from.
    pub unsubscribed: BTreeSet<ChannelKind>,
    /// On the suppression list for every channel: nothing may reach them.
    pub suppressed: bool,
    /// Suppressed on these channels (listed for one channel, or their email
    /// address bounced).
    pub suppressed_on: BTreeSet<ChannelKind>,
}

impl<'a> PersonFacts<'a> {
    /// Facts from traits alone: reachable by email when the `email` trait is
    /// an address ([`email_address`]), by webhook and on-site always; not
    /// unsubscribed, not suppressed.
    pub fn from_traits(traits: &'a Value) -> PersonFacts<'a> {
        let mut has_address = BTreeSet::from([ChannelKind::Webhook, ChannelKind::Onsite]);
        if email_address(traits.get(EMAIL_TRAIT)).is_some() {
            has_address.insert(ChannelKind::Email);
        }
        PersonFacts {
            traits,
            has_address,
            unsubscribed: BTreeSet::new(),
            suppressed: false,
            suppressed_on: BTreeSet::new(),
        }
    }
}

/// The email address in an `email` trait: the trait, trimmed, when it has
/// an `@` (what email is sent to; without one, email is skipped).
pub fn email_address(email: Option<&Value>) -> Option<&str> {
    email?.as_str().map(str::trim).filter(|e| e.contains('@'))
}

/// A campaign due for the person.
#[derive(Debug, Clone, Copy)]
pub struct DueSend<'a> {
    /// The campaign.
    pub campaign: &'a CampaignDef,
    /// When it is due (a send due after `now` is deferred to then).
    pub due_at: i64,
}

/// A send already made to the person, of any age. Leave out the ones that
/// must count toward no cap (the sends of transactional campaigns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastSend {
    /// When it was sent.
    pub at: i64,
    /// The campaign's name.
    pub campaign: String,
    /// Its channel.
    pub channel: ChannelKind,
}

/// What becomes of a due send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Send it now.
    Send,
    /// Do not send it (for this trigger instance).
    Skip,
    /// Decide again at `until` (epoch milliseconds).
    Defer {
        /// When to decide again.
        until: i64,
    },
}

impl Outcome {
    /// `sent`, `skipped` or `deferred`, as recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Send => "sent",
            Outcome::Skip => "skipped",
            Outcome::Defer { .. } => "deferred",
        }
    }
}

/// The decision about one due send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The campaign's name.
    pub campaign: String,
    /// Send, skip or defer.
    pub outcome: Outcome,
    /// The rule that decided ([`rules`]; `ok` when sent).
    pub rule: String,
    /// One sentence for a person: the outcome and why.
    pub explanation: String,
}

/// The person's time zone: their valid `timezone` trait, else the policy's.
struct Zone {
    tz: TimeZone,
    name: String,
    /// Why the trait was not used, when it was set.
    fallback: Option<String>,
}

impl Zone {
    fn of(policy: &Policy, traits: &Value) -> Zone {
        let default = || {
            let name = policy.default_timezone.clone();
            let tz = TimeZone::get(&name).unwrap_or(TimeZone::UTC);
            (tz, name)
        };
        let fallback = match traits.get(TIMEZONE_TRAIT) {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => match TimeZone::get(name) {
                Ok(tz) => {
                    return Zone {
                        tz,
                        name: name.clone(),
                        fallback: None,
                    };
                }
                Err(_) => Some(format!(
                    "the timezone trait \"{name}\" is not a known time zone"
                )),
            },
            Some(other) => Some(format!(
                "the timezone trait {other} is not a time zone name"
            )),
        };
        let (tz, name) = default();
        Zone { tz, name, fallback }
    }

    /// An instant as `2026-12-07T08:00:00+01:00[Europe/Paris]`.
    fn show(&self, ms: i64) -> String {
        Timestamp::from_millisecond(ms)
            .map(|ts| ts.to_zoned(self.tz.clone()).to_string())
            .unwrap_or_else(|_| ms.to_string())
    }
}

/// A send counted by caps.
struct Counted<'a> {
    at: i64,
    campaign: &'a str,
    channel: ChannelKind,
}

/// When `cap` no longer holds back one more send, if it does now: the
/// instant enough of the counted sends have left the window.
fn capped_until(cap: &Cap, times: &mut Vec<i64>, now: i64) -> Option<i64> {
    let since = now.saturating_sub(cap.per_ms);
    times.retain(|&at| at > since);
    let max = cap.max as usize;
    if times.len() < max {
        return None;
    }
    times.sort_unstable();
    // Once the (len - max + 1) oldest have left, one more fits.
    Some(times[times.len() - max].saturating_add(cap.per_ms))
}

/// Whether a local time (minutes after midnight) is in quiet hours.
fn is_quiet(q: QuietHours, minute: u16) -> bool {
    if q.start_minute < q.end_minute {
        (q.start_minute..q.end_minute).contains(&minute)
    } else {
        minute >= q.start_minute || minute < q.end_minute
    }
}

fn local_minute(ms: i64, tz: &TimeZone) -> Option<(u16, jiff::civil::Date)> {
    let zoned = Timestamp::from_millisecond(ms).ok()?.to_zoned(tz.clone());
    Some((
        zoned.hour() as u16 * 60 + zoned.minute() as u16,
        zoned.date(),
    ))
}

/// When quiet hours end, if `now` is in them (local time in `tz`).
fn quiet_until(q: QuietHours, now: i64, tz: &TimeZone) -> Option<i64> {
    let (minute, today) = local_minute(now, tz)?;
    if !is_quiet(q, minute) {
        return None;
    }
    let date = if q.start_minute > q.end_minute && minute >= q.start_minute {
        today.tomorrow().ok()?
    } else {
        today
    };
    let end = q.end_minute;
    let local = date.at((end / 60) as i8, (end % 60) as i8, 0, 0);
    // The first instant after now that the end time names and that is no
    // longer quiet: in a DST fold the end time happens twice, in a gap it is
    // moved past the gap.
    let ambiguous = tz.to_ambiguous_zoned(local);
    [ambiguous.clone().earlier(), ambiguous.later()]
        .into_iter()
        .flatten()
        .map(|z| z.timestamp().as_millisecond())
        .filter(|&t| t > now && local_minute(t, tz).is_some_and(|(m, _)| !is_quiet(q, m)))
        .min()
}

fn minutes(m: u16) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Decides every campaign due for one person now. `history` is the sends
/// already made to them; decisions come back in the order they were made
/// (priority, then name).
pub fn decide(
    policy: &Policy,
    person: &PersonFacts<'_>,
    due: &[DueSend<'_>],
    history: &[PastSend],
    now: i64,
) -> Vec<Decision> {
    let mut order: Vec<&DueSend<'_>> = due.iter().collect();
    order.sort_by(|a, b| {
        b.campaign
            .priority
            .cmp(&a.campaign.priority)
            .then_with(|| a.campaign.name.cmp(&b.campaign.name))
    });
    let mut counted: Vec<Counted<'_>> = history
        .iter()
        .map(|s| Counted {
            at: s.at,
            campaign: &s.campaign,
            channel: s.channel,
        })
        .collect();
    let mut zone: Option<Zone> = None;
    let mut decisions = Vec::with_capacity(order.len());
    for d in order {
        let zone = zone.get_or_insert_with(|| Zone::of(policy, person.traits));
        let (outcome, rule, reason) = decide_one(policy, person, d, &counted, now, zone);
        let explanation = match outcome {
            Outcome::Send => format!("sent: {reason}"),
            Outcome::Skip => format!("skipped: {reason}"),
            Outcome::Defer { until } => format!("deferred to {}: {reason}", zone.show(until)),
        };
        if outcome == Outcome::Send && !d.campaign.transactional {
            counted.push(Counted {
                at: now,
                campaign: &d.campaign.name,
                channel: d.campaign.channel.kind(),
            });
        }
        decisions.push(Decision {
            campaign: d.campaign.name.clone(),
            outcome,
            rule,
            explanation,
        });
    }
    decisions
}

/// One decision: the outcome, the rule and the reason (the explanation
/// without its outcome).
fn decide_one(
    policy: &Policy,
    person: &PersonFacts<'_>,
    due: &DueSend<'_>,
    counted: &[Counted<'_>],
    now: i64,
    zone: &Zone,
) -> (Outcome, String, String) {
    let c = due.campaign;
    let channel = c.channel.kind();
    let skip = |rule: &str, reason: String| (Outcome::Skip, rule.to_owned(), reason);
    if person.suppressed {
        return skip(
            rules::SUPPRESSED,
            "the person is on the suppression list".into(),
        );
    }
    if person.suppressed_on.contains(&channel) {
        let reason = format!(
            "the person is suppressed on {} (the suppression list, a bounce, or the address of a deleted person)",
            channel.as_str()
        );
        return skip(rules::SUPPRESSED, reason);
    }
    if person.unsubscribed.contains(&channel) {
        let reason = format!("the person unsubscribed from {}", channel.as_str());
        return skip(&rules::unsubscribed(channel), reason);
    }
    if !person.has_address.contains(&channel) {
        let reason = match channel {
            ChannelKind::Email => {
                "the person has no email address (no `email` trait with an @)".into()
            }
            other => format!("the person has no {} address", other.as_str()),
        };
        return skip(rules::NO_ADDRESS, reason);
    }
    if !c.transactional
        && channel == ChannelKind::Email
        && let Some(consent) = &policy.consent_trait
    {
        let value = person.traits.get(consent);
        if value != Some(&Value::Bool(true)) {
            let is = value.map_or("not set".to_string(), |v| format!("{v}"));
            let reason =
                format!("marketing email needs the trait {consent} to be true (it is {is})");
            return skip(rules::CONSENT, reason);
        }
    }
    if due.due_at > now {
        return (
            Outcome::Defer { until: due.due_at },
            rules::NOT_DUE.into(),
            "not due yet".into(),
        );
    }
    if c.transactional {
        let reason = "transactional, so exempt from consent, caps and quiet hours".into();
        return (Outcome::Send, rules::OK.into(), reason);
    }
    if let Some(capped) = cap_rule(policy, c, counted, now) {
        return capped;
    }
    let quiet = policy
        .quiet_hours
        .filter(|_| channel != ChannelKind::Onsite)
        .and_then(|q| Some((q, quiet_until(q, now, &zone.tz)?)));
    if let Some((q, until)) = quiet {
        let mut reason = format!(
            "quiet hours {}-{} in {}",
            minutes(q.start_minute),
            minutes(q.end_minute),
            zone.name
        );
        if let Some(why) = &zone.fallback {
            reason += &format!(" ({why}; the policy's default zone applies)");
        }
        return (Outcome::Defer { until }, rules::QUIET_HOURS.into(), reason);
    }
    (
        Outcome::Send,
        rules::OK.into(),
        "no rule holds it back".into(),
    )
}

/// The first cap (the campaign's, then the policy's in order) that holds the
/// send back, as an outcome, rule and reason. When several do, a deferral
/// lasts until every one of them lets it through.
fn cap_rule(
    policy: &Policy,
    c: &CampaignDef,
    counted: &[Counted<'_>],
    now: i64,
) -> Option<(Outcome, String, String)> {
    let channel = c.channel.kind();
    let mut first: Option<(String, String)> = None;
    let mut until = i64::MIN;
    let mut hold = |rule: String, reason: String, at: i64| {
        first.get_or_insert((rule, reason));
        until = until.max(at);
    };
    if let Some(cap) = &c.cap {
        let mut times: Vec<i64> = counted
            .iter()
            .filter(|s| s.campaign == c.name)
            .map(|s| s.at)
            .collect();
        if let Some(at) = capped_until(cap, &mut times, now) {
            let per = format_duration(cap.per_ms);
            let reason = format!(
                "{} of {} in the last {per}; its cap is {} per {per}",
                plural(times.len(), "send"),
                c.name,
                cap.max
            );
            hold(rules::CAP_CAMPAIGN.into(), reason, at);
        }
    }
    for cap in &policy.caps {
        if cap.channel.is_some_and(|ch| ch != channel) {
            continue;
        }
        let mut times: Vec<i64> = counted
            .iter()
            .filter(|s| cap.channel.is_none_or(|ch| ch == s.channel))
            .map(|s| s.at)
            .collect();
        if let Some(at) = capped_until(cap, &mut times, now) {
            let per = format_duration(cap.per_ms);
            let sends = match cap.channel {
                Some(ch) => plural(times.len(), &format!("{} send", ch.as_str())),
                None => plural(times.len(), "send"),
            };
            let scope = cap
                .channel
                .map_or(" (any channel)".to_string(), |_| String::new());
            let reason = format!(
                "{sends} in the last {per}; the cap is {} per {per}{scope}",
                cap.max
            );
            hold(rules::cap(cap.channel, cap.per_ms), reason, at);
        }
    }
    let (rule, reason) = first?;
    let outcome = match policy.when_capped {
        WhenCapped::Skip => Outcome::Skip,
        WhenCapped::Defer => Outcome::Defer { until },
    };
    Some((outcome, rule, reason))
}

/// Whether a person who entered the segment again may get the campaign
/// again, given its last send to them.
pub fn reentry_allows(reentry: Reentry, last_send_of_campaign: Option<i64>, now: i64) -> bool {
    match (reentry, last_send_of_campaign) {
        (_, None) | (Reentry::EveryEntry, _) => true,
        (Reentry::Once, Some(_)) => false,
        (Reentry::AtMostEvery(ms), Some(last)) => now.saturating_sub(last) >= ms,
    }
}

#[cfg(test)]
mod tests;

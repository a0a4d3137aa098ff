use serde_json::json;

use super::*;
use crate::def::{Channel, MessageDef, Trigger};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// Epoch milliseconds of an RFC 3339 time.
fn at(text: &str) -> i64 {
    text.parse::<Timestamp>().unwrap().as_millisecond()
}

fn campaign(name: &str, priority: i32, channel: Channel) -> CampaignDef {
    CampaignDef {
        name: name.into(),
        title: None,
        segment: "s".into(),
        channel,
        priority,
        transactional: false,
        goal: None,
        trigger: Trigger::Decision {
            placement: "p".into(),
        },
        messages: vec![MessageDef {
            name: "a".into(),
            weight: 1,
            subject: "s".into(),
            html: None,
            text: Some("t".into()),
        }],
        personalize: None,
        offer: None,
        cap: None,
        holdout: 0,
    }
}

fn email(name: &str) -> CampaignDef {
    campaign(name, 0, Channel::Email)
}

fn policy() -> Policy {
    Policy {
        default_timezone: "Europe/Paris".into(),
        ..Policy::default()
    }
}

fn sent(at: i64, campaign: &str, channel: ChannelKind) -> PastSend {
    PastSend {
        at,
        campaign: campaign.into(),
        channel,
    }
}

/// One line per decision: `campaign outcome rule: explanation`.
fn run(
    policy: &Policy,
    person: &PersonFacts<'_>,
    due: &[&CampaignDef],
    history: &[PastSend],
    now: i64,
) -> Vec<String> {
    let due: Vec<DueSend<'_>> = due
        .iter()
        .map(|c| DueSend {
            campaign: c,
            due_at: now,
        })
        .collect();
    decide(policy, person, &due, history, now)
        .into_iter()
        .map(|d| {
            format!(
                "{} {} {}: {}",
                d.campaign,
                d.outcome.as_str(),
                d.rule,
                d.explanation
            )
        })
        .collect()
}

fn one(policy: &Policy, traits: &Value, c: &CampaignDef, history: &[PastSend], now: i64) -> String {
    run(
        policy,
        &PersonFacts::from_traits(traits),
        &[c],
        history,
        now,
    )
    .remove(0)
}

const NOON: &str = "2026-12-07T12:00:00+01:00";

#[test]
fn suppression_unsubscribe_address_and_consent() {
    let traits = json!({ "email": "a@x.io", "accepts_marketing": true });
    let mut p = policy();
    p.consent_trait = Some("accepts_marketing".into());
    let now = at(NOON);
    let c = email("c");

    let mut person = PersonFacts::from_traits(&traits);
    person.suppressed = true;
    person.unsubscribed.insert(ChannelKind::Email);
    assert_eq!(
        run(&p, &person, &[&c], &[], now),
        ["c skipped suppressed: skipped: the person is on the suppression list"]
    );
    person.suppressed = false;
    person.suppressed_on.insert(ChannelKind::Email);
    assert_eq!(
        run(&p, &person, &[&c], &[], now),
        [
            "c skipped suppressed: skipped: the person is suppressed on email (the suppression list, a bounce, or the address of a deleted person)"
        ]
    );
    person.suppressed_on.clear();
    assert_eq!(
        run(&p, &person, &[&c], &[], now),
        ["c skipped unsubscribed.email: skipped: the person unsubscribed from email"]
    );
    // Unsubscribing from email leaves the other channels.
    let hook = campaign(
        "h",
        0,
        Channel::Webhook {
            url: "https://x".into(),
        },
    );
    assert_eq!(
        run(&p, &person, &[&hook], &[], now),
        ["h sent ok: sent: no rule holds it back"]
    );

    let cases = [
        (
            json!({ "accepts_marketing": true }),
            "c skipped no_address: skipped: the person has no email address (no `email` trait with an @)",
        ),
        (
            json!({ "email": "", "accepts_marketing": true }),
            "c skipped no_address: skipped: the person has no email address (no `email` trait with an @)",
        ),
        (
            json!({ "email": "not an address", "accepts_marketing": true }),
            "c skipped no_address: skipped: the person has no email address (no `email` trait with an @)",
        ),
        (
            json!({ "email": "a@x.io" }),
            "c skipped consent: skipped: marketing email needs the trait accepts_marketing to be true (it is not set)",
        ),
        (
            json!({ "email": "a@x.io", "accepts_marketing": "yes" }),
            "c skipped consent: skipped: marketing email needs the trait accepts_marketing to be true (it is \"yes\")",
        ),
        (
            json!({ "email": "a@x.io", "accepts_marketing": false }),
            "c skipped consent: skipped: marketing email needs the trait accepts_marketing to be true (it is false)",
        ),
        (traits.clone(), "c sent ok: sent: no rule holds it back"),
    ];
    for (traits, expected) in cases {
        assert_eq!(one(&p, &traits, &c, &[], now), expected, "{traits}");
    }
    // Consent is about email: on-site needs none.
    let onsite = campaign("o", 0, Channel::Onsite);
    assert_eq!(
        one(&p, &json!({}), &onsite, &[], now),
        "o sent ok: sent: no rule holds it back"
    );
}

#[test]
fn transactional_is_exempt_from_consent_caps_and_quiet_hours_only() {
    let mut p = policy();
    p.consent_trait = Some("accepts_marketing".into());
    p.caps = vec![Cap {
        channel: None,
        max: 1,
        per_ms: DAY,
    }];
    p.quiet_hours = Some(QuietHours {
        start_minute: 21 * 60,
        end_minute: 8 * 60,
    });
    let mut receipt = email("receipt");
    receipt.transactional = true;
    receipt.cap = Some(Cap {
        channel: None,
        max: 1,
        per_ms: DAY,
    });
    let night = at("2026-12-07T23:00:00+01:00");
    let history = [sent(night - HOUR, "receipt", ChannelKind::Email)];
    let traits = json!({ "email": "a@x.io" });
    assert_eq!(
        one(&p, &traits, &receipt, &history, night),
        "receipt sent ok: sent: transactional, so exempt from consent, caps and quiet hours"
    );
    let mut person = PersonFacts::from_traits(&traits);
    person.unsubscribed.insert(ChannelKind::Email);
    assert_eq!(
        run(&p, &person, &[&receipt], &[], night)[0],
        "receipt skipped unsubscribed.email: skipped: the person unsubscribed from email"
    );
    person.unsubscribed.clear();
    person.suppressed = true;
    assert_eq!(
        run(&p, &person, &[&receipt], &[], night)[0]
            .split(':')
            .next(),
        Some("receipt skipped suppressed")
    );
    assert_eq!(
        one(&p, &json!({}), &receipt, &[], night),
        "receipt skipped no_address: skipped: the person has no email address (no `email` trait with an @)"
    );
}

#[test]
fn campaign_cap_skips_or_defers_until_the_oldest_send_leaves_the_window() {
    let traits = json!({ "email": "a@x.io" });
    let now = at(NOON);
    let mut c = email("c");
    c.cap = Some(Cap {
        channel: None,
        max: 2,
        per_ms: 7 * DAY,
    });
    let history = [
        sent(now - 8 * DAY, "c", ChannelKind::Email), // outside the window
        sent(now - 6 * DAY, "c", ChannelKind::Email),
        sent(now - 2 * DAY, "other", ChannelKind::Email),
        sent(now - DAY, "c", ChannelKind::Email),
    ];
    let mut p = policy();
    assert_eq!(
        one(&p, &traits, &c, &history, now),
        "c skipped cap.campaign: skipped: 2 sends of c in the last 7d; its cap is 2 per 7d"
    );
    p.when_capped = WhenCapped::Defer;
    assert_eq!(
        one(&p, &traits, &c, &history, now),
        "c deferred cap.campaign: deferred to 2026-12-08T12:00:00+01:00[Europe/Paris]: 2 sends of c in the last 7d; its cap is 2 per 7d"
    );
    // At that instant the send 6 days back has left the window.
    assert_eq!(
        one(&p, &traits, &c, &history, now + DAY),
        "c sent ok: sent: no rule holds it back"
    );
    assert_eq!(
        one(&p, &traits, &c, &history, now + DAY - 1)
            .split(' ')
            .nth(1),
        Some("deferred")
    );
    // Three in the window for a cap of 2: two must leave.
    let crowded = [
        sent(now - 5 * DAY, "c", ChannelKind::Email),
        sent(now - 4 * DAY, "c", ChannelKind::Email),
        sent(now - 3 * DAY, "c", ChannelKind::Email),
    ];
    let decisions = decide(
        &p,
        &PersonFacts::from_traits(&traits),
        &[DueSend {
            campaign: &c,
            due_at: now,
        }],
        &crowded,
        now,
    );
    assert_eq!(
        decisions[0].outcome,
        Outcome::Defer {
            until: now + 3 * DAY
        }
    );
}

#[test]
fn policy_caps_by_channel_and_overall() {
    let traits = json!({ "email": "a@x.io" });
    let now = at(NOON);
    let mut p = policy();
    p.caps = vec![
        Cap {
            channel: None,
            max: 3,
            per_ms: DAY,
        },
        Cap {
            channel: Some(ChannelKind::Email),
            max: 1,
            per_ms: DAY,
        },
    ];
    let email_c = email("e");
    let onsite = campaign("o", 0, Channel::Onsite);
    let history = [
        sent(now - HOUR, "x", ChannelKind::Email),
        sent(now - 2 * HOUR, "y", ChannelKind::Onsite),
    ];
    assert_eq!(
        one(&p, &traits, &email_c, &history, now),
        "e skipped cap.email.1d: skipped: 1 email send in the last 1d; the cap is 1 per 1d"
    );
    assert_eq!(
        one(&p, &traits, &onsite, &history, now),
        "o sent ok: sent: no rule holds it back"
    );
    let busy = [
        &history[..],
        &[sent(now - 3 * HOUR, "z", ChannelKind::Webhook)],
    ]
    .concat();
    assert_eq!(
        one(&p, &traits, &onsite, &busy, now),
        "o skipped cap.any.1d: skipped: 3 sends in the last 1d; the cap is 3 per 1d (any channel)"
    );
    // Deferred until every cap lets it through: the email cap frees at
    // now + 23h, the overall one at now + 22h.
    p.when_capped = WhenCapped::Defer;
    let busy = [
        &busy[..],
        &[sent(now - 2 * HOUR, "w", ChannelKind::Webhook)],
    ]
    .concat();
    let due = [DueSend {
        campaign: &email_c,
        due_at: now,
    }];
    let d = &decide(&p, &PersonFacts::from_traits(&traits), &due, &busy, now)[0];
    assert_eq!(
        (d.rule.as_str(), d.outcome),
        (
            "cap.any.1d",
            Outcome::Defer {
                until: now + 23 * HOUR
            }
        )
    );
}

#[test]
fn arbitration_in_priority_order_with_a_cap_of_one() {
    let traits = json!({ "email": "a@x.io" });
    let now = at(NOON);
    let mut p = policy();
    p.caps = vec![Cap {
        channel: None,
        max: 1,
        per_ms: DAY,
    }];
    let low_b = campaign("b_low", 10, Channel::Email);
    let low_a = campaign("a_low", 10, Channel::Email);
    let high = campaign("z_high", 50, Channel::Onsite);
    let mut receipt = campaign("receipt", 100, Channel::Email);
    receipt.transactional = true;
    let out = run(
        &p,
        &PersonFacts::from_traits(&traits),
        &[&low_b, &low_a, &high, &receipt],
        &[],
        now,
    );
    assert_eq!(
        out,
        [
            "receipt sent ok: sent: transactional, so exempt from consent, caps and quiet hours",
            "z_high sent ok: sent: no rule holds it back",
            "a_low skipped cap.any.1d: skipped: 1 send in the last 1d; the cap is 1 per 1d (any channel)",
            "b_low skipped cap.any.1d: skipped: 1 send in the last 1d; the cap is 1 per 1d (any channel)",
        ]
    );
    // A skipped send does not count: with the top one unsubscribed, the next is sent.
    let mut person = PersonFacts::from_traits(&traits);
    person.unsubscribed.insert(ChannelKind::Onsite);
    let out = run(&p, &person, &[&low_b, &low_a, &high], &[], now);
    assert_eq!(out[1], "a_low sent ok: sent: no rule holds it back");
    assert!(out[2].starts_with("b_low skipped cap.any.1d"));
}

/// Quiet hours 21:00-08:00: (person's timezone trait, now, expected line).
fn quiet(cases: &[(Value, &str, &str)]) {
    let mut p = policy();
    p.quiet_hours = Some(QuietHours {
        start_minute: 21 * 60,
        end_minute: 8 * 60,
    });
    let c = email("c");
    for (tz, now, expected) in cases {
        let traits = json!({ "email": "a@x.io", "timezone": tz });
        assert_eq!(one(&p, &traits, &c, &[], at(now)), *expected, "{tz} {now}");
    }
}

#[test]
fn quiet_hours_across_midnight() {
    let sent = "c sent ok: sent: no rule holds it back";
    let paris = "c deferred quiet_hours: deferred to 2026-12-07T08:00:00+01:00[Europe/Paris]: quiet hours 21:00-08:00 in Europe/Paris";
    quiet(&[
        (Value::Null, "2026-12-06T20:59:59+01:00", sent),
        (Value::Null, "2026-12-06T21:00:00+01:00", paris),
        (Value::Null, "2026-12-06T23:59:00+01:00", paris),
        (Value::Null, "2026-12-07T00:00:00+01:00", paris),
        (Value::Null, "2026-12-07T07:59:59+01:00", paris),
        (Value::Null, "2026-12-07T08:00:00+01:00", sent),
        // The person's zone wins over the default.
        (
            json!("Asia/Tokyo"),
            "2026-12-07T23:30:00+09:00",
            "c deferred quiet_hours: deferred to 2026-12-08T08:00:00+09:00[Asia/Tokyo]: quiet hours 21:00-08:00 in Asia/Tokyo",
        ),
        (json!("Asia/Tokyo"), "2026-12-07T01:30:00+01:00", sent), // 09:30 in Tokyo
    ]);
}

#[test]
fn an_invalid_timezone_trait_falls_back_and_says_so() {
    quiet(&[
        (
            json!("Mars/Olympus"),
            "2026-12-06T22:00:00+01:00",
            "c deferred quiet_hours: deferred to 2026-12-07T08:00:00+01:00[Europe/Paris]: quiet hours 21:00-08:00 in Europe/Paris (the timezone trait \"Mars/Olympus\" is not a known time zone; the policy's default zone applies)",
        ),
        (
            json!(5),
            "2026-12-06T22:00:00+01:00",
            "c deferred quiet_hours: deferred to 2026-12-07T08:00:00+01:00[Europe/Paris]: quiet hours 21:00-08:00 in Europe/Paris (the timezone trait 5 is not a time zone name; the policy's default zone applies)",
        ),
    ]);
}

#[test]
fn quiet_hours_on_dst_change_days() {
    let ny = |until: &str| {
        format!(
            "c deferred quiet_hours: deferred to {until}[America/New_York]: quiet hours 21:00-08:00 in America/New_York"
        )
    };
    let tz = || json!("America/New_York");
    quiet(&[
        // 2026-03-08: clocks go from 02:00 EST to 03:00 EDT; a 10-hour night lasts 9.
        (
            tz(),
            "2026-03-07T22:00:00-05:00",
            &ny("2026-03-08T08:00:00-04:00"),
        ),
        (
            tz(),
            "2026-03-08T01:59:00-05:00",
            &ny("2026-03-08T08:00:00-04:00"),
        ),
        (
            tz(),
            "2026-03-08T03:00:00-04:00",
            &ny("2026-03-08T08:00:00-04:00"),
        ),
        (
            tz(),
            "2026-03-08T08:00:00-04:00",
            "c sent ok: sent: no rule holds it back",
        ),
        // 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST.
        (
            tz(),
            "2026-10-31T23:00:00-04:00",
            &ny("2026-11-01T08:00:00-05:00"),
        ),
        (
            tz(),
            "2026-11-01T01:30:00-04:00",
            &ny("2026-11-01T08:00:00-05:00"),
        ),
        (
            tz(),
            "2026-11-01T01:30:00-05:00",
            &ny("2026-11-01T08:00:00-05:00"),
        ),
        (
            tz(),
            "2026-11-01T07:59:00-05:00",
            &ny("2026-11-01T08:00:00-05:00"),
        ),
    ]);
}

#[test]
fn quiet_hours_ending_in_a_gap_or_a_fold() {
    let ny = TimeZone::get("America/New_York").unwrap();
    // Ends at 02:30, which 2026-03-08 skips: the end is after the gap.
    let q = QuietHours {
        start_minute: 22 * 60,
        end_minute: 2 * 60 + 30,
    };
    assert_eq!(
        quiet_until(q, at("2026-03-08T01:00:00-05:00"), &ny),
        Some(at("2026-03-08T03:30:00-04:00"))
    );
    // Ends at 01:30, which 2026-11-01 has twice: the first after now.
    let q = QuietHours {
        start_minute: 22 * 60,
        end_minute: 60 + 30,
    };
    assert_eq!(
        quiet_until(q, at("2026-11-01T01:00:00-04:00"), &ny),
        Some(at("2026-11-01T01:30:00-04:00"))
    );
    assert_eq!(
        quiet_until(q, at("2026-11-01T01:10:00-05:00"), &ny),
        Some(at("2026-11-01T01:30:00-05:00"))
    );
    // Quiet hours within one day.
    let q = QuietHours {
        start_minute: 12 * 60,
        end_minute: 14 * 60,
    };
    let paris = TimeZone::get("Europe/Paris").unwrap();
    assert_eq!(
        quiet_until(q, at("2026-12-07T11:59:00+01:00"), &paris),
        None
    );
    assert_eq!(
        quiet_until(q, at("2026-12-07T12:00:00+01:00"), &paris),
        Some(at("2026-12-07T14:00:00+01:00"))
    );
    assert_eq!(
        quiet_until(q, at("2026-12-07T14:00:00+01:00"), &paris),
        None
    );
}

#[test]
fn onsite_ignores_quiet_hours_and_due_later_is_deferred() {
    let mut p = policy();
    p.quiet_hours = Some(QuietHours {
        start_minute: 21 * 60,
        end_minute: 8 * 60,
    });
    let night = at("2026-12-06T23:00:00+01:00");
    assert_eq!(
        one(
            &p,
            &json!({}),
            &campaign("o", 0, Channel::Onsite),
            &[],
            night
        ),
        "o sent ok: sent: no rule holds it back"
    );
    let c = email("c");
    let traits = json!({ "email": "a@x.io" });
    let due = [DueSend {
        campaign: &c,
        due_at: night + HOUR,
    }];
    let d = &decide(&p, &PersonFacts::from_traits(&traits), &due, &[], night)[0];
    assert_eq!(
        (d.rule.as_str(), d.outcome),
        (
            "not_due",
            Outcome::Defer {
                until: night + HOUR
            }
        )
    );
    assert_eq!(
        d.explanation,
        "deferred to 2026-12-07T00:00:00+01:00[Europe/Paris]: not due yet"
    );
}

#[test]
fn reentry() {
    let cases = [
        (Reentry::Once, None, true),
        (Reentry::Once, Some(0), false),
        (Reentry::EveryEntry, Some(99), true),
        (Reentry::AtMostEvery(30 * DAY), None, true),
        (
            Reentry::AtMostEvery(30 * DAY),
            Some(100 * DAY - 30 * DAY),
            true,
        ),
        (
            Reentry::AtMostEvery(30 * DAY),
            Some(100 * DAY - 30 * DAY + 1),
            false,
        ),
    ];
    for (reentry, last, expected) in cases {
        assert_eq!(
            reentry_allows(reentry, last, 100 * DAY),
            expected,
            "{reentry:?} {last:?}"
        );
    }
}

#[test]
fn rule_ids() {
    assert_eq!(
        rules::unsubscribed(ChannelKind::Webhook),
        "unsubscribed.webhook"
    );
    assert_eq!(rules::cap(None, DAY), "cap.any.1d");
    assert_eq!(
        rules::cap(Some(ChannelKind::Email), 7 * DAY),
        "cap.email.7d"
    );
    assert_eq!(
        rules::cap(Some(ChannelKind::Email), 36 * HOUR),
        "cap.email.36h"
    );
}

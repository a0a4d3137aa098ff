//! Reads one `[[campaign]]` table.

use std::ops::Range;

use jiff::Timestamp;
use toml::de::DeValue;

use super::codes;
use super::read::{Report, Str, Table, choice, list};
use crate::def::{
    CampaignDef, Cap, Channel, CodeSource, Goal, Ladder, MessageDef, OfferDef, Reentry, Trigger,
};

const FIELDS: &[&str] = &[
    "name",
    "title",
    "segment",
    "channel",
    "webhook_url",
    "priority",
    "transactional",
    "goal",
    "cap",
    "trigger",
    "personalize",
    "offer",
    "message",
    "holdout",
];
const ENTRY: &[&str] = &["on", "delay", "still_in_segment", "reentry"];
const SCHEDULE: &[&str] = &["on", "at", "every"];
const DECISION: &[&str] = &["on", "placement"];
/// What a campaign or message name may be.
const NAME_RULE: &str = "names are lowercase letters, digits and `_`, starting with a letter";
const MESSAGE: &[&str] = &["name", "weight", "subject", "html", "text"];

/// The default attribution window of a goal: 7 days.
pub(crate) const DEFAULT_GOAL_WITHIN_MS: i64 = 7 * 86_400_000;
/// The ladder's defaults, for fields left out of `[campaign.personalize]`.
pub(crate) const DEFAULT_LADDER: Ladder = Ladder {
    product_views: 2,
    category_views: 3,
    within_ms: 14 * 86_400_000,
};

/// Where the templates of one message are written.
#[derive(Debug, Clone, Default)]
pub(crate) struct MessageSpans {
    /// The string tokens of `subject`, `html` and `text`, in that order.
    pub(crate) parts: [Option<Range<usize>>; 3],
    /// The `[[campaign.message]]` header (or inline table).
    pub(crate) table: Range<usize>,
}

/// A campaign as read: its definition when it has no error, and what the
/// checker needs to look further (names, messages, spans).
pub(crate) struct Read<'a> {
    pub(crate) name: Option<Str<'a>>,
    pub(crate) def: Option<CampaignDef>,
    pub(crate) messages: Vec<MessageDef>,
    pub(crate) message_spans: Vec<MessageSpans>,
    pub(crate) offer: Option<OfferDef>,
    pub(crate) offer_span: Option<Range<usize>>,
}

/// Reads a campaign (reporting every error in it).
pub(crate) fn read<'a>(
    t: &Table<'a, '_>,
    report: &mut Report,
    segment_exists: &dyn Fn(&str) -> bool,
) -> Read<'a> {
    let errors_before = report.errors();
    t.only(report, FIELDS, &|_| None);
    let name = t.required_str(report, "name", "\"browse_abandonment\"");
    if let Some(name) = &name {
        check_name(report, name);
    }
    let title = t.str(report, "title").map(|s| s.text.to_owned());
    let segment = t.required_str(report, "segment", "\"segment_name\"");
    if let Some(segment) = &segment {
        check_segment(report, segment, segment_exists);
    }
    let channel = channel(t, report);
    let priority = t.int(report, "priority", i32::MIN.into(), i32::MAX.into());
    let transactional = t.bool(report, "transactional").unwrap_or(false);
    let goal = t.table(report, "goal").and_then(|g| goal(&g, report));
    let cap = t.table(report, "cap").and_then(|c| cap(&c, report, false));
    let trigger = match t.table(report, "trigger") {
        Some(trigger_table) => trigger(&trigger_table, report),
        None => {
            if t.get("trigger").is_none() {
                t.missing(
                    report,
                    "trigger",
                    "add a `[campaign.trigger]` table with `on = \"entry\"`, \"schedule\" or \"decision\"".into(),
                );
            }
            None
        }
    };
    let personalize = t
        .table(report, "personalize")
        .and_then(|p| ladder(&p, report));
    let offer_table = t.table(report, "offer");
    let offer = offer_table.as_ref().and_then(|o| offer(o, report));
    let message_tables = t.tables(report, "message");
    if t.get("message").is_none() {
        t.missing(
            report,
            "message",
            "add a `[[campaign.message]]` table with a `subject` and an `html` or `text`".into(),
        );
    }
    let kind = channel.as_ref().map(Channel::kind);
    let mut messages = Vec::new();
    let mut message_spans = Vec::new();
    for (i, m) in message_tables.iter().enumerate() {
        if let Some((message, spans)) = message(m, i, kind, report) {
            if let Some(first) = messages
                .iter()
                .position(|o: &MessageDef| o.name == message.name)
            {
                report.error(
                    codes::DUPLICATE_NAME,
                    format!("two messages named \"{}\" in one campaign", message.name),
                    &spans.table,
                    Some(format!(
                        "the first is message {}; give each a `name`",
                        first + 1
                    )),
                );
            }
            messages.push(message);
            message_spans.push(spans);
        }
    }
    let holdout = t.int(report, "holdout", 0, 99).unwrap_or(0) as u32;
    if messages.len() == message_tables.len() {
        shares(t, report, &mut messages, holdout);
    }
    let def = match (name.as_ref(), segment, channel, trigger) {
        (Some(name), Some(segment), Some(channel), Some(trigger))
            if report.errors() == errors_before && messages.len() == message_tables.len() =>
        {
            Some(CampaignDef {
                name: name.text.to_owned(),
                title,
                segment: segment.text.to_owned(),
                channel,
                priority: priority.unwrap_or(0) as i32,
                transactional,
                goal,
                trigger,
                messages: messages.clone(),
                personalize,
                offer: offer.clone(),
                cap,
                holdout,
            })
        }
        _ => None,
    };
    Read {
        name,
        def,
        messages,
        message_spans,
        offer,
        offer_span: offer_table.map(|o| o.span),
    }
}

/// Message weights are percentages of the audience: with the holdout they add
/// up to 100. Without any weight the messages share what the holdout leaves
/// equally (the first ones take the remainder).
fn shares(t: &Table<'_, '_>, report: &mut Report, messages: &mut [MessageDef], holdout: u32) {
    if messages.is_empty() {
        return;
    }
    let given = messages.iter().filter(|m| m.weight > 0).count();
    if given == 0 {
        let n = messages.len() as u32;
        let left = 100 - holdout;
        for (i, m) in messages.iter_mut().enumerate() {
            m.weight = left / n + u32::from((i as u32) < left % n);
        }
        if messages.iter().any(|m| m.weight == 0) {
            report.error(
                codes::INVALID,
                format!("{n} messages cannot share {left} %"),
                &t.span,
                Some("lower the holdout or send fewer messages".into()),
            );
        }
        return;
    }
    if given < messages.len() {
        report.error(
            codes::INVALID,
            format!(
                "{given} of {} messages have a `weight`: give every message one, or none",
                messages.len()
            ),
            &t.span,
            Some("weights are percentages of the audience (with the holdout, 100 in all)".into()),
        );
        return;
    }
    let sum: u64 = messages.iter().map(|m| u64::from(m.weight)).sum::<u64>() + u64::from(holdout);
    if sum != 100 {
        report.error(
            codes::INVALID,
            format!("the message weights and the holdout add up to {sum}, not 100"),
            &t.span,
            Some(format!(
                "weights are percentages of the audience; the holdout is {holdout}"
            )),
        );
    }
}

/// `[a-z][a-z0-9_]*`.
pub(crate) fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn check_name(report: &mut Report, name: &Str<'_>) {
    if is_name(name.text) {
        return;
    }
    let fixed: String = name
        .text
        .trim()
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '_',
        })
        .collect();
    let hint = if is_name(&fixed) {
        format!("{NAME_RULE}: \"{fixed}\"")
    } else {
        NAME_RULE.to_string()
    };
    report.invalid("campaign name", name.text, &name.span, hint);
}

fn check_segment(report: &mut Report, segment: &Str<'_>, exists: &dyn Fn(&str) -> bool) {
    if exists(segment.text) {
        return;
    }
    // Cheap guesses at a typo, since the segments can only be asked about.
    let lower = segment.text.trim().to_lowercase();
    let snake = lower.replace(['-', ' ', '.'], "_");
    let guesses = [
        lower.clone(),
        snake.clone(),
        format!("{snake}s"),
        snake.strip_suffix('s').unwrap_or_default().to_owned(),
    ];
    let hint = match guesses
        .iter()
        .find(|g| !g.is_empty() && *g != segment.text && exists(g))
    {
        Some(g) => format!("did you mean \"{g}\"?"),
        None => {
            "segments are defined in `segments/*.seg`; `seglab segments list` shows them".into()
        }
    };
    report.error(
        codes::UNKNOWN_SEGMENT,
        format!("unknown segment \"{}\"", segment.text),
        &segment.span,
        Some(hint),
    );
}

fn channel(t: &Table<'_, '_>, report: &mut Report) -> Option<Channel> {
    let written = t.get("channel").is_some();
    if !written {
        t.missing(
            report,
            "channel",
            "add `channel = \"email\"` (or \"webhook\", \"onsite\")".into(),
        );
    }
    let kind = t.choice(report, "channel", &["email", "webhook", "onsite"]);
    let url = t.str(report, "webhook_url");
    match (kind, url) {
        (Some("webhook"), Some(url)) => {
            if url.text.starts_with("https://") || url.text.starts_with("http://") {
                Some(Channel::Webhook {
                    url: url.text.to_owned(),
                })
            } else {
                report.invalid(
                    "webhook_url",
                    url.text,
                    &url.span,
                    "write an http:// or https:// URL",
                );
                None
            }
        }
        (Some("webhook"), None) => {
            if t.get("webhook_url").is_none() {
                t.missing(
                    report,
                    "webhook_url",
                    "add `webhook_url = \"https://…\"`".into(),
                );
            }
            None
        }
        (Some(other), Some(url)) => {
            report.error(
                codes::INVALID,
                format!("`webhook_url` is only for channel = \"webhook\", not \"{other}\""),
                &url.span,
                Some("remove it, or set `channel = \"webhook\"`".into()),
            );
            None
        }
        (Some("email"), None) => Some(Channel::Email),
        (Some(_), None) => Some(Channel::Onsite),
        (None, _) => None,
    }
}

fn goal(t: &Table<'_, '_>, report: &mut Report) -> Option<Goal> {
    t.only(report, &["event", "within"], &|_| None);
    let event = t.required_str(report, "event", "\"Order Completed\"");
    let within = t.optional("within", || t.duration(report, "within", false));
    Some(Goal {
        event: event?.text.to_owned(),
        within_ms: within?.unwrap_or(DEFAULT_GOAL_WITHIN_MS),
    })
}

/// `{ max, per }`, and `channel` in policy caps.
pub(crate) fn cap(t: &Table<'_, '_>, report: &mut Report, with_channel: bool) -> Option<Cap> {
    let fields: &[&str] = if with_channel {
        &["max", "per", "channel"]
    } else {
        &["max", "per"]
    };
    let elsewhere = |key: &str| {
        (key == "channel" && !with_channel).then(|| {
            "a campaign's cap counts its own sends; channel caps go in `[policy]`".to_string()
        })
    };
    t.only(report, fields, &elsewhere);
    if t.get("max").is_none() {
        t.missing(report, "max", "add `max = 1`".into());
    }
    if t.get("per").is_none() {
        t.missing(report, "per", "add `per = \"7d\"`".into());
    }
    let max = t.int(report, "max", 1, u32::MAX.into());
    let per = t.duration(report, "per", false);
    let channel = match t.choice(report, "channel", &["any", "email", "webhook", "onsite"]) {
        Some("email") => Some(Some(crate::def::ChannelKind::Email)),
        Some("webhook") => Some(Some(crate::def::ChannelKind::Webhook)),
        Some("onsite") => Some(Some(crate::def::ChannelKind::Onsite)),
        Some(_) => Some(None),
        None if t.get("channel").is_some() => None,
        None => Some(None),
    };
    Some(Cap {
        channel: channel?,
        max: u32::try_from(max?).ok()?,
        per_ms: per?,
    })
}

fn trigger(t: &Table<'_, '_>, report: &mut Report) -> Option<Trigger> {
    let on = t.required_str(report, "on", "\"entry\"");
    let on = choice(report, on, "on", &["entry", "schedule", "decision"]);
    let kind_of = |key: &str| {
        [
            ("entry", ENTRY),
            ("schedule", SCHEDULE),
            ("decision", DECISION),
        ]
        .iter()
        .find(|(_, fields)| fields.contains(&key))
        .map(|(kind, _)| format!("`{key}` is for on = \"{kind}\""))
    };
    let Some(on) = on else {
        let every: Vec<&str> = [ENTRY, SCHEDULE, DECISION].concat();
        t.only(report, &every, &|_| None);
        return None;
    };
    match on {
        "entry" => {
            t.only(report, ENTRY, &kind_of);
            let delay = t.optional("delay", || t.duration(report, "delay", true));
            let still = t.bool(report, "still_in_segment");
            let reentry = reentry(t, report);
            Some(Trigger::Entry {
                delay_ms: delay?.unwrap_or(0),
                still_in_segment: still.unwrap_or(true),
                reentry: reentry?,
            })
        }
        "schedule" => {
            t.only(report, SCHEDULE, &kind_of);
            let at = instant(t, report, "at");
            let every = t.optional("every", || t.duration(report, "every", false));
            Some(Trigger::Schedule {
                at: at?,
                every_ms: every?,
            })
        }
        _ => {
            t.only(report, DECISION, &kind_of);
            let placement = t.required_str(report, "placement", "\"home_banner\"")?;
            Some(Trigger::Decision {
                placement: placement.text.to_owned(),
            })
        }
    }
}

fn reentry(t: &Table<'_, '_>, report: &mut Report) -> Option<Reentry> {
    let Some(value) = t.get("reentry") else {
        return Some(Reentry::Once);
    };
    let text = t.str(report, "reentry")?;
    match text.text {
        "once" => Some(Reentry::Once),
        "every_entry" => Some(Reentry::EveryEntry),
        other => match crate::duration::parse_duration(other) {
            Ok(ms) if ms > 0 => Some(Reentry::AtMostEvery(ms)),
            _ => {
                report.invalid("reentry", other, &value.span(), "`reentry` is \"once\", \"every_entry\" or a duration such as \"30d\" (at most once per 30 days)");
                None
            }
        },
    }
}

/// An RFC 3339 instant, written as a string or a TOML datetime.
fn instant(t: &Table<'_, '_>, report: &mut Report, key: &str) -> Option<i64> {
    let Some(value) = t.get(key) else {
        t.missing(
            report,
            key,
            format!("add `{key} = \"2026-12-10T09:00:00Z\"`"),
        );
        return None;
    };
    let text = match value.get_ref() {
        DeValue::Datetime(dt) => dt.to_string(),
        _ => t.str(report, key)?.text.to_owned(),
    };
    match text.parse::<Timestamp>() {
        Ok(ts) => Some(ts.as_millisecond()),
        Err(_) => {
            report.invalid(
                "instant",
                &text,
                &value.span(),
                format!("write an RFC 3339 time with its offset: {key} = \"2026-12-10T09:00:00Z\""),
            );
            None
        }
    }
}

fn ladder(t: &Table<'_, '_>, report: &mut Report) -> Option<Ladder> {
    t.only(
        report,
        &["product_views", "category_views", "within"],
        &|_| None,
    );
    let max = u32::MAX.into();
    let product = t.optional("product_views", || t.int(report, "product_views", 1, max));
    let category = t.optional("category_views", || t.int(report, "category_views", 1, max));
    let within = t.optional("within", || t.duration(report, "within", false));
    Some(Ladder {
        product_views: product?.map_or(DEFAULT_LADDER.product_views, |n| n as u32),
        category_views: category?.map_or(DEFAULT_LADDER.category_views, |n| n as u32),
        within_ms: within?.unwrap_or(DEFAULT_LADDER.within_ms),
    })
}

fn offer(t: &Table<'_, '_>, report: &mut Report) -> Option<OfferDef> {
    t.only(
        report,
        &["code_prefix", "pool", "discount", "valid_for"],
        &|_| None,
    );
    let prefix = t.str(report, "code_prefix");
    let pool = t.bool(report, "pool");
    let discount = t.str(report, "discount").map(|d| d.text.to_owned());
    let valid_for = t.optional("valid_for", || t.duration(report, "valid_for", false));
    let codes = match (prefix, pool) {
        (Some(prefix), Some(true)) => {
            report.error(
                codes::INVALID,
                "an offer takes `code_prefix` or `pool = true`, not both".into(),
                &prefix.span,
                Some("generated codes use the prefix; pooled codes are uploaded".into()),
            );
            None
        }
        (Some(prefix), _) => {
            let ok = !prefix.text.is_empty()
                && prefix.text.len() <= 32
                && prefix
                    .text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                report.invalid(
                    "code_prefix",
                    prefix.text,
                    &prefix.span,
                    "use 1 to 32 letters, digits, `-` or `_`",
                );
            }
            ok.then(|| CodeSource::Generated {
                prefix: prefix.text.to_owned(),
            })
        }
        (None, Some(true)) => Some(CodeSource::Pool),
        (None, _) => {
            if t.get("pool").is_none() {
                t.missing(
                    report,
                    "code_prefix",
                    "add `code_prefix = \"BACK\"` for generated codes, or `pool = true` for uploaded ones".into(),
                );
            } else {
                report.error(
                    codes::INVALID,
                    "an offer with `pool = false` has no codes".into(),
                    &t.span,
                    Some(
                        "add `code_prefix = \"BACK\"` for generated codes, or set `pool = true`"
                            .into(),
                    ),
                );
            }
            None
        }
    };
    Some(OfferDef {
        codes: codes?,
        discount,
        valid_for_ms: valid_for?,
    })
}

/// `a`, `b`, … `z`, `aa`, `ab`, …: the default name of the message at `index`.
pub(crate) fn default_message_name(index: usize) -> String {
    let mut n = index;
    let mut name = Vec::new();
    loop {
        name.push(b'a' + (n % 26) as u8);
        if n < 26 {
            break;
        }
        n = n / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

fn message(
    t: &Table<'_, '_>,
    index: usize,
    channel: Option<crate::def::ChannelKind>,
    report: &mut Report,
) -> Option<(MessageDef, MessageSpans)> {
    let errors_before = report.errors();
    t.only(report, MESSAGE, &|_| None);
    let name = t.str(report, "name");
    if let Some(name) = &name
        && !is_name(name.text)
    {
        report.invalid("message name", name.text, &name.span, NAME_RULE);
    }
    let weight = t.int(report, "weight", 0, u32::MAX.into());
    if weight == Some(0) {
        let at = t
            .get("weight")
            .map(|w| w.span())
            .unwrap_or_else(|| t.span.clone());
        report.error(
            codes::INVALID,
            "`weight` must be at least 1".into(),
            &at,
            Some("remove the message to stop sending it".into()),
        );
    }
    let subject = t.str(report, "subject");
    let html = t.str(report, "html");
    let text = t.str(report, "text");
    let has = |key: &str| t.get(key).is_some();
    match channel {
        Some(crate::def::ChannelKind::Email) => {
            if !has("subject") {
                t.missing(report, "subject", "an email needs `subject = \"…\"`".into());
            }
            if !has("html") && !has("text") {
                t.missing(
                    report,
                    "html",
                    format!("an email needs {} (or both)", list(&["html", "text"])),
                );
            }
        }
        Some(_) if !has("subject") && !has("html") && !has("text") => {
            t.missing(
                report,
                "subject",
                format!("a message needs {}", list(&["subject", "html", "text"])),
            );
        }
        _ => {}
    }
    if report.errors() != errors_before {
        return None;
    }
    let spans = MessageSpans {
        parts: [
            subject.as_ref().map(|s| s.span.clone()),
            html.as_ref().map(|s| s.span.clone()),
            text.as_ref().map(|s| s.span.clone()),
        ],
        table: t.span.clone(),
    };
    let message = MessageDef {
        name: name.map_or_else(|| default_message_name(index), |n| n.text.to_owned()),
        // 0: not given (shares are filled in by the campaign).
        weight: weight.unwrap_or(0) as u32,
        subject: subject.map(|s| s.text.to_owned()).unwrap_or_default(),
        html: html.map(|s| s.text.to_owned()),
        text: text.map(|s| s.text.to_owned()),
    };
    Some((message, spans))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_message_names() {
        let names: Vec<String> = [0, 1, 25, 26, 27, 51, 52, 701, 702]
            .into_iter()
            .map(default_message_name)
            .collect();
        assert_eq!(names, ["a", "b", "z", "aa", "ab", "az", "ba", "zz", "aaa"]);
    }

    #[test]
    fn names() {
        for ok in ["a", "browse_abandonment", "x2"] {
            assert!(is_name(ok), "{ok}");
        }
        for bad in ["", "A", "2x", "_a", "a-b", "a b", "é"] {
            assert!(!is_name(bad), "{bad}");
        }
    }
}

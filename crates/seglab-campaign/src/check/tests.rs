use super::*;
use crate::def::{
    Cap, Channel, ChannelKind, CodeSource, Ladder, QuietHours, Reentry, Trigger, WhenCapped,
};

const SEGMENTS: &[&str] = &["browsers_not_buyers", "buyers", "vips"];

fn exists(name: &str) -> bool {
    SEGMENTS.contains(&name)
}

fn check(files: &[(&str, &str)]) -> Result<Checked, Invalid> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    check_files(&files, &exists)
}

/// The rendered diagnostics of one file `c.toml`.
fn rendered(source: &str) -> String {
    match check(&[("c.toml", source)]) {
        Ok(checked) => panic!("checks, with warnings {:?}", checked.warnings),
        Err(invalid) => invalid.rendered,
    }
}

/// Asserts the first line of every diagnostic (`file:line:col: severity: message`)
/// and its hint.
fn assert_errors(source: &str, expected: &[&str]) {
    let out = rendered(source);
    let got: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with("c.toml:") || l.trim_start().starts_with("= hint:"))
        .map(|l| l.trim_start().to_string())
        .collect();
    assert_eq!(got, expected, "\n{out}");
}

/// A campaign that checks, with `extra` lines added to its `[[campaign]]`
/// table.
fn campaign(extra: &str) -> String {
    format!(
        "[[campaign]]\nname = \"c\"\nsegment = \"buyers\"\nchannel = \"email\"\n{extra}\n[campaign.trigger]\non = \"entry\"\n[[campaign.message]]\nsubject = \"Hi\"\ntext = \"Hello\"\n"
    )
}

const FULL: &str = r#"[policy]
caps = [ { max = 2, per = "1d" }, { max = 5, per = "7d" }, { channel = "email", max = 1, per = "1d" } ]
when_capped = "defer"
quiet_hours = "21:00-08:00"
default_timezone = "Europe/Paris"
consent_trait = "accepts_marketing"

# Browsed, did not buy.
[[campaign]]
name = "browse_abandonment"
title = "We noticed you browsed"
segment = "browsers_not_buyers"
channel = "email"
priority = 50
transactional = false
goal = { event = "Order Completed", within = "7d" }
cap = { max = 1, per = "7d" }
holdout = 10
[campaign.trigger]
on = "entry"
delay = "2h"
still_in_segment = true
reentry = "30d"
[campaign.personalize]
product_views = 2
category_views = 3
within = "14d"
[campaign.offer]
code_prefix = "BACK"
discount = "10%"
valid_for = "72h"
[[campaign.message]]
weight = 60
subject = "Still thinking about {{ pick.product.name }}?"
html = """<p>Hi {{ person.traits.name }}, {{ offer.code }}</p>"""
text = """Hi {{ person.traits.name }}"""
[[campaign.message]]
name = "short"
weight = 30
subject = "{{ offer.discount }} off"
text = 'Code {{ offer.code }}'

[[campaign]]
name = "winter_sale"
segment = "vips"
channel = "webhook"
webhook_url = "https://esp.example/hook"
trigger = { on = "schedule", at = "2026-12-10T09:00:00Z", every = "7d" }
[[campaign.message]]
text = "Sale!"
"#;

#[test]
fn a_full_file_checks() {
    let checked = check(&[("c.toml", FULL)]).unwrap();
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
    let policy = checked.definitions.policy.as_ref().unwrap();
    assert_eq!(
        policy.caps,
        [
            Cap {
                channel: None,
                max: 2,
                per_ms: 86_400_000
            },
            Cap {
                channel: None,
                max: 5,
                per_ms: 7 * 86_400_000
            },
            Cap {
                channel: Some(ChannelKind::Email),
                max: 1,
                per_ms: 86_400_000
            },
        ]
    );
    assert_eq!(policy.when_capped, WhenCapped::Defer);
    assert_eq!(
        policy.quiet_hours,
        Some(QuietHours {
            start_minute: 1260,
            end_minute: 480
        })
    );
    assert_eq!(policy.default_timezone, "Europe/Paris");
    assert_eq!(policy.consent_trait.as_deref(), Some("accepts_marketing"));

    let [browse, sale] = &checked.definitions.campaigns[..] else {
        panic!("two campaigns");
    };
    assert_eq!(browse.name, "browse_abandonment");
    assert_eq!(browse.title.as_deref(), Some("We noticed you browsed"));
    assert_eq!(browse.priority, 50);
    assert_eq!(browse.goal.as_ref().unwrap().within_ms, 7 * 86_400_000);
    assert_eq!(
        browse.cap,
        Some(Cap {
            channel: None,
            max: 1,
            per_ms: 7 * 86_400_000
        })
    );
    assert_eq!(
        browse.trigger,
        Trigger::Entry {
            delay_ms: 7_200_000,
            still_in_segment: true,
            reentry: Reentry::AtMostEvery(30 * 86_400_000)
        }
    );
    assert_eq!(
        browse.personalize,
        Some(Ladder {
            product_views: 2,
            category_views: 3,
            within_ms: 14 * 86_400_000
        })
    );
    let offer = browse.offer.as_ref().unwrap();
    assert_eq!(
        offer.codes,
        CodeSource::Generated {
            prefix: "BACK".into()
        }
    );
    assert_eq!(offer.valid_for_ms, Some(72 * 3_600_000));
    let names: Vec<(&str, u32)> = browse
        .messages
        .iter()
        .map(|m| (m.name.as_str(), m.weight))
        .collect();
    assert_eq!(names, [("a", 60), ("short", 30)]);
    assert_eq!(browse.holdout, 10);
    assert_eq!(
        browse.messages[1].text.as_deref(),
        Some("Code {{ offer.code }}")
    );

    assert_eq!(
        sale.channel,
        Channel::Webhook {
            url: "https://esp.example/hook".into()
        }
    );
    assert_eq!(
        sale.trigger,
        Trigger::Schedule {
            at: 1_796_893_200_000,
            every_ms: Some(7 * 86_400_000)
        }
    );
    assert_eq!(
        (sale.priority, sale.transactional, sale.personalize),
        (0, false, None)
    );
    assert_eq!(sale.messages[0].subject, "");

    let sources: Vec<&str> = checked.sources.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(sources, ["browse_abandonment", "winter_sale"]);
    let browse_source = &checked.sources[0].1;
    assert!(browse_source.starts_with("[[campaign]]\nname = \"browse_abandonment\""));
    assert!(browse_source.ends_with("text = 'Code {{ offer.code }}'"));
    assert!(checked.sources[1].1.ends_with("text = \"Sale!\""));
    assert_eq!(checked.templates.len(), 2);
    assert_eq!(checked.templates["browse_abandonment"].variants(), 2);
}

#[test]
fn defaults() {
    let checked = check(&[("c.toml", &campaign(""))]).unwrap();
    assert_eq!(checked.definitions.policy, None);
    let c = &checked.definitions.campaigns[0];
    assert_eq!(
        c.trigger,
        Trigger::Entry {
            delay_ms: 0,
            still_in_segment: true,
            reentry: Reentry::Once
        }
    );
    assert_eq!((c.priority, c.transactional), (0, false));
    assert_eq!(c.messages[0].name, "a");
    let checked = check(&[(
        "c.toml",
        &campaign("goal = { event = \"X\" }\n[campaign.personalize]"),
    )])
    .unwrap();
    let c = &checked.definitions.campaigns[0];
    assert_eq!(c.goal.as_ref().unwrap().within_ms, 7 * 86_400_000);
    assert_eq!(c.personalize, Some(campaign::DEFAULT_LADDER));
}

#[test]
fn toml_syntax_errors() {
    assert_errors(
        "[[campaign]]\nname = \n",
        &["c.toml:2:8: error: string values must be quoted, expected literal string"],
    );
}

#[test]
fn every_error_with_its_position_and_hint() {
    let on = |trigger: &str| campaign("").replace("on = \"entry\"", trigger);
    let message = |m: &str| campaign("").replace("subject = \"Hi\"\ntext = \"Hello\"", m);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            campaign("segmnt = \"x\""),
            vec![
                "c.toml:5:1: error: unknown field `segmnt` in [[campaign]]",
                "= hint: did you mean `segment`?",
            ],
        ),
        (
            "[[campaign]]\nname = \"c\"\n".into(),
            vec![
                "c.toml:1:1: error: missing field `segment` in [[campaign]]",
                "= hint: add `segment = \"segment_name\"`",
                "c.toml:1:1: error: missing field `channel` in [[campaign]]",
                "= hint: add `channel = \"email\"` (or \"webhook\", \"onsite\")",
                "c.toml:1:1: error: missing field `trigger` in [[campaign]]",
                "= hint: add a `[campaign.trigger]` table with `on = \"entry\"`, \"schedule\" or \"decision\"",
                "c.toml:1:1: error: missing field `message` in [[campaign]]",
                "= hint: add a `[[campaign.message]]` table with a `subject` and an `html` or `text`",
            ],
        ),
        (
            campaign("").replace("name = \"c\"", "name = \"Browse Abandonment\""),
            vec![
                "c.toml:2:8: error: invalid campaign name \"Browse Abandonment\"",
                "= hint: names are lowercase letters, digits and `_`, starting with a letter: \"browse_abandonment\"",
            ],
        ),
        (
            campaign("").replace("buyers", "Buyer"),
            vec![
                "c.toml:3:11: error: unknown segment \"Buyer\"",
                "= hint: did you mean \"buyers\"?",
            ],
        ),
        (
            campaign("").replace("buyers", "nobody"),
            vec![
                "c.toml:3:11: error: unknown segment \"nobody\"",
                "= hint: segments are defined in `segments/*.seg`; `seglab segments list` shows them",
            ],
        ),
        (
            campaign("priority = \"high\"\ntransactional = 1"),
            vec![
                "c.toml:5:12: error: `priority` must be an integer, not a string",
                "c.toml:6:17: error: `transactional` must be true or false, not an integer",
            ],
        ),
        (
            campaign("cap = { max = 0, per = \"7\", channel = \"email\" }"),
            vec![
                "c.toml:5:15: error: `max` must be between 1 and 4294967295",
                "c.toml:5:24: error: duration \"7\" has no unit",
                "= hint: write a whole number and a unit: ms, s, m, h, d or w (e.g. \"2h\", \"7d\")",
                "c.toml:5:29: error: unknown field `channel` in campaign.cap",
                "= hint: a campaign's cap counts its own sends; channel caps go in `[policy]`",
            ],
        ),
        (
            campaign("goal = { event = \"X\", within = 7 }"),
            vec![
                "c.toml:5:32: error: `within` must be a duration string, not an integer",
                "= hint: write a unit and quote it: within = \"7d\"",
            ],
        ),
        (
            on("on = \"schedule\"\nat = \"2026-12-10 09:00\"\ndelay = \"2h\""),
            vec![
                "c.toml:8:6: error: invalid instant \"2026-12-10 09:00\"",
                "= hint: write an RFC 3339 time with its offset: at = \"2026-12-10T09:00:00Z\"",
                "c.toml:9:1: error: unknown field `delay` in campaign.trigger",
                "= hint: `delay` is for on = \"entry\"",
            ],
        ),
        (
            on("on = \"entri\""),
            vec![
                "c.toml:7:6: error: `on` cannot be \"entri\"",
                "= hint: did you mean \"entry\"?",
            ],
        ),
        (
            on("on = \"entry\"\nreentry = \"sometimes\"\ndelay = \"-1h\""),
            vec![
                "c.toml:8:11: error: invalid reentry \"sometimes\"",
                "= hint: `reentry` is \"once\", \"every_entry\" or a duration such as \"30d\" (at most once per 30 days)",
                "c.toml:9:9: error: invalid duration \"-1h\"",
                "= hint: write a whole number and a unit: ms, s, m, h, d or w (e.g. \"2h\", \"7d\")",
            ],
        ),
        (
            on("on = \"decision\""),
            vec![
                "c.toml:6:1: error: missing field `placement` in campaign.trigger",
                "= hint: add `placement = \"home_banner\"`",
            ],
        ),
        (
            campaign("").replace("[campaign.trigger]\non = \"entry\"\n", ""),
            vec![
                "c.toml:1:1: error: missing field `trigger` in [[campaign]]",
                "= hint: add a `[campaign.trigger]` table with `on = \"entry\"`, \"schedule\" or \"decision\"",
            ],
        ),
        (
            campaign("").replace("\"email\"", "\"webhook\""),
            vec![
                "c.toml:1:1: error: missing field `webhook_url` in [[campaign]]",
                "= hint: add `webhook_url = \"https://…\"`",
            ],
        ),
        (
            campaign("").replace("\"email\"", "\"webhook\"\nwebhook_url = \"ftp://x\""),
            vec![
                "c.toml:5:15: error: invalid webhook_url \"ftp://x\"",
                "= hint: write an http:// or https:// URL",
            ],
        ),
        (
            campaign("webhook_url = \"https://x\""),
            vec![
                "c.toml:5:15: error: `webhook_url` is only for channel = \"webhook\", not \"email\"",
                "= hint: remove it, or set `channel = \"webhook\"`",
            ],
        ),
        (
            campaign("").replace("\"email\"", "\"sms\""),
            vec![
                "c.toml:4:11: error: `channel` cannot be \"sms\"",
                "= hint: `channel` is `email`, `webhook` or `onsite`",
            ],
        ),
        (
            message("html = \"x\""),
            vec![
                "c.toml:8:1: error: missing field `subject` in [[campaign.message]]",
                "= hint: an email needs `subject = \"…\"`",
            ],
        ),
        (
            message("subject = \"x\""),
            vec![
                "c.toml:8:1: error: missing field `html` in [[campaign.message]]",
                "= hint: an email needs `html` or `text` (or both)",
            ],
        ),
        (
            message("name = \"x\"").replace("\"email\"", "\"onsite\""),
            vec![
                "c.toml:8:1: error: missing field `subject` in [[campaign.message]]",
                "= hint: a message needs `subject`, `html` or `text`",
            ],
        ),
        (
            message("weight = 0\nsubject = \"Hi\"\ntext = \"x\"\nbody = \"x\""),
            vec![
                "c.toml:9:10: error: `weight` must be at least 1",
                "= hint: remove the message to stop sending it",
                "c.toml:12:1: error: unknown field `body` in [[campaign.message]]",
                "= hint: [[campaign.message]] takes `name`, `weight`, `subject`, `html` or `text`",
            ],
        ),
        (
            message(
                "name = \"x\"\nsubject = \"a\"\ntext = \"a\"\n[[campaign.message]]\nname = \"x\"\nsubject = \"b\"\ntext = \"b\"",
            ),
            vec![
                "c.toml:12:1: error: two messages named \"x\" in one campaign",
                "= hint: the first is message 1; give each a `name`",
            ],
        ),
        (
            campaign("[campaign.offer]\ncode_prefix = \"A B\"\nvalid_for = \"3 days\""),
            vec![
                "c.toml:6:15: error: invalid code_prefix \"A B\"",
                "= hint: use 1 to 32 letters, digits, `-` or `_`",
                "c.toml:7:13: error: unknown unit \" days\" in duration \"3 days\"",
                "= hint: write a whole number and a unit: ms, s, m, h, d or w (e.g. \"2h\", \"7d\")",
            ],
        ),
        (
            campaign("[campaign.offer]\ncode_prefix = \"A\"\npool = true"),
            vec![
                "c.toml:6:15: error: an offer takes `code_prefix` or `pool = true`, not both",
                "= hint: generated codes use the prefix; pooled codes are uploaded",
            ],
        ),
        (
            campaign("[campaign.offer]\ndiscount = \"10%\""),
            vec![
                "c.toml:5:1: error: missing field `code_prefix` in campaign.offer",
                "= hint: add `code_prefix = \"BACK\"` for generated codes, or `pool = true` for uploaded ones",
            ],
        ),
        (
            campaign("[campaign.personalize]\nproduct_views = 0\nwithin = \"0d\""),
            vec![
                "c.toml:6:17: error: `product_views` must be between 1 and 4294967295",
                "c.toml:7:10: error: `within` must be longer than zero",
            ],
        ),
        (
            format!(
                "[policy]\ncaps = [ {{ max = 2, per = \"1d\", channel = \"sms\" }} ]\nwhen_capped = \"wait\"\nquiet_hours = \"9pm-8am\"\ndefault_timezone = \"Europe/Pariss\"\ncap = 1\n\n{}",
                campaign("")
            ),
            vec![
                "c.toml:2:43: error: `channel` cannot be \"sms\"",
                "= hint: `channel` is `any`, `email`, `webhook` or `onsite`",
                "c.toml:3:15: error: `when_capped` cannot be \"wait\"",
                "= hint: `when_capped` is `skip` or `defer`",
                "c.toml:4:15: error: invalid quiet_hours \"9pm-8am\"",
                "= hint: write local start and end times as HH:MM-HH:MM, e.g. \"21:00-08:00\"",
                "c.toml:5:20: error: unknown time zone \"Europe/Pariss\"",
                "= hint: write an IANA zone name, e.g. \"Europe/Paris\" or \"America/New_York\"",
                "c.toml:6:1: error: unknown field `cap` in [policy]",
                "= hint: policy caps are a list: `caps = [ { max = 2, per = \"1d\" } ]`",
            ],
        ),
        (
            format!("{}\n{}", campaign(""), campaign("")),
            vec![
                "c.toml:13:8: error: two campaigns named \"c\"",
                "= hint: first defined at c.toml:2:8",
            ],
        ),
        (
            "campaign = 3\npolicy = []\nname = \"x\"".into(),
            vec![
                "c.toml:1:12: error: `campaign` must be a table, not an integer",
                "= hint: write a `[[campaign]]` header per entry",
                "c.toml:2:10: error: `policy` must be a table",
                "= hint: write one `[policy]` header",
                "c.toml:3:1: error: unknown field `name` in the top level",
                "= hint: a file holds `[[campaign]]` tables and a `[policy]` table; is `name` meant to be under one of them?",
            ],
        ),
    ];
    for (source, expected) in cases {
        assert_errors(&source, &expected);
    }
}

#[test]
fn every_toml_error_is_reported() {
    assert_errors(
        "[[campaign]]\nname = \nx = [\n",
        &[
            "c.toml:2:8: error: string values must be quoted, expected literal string",
            "c.toml:3:6: error: unclosed array, expected `]`",
        ],
    );
}

#[test]
fn template_errors_point_into_the_file() {
    let source = campaign("").replace(
        "text = \"Hello\"",
        "text = \"\"\"\nHello {{ person.traits.name }},\n  {% if pick.product %}{{ pick.product.name }\n\"\"\"",
    );
    assert_eq!(
        rendered(&source),
        "c.toml:12:45: error: template error in the text of message \"a\": unexpected `}`, expected end of variable block
   |
12 |   {% if pick.product %}{{ pick.product.name }
   |                                             ^
   = hint: templates are minijinja (Jinja2): {{ person.traits.name }}, {% if pick.product %}…{% endif %}
"
    );
    // After escapes in a basic string, and an unknown filter (found by a trial render).
    let source = campaign("").replace(
        "text = \"Hello\"",
        "text = \"\\t\\u00e9 {{ person.id | nope }}\"",
    );
    assert_errors(
        &source,
        &[
            "c.toml:10:33: error: template error in the text of message \"a\": filter nope is unknown",
            "= hint: templates are minijinja (Jinja2): {{ person.traits.name }}, {% if pick.product %}…{% endif %}",
        ],
    );
    // In a literal string, in the second message's subject.
    let source = campaign("").replace(
        "text = \"Hello\"",
        "text = \"Hello\"\n[[campaign.message]]\nsubject = 'Hi {% for %}'\ntext = \"x\"",
    );
    assert_errors(
        &source,
        &[
            "c.toml:12:22: error: template error in the subject of message \"b\": unexpected end of block, expected in",
            "= hint: templates are minijinja (Jinja2): {{ person.traits.name }}, {% if pick.product %}…{% endif %}",
        ],
    );
}

#[test]
fn errors_of_every_file_are_reported() {
    let bad = campaign("").replace("buyers", "nobody");
    let err = check(&[
        ("a.toml", &bad),
        ("ok.toml", &campaign("").replace("\"c\"", "\"d\"")),
        ("b.toml", "[policy\n"),
    ])
    .unwrap_err();
    let files: Vec<&str> = err.diagnostics.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(files, ["a.toml", "b.toml"]);
    assert!(
        err.rendered
            .starts_with("a.toml:3:11: error: unknown segment \"nobody\"")
    );
    assert!(
        err.rendered.contains("\nb.toml:1:8: error: "),
        "{}",
        err.rendered
    );
}

#[test]
fn one_policy_across_files() {
    let policy = "[policy]\nquiet_hours = \"21:00-08:00\"\n";
    let err = check(&[("a.toml", policy), ("b.toml", &format!("# x\n{policy}"))]).unwrap_err();
    assert_eq!(
        err.diagnostics
            .iter()
            .map(|(f, d)| (f.as_str(), d.code, d.hint.as_deref().unwrap_or("")))
            .collect::<Vec<_>>(),
        [(
            "b.toml",
            codes::DUPLICATE_POLICY,
            "there is one policy for every campaign; it is first defined at a.toml:1:1"
        )]
    );
    let checked = check(&[("a.toml", policy), ("b.toml", &campaign(""))]).unwrap();
    assert!(checked.definitions.policy.is_some());
    assert_eq!(checked.definitions.campaigns.len(), 1);
}

#[test]
fn campaign_names_are_unique_across_files() {
    let err = check(&[("a.toml", &campaign("")), ("b.toml", &campaign(""))]).unwrap_err();
    assert_eq!(err.diagnostics.len(), 1);
    assert!(
        err.rendered
            .starts_with("b.toml:2:8: error: two campaigns named \"c\"")
    );
    assert!(err.rendered.contains("= hint: first defined at a.toml:2:8"));
}

#[test]
fn warnings_about_variables_and_offers() {
    let source = campaign("").replace(
        "text = \"Hello\"",
        "text = '''{{ persn.name }} {{ offer.code }} {{ pick.product.nmae }} {{ person.traits.x }}'''",
    );
    let checked = check(&[("c.toml", &source)]).unwrap();
    let warnings: Vec<String> = checked
        .warnings
        .iter()
        .map(|(file, d)| {
            let (line, col) = d.line_col(&source);
            format!(
                "{file}:{line}:{col}: {} ({})",
                d.message,
                d.hint.as_deref().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        warnings,
        [
            "c.toml:10:14: unknown variable `persn` (it renders empty) (did you mean `person`?)",
            "c.toml:10:31: `offer` is empty: the campaign has no offer (add a `[campaign.offer]` table)",
            "c.toml:10:48: unknown variable `pick.product.nmae` (it renders empty) (did you mean `pick.product.name`?)",
        ]
    );
    let unused = campaign("[campaign.offer]\npool = true");
    let checked = check(&[("c.toml", &unused)]).unwrap();
    assert_eq!(checked.warnings.len(), 1);
    assert_eq!(checked.warnings[0].1.code, codes::UNUSED_OFFER);
    assert_eq!(checked.warnings[0].1.line_col(&unused), (5, 1));
}

#[test]
fn lenient_forms() {
    // A lone `[campaign.message]` is one message; `at` may be a TOML datetime.
    let source = campaign("")
        .replace("[[campaign.message]]", "[campaign.message]")
        .replace(
            "on = \"entry\"",
            "on = \"schedule\"\nat = 2026-12-10T10:00:00+01:00",
        );
    let checked = check(&[("c.toml", &source)]).unwrap();
    let c = &checked.definitions.campaigns[0];
    assert_eq!(c.messages.len(), 1);
    assert_eq!(
        c.trigger,
        Trigger::Schedule {
            at: 1_796_893_200_000,
            every_ms: None
        }
    );
}

#[test]
fn codes_are_unique() {
    let mut seen = std::collections::BTreeSet::new();
    for code in codes::ALL {
        assert!(seen.insert(*code), "{code} twice");
        assert!(code.starts_with("campaign."));
    }
}

mod never_panics {
    use proptest::prelude::*;

    fn toml_ish() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "[[campaign]]\n",
            "[policy]\n",
            "[campaign.trigger]\n",
            "[[campaign.message]]\n",
            "[campaign.offer]\n",
            "name = \"c\"\n",
            "segment = \"buyers\"\n",
            "channel = \"email\"\n",
            "channel = \"webhook\"\n",
            "on = \"entry\"\n",
            "on = \"schedule\"\n",
            "at = \"x\"\n",
            "subject = \"{{ a\"\n",
            "html = \"\"\"\n{% if %}\n\"\"\"\n",
            "text = '{{ x | y }}'\n",
            "caps = [ { max = 0 } ]\n",
            "quiet_hours = \"25:00-1:00\"\n",
            "delay = \"-1\"\n",
            "weight = 0\n",
            "pool = true\n",
            "code_prefix = \"\"\n",
            "x = [\n",
            "= =\n",
            "\"\\u\"\n",
            "text = \"\\\n  {{ é }}\"\n",
            "priority = 99999999999999999999\n",
            "é",
            "\r\n",
            "'''",
        ]);
        prop::collection::vec(pieces, 0..24).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn check_files_never_panics(a in toml_ish(), b in ".{0,200}") {
            let files = vec![("a.toml".to_string(), a), ("b.toml".to_string(), b)];
            let _ = super::check_files(&files, &|s| s == "buyers");
        }
    }
}

#[test]
fn weights_are_percentages_with_the_holdout() {
    let campaign = |more: &str, messages: &str| {
        format!(
            "[[campaign]]\nname = \"c\"\nsegment = \"vips\"\nchannel = \"onsite\"\n{more}\
             [campaign.trigger]\non = \"decision\"\nplacement = \"p\"\n{messages}"
        )
    };
    let three = "[[campaign.message]]\ntext = \"a\"\n[[campaign.message]]\ntext = \"b\"\n\
                 [[campaign.message]]\ntext = \"c\"\n";
    let weights = |src: &str| -> Vec<u32> {
        let checked = check(&[("c.toml", src)]).unwrap();
        checked.definitions.campaigns[0]
            .messages
            .iter()
            .map(|m| m.weight)
            .collect()
    };
    // No weights: what the holdout leaves, shared (the first take the rest).
    assert_eq!(weights(&campaign("holdout = 10\n", three)), [30, 30, 30]);
    assert_eq!(weights(&campaign("", three)), [34, 33, 33]);
    let err = |src: &str| check(&[("c.toml", src)]).unwrap_err().rendered;
    let some =
        "[[campaign.message]]\nweight = 50\ntext = \"a\"\n[[campaign.message]]\ntext = \"b\"\n";
    assert!(
        err(&campaign("", some)).contains("1 of 2 messages have a `weight`"),
        "{}",
        err(&campaign("", some))
    );
    let off = "[[campaign.message]]\nweight = 50\ntext = \"a\"\n[[campaign.message]]\nweight = 45\ntext = \"b\"\n";
    let e = err(&campaign("holdout = 10\n", off));
    assert!(e.contains("add up to 105, not 100"), "{e}");
    assert!(e.contains("c.toml:1:1"), "{e}");
    let e = err(&campaign("holdout = 100\n", three));
    assert!(e.contains("holdout"), "{e}");
}

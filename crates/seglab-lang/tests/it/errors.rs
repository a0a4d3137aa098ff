//! Every error and warning, as a table: the source, the first diagnostic's code
//! and severity, and where it points (1-based line and column in characters).

use seglab_lang::{Diagnostic, Severity, check, codes, parse};

use crate::support::catalog;

/// Parse errors if any, else the checker's diagnostics against the demo catalog.
fn diagnostics(source: &str) -> Vec<Diagnostic> {
    match parse(source) {
        Err(diags) => diags,
        Ok(file) => check(&file, &catalog()),
    }
}

const E: Severity = Severity::Error;
const W: Severity = Severity::Warning;

#[rustfmt::skip]
const CASES: &[(&str, &str, Severity, usize, usize)] = &[
    // lexical
    (r#"segment a = did "x"#, codes::UNTERMINATED_STRING, E, 1, 17),
    (r#"segment a = did "x\q""#, codes::INVALID_ESCAPE, E, 1, 19),
    (r#"segment a = did "x" @ 1"#, codes::UNEXPECTED_CHARACTER, E, 1, 21),
    ("segment é = did \"x\"", codes::UNEXPECTED_CHARACTER, E, 1, 9),
    (r#"segment a = did “Order Completed”"#, codes::UNEXPECTED_CHARACTER, E, 1, 17),
    (r#"segment a = did "x" in last 30days"#, codes::INVALID_DURATION, E, 1, 29),
    (r#"segment a = did "x" in last 1.5h"#, codes::INVALID_DURATION, E, 1, 29),
    (r#"segment a = did "x" between 2026-02-30 and 2026-03-01"#, codes::INVALID_DATE, E, 1, 29),
    // syntax
    (r#"did "x""#, codes::UNEXPECTED_TOKEN, E, 1, 1),
    (r#"segment = did "x""#, codes::UNEXPECTED_TOKEN, E, 1, 9),
    (r#"segment "Recent" = did "x""#, codes::INVALID_SEGMENT_NAME, E, 1, 9),
    (r#"segment _a = did "x""#, codes::INVALID_SEGMENT_NAME, E, 1, 9),
    ("segment a = did Order", codes::UNEXPECTED_TOKEN, E, 1, 17),
    (r#"segment a = "Order Completed" in last 30d"#, codes::UNEXPECTED_TOKEN, E, 1, 13),
    (r#"segment a = did "Order Completed" AND did "x""#, codes::UNEXPECTED_TOKEN, E, 1, 35),
    (r#"segment a = count("x") >= "2""#, codes::UNEXPECTED_TOKEN, E, 1, 27),
    (r#"segment a = count("x") between 1"#, codes::UNEXPECTED_TOKEN, E, 1, 33),
    (r#"segment a = did "x" where"#, codes::UNEXPECTED_TOKEN, E, 1, 26),
    ("segment a = not", codes::UNEXPECTED_TOKEN, E, 1, 16),
    (r#"segment a = (did "x""#, codes::UNEXPECTED_TOKEN, E, 1, 21),
    (r#"segment a = first("x" in last 30d) in last 30d"#, codes::UNEXPECTED_TOKEN, E, 1, 23),
    (r#"segment a = top("Product Viewed".category) > "x""#, codes::UNEXPECTED_TOKEN, E, 1, 44),
    ("segment a = rfm.x >= 1", codes::UNEXPECTED_TOKEN, E, 1, 17),
    (r#"segment a = did "x" where category = shoes"#, codes::UNEXPECTED_TOKEN, E, 1, 38),
    (r#"segment a = count("x" >= 2"#, codes::UNEXPECTED_TOKEN, E, 1, 23),
    (r#"segment a = did "x" in last 30 d"#, codes::UNEXPECTED_TOKEN, E, 1, 29),
    ("segment a = did \"Order Completed\"\n  then \"Product Added\"", codes::MISSING_WITHIN, E, 2, 3),
    (r#"segment a = did "x" in last 7d then "y" within 1h in last 7d"#, codes::DUPLICATE_WINDOW, E, 1, 51),
    (r#"segment a = did "x" in last 0d"#, codes::ZERO_DURATION, E, 1, 29),
    (r#"segment a = did "x" then not "y" within 0h"#, codes::ZERO_DURATION, E, 1, 41),
    (r#"segment a = did "x" between 2026-02-01 and 2026-01-01"#, codes::EMPTY_RANGE, E, 1, 29),
    (r#"segment a = count("x") between 3 and 1"#, codes::EMPTY_RANGE, E, 1, 24),
    (r#"segment a = regularly "Order Completed" 1 per 7d in 5 of last 4"#, codes::IMPOSSIBLE_REGULARLY, E, 1, 53),
    (r#"segment a = regularly "x" 1 per 7d in 1 of last 99999999999"#, codes::INVALID_NUMBER, E, 1, 49),
    // checks
    (r#"segment a = did "Order Complete""#, codes::UNKNOWN_EVENT, E, 1, 17),
    ("# header\nsegment a =\n    did \"Order Complete\"", codes::UNKNOWN_EVENT, E, 3, 9),
    (r#"segment a "Café ☕" = did "Order Complete""#, codes::UNKNOWN_EVENT, E, 1, 26),
    (r#"segment a = did "Page""#, codes::UNKNOWN_EVENT, E, 1, 17),
    (r#"segment a = did "Order Completed" then "Product Add" within 1h"#, codes::UNKNOWN_EVENT, E, 1, 40),
    (r#"segment a = did "Order Completed" where revnue > 1"#, codes::UNKNOWN_PROPERTY, W, 1, 41),
    (r#"segment a = distinct("Product Viewed".categry) > 1"#, codes::UNKNOWN_PROPERTY, W, 1, 39),
    ("segment a = trait.plam = \"pro\"", codes::UNKNOWN_TRAIT, W, 1, 19),
    ("segment a = in segment vpi", codes::UNKNOWN_SEGMENT, E, 1, 24),
    ("segment a = rfm.r >= 1\nsegment a = rfm.r >= 2", codes::DUPLICATE_SEGMENT, E, 2, 9),
    ("segment a = in segment b\nsegment b = in segment a", codes::SEGMENT_CYCLE, E, 1, 24),
    ("segment a = in segment a", codes::SEGMENT_CYCLE, E, 1, 24),
    (r#"segment a = sum("Order Completed".currency) > 1"#, codes::TYPE_MISMATCH, E, 1, 35),
    (r#"segment a = did "Order Completed" where revenue = "100""#, codes::TYPE_MISMATCH, E, 1, 41),
    (r#"segment a = did "Order Completed" where currency = 1"#, codes::TYPE_MISMATCH, E, 1, 41),
    (r#"segment a = did "Order Completed" where revenue starts_with "1""#, codes::TYPE_MISMATCH, E, 1, 41),
    (r#"segment a = did "Order Completed" where revenue contains "1""#, codes::TYPE_MISMATCH, E, 1, 41),
    (r#"segment a = did "Order Completed" where products = "x""#, codes::TYPE_MISMATCH, E, 1, 41),
    (r#"segment a = did "Order Completed" where revenue in [1, "2"]"#, codes::TYPE_MISMATCH, E, 1, 41),
    (r#"segment a = did "Order Completed" where currency > true"#, codes::TYPE_MISMATCH, E, 1, 41),
    (r#"segment a = top("Order Completed".revenue) = "x""#, codes::TYPE_MISMATCH, E, 1, 35),
    ("segment a = trait.age starts_with \"1\"", codes::TYPE_MISMATCH, E, 1, 19),
    ("segment a = predicted.churnn > 0.5", codes::UNKNOWN_MODEL, E, 1, 23),
    ("segment a = rfm in [Champion]", codes::UNKNOWN_RFM_CELL, E, 1, 21),
    ("segment a = rfm in [Loyal, \"at risk\"]", codes::UNKNOWN_RFM_CELL, E, 1, 28),
    ("segment a = rfm.r >= 6", codes::RFM_SCORE_RANGE, W, 1, 9),
    ("segment a = rfm.m between 0 and 5", codes::RFM_SCORE_RANGE, W, 1, 9),
];

/// The table, plus cases too long to write out.
fn cases() -> Vec<(String, &'static str, Severity, usize, usize)> {
    let mut cases: Vec<_> = CASES
        .iter()
        .map(|&(source, code, severity, line, column)| {
            (source.to_string(), code, severity, line, column)
        })
        .collect();
    // The 101st `(` is one level too many.
    let deep = format!(
        "segment a = {}did \"x\"{}",
        "(".repeat(101),
        ")".repeat(101)
    );
    cases.push((deep, codes::NESTING_TOO_DEEP, E, 1, 113));
    let nots = format!("segment a =\n{}did \"x\"", "not ".repeat(101));
    cases.push((nots, codes::NESTING_TOO_DEEP, E, 2, 401));
    cases
}

#[test]
fn each_mistake_is_reported_where_it_is() {
    let mut failures = Vec::new();
    for (source, code, severity, line, column) in cases() {
        let source = source.as_str();
        let diags = diagnostics(source);
        let Some(first) = diags.first() else {
            failures.push(format!("{source:?}: no diagnostic, expected {code}"));
            continue;
        };
        let got = (first.code, first.severity, first.line_col(source));
        if got != (code, severity, (line, column)) {
            failures.push(format!(
                "{source:?}: expected {code} {severity} at {line}:{column}, got {} {} at {}:{} ({})",
                got.0, got.1, got.2.0, got.2.1, first.message
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn messages_are_lowercase_without_a_trailing_period() {
    for (source, ..) in cases() {
        for d in diagnostics(&source) {
            assert!(codes::ALL.contains(&d.code), "{}", d.code);
            let first = d.message.chars().next().unwrap();
            assert!(!first.is_uppercase(), "{:?}", d.message);
            assert!(!d.message.ends_with('.'), "{:?}", d.message);
        }
    }
}

#[test]
fn every_code_is_exercised() {
    let used: std::collections::BTreeSet<&str> = cases().iter().map(|c| c.1).collect();
    let missing: Vec<&&str> = codes::ALL
        .iter()
        .filter(|c| {
            !used.contains(**c) && **c != codes::EMPTY_GROUP && **c != codes::BEYOND_RETENTION
        })
        .collect();
    // `empty_group` only arises from JSON; it is tested in the checker's unit
    // tests. `beyond_retention` needs a catalog with a retention: it is tested
    // in the retention module's unit tests.
    assert!(missing.is_empty(), "{missing:?}");
}

#[test]
fn suggestions() {
    let cases = [
        (
            r#"segment a = did "Order Complete""#,
            "did you mean \"Order Completed\"?",
        ),
        (
            r#"segment a = did "order completed""#,
            "did you mean \"Order Completed\"?",
        ),
        (
            r#"segment a = did "page""#,
            "`page` calls are tracked as \"Page Viewed\"",
        ),
        (
            r#"segment a = did "Screen""#,
            "`screen` calls are tracked as \"Screen Viewed\"",
        ),
        (
            r#"segment a = did "Order Completed" where revnue > 1"#,
            "did you mean \"revenue\"?",
        ),
        ("segment a = trait.plam = \"pro\"", "did you mean \"plan\"?"),
        (
            "segment vip = rfm.r > 1\nsegment a = in segment vpi",
            "did you mean `vip`?",
        ),
        (
            "segment a = predicted.churnn > 0.5",
            "did you mean \"churn\"?",
        ),
        (
            "segment a = rfm in [\"at risk\"]",
            "did you mean \"At risk\"?",
        ),
        (
            r#"segment a = did "Order Completed" where revenue = "100""#,
            "write the number without quotes: 100",
        ),
        (
            r#"segment a = did "Order Completed" where currency = 1"#,
            "quote the value: \"1\"",
        ),
        (
            r#"segment a = did "x" in last 30days"#,
            "write 30d; units are s, m, h, d and w",
        ),
        (
            r#"segment a = did "x" where category = shoes"#,
            "text values are quoted: \"shoes\"",
        ),
        (
            r#"segment a = did "x" AND did "y""#,
            "keywords are lowercase: `and`",
        ),
        (
            r#"segment a = "Order Completed" in last 30d"#,
            "to test for an event, write did \"Order Completed\"",
        ),
        (
            r#"segment "Recent buyers" = did "x""#,
            "write `segment recent_buyers \"Recent buyers\" = …`: the name, then the quoted title",
        ),
    ];
    for (source, hint) in cases {
        let diags = diagnostics(source);
        assert_eq!(
            diags.first().and_then(|d| d.hint.as_deref()),
            Some(hint),
            "{source}"
        );
    }
}

#[test]
fn every_error_in_a_file_is_reported() {
    let source = "\
segment a = did
segment b = count(\"x\") >= 2 and
segment c = did \"x\" in last 30days
segment d = did \"x\" @
segment e = did \"x\" then \"y\"
segment f = did \"ok\"
";
    let diags = parse(source).unwrap_err();
    let lines: Vec<usize> = diags.iter().map(|d| d.line_col(source).0).collect();
    assert_eq!(lines, vec![1, 2, 3, 4, 5]);
}

#[test]
fn a_fresh_install_accepts_any_event_and_property() {
    let file = parse(r#"segment a = sum("Anything".at_all where x = "y") > 1 and trait.z exists"#)
        .unwrap();
    assert!(check(&file, &seglab_lang::Catalog::new()).is_empty());
}

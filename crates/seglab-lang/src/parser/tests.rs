use super::*;
use crate::ast::TimeUnit;

fn cond(src: &str) -> Condition {
    match parse_condition(src) {
        Ok(c) => c.without_spans(),
        Err(d) => panic!("{src}: {d:?}"),
    }
}

fn error_codes(src: &str) -> Vec<&'static str> {
    match parse(src) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| d.code).collect(),
    }
}

fn days(amount: u64) -> Duration {
    Duration {
        amount,
        unit: TimeUnit::Days,
    }
}

fn did(event: &str) -> Condition {
    Condition::Did {
        query: EventQuery {
            events: EventFilter {
                event: Name::new(event),
                filter: None,
            },
            window: None,
        },
    }
}

#[test]
fn and_binds_tighter_than_or_and_not_tighter_than_and() {
    assert_eq!(
        cond(r#"did "a" or not did "b" and did "c" or did "d""#),
        Condition::Or {
            any: vec![
                did("a"),
                Condition::And {
                    all: vec![
                        Condition::Not {
                            condition: Box::new(did("b"))
                        },
                        did("c")
                    ]
                },
                did("d"),
            ]
        }
    );
}

#[test]
fn parentheses_keep_their_group() {
    assert_eq!(
        cond(r#"(did "a" or did "b") or did "c""#),
        Condition::Or {
            any: vec![
                Condition::Or {
                    any: vec![did("a"), did("b")]
                },
                did("c")
            ]
        }
    );
}

#[test]
fn where_extends_as_far_as_predicates_go() {
    let c = cond(r#"did "E" where a = 1 and b = 2 and in segment vip"#);
    let Condition::And { all } = c else {
        panic!("not an and: {c:?}")
    };
    assert_eq!(all.len(), 2);
    assert!(matches!(
        &all[0],
        Condition::Did { query } if matches!(query.events.filter, Some(Pred::And { .. }))
    ));
    let c = cond(r#"did "E" where a = 1 and trait.plan = "pro""#);
    assert!(matches!(c, Condition::And { .. }));
    let c = cond(r#"did "E" where a = 1 or (b = 2) and not (c exists)"#);
    assert!(matches!(c, Condition::Did { .. }), "{c:?}");
    let c = cond(r#"did "E" where a = 1 and (did "F" or did "G")"#);
    assert!(matches!(c, Condition::And { .. }), "{c:?}");
}

#[test]
fn keywords_can_be_property_names() {
    let c = cond(r#"did "E" where count = 1 and in in ["x"] and exists exists"#);
    let Condition::Did { query } = c else {
        panic!()
    };
    let Some(Pred::And { all }) = query.events.filter else {
        panic!()
    };
    assert_eq!(all.len(), 3);
}

#[test]
fn then_with_a_trailing_window() {
    assert_eq!(
        cond(r#"did "A" then "B" within 1h in last 7d"#),
        cond(r#"did "A" in last 7d then "B" within 1h"#)
    );
    assert_eq!(
        error_codes(r#"segment x = did "A" in last 7d then "B" within 1h in last 7d"#),
        vec![codes::DUPLICATE_WINDOW]
    );
}

#[test]
fn value_errors_do_not_stop_the_parse() {
    assert_eq!(
        error_codes(
            "segment a = did \"E\" in last 0d and count(\"E\") between 3 and 1\n\
             segment b = regularly \"E\" 1 per 7d in 5 of last 4\n\
             segment c = did \"E\" between 2026-02-01 and 2026-01-01"
        ),
        vec![
            codes::ZERO_DURATION,
            codes::EMPTY_RANGE,
            codes::IMPOSSIBLE_REGULARLY,
            codes::EMPTY_RANGE
        ]
    );
}

#[test]
fn recovers_at_the_next_segment() {
    let src = "segment a = did\nsegment b = in segment\nsegment c = count(\"E\") >= 2\nsegment d = did \"E\" then \"F\"";
    let codes_found = error_codes(src);
    assert_eq!(
        codes_found,
        vec![
            codes::UNEXPECTED_TOKEN,
            codes::UNEXPECTED_TOKEN,
            codes::MISSING_WITHIN
        ]
    );
}

#[test]
fn nesting_is_limited() {
    let deep = format!(
        "segment a = {}did \"E\"{}",
        "(".repeat(150),
        ")".repeat(150)
    );
    assert_eq!(error_codes(&deep), vec![codes::NESTING_TOO_DEEP]);
    let nots = format!("segment a = {}did \"E\"", "not ".repeat(10_000));
    assert_eq!(error_codes(&nots), vec![codes::NESTING_TOO_DEEP]);
    let preds = format!(
        "segment a = did \"E\" where {}a exists{}",
        "(not ".repeat(80),
        ")".repeat(80)
    );
    assert_eq!(error_codes(&preds), vec![codes::NESTING_TOO_DEEP]);
    let ok = format!("segment a = {}did \"E\"{}", "(".repeat(99), ")".repeat(99));
    assert!(parse(&ok).is_ok());
}

#[test]
fn segment_names_are_identifiers() {
    assert_eq!(
        error_codes(r#"segment "Recent buyers" = did "E""#),
        vec![codes::INVALID_SEGMENT_NAME]
    );
    assert_eq!(
        error_codes(r#"segment _x = did "E""#),
        vec![codes::INVALID_SEGMENT_NAME]
    );
    assert_eq!(identifier_like("Recent buyers"), "recent_buyers");
    assert_eq!(identifier_like("2x"), "s_2x");
}

#[test]
fn empty_file_is_valid() {
    assert_eq!(parse("# nothing\n").unwrap().segments.len(), 0);
    assert!(parse_condition("").is_err());
}

#[test]
fn first_takes_no_window_inside() {
    assert_eq!(
        error_codes(r#"segment a = first("E" in last 30d) in last 30d"#),
        vec![codes::UNEXPECTED_TOKEN]
    );
    assert_eq!(
        cond(r#"first("E" where a = 1) before 2d ago"#),
        Condition::First {
            events: Some(EventFilter {
                event: Name::new("E"),
                filter: Some(Pred::Cmp {
                    path: Name::new("a"),
                    op: CmpOp::Eq,
                    value: Literal::Number(1.0)
                })
            }),
            time: TimeTest::Before { duration: days(2) }
        }
    );
}

#[test]
fn spans_point_at_names() {
    let file = parse("segment vip = in segment dormant").unwrap();
    let def = &file.segments[0];
    assert_eq!(def.name.span, Span::new(8, 11));
    assert_eq!(def.span, Span::new(0, 32));
    let Condition::InSegment { segment } = &def.condition else {
        panic!()
    };
    assert_eq!(segment.span, Span::new(25, 32));
}

#[test]
fn quoted_and_dotted_paths() {
    let c = cond(r#"trait."first name" exists and sum("E"."a b".c) > 0"#);
    let Condition::And { all } = c else { panic!() };
    assert!(matches!(
        &all[0],
        Condition::Trait { test } if matches!(&test.pred, Pred::Exists { path } if path.text == "first name")
    ));
    assert!(matches!(
        &all[1],
        Condition::Aggregate { property, .. } if property.text == "a b.c"
    ));
}

//! The reference examples: each parses to exactly the tree below, prints in
//! canonical form, and round-trips through print and through JSON.

use seglab_lang::ast::{
    AggFunc, CmpOp, Condition, Duration, EventFilter, EventQuery, Literal, Name, NumTest, Pred,
    RfmDim, TimeTest, TimeUnit, TraitTest, Window,
};
use seglab_lang::{
    File, check, condition_from_json, condition_to_json, from_json, parse, parse_date, print,
    to_json,
};

use crate::support::{EXAMPLES, catalog};

fn name(text: &str) -> Name {
    Name::new(text)
}

fn dur(amount: u64, unit: TimeUnit) -> Duration {
    Duration { amount, unit }
}

fn days(amount: u64) -> Duration {
    dur(amount, TimeUnit::Days)
}

fn filter(event: &str, pred: Option<Pred>) -> EventFilter {
    EventFilter {
        event: name(event),
        filter: pred,
    }
}

fn query(event: &str, pred: Option<Pred>, window: Option<Window>) -> EventQuery {
    EventQuery {
        events: filter(event, pred),
        window,
    }
}

fn in_last(d: Duration) -> Option<Window> {
    Some(Window::Last { duration: d })
}

fn did(event: &str, window: Option<Window>) -> Condition {
    Condition::Did {
        query: query(event, None, window),
    }
}

fn cmp(op: CmpOp, value: f64) -> NumTest {
    NumTest::Cmp { op, value }
}

fn eq(path: &str, value: Literal) -> Pred {
    Pred::Cmp {
        path: name(path),
        op: CmpOp::Eq,
        value,
    }
}

fn s(text: &str) -> Literal {
    Literal::String(text.to_string())
}

fn not(c: Condition) -> Condition {
    Condition::Not {
        condition: Box::new(c),
    }
}

fn expected() -> Vec<(&'static str, Option<&'static str>, Condition)> {
    vec![
        (
            "recent_buyers",
            Some("Recent buyers"),
            did("Order Completed", in_last(days(30))),
        ),
        (
            "repeat_buyers",
            Some("Repeat buyers"),
            Condition::Count {
                query: query("Order Completed", None, None),
                test: cmp(CmpOp::Ge, 2.0),
            },
        ),
        (
            "cart_abandoners",
            Some("Cart abandoners"),
            Condition::ThenNot {
                first: query("Product Added", None, in_last(days(7))),
                then: filter("Order Completed", None),
                within: Some(dur(24, TimeUnit::Hours)),
            },
        ),
        (
            "shoe_browsers",
            Some("Shoe browsers"),
            Condition::And {
                all: vec![
                    Condition::Count {
                        query: query(
                            "Product Viewed",
                            Some(eq("category", s("shoes"))),
                            in_last(days(30)),
                        ),
                        test: cmp(CmpOp::Ge, 3.0),
                    },
                    not(did("Order Completed", in_last(days(30)))),
                ],
            },
        ),
        (
            "vip",
            Some("High value"),
            Condition::Aggregate {
                func: AggFunc::Sum,
                query: query("Order Completed", None, in_last(days(365))),
                property: name("revenue"),
                test: cmp(CmpOp::Ge, 500.0),
            },
        ),
        (
            "dormant",
            Some("Dormant"),
            Condition::And {
                all: vec![
                    Condition::Last {
                        events: None,
                        time: TimeTest::Before { duration: days(60) },
                    },
                    Condition::First {
                        events: None,
                        time: TimeTest::Before { duration: days(60) },
                    },
                ],
            },
        ),
        (
            "new_buyers",
            None,
            Condition::First {
                events: Some(filter("Order Completed", None)),
                time: TimeTest::InLast { duration: days(30) },
            },
        ),
        (
            "lapsed",
            None,
            Condition::Last {
                events: Some(filter("Order Completed", None)),
                time: TimeTest::Before { duration: days(90) },
            },
        ),
        (
            "funnel",
            None,
            Condition::Then {
                first: query("Product Viewed", None, in_last(days(7))),
                then: filter("Product Added", None),
                within: dur(1, TimeUnit::Hours),
            },
        ),
        (
            "open_cart",
            None,
            Condition::ThenNot {
                first: query("Product Added", None, None),
                then: filter("Order Completed", None),
                within: None,
            },
        ),
        (
            "jan",
            None,
            did(
                "Order Completed",
                Some(Window::Between {
                    start: parse_date("2026-01-01").unwrap(),
                    end: parse_date("2026-02-01").unwrap(),
                }),
            ),
        ),
        (
            "multi_cat",
            None,
            Condition::Distinct {
                query: query("Product Viewed", None, in_last(days(30))),
                property: name("category"),
                test: cmp(CmpOp::Ge, 3.0),
            },
        ),
        (
            "shoe_fans",
            None,
            Condition::Top {
                query: query("Product Viewed", None, in_last(days(90))),
                property: name("category"),
                value: s("shoes"),
            },
        ),
        (
            "avg_big",
            None,
            Condition::Aggregate {
                func: AggFunc::Avg,
                query: query("Order Completed", Some(eq("currency", s("USD"))), None),
                property: name("revenue"),
                test: cmp(CmpOp::Gt, 100.0),
            },
        ),
        (
            "stopped_buying",
            None,
            Condition::Stopped {
                events: filter("Order Completed", None),
                period: days(30),
            },
        ),
        (
            "came_back",
            None,
            Condition::Restarted {
                events: filter("Order Completed", None),
                gap: days(60),
            },
        ),
        (
            "weekly",
            None,
            Condition::Regularly {
                events: filter("Order Completed", None),
                times: 1,
                period: days(7),
                at_least: 3,
                of_last: 4,
            },
        ),
        (
            "pro",
            None,
            Condition::And {
                all: vec![
                    Condition::Trait {
                        test: TraitTest {
                            pred: eq("plan", s("pro")),
                        },
                    },
                    Condition::Trait {
                        test: TraitTest {
                            pred: Pred::Exists {
                                path: name("email"),
                            },
                        },
                    },
                ],
            },
        ),
        (
            "engaged_vip",
            None,
            Condition::And {
                all: vec![
                    Condition::InSegment {
                        segment: name("vip"),
                    },
                    not(Condition::InSegment {
                        segment: name("dormant"),
                    }),
                ],
            },
        ),
        (
            "champions",
            None,
            Condition::RfmCell {
                cells: vec![name("Champions"), name("Loyal"), name("At risk")],
            },
        ),
        (
            "high_r",
            None,
            Condition::And {
                all: vec![
                    Condition::RfmScore {
                        dim: RfmDim::R,
                        test: cmp(CmpOp::Ge, 4.0),
                    },
                    Condition::RfmScore {
                        dim: RfmDim::F,
                        test: NumTest::Between {
                            low: 3.0,
                            high: 5.0,
                        },
                    },
                ],
            },
        ),
        (
            "churny",
            None,
            Condition::Predicted {
                model: name("churn"),
                test: cmp(CmpOp::Ge, 0.7),
            },
        ),
        (
            "nested",
            None,
            Condition::Count {
                query: query(
                    "Order Completed",
                    Some(Pred::And {
                        all: vec![
                            Pred::In {
                                path: name("products.category"),
                                values: vec![s("shoes"), s("bags")],
                            },
                            Pred::Not {
                                pred: Box::new(Pred::Exists {
                                    path: name("coupon"),
                                }),
                            },
                        ],
                    }),
                    in_last(dur(1, TimeUnit::Weeks)),
                ),
                test: NumTest::Between {
                    low: 1.0,
                    high: 3.0,
                },
            },
        ),
        (
            "str_ops",
            None,
            Condition::Did {
                query: query(
                    "Page Viewed",
                    Some(Pred::Or {
                        any: vec![
                            Pred::StartsWith {
                                path: name("url"),
                                value: "https://shop".to_string(),
                            },
                            Pred::Contains {
                                path: name("title"),
                                value: s("Sale"),
                            },
                        ],
                    }),
                    None,
                ),
            },
        ),
    ]
}

#[test]
fn examples_parse_exactly_as_shown() {
    let file = parse(EXAMPLES).unwrap().without_spans();
    let expected = expected();
    assert_eq!(file.segments.len(), expected.len());
    for (def, (name, title, condition)) in file.segments.iter().zip(expected) {
        assert_eq!(def.name.text, name);
        assert_eq!(def.title.as_deref(), title, "{name}");
        assert_eq!(def.condition, condition, "{name}");
    }
}

#[test]
fn examples_print_canonically() {
    let file = parse(EXAMPLES).unwrap();
    let printed = print(&file);
    assert_eq!(printed, CANONICAL);
    let again = parse(&printed).unwrap();
    assert_eq!(again.without_spans(), file.without_spans());
    assert_eq!(print(&again), printed);
}

#[test]
fn examples_check_clean_against_a_matching_catalog() {
    let file = parse(EXAMPLES).unwrap();
    let diags = check(&file, &catalog());
    assert!(diags.is_empty(), "{diags:#?}");
}

#[test]
fn examples_round_trip_through_json() {
    let file = parse(EXAMPLES).unwrap();
    let json = to_json(&file);
    let back: File = from_json(&json).unwrap();
    assert_eq!(back, file);
    assert_eq!(to_json(&back), json);
    // Without spans too: the API's usual form.
    let bare = file.without_spans();
    let bare_json = to_json(&bare);
    assert!(!bare_json.contains("\"span\""));
    assert_eq!(from_json(&bare_json).unwrap(), bare);
    for def in &bare.segments {
        let json = condition_to_json(&def.condition);
        assert_eq!(condition_from_json(&json).unwrap(), def.condition);
    }
}

#[test]
fn json_form_of_one_example() {
    let file =
        parse(r#"segment s = count("Product Viewed" where category = "shoes" in last 30d) >= 3"#)
            .unwrap()
            .without_spans();
    let json: serde_json::Value = serde_json::from_str(&to_json(&file)).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "segments": [{
                "name": {"text": "s"},
                "condition": {
                    "kind": "count",
                    "query": {
                        "event": {"text": "Product Viewed"},
                        "filter": {"kind": "cmp", "path": {"text": "category"}, "op": "=", "value": "shoes"},
                        "window": {"kind": "last", "duration": {"amount": 30, "unit": "days"}}
                    },
                    "test": {"kind": "cmp", "op": ">=", "value": 3.0}
                }
            }]
        })
    );
}

const CANONICAL: &str = r#"segment recent_buyers "Recent buyers" = did "Order Completed" in last 30d
segment repeat_buyers "Repeat buyers" = count("Order Completed") >= 2

segment cart_abandoners "Cart abandoners" =
    did "Product Added" in last 7d then not "Order Completed" within 24h

segment shoe_browsers "Shoe browsers" =
    count("Product Viewed" where category = "shoes" in last 30d) >= 3
    and not did "Order Completed" in last 30d

segment vip "High value" = sum("Order Completed".revenue in last 365d) >= 500
segment dormant "Dormant" = last_seen before 60d ago and first_seen before 60d ago
segment new_buyers = first("Order Completed") in last 30d
segment lapsed = last("Order Completed") before 90d ago
segment funnel = did "Product Viewed" in last 7d then "Product Added" within 1h
segment open_cart = did "Product Added" then not "Order Completed"
segment jan = did "Order Completed" between 2026-01-01 and 2026-02-01
segment multi_cat = distinct("Product Viewed".category in last 30d) >= 3
segment shoe_fans = top("Product Viewed".category in last 90d) = "shoes"
segment avg_big = avg("Order Completed".revenue where currency = "USD") > 100
segment stopped_buying = stopped "Order Completed" for 30d
segment came_back = restarted "Order Completed" after 60d
segment weekly = regularly "Order Completed" 1 per 7d in 3 of last 4
segment pro = trait.plan = "pro" and trait.email exists
segment engaged_vip = in segment vip and not in segment dormant
segment champions = rfm in [Champions, Loyal, "At risk"]
segment high_r = rfm.r >= 4 and rfm.f between 3 and 5
segment churny = predicted.churn >= 0.7

segment nested =
    count("Order Completed" where products.category in ["shoes", "bags"] and not coupon exists in last 1w) between 1 and 3

segment str_ops = did "Page Viewed" where url starts_with "https://shop" or title contains "Sale"
"#;

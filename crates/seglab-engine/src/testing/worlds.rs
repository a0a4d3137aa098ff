//! Random worlds and conditions for property tests: the engine, and any
//! other evaluator (such as SQL), against the reference evaluator.
//!
//! Timestamps, `now` and durations sit on a 30-minute grid (give or take one
//! millisecond), so window boundaries are hit exactly and often.

use std::collections::HashMap;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use seglab_lang::ast::*;
use serde_json::{Map, Value, json};

use super::support::*;
use crate::RFM_CELLS;

pub const STEP: i64 = 30 * MIN;
const NAMES: [&str; 4] = ["A", "B", "C", "Order Completed"];

pub fn instant(back: i64, ahead: i64) -> impl Strategy<Value = i64> {
    (
        -back..=ahead,
        prop_oneof![6 => Just(0i64), 1 => Just(-1i64), 1 => Just(1i64)],
    )
        .prop_map(|(k, jitter)| NOW + k * STEP + jitter)
}

fn duration() -> impl Strategy<Value = Duration> {
    select(vec![
        secs(0),
        secs(1),
        mins(30),
        hours(1),
        mins(90),
        secs(2 * 3600),
        hours(5),
        days(1),
        hours(36),
        days(2),
        weeks(1),
    ])
}

fn props() -> impl Strategy<Value = Value> {
    let k = select(vec![
        json!("x"),
        json!("y"),
        json!("xy"),
        json!(null),
        json!(1),
    ]);
    let n = select(vec![
        json!(0),
        json!(1),
        json!(2.5),
        json!(-1),
        json!("2"),
        json!(-0.0),
    ]);
    let tags = vec(select(vec!["x", "y", "xy"]), 0..3);
    let items = vec((select(vec!["x", "y", "xy"]), 0..3i32), 0..3);
    let o = select(vec![
        json!({"p": "x"}),
        json!({"p": 1}),
        json!({"p": ["x", 2]}),
        json!({}),
    ]);
    let revenue = select(vec![
        json!(10),
        json!(25.5),
        json!("n/a"),
        json!([5, 5]),
        json!(0),
    ]);
    let some = 0.7;
    (
        prop::option::weighted(some, k),
        prop::option::weighted(some, n),
        prop::option::weighted(some, any::<bool>()),
        prop::option::weighted(some, tags),
        prop::option::weighted(some, items),
        prop::option::weighted(some, o),
        prop::option::weighted(some, revenue),
    )
        .prop_map(|(k, n, b, tags, items, o, revenue)| {
            let mut m = Map::new();
            let mut put = |key: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(key.to_owned(), v);
                }
            };
            put("k", k);
            put("n", n);
            put("b", b.map(Value::Bool));
            put("tags", tags.map(|t| json!(t)));
            put(
                "items",
                items.map(|i| {
                    Value::Array(
                        i.into_iter()
                            .map(|(cat, price)| json!({"cat": cat, "price": price}))
                            .collect(),
                    )
                }),
            );
            put("o", o);
            put("revenue", revenue);
            Value::Object(m)
        })
}

pub fn op() -> impl Strategy<Value = Op> {
    let person = 1i64..=8;
    prop_oneof![
        30 => (person.clone(), instant(24, 4), select(NAMES.to_vec()), props())
            .prop_map(|(p, t, n, pr)| Op::Push(p, t, n.to_owned(), pr)),
        4 => (
            person.clone(),
            select(vec!["plan", "age", "tags", "o"]),
            select(vec![
                json!("pro"),
                json!("free"),
                json!(3),
                json!(null),
                json!(["x", "y"]),
                json!({"p": "x"}),
                json!([]),
            ])
        )
            .prop_map(|(p, k, v)| Op::Trait(p, k.to_owned(), v)),
        1 => (person.clone(), person).prop_map(|(a, b)| Op::Merge(a, b)),
        1 => Just(Op::Compact),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    select(vec![
        ls("x"),
        ls("y"),
        ls("xy"),
        ls("2"),
        ls(""),
        ls("zzz"),
        ln(0.0),
        ln(1.0),
        ln(2.5),
        ln(-1.0),
        ln(2.0),
        ln(5.0),
        ln(7.0),
        lb(true),
        lb(false),
    ])
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn pred(paths: Vec<&'static str>) -> impl Strategy<Value = Pred> {
    let path = select(paths).prop_map(name);
    let leaf = prop_oneof![
        3 => (path.clone(), cmp_op(), literal())
            .prop_map(|(path, op, value)| Pred::Cmp { path, op, value }),
        1 => (path.clone(), vec(literal(), 0..3)).prop_map(|(path, values)| Pred::In { path, values }),
        2 => (path.clone(), literal()).prop_map(|(path, value)| Pred::Contains { path, value }),
        1 => (path.clone(), select(vec!["", "x", "y", "xy"]))
            .prop_map(|(path, v)| Pred::StartsWith { path, value: v.to_owned() }),
        1 => path.prop_map(|path| Pred::Exists { path }),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            1 => Just(Pred::And { all: vec![] }),
            1 => Just(Pred::Or { any: vec![] }),
            8 => vec(inner.clone(), 1..3).prop_map(|all| Pred::And { all }),
            8 => vec(inner.clone(), 1..3).prop_map(|any| Pred::Or { any }),
            8 => inner.prop_map(|p| Pred::Not { pred: Box::new(p) }),
        ]
    })
}

fn event_pred() -> impl Strategy<Value = Pred> {
    pred(vec![
        "k",
        "n",
        "b",
        "tags",
        "items",
        "items.cat",
        "items.price",
        "o",
        "o.p",
        "revenue",
        "zz",
    ])
}

fn filter() -> impl Strategy<Value = EventFilter> {
    (
        prop_oneof![12 => select(NAMES.to_vec()), 1 => Just("Z")],
        prop::option::weighted(0.35, event_pred()),
    )
        .prop_map(|(n, filter)| EventFilter {
            event: name(n),
            filter,
        })
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        duration().prop_map(|duration| Window::Last { duration }),
        (instant(24, 4), instant(24, 4)).prop_map(|(a, b)| Window::Between {
            start: a.min(b),
            end: a.max(b),
        }),
    ]
}

fn query() -> impl Strategy<Value = EventQuery> {
    (filter(), prop::option::weighted(0.6, window()))
        .prop_map(|(events, window)| EventQuery { events, window })
}

fn num_test() -> impl Strategy<Value = NumTest> {
    let x = (-2i32..12).prop_map(|x| f64::from(x) / 2.0);
    prop_oneof![
        3 => (cmp_op(), x.clone()).prop_map(|(op, value)| NumTest::Cmp { op, value }),
        1 => (x.clone(), x).prop_map(|(low, high)| NumTest::Between { low, high }),
    ]
}

fn time_test() -> impl Strategy<Value = TimeTest> {
    prop_oneof![
        duration().prop_map(|duration| TimeTest::InLast { duration }),
        duration().prop_map(|duration| TimeTest::Before { duration }),
        (instant(24, 4), instant(24, 4)).prop_map(|(a, b)| TimeTest::Between {
            start: a.min(b),
            end: a.max(b),
        }),
    ]
}

fn property() -> impl Strategy<Value = Name> {
    prop_oneof![
        8 => select(vec!["k", "n", "tags", "items", "items.cat", "items.price", "revenue"]),
        1 => select(vec!["o.p", "o", "zz"]),
    ]
    .prop_map(name)
}

fn leaf_condition() -> impl Strategy<Value = Condition> {
    let agg = select(vec![AggFunc::Sum, AggFunc::Avg, AggFunc::Min, AggFunc::Max]);
    let cells = vec(
        prop_oneof![20 => select(RFM_CELLS.to_vec()), 1 => Just("Bogus")],
        0..3,
    );
    prop_oneof![
        3 => query().prop_map(|query| Condition::Did { query }),
        2 => (query(), num_test()).prop_map(|(query, test)| Condition::Count { query, test }),
        2 => (agg, query(), property(), num_test()).prop_map(|(func, query, property, test)| {
            Condition::Aggregate { func, query, property, test }
        }),
        1 => (query(), property(), num_test())
            .prop_map(|(query, property, test)| Condition::Distinct { query, property, test }),
        1 => (query(), property(), literal())
            .prop_map(|(query, property, value)| Condition::Top { query, property, value }),
        1 => (prop::option::of(filter()), time_test())
            .prop_map(|(events, time)| Condition::First { events, time }),
        1 => (prop::option::of(filter()), time_test())
            .prop_map(|(events, time)| Condition::Last { events, time }),
        2 => (query(), filter(), duration())
            .prop_map(|(first, then, within)| Condition::Then { first, then, within }),
        2 => (query(), filter(), prop::option::of(duration()))
            .prop_map(|(first, then, within)| Condition::ThenNot { first, then, within }),
        1 => (filter(), duration()).prop_map(|(events, period)| Condition::Stopped { events, period }),
        1 => (filter(), duration()).prop_map(|(events, gap)| Condition::Restarted { events, gap }),
        1 => (filter(), 0u32..3, duration(), 0u32..3, 0u32..5).prop_map(
            |(events, times, period, at_least, of_last)| Condition::Regularly {
                events,
                times,
                period,
                at_least,
                of_last,
            }
        ),
        1 => pred(vec!["plan", "age", "tags", "o", "o.p", "zz"])
            .prop_map(|pred| Condition::Trait { test: TraitTest { pred } }),
        2 => prop_oneof![30 => select(vec!["s0", "s1", "s2"]), 1 => Just("s9")]
            .prop_map(|s| Condition::InSegment { segment: name(s) }),
        1 => (select(vec![RfmDim::R, RfmDim::F, RfmDim::M]), num_test())
            .prop_map(|(dim, test)| Condition::RfmScore { dim, test }),
        1 => cells.prop_map(|c| Condition::RfmCell { cells: c.into_iter().map(name).collect() }),
        1 => (select(vec!["churn", "ltv"]), num_test())
            .prop_map(|(model, test)| Condition::Predicted { model: name(model), test }),
    ]
}

pub fn condition() -> impl Strategy<Value = Condition> {
    leaf_condition().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            1 => Just(Condition::And { all: vec![] }),
            1 => Just(Condition::Or { any: vec![] }),
            8 => vec(inner.clone(), 1..3).prop_map(|all| Condition::And { all }),
            8 => vec(inner.clone(), 1..3).prop_map(|any| Condition::Or { any }),
            8 => inner.prop_map(|c| Condition::Not { condition: Box::new(c) }),
        ]
    })
}

/// Segment `s{i}` may only refer to `s0 .. s{i-1}`, and is valid.
fn as_segment(mut c: Condition, i: usize) -> Condition {
    fn fix(c: &mut Condition, allowed: usize) {
        match c {
            Condition::And { all: cs } | Condition::Or { any: cs } => {
                cs.iter_mut().for_each(|c| fix(c, allowed))
            }
            Condition::Not { condition } => fix(condition, allowed),
            Condition::InSegment { segment } => {
                let j: usize = segment.text[1..].parse().unwrap();
                if j >= allowed {
                    *c = if allowed == 0 {
                        did(q("A"))
                    } else {
                        in_segment(&format!("s{}", j % allowed))
                    };
                }
            }
            Condition::RfmCell { cells } => cells.retain(|c| RFM_CELLS.contains(&c.text.as_str())),
            _ => {}
        }
    }
    fix(&mut c, i);
    c
}

pub fn world() -> impl Strategy<Value = Case> {
    (
        vec(op(), 0..100),
        vec(condition(), 3),
        vec(
            (1i64..=8, (-2i32..6).prop_map(|x| f64::from(x) / 4.0)),
            0..5,
        ),
    )
        .prop_map(|(ops, segments, churn)| {
            let mut case = Case {
                ops,
                segments: Vec::new(),
                predictions: HashMap::new(),
            };
            for (i, c) in segments.into_iter().enumerate() {
                case = case.segment(&format!("s{i}"), as_segment(c, i));
            }
            for (p, x) in churn {
                case = case.predict("churn", p, x);
            }
            case
        })
}

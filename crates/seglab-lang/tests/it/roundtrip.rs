//! Random syntax trees of every kind: printing then parsing gives the tree
//! back, printing is a fixed point, and the JSON form round-trips.

use proptest::prelude::*;
use seglab_lang::ast::{
    AggFunc, CmpOp, Condition, Duration, EventFilter, EventQuery, File, Literal, Name, NumTest,
    Pred, RfmDim, SegmentDef, Span, TimeTest, TimeUnit, TraitTest, Window,
};
use seglab_lang::{parse, parse_condition, print, print_condition};

/// Any text: identifiers, keywords, spaces, quotes, backslashes, control
/// characters, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-z][a-z0-9_]{0,6}",
        2 => "[A-Z][a-z]{0,6}( [A-Z][a-z]{0,6}){0,2}",
        1 => prop::sample::select(vec!["and", "or", "not", "in", "trait", "rfm", "predicted", "where", "segment", "true", "count"]).prop_map(str::to_string),
        1 => "[ -~]{0,8}",
        1 => "[\\x00-\\x1f\"\\\\.]{0,4}",
        1 => "\\PC{0,6}",
        1 => Just(String::new()),
    ]
}

/// Property and trait paths: mostly dotted identifiers, some anything.
fn path() -> impl Strategy<Value = Name> {
    prop_oneof![
        3 => "[a-z_][a-z0-9_]{0,5}(\\.[a-z_][a-z0-9_]{0,5}){0,2}",
        2 => text(),
    ]
    .prop_map(Name::new)
}

fn segment_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z][a-zA-Z0-9_]{0,8}",
        1 => prop::sample::select(vec!["segment", "and", "not", "in", "did", "last"]).prop_map(str::to_string),
    ]
}

/// Finite numbers of every shape: integers, fractions, negatives, tiny and
/// huge ones, subnormals, zero of both signs.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1000i32..1000).prop_map(f64::from),
        (-1_000_000i64..1_000_000).prop_map(|n| n as f64 / 100.0),
        prop::num::f64::POSITIVE
            | prop::num::f64::NEGATIVE
            | prop::num::f64::NORMAL
            | prop::num::f64::SUBNORMAL
            | prop::num::f64::ZERO,
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<bool>().prop_map(Literal::Bool),
        number().prop_map(Literal::Number),
        text().prop_map(Literal::String),
    ]
}

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop::sample::select(vec![
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ])
}

fn duration() -> impl Strategy<Value = Duration> {
    let unit = prop::sample::select(vec![
        TimeUnit::Seconds,
        TimeUnit::Minutes,
        TimeUnit::Hours,
        TimeUnit::Days,
        TimeUnit::Weeks,
    ]);
    (prop_oneof![1u64..1000, 1u64..=u64::MAX], unit)
        .prop_map(|(amount, unit)| Duration { amount, unit })
}

/// Epoch milliseconds between the years 1019 and 9892, some at midnight.
fn instant() -> impl Strategy<Value = i64> {
    prop_oneof![
        -30_000_000_000_000i64..240_000_000_000_000,
        (-300_000i64..2_700_000).prop_map(|d| d * 86_400_000),
    ]
}

/// A non-empty range `[start, end)`.
fn range() -> impl Strategy<Value = (i64, i64)> {
    (instant(), prop_oneof![1i64..1000, 1i64..10_000_000_000_000])
        .prop_map(|(start, len)| (start, start + len))
}

fn num_test() -> impl Strategy<Value = NumTest> {
    prop_oneof![
        (cmp_op(), number()).prop_map(|(op, value)| NumTest::Cmp { op, value }),
        (number(), number()).prop_map(|(a, b)| NumTest::Between {
            low: a.min(b),
            high: a.max(b),
        }),
    ]
}

fn pred() -> impl Strategy<Value = Pred> {
    let leaf = prop_oneof![
        (path(), cmp_op(), literal()).prop_map(|(path, op, value)| Pred::Cmp { path, op, value }),
        (path(), prop::collection::vec(literal(), 0..4))
            .prop_map(|(path, values)| Pred::In { path, values }),
        (path(), literal()).prop_map(|(path, value)| Pred::Contains { path, value }),
        (path(), text()).prop_map(|(path, value)| Pred::StartsWith { path, value }),
        path().prop_map(|path| Pred::Exists { path }),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|all| Pred::And { all }),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|any| Pred::Or { any }),
            inner.prop_map(|p| Pred::Not { pred: Box::new(p) }),
        ]
    })
}

fn filter() -> impl Strategy<Value = EventFilter> {
    (text(), prop::option::weighted(0.4, pred())).prop_map(|(event, filter)| EventFilter {
        event: Name::new(event),
        filter,
    })
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        duration().prop_map(|duration| Window::Last { duration }),
        range().prop_map(|(start, end)| Window::Between { start, end }),
    ]
}

fn query() -> impl Strategy<Value = EventQuery> {
    (filter(), prop::option::of(window()))
        .prop_map(|(events, window)| EventQuery { events, window })
}

fn time_test() -> impl Strategy<Value = TimeTest> {
    prop_oneof![
        duration().prop_map(|duration| TimeTest::InLast { duration }),
        duration().prop_map(|duration| TimeTest::Before { duration }),
        range().prop_map(|(start, end)| TimeTest::Between { start, end }),
    ]
}

fn agg_func() -> impl Strategy<Value = AggFunc> {
    prop::sample::select(vec![AggFunc::Sum, AggFunc::Avg, AggFunc::Min, AggFunc::Max])
}

fn leaf_condition() -> impl Strategy<Value = Condition> {
    prop_oneof![
        query().prop_map(|query| Condition::Did { query }),
        (query(), num_test()).prop_map(|(query, test)| Condition::Count { query, test }),
        (agg_func(), query(), path(), num_test()).prop_map(|(func, query, property, test)| {
            Condition::Aggregate {
                func,
                query,
                property,
                test,
            }
        }),
        (query(), path(), num_test()).prop_map(|(query, property, test)| Condition::Distinct {
            query,
            property,
            test
        }),
        (query(), path(), literal()).prop_map(|(query, property, value)| Condition::Top {
            query,
            property,
            value
        }),
        (prop::option::of(filter()), time_test())
            .prop_map(|(events, time)| Condition::First { events, time }),
        (prop::option::of(filter()), time_test())
            .prop_map(|(events, time)| Condition::Last { events, time }),
        (query(), filter(), duration()).prop_map(|(first, then, within)| Condition::Then {
            first,
            then,
            within
        }),
        (query(), filter(), prop::option::of(duration())).prop_map(|(first, then, within)| {
            Condition::ThenNot {
                first,
                then,
                within,
            }
        }),
        (filter(), duration()).prop_map(|(events, period)| Condition::Stopped { events, period }),
        (filter(), duration()).prop_map(|(events, gap)| Condition::Restarted { events, gap }),
        (
            filter(),
            any::<u32>(),
            duration(),
            any::<u32>().prop_flat_map(|m| (0..=m, Just(m)))
        )
            .prop_map(|(events, times, period, (at_least, of_last))| {
                Condition::Regularly {
                    events,
                    times,
                    period,
                    at_least,
                    of_last,
                }
            }),
        pred().prop_map(|pred| Condition::Trait {
            test: TraitTest { pred }
        }),
        segment_name().prop_map(|s| Condition::InSegment {
            segment: Name::new(s)
        }),
        (
            prop::sample::select(vec![RfmDim::R, RfmDim::F, RfmDim::M]),
            num_test()
        )
            .prop_map(|(dim, test)| Condition::RfmScore { dim, test }),
        prop::collection::vec(text().prop_map(Name::new), 0..4)
            .prop_map(|cells| Condition::RfmCell { cells }),
        (path(), num_test()).prop_map(|(model, test)| Condition::Predicted { model, test }),
    ]
}

fn condition() -> impl Strategy<Value = Condition> {
    leaf_condition().prop_recursive(4, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|all| Condition::And { all }),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|any| Condition::Or { any }),
            inner.prop_map(|c| Condition::Not {
                condition: Box::new(c)
            }),
        ]
    })
}

fn file() -> impl Strategy<Value = File> {
    let def = (segment_name(), prop::option::of(text()), condition()).prop_map(
        |(name, title, condition)| SegmentDef {
            name: Name::new(name),
            title,
            condition,
            span: Span::default(),
        },
    );
    prop::collection::vec(def, 0..4).prop_map(|segments| File { segments })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(768))]

    #[test]
    fn printed_files_parse_back_to_the_same_tree(f in file()) {
        let printed = print(&f);
        let parsed = match parse(&printed) {
            Ok(parsed) => parsed,
            Err(diags) => {
                return Err(TestCaseError::fail(format!("{printed}\n{diags:#?}")));
            }
        };
        prop_assert_eq!(parsed.without_spans(), f.without_spans(), "{}", printed);
        prop_assert_eq!(print(&parsed), printed);
    }

    #[test]
    fn printed_conditions_parse_back_to_the_same_tree(c in condition()) {
        let printed = print_condition(&c);
        let parsed = match parse_condition(&printed) {
            Ok(parsed) => parsed,
            Err(diags) => {
                return Err(TestCaseError::fail(format!("{printed}\n{diags:#?}")));
            }
        };
        prop_assert_eq!(parsed.without_spans(), c.without_spans(), "{}", printed);
        prop_assert_eq!(print_condition(&parsed), printed);
    }

    #[test]
    fn json_values_round_trip(f in file()) {
        let value = serde_json::to_value(&f).unwrap();
        let back: File = serde_json::from_value(value.clone()).unwrap();
        prop_assert_eq!(&back, &f);
        prop_assert_eq!(serde_json::to_value(&back).unwrap(), value);
    }
}

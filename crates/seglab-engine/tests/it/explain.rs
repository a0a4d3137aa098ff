//! Explanations against the reference evaluator, node by node; the events
//! they name; timelines read back as JSON.

use std::collections::{BTreeSet, HashMap};

use proptest::collection::vec;
use proptest::prelude::*;
use seglab_engine::{Engine, Explanation, Timelines};
use seglab_lang::ast::Condition;
use serde_json::json;

use seglab_engine::testing::support::*;
use seglab_engine::testing::worlds::{condition, instant, world};

/// Checks every node's answer against the reference (`in segment` nodes
/// have the definition as their child).
fn check_nodes(
    x: &Explanation,
    c: &Condition,
    person: i64,
    case: &Case,
    now: i64,
    memo: &mut HashMap<String, BTreeSet<i64>>,
) -> Result<(), TestCaseError> {
    let members = memo
        .entry(format!("{c:?}"))
        .or_insert_with(|| case.reference(c, now).unwrap());
    prop_assert_eq!(
        x.holds,
        members.contains(&person),
        "{} for {}",
        &x.condition,
        person
    );
    prop_assert_eq!(&x.condition, &seglab_lang::print_condition(c));
    prop_assert!(x.events.len() <= 10 && x.events.len() <= x.event_count.max(x.events.len()));
    match c {
        Condition::And { all: cs } | Condition::Or { any: cs } => {
            prop_assert_eq!(x.children.len(), cs.len());
            for (x, c) in x.children.iter().zip(cs) {
                check_nodes(x, c, person, case, now, memo)?;
            }
        }
        Condition::Not { condition } => {
            check_nodes(&x.children[0], condition, person, case, now, memo)?
        }
        Condition::InSegment { segment } => {
            let def = &case
                .segments
                .iter()
                .find(|s| s.0 == segment.text)
                .unwrap()
                .1;
            check_nodes(&x.children[0], def, person, case, now, memo)?;
        }
        _ => prop_assert!(x.children.is_empty()),
    }
    Ok(())
}

/// The engine rebuilt from every person's events and traits read back.
fn read_back(e: &Engine, case: &Case) -> Engine {
    let tl = e.timelines();
    let mut t = Timelines::new();
    for (_, id) in tl.people() {
        // Known even without events or traits.
        t.set_traits(id, &serde_json::Value::Null).unwrap();
        for ev in tl.person_events(id) {
            t.push(id, ev.time, &ev.name, &ev.properties).unwrap();
        }
        t.set_traits(id, &serde_json::Value::Object(tl.person_traits(id)))
            .unwrap();
    }
    let mut back = Engine::new(t);
    for (n, c) in e.definitions() {
        back.define(n, c.clone()).unwrap();
    }
    for (m, values) in &case.predictions {
        back.set_predictions(m, values.iter().map(|(k, v)| (*k, *v)));
    }
    back
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn explanations_agree_with_reference(
        case in world(),
        conditions in vec(condition(), 2),
        now in instant(10, 4),
    ) {
        let e = case.engine();
        let back = read_back(&e, &case);
        let mut memo = HashMap::new();
        for c in &conditions {
            if case.reference(c, now).is_err() {
                continue;
            }
            for (_, id) in e.timelines().people() {
                let x = e.explain(id, c, now).unwrap();
                check_nodes(&x, c, id, &case, now, &mut memo)?;
                serde_json::to_string(&x).unwrap();
            }
            // Read back, the timelines mean the same.
            let members = |e: &Engine| -> BTreeSet<i64> {
                let b = e.evaluate(c, now).unwrap();
                e.members(&b, 0, usize::MAX).into_iter().collect()
            };
            prop_assert_eq!(members(&e), members(&back), "read back: {:?}", c);
        }
    }
}

#[test]
fn explanations_name_the_deciding_events() {
    let (a, b) = ("Product Added", "Order Completed");
    let e = Case::new()
        .ev(1, NOW - 3 * DAY, a, json!({"sku": "s1"}))
        .ev(1, NOW - 3 * DAY + HOUR, b, json!({"revenue": 20}))
        .ev(1, NOW - 2 * DAY, a, json!({"sku": "s2"}))
        .ev(
            2,
            NOW - 20 * DAY,
            "Product Viewed",
            json!({"category": "shoes"}),
        )
        .ev(
            2,
            NOW - 16 * DAY,
            "Product Viewed",
            json!({"category": "bags"}),
        )
        .set_trait(1, "plan", json!("pro"))
        .segment(
            "abandoners",
            then_not(q(a).last(days(7)), ev(b), Some(hours(24))),
        )
        .engine();
    // then not within: the A nobody followed, and the day with no B.
    let x = e.explain_segment(1, "abandoners", NOW).unwrap();
    assert!(x.holds);
    assert_eq!(x.segment.as_deref(), Some("abandoners"));
    let inner = &x.children[0];
    assert_eq!(inner.events.len(), 1);
    assert_eq!(inner.events[0].time, NOW - 2 * DAY);
    assert_eq!(inner.events[0].properties, json!({"sku": "s2"}));
    assert_eq!(inner.events[0].role, Some("A"));
    let w = inner.window.unwrap();
    assert_eq!((w.from, w.to), (NOW - 2 * DAY + 1, NOW - DAY));
    // did: the matching events, with their properties.
    let x = e.explain(1, &did(q(b).last(days(7))), NOW).unwrap();
    assert!(x.holds);
    assert_eq!(x.event_count, 1);
    assert_eq!(x.events[0].name, b);
    assert_eq!(x.events[0].properties, json!({"revenue": 20}));
    assert_eq!(x.next_change, Some(NOW - 3 * DAY + HOUR + 7 * DAY + 1));
    let x = e.explain(1, &count(q(a), ge(3.0)), NOW).unwrap();
    assert!(!x.holds);
    assert_eq!((x.event_count, x.value.clone()), (2, Some(json!(2))));
    // stopped: the last event before the quiet period.
    let c = stopped(ev("Product Viewed"), days(14));
    let x = e.explain(2, &c, NOW).unwrap();
    assert!(x.holds);
    assert_eq!(x.events.len(), 1);
    assert_eq!(x.events[0].time, NOW - 16 * DAY);
    assert_eq!(x.events[0].role, Some("before"));
    assert_eq!(x.window.unwrap().from, NOW - 14 * DAY);
    // distinct and top: the number of values and the winning value (a tie
    // goes to the value seen last).
    let x = e
        .explain(2, &distinct(q("Product Viewed"), "category", ge(2.0)), NOW)
        .unwrap();
    assert!(x.holds);
    assert_eq!((x.value.clone(), x.event_count), (Some(json!(2)), 2));
    let x = e
        .explain(2, &top(q("Product Viewed"), "category", ls("shoes")), NOW)
        .unwrap();
    assert!(!x.holds);
    assert_eq!(x.value, Some(json!("bags")));
    // Combinations, traits, unknown people.
    let c = and(vec![
        trait_test(eq("plan", ls("pro"))),
        not(did(q("Product Viewed"))),
    ]);
    let x = e.explain(1, &c, NOW).unwrap();
    assert!(x.holds);
    assert_eq!(x.children[0].value, Some(json!({"plan": "pro"})));
    assert!(x.children[1].holds && !x.children[1].children[0].holds);
    let text = serde_json::to_value(&x).unwrap();
    assert_eq!(
        text["children"][0]["condition"],
        json!("trait.plan = \"pro\"")
    );
    assert_eq!(e.explain(99, &c, NOW).unwrap_err().code(), "unknown_person");
}

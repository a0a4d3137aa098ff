//! Per-person live evaluation and horizons: against batch evaluation and,
//! instant by instant, against the reference evaluator.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use seglab_engine::Engine;
use seglab_lang::ast::Condition;
use serde_json::json;

use seglab_engine::testing::support::*;
use seglab_engine::testing::worlds::{STEP, condition, instant, op, world};

/// Reference members of one condition, computed once per instant.
struct Oracle<'a> {
    case: &'a Case,
    condition: &'a Condition,
    memo: HashMap<i64, BTreeSet<i64>>,
}

impl Oracle<'_> {
    fn holds(&mut self, person: i64, at: i64) -> bool {
        self.memo
            .entry(at)
            .or_insert_with(|| self.case.reference(self.condition, at).unwrap())
            .contains(&person)
    }
}

/// Instants in `(now, horizon)` worth probing: just after `now`, just before
/// the horizon, grid points (window edges fall on them) and their
/// neighbours, and a few more.
fn probes(now: i64, horizon: Option<i64>, extra: &[u64]) -> Vec<i64> {
    let end = horizon.unwrap_or(now + 800 * STEP);
    let mut out = vec![now + 1, end - 1, now + (end - now) / 2];
    let first = now.div_euclid(STEP) + 1;
    for k in (0..).map(|k| first + k * k).take_while(|g| g * STEP < end) {
        out.extend([k * STEP - 1, k * STEP, k * STEP + 1]);
    }
    out.extend(
        extra
            .iter()
            .map(|x| now + 1 + (*x % (end - now - 1).max(1) as u64) as i64),
    );
    out.retain(|&t| now < t && t < end);
    out.sort_unstable();
    out.dedup();
    out
}

#[derive(Default, Debug)]
struct Tightness {
    horizons: u64,
    changed_at_horizon: u64,
    never: u64,
}

#[test]
fn horizons_are_sound_against_the_reference() {
    let mut runner = TestRunner::new(Config {
        cases: 250,
        ..Config::default()
    });
    let stats = RefCell::new(Tightness::default());
    let strategy = (
        world(),
        vec(condition(), 2),
        instant(10, 4),
        vec(any::<u64>(), 3),
    );
    runner
        .run(&strategy, |(case, conditions, now, extra)| {
            let e = case.engine();
            let mut parts = Vec::new();
            for c in &conditions {
                c.walk(|part| parts.push(part.clone()));
            }
            for c in &parts {
                let reference = case.reference(c, now);
                let first = e.timelines().people().next().map_or(0, |p| p.1);
                if let Err(err) = reference {
                    let got = e.horizon(first, c, now).unwrap_err();
                    prop_assert_eq!(got.code(), err.code());
                    continue;
                }
                let mut oracle = Oracle {
                    case: &case,
                    condition: c,
                    memo: HashMap::new(),
                };
                for (_, id) in e.timelines().people() {
                    let h = e.horizon(id, c, now).unwrap();
                    let held = oracle.holds(id, now);
                    if let Some(h) = h {
                        prop_assert!(h > now);
                    }
                    for t in probes(now, h, &extra) {
                        prop_assert_eq!(
                            oracle.holds(id, t),
                            held,
                            "person {} condition {:?}: horizon {:?} from {}, changed at {}",
                            id,
                            c,
                            h,
                            now,
                            t
                        );
                    }
                    let mut s = stats.borrow_mut();
                    match h {
                        Some(h) => {
                            s.horizons += 1;
                            s.changed_at_horizon += u64::from(oracle.holds(id, h) != held);
                        }
                        None => s.never += 1,
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let s = stats.into_inner();
    println!(
        "horizons: {} found, answer changed at {} of them ({:.0} %); {} never change",
        s.horizons,
        s.changed_at_horizon,
        100.0 * s.changed_at_horizon as f64 / s.horizons.max(1) as f64,
        s.never
    );
    assert!(s.horizons > 0);
}

/// Members of each defined segment by batch evaluation, as person ids.
fn batch(e: &Engine, now: i64) -> Vec<BTreeSet<i64>> {
    e.evaluate_defined(now)
        .unwrap()
        .into_iter()
        .map(|(_, b)| e.members(&b, 0, usize::MAX).into_iter().collect())
        .collect()
}

/// The live set's answers agree with batch evaluation for every person, and
/// its horizons with [`Engine::horizon`].
fn check_live(
    e: &Engine,
    live: &seglab_engine::LiveSet,
    now: i64,
    skip_rfm: bool,
) -> Result<(), TestCaseError> {
    let members = batch(e, now);
    for (_, id) in e.timelines().people() {
        let got = live.evaluate_person(e, id, now).unwrap();
        for (i, name) in live.segments().iter().enumerate() {
            if skip_rfm && live.uses_rfm(i) {
                continue;
            }
            prop_assert_eq!(
                got.holds.contains(i),
                members[i].contains(&id),
                "segment {} person {} at {}",
                name,
                id,
                now
            );
            let horizon = e.horizon(id, &in_segment(name), now).unwrap();
            prop_assert_eq!(got.changes[i], horizon, "segment {} person {}", name, id);
        }
        let earliest = got.changes.iter().flatten().min().copied();
        prop_assert_eq!(got.next_change, earliest);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn live_set_agrees_with_batch(
        case in world(),
        now in instant(10, 4),
        later in 0i64..6,
        more in vec(op(), 0..12),
    ) {
        let mut e = case.engine();
        let live = e.live_set(now).unwrap();
        prop_assert!(!live.is_stale(&e));
        check_live(&e, &live, now, false)?;
        // Another instant: everything but RFM is exact; RFM too while no
        // order became visible in between.
        let then = now + later * STEP;
        let orders = e.evaluate(&count(q("Order Completed"), ge(0.0)), then).unwrap();
        let new_orders = e
            .evaluate(
                &did(q("Order Completed").between(now + 1, then + 1)),
                then,
            )
            .unwrap();
        check_live(&e, &live, then, !new_orders.is_empty() && !orders.is_empty())?;
        // After more events, merges and traits: exact while not stale.
        for op in &more {
            apply(e.timelines_mut(), op);
        }
        if live.is_stale(&e) {
            let live = e.live_set(now).unwrap();
            check_live(&e, &live, now, false)?;
        } else {
            check_live(&e, &live, now, true)?;
        }
    }
}

#[test]
fn unknown_people_are_in_no_segment() {
    let e = Case::new()
        .at(1, NOW - DAY, "A")
        .segment("not_a", not(did(q("A"))))
        .engine();
    let live = e.live_set(NOW).unwrap();
    let got = live.evaluate_person(&e, 99, NOW).unwrap();
    assert!(got.holds.is_empty());
    assert_eq!(got.next_change, None);
    assert_eq!(e.horizon(99, &not(did(q("A"))), NOW).unwrap(), None);
}

#[test]
fn horizons_of_each_construct() {
    let (a, b) = ("A", "B");
    let case = Case::new()
        .at(1, NOW - DAY, a)
        .at(2, NOW - HOUR, a)
        .at(3, NOW + HOUR, a) // not seen yet
        .at(4, NOW - 20 * DAY, a)
        .at(5, NOW - 2 * HOUR, a)
        .at(5, NOW - HOUR, b)
        .set_trait(6, "plan", json!("pro"));
    let e = case.engine();
    let h = |p: i64, c: Condition| e.horizon(p, &c, NOW).unwrap();
    // `in last 7d`: the event leaves the window 7 days and 1 ms after it.
    assert_eq!(h(1, did(q(a).last(days(7)))), Some(NOW + 6 * DAY + 1));
    // Not seen yet: it counts when `now` reaches it.
    assert_eq!(h(3, did(q(a).last(days(7)))), Some(NOW + HOUR));
    assert_eq!(h(3, did(q(a))), Some(NOW + HOUR));
    assert_eq!(h(1, did(q(a))), None);
    // `before D ago` holds from t + D + 1 on.
    assert_eq!(
        h(2, last(Some(ev(a)), before(days(1)))),
        Some(NOW - HOUR + DAY + 1)
    );
    // then not within: due at t_A + T; an A that got its B never is.
    let abandoned = || then_not(q(a).last(days(7)), ev(b), Some(hours(24)));
    assert_eq!(h(2, abandoned()), Some(NOW - HOUR + DAY));
    assert_eq!(h(5, abandoned()), None);
    // stopped for 14d: an event 20 days ago stops counting at t + 28d + 1.
    assert_eq!(
        h(4, stopped(ev(a), days(14))),
        Some(NOW - 20 * DAY + 28 * DAY + 1)
    );
    // Traits never change by themselves; `and` that fails on one stays so.
    assert_eq!(h(6, trait_test(eq("plan", ls("pro")))), None);
    assert_eq!(
        h(
            1,
            and(vec![
                did(q(a).last(days(7))),
                trait_test(eq("plan", ls("pro")))
            ])
        ),
        None
    );
    assert_eq!(
        h(
            1,
            or(vec![
                did(q(a).last(days(7))),
                trait_test(eq("plan", ls("free")))
            ])
        ),
        Some(NOW + 6 * DAY + 1)
    );
}

#[test]
fn live_sets_go_stale() {
    let mut e = Case::new()
        .ev(1, NOW - DAY, "A", json!({"k": "z"}))
        .segment("b", did(q("B").filter(eq("k", ls("x")))))
        .engine();
    let live = e.live_set(NOW).unwrap();
    assert!(!live.is_stale(&e));
    e.timelines_mut()
        .push(1, NOW, "A", &json!({"k": "y"}))
        .unwrap();
    assert!(!live.is_stale(&e));
    e.timelines_mut()
        .push(1, NOW, "B", &json!({"k": "y"}))
        .unwrap();
    assert!(live.is_stale(&e), "a new event name");
    let live = e.live_set(NOW).unwrap();
    e.timelines_mut()
        .push(1, NOW, "B", &json!({"k": "x"}))
        .unwrap();
    assert!(live.is_stale(&e), "a new value");
    let live = e.live_set(NOW).unwrap();
    assert!(live.evaluate_person(&e, 1, NOW).unwrap().holds.contains(0));
    e.define("c", did(q("A"))).unwrap();
    assert!(live.is_stale(&e), "a new definition");
}

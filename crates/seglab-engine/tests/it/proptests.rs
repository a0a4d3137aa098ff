//! The engine against the reference evaluator on random worlds and conditions
//! (the generators are in `seglab_engine::testing::worlds`).

use proptest::collection::vec;
use proptest::prelude::*;
use seglab_engine::testing::support::*;
use seglab_engine::testing::worlds::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_reference(
        case in world(),
        conditions in vec(condition(), 4),
        nows in vec(instant(10, 4), 2),
    ) {
        // Each condition and every condition inside it, at each instant.
        let mut parts = Vec::new();
        for c in &conditions {
            c.walk(|part| parts.push(part.clone()));
        }
        for now in nows {
            for part in &parts {
                let reference = case.reference(part, now);
                let fast = case.fast(part, now);
                match (reference, fast) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "at {} condition {:?}", now, part),
                    (Err(a), Err(b)) => prop_assert_eq!(a.code(), b.code()),
                    (a, b) => prop_assert!(false, "reference {:?}, engine {:?}", a, b),
                }
            }
        }
    }

    #[test]
    fn batch_evaluation_agrees_with_single(case in world(), now in instant(10, 4)) {
        let e = case.engine();
        let batch = e.evaluate_defined(now).unwrap();
        for (n, bitmap) in batch {
            prop_assert_eq!(&bitmap, &e.evaluate(&in_segment(&n), now).unwrap());
            let reference = case.reference(&in_segment(&n), now).unwrap();
            let members: std::collections::BTreeSet<i64> =
                e.members(&bitmap, 0, usize::MAX).into_iter().collect();
            prop_assert_eq!(members, reference);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn interned_pushes_agree_with_pushed_values(
        case in world(),
        conditions in vec(condition(), 4),
        now in instant(10, 4),
    ) {
        let pushed = case.engine();
        let interned = case.engine_interned();
        prop_assert_eq!(pushed.timelines().catalog(), interned.timelines().catalog());
        for c in &conditions {
            let (a, b) = (pushed.evaluate(c, now), interned.evaluate(c, now));
            prop_assert_eq!(a, b, "condition {:?}", c);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Retention: after `expire(cutoff)` the engine answers as if the events
    /// before the cutoff had never been pushed (their people stay).
    #[test]
    fn expired_events_are_as_if_never_pushed(
        case in world(),
        conditions in vec(condition(), 4),
        cutoff in instant(12, 0),
        now in instant(10, 4),
        compact in any::<bool>(),
    ) {
        let mut expired = case.engine_with(compact);
        let touched = expired.timelines_mut().expire(cutoff);
        prop_assert_eq!(expired.timelines_mut().expire(cutoff), Vec::<i64>::new());
        let mut kept = case.clone();
        let mut lost = std::collections::BTreeSet::new();
        kept.ops = case
            .ops
            .iter()
            .map(|op| match op {
                // The person stays, with no event.
                Op::Push(p, ts, ..) if *ts < cutoff => {
                    lost.insert(*p);
                    Op::Trait(*p, "expired_marker".into(), serde_json::Value::Null)
                }
                op => op.clone(),
            })
            .collect();
        prop_assert_eq!(touched.is_empty(), lost.is_empty());
        for c in &conditions {
            let reference = kept.reference(c, now);
            let fast = kept.fast_with(&expired, c, now);
            match (reference, fast) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "at {} condition {:?}", now, c),
                (Err(a), Err(b)) => prop_assert_eq!(a.code(), b.code()),
                (a, b) => prop_assert!(false, "reference {:?}, engine {:?}", a, b),
            }
        }
    }
}

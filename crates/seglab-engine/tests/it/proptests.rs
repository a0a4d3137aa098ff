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

//! The property-test worlds of the engine (random people, events, traits,
//! merges, predictions, segments and conditions), on each backend: for every
//! condition and every condition inside it, at two instants, the members
//! from ClickHouse are the reference evaluator's.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use seglab_clickhouse::compile;
use seglab_engine::testing::support::{Case, Model, in_segment};
use seglab_engine::testing::worlds::{condition, instant, world};
use seglab_lang::ast::Condition;

use crate::backend::{Backend, backend, rows_of};

/// Worlds per backend (`SEGLAB_CLICKHOUSE_WORLDS`, default 40).
fn world_count() -> usize {
    std::env::var("SEGLAB_CLICKHOUSE_WORLDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40)
}

/// The same worlds every run (proptest's deterministic runner).
fn cases(n: usize) -> Vec<(Case, Vec<Condition>, Vec<i64>)> {
    let mut runner = TestRunner::deterministic();
    let strategy = (world(), vec(condition(), 4), vec(instant(10, 4), 2));
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

async fn check_worlds(b: &Backend) {
    let (mut worlds, mut checked, mut refused) = (0, 0, 0);
    for (i, (case, conditions, nows)) in cases(world_count()).into_iter().enumerate() {
        let mut model = Model::default();
        for op in &case.ops {
            model.apply(op);
        }
        let people = model.people();
        let schema = b.create(&format!("seglab_test_{}_w{i}", b.name)).await;
        let rows = rows_of(&people, &case.predictions);
        // Twice: a retried batch counts once.
        b.insert(&schema, &rows).await;
        b.insert(&schema, &rows).await;
        let segments: BTreeMap<String, Condition> = case.segments.iter().cloned().collect();
        let mut parts = Vec::new();
        for c in &conditions {
            c.walk(|part| parts.push(part.clone()));
        }
        for (name, _) in &case.segments {
            parts.push(in_segment(name));
        }
        for &now in &nows {
            for part in &parts {
                match (case.reference(part, now), compile(part, &segments, &schema)) {
                    (Ok(want), Ok(q)) => {
                        let got: BTreeSet<i64> = b
                            .entry()
                            .members(&q, now)
                            .await
                            .unwrap_or_else(|e| panic!("{e}\nSQL: {}", q.sql(now)))
                            .into_iter()
                            .collect();
                        assert_eq!(
                            got,
                            want,
                            "{}: world {i} at {now}, condition {part:?}\nworld: {case:?}\nSQL: {}",
                            b.name,
                            q.sql(now)
                        );
                        checked += 1;
                    }
                    (Err(a), Err(e)) => {
                        assert_eq!(a.code(), e.code(), "{part:?}");
                        refused += 1;
                    }
                    (a, e) => panic!("reference {a:?}, compiler {e:?}: {part:?}"),
                }
            }
        }
        b.drop(&schema).await;
        worlds += 1;
    }
    eprintln!(
        "{}: {worlds} worlds, {checked} conditions equal to the reference, {refused} refused by both",
        b.name
    );
}

#[tokio::test]
async fn worlds_agree_with_reference_on_one_server() {
    if let Some(b) = backend("single") {
        check_worlds(&b).await;
    }
}

#[tokio::test]
async fn worlds_agree_with_reference_on_two_shards() {
    if let Some(b) = backend("cluster") {
        check_worlds(&b).await;
    }
}

#[tokio::test]
async fn worlds_agree_with_reference_in_chdb() {
    if let Some(b) = backend("chdb") {
        check_worlds(&b).await;
    }
}

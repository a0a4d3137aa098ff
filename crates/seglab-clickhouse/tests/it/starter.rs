//! The starter segments (`segments/starter.seg`) on the demo store: generated
//! messages, stored and stitched by the store, loaded as the server loads
//! them; members from ClickHouse equal the native engine's and the reference
//! evaluator's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use seglab_clickhouse::compile;
use seglab_demo::DemoSpec;
use seglab_engine::reference::{RefEvent, RefPerson, Reference};
use seglab_engine::{Engine, Timelines};
use seglab_lang::ast::Condition;
use seglab_segments::{Sink, load};
use seglab_store::{Durability, PersonId, Store};
use serde_json::Value;

use crate::backend::{Backend, backend, rows_of};

/// 2026-01-01T00:00:00Z.
const END: i64 = 1_767_225_600_000;

#[derive(Default)]
struct People {
    people: BTreeMap<i64, RefPerson>,
}

impl People {
    fn person(&mut self, id: PersonId) -> &mut RefPerson {
        self.people.entry(id).or_insert_with(|| RefPerson {
            id,
            ..RefPerson::default()
        })
    }
}

impl Sink for People {
    fn event(&mut self, person: PersonId, ts: i64, name: &str, properties: &Value) {
        self.person(person).events.push(RefEvent {
            ts,
            name: name.to_owned(),
            props: properties.clone(),
        });
    }
    fn set_trait(&mut self, person: PersonId, key: &str, value: Value) {
        let traits = &mut self.person(person).traits;
        if value.is_null() {
            traits.remove(key);
        } else {
            traits.insert(key.to_owned(), value);
        }
    }
}

/// The demo store's people, as loaded from a real store.
fn demo_people() -> Vec<RefPerson> {
    let spec = DemoSpec {
        people: 400,
        days: 120,
        end: END,
        ..DemoSpec::default()
    };
    let mut events = Vec::new();
    let mut line = 0;
    seglab_demo::generate(&spec, |text| {
        line += 1;
        events.push(seglab_event::import::ndjson_line(text, line, END).unwrap());
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Durability::Full).unwrap();
    for chunk in events.chunks(5_000) {
        store.append_blocking(chunk.to_vec(), true).unwrap();
    }
    let mut people = People::default();
    load(store.reader(), 0, &mut people).unwrap();
    store.shutdown();
    people.people.into_values().collect()
}

fn starter() -> BTreeMap<String, Condition> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../segments/starter.seg"
    ))
    .unwrap();
    let file = seglab_lang::parse(&text).unwrap();
    file.segments
        .into_iter()
        .map(|d| (d.name.text, d.condition))
        .collect()
}

async fn check_starter(b: &Backend) {
    let people = tokio::task::spawn_blocking(demo_people).await.unwrap();
    let segments = starter();
    let predictions = HashMap::new();
    let reference = Reference {
        people: &people,
        segments: &segments.clone().into_iter().collect(),
        predictions: &predictions,
    };
    let mut timelines = Timelines::new();
    for p in &people {
        for e in &p.events {
            timelines.push(p.id, e.ts, &e.name, &e.props).unwrap();
        }
        for (k, v) in &p.traits {
            timelines.set_trait(p.id, k, v.clone()).unwrap();
        }
    }
    let engine = Engine::new(timelines);
    let schema = b.create(&format!("seglab_test_{}_starter", b.name)).await;
    b.insert(&schema, &rows_of(&people, &predictions)).await;
    let events: usize = people.iter().map(|p| p.events.len()).sum();
    let mut nonempty = 0;
    // At the end of the history, and a week and a quarter before.
    for now in [END, END - 7 * 86_400_000, END - 90 * 86_400_000] {
        for (name, condition) in &segments {
            let want = reference.members(condition, now).unwrap();
            let native: BTreeSet<i64> = {
                let bitmap = engine.evaluate(condition, now).unwrap();
                engine.members(&bitmap, 0, usize::MAX).into_iter().collect()
            };
            assert_eq!(native, want, "native engine and reference differ on {name}");
            let q = compile(condition, &segments, &schema).unwrap();
            let got: BTreeSet<i64> = b
                .entry()
                .members(&q, now)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}\nSQL: {}", q.sql(now)))
                .into_iter()
                .collect();
            assert_eq!(
                got,
                want,
                "{}: segment {name} at {now}\nSQL: {}",
                b.name,
                q.sql(now)
            );
            nonempty += usize::from(!want.is_empty());
        }
    }
    b.drop(&schema).await;
    eprintln!(
        "{}: {} starter segments × 3 instants equal to the engine ({nonempty} non-empty) on {} people, {events} events",
        b.name,
        segments.len(),
        people.len()
    );
}

#[tokio::test]
async fn starter_segments_on_one_server() {
    if let Some(b) = backend("single") {
        check_starter(&b).await;
    }
}

#[tokio::test]
async fn starter_segments_on_two_shards() {
    if let Some(b) = backend("cluster") {
        check_starter(&b).await;
    }
}

#[tokio::test]
async fn starter_segments_in_chdb() {
    if let Some(b) = backend("chdb") {
        check_starter(&b).await;
    }
}

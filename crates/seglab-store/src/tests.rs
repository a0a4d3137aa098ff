use std::path::Path;

use seglab_event::wire::segment_spec::{Endpoint, parse};
use seglab_event::{Event, EventType};
use serde_json::json;

use super::*;

const T0: i64 = 1_767_225_600_000;

fn events(body: serde_json::Value) -> Vec<Event> {
    parse(body.to_string().as_bytes(), Endpoint::Batch, T0)
        .unwrap()
        .events
}

fn open(dir: &Path) -> Store {
    Store::open(dir, Durability::Full).unwrap()
}

#[test]
fn appended_events_read_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let out = store
        .append_blocking(
            events(json!({"batch": [
                {"type": "track", "userId": "u1", "event": "Order Completed", "messageId": "m1", "properties": {"revenue": 5}},
                {"type": "page", "anonymousId": "a1", "name": "Home", "messageId": "m2"},
            ]})),
            false,
        )
        .unwrap();
    assert_eq!(
        out,
        AppendOutcome {
            accepted: 2,
            duplicates: 0,
            tombstoned: 0,
            expired: 0,
            last_seq: 2
        }
    );
    let got = store.reader().events_after(0, 10).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].message_id, "m1");
    assert_eq!(got[0].event.as_deref(), Some("Order Completed"));
    assert_eq!(got[0].to_json()["properties"]["revenue"], 5);
    assert_eq!(got[1].kind, EventType::Page);
    assert_ne!(got[0].person_id, got[1].person_id);
    assert_eq!(store.reader().events_after(1, 10).unwrap().len(), 1);
}

#[test]
fn duplicates_are_dropped_within_a_batch_and_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let batch = || {
        events(json!({"batch": [
            {"type": "track", "userId": "u", "event": "e", "messageId": "same"},
            {"type": "track", "userId": "u", "event": "e", "messageId": "same"},
            {"type": "track", "userId": "u", "event": "e", "messageId": "other"},
        ]}))
    };
    {
        let store = open(dir.path());
        let out = store.append_blocking(batch(), false).unwrap();
        assert_eq!((out.accepted, out.duplicates), (2, 1));
    }
    let store = open(dir.path());
    let out = store.append_blocking(batch(), false).unwrap();
    assert_eq!((out.accepted, out.duplicates), (0, 3));
    assert_eq!(store.reader().event_count().unwrap(), 2);
}

#[test]
fn second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = Store::open(dir.path(), Durability::Full).err().unwrap();
    assert_eq!(err.code(), "locked");
}

#[test]
fn identify_stitches_and_merges_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, u) = {
        let store = open(dir.path());
        store
            .append_blocking(
                events(json!({"batch": [
                    {"type": "track", "anonymousId": "anon", "event": "Product Viewed", "timestamp": "2026-01-01T00:00:00Z"},
                    {"type": "identify", "anonymousId": "anon", "traits": {"plan": "free", "name": "Ann"}, "timestamp": "2026-01-01T00:00:01Z"},
                    {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}, "timestamp": "2026-01-01T00:00:02Z"},
                    // An older value arriving late does not win.
                    {"type": "identify", "userId": "u1", "traits": {"plan": "trial"}, "timestamp": "2025-12-01T00:00:00Z"},
                ]})),
                false,
            )
            .unwrap();
        let a = store.reader().person("anon", 10).unwrap().unwrap();
        let u = store.reader().person("u1", 10).unwrap().unwrap();
        assert_ne!(a.person_id, u.person_id);
        store
            .append_blocking(
                events(json!({"batch": [{"type": "alias", "previousId": "anon", "userId": "u1"}]})),
                false,
            )
            .unwrap();
        (a, u)
    };
    let store = open(dir.path());
    store
        .append_blocking(events(json!({"batch": [{"type": "track", "anonymousId": "anon", "event": "Order Completed", "timestamp": "2026-01-02T00:00:00Z"}]})), false)
        .unwrap();
    let p = store.reader().person("anon", 10).unwrap().unwrap();
    assert_eq!(p, store.reader().person("u1", 10).unwrap().unwrap());
    assert_eq!(p.ids, vec!["anon".to_string(), "u1".to_string()]);
    assert_eq!(p.event_count, 6);
    assert_eq!(p.traits["plan"].value, json!("pro"));
    assert_eq!(p.traits["name"].value, json!("Ann"));
    assert_eq!(p.events[0].event.as_deref(), Some("Order Completed"));
    assert!(p.events.iter().all(|e| e.person_id == p.person_id));
    let by_number = store
        .reader()
        .person(&p.person_id.to_string(), 1)
        .unwrap()
        .unwrap();
    assert_eq!(by_number.person_id, p.person_id);
    assert!(store.reader().person("nobody", 1).unwrap().is_none());
    // Resolving an id alone gives the same person, merged-away numbers too.
    let r = store.reader();
    for id in [
        "anon",
        "u1",
        &p.person_id.to_string(),
        &a.person_id.to_string(),
        &u.person_id.to_string(),
    ] {
        assert_eq!(r.resolve_id(id).unwrap(), Some(p.person_id), "{id}");
    }
    assert_eq!(r.resolve_id("nobody").unwrap(), None);
    assert_eq!(r.resolve_id("999999").unwrap(), None);
    // The events list reports today's person for events stored before the merge.
    let all = store.reader().events_after(0, 100).unwrap();
    assert!(all.iter().all(|e| e.person_id == p.person_id));
}

#[test]
fn historical_flag_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .append_blocking(
            events(json!({"batch": [{"type": "track", "userId": "u", "event": "old"}]})),
            true,
        )
        .unwrap();
    store
        .append_blocking(
            events(json!({"batch": [{"type": "track", "userId": "u", "event": "new"}]})),
            false,
        )
        .unwrap();
    let got = store.reader().events_after(0, 10).unwrap();
    assert_eq!((got[0].historical, got[1].historical), (true, false));
}

#[test]
fn concurrent_appends_all_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let batch = (0..20)
                        .map(|j| json!({"type": "track", "userId": format!("u{j}"), "event": "e", "messageId": format!("{t}-{i}-{j}")}))
                        .collect::<Vec<_>>();
                    let out = store.append_blocking(events(json!({ "batch": batch })), false).unwrap();
                    assert_eq!(out.accepted, 20);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.reader().event_count().unwrap(), 8 * 50 * 20);
    assert_eq!(store.pending_events(), 0);
    let seqs: Vec<i64> = store
        .reader()
        .events_after(0, 10_000)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, (1..=8000).collect::<Vec<_>>());
}

#[test]
fn keys_and_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let r = store.reader();
    let k = r.create_key("web").unwrap();
    assert_eq!(k.key.len(), 32);
    assert!(r.key_is_active(&k.key).unwrap());
    assert!(r.revoke_key(&k.key).unwrap());
    assert!(!r.revoke_key(&k.key).unwrap());
    assert!(!r.key_is_active(&k.key).unwrap());
    assert!(r.list_keys().unwrap()[0].revoked_at.is_some());
    let t = r.admin_token().unwrap();
    assert_eq!(t, r.admin_token().unwrap());
    assert!(t.starts_with("adm_"));
    // A reader opened beside the running writer sees the same keys.
    let other = Reader::open(dir.path()).unwrap();
    assert_eq!(other.admin_token().unwrap(), t);
}

#[test]
fn reader_needs_existing_data() {
    let dir = tempfile::tempdir().unwrap();
    let err = Reader::open(&dir.path().join("nothing")).err().unwrap();
    assert!(err.to_string().contains("no seglab data"));
}

#[test]
fn scans_follow_merges_and_list_traits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .append_blocking(
            events(json!({"batch": [
                {"type": "page", "anonymousId": "a", "name": "Home"},
                {"type": "track", "userId": "u", "event": "Order Completed", "properties": {"revenue": 3}},
                {"type": "identify", "userId": "u", "traits": {"plan": "pro"}},
                {"type": "alias", "previousId": "a", "userId": "u"},
            ]})),
            false,
        )
        .unwrap();
    let roots = store.reader().person_roots().unwrap();
    let mut rows = Vec::new();
    let last = store
        .reader()
        .scan_events(0, |r| {
            rows.push((
                r.seq,
                *roots.get(&r.person_id).unwrap_or(&r.person_id),
                r.kind,
                r.payload.to_owned(),
            ))
        })
        .unwrap();
    assert_eq!(last, 4);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.1 == rows[1].1), "{rows:?}");
    assert_eq!(rows[1].3, r#"{"properties":{"revenue":3}}"#);
    assert_eq!(
        store
            .reader()
            .scan_events(4, |_| panic!("nothing after 4"))
            .unwrap(),
        4
    );
    let mut traits = Vec::new();
    store
        .reader()
        .scan_traits(|p, k, v, _| traits.push((p, k.to_owned(), v)))
        .unwrap();
    assert_eq!(traits, vec![(rows[1].1, "plan".to_string(), json!("pro"))]);
}

#[test]
fn the_dedup_map_survives_restarts_through_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let batch = |ids: &[&str]| {
        let msgs: Vec<_> = ids
            .iter()
            .map(|id| json!({"type": "track", "userId": "u", "event": "E", "messageId": id}))
            .collect();
        events(json!({ "batch": msgs }))
    };
    let store = open(dir.path());
    store
        .append_blocking(batch(&["a", "b", "c"]), false)
        .unwrap();
    drop(store);
    let snap = dir.path().join(dedup::DEDUP_FILE);
    assert!(snap.exists(), "written at shutdown");
    let old = std::fs::read(&snap).unwrap();

    let store = open(dir.path());
    let out = store
        .append_blocking(batch(&["a", "b", "d"]), false)
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (1, 2));
    drop(store);

    // A snapshot older than the log (as after a crash): the rows after it are read.
    std::fs::write(&snap, &old).unwrap();
    let store = open(dir.path());
    let out = store.append_blocking(batch(&["d", "e"]), false).unwrap();
    assert_eq!((out.accepted, out.duplicates, out.last_seq), (1, 1, 5));
    drop(store);

    // A damaged snapshot is ignored: the whole log is read.
    let mut bytes = std::fs::read(&snap).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&snap, &bytes).unwrap();
    let store = open(dir.path());
    let out = store
        .append_blocking(batch(&["a", "c", "e", "f"]), false)
        .unwrap();
    assert_eq!((out.accepted, out.duplicates, out.last_seq), (1, 3, 6));
}

/// `n` track events of `user`, `day` days before now, with message ids
/// `{tag}-{i}`.
fn aged(user: &str, tag: &str, n: usize, days_ago: i64) -> Vec<Event> {
    let now = seglab_event::time::now_millis();
    let at = now - days_ago * 86_400_000;
    let batch: Vec<_> = (0..n)
        .map(|i| {
            json!({"type": "track", "userId": user, "event": "Page Viewed",
                   "messageId": format!("{tag}-{i}"),
                   "timestamp": seglab_event::time::format_timestamp(at + i as i64)})
        })
        .collect();
    events(json!({ "batch": batch }))
}

#[test]
fn a_retention_pass_deletes_old_events_while_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open(dir.path()));
    for part in 0..12 {
        store
            .append_blocking(aged("old", &format!("old{part}"), 1_000, 500), true)
            .unwrap();
    }
    store
        .append_blocking(aged("new", "new", 3_000, 10), false)
        .unwrap();
    let cutoff = seglab_event::time::now_millis() - 400 * 86_400_000;
    // Appends from another thread while the pass runs: all of them land.
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut accepted = 0;
            for round in 0..40 {
                let out = store
                    .append_blocking(aged("live", &format!("live{round}"), 50, 1), false)
                    .unwrap();
                accepted += out.accepted;
            }
            accepted
        })
    };
    let mut seen = Vec::new();
    let out = store.expire(cutoff, |n| seen.push(n)).unwrap();
    assert_eq!(writer.join().unwrap(), 2_000);
    assert_eq!(out.events, 12_000);
    assert_eq!(out.batches, 12, "chunks of 1,000");
    assert_eq!(seen, (1..=12).map(|k| k * 1_000).collect::<Vec<u64>>());
    let reader = store.reader();
    let left = reader.events_after(0, 100_000).unwrap();
    assert_eq!(left.len(), 5_000);
    assert!(left.iter().all(|e| e.timestamp >= cutoff));
    assert_eq!(reader.expired_before().unwrap(), Some(cutoff));
    // The people stay; only their events went.
    assert!(reader.resolve_id("old").unwrap().is_some());
    // A message id of a deleted event is no longer a duplicate, but it is
    // older than nothing: with no retention set, it is stored again.
    let again = store
        .append_blocking(aged("old", "old0", 1, 500), true)
        .unwrap();
    assert_eq!((again.accepted, again.duplicates), (1, 0));
}

#[test]
fn with_a_retention_events_older_than_it_are_dropped_on_arrival() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store.set_retention(Some(30 * 86_400_000)).unwrap();
    }
    // The setting is kept in the store: a new writer (an import) obeys it.
    let store = open(dir.path());
    assert_eq!(store.reader().retention().unwrap(), Some(30 * 86_400_000));
    let mut batch = aged("u", "recent", 3, 29);
    batch.extend(aged("u", "stale", 2, 31));
    let out = store.append_blocking(batch, true).unwrap();
    assert_eq!((out.accepted, out.expired), (3, 2));
    store.set_retention(None).unwrap();
    assert_eq!(store.reader().retention().unwrap(), None);
    let out = store
        .append_blocking(aged("u", "stale", 2, 31), true)
        .unwrap();
    assert_eq!((out.accepted, out.expired), (2, 0));
}

#[test]
fn sequence_numbers_are_not_reused_when_the_newest_events_expire() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        store
            .append_blocking(aged("u", "a", 10, 100), false)
            .unwrap();
        let out = store
            .expire(seglab_event::time::now_millis(), |_| {})
            .unwrap();
        assert_eq!(out.events, 10);
    }
    let store = open(dir.path());
    let out = store.append_blocking(aged("u", "b", 1, 0), false).unwrap();
    assert_eq!(out.last_seq, 11);
}

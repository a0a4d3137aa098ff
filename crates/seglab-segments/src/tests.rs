use seglab_event::wire::segment_spec::{Endpoint, parse};
use seglab_store::{Durability, SaveOutcome, Store};
use serde_json::json;

use super::*;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_767_225_600_000; // 2026-01-01

fn at(days_ago: i64) -> String {
    seglab_event::time::format_timestamp(NOW - days_ago * DAY)
}

fn append(store: &Store, messages: serde_json::Value) {
    let events = parse(
        json!({ "batch": messages }).to_string().as_bytes(),
        Endpoint::Batch,
        NOW,
    )
    .unwrap()
    .events;
    store.append_blocking(events, false).unwrap();
}

fn shop() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Durability::Full).unwrap();
    append(
        &store,
        json!([
            {"type": "track", "userId": "ann", "event": "Order Completed", "properties": {"revenue": 300}, "timestamp": at(5)},
            {"type": "track", "userId": "ann", "event": "Order Completed", "properties": {"revenue": 250}, "timestamp": at(40)},
            {"type": "track", "userId": "bob", "event": "Product Viewed", "properties": {"category": "shoes"}, "timestamp": at(2)},
            {"type": "track", "userId": "bob", "event": "Product Viewed", "properties": {"category": "shoes"}, "timestamp": at(3)},
            {"type": "track", "userId": "bob", "event": "Product Viewed", "properties": {"category": "shoes"}, "timestamp": at(4)},
            {"type": "page", "anonymousId": "visitor", "name": "Home", "timestamp": at(1)},
            {"type": "identify", "userId": "bob", "traits": {"plan": "pro"}, "timestamp": at(1)},
        ]),
    );
    (dir, store)
}

fn sizes(evals: &[Evaluation]) -> Vec<(&str, u64)> {
    evals.iter().map(|e| (e.name.as_str(), e.size)).collect()
}

#[test]
fn check_apply_evaluate_and_version() {
    let (_dir, store) = shop();
    let r = store.reader();
    let seg = Segments::load(r).unwrap();
    assert_eq!((seg.people(), seg.events()), (3, 6));
    let source = r#"
segment buyers "Buyers" = did "Order Completed" in last 30d
segment big = sum("Order Completed".revenue) >= 500
segment shoe_fans = count("Product Viewed" where category = "shoes" in last 7d) >= 3 and trait.plan = "pro"
segment visitors = did "Page Viewed" where name = "Home"
"#;
    let checked = seg.check(r, source, "test.seg").unwrap();
    let saved = seg.apply(r, &checked, source).unwrap();
    assert!(
        saved
            .iter()
            .all(|(_, o)| matches!(o, SaveOutcome::Created { version: 1 }))
    );
    let evals = seg.evaluate(r, &[], NOW).unwrap();
    assert_eq!(
        sizes(&evals),
        [("big", 1), ("buyers", 1), ("shoe_fans", 1), ("visitors", 1)]
    );
    assert_eq!(evals[1].title.as_deref(), Some("Buyers"));
    assert!((evals[0].share - 1.0 / 3.0).abs() < 1e-9);
    // Stored source is the definition's own text.
    assert_eq!(
        r.segment("buyers").unwrap().unwrap().source,
        r#"segment buyers "Buyers" = did "Order Completed" in last 30d"#
    );

    // A changed definition: diff first, then apply as version 2.
    let changed = r#"segment buyers "Buyers" = did "Order Completed" in last 3d"#;
    let checked = seg.check(r, changed, "test.seg").unwrap();
    let diff = seg.diff(r, std::slice::from_ref(&checked), NOW).unwrap();
    assert_eq!(diff[0].status, "changed");
    assert_eq!((diff[0].before, diff[0].after, diff[0].leaving), (1, 0, 1));
    assert_eq!(
        seg.apply(r, &checked, changed).unwrap()[0].1,
        SaveOutcome::Updated { version: 2 }
    );
    assert_eq!(seg.evaluate(r, &["buyers".into()], NOW).unwrap()[0].size, 0);
    let (total, page) = seg.members("big", NOW, 0, 10).unwrap();
    assert_eq!(total, 1);
    assert_eq!(r.person("ann", 0).unwrap().unwrap().person_id, page[0]);
}

#[test]
fn errors_name_the_place_and_suggest() {
    let (_dir, store) = shop();
    let r = store.reader();
    let seg = Segments::load(r).unwrap();
    let err = seg
        .check(
            r,
            "segment x = did \"Order Complete\" in last 30d\n",
            "shop.seg",
        )
        .err()
        .unwrap();
    let Error::Invalid { rendered, .. } = &err else {
        panic!("{err}")
    };
    assert!(rendered.contains("shop.seg:1:17"), "{rendered}");
    assert!(rendered.contains("Order Completed"), "{rendered}");
    assert_eq!(err.code(), "unknown_event");
    assert!(matches!(
        seg.members("nope", NOW, 0, 1),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn starter_segments_install_on_any_store() {
    let (_dir, store) = shop();
    let r = store.reader();
    let seg = Segments::load(r).unwrap();
    let checked = seg.check(r, STARTER, "starter.seg").unwrap();
    let saved = seg.apply(r, &checked, STARTER).unwrap();
    assert!(saved.len() >= 15, "{saved:?}");
    let evals = seg.evaluate(r, &[], NOW).unwrap();
    let size = |n: &str| evals.iter().find(|e| e.name == n).unwrap().size;
    assert_eq!(size("recent_buyers"), 1);
    assert_eq!(size("repeat_buyers"), 1);
    assert_eq!(size("shoe_interest"), 1);
    assert_eq!(size("active"), 3);
}

#[test]
fn refresh_follows_new_events_merges_and_definitions() {
    let (_dir, store) = shop();
    let r = store.reader();
    let seg = Segments::load(r).unwrap();
    let src = "segment buyers = did \"Order Completed\"";
    let checked = seg.check(r, src, "a.seg").unwrap();
    seg.apply(r, &checked, src).unwrap();
    assert_eq!(seg.evaluate(r, &[], NOW).unwrap()[0].size, 1);
    // The anonymous visitor buys, then turns out to be bob.
    append(
        &store,
        json!([
            {"type": "track", "anonymousId": "visitor", "event": "Order Completed", "properties": {"revenue": 9}, "timestamp": at(1)},
            {"type": "alias", "previousId": "visitor", "userId": "bob", "timestamp": at(1)},
        ]),
    );
    assert_eq!(seg.refresh(r).unwrap().events, 1);
    assert_eq!(seg.people(), 2);
    let (total, members) = seg.members("buyers", NOW, 0, 10).unwrap();
    assert_eq!(total, 2);
    assert!(members.contains(&r.person("visitor", 0).unwrap().unwrap().person_id));
    // A definition saved elsewhere (the CLI beside the server) arrives too.
    r.save_segment(
        "everyone",
        None,
        "segment everyone = last_seen in last 365d",
        &serde_json::to_string(&seglab_lang::parse_condition("last_seen in last 365d").unwrap())
            .unwrap(),
    )
    .unwrap();
    seg.refresh(r).unwrap();
    assert_eq!(seg.members("everyone", NOW, 0, 10).unwrap().0, 2);
}

#[test]
fn changes_since_any_cursor_names_who_changed_and_who_merged_away() {
    let (_dir, store) = shop();
    let r = store.reader();
    let seg = Segments::load(r).unwrap();
    let start = seg.position();
    let person = |id: &str| r.person(id, 0).unwrap().unwrap().person_id;
    let (ann, bob, visitor) = (person("ann"), person("bob"), person("visitor"));
    // Loaded already: nothing after the engine's own position.
    assert!(seg.changes_since(r, start).unwrap().is_empty());
    // From the beginning: everyone, with their newest event.
    let all = seg.changes_since(r, Cursor::default()).unwrap();
    assert_eq!(all.events, 7);
    assert_eq!(
        all.touched.iter().map(|t| t.person).collect::<Vec<_>>(),
        vec![ann, bob, visitor]
    );
    assert!(all.touched.iter().all(|t| t.seq > 0 && !t.merged));
    // The visitor turns out to be bob; ann buys again.
    append(
        &store,
        json!([
            {"type": "alias", "previousId": "visitor", "userId": "bob", "timestamp": at(0)},
            {"type": "track", "userId": "ann", "event": "Order Completed", "timestamp": at(0)},
        ]),
    );
    // Not refreshed yet: the engine's position bounds the range.
    assert!(seg.changes_since(r, start).unwrap().is_empty());
    seg.refresh(r).unwrap();
    let later = seg.changes_since(r, start).unwrap();
    assert_eq!(later.to, seg.position());
    let kept = seg.resolve(visitor);
    assert_eq!(seg.resolve(bob), kept);
    let gone = if kept == bob { visitor } else { bob };
    assert_eq!(later.merged, vec![(gone, kept)]);
    let t: Vec<(i64, bool)> = later.touched.iter().map(|t| (t.person, t.merged)).collect();
    assert!(
        t.contains(&(ann, false)) && t.contains(&(kept, true)),
        "{t:?}"
    );
    // A cursor between the two: only what came after it.
    assert!(seg.changes_since(r, later.to).unwrap().is_empty());
}

fn all_members(seg: &Segments, r: &seglab_store::Reader) -> Vec<(String, Vec<i64>)> {
    let names: Vec<String> = r.segments().unwrap().into_iter().map(|s| s.name).collect();
    names
        .into_iter()
        .map(|n| {
            let (_, mut m) = seg.members(&n, NOW, 0, usize::MAX).unwrap();
            m.sort_unstable();
            (n, m)
        })
        .collect()
}

#[test]
fn a_snapshot_start_equals_a_full_load() {
    let (dir, store) = shop();
    let r = store.reader();
    let snap_dir = dir.path().join("snap");
    std::fs::create_dir(&snap_dir).unwrap();
    {
        let seg = Segments::open_with(r, Some(&snap_dir), 0).unwrap();
        let checked = seg.check(r, STARTER, "starter.seg").unwrap();
        seg.apply(r, &checked, STARTER).unwrap();
    }
    assert!(snap_dir.join(snapshot::FILE).exists());
    // Nothing after the snapshot: everything, traits too, comes from it.
    let pro = seglab_lang::parse_condition(r#"trait.plan = "pro""#).unwrap();
    let unchanged = Segments::open_with(r, Some(&snap_dir), usize::MAX).unwrap();
    assert_eq!(unchanged.preview(&pro, NOW).unwrap().size, 1);
    assert_eq!(
        all_members(&unchanged, r),
        all_members(&Segments::load(r).unwrap(), r)
    );
    // After the snapshot: new events and an identity merge.
    append(
        &store,
        json!([
            {"type": "track", "anonymousId": "visitor", "event": "Order Completed", "properties": {"revenue": 700}, "timestamp": at(2)},
            {"type": "alias", "previousId": "visitor", "userId": "bob", "timestamp": at(1)},
            {"type": "track", "userId": "cy", "event": "Email Opened", "properties": {"email_id": "e1"}, "timestamp": at(1)},
        ]),
    );
    let from_snapshot = Segments::open_with(r, Some(&snap_dir), usize::MAX).unwrap();
    let from_store = Segments::load(r).unwrap();
    assert_eq!(from_snapshot.events(), from_store.events());
    assert_eq!(from_snapshot.people(), from_store.people());
    assert_eq!(all_members(&from_snapshot, r), all_members(&from_store, r));
    assert!(
        all_members(&from_store, r)
            .iter()
            .any(|(n, m)| n == "high_value" && !m.is_empty())
    );

    // A damaged snapshot is ignored, not trusted.
    let path = snap_dir.join(snapshot::FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    let recovered = Segments::open_with(r, Some(&snap_dir), usize::MAX).unwrap();
    assert_eq!(all_members(&recovered, r), all_members(&from_store, r));
    assert!(!path.exists(), "a damaged snapshot is removed");
    // A truncated one too; a full load writes a good one again.
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let recovered = Segments::open_with(r, Some(&snap_dir), 0).unwrap();
    assert_eq!(all_members(&recovered, r), all_members(&from_store, r));
    assert!(snapshot::read(&snap_dir, |_| true).unwrap().is_some());

    // A snapshot that covers the whole store is all that is read.
    let mut t = seglab_engine::Timelines::new();
    t.push(12_345, NOW, "Only In The Snapshot", &json!({}))
        .unwrap();
    snapshot::write(&snap_dir, &r.store_id().unwrap(), r.last_seq().unwrap(), &t).unwrap();
    let trusted = Segments::open_with(r, Some(&snap_dir), usize::MAX).unwrap();
    assert_eq!((trusted.people(), trusted.events()), (1, 1));
    // One of another store is not.
    snapshot::write(&snap_dir, "another store", r.last_seq().unwrap(), &t).unwrap();
    let other = Segments::open_with(r, Some(&snap_dir), usize::MAX).unwrap();
    assert_eq!(other.events(), from_store.events());
}

#[test]
fn after_a_deletion_the_engine_reloads_and_old_snapshots_are_not_trusted() {
    let (dir, store) = shop();
    let r = store.reader();
    let seg = Segments::open_with(r, Some(dir.path()), 0).unwrap();
    let source = "segment buyers = did \"Order Completed\"";
    let checked = seg.check(r, source, "t.seg").unwrap();
    seg.apply(r, &checked, source).unwrap();
    let old_snapshot = std::fs::read(dir.path().join(snapshot::FILE)).unwrap();
    let buyers = |s: &Segments| s.evaluate(r, &["buyers".to_owned()], NOW).unwrap()[0].size;
    assert_eq!((seg.people(), buyers(&seg)), (3, 1));

    let ann = store.forget("ann").unwrap().unwrap().person;
    seg.reload_with(r, Some(dir.path()), 0).unwrap();
    assert_eq!((seg.people(), buyers(&seg)), (2, 0));
    assert!(seg.with_engine(|e| e.timelines().index_of(ann).is_none()));
    assert!(seg.definition_versions().contains_key("buyers"));
    // Refreshes go on from where the reload stood.
    append(
        &store,
        json!([{"type": "track", "userId": "dee", "event": "Order Completed", "timestamp": at(1)}]),
    );
    seg.refresh(r).unwrap();
    assert_eq!((seg.people(), buyers(&seg)), (3, 1));

    // The snapshot written by the reload reads back without her; the one
    // from before the deletion is ignored.
    let (_, t) = snapshot::read(dir.path(), |_| true).unwrap().unwrap();
    assert_eq!(t.person_count(), 2);
    std::fs::write(dir.path().join(snapshot::FILE), &old_snapshot).unwrap();
    let restarted = Segments::open_with(r, Some(dir.path()), usize::MAX).unwrap();
    assert_eq!(restarted.people(), 3, "bob, the visitor and dee");
    assert!(restarted.with_engine(|e| e.timelines().index_of(ann).is_none()));
}

#[test]
fn a_snapshot_from_before_a_retention_pass_loses_the_expired_events_too() {
    let (dir, store) = shop();
    let r = store.reader();
    let snap_dir = dir.path().join("snap");
    std::fs::create_dir(&snap_dir).unwrap();
    let before = Segments::open_with(r, Some(&snap_dir), 0).unwrap();
    let checked = before.check(r, STARTER, "starter.seg").unwrap();
    before.apply(r, &checked, STARTER).unwrap();
    assert!(snap_dir.join(snapshot::FILE).exists());
    assert_eq!(before.events(), 6);
    // Ann's order 40 days ago goes; the snapshot still holds it.
    let out = store.expire(NOW - 30 * DAY, |_| {}).unwrap();
    assert_eq!(out.events, 1);
    let from_snapshot = Segments::open_with(r, Some(&snap_dir), usize::MAX).unwrap();
    let from_store = Segments::load(r).unwrap();
    assert_eq!(from_snapshot.events(), 5);
    assert_eq!(from_store.events(), 5);
    assert_eq!(all_members(&from_snapshot, r), all_members(&from_store, r));
    assert_ne!(all_members(&before, r), all_members(&from_store, r));
}

#[test]
fn the_checker_knows_the_stores_retention() {
    let (_dir, store) = shop();
    let r = store.reader();
    let seg = Segments::load(r).unwrap();
    let source = "segment big = sum(\"Order Completed\".revenue in last 365d) >= 500\n";
    let codes = |seg: &Segments| -> Vec<&'static str> {
        seg.check(r, source, "t.seg")
            .unwrap()
            .warnings
            .iter()
            .map(|d| d.code)
            .collect()
    };
    assert!(codes(&seg).is_empty());
    store.set_retention(Some(52 * 7 * DAY)).unwrap();
    assert_eq!(codes(&seg), vec![seglab_lang::codes::BEYOND_RETENTION]);
    let checked = seg.check(r, source, "t.seg").unwrap();
    assert!(
        checked.warnings[0].message.contains("52w"),
        "{:?}",
        checked.warnings
    );
}

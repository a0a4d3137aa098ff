use serde_json::json;

use crate::support::*;

const SEGMENTS: &str = r#"
segment recent_buyers = did "Order Completed" in last 30d
segment cart_abandoners = did "Product Added" then not "Order Completed" within 24h
segment browsers = did "Product Viewed"
"#;

#[test]
fn an_event_enters_and_time_exits() {
    let mut w = World::new(SEGMENTS);
    w.send(json!([track("ann", "Order Completed", NOW - DAY)]));
    let ch = w.step(NOW);
    let ann = w.person("ann");
    assert_eq!(
        kinds(&ch),
        vec![("recent_buyers".into(), ann, "entered", "event")]
    );
    assert!(ch[0].event_seq.is_some());
    assert_eq!(ch[0].at, NOW);
    assert_eq!(w.live.segments_of(ann), vec!["recent_buyers"]);

    // The order leaves the 30-day window 29 days (and a moment) later.
    assert!(w.step(NOW + 28 * DAY).is_empty());
    let exit_at = w.live.next_timer().expect("a timer for the window");
    assert!(
        exit_at > NOW + 28 * DAY && exit_at <= NOW + 29 * DAY + 1,
        "{exit_at}"
    );
    let ch = w.step(NOW + 40 * DAY);
    assert_eq!(
        kinds(&ch),
        vec![("recent_buyers".into(), ann, "exited", "time")]
    );
    assert_eq!(ch[0].at, exit_at, "the exit is recorded at its own instant");
    assert_eq!(
        w.members("recent_buyers"),
        w.batch("recent_buyers", NOW + 40 * DAY)
    );
}

#[test]
fn a_cart_is_abandoned_24_hours_after_the_add() {
    let mut w = World::new(SEGMENTS);
    w.send(json!([track("bea", "Product Added", NOW)]));
    assert!(w.step(NOW + HOUR).is_empty());
    let bea = w.person("bea");
    let ch = w.step(NOW + 2 * DAY);
    assert_eq!(
        kinds(&ch),
        vec![("cart_abandoners".into(), bea, "entered", "time")]
    );
    assert_eq!(ch[0].at, NOW + DAY);
    // An order later does not undo the abandonment of that cart…
    w.send(json!([track("bea", "Order Completed", NOW + 2 * DAY + 1)]));
    let ch = w.step(NOW + 2 * DAY + 2);
    assert_eq!(
        kinds(&ch),
        vec![("recent_buyers".into(), bea, "entered", "event")]
    );
}

#[test]
fn late_events_are_placed_in_time() {
    let mut w = World::new(SEGMENTS);
    w.send(json!([track("cy", "Product Added", NOW)]));
    w.step(NOW + HOUR);
    // The order arrives late but happened within the 24 hours: never abandoned.
    w.send(json!([track("cy", "Order Completed", NOW + 2 * HOUR)]));
    let ch = w.step(NOW + 3 * HOUR);
    let cy = w.person("cy");
    assert_eq!(
        kinds(&ch),
        vec![("recent_buyers".into(), cy, "entered", "event")]
    );
    assert!(w.step(NOW + 3 * DAY).is_empty());
    assert!(w.members("cart_abandoners").is_empty());
}

#[test]
fn merges_move_memberships_to_the_kept_person() {
    let mut w = World::new(SEGMENTS);
    w.send(json!([
        {"type": "track", "anonymousId": "anon-1", "event": "Product Viewed", "timestamp": ts(NOW - HOUR), "messageId": "v1"},
        track("dan", "Order Completed", NOW - HOUR),
    ]));
    w.step(NOW);
    let dan = w.person("dan");
    let anon = w.person("anon-1");
    assert_ne!(dan, anon);
    assert_eq!(w.members("browsers"), vec![anon]);
    w.send(json!([{"type": "alias", "previousId": "anon-1", "userId": "dan", "timestamp": ts(NOW), "messageId": "a1"}]));
    let mut ch = kinds(&w.step(NOW + 1));
    ch.sort();
    let mut want = vec![
        ("browsers".to_string(), anon, "exited", "merge"),
        ("browsers".to_string(), dan, "entered", "merge"),
    ];
    want.sort();
    assert_eq!(ch, want);
    assert_eq!(w.members("browsers"), vec![dan]);
}

#[test]
fn restarts_keep_memberships_and_timers_and_repeat_nothing() {
    let mut w = World::new(SEGMENTS);
    w.send(json!([
        track("eve", "Order Completed", NOW - DAY),
        track("fay", "Product Added", NOW)
    ]));
    w.step(NOW);
    let before = w.change_count();
    assert!(w.restart(NOW + 1).is_empty(), "nothing new happened");
    assert_eq!(w.change_count(), before);
    assert_eq!(w.members("recent_buyers"), vec![w.person("eve")]);
    // While seglab was down: a new event, and the cart's 24 hours passed.
    w.send(json!([track("gus", "Product Viewed", NOW + 2)]));
    let ch = w.restart(NOW + 2 * DAY);
    let mut got = kinds(&ch);
    got.sort();
    let mut want = vec![
        ("browsers".to_string(), w.person("gus"), "entered", "start"),
        (
            "cart_abandoners".to_string(),
            w.person("fay"),
            "entered",
            "time",
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    let abandoned = ch.iter().find(|c| c.segment == "cart_abandoners").unwrap();
    assert_eq!(abandoned.at, NOW + DAY, "the timer fired at its instant");
    assert!(w.restart(NOW + 2 * DAY).is_empty());
    // A segment saved while seglab was stopped is populated at start, as a
    // definition (never delivered), not as behavior.
    apply(
        &w.segments,
        w.store(),
        r#"segment eve_like = did "Order Completed""#,
    );
    let ch = w.restart(NOW + 2 * DAY);
    assert_eq!(
        kinds(&ch),
        vec![("eve_like".into(), w.person("eve"), "entered", "definition")]
    );
    for s in ["recent_buyers", "cart_abandoners", "browsers"] {
        assert_eq!(w.members(s), w.batch(s, NOW + 2 * DAY), "{s}");
    }
}

#[test]
fn definitions_populate_and_deletions_empty_segments() {
    let mut w = World::new(SEGMENTS);
    w.send(json!([track("hal", "Product Viewed", NOW)]));
    w.step(NOW);
    apply(
        &w.segments,
        w.store(),
        r#"segment viewers = count("Product Viewed") >= 1"#,
    );
    let ch = w.step(NOW + 1);
    assert_eq!(
        kinds(&ch),
        vec![("viewers".into(), w.person("hal"), "entered", "definition")]
    );
    w.segments.delete(w.store().reader(), "viewers").unwrap();
    let ch = w.step(NOW + 2);
    assert_eq!(
        kinds(&ch),
        vec![("viewers".into(), w.person("hal"), "exited", "deleted")]
    );
    assert!(w.live.members("viewers").is_none());
}

#[test]
fn historical_imports_are_recorded_but_never_delivered() {
    let mut w = World::new(SEGMENTS);
    let sub = seglab_live::webhook::subscribe(
        &w.db(),
        &seglab_live::webhook::NewSubscription {
            url: "http://127.0.0.1:9/hook".into(),
            segments: None,
            events: None,
        },
        NOW,
    )
    .unwrap();
    w.live.reload_subscriptions().unwrap();
    send(
        w.store(),
        json!([track("ida", "Product Viewed", NOW - 5 * DAY)]),
        true,
    );
    let ch = w.step(NOW);
    assert_eq!(ch.len(), 1);
    assert!(ch[0].historical);
    let owed = |w: &World| {
        let s = seglab_live::webhook::stats(&w.db(), sub.id).unwrap();
        s.pending + s.delivered + s.failed
    };
    assert_eq!(owed(&w), 0, "imported history never triggers a delivery");
    // A live event of the same kind does.
    w.send(json!([track("jo", "Product Viewed", NOW)]));
    w.step(NOW + 1);
    assert_eq!(owed(&w), 1);
}

#[test]
fn a_merged_away_persons_due_timer_does_not_make_it_a_member() {
    let mut w = World::new(SEGMENTS);
    w.send(json!([
        {"type": "track", "anonymousId": "cart-anon", "event": "Product Added",
         "timestamp": ts(NOW), "messageId": "pa1"},
    ]));
    w.step(NOW + 1);
    let anon = w.person("cart-anon");
    assert!(w.live.next_timer().is_some());
    // The visitor logs in as someone who already exists; the cart's 24 hours
    // pass before seglab looks again.
    w.send(json!([track("kim", "Product Viewed", NOW + 2)]));
    w.step(NOW + 3);
    let kim = w.person("kim");
    w.send(
        json!([{"type": "alias", "previousId": "cart-anon", "userId": "kim",
                   "timestamp": ts(NOW + 4), "messageId": "al1"}]),
    );
    let ch = w.step(NOW + 2 * DAY);
    assert!(
        ch.iter().all(|c| c.person != anon || !c.entered),
        "the merged-away person enters nothing: {:?}",
        kinds(&ch)
    );
    let abandoned = w.members("cart_abandoners");
    assert!(
        abandoned.contains(&kim) && !abandoned.contains(&anon),
        "{abandoned:?}"
    );
    for s in ["recent_buyers", "cart_abandoners", "browsers"] {
        assert_eq!(w.members(s), w.batch(s, NOW + 2 * DAY), "{s}");
    }
}

#[test]
fn a_segment_in_use_cannot_be_deleted() {
    let w = World::new(
        r#"segment buyers = did "Order Completed"
segment big_buyers = in segment buyers and count("Order Completed") >= 3"#,
    );
    let err = w.segments.delete(w.store().reader(), "buyers").unwrap_err();
    assert_eq!(err.code(), "segment_in_use");
    assert!(err.to_string().contains("big_buyers"), "{err}");
    w.segments.delete(w.store().reader(), "big_buyers").unwrap();
    w.segments.delete(w.store().reader(), "buyers").unwrap();
}

#[test]
fn a_deleted_person_leaves_every_segment_timer_delivery_and_checkpoint() {
    let mut w = World::new(SEGMENTS);
    seglab_live::webhook::subscribe(
        &w.db(),
        &seglab_live::webhook::NewSubscription {
            url: "http://127.0.0.1:9/hook".into(),
            segments: None,
            events: None,
        },
        NOW,
    )
    .unwrap();
    w.live.reload_subscriptions().unwrap();
    w.send(json!([track("bob", "Order Completed", NOW - DAY)]));
    w.step(NOW);
    w.live.checkpoint().unwrap();
    // Ann's changes are the newest: their numbers must not come back.
    w.send(json!([
        track("ann", "Order Completed", NOW - DAY),
        track("ann", "Product Viewed", NOW - DAY)
    ]));
    w.step(NOW + 1);
    w.live.checkpoint().unwrap();
    let (ann, bob) = (w.person("ann"), w.person("bob"));
    let newest = w.change_count();
    assert_eq!(w.live.segments_of(ann), vec!["browsers", "recent_buyers"]);

    let gone = w.store().forget("ann").unwrap().unwrap();
    assert_eq!(gone.persons, vec![ann]);
    w.segments.reload(w.store().reader(), None).unwrap();
    let out = w.live.forget(&gone.persons).unwrap();
    assert_eq!(
        out,
        seglab_live::Forgotten {
            changes: 2,
            deliveries: 2,
            timers: 1,
            checkpoints: 2,
        }
    );
    assert!(w.live.erase_deleted().unwrap());
    assert!(w.live.segments_of(ann).is_empty());
    assert_eq!(w.members("recent_buyers"), vec![bob]);
    let count = |sql: &str| -> i64 { w.conn().query_row(sql, [ann], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM changes WHERE person = ?1"), 0);
    assert_eq!(count("SELECT count(*) FROM timers WHERE person = ?1"), 0);

    // Nothing of hers comes back: not from a step, nor from a restart
    // (checkpoints and replay), nor when time passes.
    assert!(w.step(NOW + 2).is_empty());
    assert!(w.restart(NOW + 3).is_empty());
    assert!(w.live.segments_of(ann).is_empty());
    assert_eq!(w.members("browsers"), Vec::<i64>::new());
    let ch = w.step(NOW + 40 * DAY);
    assert_eq!(
        kinds(&ch),
        vec![("recent_buyers".into(), bob, "exited", "time")]
    );
    assert!(
        ch[0].id > newest,
        "{} reused a deleted change's number",
        ch[0].id
    );
    for s in ["recent_buyers", "cart_abandoners", "browsers"] {
        assert_eq!(w.members(s), w.batch(s, NOW + 40 * DAY), "{s}");
    }
}

/// Warehouse mode: steps evaluate nothing; what an evaluation hands over is
/// recorded (`definition` at a segment's first version, then `warehouse`,
/// delivered like `event`, or `retention` after a retention pass, not
/// delivered); a deleted segment's members exit.
#[test]
fn warehouse_mode_records_what_the_schedule_hands_over() {
    use seglab_live::{Cause, Evaluated, Live, Mode};
    use std::collections::BTreeSet;
    let mut w = World::new(SEGMENTS);
    w.send(json!([track("ann", "Order Completed", NOW - DAY)]));
    // A live.db of its own: the world's was filled natively.
    let (dir, store) = (w.dir.path().join("warehouse"), w.store.take().unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    let mut live = Live::open_in(&dir, &w.segments, store.reader(), NOW, Mode::Warehouse).unwrap();
    assert_eq!(live.mode(), Mode::Warehouse);
    live.step(&w.segments, store.reader(), NOW).unwrap();
    assert_eq!(
        live.members("recent_buyers"),
        None,
        "steps evaluate nothing"
    );
    let ann = store.reader().resolve_id("ann").unwrap().unwrap();
    let versions = w.segments.definition_versions();
    let defined: BTreeSet<String> = versions.keys().cloned().collect();
    let found = |members: Vec<i64>| {
        vec![Evaluated {
            name: "recent_buyers".into(),
            version: versions["recent_buyers"],
            members,
        }]
    };
    let mut feed = live.subscribe();
    let s = live
        .record_members(&found(vec![ann]), &defined, NOW, Cause::Warehouse)
        .unwrap();
    assert_eq!((s.changes, s.entered), (1, 1));
    assert_eq!(feed.try_recv().unwrap().cause, Cause::Definition);
    live.record_members(&found(vec![]), &defined, NOW + 1, Cause::Warehouse)
        .unwrap();
    let exit = feed.try_recv().unwrap();
    assert_eq!(
        (exit.entered, exit.cause, exit.at),
        (false, Cause::Warehouse, NOW + 1)
    );
    assert!(Cause::Warehouse.delivered());
    live.record_members(&found(vec![ann]), &defined, NOW + 2, Cause::Warehouse)
        .unwrap();
    assert_eq!(feed.try_recv().unwrap().cause, Cause::Warehouse);
    // The evaluation right after a retention pass: housekeeping, not
    // delivered.
    live.record_members(&found(vec![]), &defined, NOW + 2, Cause::Retention)
        .unwrap();
    let expired = feed.try_recv().unwrap();
    assert_eq!((expired.entered, expired.cause), (false, Cause::Retention));
    assert!(!Cause::Retention.delivered());
    live.record_members(&found(vec![ann]), &defined, NOW + 3, Cause::Warehouse)
        .unwrap();
    let gone = live
        .record_members(&[], &BTreeSet::new(), NOW + 3, Cause::Warehouse)
        .unwrap();
    assert_eq!(gone.changes, 1);
    assert_eq!(feed.try_recv().unwrap().cause, Cause::Warehouse);
    assert_eq!(feed.try_recv().unwrap().cause, Cause::Deleted);
    assert_eq!(live.members("recent_buyers"), None);

    // Native mode refuses what the schedule hands over.
    let mut native = Live::open(&dir, &w.segments, store.reader(), NOW + 4).unwrap();
    assert!(
        native
            .record_members(&found(vec![]), &defined, NOW + 5, Cause::Warehouse)
            .is_err()
    );
    w.store = Some(store);
}

//! Insights over a tiny real store whose numbers are worked out by hand.

use seglab_event::wire::segment_spec::{Endpoint, parse};
use seglab_live::{Live, LiveDb};
use seglab_segments::Segments;
use seglab_store::{Durability, Store};
use serde_json::{Value, json};

use super::*;
use crate::guardrails::Kind;

const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn at(ms: i64) -> String {
    seglab_event::time::format_timestamp(ms)
}

fn ago(days: i64) -> String {
    at(NOW - days * DAY)
}

fn send(store: &Store, messages: Value) {
    let events = parse(
        json!({ "batch": messages }).to_string().as_bytes(),
        Endpoint::Batch,
        NOW,
    )
    .unwrap()
    .events;
    store.append_blocking(events, false).unwrap();
}

fn track(user: &str, event: &str, props: Value, when: String) -> Value {
    json!({"type": "track", "userId": user, "event": event, "properties": props, "timestamp": when})
}

fn apply(segments: &Segments, store: &Store, source: &str) {
    let r = store.reader();
    segments.refresh(r).unwrap();
    let checked = segments.check(r, source, "test.seg").unwrap();
    segments.apply(r, &checked, source).unwrap();
}

/// Five people:
/// - ann: orders 5 and 40 days ago (300 + 250), a page view, an email
///   delivered 3 days ago and opened 2 days ago;
/// - bob: an order 50 days ago (50), an email delivered 3 days ago, unopened;
/// - cat: an order 400 days ago (1,000: outside the 365-day window), a
///   product view 400 days ago and a page view;
/// - dan: a page view, an email delivered 40 days ago and clicked 39 days ago
///   (outside the 30-day window);
/// - eve: an order 1 day ago with no revenue.
const SHOP: &str = r#"
segment buyers = did "Order Completed" in last 365d
segment buyers_too = count("Order Completed" in last 365d) >= 1
segment recent = did "Order Completed" in last 30d
segment visitors = did "Page Viewed"
segment viewers = did "Product Viewed"
segment nobody = did "Order Refunded"
"#;

fn shop() -> (tempfile::TempDir, Store, Segments) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Durability::Normal).unwrap();
    send(
        &store,
        json!([
            track("ann", "Order Completed", json!({"revenue": 300}), ago(5)),
            track("ann", "Order Completed", json!({"revenue": 250}), ago(40)),
            {"type": "page", "userId": "ann", "name": "Home", "timestamp": ago(6)},
            track("ann", "Email Delivered", json!({}), ago(3)),
            track("ann", "Email Opened", json!({}), ago(2)),
            track("bob", "Order Completed", json!({"revenue": 50}), ago(50)),
            track("bob", "Email Delivered", json!({}), ago(3)),
            track("cat", "Order Completed", json!({"revenue": 1000}), ago(400)),
            track("cat", "Product Viewed", json!({"category": "shoes"}), ago(400)),
            {"type": "page", "userId": "cat", "name": "Home", "timestamp": ago(1)},
            {"type": "page", "userId": "dan", "name": "Home", "timestamp": ago(2)},
            track("dan", "Email Delivered", json!({}), ago(40)),
            track("dan", "Email Link Clicked", json!({}), ago(39)),
            track("eve", "Order Completed", json!({"currency": "EUR"}), ago(1)),
        ]),
    );
    let segments = Segments::load(store.reader()).unwrap();
    apply(&segments, &store, SHOP);
    (dir, store, segments)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn revenue_conversion_and_engagement_per_segment() {
    let (_dir, _store, segments) = shop();
    let members = Evaluated::saved(&segments, NOW).unwrap();
    let insights = Insights::new(&segments, &members, &NoHistory);

    // ann, bob, eve: 4 orders, 600 in all.
    let b = insights.segment("buyers", NOW, 7).unwrap();
    assert_eq!((b.size, b.people), (3, 5));
    assert!(close(b.share, 0.6));
    assert_eq!((b.orders.orders, b.orders.buyers), (4, 3));
    assert!(close(b.orders.revenue, 600.0));
    assert!(close(b.orders.revenue_per_member.unwrap(), 200.0));
    assert!(close(b.orders.average_order_value.unwrap(), 150.0));
    assert!(close(b.orders.conversion_rate.unwrap(), 1.0));
    // Delivered to ann and bob, opened by ann.
    assert_eq!((b.email.delivered, b.email.engaged), (2, 1));
    assert!(close(b.email.engagement_rate.unwrap(), 0.5));
    assert!(b.days.is_empty());
    assert_eq!(b.at, "2026-01-01T00:00:00.000Z");

    // ann, cat, dan: ann's two orders; dan's email is too old.
    let v = insights.segment("visitors", NOW, 7).unwrap();
    assert_eq!((v.orders.orders, v.orders.buyers), (2, 1));
    assert!(close(v.orders.revenue_per_member.unwrap(), 550.0 / 3.0));
    assert!(close(v.orders.average_order_value.unwrap(), 275.0));
    assert!(close(v.orders.conversion_rate.unwrap(), 1.0 / 3.0));
    assert_eq!((v.email.delivered, v.email.engaged), (1, 1));

    // cat: an order, but outside the window; no email.
    let w = insights.segment("viewers", NOW, 7).unwrap();
    assert_eq!((w.size, w.orders.orders), (1, 0));
    assert_eq!(w.orders.revenue_per_member, Some(0.0));
    assert_eq!(w.orders.conversion_rate, Some(0.0));
    assert_eq!(w.orders.average_order_value, None);
    assert_eq!(w.email.engagement_rate, None);
    assert!(w.notes.iter().any(|n| n.contains("no average order value")));
}

#[test]
fn a_segment_of_nobody_has_no_ratios_and_says_why() {
    let (_dir, _store, segments) = shop();
    let members = Evaluated::saved(&segments, NOW).unwrap();
    let insights = Insights::new(&segments, &members, &NoHistory);
    let n = insights.segment("nobody", NOW, 1).unwrap();
    assert_eq!((n.size, n.share), (0, 0.0));
    assert_eq!(n.orders.revenue_per_member, None);
    assert_eq!(n.orders.conversion_rate, None);
    assert_eq!(n.orders.average_order_value, None);
    assert!(n.notes[0].starts_with("no members"), "{:?}", n.notes);
    let text = serde_json::to_string(&n).unwrap();
    assert!(!text.contains("NaN") && text.contains("\"conversion_rate\":null"));
    // Unknown segments and bad series lengths.
    assert!(matches!(
        insights.segment("ghost", NOW, 7),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        insights.segment("buyers", NOW, 0),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        insights.segment("buyers", NOW, MAX_DAYS + 1),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn rfm_cells_of_four_buyers() {
    let (_dir, _store, segments) = shop();
    let members = Evaluated::saved(&segments, NOW).unwrap();
    let grid = Insights::new(&segments, &members, &NoHistory).rfm_grid(NOW);
    // Recency: cat (400 d) 1, bob (50 d) 2, ann (5 d) 3, eve (1 d) 4.
    // Frequency: ann (2 orders) 4, the others (1) 1.
    assert_eq!(grid.buyers, 4);
    assert!(close(grid.revenue, 1600.0));
    assert_eq!(grid.cells.len(), 25);
    assert_eq!((grid.cells[0].r, grid.cells[0].f), (5, 1));
    assert_eq!((grid.cells[24].r, grid.cells[24].f), (1, 5));
    let filled: Vec<(u8, u8, &str, u64, f64)> = grid
        .cells
        .iter()
        .filter(|c| c.people > 0)
        .map(|c| (c.r, c.f, c.cell, c.people, c.revenue))
        .collect();
    assert_eq!(
        filled,
        vec![
            (4, 1, "Promising", 1, 0.0),
            (3, 4, "Loyal", 1, 550.0),
            (2, 1, "Hibernating", 1, 50.0),
            (1, 1, "Lost", 1, 1000.0),
        ]
    );
    let lost = grid.named.iter().find(|c| c.cell == "Lost").unwrap();
    assert!(close(lost.share_of_buyers, 0.25) && close(lost.share_of_revenue, 0.625));
    assert_eq!(grid.named.len(), seglab_engine::RFM_CELLS.len());
    // Nobody bought yet: an empty grid, shares 0.
    let early = Insights::new(&segments, &members, &NoHistory).rfm_grid(NOW - 1000 * DAY);
    assert_eq!((early.buyers, early.named[0].share_of_buyers), (0, 0.0));
}

#[test]
fn overlap_and_families_of_known_segments() {
    let (_dir, _store, segments) = shop();
    let members = Evaluated::saved(&segments, NOW).unwrap();
    let insights = Insights::new(&segments, &members, &NoHistory);
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // {ann, bob, eve} and {ann, cat, dan}: 1 in both, 5 in either.
    let o = insights.overlap(&names(&["buyers", "visitors"])).unwrap();
    assert_eq!(o.intersections, vec![vec![3, 1], vec![1, 3]]);
    assert!(close(o.jaccard[0][1], 0.2));
    assert_eq!(insights.overlap(&[]).unwrap().segments.len(), 6);
    assert!(matches!(
        insights.overlap(&names(&["ghost"])),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        insights.overlap(&names(&["buyers", "buyers"])),
        Err(Error::Invalid(_))
    ));

    // recent {ann, eve}, then buyers adds bob, then visitors cat and dan.
    let f = insights
        .families(&names(&["recent", "buyers", "visitors"]))
        .unwrap();
    let firsts: Vec<u64> = f.families.iter().map(|x| x.first).collect();
    assert_eq!(firsts, vec![2, 1, 2]);
    assert_eq!((f.people, f.assigned, f.unassigned), (5, 5, 0));
    assert!(matches!(insights.families(&[]), Err(Error::Invalid(_))));
}

fn kinds(list: &[Guardrail], segment: &str) -> Vec<Kind> {
    list.iter()
        .filter(|g| g.segment == segment)
        .map(|g| g.kind)
        .collect()
}

#[test]
fn guardrails_of_the_shop() {
    let (_dir, _store, segments) = shop();
    let members = Evaluated::saved(&segments, NOW).unwrap();
    let insights = Insights::new(&segments, &members, &NoHistory);
    let list = insights
        .guardrails(&[], NOW, &Thresholds::default())
        .unwrap();
    // Three buyers cannot show a 10 % lift; buyers_too is the same people.
    assert_eq!(
        kinds(&list, "buyers"),
        vec![Kind::TooSmall, Kind::NearDuplicate]
    );
    let dup = list
        .iter()
        .find(|g| g.segment == "buyers_too" && g.kind == Kind::NearDuplicate)
        .unwrap();
    assert_eq!(dup.other.as_deref(), Some("buyers"));
    assert_eq!(dup.numbers["jaccard"], 1.0);
    // Nobody: no members, and an event never tracked.
    let nobody: Vec<&Guardrail> = list.iter().filter(|g| g.segment == "nobody").collect();
    assert_eq!(nobody.len(), 2);
    assert!(
        nobody[0].message.starts_with("no members"),
        "{}",
        nobody[0].message
    );
    assert_eq!(nobody[1].kind, Kind::Stale);
    assert_eq!(nobody[1].events, vec!["Order Refunded".to_owned()]);
    assert!(nobody[1].message.contains("never tracked"));
    // Product views stopped 400 days ago: tracked once, not lately.
    let viewers = list
        .iter()
        .find(|g| g.segment == "viewers" && g.kind == Kind::Stale)
        .unwrap();
    assert!(
        viewers.message.contains("not tracked in the last 30 days"),
        "{}",
        viewers.message
    );
    // Page views are current: visitors are not stale.
    assert!(!kinds(&list, "visitors").contains(&Kind::Stale));
    // Nothing is NaN.
    let text = serde_json::to_string(&list).unwrap();
    assert!(!text.contains("NaN"), "{text}");
    // One segment only; an unknown one is an error.
    let one = insights
        .guardrails(&["visitors".to_owned()], NOW, &Thresholds::default())
        .unwrap();
    assert!(one.iter().all(|g| g.segment == "visitors"));
    assert!(matches!(
        insights.guardrails(&["ghost".to_owned()], NOW, &Thresholds::default()),
        Err(Error::NotFound(_))
    ));
    let bad = Thresholds {
        weeks: 0,
        ..Thresholds::default()
    };
    assert!(matches!(
        insights.guardrails(&[], NOW, &bad),
        Err(Error::Invalid(_))
    ));
}

#[test]
fn a_small_segment_with_most_of_the_revenue_is_worth_a_campaign() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Durability::Normal).unwrap();
    // 99 visitors and one whale: 1 % of people, all of the revenue.
    let mut batch: Vec<Value> = (0..99)
        .map(|i| json!({"type": "page", "userId": format!("v{i}"), "name": "Home", "timestamp": ago(1)}))
        .collect();
    batch.push(track(
        "whale",
        "Order Completed",
        json!({"revenue": 5000}),
        ago(2),
    ));
    send(&store, Value::Array(batch));
    let segments = Segments::load(store.reader()).unwrap();
    apply(
        &segments,
        &store,
        "segment whales = did \"Order Completed\"\nsegment visitors = did \"Page Viewed\"\n",
    );
    let members = Evaluated::saved(&segments, NOW).unwrap();
    let list = Insights::new(&segments, &members, &NoHistory)
        .guardrails(&[], NOW, &Thresholds::default())
        .unwrap();
    let g = list
        .iter()
        .find(|g| g.kind == Kind::SmallButValuable)
        .unwrap();
    assert_eq!(g.segment, "whales");
    assert_eq!(
        (g.numbers["share"], g.numbers["revenue_share"]),
        (0.01, 1.0)
    );
    assert!(
        g.message.starts_with("1 % of people but 100 % of revenue"),
        "{}",
        g.message
    );
    assert!(!kinds(&list, "visitors").contains(&Kind::SmallButValuable));
}

/// Live history: ann's order 3 days ago is recorded when the segment is
/// created two days ago (a definition entry), bob's order a day ago as an
/// entry of his own; carl is first seen today.
#[test]
fn days_shares_entries_and_staleness_from_live_history() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Durability::Normal).unwrap();
    send(
        &store,
        json!([track(
            "ann",
            "Order Completed",
            json!({"revenue": 10}),
            ago(3)
        )]),
    );
    let segments = Segments::load(store.reader()).unwrap();
    apply(
        &segments,
        &store,
        "segment buyers = did \"Order Completed\" in last 30d\n",
    );
    let mut live = Live::open(dir.path(), &segments, store.reader(), NOW - 2 * DAY).unwrap();
    send(
        &store,
        json!([track(
            "bob",
            "Order Completed",
            json!({"revenue": 20}),
            ago(1)
        )]),
    );
    live.step(&segments, store.reader(), NOW - DAY + 3_600_000)
        .unwrap();
    send(
        &store,
        json!([{"type": "page", "userId": "carl", "name": "Home", "timestamp": at(NOW)}]),
    );
    live.step(&segments, store.reader(), NOW + 60_000).unwrap();
    let db = LiveDb::open(dir.path()).unwrap();
    let insights = Insights::new(&segments, &live, &db);

    let s = insights.segment("buyers", NOW + 60_000, 3).unwrap();
    let days: Vec<(&str, u64, u64, u64)> = s
        .days
        .iter()
        .map(|d| (d.day.as_str(), d.entered, d.size, d.people))
        .collect();
    assert_eq!(
        days,
        vec![
            ("2025-12-30", 1, 1, 1),
            ("2025-12-31", 1, 2, 2),
            ("2026-01-01", 0, 2, 3),
        ]
    );
    assert!(close(s.days[2].share, 2.0 / 3.0));
    assert_eq!(
        s.notes,
        ["no email delivered to members in the last 30 days: no engagement rate"]
    );

    // ann came with the definition; only bob entered by his own doing.
    assert_eq!(
        db.entries("buyers", NOW - 28 * DAY, NOW + 60_000).unwrap(),
        seglab_live::Entries {
            all: 2,
            behavioral: 1
        }
    );
    // Stale at one day (nobody entered today), not at two (bob, yesterday).
    let stale = |days: u32| {
        let t = Thresholds {
            stale_days: days,
            ..Thresholds::default()
        };
        let list = insights.guardrails(&[], NOW + 60_000, &t).unwrap();
        list.into_iter()
            .find(|g| g.kind == Kind::Stale)
            .map(|g| g.message)
    };
    let one = stale(1).unwrap();
    assert!(one.starts_with("nobody entered in the last day"), "{one}");
    assert_eq!(stale(2), None);
}

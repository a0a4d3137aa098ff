//! After any sequence of events (on time, late, merges) and clock moves, with
//! restarts in between, live memberships equal a fresh batch evaluation at
//! that instant, and no change is ever recorded twice.

use proptest::prelude::*;
use serde_json::json;

use crate::support::*;

/// Time-bounded conditions of every kind (RFM cells move with other people's
/// orders and are re-evaluated in batch; they are checked elsewhere).
const SEGMENTS: &str = r#"
segment recent = did "Order Completed" in last 2d
segment twice_today = count("Product Viewed" in last 1d) >= 2
segment abandoned = did "Product Added" in last 5d then not "Order Completed" within 6h
segment pending_cart = did "Product Added" then not "Order Completed"
segment stopped_viewing = stopped "Product Viewed" for 1d
segment came_back = restarted "Product Viewed" after 1d
segment regular = regularly "Product Viewed" 1 per 1d in 2 of last 3
segment new_people = first_seen in last 3d
segment lapsed = last("Order Completed") before 1d ago
segment quick_buy = did "Product Added" then "Order Completed" within 2h
segment not_recent = not in segment recent and did "Product Viewed"
segment spenders = sum("Order Completed".revenue in last 3d) >= 50
segment in_january = did "Product Viewed" between 2026-01-02 and 2026-01-04
"#;

const EVENTS: [&str; 3] = ["Order Completed", "Product Viewed", "Product Added"];
const USERS: [&str; 4] = ["u0", "u1", "u2", "u3"];

#[derive(Debug, Clone)]
enum Op {
    /// An event of user `u`, `offset` ms from the clock (negative: late).
    Track {
        u: usize,
        e: usize,
        offset: i64,
        revenue: u8,
    },
    /// An anonymous visitor's view, then the visitor identifies as user `u`.
    Identify {
        u: usize,
        anon: u8,
    },
    Advance(i64),
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..USERS.len(), 0..EVENTS.len(), -2 * DAY..HOUR, 0u8..60).prop_map(|(u, e, offset, revenue)| Op::Track { u, e, offset, revenue }),
        1 => (0..USERS.len(), 0u8..3).prop_map(|(u, anon)| Op::Identify { u, anon }),
        4 => prop_oneof![1..HOUR, HOUR..DAY, DAY..4 * DAY].prop_map(Op::Advance),
        1 => Just(Op::Restart),
    ]
}

fn check(w: &World, now: i64) {
    for name in [
        "recent",
        "twice_today",
        "abandoned",
        "pending_cart",
        "stopped_viewing",
        "came_back",
        "regular",
        "new_people",
        "lapsed",
        "quick_buy",
        "not_recent",
        "spenders",
        "in_january",
    ] {
        assert_eq!(
            w.members(name),
            w.batch(name, now),
            "segment {name} at {}",
            ts(now)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn live_equals_batch(ops in prop::collection::vec(op(), 1..24)) {
        let mut w = World::new(SEGMENTS);
        let mut clock = NOW;
        let mut n = 0;
        for op in ops {
            n += 1;
            match op {
                Op::Track { u, e, offset, revenue } => {
                    let mut m = track(USERS[u], EVENTS[e], clock + offset);
                    m["messageId"] = json!(format!("m{n}"));
                    m["properties"] = json!({"revenue": revenue});
                    w.send(json!([m]));
                }
                Op::Identify { u, anon } => {
                    let anon = format!("anon{anon}");
                    w.send(json!([
                        {"type": "track", "anonymousId": anon, "event": "Product Viewed",
                         "timestamp": ts(clock), "messageId": format!("m{n}v")},
                        {"type": "identify", "anonymousId": anon, "userId": USERS[u],
                         "timestamp": ts(clock), "messageId": format!("m{n}i")},
                    ]));
                }
                Op::Advance(d) => clock += d,
                Op::Restart => {
                    w.restart(clock);
                    check(&w, clock);
                    continue;
                }
            }
            w.step(clock);
            check(&w, clock);
        }
        // Nothing recorded twice: consecutive changes of one (segment, person)
        // alternate between entering and exiting.
        let conn = w.conn();
        let mut stmt = conn
            .prepare("SELECT segment, person, entered FROM changes ORDER BY segment, person, id")
            .unwrap();
        let rows: Vec<(i64, i64, bool)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for pair in rows.windows(2) {
            if (pair[0].0, pair[0].1) == (pair[1].0, pair[1].1) {
                prop_assert_ne!(pair[0].2, pair[1].2, "a change recorded twice: {:?}", pair);
            } else {
                prop_assert!(pair[1].2, "a first change must be an entry: {:?}", pair[1]);
            }
        }
    }
}

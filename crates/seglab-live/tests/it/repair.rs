//! A damaged `live.db` is set aside at start and memberships are computed
//! again from the event log.

use serde_json::json;

use crate::support::*;

const SEGMENTS: &str = r#"
segment recent_buyers = did "Order Completed" in last 30d
segment cart_abandoners = did "Product Added" then not "Order Completed" within 24h
segment browsers = did "Product Viewed"
"#;
const NAMES: [&str; 3] = ["recent_buyers", "cart_abandoners", "browsers"];

fn set_aside(w: &World) -> Vec<String> {
    std::fs::read_dir(dir_of(w))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("live.db.corrupt-"))
        .collect()
}

/// A world with members in every segment and a cart pending.
fn shop() -> World {
    let mut w = World::new(SEGMENTS);
    w.send(json!([
        track("eve", "Order Completed", NOW - DAY),
        track("fay", "Product Added", NOW - HOUR),
        track("gus", "Product Viewed", NOW),
        track("gus", "Product Added", NOW - 2 * DAY),
    ]));
    w.step(NOW);
    w
}

/// After a rebuild: the same members as before, every change recorded as a
/// segment's first population (never delivered), numbered after `ids_after`
/// (the old ones, when the damaged file still told how many there were).
fn rebuilt_as_before(w: &mut World, before: &[Vec<i64>], ids_after: i64) {
    let ch = w.restart(NOW + HOUR);
    for (name, members) in NAMES.iter().zip(before) {
        assert_eq!(&w.members(name), members, "{name}");
        assert_eq!(w.members(name), w.batch(name, NOW + HOUR), "{name}");
    }
    let entered: usize = before.iter().map(Vec::len).sum();
    assert_eq!(ch.len(), entered, "{:?}", kinds(&ch));
    assert!(
        ch.iter()
            .all(|c| c.entered && c.cause == seglab_live::Cause::Definition),
        "{:?}",
        kinds(&ch)
    );
    assert!(
        ch.iter().all(|c| c.id > ids_after),
        "ids go on after {ids_after}"
    );
    assert_eq!(set_aside(w).len(), 1, "{:?}", set_aside(w));
    // Life goes on: fay's cart is abandoned at its instant.
    let ch = w.step(NOW + 2 * DAY);
    assert_eq!(
        kinds(&ch),
        vec![(
            "cart_abandoners".to_string(),
            w.person("fay"),
            "entered",
            "time"
        )]
    );
    assert_eq!(ch[0].at, NOW - HOUR + DAY);
    // And a start after that keeps the new file.
    assert!(w.restart(NOW + 2 * DAY).is_empty());
    assert_eq!(set_aside(w).len(), 1);
}

#[test]
fn garbage_over_live_db_is_set_aside_and_memberships_rebuilt() {
    let mut w = shop();
    let before: Vec<Vec<i64>> = NAMES.iter().map(|n| w.members(n)).collect();
    assert!(before.iter().all(|m| !m.is_empty()), "{before:?}");
    w.close_live();
    let file = dir_of(&w).join(seglab_live::db::LIVE_DB_FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[..512].fill(0xa5);
    std::fs::write(&file, &bytes).unwrap();
    // Nothing can be read from it, the last change id neither.
    rebuilt_as_before(&mut w, &before, 0);
}

#[test]
fn an_unreadable_member_checkpoint_is_set_aside_and_memberships_rebuilt() {
    let mut w = shop();
    w.live.checkpoint().unwrap();
    let before: Vec<Vec<i64>> = NAMES.iter().map(|n| w.members(n)).collect();
    let last_id = w.change_count();
    // SQLite sees nothing wrong with the file: seglab cannot read a bitmap.
    w.conn()
        .execute("UPDATE checkpoints SET members = x'0badf00d'", [])
        .unwrap();
    w.close_live();
    rebuilt_as_before(&mut w, &before, last_id);
}

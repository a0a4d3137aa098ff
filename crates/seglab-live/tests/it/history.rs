use seglab_live::ChangeFilter;
use serde_json::json;

use crate::support::*;

#[test]
fn daily_counts_sizes_and_the_past() {
    let mut w = World::new(r#"segment recent_buyers = did "Order Completed" in last 2d"#);
    w.send(json!([track("a", "Order Completed", NOW + HOUR)]));
    w.step(NOW + 2 * HOUR);
    w.send(json!([track("b", "Order Completed", NOW + DAY + HOUR)]));
    w.step(NOW + DAY + 2 * HOUR);
    w.step(NOW + 5 * DAY);
    let (a, b) = (w.person("a"), w.person("b"));
    let db = w.db();
    let days = db.daily("recent_buyers", NOW - DAY, NOW + 4 * DAY).unwrap();
    let got: Vec<(&str, u64, u64, u64)> = days
        .iter()
        .map(|d| (d.day.as_str(), d.entered, d.exited, d.size))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2025-12-31", 0, 0, 0),
            ("2026-01-01", 1, 0, 1),
            ("2026-01-02", 1, 0, 2),
            ("2026-01-03", 0, 1, 1),
            ("2026-01-04", 0, 1, 0),
            ("2026-01-05", 0, 0, 0),
        ]
    );
    let at = |t: i64| -> Vec<i64> {
        db.members_at("recent_buyers", t)
            .unwrap()
            .iter()
            .map(|p| p as i64)
            .collect()
    };
    assert_eq!(at(NOW), Vec::<i64>::new());
    assert_eq!(at(NOW + DAY + 3 * HOUR), vec![a, b]);
    assert_eq!(at(NOW + 3 * DAY), vec![b]);
    assert_eq!(
        db.segments_at(b, NOW + 2 * DAY).unwrap(),
        vec!["recent_buyers"]
    );
    assert!(db.segments_at(b, NOW + 4 * DAY).unwrap().is_empty());
    let timeline = db
        .changes(&ChangeFilter {
            person: Some(a),
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(timeline.len(), 2);
    assert!(timeline[0].entered && !timeline[1].entered);
    assert!(matches!(
        db.daily("nope", NOW, NOW),
        Err(seglab_live::Error::NotFound(_))
    ));
}

#[test]
fn an_unknown_cause_in_live_db_is_an_error_not_a_guess() {
    let mut w = World::new(r#"segment buyers = did "Order Completed""#);
    w.send(json!([track("a", "Order Completed", NOW)]));
    w.step(NOW + HOUR);
    let all = ChangeFilter {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(w.db().changes(&all).unwrap().len(), 1);
    w.conn()
        .execute("UPDATE changes SET cause = 'gremlins'", [])
        .unwrap();
    let err = w.db().changes(&all).unwrap_err().to_string();
    assert!(err.contains("unknown cause \"gremlins\""), "{err}");
    assert_eq!(
        "start".parse::<seglab_live::Cause>().unwrap(),
        seglab_live::Cause::Start
    );
}

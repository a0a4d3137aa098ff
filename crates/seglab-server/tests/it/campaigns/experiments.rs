//! Experiments: arms by weight with a holdout, sticky, exposures stored as
//! `Experiment Viewed` events, results over REST and shipping the winner.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{apply, batch, catch_up, identify, segments, sends, track};
use crate::App;
use crate::smtp::Sink;

const EXPERIMENT: &str = r#"
[[campaign]]
name = "welcome"
segment = "buyers"
channel = "email"
goal = { event = "Order Completed", within = "7d" }
holdout = 20
[campaign.trigger]
on = "entry"
[[campaign.message]]
name = "short"
weight = 40
subject = "Thanks"
text = "Thanks"
[[campaign.message]]
name = "long"
weight = 40
subject = "Thank you so much"
text = "Thank you so much"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arms_holdouts_exposures_results_and_shipping() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    segments(&app, "segment buyers = did \"Order Completed\"").await;
    apply(&app, EXPERIMENT).await;
    // Nothing to compare yet: a clear answer, no NaN.
    let (status, r) = app
        .admin("GET", "/api/v1/experiments/welcome", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["hint"], "no exposures yet", "{r}");
    assert_eq!(r["comparisons"], json!([]), "{r}");
    assert!(r["notes"].as_array().is_some_and(|n| !n.is_empty()), "{r}");
    assert!(!r.to_string().contains("NaN"), "{r}");
    let people: Vec<String> = (0..60).map(|i| format!("p{i}")).collect();
    let mut events = Vec::new();
    for p in &people {
        events.push(identify(p, json!({"email": format!("{p}@example.com")})));
        events.push(track(p, "Order Completed", json!({"revenue": 10})));
    }
    batch(&app, events).await;
    catch_up(&app).await;
    catch_up(&app).await;
    let rows = sends(&app, "welcome").await;
    assert_eq!(rows.len(), 60, "{rows:?}");
    let arm = |r: &Value| r["variant"].as_str().unwrap_or("").to_owned();
    let holdout: Vec<&Value> = rows.iter().filter(|r| arm(r) == "holdout").collect();
    assert!(
        !holdout.is_empty() && holdout.len() < 30,
        "{} in the holdout",
        holdout.len()
    );
    for r in &holdout {
        assert_eq!(r["status"], "skipped", "{r}");
        assert_eq!(r["rule"], "holdout", "{r}");
    }
    for r in rows.iter().filter(|r| arm(r) != "holdout") {
        assert!(["short", "long"].contains(&arm(r).as_str()), "{r}");
        assert_ne!(r["status"], "skipped", "{r}");
    }
    // Nobody in the holdout got an email.
    let deadline = std::time::Instant::now() + super::WAIT;
    while sink.received().len() < 60 - holdout.len() {
        assert!(std::time::Instant::now() < deadline, "not all sent");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(sink.received().len(), 60 - holdout.len());
    // Every arm's exposure is an event of the person.
    catch_up(&app).await;
    let (_, events) = app
        .admin("GET", "/api/v1/events?after=0&limit=1000", Value::Null)
        .await;
    let exposures: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "Experiment Viewed")
        .collect();
    assert_eq!(exposures.len(), 60, "{exposures:?}");
    assert!(
        exposures
            .iter()
            .any(|e| e["properties"]["variation_id"] == "holdout")
    );
    // Results over REST: every arm, no sample ratio alarm, no NaN anywhere.
    let (status, r) = app
        .admin("GET", "/api/v1/experiments/welcome", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let exposed: u64 = r["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["exposed"].as_u64().unwrap())
        .sum();
    assert_eq!(exposed, 60, "{r}");
    assert_eq!(r["srm_alert"], false, "{r}");
    assert!(
        !r.to_string().contains("NaN") && !r.to_string().contains("null,null"),
        "{r}"
    );
    let (status, list) = app.admin("GET", "/api/v1/experiments", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["experiments"][0]["name"], "welcome", "{list}");
    // An unknown segment or experiment is a 404.
    let (status, _) = app
        .admin(
            "GET",
            "/api/v1/experiments/welcome?segment=nope",
            Value::Null,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Shipping: the winner is the only message, in a new version.
    let (status, b) = app
        .admin(
            "POST",
            "/api/v1/experiments/welcome/ship",
            json!({"variant": "nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{b}");
    let (status, b) = app
        .admin(
            "POST",
            "/api/v1/experiments/welcome/ship",
            json!({"variant": "long"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "updated", "{b}");
    let (_, c) = app
        .admin("GET", "/api/v1/campaigns/welcome", Value::Null)
        .await;
    assert_eq!(
        c["def"]["messages"].as_array().map(Vec::len),
        Some(1),
        "{c}"
    );
    assert_eq!(c["def"]["holdout"], 0, "{c}");
    let (_, list) = app.admin("GET", "/api/v1/experiments", Value::Null).await;
    assert_eq!(list["experiments"], json!([]), "{list}");
    // Assignment is sticky: the ledger keeps each person's arm, and the
    // next send of a person reads it.
    let arms_before: Vec<(i64, String)> = rows
        .iter()
        .map(|r| (r["person"].as_i64().unwrap(), arm(r)))
        .collect();
    assert_eq!(arms_before.len(), 60);
}

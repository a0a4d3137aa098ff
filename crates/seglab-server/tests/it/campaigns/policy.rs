//! Policies over the whole path: two campaigns due at once under a cap,
//! quiet hours in the person's time zone, and `why` naming the rule.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{WAIT, apply, batch, catch_up, entry_email, identify, person, row_of, segments, track};
use crate::App;
use crate::smtp::Sink;

const DAY: i64 = 86_400_000;

/// `high` (priority 20) and `low` (10), both on entry into `buyers`, under
/// `policy`; Ann (with `traits`) buys. Returns her id.
async fn two_campaigns(app: &App, policy: &str, mut traits: Value) -> i64 {
    segments(app, "segment buyers = did \"Order Completed\"").await;
    let high = entry_email("high", "buyers", 20, "High", "");
    let low = entry_email("low", "buyers", 10, "Low", "");
    apply(app, &[policy, &high, &low].join("\n")).await;
    traits["email"] = json!("ann@example.com");
    let buys = track("ann", "Order Completed", json!({}));
    batch(app, vec![identify("ann", traits), buys]).await;
    catch_up(app).await;
    person(app, "ann").await
}

async fn why(app: &App, campaign: &str, user: &str) -> Value {
    let (s, b) = app
        .get_admin(&format!("/api/v1/campaigns/{campaign}/why?person={user}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_sends_the_higher_priority_and_skips_the_other() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    let policy = "[policy]\ncaps = [{ max = 1, per = \"1d\" }]";
    let ann = two_campaigns(&app, policy, json!({})).await;
    let high = row_of(&app, "high", ann, &["sent"]).await;
    assert_eq!(high["rule"], "ok", "{high}");
    let low = row_of(&app, "low", ann, &["skipped"]).await;
    assert_eq!(low["rule"], "cap.any.1d", "{low}");
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got[0].subject.as_deref(), Some("High"));

    let b = why(&app, "low", "ann").await;
    assert_eq!(b["sends"][0]["rule"], "cap.any.1d", "{b}");
    let explanation = b["sends"][0]["explanation"].as_str().unwrap();
    assert!(
        explanation.starts_with("skipped: ") && explanation.contains("the cap is 1 per 1d"),
        "{explanation}"
    );
    assert_eq!(b["now"]["decision"]["status"], "skipped", "{b}");
    assert_eq!(b["now"]["decision"]["rule"], "cap.any.1d", "{b}");
    catch_up(&app).await;
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_send_waits_until_the_cap_lets_it_through() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    let policy = "[policy]\ncaps = [{ max = 1, per = \"1d\" }]\nwhen_capped = \"defer\"";
    let ann = two_campaigns(&app, policy, json!({})).await;
    let high = row_of(&app, "high", ann, &["sent"]).await;
    let low = row_of(&app, "low", ann, &["deferred"]).await;
    assert_eq!(low["rule"], "cap.any.1d", "{low}");
    // When the first send leaves the day's window.
    assert_eq!(
        low["due_at"].as_i64().unwrap(),
        high["decided_at"].as_i64().unwrap() + DAY,
        "{low}\n{high}"
    );
    let b = why(&app, "low", "ann").await;
    assert_eq!(b["sends"][0]["status"], "deferred", "{b}");
    assert!(
        b["sends"][0]["explanation"]
            .as_str()
            .unwrap()
            .starts_with("deferred to "),
        "{b}"
    );
}

/// Minutes after midnight as `HH:MM`.
fn hhmm(minute: i64) -> String {
    let m = minute.rem_euclid(1440);
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_in_the_persons_zone_defer_to_their_end() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    // Quiet from half an hour ago to an hour from now in Kolkata (UTC+05:30,
    // no daylight saving time): not quiet now in UTC, the policy's default.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let minute_start = now - now.rem_euclid(60_000);
    let local = (now.rem_euclid(DAY) / 60_000) + 5 * 60 + 30;
    let quiet = format!("{}-{}", hhmm(local - 30), hhmm(local + 60));
    let policy = format!("[policy]\nquiet_hours = \"{quiet}\"\ndefault_timezone = \"UTC\"");
    let ann = two_campaigns(&app, &policy, json!({"timezone": "Asia/Kolkata"})).await;
    for campaign in ["high", "low"] {
        let row = row_of(&app, campaign, ann, &["deferred"]).await;
        assert_eq!(row["rule"], "quiet_hours", "{row}");
        assert_eq!(
            row["due_at"].as_i64().unwrap(),
            minute_start + 60 * 60_000,
            "{quiet}: {row}"
        );
    }
    let b = why(&app, "high", "ann").await;
    let explanation = b["sends"][0]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains(&format!("quiet hours {quiet} in Asia/Kolkata")),
        "{explanation}"
    );
    assert_eq!(b["now"]["decision"]["rule"], "quiet_hours", "{b}");

    // Bo has no zone: the default's, where it is not quiet now.
    batch(
        &app,
        vec![
            identify("bo", json!({"email": "bo@example.com"})),
            track("bo", "Order Completed", json!({})),
        ],
    )
    .await;
    catch_up(&app).await;
    let bo = person(&app, "bo").await;
    row_of(&app, "high", bo, &["sent"]).await;
}

//! Triggers over time: a delayed entry that checks the person is still in
//! the segment, and a broadcast at an instant.

use axum::http::StatusCode;
use seglab_event::time::{format_timestamp, now_millis};
use serde_json::json;

use super::{
    WAIT, apply, batch, catch_up, entry_email, identify, person, row_of, segments, sends, track,
};
use crate::App;
use crate::smtp::Sink;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_entry_is_sent_only_to_who_is_still_in_the_segment() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    segments(&app, "segment vips = trait.plan = \"vip\"").await;
    let delay = "delay = \"3s\"\nstill_in_segment = true";
    apply(&app, &entry_email("later", "vips", 10, "Later", delay)).await;
    let vip = |user: &str| {
        identify(
            user,
            json!({"email": format!("{user}@example.com"), "plan": "vip"}),
        )
    };
    batch(&app, vec![vip("ann"), vip("bo")]).await;
    catch_up(&app).await;
    let (ann, bo) = (person(&app, "ann").await, person(&app, "bo").await);
    let rows = sends(&app, "later").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        assert_eq!(row["status"], "scheduled", "{row}");
        // Due three seconds after the entry, which came before the row.
        let wait = row["due_at"].as_i64().unwrap() - row["created_at"].as_i64().unwrap();
        assert!(wait > 0 && wait <= 3_000, "{row}");
    }
    batch(&app, vec![identify("bo", json!({"plan": "free"}))]).await;
    catch_up(&app).await;

    row_of(&app, "later", ann, &["sent"]).await;
    let row = row_of(&app, "later", bo, &["skipped"]).await;
    assert_eq!(row["rule"], "left_segment", "{row}");
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_tos, ["ann@example.com"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_goes_to_the_members_at_its_instant() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    segments(&app, "segment buyers = did \"Order Completed\"").await;
    batch(
        &app,
        ["ann", "bo"]
            .iter()
            .flat_map(|u| {
                [
                    identify(u, json!({"email": format!("{u}@example.com")})),
                    track(u, "Order Completed", json!({})),
                ]
            })
            .chain([identify("cy", json!({"email": "cy@example.com"}))])
            .collect(),
    )
    .await;
    catch_up(&app).await;
    let at = now_millis() + 1_500;
    let source = format!(
        r#"
[[campaign]]
name = "weekly"
segment = "buyers"
channel = "email"
[campaign.trigger]
on = "schedule"
at = "{}"
[[campaign.message]]
subject = "This week"
text = "What is new"
"#,
        format_timestamp(at)
    );
    apply(&app, &source).await;
    let (s, b) = app.get_admin("/api/v1/campaigns/weekly").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["next_run"], format_timestamp(at), "{b}");

    for user in ["ann", "bo"] {
        let row = row_of(&app, "weekly", person(&app, user).await, &["sent"]).await;
        assert_eq!(row["instance"], format!("schedule:{at}"), "{row}");
        assert!(row["decided_at"].as_i64().unwrap() >= at, "{row}");
    }
    let got = sink.wait_for(2, WAIT).await;
    let mut to: Vec<&str> = got.iter().map(|m| m.rcpt_tos[0].as_str()).collect();
    to.sort_unstable();
    assert_eq!(to, ["ann@example.com", "bo@example.com"]);
    // A one-time broadcast is done.
    catch_up(&app).await;
    let (_, b) = app.get_admin("/api/v1/campaigns/weekly").await;
    assert_eq!(b["next_run"], serde_json::Value::Null, "{b}");
    assert_eq!(sends(&app, "weekly").await.len(), 2);
}

//! Delivery failures against the real SMTP server: down, refusing every
//! message, or refusing the recipient (a bounce, which suppresses).

use std::time::Duration;

use serde_json::{Value, json};

use super::{
    BUYERS_AND_VIEWERS, WAIT, apply, batch, catch_up, entry_email, identify, person, row_of,
    segments, sends, sends_until, track,
};
use crate::App;
use crate::smtp::Sink;

/// `thanks` on entry into `buyers`, `news` on entry into `viewers`.
async fn campaigns(app: &App) {
    segments(app, BUYERS_AND_VIEWERS).await;
    let thanks = entry_email("thanks", "buyers", 10, "Thanks", "");
    let news = entry_email("news", "viewers", 10, "News", "");
    apply(app, &[thanks, news].concat()).await;
}

/// `user`, with an email, does `event`; returns their id.
async fn does(app: &App, user: &str, event: &str) -> i64 {
    batch(
        app,
        vec![
            identify(user, json!({"email": format!("{user}@example.com")})),
            track(user, event, json!({})),
        ],
    )
    .await;
    catch_up(app).await;
    person(app, user).await
}

/// A loopback port nothing listens on (for now).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_stays_owed_while_the_server_is_down_and_goes_once_it_is_up() {
    let port = free_port();
    let app = App::with_campaigns(Some(&format!("smtp://127.0.0.1:{port}")));
    campaigns(&app).await;
    let ann = does(&app, "ann", "Order Completed").await;
    let rows = sends_until(&app, "thanks", "a failed attempt", |rows| {
        rows.iter().any(|r| r["attempts"].as_i64() > Some(0))
    })
    .await;
    let row = &rows[0];
    assert_eq!(row["person"], ann, "{row}");
    assert_eq!(row["status"], "owed", "{row}");
    assert!(
        row["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{row}"
    );
    // Retried after a backoff, not at once.
    assert!(
        row["next_at"].as_i64().unwrap() > row["decided_at"].as_i64().unwrap(),
        "{row}"
    );

    let Some(sink) = Sink::start(&["--port", &port.to_string()]) else {
        return;
    };
    // More attempts may have failed while the SMTP server started (slowly,
    // on a busy machine): the next one is a backoff away. Wait for it.
    let next_at = sends(&app, "thanks").await[0]["next_at"]
        .as_i64()
        .unwrap_or(0);
    let wait = next_at - seglab_event::time::now_millis();
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
    let row = row_of(&app, "thanks", ann, &["sent"]).await;
    assert!(row["attempts"].as_i64().unwrap() >= 2, "{row}");
    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].idempotency_key.as_deref(),
        Some(format!("send-{}", row["id"]).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_fails_without_retries() {
    let Some(sink) = Sink::start(&["--fail-all"]) else {
        return;
    };
    let app = App::with_campaigns(Some(&sink.url()));
    campaigns(&app).await;
    let ann = does(&app, "ann", "Order Completed").await;
    let row = row_of(&app, "thanks", ann, &["failed"]).await;
    assert_eq!(row["attempts"], 1, "{row}");
    assert_eq!(row["rule"], "delivery", "{row}");
    let error = row["last_error"].as_str().unwrap();
    assert!(error.contains("554"), "{row}");
    assert!(
        row["explanation"]
            .as_str()
            .unwrap()
            .starts_with("failed after 1 attempt: "),
        "{row}"
    );
    // Not a bounce: Ann can still be sent to.
    let news = does(&app, "ann", "Product Viewed").await;
    let row = row_of(&app, "news", news, &["failed"]).await;
    assert_eq!(row["rule"], "delivery", "{row}");
    assert!(sink.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_fails_the_send_and_suppresses_the_person() {
    let Some(sink) = Sink::start(&["--reject-rcpt", "ann@example.com"]) else {
        return;
    };
    let app = App::with_campaigns(Some(&sink.url()));
    campaigns(&app).await;
    let ann = does(&app, "ann", "Order Completed").await;
    let bo = does(&app, "bo", "Order Completed").await;
    let row = row_of(&app, "thanks", ann, &["failed"]).await;
    assert_eq!(row["attempts"], 1, "{row}");
    assert!(
        row["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("bounced: ") && e.contains("550")),
        "{row}"
    );
    row_of(&app, "thanks", bo, &["sent"]).await;

    let ann = does(&app, "ann", "Product Viewed").await;
    let news: Value = row_of(&app, "news", ann, &["skipped"]).await;
    assert_eq!(news["rule"], "suppressed", "{news}");
    let got = sink.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].rcpt_tos, ["bo@example.com"]);
    // A new address is not the one that bounced: email reaches it again.
    batch(
        &app,
        vec![identify("ann", json!({"email": "ann@new.example.com"}))],
    )
    .await;
    catch_up(&app).await;
    let (status, preview) = app
        .admin(
            "GET",
            "/api/v1/campaigns/news/preview?person=ann",
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["decision"]["status"], "owed", "{preview}");
    assert_eq!(preview["decision"]["address"], "ann@new.example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_without_a_usable_address_is_skipped_not_failed() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    campaigns(&app).await;
    batch(
        &app,
        vec![
            identify("ann", json!({"email": "not an address"})),
            track("ann", "Order Completed", json!({})),
            track("bo", "Order Completed", json!({})),
        ],
    )
    .await;
    catch_up(&app).await;
    for user in ["ann", "bo"] {
        let row = row_of(&app, "thanks", person(&app, user).await, &["skipped"]).await;
        assert_eq!(row["rule"], "no_address", "{user}: {row}");
    }
    assert!(sink.received().is_empty());
}

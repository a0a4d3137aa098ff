//! An entry into a segment sends one email over SMTP; its links come back
//! as events; preview and why explain without writing.

use serde_json::{Value, json};

use super::{
    WAIT, apply, batch, catch_up, entry_email, identify, person, row_of, segments, sends, track,
};
use crate::smtp::{Received, Sink};
use crate::{App, BASE_URL};

const SEGMENTS: &str =
    "segment buyers = did \"Order Completed\"\nsegment viewers = did \"Product Viewed\"";

/// Ann, identified with an email and a name, buys once and gets the
/// `thanks` campaign's message; returns her id, her ledger row and the
/// message.
async fn ann_is_thanked(app: &App, sink: &Sink) -> (i64, Value, Received) {
    segments(app, SEGMENTS).await;
    let subject = "Thanks, {{ person.traits.name }}";
    apply(app, &entry_email("thanks", "buyers", 10, subject, "")).await;
    batch(
        app,
        vec![
            identify("ann", json!({"email": "ann@example.com", "name": "Ann"})),
            track("ann", "Order Completed", json!({"revenue": 10})),
        ],
    )
    .await;
    catch_up(app).await;
    let ann = person(app, "ann").await;
    let row = row_of(app, "thanks", ann, &["sent"]).await;
    let got = sink.wait_for(1, WAIT).await;
    (ann, row, got.into_iter().next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_sends_one_email_with_one_click_unsubscribe() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    let (ann, row, got) = ann_is_thanked(&app, &sink).await;

    assert_eq!(row["status"], "sent", "{row}");
    assert_eq!(row["rule"], "ok", "{row}");
    assert_eq!(row["step"], "best_sellers", "{row}");
    assert_eq!(row["variant"], "a", "{row}");
    assert_eq!(row["subject"], "Thanks, Ann", "{row}");
    assert_eq!(row["address"], "ann@example.com", "{row}");
    assert_eq!(row["attempts"], 1, "{row}");
    let key = format!("send-{}", row["id"]);

    assert_eq!(got.rcpt_tos, ["ann@example.com"]);
    assert_eq!(got.subject.as_deref(), Some("Thanks, Ann"));
    assert_eq!(got.from.as_deref(), Some("Shop <news@shop.example>"));
    assert_eq!(got.idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(
        got.message_id.as_deref(),
        Some(format!("<{key}@seglab>").as_str())
    );
    let unsubscribe = got.list_unsubscribe.clone().unwrap();
    assert!(
        unsubscribe.starts_with(&format!("<{BASE_URL}/u/")) && unsubscribe.ends_with('>'),
        "{unsubscribe}"
    );
    assert_eq!(
        got.list_unsubscribe_post.as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    let html = got.html.clone().unwrap();
    assert!(html.contains("Hi Ann,"), "{html}");
    assert!(html.contains(&format!("{BASE_URL}/t/o/")), "{html}");
    assert!(html.contains(&format!("{BASE_URL}/t/c/")), "{html}");
    // The unsubscribe link in the body is the header's (HTML-escaped).
    let token = unsubscribe
        .rsplit('/')
        .next()
        .unwrap()
        .trim_end_matches('>');
    assert!(html.contains(&format!("&#x2f;u&#x2f;{token}\"")), "{html}");
    assert_eq!(got.text.as_deref(), Some("Hi Ann"));

    // Still a member: another order is no entry, and `reentry = "once"`.
    batch(&app, vec![track("ann", "Order Completed", json!({}))]).await;
    catch_up(&app).await;
    let rows = sends(&app, "thanks").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["person"], ann);
    assert_eq!(sink.received().len(), 1);
}

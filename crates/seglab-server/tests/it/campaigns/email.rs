//! An entry into a segment sends one email over SMTP; its links come back
//! as events; preview and why explain without writing.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::{
    BUYERS_AND_VIEWERS, WAIT, apply, batch, catch_up, entry_email, identify, local, person, row_of,
    segments, sends, track,
};
use crate::smtp::{Received, Sink};
use crate::{App, BASE_URL};

/// Ann, identified with an email and a name, buys once and gets the
/// `thanks` campaign's message; returns her id, her ledger row and the
/// message.
async fn ann_is_thanked(app: &App, sink: &Sink) -> (i64, Value, Received) {
    segments(app, BUYERS_AND_VIEWERS).await;
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

/// The value of `attr="…"` that starts with `prefix` in `html`.
fn attr_starting(html: &str, attr: &str, prefix: &str) -> String {
    let needle = format!("{attr}=\"{prefix}");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {needle} in {html}"));
    let value = &html[at + attr.len() + 2..];
    value[..value.find('"').unwrap()].replace("&amp;", "&")
}

async fn get(app: &App, path: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = tower::ServiceExt::oneshot(
        app.router.clone(),
        Request::get(path).body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    (parts.status, parts.headers, body.to_vec())
}

/// The events of `user` named `name`, newest first.
async fn events_named(app: &App, user: &str, name: &str) -> Vec<Value> {
    let (s, b) = app
        .get_admin(&format!("/api/v1/people/{user}?events=100"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == name)
        .cloned()
        .collect()
}

async fn unsubscribe(app: &App, path: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("List-Unsubscribe=One-Click"))
        .unwrap();
    app.send(req).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_clicks_and_unsubscribes_come_back_as_events() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    let (ann, row, got) = ann_is_thanked(&app, &sink).await;
    let html = got.html.unwrap();

    // The open pixel, fetched twice: one event.
    let pixel = attr_starting(&html, "src", &format!("{BASE_URL}/t/o/"));
    for _ in 0..2 {
        let (s, headers, body) = get(&app, local(&pixel)).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(headers["content-type"], "image/gif");
        assert!(body.starts_with(b"GIF89a"));
    }
    let opened = events_named(&app, "ann", "Email Opened").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["person_id"], ann);
    assert_eq!(opened[0]["properties"]["campaign_id"], "thanks");
    assert_eq!(
        opened[0]["properties"]["email_id"],
        format!("send-{}", row["id"])
    );

    // A click: the event, then the original link.
    let click = attr_starting(&html, "href", &format!("{BASE_URL}/t/c/"));
    let (s, headers, _) = get(&app, local(&click)).await;
    assert_eq!(s, StatusCode::FOUND);
    assert_eq!(headers["location"], "https://shop.example.com/p/1");
    // The same link sending elsewhere is not one the message had.
    let (path, _) = click.split_once('?').unwrap();
    let elsewhere = format!("{}?u=https%3A%2F%2Fevil.example%2F", local(path));
    let (s, headers, _) = get(&app, &elsewhere).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{elsewhere}");
    assert!(headers.get("location").is_none());
    let forged = click.replace("%2Fp%2F1", "%2Fp%2F2");
    let (s, _, _) = get(&app, local(&forged)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{forged}");
    let clicked = events_named(&app, "ann", "Email Link Clicked").await;
    assert_eq!(clicked.len(), 1, "{clicked:?}");
    assert_eq!(
        clicked[0]["properties"]["url"],
        "https://shop.example.com/p/1"
    );
    assert_eq!(clicked[0]["properties"]["link_id"], 0);

    // One-click unsubscribe (RFC 8058), from the header's link.
    let header = got.list_unsubscribe.unwrap();
    let link = header.trim_start_matches('<').trim_end_matches('>');
    let (s, body) = unsubscribe(&app, local(link)).await;
    assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let unsubscribed = events_named(&app, "ann", "Unsubscribed").await;
    assert_eq!(unsubscribed.len(), 1, "{unsubscribed:?}");
    assert_eq!(unsubscribed[0]["properties"]["channel"], "email");

    // Another campaign to Ann is skipped.
    apply(
        &app,
        &entry_email("news", "viewers", 10, "News for you", ""),
    )
    .await;
    batch(
        &app,
        vec![track("ann", "Product Viewed", json!({"product_id": "p1"}))],
    )
    .await;
    catch_up(&app).await;
    let news = row_of(&app, "news", ann, &["skipped"]).await;
    assert_eq!(news["rule"], "unsubscribed.email", "{news}");
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn forged_links_are_not_found() {
    let app = App::with_campaigns(None);
    // The right length, the wrong signature.
    let forged = "AAAAAAAAAAEAAAAAAAAAAAAAAAA";
    for path in [
        "/t/o/garbage.gif".to_owned(),
        format!("/t/o/{forged}.gif"),
        format!("/t/o/{forged}"),
        format!("/t/c/{forged}/0?u=https%3A%2F%2Fshop.example.com%2F"),
        "/t/c/garbage/0?u=https%3A%2F%2Fshop.example.com%2F".to_owned(),
        format!("/u/{forged}"),
    ] {
        let (s, _, body) = get(&app, &path).await;
        let b: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}: {b}"
        );
    }
    let (s, body) = unsubscribe(&app, &format!("/u/{forged}")).await;
    let b: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_and_why_explain_without_writing() {
    let Some(sink) = Sink::start(&[]) else { return };
    let app = App::with_campaigns(Some(&sink.url()));
    let (ann, row, _) = ann_is_thanked(&app, &sink).await;
    batch(
        &app,
        vec![
            identify("bo", json!({"email": "bo@example.com", "name": "Bo"})),
            track("bo", "Product Viewed", json!({"product_id": "p1"})),
        ],
    )
    .await;
    catch_up(&app).await;
    let before = sends(&app, "thanks").await;

    // Ann was thanked: `reentry = "once"` holds her back.
    let (s, b) = app
        .get_admin("/api/v1/campaigns/thanks/preview?person=ann")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["person"], ann);
    assert_eq!(b["member"], true);
    let d = &b["decision"];
    assert_eq!(d["status"], "skipped", "{b}");
    assert_eq!(d["rule"], "reentry", "{b}");
    // What the message would carry anyway.
    assert_eq!(d["subject"], "Thanks, Ann", "{b}");
    assert_eq!(d["step"], "best_sellers", "{b}");

    // Bo is not a buyer: a preview of what he would get.
    let (s, b) = app
        .get_admin("/api/v1/campaigns/thanks/preview?person=bo")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["member"], false, "{b}");
    assert_eq!(b["decision"]["subject"], "Thanks, Bo", "{b}");
    assert!(
        b["decision"]["html"].as_str().unwrap().contains("Hi Bo,"),
        "{b}"
    );

    let (s, b) = app
        .get_admin("/api/v1/campaigns/thanks/why?person=ann")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["sends"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["sends"][0]["id"], row["id"], "{b}");
    assert_eq!(b["sends"][0]["status"], "sent", "{b}");
    assert_eq!(b["now"]["decision"]["rule"], "reentry", "{b}");

    for path in [
        "/api/v1/campaigns/thanks/preview?person=nobody",
        "/api/v1/campaigns/nope/preview?person=ann",
        "/api/v1/campaigns/nope/why?person=ann",
    ] {
        let (s, b) = app.get_admin(path).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}: {b}"
        );
    }
    let (s, b) = app.get_admin("/api/v1/campaigns/thanks/preview").await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query")),
        "{b}"
    );

    catch_up(&app).await;
    assert_eq!(
        sends(&app, "thanks").await,
        before,
        "previews write nothing"
    );
    assert_eq!(sink.received().len(), 1);
}

//! The channels without SMTP: on-site decisions answered by the API, and
//! signed webhooks to a receiver on loopback.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use super::{apply, batch, catch_up, identify, person, row_of, segments, sends, track};
use crate::App;

const BANNER: &str = r#"
[policy]
caps = [{ max = 1, per = "1d", channel = "onsite" }]

[[campaign]]
name = "banner"
segment = "carted"
channel = "onsite"
priority = 10
[campaign.trigger]
on = "decision"
placement = "home_banner"
[[campaign.message]]
subject = "Your cart is waiting, {{ person.traits.name }}"
html = """<a href="https://shop.example.com/cart">Complete your order</a>"""
"#;

async fn decide(app: &App, query: &str, auth: Option<String>) -> (StatusCode, Value) {
    let mut req = Request::get(format!("/api/v1/decide?{query}"));
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let (s, b) = app.send(req.body(Body::empty()).unwrap()).await;
    (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_the_onsite_message_once_a_day() {
    let app = App::with_campaigns(None);
    segments(&app, "segment carted = did \"Product Added\"").await;
    apply(&app, BANNER).await;
    batch(
        &app,
        vec![
            identify("ann", json!({"name": "Ann"})),
            track("ann", "Product Added", json!({"product_id": "p1"})),
            identify("bo", json!({"name": "Bo"})),
        ],
    )
    .await;
    catch_up(&app).await;
    let ann = person(&app, "ann").await;
    let query = "person=ann&placement=home_banner";

    let (s, b) = decide(&app, query, Some(app.basic())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["person_id"], ann, "{b}");
    let d = &b["decision"];
    assert_eq!(d["campaign"], "banner", "{b}");
    assert_eq!(d["subject"], "Your cart is waiting, Ann", "{b}");
    assert_eq!(d["variant"], "a", "{b}");
    assert!(
        d["html"].as_str().unwrap().contains("Complete your order"),
        "{b}"
    );
    let rows = sends(&app, "banner").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["id"], &rows[0]["status"], &rows[0]["channel"]),
        (&d["send_id"], &json!("sent"), &json!("onsite"))
    );

    // The impression counts toward the on-site cap.
    let (s, b) = decide(&app, query, Some(app.basic())).await;
    assert_eq!((s, &b["decision"]), (StatusCode::OK, &Value::Null), "{b}");
    // Not a member, another placement: nothing.
    for query in [
        "person=bo&placement=home_banner",
        "person=ann&placement=checkout",
    ] {
        let (s, b) = decide(&app, query, Some(app.basic())).await;
        assert_eq!((s, &b["decision"]), (StatusCode::OK, &Value::Null), "{b}");
    }
    assert_eq!(sends(&app, "banner").await.len(), 1);

    for query in [query, "", "person=ann"] {
        let (s, b) = decide(&app, query, None).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("missing_write_key")),
            "{query}: {b}"
        );
    }
    let wrong = format!("Bearer {}", "not-a-key");
    let (s, b) = decide(&app, query, Some(wrong)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, b) = decide(
        &app,
        "person=nobody&placement=home_banner",
        Some(app.basic()),
    )
    .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{b}"
    );
}

/// What a receiver got: headers and body of each request.
type Requests = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on loopback that answers 503 to the first request
/// and 200 after; returns its URL and what it received.
async fn receiver() -> (String, Requests) {
    let got: Requests = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body));
                if seen.len() == 1 {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_campaign_posts_the_signed_message_and_retries() {
    let app = App::with_campaigns(None);
    let (url, got) = receiver().await;
    segments(&app, "segment buyers = did \"Order Completed\"").await;
    let source = format!(
        r#"
[[campaign]]
name = "to_crm"
segment = "buyers"
channel = "webhook"
webhook_url = "{url}"
[campaign.trigger]
on = "entry"
[[campaign.message]]
subject = "Thanks, {{{{ person.traits.name }}}}"
text = "Order number {{{{ person.user_id }}}}"
"#
    );
    apply(&app, &source).await;
    let (s, b) = app.get_admin("/api/v1/campaigns/to_crm").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let secret = b["webhook_secret"]
        .as_str()
        .unwrap_or_else(|| panic!("no webhook_secret in {b}"))
        .to_owned();
    batch(
        &app,
        vec![
            identify("ann", json!({"name": "Ann"})),
            track("ann", "Order Completed", json!({})),
        ],
    )
    .await;
    catch_up(&app).await;
    let ann = person(&app, "ann").await;
    // The first attempt was answered 503: retried after a second.
    let row = row_of(&app, "to_crm", ann, &["sent"]).await;
    assert_eq!(row["attempts"], 2, "{row}");
    assert_eq!(row["last_error"], "HTTP 503", "{row}");

    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    let key = format!("send-{}", row["id"]);
    for (headers, body) in &got {
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["idempotency-key"], key.as_str());
        let signature = headers["seglab-signature"].to_str().unwrap();
        assert!(
            seglab_live::webhook::verify(&secret, signature, body),
            "{signature}"
        );
        assert!(!seglab_live::webhook::verify(
            "whsec_other",
            signature,
            body
        ));
    }
    let message: Value = serde_json::from_slice(&got[1].1).unwrap();
    assert_eq!(message["id"], key.as_str(), "{message}");
    assert_eq!(message["type"], "campaign.message", "{message}");
    assert_eq!(message["campaign"], "to_crm", "{message}");
    assert_eq!(
        message["person"],
        json!({"id": ann, "user_id": "ann"}),
        "{message}"
    );
    assert_eq!(message["subject"], "Thanks, Ann", "{message}");
    assert_eq!(message["text"], "Order number ann", "{message}");
    assert_eq!(message["variant"], "a", "{message}");
    assert_eq!(message["step"], "best_sellers", "{message}");
}

/// An on-site campaign at `home_banner` with a generated offer.
fn banner_with_offer(name: &str, priority: i32) -> String {
    format!(
        r#"
[[campaign]]
name = "{name}"
segment = "carted"
channel = "onsite"
priority = {priority}
[campaign.trigger]
on = "decision"
placement = "home_banner"
[campaign.offer]
code_prefix = "{prefix}"
[[campaign.message]]
subject = "{{{{ offer.code }}}}"
"#,
        prefix = name.to_uppercase()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_shown_onsite_message_gives_out_a_code() {
    let app = App::with_campaigns(None);
    segments(&app, "segment carted = did \"Product Added\"").await;
    let source = format!(
        "{}\n{}",
        banner_with_offer("first", 20),
        banner_with_offer("second", 10)
    );
    apply(&app, &source).await;
    batch(&app, vec![track("ann", "Product Added", json!({}))]).await;
    catch_up(&app).await;
    let query = "person=ann&placement=home_banner";
    let (s, b) = decide(&app, query, Some(app.basic())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["decision"]["campaign"], "first", "{b}");
    let code = b["decision"]["coupon"].as_str().unwrap().to_owned();
    assert!(code.starts_with("FIRST-"), "{b}");
    assert_eq!(b["decision"]["subject"], code.as_str(), "{b}");
    // Shown again: the same code.
    let (_, b) = decide(&app, query, Some(app.basic())).await;
    assert_eq!(b["decision"]["coupon"], code.as_str(), "{b}");

    let (_, b) = app.get_admin("/api/v1/campaigns").await;
    let given: Vec<(String, Value)> = b["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["coupons"]["given"].clone(),
            )
        })
        .collect();
    assert_eq!(
        given,
        [
            ("first".to_owned(), json!(1)),
            ("second".to_owned(), json!(0))
        ],
        "{b}"
    );
}

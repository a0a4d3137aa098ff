//! Scoped admin tokens and rate limits per write key, over real HTTP on a
//! loopback port.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use seglab_server::{Limits, RateLimit, Scope};
use serde_json::{Value, json};

use crate::management::MANAGEMENT;
use crate::{App, http};

/// `method url` with `Authorization: Bearer token` and `body`; the status
/// and the JSON body (the stream's endless body is not read).
async fn call(
    client: &reqwest::Client,
    method: &str,
    url: &str,
    token: &str,
    body: &str,
) -> (StatusCode, Value) {
    let res = client
        .request(method.parse().unwrap(), url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = res.status();
    if url.contains("/api/v1/stream") && status == StatusCode::OK {
        return (status, Value::Null);
    }
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_token_reads_every_read_route_and_writes_nothing() {
    let app = App::new();
    let url = app.serve().await;
    let client = http();
    let (_, read) = app.store.reader().create_token("ci", Scope::Read).unwrap();
    let (_, full) = app.store.reader().create_token("ops", Scope::Full).unwrap();
    for &(method, _, path, scope) in MANAGEMENT {
        let target = format!("{url}{path}");
        let (by_full, b) = call(&client, method, &target, &full, "{").await;
        assert!(
            by_full != StatusCode::UNAUTHORIZED && by_full != StatusCode::FORBIDDEN,
            "a full token on {method} {path}: {by_full} {b}"
        );
        let (by_read, b) = call(&client, method, &target, &read, "{").await;
        match scope {
            Scope::Read => assert_eq!(
                by_read, by_full,
                "a read token on {method} {path} is answered as a full one: {b}"
            ),
            Scope::Full => {
                assert_eq!(by_read, StatusCode::FORBIDDEN, "{method} {path}: {b}");
                assert_eq!(b["code"], "forbidden", "{method} {path}");
                let message = b["message"].as_str().unwrap();
                assert!(
                    message.contains("`full` scope") && message.contains("`read`"),
                    "{method} {path}: {message}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_changes_nothing_and_the_same_write_with_a_full_token_works() {
    let app = App::new();
    let url = app.serve().await;
    let client = http();
    let (_, read) = app.store.reader().create_token("ci", Scope::Read).unwrap();
    let (_, full) = app.store.reader().create_token("ops", Scope::Full).unwrap();
    let segment = json!({"source": "segment buyers = did \"Order Completed\""}).to_string();
    let key = json!({"name": "ios"}).to_string();
    let writes = [
        ("POST", "/api/v1/segments", segment.as_str()),
        ("POST", "/api/v1/keys", key.as_str()),
    ];
    for (method, path, body) in writes {
        let (s, b) = call(&client, method, &format!("{url}{path}"), &read, body).await;
        assert_eq!(
            (s, &b["code"]),
            (StatusCode::FORBIDDEN, &json!("forbidden"))
        );
    }
    assert!(app.store.reader().segments().unwrap().is_empty());
    assert_eq!(app.store.reader().list_keys().unwrap().len(), 1);
    for (method, path, body) in writes {
        let (s, b) = call(&client, method, &format!("{url}{path}"), &full, body).await;
        assert_eq!(s, StatusCode::CREATED, "{method} {path}: {b}");
    }
    assert_eq!(app.store.reader().segments().unwrap().len(), 1);
    assert_eq!(app.store.reader().list_keys().unwrap().len(), 2);
    // The previews a read token may send compute with it.
    let preview = json!({"source": "did \"Order Completed\""}).to_string();
    let (s, b) = call(
        &client,
        "POST",
        &format!("{url}/api/v1/segments/preview"),
        &read,
        &preview,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["size"], 0, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_secret_is_shown_to_full_tokens_only() {
    let app = App::new();
    let url = app.serve().await;
    let client = http();
    let (_, read) = app.store.reader().create_token("ci", Scope::Read).unwrap();
    let (s, b) = app
        .admin(
            "POST",
            "/api/v1/segments",
            json!({"source": "segment buyers = did \"Order Completed\""}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let source = "[[campaign]]\nname = \"to_crm\"\nsegment = \"buyers\"\nchannel = \"webhook\"\nwebhook_url = \"http://127.0.0.1:9/hook\"\n[campaign.trigger]\non = \"entry\"\n[[campaign.message]]\nsubject = \"Hi\"\ntext = \"Hello\"\n";
    let (s, b) = app
        .admin("POST", "/api/v1/campaigns", json!({"source": source}))
        .await;
    assert!(s.is_success(), "{s} {b}");
    let (s, by_admin) = app.get_admin("/api/v1/campaigns/to_crm").await;
    assert_eq!(s, StatusCode::OK);
    assert!(by_admin["webhook_secret"].is_string(), "{by_admin}");
    let (s, by_read) = call(
        &client,
        "GET",
        &format!("{url}/api/v1/campaigns/to_crm"),
        &read,
        "",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(by_read["name"], by_admin["name"], "{by_read}");
    assert!(by_read.get("webhook_secret").is_none(), "{by_read}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_refused_within_a_refresh() {
    let app = App::new();
    let url = app.serve().await;
    let client = http();
    let refresh = seglab_server::spawn_key_refresh(app.state.clone(), Duration::from_secs(1));
    // Created beside the server (as `seglab tokens create` does): works at once.
    let (_, token) = app.store.reader().create_token("ci", Scope::Read).unwrap();
    let segments = format!("{url}/api/v1/segments");
    assert_eq!(
        call(&client, "GET", &segments, &token, "").await.0,
        StatusCode::OK
    );
    assert!(app.store.reader().revoke_token("ci").unwrap());
    let revoked = Instant::now();
    let (status, body) = loop {
        let (s, b) = call(&client, "GET", &segments, &token, "").await;
        if s != StatusCode::OK || revoked.elapsed() > Duration::from_secs(5) {
            break (s, b);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = revoked.elapsed();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "invalid_admin_token");
    assert!(
        body["message"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    assert!(took < Duration::from_secs(3), "refused only after {took:?}");
    // The built-in token is not affected, and the last use was recorded.
    assert_eq!(app.get_admin("/api/v1/segments").await.0, StatusCode::OK);
    let listed = app.store.reader().list_tokens().unwrap();
    assert!(listed[0].last_used_at.is_some(), "{listed:?}");
    refresh.abort();
}

/// Posts one track event with a unique id under `key`; the status and the
/// `Retry-After` header.
async fn track(
    client: &reqwest::Client,
    url: &str,
    key: &str,
    id: &str,
) -> (StatusCode, Option<String>, Value) {
    let res = client
        .post(format!("{url}/v1/track"))
        .basic_auth(key, Some(""))
        .json(&json!({"userId": "u", "event": "Tapped", "messageId": id}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_key_over_its_rate_gets_429_with_retry_after_and_recovers() {
    let app = App::with_limits(Limits {
        rate_limit: Some(RateLimit {
            per_second: 1.0,
            burst: 5,
        }),
        ..Limits::default()
    });
    let url = app.serve().await;
    let client = http();
    // Twenty requests at once: the burst passes, the rest are refused.
    let started = Instant::now();
    let sent = (0..20).map(|i| {
        let (client, url, key) = (client.clone(), url.clone(), app.key.clone());
        tokio::spawn(async move { track(&client, &url, &key, &format!("burst-{i}")).await })
    });
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    for (i, task) in sent.enumerate() {
        let (status, retry, body) = task.await.unwrap();
        match status {
            StatusCode::OK => acked.push(format!("burst-{i}")),
            StatusCode::TOO_MANY_REQUESTS => refused.push((retry, body)),
            other => panic!("{other} {body}"),
        }
    }
    // At most the burst plus what refilled while they were sent.
    let refilled = started.elapsed().as_secs_f64().ceil() as usize;
    assert!(
        acked.len() >= 5 && acked.len() <= 5 + refilled,
        "{} acknowledged in {:?}",
        acked.len(),
        started.elapsed()
    );
    assert!(!refused.is_empty());
    let mut wait = 0;
    for (retry, body) in &refused {
        assert_eq!(body["code"], "rate_limited", "{body}");
        assert!(body["message"].is_string());
        let secs: u64 = retry
            .as_deref()
            .expect("Retry-After")
            .parse()
            .expect("whole seconds");
        assert!(secs >= 1, "{secs}");
        wait = wait.max(secs);
    }
    assert!(wait <= 1, "one request refills in a second: {wait}");

    // Another key has its own bucket; PostHog's paths share the key's.
    let other = app.store.reader().create_key("other").unwrap().key;
    let (s, _, b) = track(&client, &url, &other, "other-1").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    acked.push("other-1".into());
    let res = client
        .post(format!("{url}/batch/"))
        .json(&json!({"api_key": app.key, "batch": [{"event": "e", "distinct_id": "u", "uuid": "0190f6c5-0000-7000-8000-000000000001"}]}))
        .send()
        .await
        .unwrap();
    if res.status() == StatusCode::OK {
        acked.push("posthog".into());
    } else {
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        let b: Value = res.json().await.unwrap();
        assert_eq!(b["code"], "rate_limited");
    }

    // After waiting as told, the key works again.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(100)).await;
    let (s, _, b) = track(&client, &url, &app.key, "after").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    acked.push("after".into());

    // Every acknowledged event is stored, and nothing refused is.
    assert_eq!(app.count(), acked.len() as u64);
    let stored: Vec<String> = app
        .store
        .reader()
        .events_after(0, 1_000)
        .unwrap()
        .into_iter()
        .map(|e| e.message_id)
        .collect();
    for id in acked.iter().filter(|id| *id != "posthog") {
        assert!(stored.contains(id), "{id} acknowledged but not stored");
    }
}

//! Live membership from the command line, beside and after a real server.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{ADMIN, Server, seglab, stdout};

/// Sends one order of `user` to the server; it must be acknowledged.
async fn order(client: &reqwest::Client, server: &Server, user: &str, message_id: &str) {
    let batch = json!({"batch": [
        {"type": "track", "userId": user, "event": "Order Completed",
         "properties": {"revenue": 500}, "messageId": message_id},
    ]});
    let res = client
        .post(format!("{}/v1/batch", server.url))
        .basic_auth(&server.key, Some(""))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// GETs `path` with the admin token until `done` holds for the JSON answer
/// (at most 20 s).
async fn poll(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    done: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: Value = client
            .get(format!("{}{path}", server.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&v) {
            return;
        }
        assert!(Instant::now() < deadline, "{path}: still {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_memberships_explain_and_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stdout(&seglab(&data, &["demo", "--people", "200", "--days", "30"]));
    let hooks = stdout(&seglab(
        &data,
        &[
            "webhooks",
            "add",
            "http://127.0.0.1:9/hook",
            "--segment",
            "recent_buyers",
            "--on",
            "entered",
        ],
    ));
    assert!(hooks.contains("whsec_"), "{hooks}");

    let server = Server::start(&data);
    let client = crate::http();
    order(&client, &server, "cli-ann", "cli-ann-order").await;
    // The live thread applies it on its own (no API call needed).
    poll(&client, &server, "/api/v1/live", |v| {
        v["behind"] == 0 && v["applied_seq"].as_i64() > Some(0)
    })
    .await;
    let metrics = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("seglab_live_changes_total{kind=\"entered\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("seglab_live_step_seconds"), "{metrics}");
    assert!(metrics.contains("seglab_live_timers"), "{metrics}");
    let v: Value = client
        .get(format!(
            "{}/api/v1/people/cli-ann/segments/recent_buyers/explain",
            server.url
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["member"], true, "{v}");
    server.signal("TERM");
    let mut child = server;
    let _ = child.child.wait();

    let out = stdout(&seglab(&data, &["people", "segments", "cli-ann"]));
    assert!(out.contains("recent_buyers"), "{out}");
    assert!(out.contains("entered"), "{out}");
    let out = stdout(&seglab(
        &data,
        &["people", "explain", "cli-ann", "recent_buyers"],
    ));
    assert!(out.contains("is IN recent_buyers"), "{out}");
    assert!(out.contains("Order Completed"), "{out}");
    assert!(out.contains("✓"), "{out}");
    let out = stdout(&seglab(
        &data,
        &["segments", "history", "recent_buyers", "--days", "3"],
    ));
    assert_eq!(out.lines().count(), 2 + 3, "{out}");
    assert!(out.contains('█'), "a bar of the size: {out}");
    let out = stdout(&seglab(
        &data,
        &["segments", "changes", "recent_buyers", "--limit", "5"],
    ));
    assert!(out.contains("definition"), "{out}");
    let out = stdout(&seglab(&data, &["segments", "members", "recent_buyers"]));
    assert!(!out.contains(": 0 members"), "{out}");
    let out = stdout(&seglab(
        &data,
        &[
            "segments",
            "members",
            "recent_buyers",
            "--at",
            "2000-01-01T00:00:00Z",
        ],
    ));
    assert!(out.contains(": 0 members"), "{out}");
    let out = stdout(&seglab(&data, &["webhooks", "list"]));
    assert!(out.contains("http://127.0.0.1:9/hook"), "{out}");
    assert!(out.contains("recent_buyers"), "{out}");
    stdout(&seglab(&data, &["webhooks", "remove", "1"]));
    let bad = seglab(&data, &["webhooks", "remove", "1"]);
    assert!(!bad.status.success());
    let bad = seglab(&data, &["people", "explain", "cli-ann", "nope"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no segment named"));
}

/// A receiver on a fixed loopback port that records (idempotency key, body).
async fn receiver_on(
    listener: tokio::net::TcpListener,
) -> std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>> {
    use axum::routing::post;
    let got: std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>> = Default::default();
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let g = g.clone();
                async move {
                    let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                    g.lock()
                        .unwrap()
                        .push((key, serde_json::from_slice(&body).unwrap()));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    got
}

/// The decision to send and its outbox row commit together: a change made
/// while the receiver is down, followed by SIGKILL, is delivered after the
/// restart, with its idempotency key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_neither_loses_nor_duplicates_a_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stdout(&seglab(&data, &["demo", "--people", "50", "--days", "10"]));
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/hook");
    stdout(&seglab(
        &data,
        &[
            "webhooks",
            "add",
            &url,
            "--segment",
            "recent_buyers",
            "--on",
            "entered",
        ],
    ));
    let server = Server::start(&data);
    let client = crate::http();
    order(&client, &server, "crash-1", "crash-order-1").await;
    // Wait until the change is recorded (its delivery fails: nobody listens).
    poll(&client, &server, "/api/v1/webhooks", |v| {
        v["webhooks"][0]["deliveries"]["pending"] == 1
    })
    .await;
    server.signal("KILL");
    let mut server = server;
    let _ = server.child.wait();

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let got = receiver_on(listener).await;
    let server = Server::start(&data);
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "not delivered after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Give a duplicate the chance to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    let (key, body) = &got[0];
    assert_eq!(*key, body["id"].as_str().unwrap());
    assert_eq!(body["type"], "segment.entered");
    assert_eq!(body["segment"], "recent_buyers");
    assert_eq!(body["person"]["user_id"], "crash-1");
    drop(server);
}

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use seglab_live::webhook::{self, Deliverer, NewSubscription};
use serde_json::{Value, json};

use crate::support::*;

#[derive(Clone, Default)]
struct Received {
    /// (idempotency key, signature header, body)
    requests: Arc<Mutex<Vec<(String, String, Bytes)>>>,
    /// Answers 500 to the first attempt of every key.
    fail_first: bool,
}

async fn receiver(received: Received) -> String {
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let received = received.clone();
            async move {
                let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                let sig = headers["seglab-signature"].to_str().unwrap().to_owned();
                let mut r = received.requests.lock().unwrap();
                let seen = r.iter().filter(|(k, _, _)| *k == key).count();
                r.push((key, sig, body));
                if received.fail_first && seen == 0 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

#[test]
fn signed_retried_and_delivered_once_per_key() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let received = Received {
        fail_first: true,
        ..Default::default()
    };
    let url = rt.block_on(receiver(received.clone()));
    let mut w = World::new(
        r#"segment buyers = did "Order Completed"
segment viewers = did "Product Viewed""#,
    );
    let sub = webhook::subscribe(
        &w.db(),
        &NewSubscription {
            url,
            segments: Some(vec!["buyers".into()]),
            events: None,
        },
        NOW,
    )
    .unwrap();
    let secret = sub.secret.clone().unwrap();
    w.live.reload_subscriptions().unwrap();
    w.send(json!([
        track("ann", "Order Completed", NOW - 1),
        track("ann", "Product Viewed", NOW - 1),
    ]));
    let ch = w.step(NOW);
    assert_eq!(ch.len(), 2);
    let wake = Arc::new(tokio::sync::Notify::new());
    let dir = w.dir.path().to_owned();
    let reader = Arc::new(seglab_store::Reader::open(&dir).unwrap());
    // The profile changes between the attempts: the retry still sends the
    // first attempt's bytes.
    let lookups = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deliverer = Deliverer::new(
        &dir,
        wake.clone(),
        Arc::new(move |p| {
            let n = lookups.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let user = reader.user_id(p).ok().flatten();
            if n == 0 { user } else { Some("renamed".into()) }
        }),
    )
    .unwrap();
    rt.spawn(deliverer.run());
    wake.notify_one();
    let started = Instant::now();
    loop {
        let stats = webhook::stats(&seglab_live::LiveDb::open(&dir).unwrap(), sub.id).unwrap();
        if stats.delivered == 1 {
            assert_eq!((stats.pending, stats.failed), (0, 0));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not delivered: {stats:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let requests = received.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "one failure, one retry");
    let keys: HashMap<&str, usize> = requests.iter().fold(HashMap::new(), |mut m, (k, _, _)| {
        *m.entry(k.as_str()).or_default() += 1;
        m
    });
    assert_eq!(keys.len(), 1, "the retry carries the same idempotency key");
    assert_eq!(
        requests[0].2, requests[1].2,
        "the retry sends the same body"
    );
    for (key, sig, body) in &requests {
        assert!(webhook::verify(&secret, sig, body), "signature checks");
        assert!(!webhook::verify("whsec_wrong", sig, body));
        let v: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["id"], json!(key));
        assert_eq!(v["type"], "segment.entered");
        assert_eq!(v["segment"], "buyers", "only the subscribed segment");
        assert_eq!(v["person"]["user_id"], "ann");
        assert_eq!(v["cause"], "event");
    }
}

#[test]
fn bad_subscriptions_are_refused() {
    let w = World::new(r#"segment buyers = did "Order Completed""#);
    for (url, events) in [
        ("not a url", None),
        ("ftp://example.com/x", None),
        ("http://127.0.0.1:1/x", Some(vec!["joined".to_string()])),
        ("http://127.0.0.1:1/x", Some(vec![])),
    ] {
        let r = webhook::subscribe(
            &w.db(),
            &NewSubscription {
                url: url.into(),
                segments: None,
                events,
            },
            NOW,
        );
        assert!(matches!(r, Err(seglab_live::Error::Invalid(_))), "{url}");
    }
    assert!(webhook::list(&w.db()).unwrap().is_empty());
}

#[test]
fn backoff_grows_and_is_capped() {
    assert_eq!(webhook::backoff(0), 1_000);
    assert_eq!(webhook::backoff(3), 8_000);
    assert_eq!(webhook::backoff(40), 3_600_000);
}

#[test]
fn a_hanging_endpoint_delays_only_its_own_deliveries() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let received = Received::default();
    let healthy = rt.block_on(receiver(received.clone()));
    // Accepts connections and never answers.
    let hanging = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        format!("http://{addr}/hook")
    });
    let mut w = World::new(r#"segment buyers = did "Order Completed""#);
    let mut subs = Vec::new();
    for url in [hanging, healthy] {
        let sub = webhook::subscribe(
            &w.db(),
            &NewSubscription {
                url,
                segments: None,
                events: None,
            },
            NOW,
        )
        .unwrap();
        subs.push(sub.id);
    }
    w.live.reload_subscriptions().unwrap();
    // More changes than one round of the hanging endpoint can hold.
    let orders: Vec<Value> = (0..40)
        .map(|i| track(&format!("p{i}"), "Order Completed", NOW - 1))
        .collect();
    w.send(Value::Array(orders));
    assert_eq!(w.step(NOW).len(), 40);
    let dir = w.dir.path().to_owned();
    let wake = Arc::new(tokio::sync::Notify::new());
    let deliverer = Deliverer::new(&dir, wake.clone(), Arc::new(|_| None)).unwrap();
    rt.spawn(deliverer.run());
    wake.notify_one();
    let started = Instant::now();
    loop {
        let healthy = webhook::stats(&seglab_live::LiveDb::open(&dir).unwrap(), subs[1]).unwrap();
        if healthy.delivered == 40 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the healthy endpoint waited on the hanging one: {healthy:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let stuck = webhook::stats(&seglab_live::LiveDb::open(&dir).unwrap(), subs[0]).unwrap();
    assert_eq!((stuck.delivered, stuck.pending), (0, 40));
    assert_eq!(received.requests.lock().unwrap().len(), 40);
}

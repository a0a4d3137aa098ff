//! The email channel against a real SMTP server over loopback.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use seglab_campaign::track::{self, Tokens};
use seglab_campaign::{Mailer, OutgoingEmail, SendErrorKind, SmtpConfig};

use crate::smtp::Sink;

const WAIT: Duration = Duration::from_secs(30);

fn mailer(url: &str, pool_size: u32) -> Mailer {
    Mailer::new(SmtpConfig {
        url: url.to_owned(),
        from: "bounces@shop.example".to_owned(),
        pool_size,
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn email(key: &str, to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.to_owned(),
        from: "Shop <news@shop.example>".to_owned(),
        subject: "Your basket misses you".to_owned(),
        html: Some("<html><body><p>Still thinking about it?</p></body></html>".to_owned()),
        text: Some("Still thinking about it?".to_owned()),
        idempotency_key: key.to_owned(),
        list_unsubscribe: format!("https://t.shop.example/u/{key}"),
        list_unsubscribe_mailto: None,
    }
}

/// The idempotency keys of the messages received, once there are `n`.
async fn keys(sink: &Sink, n: usize) -> Vec<String> {
    let received = sink.wait_for(n, WAIT).await;
    received
        .into_iter()
        .map(|m| m.idempotency_key.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_message_arrives_with_every_header_and_both_bodies() {
    let Some(sink) = Sink::start(&[]) else { return };
    let tokens = Tokens::new(b"test secret");
    let token = tokens.sign(42);
    let base = "https://t.shop.example";
    let html = track::instrument_html(
        r#"<html><body><p>Hej Åsa, <a href="https://shop.example/cart?x=1&amp;y=2">your cart</a></p></body></html>"#,
        base,
        &tokens,
        42,
    );
    let message = OutgoingEmail {
        to: "Åsa <asa@example.com>".to_owned(),
        subject: "Hej Åsa — 10% off".to_owned(),
        html: Some(html.clone()),
        text: Some("Hej Åsa, your cart: https://shop.example/cart".to_owned()),
        list_unsubscribe: track::unsubscribe_url(base, &token),
        list_unsubscribe_mailto: Some(format!("mailto:unsubscribe@shop.example?subject={token}")),
        ..email("c7.p42.once", "")
    };
    mailer(&sink.url(), 2).send(&message).await.unwrap();

    let got = sink.wait_for(1, WAIT).await;
    assert_eq!(got.len(), 1);
    let got = &got[0];
    assert_eq!(got.mail_from, "bounces@shop.example");
    assert_eq!(got.rcpt_tos, ["asa@example.com"]);
    assert_eq!(got.idempotency_key.as_deref(), Some("c7.p42.once"));
    assert_eq!(got.message_id.as_deref(), Some("<c7.p42.once@seglab>"));
    assert_eq!(got.from.as_deref(), Some("Shop <news@shop.example>"));
    assert_eq!(got.to.as_deref(), Some("Åsa <asa@example.com>"));
    assert_eq!(got.subject.as_deref(), Some("Hej Åsa — 10% off"));
    assert_eq!(
        got.list_unsubscribe.as_deref(),
        Some(
            format!("<{base}/u/{token}>, <mailto:unsubscribe@shop.example?subject={token}>")
                .as_str()
        )
    );
    assert_eq!(
        got.list_unsubscribe_post.as_deref(),
        Some("List-Unsubscribe=One-Click")
    );
    assert_eq!(got.content_type, "multipart/alternative");
    assert_eq!(got.html.as_deref(), Some(html.as_str()));
    assert_eq!(
        got.text.as_deref(),
        Some("Hej Åsa, your cart: https://shop.example/cart")
    );
    // The click link in the received HTML leads back to the original.
    let html = got.html.as_deref().unwrap();
    let click = html
        .split("href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (path, query) = click.split_once('?').unwrap();
    assert_eq!(path, format!("{base}/t/c/{token}/0"));
    assert_eq!(
        tokens
            .click_target(42, &query.replace("&amp;", "&"))
            .as_deref(),
        Some("https://shop.example/cart?x=1&y=2")
    );
    assert_eq!(tokens.verify(&token), Some(42));
    assert!(html.contains(&format!("{base}/t/o/{token}.gif")));
}

#[tokio::test]
async fn a_rejected_recipient_is_a_bounce() {
    let Some(sink) = Sink::start(&["--reject-rcpt", "gone@example.com"]) else {
        return;
    };
    let mailer = mailer(&sink.url(), 1);
    let err = mailer
        .send(&email("k1", "gone@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SendErrorKind::Bounce, "{err}");
    assert!(err.message.starts_with("RCPT TO: 550 5.1.1"), "{err}");
    // The pool recovers: the next message goes through.
    mailer.send(&email("k2", "here@example.com")).await.unwrap();
    assert_eq!(keys(&sink, 1).await, ["k2"]);
}

#[tokio::test]
async fn two_temporary_failures_then_success() {
    let Some(sink) = Sink::start(&["--fail-first", "2"]) else {
        return;
    };
    let mailer = mailer(&sink.url(), 1);
    let message = email("retry-1", "ann@example.com");
    for _ in 0..2 {
        let err = mailer.send(&message).await.unwrap_err();
        assert_eq!(err.kind, SendErrorKind::Transient, "{err}");
        assert!(err.message.starts_with("end of data: 451"), "{err}");
    }
    mailer.send(&message).await.unwrap();
    assert_eq!(keys(&sink, 1).await, ["retry-1"]);
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_replaced() {
    let Some(sink) = Sink::start(&["--idle-timeout", "0.2"]) else {
        return;
    };
    let mailer = mailer(&sink.url(), 1);
    mailer.send(&email("k1", "ann@example.com")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    mailer.send(&email("k2", "ann@example.com")).await.unwrap();
    assert_eq!(keys(&sink, 2).await, ["k1", "k2"]);
}

#[tokio::test]
async fn a_rejected_message_is_permanent_not_a_bounce() {
    let Some(sink) = Sink::start(&["--fail-all"]) else {
        return;
    };
    let err = mailer(&sink.url(), 1)
        .send(&email("k1", "ann@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SendErrorKind::Permanent, "{err}");
    assert!(err.message.starts_with("end of data: 554"), "{err}");
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_is_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let err = mailer(&format!("smtp://127.0.0.1:{port}"), 1)
        .send(&email("k1", "ann@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SendErrorKind::Transient, "{err}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mailer = Mailer::new(SmtpConfig {
        url,
        timeout: Duration::from_millis(300),
        ..SmtpConfig::default()
    })
    .unwrap();
    let start = Instant::now();
    let err = mailer
        .send(&email("k1", "ann@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, SendErrorKind::Transient, "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    hold.abort();
}

/// A knob of the throughput test from the environment, else its default.
fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_concurrent_sends_arrive_exactly_once() {
    let n = knob("SEGLAB_SMTP_MESSAGES", 2_000);
    let pool = knob("SEGLAB_SMTP_POOL", 8);
    let Some(sink) = Sink::start(&[]) else { return };
    let mailer = mailer(&sink.url(), pool as u32);
    // Warm the pool so the rate is of sending, not of connecting.
    mailer
        .send(&email("warm-up", "warm@example.com"))
        .await
        .unwrap();

    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let mailer = mailer.clone();
        tasks.spawn(async move {
            mailer
                .send(&email(&format!("bulk-{i}"), &format!("p{i}@example.com")))
                .await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let elapsed = start.elapsed();

    let got = sink.wait_for(n + 1, WAIT).await;
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for message in &got {
        *by_key
            .entry(message.idempotency_key.clone().unwrap())
            .or_default() += 1;
    }
    assert_eq!(got.len(), n + 1);
    assert_eq!(by_key.len(), n + 1);
    assert!(by_key.values().all(|&n| n == 1));
    assert!((0..n).all(|i| by_key.contains_key(&format!("bulk-{i}"))));

    let stats = sink.stop();
    assert_eq!(stats.messages as usize, n + 1);
    assert!(
        stats.connections as usize <= pool,
        "{} connections for a pool of {pool}",
        stats.connections
    );
    let rate = n as f64 / elapsed.as_secs_f64();
    let sink_rate = stats.messages as f64 / stats.cpu_seconds;
    eprintln!(
        "smtp: {n} messages in {:.3}s = {rate:.0} msg/s (pool of {pool}, {} connections); \
         the sink used {:.0} µs of CPU a message (at most {sink_rate:.0} msg/s on one core)",
        elapsed.as_secs_f64(),
        stats.connections,
        stats.cpu_seconds * 1e6 / stats.messages as f64,
    );
}

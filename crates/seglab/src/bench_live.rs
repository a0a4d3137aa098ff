//! `seglab bench live`: real-time membership with 50 segments over a generated
//! store. Three figures, each beside a baseline measured in the same run:
//!
//! 1. applying one event inside the engine (push into the timeline, evaluate
//!    the person's 50 segments and their next change instant), p50 and p99,
//!    against re-evaluating the 50 segments for everyone (what a batch system
//!    does to notice the same change);
//! 2. HTTP ingest → signed webhook received on loopback, p50 and p99, against
//!    the ingest round trip alone (the acknowledgement of the same request);
//! 3. sustained events per second with every segment live (from the first
//!    request until the live engine has applied the last event), against the
//!    rate at which the same requests were acknowledged.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use seglab_event::time::now_millis;
use seglab_segments::Segments;
use seglab_store::Reader;
use serde_json::{Value, json};

use crate::bench::{Server, rate, verdict};
use seglab_demo::{DemoSpec, generate};

/// The starter segments plus 34 more of the same kinds, 50 in all, one of
/// which (`bench_ping`) the end-to-end measurement makes people enter.
pub fn fifty_segments() -> String {
    let mut s = String::from(seglab_segments::STARTER);
    s.push_str("\nsegment bench_ping = did \"Coupon Applied\" in last 1h\n");
    // The demo's first six categories.
    for (i, c) in seglab_demo::CATEGORY_NAMES[..6].iter().enumerate() {
        let d = 7 * (i + 1);
        s.push_str(&format!(
            "segment viewed_{c} = count(\"Product Viewed\" where category = \"{c}\" in last {d}d) >= 2\n\
             segment added_{c} = did \"Product Added\" where category = \"{c}\" in last 14d then not \"Order Completed\" within {h}h\n\
             segment bought_{c} = did \"Order Completed\" in last {d}d and did \"Product Viewed\" where category = \"{c}\" in last 30d\n",
            h = 6 * (i + 1),
        ));
    }
    for k in 1..=4 {
        s.push_str(&format!(
            "segment active_{k}w = regularly \"Page Viewed\" 1 per 1w in {k} of last 4\n\
             segment stopped_{k} = stopped \"Page Viewed\" for {d}d\n\
             segment opened_{k} = count(\"Email Opened\" in last {d}d) >= {k}\n",
            d = 7 * k,
        ));
    }
    for k in 1..=3 {
        s.push_str(&format!(
            "segment spend_{k} = sum(\"Order Completed\".revenue in last 90d) >= {}\n",
            100 * k
        ));
    }
    s
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(f64::total_cmp);
    xs
}

pub fn run(
    people: usize,
    events: u64,
    keep: Option<PathBuf>,
    samples: usize,
    pings: usize,
    sustained: u64,
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = keep.unwrap_or_else(|| tmp.path().join("data"));
    crate::bench::ensure_demo_data(&data, people, events)?;
    let reader = Reader::open(&data)?;

    // The 50 segments, saved like `seglab segments apply` would.
    let t = Instant::now();
    let segments = Segments::open(&reader, Some(&data))?;
    let source = fifty_segments();
    let checked = segments.check(&reader, &source, "bench.seg")?;
    segments.apply(&reader, &checked, &source)?;
    let names = reader.segments()?.len();
    println!(
        "loaded {} people, {} events, {names} segments in {:.1} s",
        rate(segments.people() as f64),
        rate(segments.events() as f64),
        t.elapsed().as_secs_f64()
    );

    let (people_loaded, events_loaded) = (segments.people(), segments.events());

    // 1. One event inside the engine.
    let now = now_millis();
    let (batch_ms, applied) = engine_latency(&segments, now, samples)?;
    drop(segments);

    // 2 and 3 against a server in a child process.
    let t = Instant::now();
    let server = Server::start(&data)?;
    let ready = t.elapsed().as_secs_f64();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(async {
        let client = reqwest::Client::builder().build()?;
        let e2e = end_to_end(&client, &server, people, pings).await?;
        let sus = sustained_rate(&client, &server, people, sustained).await?;
        anyhow::Ok((e2e, sus))
    });
    server.stop()?;
    let ((ack, hook), (acked_rate, live_rate)) = result?;

    let applied = sorted(applied);
    let (p50, p99) = (percentile(&applied, 0.5), percentile(&applied, 0.99));
    println!();
    println!(
        "live membership: {names} segments over {} people with {} events",
        rate(people_loaded as f64),
        rate(events_loaded as f64)
    );
    println!("  server ready (store, timelines, live state) in {ready:.1} s");
    println!(
        "  one event inside the engine ({} events on random people):",
        rate(applied.len() as f64)
    );
    println!("    baseline  re-evaluate every segment for everyone:  {batch_ms:>9.1} ms");
    println!(
        "    seglab    p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        p50,
        p99,
        applied.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "    ratio     {:.0}× faster than the batch pass at p99 (target p99 < 1 ms: {})",
        batch_ms / p99,
        verdict(p99 < 1.0)
    );
    let (ack, hook) = (sorted(ack), sorted(hook));
    println!(
        "  HTTP ingest → webhook received on loopback ({} events):",
        hook.len()
    );
    println!(
        "    baseline  ingest acknowledged:  p50 {:.2} ms, p99 {:.2} ms",
        percentile(&ack, 0.5),
        percentile(&ack, 0.99)
    );
    println!(
        "    seglab    webhook received:     p50 {:.2} ms, p99 {:.2} ms (target p99 < 20 ms: {})",
        percentile(&hook, 0.5),
        percentile(&hook, 0.99),
        verdict(percentile(&hook, 0.99) < 20.0)
    );
    println!(
        "  sustained, every segment live ({} events, 8 connections, 250 per request):",
        rate(sustained as f64)
    );
    println!(
        "    baseline  acknowledged:        {:>10} events/s",
        rate(acked_rate)
    );
    println!(
        "    seglab    applied by live:     {:>10} events/s  ({:.2} × baseline; target ≥ 50,000: {})",
        rate(live_rate),
        live_rate / acked_rate,
        verdict(live_rate >= 50_000.0)
    );
    if hook.len() < pings {
        bail!("{} of {pings} webhooks arrived", hook.len());
    }
    Ok(())
}

/// Milliseconds of a batch pass over everyone, and per-event apply times (ms).
fn engine_latency(
    segments: &Segments,
    now: i64,
    samples: usize,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let ids: Vec<i64> =
        segments.with_engine(|e| e.timelines().people().map(|(_, id)| id).collect());
    let t = Instant::now();
    segments.with_engine(|e| e.evaluate_defined(now))?;
    let batch_ms = t.elapsed().as_secs_f64() * 1000.0;
    let mut set = segments.with_engine(|e| e.live_set(now))?;
    let mut rng = StdRng::seed_from_u64(7);
    let kinds = [
        (
            "Product Viewed",
            json!({"category": "shoes", "product_id": "p-12", "price": 40}),
        ),
        (
            "Product Added",
            json!({"category": "bags", "product_id": "p-7", "price": 90}),
        ),
        (
            "Order Completed",
            json!({"revenue": 130, "order_id": "o-1"}),
        ),
        ("Page Viewed", json!({"name": "Home", "path": "/"})),
        ("Email Opened", json!({"campaign_id": "newsletter-9"})),
    ];
    let mut out = Vec::with_capacity(samples);
    for i in 0..samples {
        let person = ids[rng.random_range(0..ids.len())];
        let (name, props) = &kinds[rng.random_range(0..kinds.len())];
        let at = now + i as i64;
        let t = Instant::now();
        segments.with_engine_mut(|e| e.timelines_mut().push(person, at, name, props))?;
        let eval = segments.with_engine(|e| {
            if set.is_stale(e) {
                set = e.live_set(at)?;
            }
            set.evaluate_person(e, person, at)
        })?;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(eval);
    }
    Ok((batch_ms, out))
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A webhook receiver on loopback that checks nothing but records arrivals by
/// user id.
async fn receiver(arrivals: Arrivals) -> anyhow::Result<String> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let arrivals = arrivals.clone();
            async move {
                let at = Instant::now();
                if let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && let Some(user) = v["person"]["user_id"].as_str()
                {
                    arrivals
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(user.to_owned(), at);
                }
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/hook"))
}

/// Sends one `Coupon Applied` (the `bench_ping` segment) at a time for existing people; returns the ingest
/// acknowledgement times and the webhook arrival times (ms from sending).
async fn end_to_end(
    client: &reqwest::Client,
    server: &Server,
    people: usize,
    pings: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let arrivals: Arrivals = Arc::default();
    let hook = receiver(arrivals.clone()).await?;
    let res = client
        .post(format!("{}/api/v1/webhooks", server.url))
        .bearer_auth("bench")
        .json(&json!({"url": hook, "segments": ["bench_ping"], "events": ["entered"]}))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!(
            "creating the webhook: {} {}",
            res.status(),
            res.text().await?
        );
    }
    let hook_id = res.json::<Value>().await?["id"].as_i64().unwrap_or(0);
    let mut acks = Vec::new();
    let mut hooks = Vec::new();
    // People who did not ping in the last hour (a rerun on kept data starts
    // elsewhere), so every ping is an entry.
    let offset = (now_millis() / 1000) as usize;
    for i in 0..pings {
        let user = format!("user-{:07}", (offset + i * 7919) % people.max(1));
        let body = json!({"batch": [{"type": "track", "userId": user, "event": "Coupon Applied",
            "messageId": format!("bench-ping-{i}-{}", now_millis())}]});
        let sent = Instant::now();
        let res = client
            .post(format!("{}/v1/batch", server.url))
            .basic_auth(&server.key, Some(""))
            .json(&body)
            .send()
            .await?;
        let acked = sent.elapsed();
        if res.status() != 200 {
            bail!("ping {i}: {}", res.status());
        }
        acks.push(acked.as_secs_f64() * 1000.0);
        let deadline = sent + Duration::from_secs(5);
        loop {
            let got = arrivals
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&user)
                .copied();
            if let Some(at) = got {
                hooks.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
            if Instant::now() > deadline {
                eprintln!("ping {i}: no webhook within 5 s");
                break;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // The receiver goes away with this run: so does its subscription.
    client
        .delete(format!("{}/api/v1/webhooks/{hook_id}", server.url))
        .bearer_auth("bench")
        .send()
        .await?;
    Ok((acks, hooks))
}

/// The server's live status (`GET /api/v1/live`).
async fn live_status(client: &reqwest::Client, server: &Server) -> anyhow::Result<Value> {
    client
        .get(format!("{}/api/v1/live", server.url))
        .bearer_auth("bench")
        .send()
        .await?
        .json()
        .await
        .context("live status")
}

/// The newest committed sequence number, from the server's live status.
async fn committed(client: &reqwest::Client, server: &Server) -> anyhow::Result<i64> {
    live_status(client, server).await?["committed_seq"]
        .as_i64()
        .context("live status without committed_seq")
}

/// Sends `events` generated events of existing people as fast as they are
/// acknowledged; returns the acknowledged rate and the rate at which the live
/// engine applied them (until it caught up with the last one).
async fn sustained_rate(
    client: &reqwest::Client,
    server: &Server,
    people: usize,
    events: u64,
) -> anyhow::Result<(f64, f64)> {
    let spec = DemoSpec {
        people,
        days: 2,
        seed: 4242,
        max_events: Some(events),
        ..DemoSpec::default()
    };
    // Ids of this run, so a rerun on kept data stores every event again.
    let run = format!("\"messageId\":\"bench-{}-", now_millis());
    let mut lines = Vec::with_capacity(events as usize);
    generate(&spec, |l| {
        lines.push(l.replacen("\"messageId\":\"demo-", &run, 1))
    });
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        lines
            .chunks(250)
            .map(|c| format!("{{\"batch\":[{}]}}", c.join(",")).into_bytes())
            .collect(),
    );
    let n = lines.len() as f64;
    drop(lines);
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let before = committed(client, server).await?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (client, url, key, bodies, next, failed) = (
            client.clone(),
            format!("{}/v1/batch", server.url),
            server.key.clone(),
            bodies.clone(),
            next.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let mut ok = false;
                for attempt in 0..100u64 {
                    match client
                        .post(&url)
                        .basic_auth(&key, Some(""))
                        .body(body.clone())
                        .send()
                        .await
                    {
                        Ok(r) if r.status() == 200 => {
                            ok = true;
                            break;
                        }
                        _ => {
                            tokio::time::sleep(Duration::from_millis(10 * (attempt + 1).min(10)))
                                .await
                        }
                    }
                }
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let acked = started.elapsed().as_secs_f64();
    let stored = committed(client, server).await? - before;
    if stored < n as i64 {
        bail!("{stored} new events in the store after sending {n}");
    }
    if failed.load(Ordering::Relaxed) > 0 {
        bail!("{} requests failed", failed.load(Ordering::Relaxed));
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let v = live_status(client, server).await?;
        if v["behind"].as_i64() == Some(0) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the live engine did not catch up within 10 minutes: {v}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let applied = started.elapsed().as_secs_f64();
    Ok((n / acked, n / applied))
}

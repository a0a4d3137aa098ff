//! `seglab bench soak`: a long run at half of the measured capacity, with the
//! 50 live segments of `bench live` and a webhook subscribed to every change,
//! watching for what only shows over time: memory that grows beyond the data,
//! latencies that creep up, a live engine that falls behind.
//!
//! 1. The capacity is measured first (as `bench live` measures its sustained
//!    rate: events applied by the live engine per second, sending as fast as
//!    they are acknowledged), unless `--rate` gives the load.
//! 2. Events of the generated people are sent at half of it (or `--rate`),
//!    paced, in requests of 100, from 16 connections; every 250 ms one event
//!    makes a new person enter `bench_ping`, and its webhook's arrival is
//!    timed.
//! 3. After `--duration`, sending stops and the run goes on idle for
//!    `--idle`: the data has stopped growing, so memory must stay flat.
//!
//! Every `--sample` seconds the server's resident memory (`VmRSS`) is read
//! beside the engine's own count of the bytes its timelines hold. Per window
//! (a minute in a run of 3 minutes or more) it prints the rate sent, the
//! acknowledgement and webhook p99, the webhooks received, the resident
//! memory, the timelines' share and the rest. The baseline is the run's first
//! window: the last window's p99s and the memory beside the data are compared
//! with it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use seglab_demo::{DemoSpec, generate};
use seglab_event::time::now_millis;
use serde_json::{Value, json};

use crate::StoreArgs;
use crate::common::{percentile, rate, sorted, verdict};
use crate::live::{FiftyStore, live_status, sustained_rate};
use crate::server::Server;

/// Events per request.
const BATCH: usize = 100;
/// Connections sending.
const CONNECTIONS: usize = 16;
/// Between two timed pings.
const PING_EVERY: Duration = Duration::from_millis(250);

/// What to run; see the module docs.
pub struct SoakArgs {
    pub duration: Duration,
    pub idle: Duration,
    pub sample: Duration,
    /// Events per second (`None`: half the measured capacity).
    pub rate: Option<f64>,
    /// Events sent to measure the capacity.
    pub calibrate: u64,
}

/// One reading of the server.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: f64,
    rss: u64,
    engine: u64,
    events: u64,
    behind: i64,
}

/// What the senders and the webhook receiver record, by window.
#[derive(Default)]
struct Windows {
    acks: Vec<Vec<f64>>,
    sent: Vec<u64>,
    pings: Vec<Vec<f64>>,
    hooks: Vec<u64>,
    failed: u64,
}

impl Windows {
    fn slot<T: Default + Clone>(v: &mut Vec<T>, w: usize) -> &mut T {
        if v.len() <= w {
            v.resize(w + 1, T::default());
        }
        &mut v[w]
    }
}

pub fn run(exe: &Path, store: StoreArgs, args: SoakArgs) -> anyhow::Result<()> {
    let people = store.people;
    let data = {
        let loaded = FiftyStore::open(exe, &store)?;
        println!(
            "store: {} people, {} events, 50 segments",
            rate(loaded.segments.people() as f64),
            rate(loaded.segments.events() as f64)
        );
        // The folder outlives this scope only when it is kept.
        (loaded._tmp, loaded.data)
    };
    let server = Server::start(exe, &data.1)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = rt.block_on(soak(&server, people, &args));
    server.stop()?;
    drop(data);
    result
}

async fn soak(server: &Server, people: usize, args: &SoakArgs) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().build()?;
    let pid = server.pid();

    // 1. Capacity.
    let target = match args.rate {
        Some(r) => {
            println!("load: {} events/s (given)", rate(r));
            r
        }
        None => {
            let (acked, applied) = sustained_rate(&client, server, people, args.calibrate).await?;
            println!(
                "capacity: {} events/s applied by live ({} acknowledged); load: half, {} events/s",
                rate(applied),
                rate(acked),
                rate(applied / 2.0)
            );
            applied / 2.0
        }
    };

    let window = if args.duration >= Duration::from_secs(180) {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(args.duration.as_secs().div_ceil(6).max(1))
    };
    let bodies = Arc::new(bodies(people, target, args.duration));
    let windows: Arc<Mutex<Windows>> = Arc::default();
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let started = Instant::now();
    let win = move |at: Instant| {
        (at.duration_since(started).as_secs_f64() / window.as_secs_f64()) as usize
    };

    // A webhook on every change of every segment.
    let delivered = Arc::new(AtomicU64::new(0));
    let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let hook = receiver(delivered.clone(), arrivals.clone(), windows.clone(), win).await?;
    let res = client
        .post(format!("{}/api/v1/webhooks", server.url))
        .bearer_auth("bench")
        .json(&json!({ "url": hook }))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!(
            "creating the webhook: {} {}",
            res.status(),
            res.text().await?
        );
    }

    // 2. The load.
    let stop = Arc::new(AtomicBool::new(false));

    let sampler = {
        let (client, url, samples, stop) = (
            client.clone(),
            server.url.clone(),
            samples.clone(),
            stop.clone(),
        );
        let every = args.sample;
        tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                if let Ok(s) = sample(&client, &url, pid, started).await {
                    samples.lock().unwrap_or_else(|e| e.into_inner()).push(s);
                }
                tokio::time::sleep(every).await;
            }
        })
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<usize>(CONNECTIONS * 4);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut senders = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, key, bodies, windows, rx) = (
            client.clone(),
            format!("{}/v1/batch", server.url),
            server.key.clone(),
            bodies.clone(),
            windows.clone(),
            rx.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let Some(i) = rx.lock().await.recv().await else {
                    break;
                };
                let cycle = i / bodies.len();
                let body = bodies[i % bodies.len()].replace("@@C@@", &cycle.to_string());
                let sent = Instant::now();
                let ok = matches!(
                    client.post(&url).basic_auth(&key, Some("")).body(body).send().await,
                    Ok(r) if r.status() == 200
                );
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                let mut w = windows.lock().unwrap_or_else(|e| e.into_inner());
                if ok {
                    Windows::slot(&mut w.acks, win(sent)).push(ms);
                    *Windows::slot(&mut w.sent, win(sent)) += BATCH as u64;
                } else {
                    w.failed += 1;
                }
            }
        }));
    }
    let pinger = {
        let (client, url, key, windows, arrivals, stop) = (
            client.clone(),
            format!("{}/v1/batch", server.url),
            server.key.clone(),
            windows.clone(),
            arrivals.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let run = now_millis();
            let mut sent: Vec<(String, Instant)> = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Acquire) {
                let user = format!("soak-ping-{run}-{i}");
                i += 1;
                let body = json!({"batch": [{"type": "track", "userId": user,
                    "event": "Coupon Applied", "messageId": format!("{user}-m")}]});
                let at = Instant::now();
                if client
                    .post(&url)
                    .basic_auth(&key, Some(""))
                    .json(&body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 200)
                {
                    sent.push((user, at));
                }
                tokio::time::sleep(PING_EVERY).await;
                // Pings whose webhook arrived.
                let mut arrived = arrivals.lock().unwrap_or_else(|e| e.into_inner());
                sent.retain(|(user, at)| match arrived.remove(user) {
                    Some(got) => {
                        let mut w = windows.lock().unwrap_or_else(|e| e.into_inner());
                        Windows::slot(&mut w.pings, win(*at))
                            .push(got.duration_since(*at).as_secs_f64() * 1000.0);
                        false
                    }
                    None => at.elapsed() < Duration::from_secs(60),
                });
            }
        })
    };
    // Paced: request i leaves at i × BATCH / target seconds.
    let per_request = Duration::from_secs_f64(BATCH as f64 / target);
    let total = (args.duration.as_secs_f64() / per_request.as_secs_f64()) as usize;
    let progress = AtomicUsize::new(0);
    for i in 0..total {
        let due = started + per_request.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        if tx.send(i).await.is_err() {
            break;
        }
        let minute = (started.elapsed().as_secs() / 60) as usize;
        if progress.swap(minute, Ordering::Relaxed) != minute {
            eprintln!("  {minute} min…");
        }
    }
    drop(tx);
    for s in senders {
        s.await?;
    }
    let load_ended = started.elapsed().as_secs_f64();
    // 3. Idle: no new data.
    tokio::time::sleep(args.idle).await;
    stop.store(true, Ordering::Release);
    pinger.await?;
    sampler.await?;
    let last = live_status(&client, server).await?;

    report(
        &windows.lock().unwrap_or_else(|e| e.into_inner()),
        &samples.lock().unwrap_or_else(|e| e.into_inner()),
        window,
        load_ended,
        target,
        delivered.load(Ordering::Relaxed),
        &last,
    )
}

/// Request bodies of `BATCH` generated events each, enough for a minute of
/// the load (reused in cycles; `@@C@@` in each message id is the cycle).
fn bodies(people: usize, target: f64, duration: Duration) -> Vec<String> {
    let events = (target * duration.as_secs_f64().min(60.0)).max(BATCH as f64) as u64;
    let spec = DemoSpec {
        people,
        days: 2,
        seed: 7_171,
        max_events: Some(events),
        ..DemoSpec::default()
    };
    let run = format!("\"messageId\":\"soak-{}-@@C@@-", now_millis());
    let mut lines = Vec::with_capacity(events as usize);
    generate(&spec, |l| {
        lines.push(l.replacen("\"messageId\":\"demo-", &run, 1))
    });
    lines
        .chunks(BATCH)
        .filter(|c| c.len() == BATCH)
        .map(|c| format!("{{\"batch\":[{}]}}", c.join(",")))
        .collect()
}

/// A webhook receiver on loopback: counts deliveries and keeps the arrival
/// of the pings' people.
async fn receiver(
    delivered: Arc<AtomicU64>,
    arrivals: Arc<Mutex<HashMap<String, Instant>>>,
    windows: Arc<Mutex<Windows>>,
    win: impl Fn(Instant) -> usize + Clone + Send + Sync + 'static,
) -> anyhow::Result<String> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: axum::body::Bytes| {
            let (delivered, arrivals, windows, win) = (
                delivered.clone(),
                arrivals.clone(),
                windows.clone(),
                win.clone(),
            );
            async move {
                let at = Instant::now();
                delivered.fetch_add(1, Ordering::Relaxed);
                *Windows::slot(
                    &mut windows.lock().unwrap_or_else(|e| e.into_inner()).hooks,
                    win(at),
                ) += 1;
                if let Ok(v) = serde_json::from_slice::<Value>(&body)
                    && let Some(user) = v["person"]["user_id"].as_str()
                    && user.starts_with("soak-ping-")
                {
                    arrivals
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(user.to_owned())
                        .or_insert(at);
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

/// The server's resident memory and the engine's figures.
async fn sample(
    client: &reqwest::Client,
    url: &str,
    pid: u32,
    started: Instant,
) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS")?;
    let live: Value = client
        .get(format!("{url}/api/v1/live"))
        .bearer_auth("bench")
        .send()
        .await?
        .json()
        .await?;
    Ok(Sample {
        at: started.elapsed().as_secs_f64(),
        rss: rss_kb * 1024,
        engine: live["engine"]["memory_bytes"].as_u64().unwrap_or(0),
        events: live["engine"]["events"].as_u64().unwrap_or(0),
        behind: live["behind"].as_i64().unwrap_or(0),
    })
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn report(
    w: &Windows,
    samples: &[Sample],
    window: Duration,
    load_ended: f64,
    target: f64,
    delivered: u64,
    last: &Value,
) -> anyhow::Result<()> {
    let secs = window.as_secs_f64();
    let loaded_windows = (load_ended / secs).round().max(1.0) as usize;
    println!();
    println!(
        "soak: {} events/s for {:.0} s, then {:.0} s idle; per {:.0} s window:",
        rate(target),
        load_ended,
        samples.last().map_or(0.0, |s| s.at) - load_ended,
        secs
    );
    println!(
        "  {:>6} {:>10} {:>9} {:>9} {:>11} {:>10} {:>8} {:>10} {:>9} {:>8}",
        "window",
        "events/s",
        "ack p50",
        "ack p99",
        "webhook p99",
        "webhooks/s",
        "RSS MB",
        "engine MB",
        "other MB",
        "behind"
    );
    let windows = samples
        .iter()
        .map(|s| (s.at / secs) as usize)
        .max()
        .unwrap_or(0)
        + 1;
    let mut rows = Vec::new();
    for k in 0..windows {
        let acks = sorted(w.acks.get(k).cloned().unwrap_or_default());
        let pings = sorted(w.pings.get(k).cloned().unwrap_or_default());
        let last_sample = samples.iter().rev().find(|s| (s.at / secs) as usize == k);
        let Some(s) = last_sample else { continue };
        let sent = w.sent.get(k).copied().unwrap_or(0) as f64 / secs;
        let other = mb(s.rss.saturating_sub(s.engine));
        println!(
            "  {:>6} {:>10} {:>8.2}ms {:>8.2}ms {:>10.2}ms {:>10} {:>8.0} {:>10.0} {:>9.0} {:>8}",
            k,
            rate(sent),
            percentile(&acks, 0.5),
            percentile(&acks, 0.99),
            percentile(&pings, 0.99),
            rate(w.hooks.get(k).copied().unwrap_or(0) as f64 / secs),
            mb(s.rss),
            mb(s.engine),
            other,
            s.behind
        );
        rows.push((
            k,
            percentile(&acks, 0.99),
            percentile(&pings, 0.99),
            other,
            *s,
        ));
    }
    if w.failed > 0 {
        bail!("{} requests failed", w.failed);
    }
    let loaded: Vec<_> = rows.iter().filter(|r| r.0 < loaded_windows).collect();
    let (Some(first), Some(end)) = (loaded.first(), loaded.last()) else {
        bail!("the run was too short to report on");
    };
    // Idle: from the first sample after the load to the last.
    let idle: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at >= load_ended + 1.0)
        .collect();
    println!();
    println!("  baseline (window 0) → last loaded window ({}):", end.0);
    println!(
        "    ack p99        {:>8.2} ms → {:>8.2} ms  ({:.2}×)",
        first.1,
        end.1,
        end.1 / first.1
    );
    println!(
        "    webhook p99    {:>8.2} ms → {:>8.2} ms  ({:.2}×)",
        first.2,
        end.2,
        end.2 / first.2
    );
    println!(
        "    engine data    {:>8.0} MB → {:>8.0} MB  ({} → {} events)",
        mb(first.4.engine),
        mb(end.4.engine),
        rate(first.4.events as f64),
        rate(end.4.events as f64)
    );
    let added = end.4.events.saturating_sub(first.4.events).max(1) as f64;
    let other_growth = end.3 - first.3;
    println!(
        "    RSS beside it  {:>8.0} MB → {:>8.0} MB  ({:+.0} MB, {:.0} B per event added: \
         the store's id and deduplication maps and SQLite's page caches grow with the data)",
        first.3,
        end.3,
        other_growth,
        other_growth * 1024.0 * 1024.0 / added
    );
    let mut flat_idle = true;
    if let (Some(a), Some(b)) = (idle.first(), idle.last()) {
        let growth = mb(b.rss) - mb(a.rss);
        flat_idle = growth <= (mb(a.rss) * 0.02).max(16.0);
        println!(
            "    idle, no new data: RSS {:.0} MB → {:.0} MB over {:.0} s ({growth:+.0} MB)",
            mb(a.rss),
            mb(b.rss),
            b.at - a.at
        );
    }
    println!(
        "  memory flat once data stops growing (≤ +2 % or 16 MB while idle): {}",
        verdict(flat_idle)
    );
    println!(
        "  live engine behind at the end: {} events; webhooks received: {}",
        last["behind"],
        rate(delivered as f64)
    );
    Ok(())
}

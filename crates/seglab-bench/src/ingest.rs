//! `seglab bench ingest`: events through `/v1/batch` on loopback to a
//! `seglab serve` child process, against a bare SQLite append.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use seglab_demo::generate;
use seglab_store::Reader;

use crate::common::{baseline, events_spec, rate, verdict};
use crate::server::Server;

/// Sends `events` generated events, `batch` per request over `connections`
/// connections, to a `seglab serve` child of `exe`.
pub fn run(exe: &Path, events: u64, batch: usize, connections: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("generating {} events…", rate(events as f64));
    let lines = lines(events);
    let avg = lines.iter().map(String::len).sum::<usize>() / lines.len().max(1);
    let bodies: Vec<(Vec<u8>, u64)> = lines
        .chunks(batch)
        .map(|c| {
            (
                format!("{{\"batch\":[{}]}}", c.join(",")).into_bytes(),
                c.len() as u64,
            )
        })
        .collect();
    drop(lines);
    let base = baseline(dir.path(), 1_000_000.min(events as usize), avg)?;

    let data = dir.path().join("data");
    let server = Server::start(exe, &data)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .build()?;
        let url = format!("{}/v1/batch", server.url);
        let mut tasks = Vec::new();
        for _ in 0..connections {
            let (client, url, bodies, next, acked, failed, key) = (
                client.clone(),
                url.clone(),
                bodies.clone(),
                next.clone(),
                acked.clone(),
                failed.clone(),
                server.key.clone(),
            );
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, n)) = bodies.get(i) else {
                        break;
                    };
                    let n = *n;
                    let mut ok = false;
                    for attempt in 0..100u64 {
                        let res = client
                            .post(&url)
                            .basic_auth(&key, Some(""))
                            .body(body.clone())
                            .send()
                            .await;
                        match res {
                            Ok(r) if r.status() == 200 => {
                                ok = true;
                                break;
                            }
                            Ok(r) if r.status() == 429 || r.status().is_server_error() => {}
                            Ok(r) => {
                                eprintln!(
                                    "request {i}: {} {}",
                                    r.status(),
                                    r.text().await.unwrap_or_default()
                                );
                                break;
                            }
                            Err(_) => {}
                        }
                        tokio::time::sleep(Duration::from_millis(10 * (attempt + 1).min(10))).await;
                    }
                    if ok {
                        acked.fetch_add(n, Ordering::Relaxed)
                    } else {
                        failed.fetch_add(n, Ordering::Relaxed)
                    };
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        anyhow::Ok(())
    })?;
    let secs = started.elapsed().as_secs_f64();
    server.stop()?;
    let acked = acked.load(Ordering::Relaxed);
    let stored = Reader::open(&data)?.event_count()?;
    let ours = acked as f64 / secs;
    println!();
    println!(
        "ingest over HTTP: {} events, {} per request, {connections} connections, avg {avg} bytes/event",
        rate(events as f64),
        batch
    );
    println!(
        "  baseline  bare SQLite append, synchronous=FULL, 1000-row transactions: {:>10} rows/s",
        rate(base)
    );
    println!(
        "  seglab    POST /v1/batch on loopback, acknowledged = committed:       {:>10} events/s  ({secs:.1} s)",
        rate(ours)
    );
    println!("  ratio     {:.2} × baseline", ours / base);
    println!(
        "  durable   {stored} stored of {acked} acknowledged ({} failed)",
        failed.load(Ordering::Relaxed)
    );
    println!(
        "  target    ≥ 100,000 events/s: {}",
        verdict(ours >= 100_000.0)
    );
    if stored != acked {
        bail!("{stored} events stored but {acked} acknowledged");
    }
    Ok(())
}

/// Generated events as NDJSON lines (see [`events_spec`]).
fn lines(events: u64) -> Vec<String> {
    let mut out = Vec::with_capacity(events as usize);
    generate(&events_spec(events), |l| out.push(l.to_owned()));
    out
}

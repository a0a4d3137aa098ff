//! `seglab bench …`: end-to-end benchmarks. Each prints its own figure, the
//! baseline measured in the same run, and the ratio between them.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use seglab_store::{Durability, Reader, Store};

use seglab_demo::{DemoSpec, generate};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Push events through /v1/batch on loopback to a `seglab serve` child process.
    Ingest {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// Events per request.
        #[arg(long, default_value_t = 250)]
        batch: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 8)]
        connections: usize,
    },
    /// Import an NDJSON file of generated events.
    Import {
        #[arg(long, default_value_t = 5_000_000)]
        events: u64,
    },
    /// Evaluate the starter segments with seglab and, on the same data, as SQL in
    /// DuckDB (Python package, 2 threads); member counts must match.
    Segments {
        #[arg(long, default_value_t = 1_000_000)]
        people: usize,
        #[arg(long, default_value_t = 50_000_000)]
        events: u64,
        /// Python with the `duckdb` package (default: a venv in target/bench-venv,
        /// created on first use).
        #[arg(long)]
        python: Option<std::path::PathBuf>,
        /// Keep the generated data folder here instead of a temporary one.
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
    },
    /// Live membership with 50 segments: one event inside the engine (p50, p99),
    /// HTTP ingest → webhook on loopback (p99), sustained events/s.
    Live {
        #[arg(long, default_value_t = 1_000_000)]
        people: usize,
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        /// Keep the generated data folder here instead of a temporary one.
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
        /// Events applied inside the engine.
        #[arg(long, default_value_t = 20_000)]
        samples: usize,
        /// Events sent one at a time for the end-to-end latency.
        #[arg(long, default_value_t = 2_000)]
        pings: usize,
        /// Events sent for the sustained rate.
        #[arg(long, default_value_t = 1_000_000)]
        sustained: u64,
    },
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest {
            events,
            batch,
            connections,
        } => ingest(events, batch, connections),
        BenchCommand::Import { events } => import(events),
        BenchCommand::Segments {
            people,
            events,
            python,
            keep,
        } => crate::bench_segments::run(people, events, python, keep),
        BenchCommand::Live {
            people,
            events,
            keep,
            samples,
            pings,
            sustained,
        } => crate::bench_live::run(people, events, keep, samples, pings, sustained),
    }
}

/// Whether a target was met; a debug build's figures say nothing about it.
pub(crate) fn verdict(met: bool) -> &'static str {
    match (cfg!(debug_assertions), met) {
        (true, _) => "not judged (debug build: use --release)",
        (false, true) => "met",
        (false, false) => "NOT met",
    }
}

pub(crate) fn rate(n: f64) -> String {
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Generated events as NDJSON lines: enough people that every person has a
/// realistic number of events.
fn lines(events: u64) -> Vec<String> {
    let spec = DemoSpec {
        people: (events / 20).max(100) as usize,
        days: 120,
        max_events: Some(events),
        ..DemoSpec::default()
    };
    let mut out = Vec::with_capacity(events as usize);
    generate(&spec, |l| out.push(l.to_owned()));
    out
}

/// Fills `data` with the generated demo store (default seed, 120 days) unless
/// it already holds events; a child `seglab demo` does it, so the caller's
/// process starts cold.
pub(crate) fn ensure_demo_data(data: &Path, people: usize, events: u64) -> anyhow::Result<()> {
    if Reader::open(data)
        .and_then(|r| r.event_count())
        .unwrap_or(0)
        > 0
    {
        return Ok(());
    }
    println!(
        "generating and importing {} people, up to {} events…",
        rate(people as f64),
        rate(events as f64)
    );
    let t = Instant::now();
    let status = Command::new(std::env::current_exe()?)
        .arg("--data")
        .arg(data)
        .args(["--log", "warn", "demo", "--days", "120"])
        .args(["--people", &people.to_string()])
        .args(["--max-events", &events.to_string()])
        .args(["--seed", &DemoSpec::default().seed.to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("seglab demo failed");
    }
    println!("  done in {:.0} s", t.elapsed().as_secs_f64());
    Ok(())
}

fn baseline(dir: &Path, rows: usize, row_bytes: usize) -> anyhow::Result<f64> {
    Ok(seglab_store::bench::raw_append(
        &dir.join("baseline"),
        rows,
        row_bytes,
        1_000,
        Durability::Full,
    )?)
}

pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
    pub(crate) key: String,
}

impl Server {
    pub(crate) fn start(data: &Path) -> anyhow::Result<Server> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--admin-token",
                "bench",
                "--log",
                "warn",
                "--data",
            ])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting seglab serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut url = None;
        let mut key = None;
        for line in BufReader::new(stdout).lines() {
            let line = line?;
            if let Some(rest) = line.split("listening on ").nth(1) {
                url = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.trim().strip_prefix("write key") {
                key = Some(rest.trim().to_owned());
            }
            if url.is_some() && key.is_some() {
                break;
            }
        }
        match (url, key) {
            (Some(url), Some(key)) => Ok(Server { child, url, key }),
            _ => {
                let _ = child.kill();
                bail!("seglab serve did not print its address and write key")
            }
        }
    }

    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        bail!("seglab serve did not stop within 60 s of SIGTERM")
    }
}

fn ingest(events: u64, batch: usize, connections: usize) -> anyhow::Result<()> {
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
    let server = Server::start(&data)?;
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

fn import(events: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("events.ndjson");
    println!("generating {} events…", rate(events as f64));
    let t = Instant::now();
    let spec = DemoSpec {
        people: (events / 20).max(100) as usize,
        days: 120,
        max_events: Some(events),
        ..DemoSpec::default()
    };
    let n = crate::demo_cmd::write(&spec, &file)?;
    let bytes = std::fs::metadata(&file)?.len();
    println!(
        "  wrote {} events ({} MB) in {:.1} s",
        rate(n as f64),
        bytes / 1_000_000,
        t.elapsed().as_secs_f64()
    );
    let base = baseline(
        dir.path(),
        1_000_000.min(n as usize),
        (bytes / n.max(1)) as usize,
    )?;

    let data = dir.path().join("data");
    let store = Store::open(&data, Durability::Normal)?;
    let started = Instant::now();
    let summary = crate::import::import_files(&store, &[file], true)?;
    let secs = started.elapsed().as_secs_f64();
    let stored = store.reader().event_count()?;
    drop(store);
    let ours = summary.accepted as f64 / secs;
    println!();
    println!(
        "import: {} events, {} MB of NDJSON",
        rate(n as f64),
        bytes / 1_000_000
    );
    println!(
        "  baseline  bare SQLite append, synchronous=FULL, 1000-row transactions: {:>10} rows/s",
        rate(base)
    );
    println!(
        "  seglab    seglab import (parse, validate, dedup, identity, store):   {:>10} events/s  ({secs:.1} s)",
        rate(ours)
    );
    println!("  ratio     {:.2} × baseline", ours / base);
    println!(
        "  stored    {stored} of {n} ({} rejected)",
        summary.rejected
    );
    println!(
        "  target    ≥ 300,000 events/s: {}",
        verdict(ours >= 300_000.0)
    );
    if stored != n {
        bail!("{stored} events stored of {n}");
    }
    Ok(())
}

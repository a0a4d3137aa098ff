//! `seglab bench …`: end-to-end benchmarks. Each prints its own figure, the
//! baseline measured in the same run, and the ratio between them.
//!
//! One module per benchmark ([`ingest`], [`import`], [`segments`], [`live`],
//! [`insights`], [`campaigns`], [`clickhouse`]),
//! over what they share (`common`: figures, verdicts, the baseline, the
//! generated data; `server`: `seglab serve` in a child process). The binary
//! parses [`BenchCommand`] and calls [`run`] with what only it has: its
//! executable and its import.

use std::path::{Path, PathBuf};

use seglab_store::Store;

pub mod campaigns;
pub mod clickhouse;
mod common;
pub mod import;
pub mod ingest;
pub mod insights;
pub mod live;
pub mod retention;
pub mod segments;
mod server;
pub mod soak;

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
        #[command(flatten)]
        store: StoreArgs,
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
    /// The overlap matrix of 50 segments from the member bitmaps, against
    /// merging sorted member lists (target < 1 s).
    Insights {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// A retention pass on a copy of a generated store while events keep
    /// arriving: the appends' p99 during the pass against just before it,
    /// and the engine dropping the expired events against a reload.
    Retention {
        #[command(flatten)]
        store: StoreArgs,
        /// Days of events kept (the pass deletes the older ones).
        #[arg(long, default_value_t = 20)]
        keep_days: u32,
        /// Events appended per second meanwhile.
        #[arg(long, default_value_t = 20_000.0)]
        rate: f64,
        /// Seconds of appends before the pass (the baseline).
        #[arg(long, default_value_t = 10)]
        baseline: u64,
    },
    /// A long run at half the measured capacity with 50 live segments and a
    /// webhook on every change: resident memory over time beside the
    /// engine's data, p99 latencies per minute, and whether memory stays flat
    /// once data stops growing.
    Soak {
        #[command(flatten)]
        store: StoreArgs,
        /// How long the load runs (`10m`, `2h`, …).
        #[arg(long, default_value = "10m")]
        duration: String,
        /// How long the run goes on idle after the load.
        #[arg(long, default_value = "1m")]
        idle: String,
        /// Seconds between two readings of the server's memory.
        #[arg(long, default_value_t = 5)]
        sample: u64,
        /// Events per second (default: half the capacity measured first).
        #[arg(long)]
        rate: Option<f64>,
        /// Events sent to measure the capacity.
        #[arg(long, default_value_t = 300_000)]
        calibrate: u64,
    },
    /// The 50 segments of `bench live` on the native engine and as SQL on
    /// ClickHouse (one server, a 2-shard cluster, chDB), on the same data:
    /// load rows/s, query times against the engine's, equal member sets.
    /// Servers: `eval "$(bash tests/clickhouse/start.sh)"`.
    Clickhouse {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        clickhouse: clickhouse::ClickhouseArgs,
    },
    /// Acting on segments with `seglab serve` and a real SMTP server on
    /// loopback: an email broadcast in messages/s against raw lettre sends
    /// (target ≥ 2,000/s), and on-site decisions with 50 campaigns, p99
    /// against the HTTP floor (target < 5 ms). Run from the repository
    /// (it starts tests/smtp/sink.py).
    Campaigns {
        #[command(flatten)]
        store: StoreArgs,
        /// People the broadcast goes to.
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        /// On-site decisions timed.
        #[arg(long, default_value_t = 5_000)]
        decisions: usize,
        /// Python with aiosmtpd (default: $SEGLAB_SMTP_PYTHON, else
        /// tests/smtp/.venv/bin/python, made by tests/smtp/setup.sh).
        #[arg(long)]
        python: Option<std::path::PathBuf>,
    },
}

/// The generated store of `bench live`, `bench insights` and `bench
/// campaigns` (the demo's people with 50 segments).
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub people: usize,
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Days of generated history (fewer days: fewer events per person, so
    /// that a million people fit in fewer events).
    #[arg(long, default_value_t = common::DEMO_DAYS)]
    pub days: u32,
    /// Keep the generated data folder here instead of a temporary one, and
    /// reuse it (the benchmarks that take this can share one).
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
}

/// What the benchmarks take from the `seglab` binary that runs them.
pub struct Seglab {
    /// The `seglab` executable: `seglab serve` and `seglab demo` run as child
    /// processes of it (the binary passes `std::env::current_exe()`).
    pub exe: PathBuf,
    /// `seglab import` of one file into a store, with its progress bar; the
    /// import benchmark measures it in this process.
    pub import: Import,
}

/// Imports one file into a store, as `seglab import` does.
pub type Import = fn(&Store, &Path) -> anyhow::Result<Imported>;

/// What an import did, as far as the import benchmark reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub accepted: u64,
    pub rejected: u64,
}

/// Runs one benchmark; an error when its figures show something wrong (events
/// lost, members that differ from DuckDB's, webhooks missing).
pub fn run(cmd: BenchCommand, seglab: &Seglab) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest {
            events,
            batch,
            connections,
        } => ingest::run(&seglab.exe, events, batch, connections),
        BenchCommand::Import { events } => import::run(seglab.import, events),
        BenchCommand::Segments {
            people,
            events,
            python,
            keep,
        } => segments::run(&seglab.exe, people, events, python, keep),
        BenchCommand::Live {
            store,
            samples,
            pings,
            sustained,
        } => live::run(&seglab.exe, store, samples, pings, sustained),
        BenchCommand::Insights { store } => insights::run(&seglab.exe, store),
        BenchCommand::Clickhouse { store, clickhouse } => {
            clickhouse::run(&seglab.exe, store, clickhouse)
        }
        BenchCommand::Retention {
            store,
            keep_days,
            rate,
            baseline,
        } => retention::run(
            &seglab.exe,
            store,
            keep_days,
            rate,
            std::time::Duration::from_secs(baseline),
        ),
        BenchCommand::Soak {
            store,
            duration,
            idle,
            sample,
            rate,
            calibrate,
        } => {
            let duration_of = |text: &str| -> anyhow::Result<std::time::Duration> {
                let d: seglab_lang::ast::Duration = text.parse()?;
                Ok(std::time::Duration::from_millis(d.millis() as u64))
            };
            soak::run(
                &seglab.exe,
                store,
                soak::SoakArgs {
                    duration: duration_of(&duration)?,
                    idle: duration_of(&idle)?,
                    sample: std::time::Duration::from_secs(sample.max(1)),
                    rate,
                    calibrate,
                },
            )
        }
        BenchCommand::Campaigns {
            store,
            messages,
            decisions,
            python,
        } => campaigns::run(
            &seglab.exe,
            campaigns::Options {
                store,
                messages,
                decisions,
                python,
            },
        ),
    }
}

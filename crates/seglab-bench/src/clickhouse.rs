//! `seglab bench clickhouse`: the 50 segments of `bench live` on the native
//! engine and, on the same data in the same run, as the SQL of
//! `seglab-clickhouse` on ClickHouse: one server, a 2-shard cluster, and
//! chDB (a current ClickHouse) when its shim runs. Every backend must give
//! exactly the engine's members for every segment.
//!
//! The rows (events, trait snapshots; the store has no model outputs) are
//! read once with the engine's own loader, so each lands on its person's
//! root after identity merges, encoded once, and sent to each backend in
//! `INSERT … FORMAT RowBinary` batches; the tables are then merged
//! (`OPTIMIZE … FINAL`, as background merges would leave them) before the
//! queries. The native engine evaluates all segments in one pass; ClickHouse
//! runs one query per segment.

mod spool;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use seglab_clickhouse::{Client, Schema, Topology, compile};
use seglab_event::time::now_millis;
use seglab_lang::ast::Condition;

use crate::StoreArgs;
use crate::common::rate;
use crate::live::FiftyStore;
use spool::Spool;

/// Where the ClickHouse servers are (as `tests/clickhouse/start.sh` prints
/// them), and how the benchmark loads and queries them.
#[derive(Debug, Clone, clap::Args)]
pub struct ClickhouseArgs {
    /// HTTP address of one ClickHouse server.
    #[arg(long, env = "SEGLAB_CLICKHOUSE_SINGLE")]
    pub single: Option<String>,
    /// HTTP addresses of every node of a cluster, comma-separated; inserts
    /// and queries go to the first, through its `Distributed` table.
    #[arg(long, env = "SEGLAB_CLICKHOUSE_CLUSTER")]
    pub cluster: Option<String>,
    /// The cluster's name in the servers' `remote_servers`.
    #[arg(long, default_value = "seglab")]
    pub cluster_name: String,
    /// HTTP address of the chDB shim (`tests/clickhouse/chdb_shim.py`);
    /// `--chdb ''` skips it.
    #[arg(long, env = "SEGLAB_CLICKHOUSE_CHDB")]
    pub chdb: Option<String>,
    /// The database created (anew) on every backend, and dropped at the end.
    #[arg(long, default_value = "seglab_bench")]
    pub database: String,
    /// Rows per `INSERT`.
    #[arg(long, default_value_t = 100_000)]
    pub batch: usize,
    /// `INSERT`s in flight at once, per backend.
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
    /// Runs of every evaluation, native and SQL; the median is reported.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Leave the database on the backends after the run.
    #[arg(long)]
    pub keep_tables: bool,
}

/// One way to run ClickHouse.
struct Backend {
    name: &'static str,
    /// Queries and inserts go to the first node; the DDL runs on every one.
    nodes: Vec<Client>,
    topology: Topology,
}

impl Backend {
    fn from_args(args: &ClickhouseArgs) -> Vec<Backend> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut out = Vec::new();
        let mut add = |name, urls: Option<String>, topology, var| match urls {
            Some(urls) => out.push(Backend {
                name,
                nodes: urls.split(',').map(|u| Client::new(u.trim())).collect(),
                topology,
            }),
            None => println!(
                "{name}: skipped ({var} is not set; eval \"$(bash tests/clickhouse/start.sh)\", or --{name})"
            ),
        };
        add(
            "single",
            given(&args.single),
            Topology::Single,
            "SEGLAB_CLICKHOUSE_SINGLE",
        );
        add(
            "cluster",
            given(&args.cluster),
            Topology::Cluster {
                name: args.cluster_name.clone(),
            },
            "SEGLAB_CLICKHOUSE_CLUSTER",
        );
        add(
            "chdb",
            given(&args.chdb),
            Topology::Single,
            "SEGLAB_CLICKHOUSE_CHDB",
        );
        out
    }

    fn entry(&self) -> &Client {
        &self.nodes[0]
    }

    /// What to call it in the table.
    fn label(&self) -> String {
        match (&self.topology, self.nodes.len()) {
            (Topology::Cluster { .. }, n) => format!("{n} shards"),
            _ => self.name.to_owned(),
        }
    }

    /// The server's version (`SELECT version()`).
    async fn version(&self) -> anyhow::Result<String> {
        Ok(self
            .entry()
            .execute("SELECT version()")
            .await?
            .trim()
            .to_owned())
    }

    /// A fresh database with the schema, on every node.
    async fn create(&self, schema: &Schema) -> anyhow::Result<()> {
        for node in &self.nodes {
            node.execute(&schema.drop()).await?;
            for stmt in schema.ddl(&self.topology) {
                node.execute(&stmt)
                    .await
                    .with_context(|| format!("{} at {}: {stmt}", self.name, node.url()))?;
            }
        }
        Ok(())
    }

    async fn drop(&self, schema: &Schema) -> anyhow::Result<()> {
        for node in &self.nodes {
            node.execute(&schema.drop()).await?;
        }
        Ok(())
    }

    /// Sends every chunk of the spool, `parallel` at a time. A cluster's
    /// `Distributed` table forwards each batch to its shards before answering.
    async fn load(
        &self,
        schema: &Schema,
        spool: &Arc<Spool>,
        parallel: usize,
    ) -> anyhow::Result<Duration> {
        let client = match self.topology {
            Topology::Single => self.entry().clone(),
            Topology::Cluster { .. } => self.entry().with_setting("insert_distributed_sync", "1"),
        };
        let table = schema.table();
        let next = Arc::new(AtomicUsize::new(0));
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..parallel.max(1) {
            let (client, table, next, spool) =
                (client.clone(), table.clone(), next.clone(), spool.clone());
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = spool.chunks.get(i) else {
                        return anyhow::Ok(());
                    };
                    let bytes = spool.read(chunk)?;
                    client.insert_row_binary(&table, bytes).await?;
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(t.elapsed())
    }

    /// Merges each node's parts into one (`OPTIMIZE … FINAL`), so the
    /// queries' `FINAL` reads what background merges would leave. A part
    /// already being merged in the background makes `OPTIMIZE` a no-op: it is
    /// asked again until one active part is left (or a minute has passed).
    async fn optimize(&self, schema: &Schema) -> anyhow::Result<Duration> {
        let table = match self.topology {
            Topology::Single => "events",
            Topology::Cluster { .. } => "events_local",
        };
        let db = schema.database();
        let parts = format!(
            "SELECT count() FROM system.parts WHERE database = '{db}' AND table = '{table}' AND active"
        );
        let t = Instant::now();
        for node in &self.nodes {
            loop {
                node.execute(&format!("OPTIMIZE TABLE `{db}`.`{table}` FINAL"))
                    .await?;
                let left: u64 = node.execute(&parts).await?.trim().parse().unwrap_or(0);
                if left <= 1 || t.elapsed() > Duration::from_secs(60) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Ok(t.elapsed())
    }
}

/// The median of `runs` timings of `f` and its last result.
async fn timed<T, F: Future<Output = T>>(runs: usize, mut f: impl FnMut() -> F) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        last = Some(f().await);
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], last.expect("at least one run"))
}

/// One segment on one backend.
enum Outcome {
    /// Time of the query, and whether its members equal the engine's.
    Done {
        time: Duration,
        equal: bool,
        count: usize,
    },
    Failed(String),
}

/// What one backend did.
struct Measured {
    backend: Backend,
    version: String,
    load: Duration,
    optimize: Duration,
    /// In the order of the segments.
    outcomes: Vec<Outcome>,
}

impl Measured {
    fn total(&self) -> Duration {
        self.outcomes
            .iter()
            .map(|o| match o {
                Outcome::Done { time, .. } => *time,
                Outcome::Failed(_) => Duration::ZERO,
            })
            .sum()
    }

    fn problems(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| !matches!(o, Outcome::Done { equal: true, .. }))
            .count()
    }
}

/// Runs the benchmark on the store `store` describes, generated by a `seglab
/// demo` child of `exe`, against the backends `args` names.
/// With `SEGLAB_REQUIRE_CLICKHOUSE=1` (as `scripts/test.sh` sets), a missing
/// or silent backend is an error instead of being skipped.
pub fn run(exe: &Path, store: StoreArgs, args: ClickhouseArgs) -> anyhow::Result<()> {
    let required = std::env::var("SEGLAB_REQUIRE_CLICKHOUSE").is_ok_and(|v| v == "1");
    let backends = Backend::from_args(&args);
    if required && backends.len() < 3 {
        bail!("SEGLAB_REQUIRE_CLICKHOUSE=1 and a ClickHouse backend is missing");
    }
    let fifty = FiftyStore::open(exe, &store)?;
    let segments = &fifty.segments;
    let merged_ids = fifty.reader.person_roots()?.len();
    println!(
        "loaded {} people, {} events and the 50 segments into the engine in {:.1} s",
        rate(segments.people() as f64),
        rate(segments.events() as f64),
        fifty.loaded_in.as_secs_f64()
    );
    let now = now_millis();

    // Native: every segment in one pass, then each one's members, sorted.
    let definitions: BTreeMap<String, Condition> =
        segments.with_engine(|e| e.definitions().clone());
    let mut native_times = Vec::new();
    let mut bitmaps = Vec::new();
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        bitmaps = segments.with_engine(|e| e.evaluate_defined(now))?;
        native_times.push(t.elapsed());
    }
    native_times.sort();
    let native_time = native_times[native_times.len() / 2];
    let native: Vec<(String, Vec<i64>)> = segments.with_engine(|e| {
        bitmaps
            .iter()
            .map(|(name, b)| {
                let mut m = e.members(b, 0, usize::MAX);
                m.sort_unstable();
                (name.clone(), m)
            })
            .collect()
    });
    drop(bitmaps);

    if backends.is_empty() {
        println!(
            "native engine: {} segments in one pass in {:.1} ms; no ClickHouse backend to compare with",
            native.len(),
            native_time.as_secs_f64() * 1e3
        );
        return Ok(());
    }

    // The rows, encoded once.
    println!("reading the store into ClickHouse rows (identity merges resolved)…");
    let t = Instant::now();
    let spool = Arc::new(Spool::write(&fifty.reader, args.batch)?);
    let encoded = t.elapsed();

    let schema = Schema::new(&args.database);
    let queries = native
        .iter()
        .map(|(name, _)| {
            let condition = definitions.get(name).context("a defined segment")?;
            Ok(compile(condition, &definitions, &schema)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut measured = Vec::new();
    for backend in backends {
        if !rt.block_on(backend.entry().ping()) {
            if required {
                bail!("{}: no answer at {}", backend.name, backend.entry().url());
            }
            println!(
                "{}: skipped (no answer at {})",
                backend.name,
                backend.entry().url()
            );
            continue;
        }
        let m = rt.block_on(async {
            let version = backend.version().await?;
            println!(
                "{} (ClickHouse {version}): loading {} rows…",
                backend.label(),
                rate(spool.counts.rows() as f64)
            );
            backend.create(&schema).await?;
            let load = backend.load(&schema, &spool, args.parallel).await?;
            let optimize = backend.optimize(&schema).await?;
            println!("  evaluating {} segments, one query each…", queries.len());
            let mut outcomes = Vec::new();
            for (q, (name, want)) in queries.iter().zip(&native) {
                let (time, got) = timed(args.runs, || backend.entry().members(q, now)).await;
                outcomes.push(match got {
                    Ok(got) => Outcome::Done {
                        time,
                        equal: &got == want,
                        count: got.len(),
                    },
                    Err(e) => Outcome::Failed(format!("{name}: {e}")),
                });
            }
            if !args.keep_tables {
                backend.drop(&schema).await?;
            }
            anyhow::Ok(Measured {
                backend,
                version,
                load,
                optimize,
                outcomes,
            })
        })?;
        measured.push(m);
    }

    report(
        &fifty,
        merged_ids,
        &spool,
        encoded,
        native_time,
        &native,
        &measured,
    );
    let problems: usize = measured.iter().map(Measured::problems).sum();
    for m in &measured {
        for o in &m.outcomes {
            if let Outcome::Failed(e) = o {
                eprintln!("{}: {e}", m.backend.label());
            }
        }
    }
    if problems > 0 {
        bail!("{problems} segment results differ from the native engine's or failed");
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(
    fifty: &FiftyStore,
    merged_ids: usize,
    spool: &Spool,
    encoded: Duration,
    native_time: Duration,
    native: &[(String, Vec<i64>)],
    measured: &[Measured],
) {
    let segments = &fifty.segments;
    let c = spool.counts;
    println!();
    println!(
        "clickhouse: {} segments over {} people, {} events",
        native.len(),
        rate(segments.people() as f64),
        rate(segments.events() as f64)
    );
    println!(
        "  identity: every row written on its person's root, as the engine loads them \
         (the SQL does not model merges); {} persons merged into another in this store",
        rate(merged_ids as f64)
    );
    println!(
        "  rows: {} ({} events, {} trait snapshots, {} model outputs), {:.0} MB RowBinary, read and encoded in {:.1} s",
        rate(c.rows() as f64),
        rate(c.events as f64),
        rate(c.traits as f64),
        rate(c.predictions as f64),
        spool.bytes as f64 / 1e6,
        encoded.as_secs_f64()
    );
    for m in measured {
        println!(
            "  load {:<9} ClickHouse {:<10} {:>7.1} s, {:>10} rows/s; merged (OPTIMIZE FINAL) in {:.1} s",
            m.backend.label(),
            m.version,
            m.load.as_secs_f64(),
            rate(c.rows() as f64 / m.load.as_secs_f64().max(1e-9)),
            m.optimize.as_secs_f64()
        );
    }
    println!();
    let mut head = format!("  {:<22} {:>9}", "segment", "members");
    for m in measured {
        head.push_str(&format!(" {:>12}", format!("{} ms", m.backend.label())));
    }
    println!("{head}");
    for (i, (name, members)) in native.iter().enumerate() {
        let mut line = format!("  {name:<22} {:>9}", members.len());
        for m in measured {
            line.push_str(&match &m.outcomes[i] {
                Outcome::Done {
                    time, equal: true, ..
                } => format!(" {:>12.1}", ms(*time)),
                Outcome::Done { time, count, .. } => {
                    format!(" {:>12.1} DIFFERS ({count} members)", ms(*time))
                }
                Outcome::Failed(_) => format!(" {:>12}", "FAILED"),
            });
        }
        println!("{line}");
    }
    println!();
    println!(
        "  native    all {} segments in one pass:      {:>10.1} ms",
        native.len(),
        ms(native_time)
    );
    for m in measured {
        println!(
            "  {:<9} one query per segment, total:    {:>10.1} ms  ({:.1}× the native time)",
            m.backend.label(),
            ms(m.total()),
            m.total().as_secs_f64() / native_time.as_secs_f64().max(1e-9)
        );
    }
    let single = measured.iter().find(|m| m.backend.name == "single");
    let cluster = measured.iter().find(|m| m.backend.name == "cluster");
    if let (Some(s), Some(cl)) = (single, cluster) {
        println!(
            "  {} against one server: {:.2}× the query time, {:.2}× the load time",
            cl.backend.label(),
            cl.total().as_secs_f64() / s.total().as_secs_f64().max(1e-9),
            cl.load.as_secs_f64() / s.load.as_secs_f64().max(1e-9)
        );
    }
    for m in measured {
        let p = m.problems();
        println!(
            "  {:<9} members equal to the native engine's: {} of {} segments{}",
            m.backend.label(),
            native.len() - p,
            native.len(),
            if p == 0 { " (exact sets)" } else { "" }
        );
    }
}

//! Serving from ClickHouse (ADR 0018): `seglab serve --warehouse URL`.
//!
//! A thread of its own follows the store's log and writes it to the
//! warehouse ([`export`]: events, trait snapshots and identity merges, in
//! batches, its cursor in a file beside the store), and every `every`
//! evaluates every saved segment there ([`schedule`]) and hands the members
//! to the live state, which records entries and exits like native ones
//! (history, webhooks and campaigns follow `live.db`). The live state runs
//! in [`seglab_live::Mode::Warehouse`] meanwhile: it records only what the
//! schedule hands it. People deleted from the store and events its
//! retention passes deleted are deleted from the warehouse too ([`erase`]),
//! and left out of evaluations before their deletion there has finished.
//!
//! A warehouse that cannot be reached stops nothing: ingestion goes on, the
//! thread retries with a backoff (1 s doubling to 8 s) and catches up from
//! its cursor.

pub mod erase;
pub mod export;
pub mod schedule;
mod target;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use seglab_event::time::now_millis;
use seglab_live::Runner;
use seglab_segments::Segments;
use seglab_store::{Health, Store};

pub use export::Cursor;
pub use seglab_clickhouse::Topology;
pub use target::{DEFAULT_DATABASE, DEFAULT_PORT, Target};

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A warehouse address that cannot be used.
    #[error("warehouse address {url:?}: {why}")]
    Url { url: String, why: String },
    #[error(transparent)]
    ClickHouse(#[from] seglab_clickhouse::ClientError),
    #[error(transparent)]
    Store(#[from] seglab_store::Error),
    #[error(transparent)]
    Live(#[from] seglab_live::Error),
    #[error("warehouse cursor: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Url { .. } => "invalid_config",
            Error::ClickHouse(_) => "warehouse_unavailable",
            Error::Store(_) | Error::Live(_) | Error::Io(_) => "storage",
        }
    }
}

/// How the warehouse is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub target: Target,
    /// How often memberships are computed there.
    pub every: Duration,
    /// The longest an event waits before it is exported (rows are sent in
    /// batches of this age or of [`export::BATCH_EVENTS`]).
    pub batch_wait: Duration,
}

impl Settings {
    pub fn new(target: Target, every: Duration) -> Settings {
        Settings {
            target,
            every,
            batch_wait: Duration::from_secs(1),
        }
    }
}

/// The export and the schedule, on their thread.
pub struct Warehouse {
    stop: Arc<AtomicBool>,
    store: Arc<Store>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Warehouse {
    /// Starts the thread: tables created (retried until the warehouse
    /// answers), then export rounds and evaluations until [`Warehouse::stop`].
    /// `runner` must be in warehouse mode.
    pub fn start(
        store: Arc<Store>,
        segments: Arc<Segments>,
        runner: Arc<Runner>,
        settings: Settings,
    ) -> std::io::Result<Warehouse> {
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            store: store.clone(),
            segments,
            runner,
            settings,
            stop: stop.clone(),
            health: Health::new("clickhouse", "exporting to the warehouse"),
        };
        let thread = std::thread::Builder::new()
            .name("seglab-warehouse".into())
            .spawn(move || worker.run())?;
        Ok(Warehouse {
            stop,
            store,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread after its current request and waits for it.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.store.commits().nudge();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the warehouse thread panicked");
        }
    }
}

impl Drop for Warehouse {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    store: Arc<Store>,
    segments: Arc<Segments>,
    runner: Arc<Runner>,
    settings: Settings,
    stop: Arc<AtomicBool>,
    health: Health,
}

impl Worker {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    fn run(self) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "the warehouse thread has no runtime");
                return;
            }
        };
        runtime.block_on(self.work());
    }

    async fn work(&self) {
        let dir = self.store.dir().to_owned();
        let target = &self.settings.target;
        let mut created = false;
        let mut cursor = None;
        let mut next_eval = Instant::now();
        let commits = self.store.commits();
        let mut seen = commits.count();
        while !self.stopped() {
            let started = Instant::now();
            let result: Result<bool, Error> = async {
                let reader = self.store.reader();
                if !created {
                    // Before anything is exported: deletions from now on
                    // are owed to the warehouse too.
                    reader.use_warehouse()?;
                    create_tables(target).await?;
                    created = true;
                }
                let cursor = match &mut cursor {
                    Some(c) => c,
                    None => cursor.insert(Cursor::load(&dir, target)?),
                };
                // Deleted people first: no evaluation after this shows them.
                erase::people(reader, target).await?;
                // Whatever was committed before `now` is read by this round
                // unless the batch fills up.
                let now = now_millis();
                let round = export::round(reader, target, &dir, cursor).await?;
                if round.full {
                    return Ok(true);
                }
                // A retention pass since the last evaluation: what it changed
                // is recorded apart (cause `retention`), then the events go.
                let passed = reader
                    .expired_before()?
                    .filter(|&c| Some(c) > cursor.expired_before);
                if let Some(cutoff) = passed {
                    let (_, expired) = schedule::evaluate_expiry(
                        &self.segments,
                        &self.runner,
                        target,
                        now,
                        cursor.expired_before,
                        cutoff,
                    )
                    .await?;
                    tracing::info!(
                        cutoff,
                        changes = expired.changes,
                        "retention pass followed in the warehouse"
                    );
                    cursor.expired_before = Some(cutoff);
                    cursor.save(&dir)?;
                    next_eval = Instant::now() + self.settings.every;
                } else if Instant::now() >= next_eval {
                    let stepped = schedule::evaluate(
                        &self.segments,
                        &self.runner,
                        target,
                        now,
                        cursor.expired_before,
                    )
                    .await?;
                    tracing::debug!(changes = stepped.changes, "warehouse memberships recorded");
                    next_eval = Instant::now() + self.settings.every;
                }
                erase::expired(target, &dir, cursor).await?;
                Ok(false)
            }
            .await;
            match result {
                Ok(true) => {
                    self.health.ok();
                    continue;
                }
                Ok(false) => self.health.ok(),
                Err(e) => {
                    if let Error::Store(_) | Error::Io(_) = e {
                        // The cursor may be ahead of its file: read it again.
                        cursor = None;
                    }
                    let backoff = self.health.failed(&e, false);
                    self.sleep(backoff);
                    continue;
                }
            }
            // Batch what arrives for a moment, then wait for a commit or the
            // next evaluation.
            let batch_left = self.settings.batch_wait.saturating_sub(started.elapsed());
            self.sleep(batch_left);
            let until_eval = next_eval.saturating_duration_since(Instant::now());
            if !until_eval.is_zero() && commits.count() == seen {
                seen = commits.wait(seen, until_eval.min(Duration::from_secs(1)));
            } else {
                seen = commits.count();
            }
        }
    }

    /// Sleeps `d`, waking early when stopped.
    fn sleep(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.stopped() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// The database and tables, on every node.
async fn create_tables(target: &Target) -> Result<(), Error> {
    let schema = target.schema();
    for client in target.clients() {
        for statement in schema.ddl(&target.topology) {
            client.execute(&statement).await?;
        }
    }
    Ok(())
}

//! The thread that keeps memberships live: the only caller of [`Live::step`]
//! in a running server. After every commit it applies the new events, merges
//! and definitions; in between it sleeps until the next timer is due. Readers
//! that must see every acknowledged event ([`Runner::catch_up`]) ask it for a
//! step and wait for it, instead of stepping themselves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use seglab_event::time::now_millis;
use seglab_segments::Segments;
use seglab_store::{Health, PersonId, Store};

use crate::rounds::Rounds;
use crate::{Cause, Change, Evaluated, Live, Mode, Result, Stepped};

/// Live memberships of a store, kept current by a thread of their own.
pub struct Runner {
    store: Arc<Store>,
    segments: Arc<Segments>,
    live: Mutex<Live>,
    feed: tokio::sync::broadcast::Sender<Arc<Change>>,
    /// Notified when a step recorded changes (the webhook deliverer waits on it).
    recorded: Arc<tokio::sync::Notify>,
    stop: AtomicBool,
    /// Steps asked for and done ([`Runner::catch_up`]), and steps that
    /// recorded changes ([`Runner::wait_recorded`]).
    rounds: Rounds,
    /// Failed steps (a full disk): logged once per run, with a backoff.
    health: Health,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// People whose events the engine dropped and whose memberships could
    /// not be recorded yet (a failed retention pass): the next pass does.
    expired_owed: Mutex<Vec<PersonId>>,
}

/// What one retention pass did (ADR 0016).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionPass {
    /// The cutoff: no event before it is left.
    pub cutoff: i64,
    /// Events deleted from the store.
    pub events: u64,
    /// People who lost events in the engine.
    pub people: usize,
    /// Membership changes recorded (cause `retention`).
    pub changes: usize,
    /// How long the pass took, in milliseconds.
    pub elapsed_ms: u64,
}

impl Runner {
    /// Opens the live state of `store` (see [`Live::open`]); nothing runs
    /// until [`Runner::start`].
    pub fn open(store: Arc<Store>, segments: Arc<Segments>) -> Result<Arc<Runner>> {
        Runner::open_in(store, segments, Mode::Native)
    }

    /// [`Runner::open`] in `mode` (see [`Live::open_in`]).
    pub fn open_in(store: Arc<Store>, segments: Arc<Segments>, mode: Mode) -> Result<Arc<Runner>> {
        let live = Live::open_in(store.dir(), &segments, store.reader(), now_millis(), mode)?;
        Ok(Arc::new(Runner {
            feed: live.feed(),
            live: Mutex::new(live),
            store,
            segments,
            recorded: Arc::new(tokio::sync::Notify::new()),
            stop: AtomicBool::new(false),
            rounds: Rounds::default(),
            health: Health::new(crate::db::LIVE_DB_FILE, "recording live memberships"),
            thread: Mutex::new(None),
            expired_owed: Mutex::new(Vec::new()),
        }))
    }

    /// Event retention: deletes the events before `cutoff` from the store
    /// (a chunk at a time between commits: ingestion and steps go on
    /// meanwhile), then, with the live thread held, drops them from the
    /// engine and records the memberships that changed (cause `retention`).
    pub fn expire(&self, cutoff: i64) -> Result<RetentionPass> {
        let started = Instant::now();
        let deleted = self.store.expire(cutoff, |_| {})?;
        let mut live = self.live();
        let now = now_millis();
        // Everything committed so far first: the re-evaluation then sees
        // the person as the store does.
        live.step(&self.segments, self.store.reader(), now)?;
        let mut owed = self.expired_owed.lock().unwrap_or_else(|e| e.into_inner());
        let dropped = self
            .segments
            .with_engine_mut(|e| e.timelines_mut().expire(cutoff));
        owed.extend(dropped);
        owed.sort_unstable();
        owed.dedup();
        owed.retain(|&p| self.segments.resolve(p) == p);
        let stepped = live.expired(&self.segments, &owed, now)?;
        let people = owed.len();
        owed.clear();
        drop((owed, live));
        if stepped.changes > 0 {
            self.recorded.notify_one();
            self.wake_followers();
        }
        metrics::counter!("seglab_events_expired_total").increment(deleted.events);
        let pass = RetentionPass {
            cutoff,
            events: deleted.events,
            people,
            changes: stepped.changes,
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        tracing::info!(
            cutoff,
            events = pass.events,
            people = pass.people,
            changes = pass.changes,
            elapsed_ms = pass.elapsed_ms,
            "retention pass done"
        );
        Ok(pass)
    }

    /// Records the members a warehouse evaluation found (see
    /// [`Live::record_members`]) and wakes whoever follows `live.db`.
    ///
    /// People deleted from the store whom the warehouse may still show are
    /// left out: an evaluation that ran before a deletion must not record
    /// them again once the deletion has removed them from `live.db` (both
    /// happen with the live state held; the store lists them before that).
    pub fn record_members(
        &self,
        evaluated: &[Evaluated],
        defined: &std::collections::BTreeSet<String>,
        now: i64,
        cause: Cause,
    ) -> Result<Stepped> {
        let started = Instant::now();
        let stepped = {
            let mut live = self.live();
            let gone: std::collections::HashSet<PersonId> = self
                .store
                .reader()
                .warehouse_erasures()?
                .into_iter()
                .collect();
            let kept: Vec<Evaluated>;
            let evaluated = if gone.is_empty() {
                evaluated
            } else {
                kept = evaluated
                    .iter()
                    .map(|e| Evaluated {
                        members: e
                            .members
                            .iter()
                            .copied()
                            .filter(|p| !gone.contains(p))
                            .collect(),
                        ..e.clone()
                    })
                    .collect();
                &kept
            };
            let stepped = live.record_members(evaluated, defined, now, cause)?;
            record_metrics(started, &stepped, 0, &live);
            stepped
        };
        if stepped.changes > 0 {
            self.recorded.notify_one();
            self.wake_followers();
        }
        Ok(stepped)
    }

    /// Starts the thread; it sleeps at most `idle` between steps.
    pub fn start(self: &Arc<Runner>, idle: Duration) -> std::io::Result<()> {
        let me = self.clone();
        let handle = std::thread::Builder::new()
            .name("seglab-live".into())
            .spawn(move || me.run(idle))?;
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        Ok(())
    }

    fn run(&self, idle: Duration) {
        let commits = self.store.commits();
        let mut seen = commits.count();
        while !self.stop.load(Ordering::Acquire) {
            let round = self.rounds.begin();
            let mut recorded = false;
            let mut backoff = None;
            let now = now_millis();
            let next = {
                let mut live = self.live();
                let started = Instant::now();
                match live.step(&self.segments, self.store.reader(), now) {
                    Ok(stepped) => {
                        self.health.ok();
                        if stepped.changes > 0 {
                            self.recorded.notify_one();
                            recorded = true;
                        }
                        let behind = match live.mode() {
                            Mode::Native => {
                                self.store.reader().last_seq().unwrap_or(0) - live.last_seq()
                            }
                            Mode::Warehouse => 0,
                        };
                        record_metrics(started, &stepped, behind, &live);
                    }
                    // Nothing was recorded and the next step reads the same
                    // changes again; a failing step (a full disk) is retried
                    // after a backoff, not at every commit.
                    Err(e) => backoff = Some(self.health.failed(&e, e.is_storage_full())),
                }
                live.next_timer()
            };
            self.rounds.finish(round, recorded);
            if let Some(backoff) = backoff {
                let until = Instant::now() + backoff;
                while !self.stop.load(Ordering::Acquire) {
                    let left = until.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    seen = commits.wait(seen, left);
                }
                continue;
            }
            let wait = next.map_or(idle.as_millis() as i64, |t| t - now_millis());
            let wait = Duration::from_millis(wait.clamp(1, idle.as_millis() as i64) as u64);
            seen = commits.wait(seen, wait);
        }
        // Whoever still waits is let go.
        self.rounds.close();
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a step that started after this call is done, so memberships
    /// include every event acknowledged before it; false when that took
    /// longer than `timeout` (what `live.db` holds is still right up to its
    /// position). Without a running thread, returns false at once.
    pub fn catch_up(&self, timeout: Duration) -> bool {
        if self
            .thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return false;
        }
        let ticket = self.rounds.request();
        self.store.commits().nudge();
        self.rounds.wait(ticket, timeout)
    }

    /// Wakes whoever waits in [`Runner::wait_recorded`], as a step that
    /// recorded changes would (a follower asked to look again).
    pub fn wake_followers(&self) {
        self.rounds.finish(0, true);
    }

    /// Steps that recorded changes so far.
    pub fn recorded_count(&self) -> u64 {
        self.rounds.recorded()
    }

    /// Waits until a step records changes after the count `seen` (see
    /// [`Runner::recorded_count`]), or `timeout` passes; returns the count
    /// then. For followers of `live.db` on threads of their own.
    pub fn wait_recorded(&self, seen: u64, timeout: Duration) -> u64 {
        self.rounds.wait_recorded(seen, timeout)
    }

    /// Runs `f` with the membership state (for reads: members, timers,
    /// position; and after subscriptions changed).
    pub fn with_live<T>(&self, f: impl FnOnce(&mut Live) -> T) -> T {
        f(&mut self.live())
    }

    /// True when the latest step could not record for want of space (it is
    /// retried; memberships stay as last recorded meanwhile).
    pub fn storage_full(&self) -> bool {
        self.health.full()
    }

    /// Changes as they are recorded.
    pub fn feed(&self) -> tokio::sync::broadcast::Sender<Arc<Change>> {
        self.feed.clone()
    }

    /// Notified whenever a step recorded changes.
    pub fn recorded(&self) -> Arc<tokio::sync::Notify> {
        self.recorded.clone()
    }

    /// The timelines and definitions the memberships follow.
    pub fn segments(&self) -> &Arc<Segments> {
        &self.segments
    }

    /// Stops the thread (after its current step), waits for it, and
    /// checkpoints the memberships.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.store.commits().nudge();
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle
            && handle.join().is_err()
        {
            tracing::error!("the live thread panicked");
        }
        if let Err(e) = self.live().checkpoint() {
            tracing::warn!(error = %e, "checkpointing memberships");
        }
    }
}

fn record_metrics(started: Instant, stepped: &Stepped, behind: i64, live: &Live) {
    metrics::histogram!("seglab_live_step_seconds").record(started.elapsed().as_secs_f64());
    metrics::counter!("seglab_live_changes_total", "kind" => "entered")
        .increment(stepped.entered as u64);
    metrics::counter!("seglab_live_changes_total", "kind" => "exited")
        .increment((stepped.changes - stepped.entered) as u64);
    metrics::gauge!("seglab_live_behind_events").set(behind.max(0) as f64);
    metrics::gauge!("seglab_live_timers").set(live.timer_count() as f64);
}

//! The single writer: one thread owns the write connection and commits everything
//! that arrived while the previous commit ran as one transaction (group commit).
//!
//! Deduplication keeps the 64-bit hash of every stored `messageId` in memory with
//! the row it belongs to (rebuilt from the log at start), so the hot path never
//! touches a random-key index: a hash hit is confirmed against that row.
//!
//! A commit that fails changes nothing: the transaction rolls back, and the
//! in-memory maps are put back from a journal of what the batch changed. When
//! it failed for want of space the writer is *full*: every batch gets
//! [`Error::StorageFull`], a batch is tried at most once a second, and while
//! nothing arrives a one-page write probes every second; the first commit
//! that succeeds ends it.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use seglab_event::Event;
use tokio::sync::oneshot;
use xxhash_rust::xxh3::xxh3_64;

use crate::fault::Health;
use crate::forget::{Deleted, Forgotten, Next};
use crate::identity::{Change, Identities};
use crate::{AppendOutcome, Error};

/// While the disk is full: the least time between two commit attempts, and
/// between two probes when no batch arrives.
pub(crate) const RETRY_FULL: Duration = Duration::from_secs(1);

/// A full rebuild of at least this many ids leaves a snapshot of the map.
const DEDUP_SNAPSHOT_MIN: usize = 100_000;

/// Most events committed in one transaction.
pub(crate) const MAX_TXN_EVENTS: usize = 20_000;

pub(crate) struct Job {
    pub events: Vec<Event>,
    pub historical: bool,
    pub reply: Option<oneshot::Sender<Result<AppendOutcome, Error>>>,
}

/// What the writer is asked to do, in order.
pub(crate) enum Work {
    Append(Job),
    /// Delete the person an id leads to (ADR 0014).
    Forget {
        id: String,
        reply: oneshot::Sender<Result<Option<Forgotten>, Error>>,
    },
    /// Lift the tombstones of an id; answers whether there were any.
    Lift {
        id: String,
        reply: oneshot::Sender<Result<bool, Error>>,
    },
    /// Delete expired events (sequence number, message id hash); with
    /// `done`, the retention pass with that cutoff is over (ADR 0016).
    Expire {
        rows: Vec<(i64, i64)>,
        done: Option<i64>,
        reply: oneshot::Sender<Result<u64, Error>>,
    },
}

/// Keys are already hashes: use them as they are.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Dedup = HashMap<u64, i64, BuildHasherDefault<IdHasher>>;

pub(crate) fn message_hash(message_id: &str) -> i64 {
    xxh3_64(message_id.as_bytes()) as i64
}

const INSERT_EVENT: &str =
    "INSERT INTO events (seq, id_hash, message_id, type, person_id, user_id, anonymous_id,
                                      event, name, ts, received_at, historical, payload)
                  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";

pub(crate) struct Writer {
    conn: Connection,
    dedup: Dedup,
    ids: Identities,
    next_seq: i64,
    pending: Arc<AtomicUsize>,
    commits: Arc<crate::Commits>,
    /// Where the deduplication map is kept between runs, and whose it is
    /// (the store's cache key, which changes with every deletion).
    dedup_path: PathBuf,
    cache_key: String,
    /// Tombstones of deleted people's ids: events carrying one are dropped.
    tombstones: HashSet<[u8; 32]>,
    salt: Vec<u8>,
    /// The data folder (asked whether it has room after an I/O error).
    dir: PathBuf,
    /// Failed commits, and whether the disk is full.
    health: Arc<Health>,
    /// When a commit was last tried while the disk was full.
    last_full_try: Option<Instant>,
    /// Committed events are freed on another thread: the writer is the serial
    /// part of ingestion and should spend its time writing.
    release: Sender<Vec<Job>>,
    /// The event retention in milliseconds (0: forever): older events are
    /// dropped on arrival.
    retention: Arc<AtomicI64>,
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        pending: Arc<AtomicUsize>,
        commits: Arc<crate::Commits>,
        dir: PathBuf,
        cache_key: String,
        health: Arc<Health>,
        retention: Arc<AtomicI64>,
    ) -> Result<Writer, Error> {
        let (release, freed) = channel::<Vec<Job>>();
        std::thread::Builder::new()
            .name("seglab-release".into())
            .spawn(move || freed.into_iter().for_each(drop))?;
        let mut w = Writer {
            conn,
            dedup: Dedup::default(),
            ids: Identities::new(1),
            next_seq: 1,
            pending,
            commits,
            dedup_path: dir.join(crate::dedup::DEDUP_FILE),
            cache_key,
            tombstones: HashSet::new(),
            salt: Vec::new(),
            dir,
            health,
            last_full_try: None,
            release,
            retention,
        };
        w.load()?;
        Ok(w)
    }

    /// Rebuilds the in-memory state from the database: the deduplication map
    /// from its snapshot plus the rows stored after it (or from every row).
    fn load(&mut self) -> Result<(), Error> {
        let started = Instant::now();
        let max_seq: i64 =
            self.conn
                .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
        let snapshot = match crate::dedup::read(&self.dedup_path, &self.cache_key) {
            Ok(Some((last, _))) if last > max_seq => {
                tracing::warn!(
                    snapshot_seq = last,
                    store_seq = max_seq,
                    "ignoring the deduplication snapshot: it is newer than the store; \
                     rebuilding it from the log"
                );
                None
            }
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    path = %self.dedup_path.display(),
                    "ignoring the deduplication snapshot; rebuilding it from the log"
                );
                None
            }
        };
        let from_snapshot = snapshot.is_some();
        let (after, pairs) = snapshot.unwrap_or((0, Vec::new()));
        let mut dedup = Dedup::with_capacity_and_hasher(
            pairs.len() + (max_seq - after).max(0) as usize + 1024,
            Default::default(),
        );
        dedup.extend(pairs);
        let mut next_seq = after + 1;
        {
            let mut stmt = self
                .conn
                .prepare("SELECT seq, id_hash FROM events WHERE seq > ?1")?;
            let mut rows = stmt.query([after])?;
            while let Some(r) = rows.next()? {
                let seq: i64 = r.get(0)?;
                dedup.insert(r.get::<_, i64>(1)? as u64, seq);
                next_seq = next_seq.max(seq + 1);
            }
        }
        let count = dedup.len();
        let mut ids = Identities::new(1);
        {
            let mut stmt = self
                .conn
                .prepare("SELECT person_id, user_id, merged_into FROM persons")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let user: Option<String> = r.get(1)?;
                ids.load_person(r.get(0)?, user.as_deref(), r.get(2)?);
            }
            let mut stmt = self.conn.prepare("SELECT id, person_id FROM identities")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                ids.load_id(r.get(0)?, r.get(1)?);
            }
        }
        // Numbers handed out before a deletion removed their rows are never
        // handed out again.
        let seq_floor = crate::forget::setting_number(&self.conn, crate::forget::SEQ_FLOOR)?;
        let person_floor = crate::forget::setting_number(&self.conn, crate::forget::PERSON_FLOOR)?;
        ids.reserve_below(person_floor + 1);
        self.tombstones = crate::forget::tombstones(&self.conn)?;
        self.salt = crate::forget::salt(&self.conn)?.unwrap_or_default();
        self.dedup = dedup;
        self.ids = ids;
        self.next_seq = next_seq.max(seq_floor + 1);
        tracing::info!(
            events = count,
            from_snapshot,
            after,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "store state loaded"
        );
        if !from_snapshot && (count >= DEDUP_SNAPSHOT_MIN || self.dedup_path.exists()) {
            // The next start (even after a crash) reads this and the rows
            // after it; and a map that did not match (from before a person
            // was deleted, or damaged) must not stay on disk.
            self.save_dedup();
        }
        Ok(())
    }

    /// Writes the deduplication map for the next start.
    fn save_dedup(&self) {
        let started = Instant::now();
        let last = self.next_seq - 1;
        match crate::dedup::write(
            &self.dedup_path,
            &self.cache_key,
            last,
            self.dedup.len(),
            self.dedup.iter(),
        ) {
            Ok(()) => tracing::info!(
                events = self.dedup.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "deduplication map saved"
            ),
            Err(e) => tracing::warn!(error = %e, "saving the deduplication map"),
        }
    }

    /// Runs until every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Work>) {
        let mut next = None;
        loop {
            let work = match next.take() {
                Some(w) => w,
                None if self.health.full() => match rx.recv_timeout(RETRY_FULL) {
                    Ok(w) => w,
                    Err(RecvTimeoutError::Timeout) => {
                        self.probe();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(w) => w,
                    Err(_) => break,
                },
            };
            let first = match work {
                Work::Append(job) => job,
                Work::Forget { id, reply } => {
                    let _ = reply.send(self.forget(&id));
                    continue;
                }
                Work::Lift { id, reply } => {
                    let _ = reply.send(self.lift(&id));
                    continue;
                }
                Work::Expire { rows, done, reply } => {
                    let _ = reply.send(self.expire(&rows, done));
                    continue;
                }
            };
            let mut size = first.events.len();
            let mut jobs = vec![first];
            while size < MAX_TXN_EVENTS {
                match rx.try_recv() {
                    Ok(Work::Append(job)) => {
                        size += job.events.len();
                        jobs.push(job);
                    }
                    // Other work waits until these appends are committed.
                    Ok(other) => {
                        next = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.append(jobs, size);
        }
        self.save_dedup();
    }

    /// Commits `jobs` (holding `size` events) and answers each.
    fn append(&mut self, mut jobs: Vec<Job>, size: usize) {
        let result = if self.full_moments_ago() {
            Err(Error::StorageFull(
                "the disk was full a moment ago".to_owned(),
            ))
        } else {
            let result = self.commit(&jobs);
            if self.health.full() || result.as_ref().is_err_and(Error::is_storage_full) {
                self.last_full_try = Some(Instant::now());
            }
            match &result {
                Ok(_) => self.health.ok(),
                Err(e) => {
                    self.health.failed(&e.detail(), e.is_storage_full());
                }
            }
            result
        };
        self.pending.fetch_sub(size, Ordering::AcqRel);
        match result {
            Ok(outcomes) => {
                self.commits.publish(self.next_seq - 1);
                for (job, outcome) in jobs.iter_mut().zip(outcomes) {
                    if let Some(reply) = job.reply.take() {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                let _ = self.release.send(jobs);
            }
            Err(e) => {
                let full = e.is_storage_full();
                for job in &mut jobs {
                    if let Some(reply) = job.reply.take() {
                        let _ = reply.send(Err(if full {
                            Error::StorageFull(e.detail())
                        } else {
                            Error::Commit(e.to_string())
                        }));
                    }
                }
            }
        }
    }

    /// Deletes the person `id` leads to (see [`crate::forget`]), then brings
    /// the memory, the deduplication map on disk and the file in line.
    fn forget(&mut self, id: &str) -> Result<Option<Forgotten>, Error> {
        let started = Instant::now();
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let next = Next {
            seq: self.next_seq,
            person: self.ids.next_person(),
        };
        let deleted = (|| {
            let tx = self.conn.transaction()?;
            let deleted = crate::forget::delete(&tx, id, next, seglab_event::time::now_millis())?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(deleted)
        })();
        let Deleted {
            mut out,
            ids,
            events,
            hashes,
        } = match deleted {
            Ok(Some(d)) => d,
            Ok(None) => return Ok(None),
            // Nothing was deleted (the transaction rolled back).
            Err(e) => return Err(self.classify(e)),
        };
        for (hash, seq) in events {
            if self.dedup.get(&hash) == Some(&seq) {
                self.dedup.remove(&hash);
            }
        }
        self.ids.forget(&ids, &out.persons);
        self.tombstones.extend(hashes);
        self.salt = crate::forget::salt(&self.conn)?.unwrap_or_default();
        self.cache_key = crate::keys::cache_key(&self.conn)?;
        // The map on disk named the deleted events: it is written again (or
        // stays absent, and the next start scans the log).
        if self.dedup_path.exists() {
            self.save_dedup();
        }
        // The rows are gone; a rebuild that fails (the disk has no room for
        // a copy of the file) leaves their bytes until the next one.
        out.erased = crate::forget::erase_deleted(&self.conn).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "seglab.db could not be rebuilt after a deletion");
            false
        });
        tracing::info!(
            person = out.person,
            persons = out.persons.len(),
            events = out.events,
            erased = out.erased,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "person deleted from the store"
        );
        Ok(Some(out))
    }

    /// Deletes expired rows (see [`crate::expire`]) and forgets their
    /// message ids.
    fn expire(&mut self, rows: &[(i64, i64)], done: Option<i64>) -> Result<u64, Error> {
        let deleted = (|| {
            let tx = self.conn.transaction()?;
            let n = crate::expire::delete(&tx, rows, done, self.next_seq)?;
            tx.commit()?;
            Ok::<_, rusqlite::Error>(n)
        })()
        .map_err(|e| self.classify(e))?;
        for &(seq, hash) in rows {
            if self.dedup.get(&(hash as u64)) == Some(&seq) {
                self.dedup.remove(&(hash as u64));
            }
        }
        Ok(deleted)
    }

    /// Lifts the tombstones of `id`.
    fn lift(&mut self, id: &str) -> Result<bool, Error> {
        let tx = self.conn.transaction()?;
        let removed = crate::forget::lift(&tx, id)?;
        tx.commit()?;
        for h in &removed {
            self.tombstones.remove(h);
        }
        Ok(!removed.is_empty())
    }

    /// True when the disk was found full less than [`RETRY_FULL`] ago: the
    /// batch is refused without trying.
    fn full_moments_ago(&self) -> bool {
        self.health.full() && self.last_full_try.is_some_and(|t| t.elapsed() < RETRY_FULL)
    }

    /// While the disk is full and nothing arrives: a one-page write (it
    /// changes no value) tells whether a commit fits again.
    fn probe(&mut self) {
        let result = self
            .conn
            .execute(
                "UPDATE settings SET value = value WHERE key = 'store_id'",
                [],
            )
            .map_err(|e| self.classify(e));
        self.last_full_try = Some(Instant::now());
        match result {
            Ok(_) => self.health.ok(),
            Err(e) => {
                self.health.failed(&e.detail(), e.is_storage_full());
            }
        }
    }

    /// A SQLite error as the store reports it: a full disk is
    /// [`Error::StorageFull`].
    fn classify(&self, e: rusqlite::Error) -> Error {
        if crate::fault::write_failed_for_space(&e, &self.dir) {
            Error::StorageFull(e.to_string())
        } else {
            Error::Sqlite(e)
        }
    }

    /// Writes `jobs` in one transaction; on failure nothing is kept, on disk
    /// or in memory.
    fn commit(&mut self, jobs: &[Job]) -> Result<Vec<AppendOutcome>, Error> {
        let next_seq = self.next_seq;
        let mut added = Vec::new();
        self.ids.begin();
        match self.write_jobs(jobs, &mut added) {
            Ok(outcomes) => {
                self.ids.commit();
                Ok(outcomes)
            }
            Err(e) => {
                self.next_seq = next_seq;
                for (hash, old) in added.into_iter().rev() {
                    match old {
                        Some(seq) => self.dedup.insert(hash, seq),
                        None => self.dedup.remove(&hash),
                    };
                }
                self.ids.rollback();
                Err(match e {
                    Error::Sqlite(e) => self.classify(e),
                    e => e,
                })
            }
        }
    }

    /// The transaction of [`Writer::commit`]; `added` collects each hash
    /// put in the deduplication map with the row it replaced.
    fn write_jobs(
        &mut self,
        jobs: &[Job],
        added: &mut Vec<(u64, Option<i64>)>,
    ) -> Result<Vec<AppendOutcome>, Error> {
        let tx = self.conn.transaction()?;
        let mut insert = tx.prepare_cached(INSERT_EVENT)?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        let keep = self.retention.load(Ordering::Acquire);
        let oldest = match keep {
            0 => i64::MIN,
            keep => seglab_event::time::now_millis().saturating_sub(keep),
        };
        for job in jobs {
            let mut outcome = AppendOutcome::default();
            for e in &job.events {
                if e.timestamp < oldest {
                    outcome.expired += 1;
                    continue;
                }
                let stripped;
                let e = match self.tombstones.is_empty() {
                    true => e,
                    false => match tombstoned(&self.tombstones, &self.salt, e) {
                        Tombstoned::No => e,
                        Tombstoned::Event => {
                            outcome.tombstoned += 1;
                            continue;
                        }
                        Tombstoned::AnonymousId => {
                            stripped = Event {
                                anonymous_id: None,
                                ..e.clone()
                            };
                            &stripped
                        }
                    },
                };
                let hash = message_hash(&e.message_id);
                if is_duplicate(&tx, &self.dedup, hash, &e.message_id)? {
                    outcome.duplicates += 1;
                    continue;
                }
                let (person, changes) = self.ids.resolve(e);
                apply(&tx, &changes, e.received_at)?;
                let seq = self.next_seq;
                insert.execute(params![
                    seq,
                    hash,
                    e.message_id,
                    e.kind.code(),
                    person,
                    e.user_id,
                    e.anonymous_id,
                    e.event,
                    e.name,
                    e.timestamp,
                    e.received_at,
                    job.historical,
                    e.payload,
                ])?;
                self.next_seq += 1;
                let old = self.dedup.insert(hash as u64, seq);
                added.push((hash as u64, old));
                set_traits(&tx, person, e)?;
                outcome.accepted += 1;
                outcome.last_seq = seq;
            }
            outcomes.push(outcome);
        }
        drop(insert);
        tx.commit()?;
        Ok(outcomes)
    }
}

/// What the tombstones say of an event.
enum Tombstoned {
    No,
    /// It is a deleted person's: dropped.
    Event,
    /// It is someone else's, on a deleted person's device: stored without
    /// that anonymous id (a tombstoned id is never written again).
    AnonymousId,
}

/// Whether `e` carries the id of a deleted person: its user id (or the old
/// id of an alias) drops it, and so does its anonymous id when it has no
/// user id; with one, the user's event is kept without the anonymous id.
fn tombstoned(tombstones: &HashSet<[u8; 32]>, salt: &[u8], e: &Event) -> Tombstoned {
    let hit = |id: &Option<String>| {
        id.as_deref()
            .is_some_and(|id| tombstones.contains(&crate::forget::hash(salt, id)))
    };
    if hit(&e.user_id) || hit(&e.previous_id) {
        return Tombstoned::Event;
    }
    match (e.user_id.is_some(), hit(&e.anonymous_id)) {
        (_, false) => Tombstoned::No,
        (false, true) => Tombstoned::Event,
        (true, true) => Tombstoned::AnonymousId,
    }
}

fn is_duplicate(
    tx: &Transaction<'_>,
    dedup: &Dedup,
    hash: i64,
    message_id: &str,
) -> rusqlite::Result<bool> {
    let Some(&seq) = dedup.get(&(hash as u64)) else {
        return Ok(false);
    };
    let stored: Option<String> = tx
        .prepare_cached("SELECT message_id FROM events WHERE seq = ?1")?
        .query_row([seq], |r| r.get(0))
        .optional()?;
    if stored.as_deref() == Some(message_id) {
        return Ok(true);
    }
    // A genuine 64-bit collision: look the id up the slow way.
    tx.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM events WHERE id_hash = ?1 AND message_id = ?2)",
    )?
    .query_row(params![hash, message_id], |r| r.get(0))
}

fn apply(tx: &Transaction<'_>, changes: &[Change], at: i64) -> rusqlite::Result<()> {
    for change in changes {
        match change {
            Change::NewPerson(p) => {
                tx.prepare_cached("INSERT INTO persons (person_id, created_at) VALUES (?1, ?2)")?
                    .execute(params![p, at])?;
            }
            Change::MapId(id, p) => {
                tx.prepare_cached("INSERT INTO identities (id, person_id) VALUES (?1, ?2)")?
                    .execute(params![id, p])?;
            }
            Change::SetUser(p, user) => {
                tx.prepare_cached(
                    "UPDATE persons SET user_id = ?2 WHERE person_id = ?1 AND user_id IS NULL",
                )?
                .execute(params![p, user])?;
            }
            Change::Merge { from, into } => {
                tx.prepare_cached("UPDATE persons SET merged_into = ?2 WHERE person_id = ?1")?
                    .execute(params![from, into])?;
                tx.prepare_cached(
                    "INSERT INTO merges (person_id, merged_into, at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![from, into, at])?;
                tx.prepare_cached(
                    "INSERT INTO traits (person_id, key, value, updated_at)
                     SELECT ?2, key, value, updated_at FROM traits WHERE person_id = ?1 AND true
                     ON CONFLICT (person_id, key) DO UPDATE
                        SET value = excluded.value, updated_at = excluded.updated_at
                        WHERE excluded.updated_at > traits.updated_at",
                )?
                .execute(params![from, into])?;
                tx.prepare_cached("DELETE FROM traits WHERE person_id = ?1")?
                    .execute([from])?;
            }
        }
    }
    Ok(())
}

fn set_traits(tx: &Transaction<'_>, person: i64, e: &Event) -> rusqlite::Result<()> {
    for (key, value) in &e.traits {
        tx.prepare_cached(
            "INSERT INTO traits (person_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (person_id, key) DO UPDATE
                SET value = excluded.value, updated_at = excluded.updated_at
                WHERE excluded.updated_at >= traits.updated_at",
        )?
        .execute(params![person, key, value.to_string(), e.timestamp])?;
    }
    for (key, value) in &e.traits_once {
        tx.prepare_cached(
            "INSERT INTO traits (person_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (person_id, key) DO NOTHING",
        )?
        .execute(params![person, key, value.to_string(), e.timestamp])?;
    }
    Ok(())
}

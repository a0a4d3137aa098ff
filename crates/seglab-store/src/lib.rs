//! seglab's durable store: one SQLite file in WAL mode holds events, persons and
//! their ids, traits, write keys, admin tokens and settings.
//!
//! [`Store`] is the writer: it owns the data folder (a lock file keeps a second
//! writer out), and [`Store::append`] answers only after the transaction holding
//! the events has committed, so an acknowledged event is never lost. Concurrent
//! appends share one transaction (group commit). [`Reader`] answers queries on its
//! own connections and can be opened beside a running writer.

pub mod backup;
pub mod bench;
mod dedup;
mod expire;
pub mod fault;
mod forget;
mod handles;
mod identity;
mod keys;
mod read;
mod schema;
mod segments;
mod tokens;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use seglab_event::Event;
use tokio::sync::oneshot;

pub use expire::Expired;
pub use fault::Health;
pub use forget::{Forgotten, erase_deleted};
pub use handles::Handles;
pub use identity::PersonId;
pub use keys::WriteKey;
pub use read::{PersonView, ScanRow, StoredEvent, TraitValue};
pub use schema::open_beside;
pub use segments::{SaveOutcome, SegmentRecord};
pub use tokens::{ActiveToken, AdminToken, Scope, TokenLookup, token_hash};

/// The database file inside the data folder.
pub const DB_FILE: &str = "seglab.db";
const LOCK_FILE: &str = "seglab.lock";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("another seglab process is writing to {0} (lock held on {LOCK_FILE})")]
    Locked(PathBuf),
    #[error("commit failed: {0}")]
    Commit(String),
    /// The disk (or the quota) under the data folder is full: nothing was
    /// written; the same request can be retried once there is room.
    #[error("storage full: nothing was stored; retry later ({0})")]
    StorageFull(String),
    #[error("the store is shut down")]
    Closed,
    /// A name already taken (an active admin token's).
    #[error("{0}")]
    Exists(String),
    /// A request that cannot be done as asked (a backup into a folder that is
    /// not empty, …).
    #[error("{0}")]
    Refused(String),
    /// A folder or manifest that is not a backup this seglab can restore.
    #[error("not a usable backup: {0}")]
    NotBackup(String),
    /// A file of a backup or a restored database that fails its check.
    #[error("{file} is damaged: {detail}")]
    Damaged { file: String, detail: String },
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        if self.is_storage_full() {
            return "storage_full";
        }
        match self {
            Error::StorageFull(_) => "storage_full",
            Error::Sqlite(_) | Error::Io(_) | Error::Commit(_) | Error::Damaged { .. } => "storage",
            Error::Locked(_) => "locked",
            Error::Closed => "unavailable",
            Error::Exists(_) => "exists",
            Error::Refused(_) | Error::NotBackup(_) => "invalid_request",
        }
    }

    /// True when the disk (or the quota) was full: retrying later, once
    /// there is room, can succeed.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::StorageFull(_) => true,
            Error::Sqlite(e) => fault::sqlite_full(e),
            Error::Io(e) => fault::io_full(e),
            _ => false,
        }
    }

    /// The error without the words of its variant (what a
    /// [`Error::StorageFull`] carries).
    fn detail(&self) -> String {
        match self {
            Error::StorageFull(d) => d.clone(),
            e => e.to_string(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: a committed transaction survives power loss.
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process; for bulk imports that
    /// call [`Store::sync`] before reporting success.
    Normal,
}

/// What one append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Events newly stored.
    pub accepted: usize,
    /// Events whose `messageId` was already stored (a client retry).
    pub duplicates: usize,
    /// Events dropped because they carry the id of a deleted person (ADR 0014).
    pub tombstoned: usize,
    /// Events dropped because they are older than the retention (ADR 0016).
    pub expired: usize,
    /// The sequence number of the last stored event (0 when none was stored).
    pub last_seq: i64,
}

/// The writer of a data folder.
pub struct Store {
    dir: PathBuf,
    sender: Mutex<Option<Sender<writer::Work>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    pending: Arc<AtomicUsize>,
    commits: Arc<Commits>,
    health: Arc<Health>,
    reader: Reader,
    /// The event retention in milliseconds (0: forever), shared with the writer.
    retention: Arc<std::sync::atomic::AtomicI64>,
    _lock: File,
}

fn configure(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(
        None,
        "synchronous",
        match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        },
    )?;
    conn.pragma_update(None, "busy_timeout", 10_000)?;
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    if durability == Durability::Normal {
        // Bulk loads: checkpoint (and sync) every 64 MB of WAL instead of every 4 MB.
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
    }
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the data folder `dir` for writing.
    pub fn open(dir: &Path, durability: Durability) -> Result<Store> {
        std::fs::create_dir_all(dir)?;
        // Not truncated before it is ours: the writer that holds it may have
        // written where it serves into it.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))?;
        if lock.try_lock().is_err() {
            return Err(Error::Locked(dir.to_owned()));
        }
        lock.set_len(0)?;
        let mut conn = Connection::open(dir.join(DB_FILE))?;
        configure(&conn, durability)?;
        schema::migrate(&mut conn)?;
        let pending = Arc::new(AtomicUsize::new(0));
        let commits = Arc::new(Commits::default());
        let reader = Reader::open(dir)?;
        let health = Arc::new(Health::new(DB_FILE, "ingestion"));
        let retention = Arc::new(std::sync::atomic::AtomicI64::new(
            reader.retention()?.unwrap_or(0),
        ));
        let writer = writer::Writer::new(
            conn,
            pending.clone(),
            commits.clone(),
            dir.to_owned(),
            reader.cache_key()?,
            health.clone(),
            retention.clone(),
        )?;
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("seglab-writer".into())
            .spawn(move || writer.run(rx))?;
        Ok(Store {
            dir: dir.to_owned(),
            sender: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            pending,
            commits,
            health,
            reader,
            retention,
            _lock: lock,
        })
    }

    /// The data folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Queries over this store.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The signal of committed transactions, for readers that follow the log
    /// as it grows (the live segment engine).
    pub fn commits(&self) -> Arc<Commits> {
        self.commits.clone()
    }

    /// True while the disk is full: appends fail with
    /// [`Error::StorageFull`] until a commit fits again (the writer retries
    /// by itself).
    pub fn storage_full(&self) -> bool {
        self.health.full()
    }

    /// Events handed to the writer and not yet committed.
    pub fn pending_events(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Queues `events` for the next commit; the receiver answers once they are
    /// durable (or the commit failed). `historical` marks imported history, which
    /// must never trigger a message.
    pub fn submit(
        &self,
        events: Vec<Event>,
        historical: bool,
    ) -> Result<oneshot::Receiver<Result<AppendOutcome>>> {
        let (reply, rx) = oneshot::channel();
        let n = events.len();
        let guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let sender = guard.as_ref().ok_or(Error::Closed)?;
        self.pending.fetch_add(n, Ordering::AcqRel);
        if sender
            .send(writer::Work::Append(writer::Job {
                events,
                historical,
                reply: Some(reply),
            }))
            .is_err()
        {
            self.pending.fetch_sub(n, Ordering::AcqRel);
            return Err(Error::Closed);
        }
        Ok(rx)
    }

    /// Appends and waits for the commit (async callers).
    pub async fn append(&self, events: Vec<Event>, historical: bool) -> Result<AppendOutcome> {
        self.submit(events, historical)?
            .await
            .map_err(|_| Error::Closed)?
    }

    /// Appends and waits for the commit (threads outside an async runtime).
    pub fn append_blocking(&self, events: Vec<Event>, historical: bool) -> Result<AppendOutcome> {
        self.submit(events, historical)?
            .blocking_recv()
            .map_err(|_| Error::Closed)?
    }

    /// Deletes the person `id` leads to (a user id, anonymous id or person
    /// id) and everyone merged into them from `seglab.db`, refuses their ids
    /// from now on, and erases the deleted rows from the file (ADR 0014).
    /// `None`: no person has that id. Blocks until done (appends queued
    /// before it are committed first; those queued after wait).
    ///
    /// Their rows in `live.db` and `campaigns.db` are still to be deleted by
    /// their owners: [`Reader::pending_erasures`] lists them until
    /// [`Reader::erasures_done`].
    pub fn forget(&self, id: &str) -> Result<Option<Forgotten>> {
        let (reply, rx) = oneshot::channel();
        self.work(writer::Work::Forget {
            id: id.to_owned(),
            reply,
        })?;
        rx.blocking_recv().map_err(|_| Error::Closed)?
    }

    /// Lifts the tombstones of `id` (as an id, and as an email address):
    /// its events are stored again, as a new person. False when it had none.
    pub fn lift_tombstone(&self, id: &str) -> Result<bool> {
        let (reply, rx) = oneshot::channel();
        self.work(writer::Work::Lift {
            id: id.to_owned(),
            reply,
        })?;
        rx.blocking_recv().map_err(|_| Error::Closed)?
    }

    fn work(&self, work: writer::Work) -> Result<()> {
        let guard = self.sender.lock().unwrap_or_else(|e| e.into_inner());
        let sender = guard.as_ref().ok_or(Error::Closed)?;
        sender.send(work).map_err(|_| Error::Closed)
    }

    /// Writes where this process serves the data folder (`http://…`) into
    /// the lock file, so that commands run beside it can reach it (see
    /// [`running_server`]).
    pub fn advertise(&self, url: &str) -> Result<()> {
        use std::io::{Seek, Write};
        let mut f = &self._lock;
        f.set_len(0)?;
        f.seek(std::io::SeekFrom::Start(0))?;
        f.write_all(url.as_bytes())?;
        f.flush()?;
        Ok(())
    }

    /// Makes everything committed so far durable on disk, whatever the durability
    /// mode (a full WAL checkpoint).
    pub fn sync(&self) -> Result<()> {
        self.reader.with_conn(|c| {
            c.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    /// Stops accepting appends, lets the writer finish what it holds, and waits.
    pub fn shutdown(&self) {
        drop(self.sender.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.shutdown();
        // Where a server served this folder is no longer true.
        let _ = self._lock.set_len(0);
    }
}

/// Where the process holding the data folder `dir` serves it, when one holds
/// it and said so ([`Store::advertise`]); `None` when no writer holds it.
pub fn running_server(dir: &Path) -> Option<String> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new().read(true).open(&path).ok()?;
    if file.try_lock_shared().is_ok() {
        // Nobody holds it: whatever it says is from a process that ended.
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The sequence number of the newest committed event, published after every
/// commit so a follower can wait for the log to grow instead of polling it.
#[derive(Debug, Default)]
pub struct Commits {
    last: Mutex<(i64, u64)>,
    grew: Condvar,
}

impl Commits {
    pub(crate) fn publish(&self, last_seq: i64) {
        let mut g = self.last.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = g.0.max(last_seq);
        g.1 += 1;
        drop(g);
        self.grew.notify_all();
    }

    /// Wakes whoever waits, as a commit would (a follower with other news).
    pub fn nudge(&self) {
        let mut g = self.last.lock().unwrap_or_else(|e| e.into_inner());
        g.1 += 1;
        drop(g);
        self.grew.notify_all();
    }

    /// The number of commits (and nudges) so far.
    pub fn count(&self) -> u64 {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Waits until the commit count passes `seen` or `timeout` passes; returns
    /// the count then.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let g = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = self
            .grew
            .wait_timeout_while(g, timeout, |s| s.1 <= seen)
            .unwrap_or_else(|e| e.into_inner());
        g.1
    }
}

/// Read-side access to a data folder, on a small pool of connections.
pub struct Reader {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Reader {
    /// Opens the database of the data folder `dir` for queries (and for the small
    /// administrative writes of write keys and settings). The folder must hold a
    /// seglab database.
    pub fn open(dir: &Path) -> Result<Reader> {
        let path = dir.join(DB_FILE);
        if !path.exists() {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no seglab data in {} (start `seglab serve` or `seglab import` first)",
                    dir.display()
                ),
            )));
        }
        let mut conn = Connection::open(&path)?;
        configure(&conn, Durability::Full)?;
        schema::migrate(&mut conn)?;
        Ok(Reader {
            path,
            pool: Mutex::new(vec![conn]),
        })
    }

    /// Opens the data folder, creating the database if it does not exist yet.
    pub fn create(dir: &Path) -> Result<Reader> {
        std::fs::create_dir_all(dir)?;
        let mut conn = Connection::open(dir.join(DB_FILE))?;
        configure(&conn, Durability::Full)?;
        schema::migrate(&mut conn)?;
        drop(conn);
        Reader::open(dir)
    }

    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open(&self.path)?;
                configure(&c, Durability::Full)?;
                c
            }
        };
        let out = f(&mut conn);
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
        out
    }
}

#[cfg(test)]
mod tests;

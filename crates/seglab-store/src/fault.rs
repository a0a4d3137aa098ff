//! Faults of the disk under the data folder: a full file system (or quota)
//! told apart from other failures, a probe that says when there is room
//! again, and [`Health`], the record a writing loop keeps of its failures so
//! that it logs each transition once instead of every attempt.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What [`has_room`] writes (and removes) to see whether there is room.
pub const PROBE_BYTES: usize = 1 << 20;
const PROBE_FILE: &str = ".seglab-room-probe";

/// A SQLite error that says the disk (or the quota) is full.
pub fn sqlite_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// A SQLite error that is an I/O failure of the file system.
pub fn sqlite_io(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::SystemIoFailure)
}

/// A SQLite error that says the file is damaged (or not a database).
pub fn sqlite_damaged(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    )
}

/// SQLite's structural check of a whole database file (`PRAGMA
/// quick_check`: every page and b-tree; indexes against their tables are
/// left to `integrity_check`): `Ok(Err(what))` when it found damage.
pub fn quick_check(conn: &rusqlite::Connection) -> rusqlite::Result<Result<(), String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(if problems.len() == 1 && problems[0] == "ok" {
        Ok(())
    } else {
        Err(format!("quick_check: {}", problems.join("; ")))
    })
}

/// An I/O error that says the disk (or the quota) is full.
pub fn io_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
    )
}

/// Whether a failed SQLite write in `dir` failed for want of space: SQLite
/// reports a full disk as `SQLITE_FULL`, but a few writes (growing the WAL
/// index, preallocating) report any failure as an I/O error; for those the
/// file system is asked ([`has_room`]).
pub fn write_failed_for_space(e: &rusqlite::Error, dir: &Path) -> bool {
    sqlite_full(e) || (sqlite_io(e) && matches!(has_room(dir, PROBE_BYTES), Ok(false)))
}

/// Writes a file of `bytes` in `dir` and removes it: `Ok(true)` when it fit,
/// `Ok(false)` when the file system (or the quota) is full, an error for any
/// other failure. The probe is not synced: the file system accounts for the
/// space as it is written.
pub fn has_room(dir: &Path, bytes: usize) -> std::io::Result<bool> {
    let path = dir.join(PROBE_FILE);
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        let chunk = vec![0u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            file.write_all(&chunk[..n])?;
            left -= n;
        }
        file.flush()
    })();
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(()) => Ok(true),
        Err(e) if io_full(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The longest a failing loop waits before it tries again.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How often a run of failures is logged again while it lasts.
const REMIND_EVERY: Duration = Duration::from_secs(60);

/// The health of a loop that writes to one database (the live runner, the
/// campaign worker): the first failure of a run is logged as a warning, then
/// at most once a minute while it lasts, and the recovery once; whether the
/// latest failure was a full disk is kept for `/healthz` and `/metrics`.
#[derive(Debug)]
pub struct Health {
    /// The file the loop writes (`live.db`), for the logs.
    db: &'static str,
    /// What the loop does (`recording memberships`), for the logs.
    work: &'static str,
    full: AtomicBool,
    run: Mutex<Run>,
}

#[derive(Debug, Default)]
struct Run {
    since: Option<Instant>,
    failures: u32,
    logged: Option<Instant>,
}

impl Health {
    pub fn new(db: &'static str, work: &'static str) -> Health {
        Health {
            db,
            work,
            full: AtomicBool::new(false),
            run: Mutex::new(Run::default()),
        }
    }

    fn run(&self) -> std::sync::MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a failed attempt (`full`: for want of space) and returns how
    /// long to wait before the next one (1 s, doubling up to 8 s).
    pub fn failed(&self, error: &dyn std::fmt::Display, full: bool) -> Duration {
        let was_full = self.full.swap(full, Ordering::AcqRel);
        let mut run = self.run();
        let now = Instant::now();
        let first = run.since.is_none();
        run.since.get_or_insert(now);
        run.failures = run.failures.saturating_add(1);
        let remind = run.logged.is_none_or(|t| now - t >= REMIND_EVERY);
        if first || remind || full != was_full {
            run.logged = Some(now);
            let failing_s = (now - run.since.unwrap_or(now)).as_secs();
            if full {
                tracing::error!(
                    db = self.db,
                    error = %error,
                    failures = run.failures,
                    failing_s,
                    "storage full: {} stopped until there is room",
                    self.work
                );
            } else {
                tracing::warn!(
                    db = self.db,
                    error = %error,
                    failures = run.failures,
                    failing_s,
                    "{} failed",
                    self.work
                );
            }
        }
        let shift = run.failures.saturating_sub(1).min(3);
        (Duration::from_secs(1) * (1 << shift)).min(MAX_BACKOFF)
    }

    /// Notes a successful attempt; logs the recovery after failures.
    pub fn ok(&self) {
        if self.run().since.is_none() {
            return;
        }
        let was_full = self.full.swap(false, Ordering::AcqRel);
        let run = std::mem::take(&mut *self.run());
        if let Some(since) = run.since {
            tracing::info!(
                db = self.db,
                failures = run.failures,
                failed_s = since.elapsed().as_secs(),
                after_full_disk = was_full,
                "{} resumed",
                self.work
            );
        }
    }

    /// True when the latest attempt failed for want of space.
    pub fn full(&self) -> bool {
        self.full.load(Ordering::Acquire)
    }

    /// True while attempts fail.
    pub fn failing(&self) -> bool {
        self.run().since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets() {
        let h = Health::new("test.db", "testing");
        assert!(!h.failing());
        let waits: Vec<u64> = (0..6).map(|_| h.failed(&"boom", false).as_secs()).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 8, 8]);
        assert!(h.failing() && !h.full());
        h.failed(&"no space", true);
        assert!(h.full());
        h.ok();
        assert!(!h.failing() && !h.full());
        assert_eq!(h.failed(&"again", false).as_secs(), 1);
    }

    #[test]
    fn full_errors_are_told_apart() {
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(sqlite_full(&full) && !sqlite_full(&busy));
        let dir = tempfile::tempdir().unwrap();
        assert!(write_failed_for_space(&full, dir.path()));
        assert!(!write_failed_for_space(&busy, dir.path()));
        let ioerr = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_IOERR),
            None,
        );
        // An I/O error on a disk with room is not a full disk.
        assert!(!write_failed_for_space(&ioerr, dir.path()));
        assert!(io_full(&std::io::Error::from(
            std::io::ErrorKind::StorageFull
        )));
        assert!(!io_full(&std::io::Error::from(
            std::io::ErrorKind::PermissionDenied
        )));
        assert!(has_room(dir.path(), PROBE_BYTES).unwrap());
        assert!(!dir.path().join(PROBE_FILE).exists());
    }
}

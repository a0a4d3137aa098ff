//! A damaged `live.db`: found at start (SQLite cannot open it, its
//! `quick_check` fails, or what it holds cannot be read back), set aside as
//! `live.db.corrupt-<UTC time>` (with its WAL beside it) and replaced by a new
//! file, which the state machine fills again from the event log.
//!
//! What the damaged file alone knew is lost: the history of entries and
//! exits, pending webhook deliveries. Two things are salvaged when the file
//! still answers: the webhook subscriptions (so they keep their ids and
//! secrets) and the newest change id, below which new changes are not
//! numbered (so ids never repeat for subscribers, streams and the campaign
//! ledger).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

use super::{LIVE_DB_FILE, LiveDb, set_state};
use crate::{Error, Result};

/// Where the first change of a new file may be numbered from.
pub(crate) const CHANGE_FLOOR: &str = "change_floor";

/// A damaged `live.db` that was set aside and replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// The damaged file, renamed.
    pub path: PathBuf,
    /// What was wrong with it.
    pub reason: String,
    /// Webhook subscriptions carried over to the new file.
    pub subscriptions: usize,
    /// The newest change id it held, if it could be read.
    pub last_change: Option<i64>,
}

/// Whether `e` says the file is damaged (and not that the disk is full, the
/// file locked, or written by a newer seglab).
pub(crate) fn is_damage(e: &Error) -> bool {
    match e {
        Error::Corrupt(_) => true,
        Error::Sql(e) => seglab_store::fault::sqlite_damaged(e),
        _ => false,
    }
}

impl LiveDb {
    /// Opens `live.db` in `dir` for the state machine, checking it first: a
    /// damaged file is set aside and a new one created (the caller rebuilds
    /// its state from the event log).
    pub fn open_checked(dir: &Path) -> Result<(LiveDb, Option<SetAside>)> {
        match LiveDb::open(dir).and_then(|db| db.check().map(|()| db)) {
            Ok(db) => Ok((db, None)),
            Err(e) if is_damage(&e) => {
                let (db, aside) = LiveDb::replace(dir, &e.to_string())?;
                Ok((db, Some(aside)))
            }
            Err(e) => Err(e),
        }
    }

    /// SQLite's structural check of the whole file.
    fn check(&self) -> Result<()> {
        seglab_store::fault::quick_check(&self.conn)?.map_err(Error::Corrupt)
    }

    /// Sets the damaged `live.db` of `dir` aside (nothing may hold it open)
    /// and creates a new one with what could be salvaged.
    pub(crate) fn replace(dir: &Path, reason: &str) -> Result<(LiveDb, SetAside)> {
        let path = set_aside(dir)?;
        let salvaged = salvage(&path);
        // Reading made a WAL index (and maybe an empty WAL) beside it.
        let _ = std::fs::remove_file(beside(&path, "-shm"));
        if std::fs::metadata(beside(&path, "-wal")).is_ok_and(|m| m.len() == 0) {
            let _ = std::fs::remove_file(beside(&path, "-wal"));
        }
        let db = LiveDb::open(dir)?;
        let (subscriptions, last_change) = match salvaged {
            Ok(s) => {
                let n = s.subscriptions.len();
                db.carry_over(&s)?;
                (n, Some(s.last_change))
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    path = %path.display(),
                    "nothing could be salvaged from the damaged live.db: webhook \
                     subscriptions must be added again"
                );
                (0, None)
            }
        };
        let aside = SetAside {
            path,
            reason: reason.to_owned(),
            subscriptions,
            last_change,
        };
        tracing::warn!(
            reason = %aside.reason,
            set_aside = %aside.path.display(),
            subscriptions_recovered = aside.subscriptions,
            last_change = aside.last_change,
            "live.db is damaged: it was set aside and live memberships are rebuilt \
             from the event log; their history of entries and exits before now, \
             and webhook deliveries still pending, are lost"
        );
        Ok((db, aside))
    }

    /// Writes what was salvaged into this (new) file.
    fn carry_over(&self, s: &Salvage) -> Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for sub in &s.subscriptions {
            tx.execute(
                "INSERT INTO subscriptions (id, url, secret, segments, kinds, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![sub.0, sub.1, sub.2, sub.3, sub.4, sub.5],
            )?;
        }
        set_state(&tx, CHANGE_FLOOR, s.last_change)?;
        tx.commit()?;
        Ok(())
    }

    /// Raises the number new changes are numbered after (never lowers it):
    /// for a follower that read changes of a file since replaced. True when
    /// it rose.
    pub fn raise_change_floor(&self, floor: i64) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT INTO state (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value
                WHERE excluded.value > value",
            params![CHANGE_FLOOR, floor],
        )?;
        Ok(n > 0)
    }
}

/// The damaged files set aside in `dir` (with their logs), by name: copies
/// of what `live.db` held, which deleting a person does not rewrite (they
/// are for examination, then removal).
pub fn set_aside_files(dir: &Path) -> Vec<String> {
    let prefix = format!("{LIVE_DB_FILE}.corrupt-");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    names.sort();
    names
}

/// Renames `live.db` (and its WAL) to `live.db.corrupt-<UTC time>`; the
/// shared-memory index is derived and removed.
fn set_aside(dir: &Path) -> Result<PathBuf> {
    let stamp: String = seglab_event::time::format_timestamp(seglab_event::time::now_millis())
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let mut path = dir.join(format!("{LIVE_DB_FILE}.corrupt-{stamp}Z"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{LIVE_DB_FILE}.corrupt-{stamp}Z-{n}"));
    }
    let file = dir.join(LIVE_DB_FILE);
    std::fs::rename(&file, &path)?;
    let wal = beside(&file, "-wal");
    if wal.exists() {
        std::fs::rename(&wal, beside(&path, "-wal"))?;
    }
    match std::fs::remove_file(beside(&file, "-shm")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    Ok(path)
}

/// `path` with `suffix` appended (`live.db` and `-wal`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Subscriptions as stored: id, url, secret, segments, kinds, created_at.
type SubscriptionRow = (i64, String, String, Option<String>, i64, i64);

struct Salvage {
    subscriptions: Vec<SubscriptionRow>,
    last_change: i64,
}

/// Reads what can be kept from a damaged file, without writing to it.
fn salvage(path: &Path) -> rusqlite::Result<Salvage> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let last_change =
        conn.query_row("SELECT coalesce(max(id), 0) FROM changes", [], |r| r.get(0))?;
    let mut stmt = conn.prepare(
        "SELECT id, url, secret, segments, kinds, created_at FROM subscriptions
         WHERE deleted_at IS NULL ORDER BY id",
    )?;
    let subscriptions = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Salvage {
        subscriptions,
        last_change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live.db with a subscription and a few changes, closed.
    fn recorded(dir: &Path) {
        let db = LiveDb::open(dir).unwrap();
        db.insert_subscription(
            "http://127.0.0.1:9/hook",
            "whsec_test",
            Some(&["vip".to_owned()]),
            crate::db::KIND_ENTERED,
            5,
        )
        .unwrap();
        db.conn
            .execute_batch(
                "INSERT INTO changes (id, segment, person, entered, at, cause, historical)
                 VALUES (41, 1, 7, 1, 0, 'event', 0), (42, 1, 8, 1, 0, 'event', 0);",
            )
            .unwrap();
        // Enough pages that damage in the middle hits a b-tree.
        db.conn
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                 INSERT INTO timers (person, due) SELECT i, i * 1000 FROM n;
                 PRAGMA wal_checkpoint(TRUNCATE);",
            )
            .unwrap();
    }

    fn aside_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".corrupt-"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_sound_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        recorded(dir.path());
        let (db, aside) = LiveDb::open_checked(dir.path()).unwrap();
        assert_eq!(aside, None);
        assert_eq!(db.last_change_id().unwrap(), 42);
        assert!(aside_files(dir.path()).is_empty());
    }

    #[test]
    fn garbage_over_pages_is_set_aside_and_subscriptions_are_salvaged() {
        let dir = tempfile::tempdir().unwrap();
        recorded(dir.path());
        let file = dir.path().join(LIVE_DB_FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        assert!(bytes.len() > 16 * 4096, "{}", bytes.len());
        // Garbage over pages near the end (the timers), the first pages
        // (schema, subscriptions, changes) untouched.
        let from = bytes.len() - 8 * 4096;
        for (i, b) in bytes[from..from + 4 * 4096].iter_mut().enumerate() {
            *b = (i * 131 % 251) as u8;
        }
        std::fs::write(&file, &bytes).unwrap();
        let (db, aside) = LiveDb::open_checked(dir.path()).unwrap();
        let aside = aside.expect("damage found");
        assert!(
            aside.reason.contains("quick_check") || aside.reason.contains("malformed"),
            "{}",
            aside.reason
        );
        assert_eq!((aside.subscriptions, aside.last_change), (1, Some(42)));
        assert!(aside.path.exists());
        assert_eq!(aside_files(dir.path()).len(), 1);
        let subs = db.subscriptions(true).unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].url, "http://127.0.0.1:9/hook");
        assert_eq!(db.last_change_id().unwrap(), 0);
        // New changes are numbered after the old ones.
        let mut db = db;
        let rec = db.recording().unwrap();
        let id = rec
            .change(&crate::db::NewChange {
                segment: 1,
                person: 1,
                entered: true,
                at: 0,
                cause: crate::Cause::Definition,
                event_seq: None,
                historical: false,
            })
            .unwrap();
        rec.commit(crate::db::Position {
            clock: 0,
            last_seq: 0,
            last_merge: 0,
        })
        .unwrap();
        assert_eq!(id, 43);
        // The new file is sound: opened again, it is kept.
        drop(db);
        let (_, again) = LiveDb::open_checked(dir.path()).unwrap();
        assert_eq!(again, None);
    }

    #[test]
    fn a_file_that_is_not_a_database_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        recorded(dir.path());
        let file = dir.path().join(LIVE_DB_FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[..100].fill(0x5a);
        std::fs::write(&file, &bytes).unwrap();
        let (db, aside) = LiveDb::open_checked(dir.path()).unwrap();
        let aside = aside.expect("damage found");
        assert_eq!((aside.subscriptions, aside.last_change), (0, None));
        assert!(db.subscriptions(true).unwrap().is_empty());
        assert_eq!(aside_files(dir.path()).len(), 1);
        // A second damage (the same second) gets a name of its own.
        drop(db);
        std::fs::write(&file, [0x5au8; 8192]).unwrap();
        let (_, aside) = LiveDb::open_checked(dir.path()).unwrap();
        assert!(aside.is_some());
        assert_eq!(aside_files(dir.path()).len(), 2);
    }

    #[test]
    fn the_floor_only_rises() {
        let dir = tempfile::tempdir().unwrap();
        let db = LiveDb::open(dir.path()).unwrap();
        assert!(db.raise_change_floor(10).unwrap());
        assert!(!db.raise_change_floor(5).unwrap());
        assert!(!db.raise_change_floor(10).unwrap());
        assert_eq!(db.get_state(CHANGE_FLOOR).unwrap(), Some(10));
    }

    #[test]
    fn damage_is_told_apart_from_other_failures() {
        let corrupt = Error::Sql(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        ));
        let full = Error::Sql(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        ));
        assert!(is_damage(&corrupt));
        assert!(is_damage(&Error::Corrupt("bad bitmap".into())));
        assert!(!is_damage(&full));
        assert!(!is_damage(&Error::Invalid("x".into())));
    }
}

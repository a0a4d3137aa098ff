//! Backups of a data folder while it is in use, and their restore (ADR 0012).
//!
//! A backup is a folder: a copy of each database made with SQLite's online
//! backup API, and [`MANIFEST_FILE`] (what was copied, from which store, with
//! each file's size and xxh3-128 checksum), written last: a folder without it
//! is an unfinished backup and [`restore`] refuses it.
//!
//! The databases are separate files that refer to each other: `live.db`
//! records the last event sequence and identity merge it applied, and
//! `campaigns.db` the last `live.db` change its triggers read. A follower
//! whose position is ahead of what it follows would wait for numbers that
//! are handed out again to other rows, and skip them; one that is behind
//! catches up at start, as after any restart. So each file must be copied as
//! of an instant no later than the files it refers to. [`backup`] takes the
//! files in that order (each before those it refers to, the store last),
//! opens a read transaction on every one of them first, in order, which pins
//! each file's snapshot a moment after the one before, and only then
//! copies the pinned snapshots page by page. Writers go on meanwhile (WAL:
//! a reader blocks neither writers nor commits, and a snapshot that is held
//! is never restarted by them); each WAL can only grow until its copy is
//! done.
//!
//! Caches (`timelines.snapshot`, `dedup.snapshot`) are not copied: a restored
//! folder rebuilds them from the databases at its first start.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::Xxh3Default;

use crate::{DB_FILE, Error, Result};

/// The manifest inside a backup folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The manifest format this seglab writes and reads.
const FORMAT: u32 = 1;
/// Pages copied per step of the backup API (4 MB with 4 KB pages).
const PAGES_PER_STEP: i32 = 1024;
/// How long a step may find the destination busy before the backup fails.
const BUSY_LIMIT: Duration = Duration::from_secs(30);

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The manifest format (1).
    pub format: u32,
    /// The version of seglab that made the backup.
    pub seglab_version: String,
    /// The id of the store copied (`settings.store_id`).
    pub store_id: String,
    /// When the snapshots were taken (ISO-8601).
    pub created_at: String,
    /// The sequence number of the newest event in the copied store.
    pub last_seq: i64,
    /// The files, in the order they were copied (the store last).
    pub files: Vec<BackupFile>,
}

/// One file of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupFile {
    /// The file name, the same in the data folder and in the backup.
    pub name: String,
    pub bytes: u64,
    /// The xxh3-128 checksum of the file, 32 hex digits.
    pub xxh3_128: String,
}

/// Told how a long copy or check goes (a progress bar; `()` ignores it).
pub trait Progress {
    /// `step` ("copy", "verify", "check") of `file` begins, `bytes` in all.
    fn start(&mut self, _step: &str, _file: &str, _bytes: u64) {}
    /// `done` bytes of the current file so far.
    fn advance(&mut self, _done: u64) {}
    /// The current file is done.
    fn finish(&mut self) {}
}

impl Progress for () {}

/// Copies the store of the data folder `data` and the databases `beside` it
/// (those that exist) into `dest`, a new or empty folder, and writes the
/// manifest. `beside` lists each file before the files it refers to; the
/// store, which refers to none, is copied last. Works whether or not a
/// server is writing to `data`.
pub fn backup(
    data: &Path,
    beside: &[&str],
    dest: &Path,
    seglab_version: &str,
    progress: &mut dyn Progress,
) -> Result<Manifest> {
    if !data.join(DB_FILE).is_file() {
        return Err(Error::Refused(format!(
            "no seglab data in {} (nothing to back up)",
            data.display()
        )));
    }
    let mut names: Vec<&str> = beside
        .iter()
        .copied()
        .filter(|n| *n != DB_FILE && data.join(n).is_file())
        .collect();
    names.push(DB_FILE);
    let sources = names
        .iter()
        .map(|n| open_existing(&data.join(n)))
        .collect::<Result<Vec<_>>>()?;
    let created = claim_empty(dest, "backup destination", "back up into a new folder")?;
    fs::create_dir_all(dest)?;
    let result = (|| -> Result<Manifest> {
        // Pin every snapshot, the referring files first.
        for conn in &sources {
            conn.execute_batch("BEGIN")?;
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))?;
        }
        let created_at = seglab_event::time::format_timestamp(seglab_event::time::now_millis());
        let store = sources.last().expect("the store is always copied");
        let store_id: String = store
            .query_row(
                "SELECT value FROM settings WHERE key = 'store_id'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default();
        let last_seq: i64 =
            store.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
        let mut files = Vec::with_capacity(names.len());
        for (name, src) in names.iter().zip(&sources) {
            copy_database(src, &dest.join(name), name, progress)?;
            // Let its WAL be checkpointed again.
            src.execute_batch("COMMIT")?;
            files.push(describe(dest, name)?);
        }
        let manifest = Manifest {
            format: FORMAT,
            seglab_version: seglab_version.to_owned(),
            store_id,
            created_at,
            last_seq,
            files,
        };
        write_manifest(dest, &manifest)?;
        Ok(manifest)
    })();
    if result.is_err() {
        let mut written: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        written.push(format!("{MANIFEST_FILE}.tmp"));
        remove_written(dest, &written, created);
    }
    result
}

/// Reads the manifest of the backup folder `src`.
pub fn read_manifest(src: &Path) -> Result<Manifest> {
    let path = src.join(MANIFEST_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(Error::NotBackup(format!(
                "{} has no {MANIFEST_FILE} (not a backup made by `seglab backup`, or an unfinished one)",
                src.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let manifest: Manifest = serde_json::from_str(&text)
        .map_err(|e| Error::NotBackup(format!("{}: {e}", path.display())))?;
    if manifest.format != FORMAT {
        return Err(Error::NotBackup(format!(
            "{}: format {} (this seglab reads format {FORMAT})",
            path.display(),
            manifest.format
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for f in &manifest.files {
        let plain = Path::new(&f.name)
            .file_name()
            .is_some_and(|n| *n == *f.name);
        if !plain || f.name == MANIFEST_FILE || !seen.insert(f.name.as_str()) {
            return Err(Error::NotBackup(format!(
                "{}: {:?} is not a file name it can hold",
                path.display(),
                f.name
            )));
        }
    }
    if !seen.contains(DB_FILE) {
        return Err(Error::NotBackup(format!(
            "{}: lists no {DB_FILE}",
            path.display()
        )));
    }
    Ok(manifest)
}

/// Checks every file of the backup `src` against its manifest: present, of
/// the recorded size and checksum. The first that differs is named.
pub fn verify(src: &Path, progress: &mut dyn Progress) -> Result<Manifest> {
    let manifest = read_manifest(src)?;
    for f in &manifest.files {
        let path = src.join(&f.name);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(damaged(f, "it is missing from the backup"));
            }
            Err(e) => return Err(e.into()),
        };
        progress.start("verify", &f.name, f.bytes);
        let (bytes, sum) = checksum(file, None, progress)?;
        progress.finish();
        expect_same(f, bytes, &sum)?;
    }
    Ok(manifest)
}

/// Restores the backup `src` into the data folder `data`, which must be new
/// or empty: checks every file against the manifest before anything is
/// written, copies them (checking the copies too), and runs SQLite's
/// integrity check on each database. On failure, what it wrote is removed.
pub fn restore(src: &Path, data: &Path, progress: &mut dyn Progress) -> Result<Manifest> {
    let created = claim_empty(data, "data folder", "restore into a new or empty folder")?;
    let manifest = verify(src, progress)?;
    fs::create_dir_all(data)?;
    let result = (|| -> Result<()> {
        for f in &manifest.files {
            progress.start("copy", &f.name, f.bytes);
            let from = File::open(src.join(&f.name))?;
            let mut to = File::create_new(data.join(&f.name))?;
            let (bytes, sum) = checksum(from, Some(&mut to), progress)?;
            to.sync_all()?;
            progress.finish();
            expect_same(f, bytes, &sum)?;
        }
        sync_dir(data)?;
        for f in &manifest.files {
            progress.start("check", &f.name, f.bytes);
            integrity_check(&data.join(&f.name), &f.name)?;
            progress.finish();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let names: Vec<String> = manifest.files.iter().map(|f| f.name.clone()).collect();
        remove_written(data, &names, created);
        return Err(e);
    }
    Ok(manifest)
}

/// Runs `PRAGMA integrity_check` on the database at `path`; a problem is a
/// [`Error::Damaged`] naming `name`.
pub fn integrity_check(path: &Path, name: &str) -> Result<()> {
    let problem = |detail: String| Error::Damaged {
        file: name.to_owned(),
        detail,
    };
    let conn = open_existing(path).map_err(|e| problem(e.to_string()))?;
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(|e| problem(e.to_string()))?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| problem(e.to_string()))?;
    if rows != ["ok"] {
        let mut detail = rows.iter().take(5).cloned().collect::<Vec<_>>().join("; ");
        if rows.len() > 5 {
            detail.push_str(&format!("; and {} more", rows.len() - 5));
        }
        return Err(problem(format!("integrity check: {detail}")));
    }
    Ok(())
}

/// Opens a database that must exist (never creates one).
fn open_existing(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "busy_timeout", 10_000)?;
    Ok(conn)
}

/// Copies `src` (in a read transaction already) into a new database at
/// `dest` with the online backup API, a step at a time.
fn copy_database(
    src: &Connection,
    dest: &Path,
    name: &str,
    progress: &mut dyn Progress,
) -> Result<()> {
    let page_size: u64 = src.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let pages: u64 = src.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    progress.start("copy", name, pages * page_size);
    let mut to = Connection::open_with_flags(
        dest,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    {
        let backup = Backup::new(src, &mut to)?;
        let mut busy_since = None;
        loop {
            let step = backup.step(PAGES_PER_STEP)?;
            let p = backup.progress();
            let done = (p.pagecount - p.remaining).max(0) as u64;
            progress.advance(done * page_size);
            match step {
                StepResult::Done => break,
                StepResult::More => busy_since = None,
                _ => {
                    let since = *busy_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > BUSY_LIMIT {
                        return Err(Error::Refused(format!(
                            "{} stayed busy for {}s",
                            dest.display(),
                            BUSY_LIMIT.as_secs()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
    to.close().map_err(|(_, e)| e)?;
    File::open(dest)?.sync_all()?;
    progress.finish();
    Ok(())
}

/// The manifest entry of the copy `dir/name`.
fn describe(dir: &Path, name: &str) -> Result<BackupFile> {
    let file = File::open(dir.join(name))?;
    let (bytes, sum) = checksum(file, None, &mut ())?;
    Ok(BackupFile {
        name: name.to_owned(),
        bytes,
        xxh3_128: sum,
    })
}

/// Reads `from` to its end (writing it to `to`, if any): its length and its
/// xxh3-128 checksum in hex.
fn checksum(
    mut from: File,
    mut to: Option<&mut File>,
    progress: &mut dyn Progress,
) -> Result<(u64, String)> {
    let mut hasher = Xxh3Default::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        hasher.update(&buf[..n]);
        if let Some(to) = to.as_deref_mut() {
            to.write_all(&buf[..n])?;
        }
        bytes += n as u64;
        progress.advance(bytes);
    }
    Ok((bytes, format!("{:032x}", hasher.digest128())))
}

fn damaged(f: &BackupFile, detail: &str) -> Error {
    Error::Damaged {
        file: f.name.clone(),
        detail: detail.to_owned(),
    }
}

fn expect_same(f: &BackupFile, bytes: u64, sum: &str) -> Result<()> {
    if bytes != f.bytes {
        return Err(damaged(
            f,
            &format!("it is {bytes} bytes, the manifest says {}", f.bytes),
        ));
    }
    if sum != f.xxh3_128 {
        return Err(damaged(
            f,
            &format!(
                "its xxh3-128 checksum is {sum}, the manifest says {}",
                f.xxh3_128
            ),
        ));
    }
    Ok(())
}

/// Refuses `dir` unless it is missing or an empty folder; returns whether it
/// is missing (so whoever creates it may remove it again).
fn claim_empty(dir: &Path, what: &str, hint: &str) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(Error::Refused(format!(
                    "{what} {} is not empty ({hint})",
                    dir.display()
                )));
            }
            Ok(false)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotADirectory => Err(Error::Refused(format!(
            "{what} {} is not a folder ({hint})",
            dir.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
    let mut file = File::create_new(&tmp)?;
    let mut text = serde_json::to_string_pretty(manifest).expect("a manifest serializes");
    text.push('\n');
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(MANIFEST_FILE))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Removes what a failed backup or restore wrote (and the folder, if it made
/// it); best effort, the error that stopped it matters more.
fn remove_written(dir: &Path, names: &[String], created: bool) {
    for name in names {
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let _ = fs::remove_file(dir.join(format!("{name}{suffix}")));
        }
    }
    if created {
        let _ = fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_with_anything_in_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(claim_empty(&dir.path().join("new"), "x", "y").unwrap());
        assert!(!claim_empty(dir.path(), "x", "y").unwrap());
        fs::write(dir.path().join("f"), b"").unwrap();
        let e = claim_empty(dir.path(), "backup destination", "hint").unwrap_err();
        assert!(e.to_string().contains("is not empty (hint)"), "{e}");
        let e = claim_empty(&dir.path().join("f"), "x", "y").unwrap_err();
        assert!(e.to_string().contains("is not a folder"), "{e}");
    }

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use crate::{Durability, Store};

    fn batch(from: usize, n: usize) -> Vec<seglab_event::Event> {
        let msgs: Vec<_> = (from..from + n)
            .map(|i| {
                serde_json::json!({"type": "track", "userId": format!("u{}", i % 97),
                    "event": "Product Viewed", "messageId": format!("m{i}"),
                    "properties": {"pad": "x".repeat(300)}})
            })
            .collect();
        let body = serde_json::json!({ "batch": msgs }).to_string();
        seglab_event::wire::segment_spec::parse(
            body.as_bytes(),
            seglab_event::wire::segment_spec::Endpoint::Batch,
            1_767_225_600_000,
        )
        .unwrap()
        .events
    }

    #[derive(Default)]
    struct Steps(Vec<(String, String, u64)>);

    impl Progress for Steps {
        fn start(&mut self, step: &str, file: &str, _bytes: u64) {
            self.0.push((step.to_owned(), file.to_owned(), 0));
        }
        fn advance(&mut self, _done: u64) {
            self.0.last_mut().unwrap().2 += 1;
        }
    }

    /// A follower beside the store (as `live.db` is) records the store's last
    /// sequence after each commit; a backup taken while both are written, in
    /// many steps, never has the follower ahead of the store copied with it.
    #[test]
    fn a_backup_during_commits_never_has_a_follower_ahead_of_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Arc::new(Store::open(&data, Durability::Normal).unwrap());
        for b in 0..16 {
            store
                .append_blocking(batch(b * 1_000, 1_000), false)
                .unwrap();
        }
        let follower = crate::open_beside(
            &data.join("follower.db"),
            &["CREATE TABLE position (id INTEGER PRIMARY KEY, last_seq INTEGER NOT NULL);"],
        )
        .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut next = 16_000;
                while !stop.load(Ordering::Acquire) {
                    let out = store.append_blocking(batch(next, 50), false).unwrap();
                    next += 50;
                    follower
                        .execute(
                            "INSERT OR REPLACE INTO position (id, last_seq) VALUES (1, ?1)",
                            [out.last_seq],
                        )
                        .unwrap();
                }
                next
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let dest = dir.path().join("backup");
        let mut steps = Steps::default();
        let manifest = backup(&data, &["follower.db"], &dest, "test", &mut steps).unwrap();
        stop.store(true, Ordering::Release);
        let written = writer.join().unwrap();
        assert!(written > 16_000, "the writer wrote during the backup");

        let names: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["follower.db", DB_FILE]);
        let copies: Vec<&(String, String, u64)> =
            steps.0.iter().filter(|(s, _, _)| s == "copy").collect();
        assert_eq!(copies[1].1, DB_FILE);
        assert!(
            copies[1].2 >= 2,
            "the store was copied in steps: {copies:?}"
        );

        let verified = verify(&dest, &mut ()).unwrap();
        assert_eq!(verified, manifest);
        let restored = dir.path().join("restored");
        restore(&dest, &restored, &mut ()).unwrap();
        let db = Connection::open(restored.join(DB_FILE)).unwrap();
        let last: i64 = db
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(last, manifest.last_seq);
        let f = Connection::open(restored.join("follower.db")).unwrap();
        let position: i64 = f
            .query_row("SELECT coalesce(max(last_seq), 0) FROM position", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(
            position <= last,
            "the follower is at {position}, the store copied with it ends at {last}"
        );
        let id = store.reader().store_id().unwrap();
        assert_eq!(manifest.store_id, id);
    }

    #[test]
    fn the_integrity_check_names_a_damaged_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT i, printf('row %d', i) FROM n;",
        )
        .unwrap();
        let page_size: usize = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        drop(conn);
        integrity_check(&path, "x.db").unwrap();
        // Page 2 is the table's root: make its header say it is no b-tree page.
        let mut bytes = fs::read(&path).unwrap();
        bytes[page_size] = 0x55;
        fs::write(&path, &bytes).unwrap();
        let e = integrity_check(&path, "x.db").unwrap_err();
        assert!(
            matches!(&e, Error::Damaged { file, .. } if file == "x.db"),
            "{e}"
        );
        assert!(e.to_string().starts_with("x.db is damaged: "), "{e}");
    }

    #[test]
    fn a_manifest_naming_a_path_or_no_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |files: &str| {
            fs::write(
                dir.path().join(MANIFEST_FILE),
                format!(
                    r#"{{"format": 1, "seglab_version": "0", "store_id": "s",
                        "created_at": "t", "last_seq": 0, "files": {files}}}"#
                ),
            )
            .unwrap();
            read_manifest(dir.path())
        };
        let file = |name: &str| format!(r#"{{"name": "{name}", "bytes": 0, "xxh3_128": "0"}}"#);
        assert!(write(&format!("[{}]", file(DB_FILE))).is_ok());
        for bad in [
            format!("[{}, {}]", file(DB_FILE), file("../live.db")),
            format!("[{}, {}]", file(DB_FILE), file(DB_FILE)),
            format!("[{}]", file("live.db")),
        ] {
            let e = write(&bad).unwrap_err();
            assert!(matches!(e, Error::NotBackup(_)), "{bad}: {e}");
        }
        let e = read_manifest(&dir.path().join("nowhere")).unwrap_err();
        assert!(e.to_string().contains("has no manifest.json"), "{e}");
    }
}

//! `live.db`: memberships, their history, timers, subscriptions and the webhook
//! outbox, in a SQLite file of its own beside the event log (so membership
//! writes never wait for the event writer's lock, nor it for them).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::Result;

/// The database file inside the data folder.
pub const LIVE_DB_FILE: &str = "live.db";

const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE state (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    -- The definition each segment's memberships were computed with.
    CREATE TABLE segments (
        id      INTEGER PRIMARY KEY,
        name    TEXT    NOT NULL UNIQUE,
        version INTEGER NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE memberships (
        segment INTEGER NOT NULL,
        person  INTEGER NOT NULL,
        since   INTEGER NOT NULL,
        PRIMARY KEY (segment, person)
    ) WITHOUT ROWID;
    -- Every entry and exit, in the order applied.
    CREATE TABLE changes (
        id         INTEGER PRIMARY KEY,
        segment    INTEGER NOT NULL,
        person     INTEGER NOT NULL,
        entered    INTEGER NOT NULL,
        at         INTEGER NOT NULL,
        cause      TEXT    NOT NULL,
        event_seq  INTEGER,
        historical INTEGER NOT NULL
    );
    CREATE INDEX changes_segment_at ON changes (segment, at);
    -- Member bitmaps as of change `state.checkpoint` (later changes are replayed).
    CREATE TABLE checkpoints (
        segment INTEGER PRIMARY KEY,
        members BLOB NOT NULL
    );
    CREATE INDEX changes_person ON changes (person, id);
    -- The next instant each person's answers can change without new events.
    CREATE TABLE timers (
        person INTEGER PRIMARY KEY,
        due    INTEGER NOT NULL
    );
    CREATE TABLE subscriptions (
        id         INTEGER PRIMARY KEY,
        url        TEXT    NOT NULL,
        secret     TEXT    NOT NULL,
        segments   TEXT,
        kinds      INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        deleted_at INTEGER
    );
    -- The outbox: one row per change and subscription, written with the change.
    CREATE TABLE deliveries (
        id           INTEGER PRIMARY KEY,
        subscription INTEGER NOT NULL,
        change       INTEGER NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_at      INTEGER NOT NULL,
        last_error   TEXT,
        done_at      INTEGER,
        failed       INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX deliveries_due ON deliveries (next_at) WHERE done_at IS NULL;
",
    "
    -- Each subscription's worker looks up only its own deliveries still owed.
    DROP INDEX deliveries_due;
    CREATE INDEX deliveries_owed ON deliveries (subscription, next_at)
        WHERE done_at IS NULL AND failed = 0;
",
    "
    -- The body of the first attempt, so that retries send the same bytes.
    ALTER TABLE deliveries ADD COLUMN body TEXT;
",
];

/// Opens (creating and migrating) `live.db` in `dir`.
pub fn open(dir: &Path) -> Result<Connection> {
    std::fs::create_dir_all(dir)?;
    let mut conn = Connection::open(dir.join(LIVE_DB_FILE))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "busy_timeout", 10_000)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(crate::Error::Schema(version));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(conn)
}

pub(crate) fn get_state(conn: &Connection, key: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row("SELECT value FROM state WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

pub(crate) fn set_state(tx: &Transaction<'_>, key: &str, value: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// Which changes a subscription receives.
pub const KIND_ENTERED: i64 = 1;
/// See [`KIND_ENTERED`].
pub const KIND_EXITED: i64 = 2;

/// A webhook subscription.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subscription {
    pub id: i64,
    pub url: String,
    /// The segments it follows (`None`: every segment).
    pub segments: Option<Vec<String>>,
    /// Whether entries are sent.
    pub entered: bool,
    /// Whether exits are sent.
    pub exited: bool,
    pub created_at: i64,
    /// The signing secret (shown when created, then only its presence).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

pub(crate) fn subscriptions(conn: &Connection, with_secret: bool) -> Result<Vec<Subscription>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, url, secret, segments, kinds, created_at FROM subscriptions
         WHERE deleted_at IS NULL ORDER BY id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            let segments: Option<String> = r.get(3)?;
            let kinds: i64 = r.get(4)?;
            Ok(Subscription {
                id: r.get(0)?,
                url: r.get(1)?,
                secret: with_secret.then(|| r.get(2)).transpose()?,
                segments: segments.and_then(|s| serde_json::from_str(&s).ok()),
                entered: kinds & KIND_ENTERED != 0,
                exited: kinds & KIND_EXITED != 0,
                created_at: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

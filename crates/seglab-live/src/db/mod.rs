//! `live.db`: memberships, their history, timers, subscriptions and the webhook
//! outbox, in a SQLite file of its own beside the event log (so membership
//! writes never wait for the event writer's lock, nor it for them).
//!
//! Every SQL statement of live membership is in this module and its children,
//! behind the typed handle [`LiveDb`]: `state` holds what the state machine
//! loads and records, `history` the questions about the past, `webhooks` the
//! subscriptions and the outbox, `forget` deleting a person's rows.

mod forget;
mod history;
mod repair;
mod state;
mod webhooks;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

pub use forget::Forgotten;
pub use history::{ChangeFilter, Day, Entries};
pub(crate) use repair::is_damage;
pub use repair::{SetAside, set_aside_files};
pub(crate) use state::{NewChange, Position};
pub(crate) use webhooks::{Attempt, KIND_ENTERED, KIND_EXITED};
pub use webhooks::{DeliveryStats, Subscription};

use crate::{Cause, Result};

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

/// An open `live.db`: one connection, migrated when opened.
pub struct LiveDb {
    conn: Connection,
}

impl LiveDb {
    /// Opens (creating and migrating) `live.db` in `dir`.
    pub fn open(dir: &Path) -> Result<LiveDb> {
        std::fs::create_dir_all(dir)?;
        let conn = seglab_store::open_beside(&dir.join(LIVE_DB_FILE), MIGRATIONS)?;
        Ok(LiveDb { conn })
    }

    /// Commits without an fsync each (for bookkeeping that may be redone after
    /// a power cut, like delivery marks).
    pub(crate) fn relaxed(self) -> Result<LiveDb> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(self)
    }

    fn get_state(&self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

fn set_state(tx: &Transaction<'_>, key: &str, value: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO state (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

/// A cause as stored; an unknown one is an error, never a guess.
fn cause(text: &str) -> rusqlite::Result<Cause> {
    text.parse().map_err(|e: crate::UnknownCause| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Handles on `live.db` beside the live engine (history queries and
/// subscriptions of the API, the CLI), opened and migrated once, then reused.
pub struct Pool(seglab_store::Handles<LiveDb>);

impl Pool {
    /// Opens (and migrates) the file in `dir` once.
    pub fn open(dir: &Path) -> Result<Pool> {
        Ok(Pool(seglab_store::Handles::new(dir, LiveDb::open(dir)?)))
    }

    /// Runs `f` with a handle of its own.
    pub fn with<T>(&self, f: impl FnOnce(&LiveDb) -> Result<T>) -> Result<T> {
        self.0.with(LiveDb::open, |db| f(db))
    }
}

//! `campaigns.db`: campaign definitions and their versions, the policy, the
//! send ledger, coupons and suppressions, in a SQLite file of its own beside
//! the event log and `live.db` (ADR 0007).
//!
//! Every SQL statement of campaigns is in this module and its children, behind
//! the typed handle [`CampaignDb`]: `definitions` (campaigns, versions, the
//! policy), `ledger` (sends: the exactly-once record of every decision),
//! `offers` (coupons and suppressions), `forget` (deleting a person's rows).

mod definitions;
mod forget;
mod ledger;
mod offers;

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

pub use definitions::{Applied, StoredCampaign};
pub use forget::Forgotten;
pub(crate) use ledger::Decided;
pub use ledger::{DueRow, LedgerFilter, NewSend, SendRow, Status};
pub use offers::{Coupon, Suppression};

use crate::{Error, Result};

/// The database file inside the data folder.
pub const CAMPAIGNS_DB_FILE: &str = "campaigns.db";

const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE state (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE secrets (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    -- The current definition of each campaign (deleted ones keep their row).
    CREATE TABLE campaigns (
        name       TEXT PRIMARY KEY,
        version    INTEGER NOT NULL,
        def        TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        updated_at INTEGER NOT NULL,
        deleted    INTEGER NOT NULL DEFAULT 0,
        -- Webhook channel: the signing secret.
        secret     TEXT    NOT NULL,
        -- Schedule trigger: the next instant to send at (NULL: none left).
        next_run   INTEGER
    );
    CREATE TABLE campaign_versions (
        name       TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        def        TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (name, version)
    );
    CREATE TABLE policy_versions (
        version    INTEGER PRIMARY KEY,
        def        TEXT    NOT NULL,
        source     TEXT    NOT NULL,
        created_at INTEGER NOT NULL
    );
    -- The send ledger: one row per (campaign, person, trigger instance),
    -- written with the decision, before anything is dispatched.
    CREATE TABLE sends (
        id          INTEGER PRIMARY KEY,
        campaign    TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        person      INTEGER NOT NULL,
        instance    TEXT    NOT NULL,
        channel     TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        due_at      INTEGER NOT NULL,
        decided_at  INTEGER,
        rule        TEXT,
        explanation TEXT,
        variant     TEXT,
        step        TEXT,
        address     TEXT,
        subject     TEXT,
        html        TEXT,
        body_text   TEXT,
        coupon      TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        next_at     INTEGER,
        last_error  TEXT,
        sent_at     INTEGER,
        UNIQUE (campaign, person, instance)
    );
    CREATE INDEX sends_due ON sends (due_at) WHERE status IN ('scheduled', 'deferred');
    CREATE INDEX sends_owed ON sends (next_at) WHERE status = 'owed';
    CREATE INDEX sends_person ON sends (person, decided_at);
    CREATE TABLE coupons (
        code         TEXT PRIMARY KEY,
        campaign     TEXT    NOT NULL,
        person       INTEGER,
        send         INTEGER,
        issued_at    INTEGER,
        expires_at   INTEGER,
        redeemed_at  INTEGER,
        redeemed_seq INTEGER
    );
    CREATE INDEX coupons_free ON coupons (campaign, code) WHERE person IS NULL;
    CREATE INDEX coupons_person ON coupons (campaign, person);
    -- Who must not be sent to: unsubscribed (per channel), bounced, or listed.
    CREATE TABLE suppressions (
        person  INTEGER NOT NULL,
        channel TEXT    NOT NULL,
        reason  TEXT    NOT NULL,
        at      INTEGER NOT NULL,
        PRIMARY KEY (person, channel)
    ) WITHOUT ROWID;
",
    "
    -- One row per reason (a bounce and an unsubscribe can both hold), and
    -- the address a bounce was for: a new address is not suppressed.
    CREATE TABLE suppressions_by_reason (
        person  INTEGER NOT NULL,
        channel TEXT    NOT NULL,
        reason  TEXT    NOT NULL,
        at      INTEGER NOT NULL,
        address TEXT,
        PRIMARY KEY (person, channel, reason)
    ) WITHOUT ROWID;
    INSERT INTO suppressions_by_reason (person, channel, reason, at)
        SELECT person, channel, reason, at FROM suppressions;
    DROP TABLE suppressions;
    ALTER TABLE suppressions_by_reason RENAME TO suppressions;
",
    "
    -- Whether the send's `Experiment Viewed` event is in the store.
    ALTER TABLE sends ADD COLUMN exposed INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX sends_unexposed ON sends (id) WHERE exposed = 0 AND variant IS NOT NULL;
",
    "
    -- Deleting a person deletes their sends: the number of a deleted send is
    -- never handed out again (it names the message to receivers, signs its
    -- tracking links and keys its exposure event).
    CREATE TABLE sends_numbered (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        campaign    TEXT    NOT NULL,
        version     INTEGER NOT NULL,
        person      INTEGER NOT NULL,
        instance    TEXT    NOT NULL,
        channel     TEXT    NOT NULL,
        status      TEXT    NOT NULL,
        created_at  INTEGER NOT NULL,
        due_at      INTEGER NOT NULL,
        decided_at  INTEGER,
        rule        TEXT,
        explanation TEXT,
        variant     TEXT,
        step        TEXT,
        address     TEXT,
        subject     TEXT,
        html        TEXT,
        body_text   TEXT,
        coupon      TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        next_at     INTEGER,
        last_error  TEXT,
        sent_at     INTEGER,
        exposed     INTEGER NOT NULL DEFAULT 0,
        UNIQUE (campaign, person, instance)
    );
    INSERT INTO sends_numbered
        SELECT id, campaign, version, person, instance, channel, status, created_at, due_at,
               decided_at, rule, explanation, variant, step, address, subject, html,
               body_text, coupon, attempts, next_at, last_error, sent_at, exposed
        FROM sends ORDER BY id;
    DROP TABLE sends;
    ALTER TABLE sends_numbered RENAME TO sends;
    CREATE INDEX sends_due ON sends (due_at) WHERE status IN ('scheduled', 'deferred');
    CREATE INDEX sends_owed ON sends (next_at) WHERE status = 'owed';
    CREATE INDEX sends_person ON sends (person, decided_at);
    CREATE INDEX sends_unexposed ON sends (id) WHERE exposed = 0 AND variant IS NOT NULL;
",
];

/// What to do about a damaged `campaigns.db`.
fn damaged(dir: &Path, what: &str) -> Error {
    Error::Corrupt(format!(
        "{} ({what}); seglab does not start without its send ledger, coupons \
         and suppressions: restore the data folder from a backup (seglab restore), or \
         move the file aside to start without campaigns (every campaign, sent message \
         and unsubscribe it recorded is then forgotten)",
        dir.join(CAMPAIGNS_DB_FILE).display()
    ))
}

/// An open `campaigns.db`: one connection, migrated when opened.
pub struct CampaignDb {
    conn: Connection,
}

impl CampaignDb {
    /// Opens (creating and migrating) `campaigns.db` in `dir`.
    pub fn open(dir: &Path) -> Result<CampaignDb> {
        std::fs::create_dir_all(dir)?;
        let conn = seglab_store::open_beside(&dir.join(CAMPAIGNS_DB_FILE), MIGRATIONS)?;
        Ok(CampaignDb { conn })
    }

    /// Opens `campaigns.db` in `dir` for a server, checking it first. A
    /// damaged file is not replaced: its send ledger is what makes each
    /// decision once, and its suppressions keep unsubscribed people from
    /// mail, so the error says how to go on.
    pub fn open_checked(dir: &Path) -> Result<CampaignDb> {
        let checked = CampaignDb::open(dir).and_then(|db| {
            seglab_store::fault::quick_check(&db.conn)?
                .map(|()| db)
                .map_err(Error::Corrupt)
        });
        match checked {
            Err(Error::Sql(e)) if seglab_store::fault::sqlite_damaged(&e) => {
                Err(damaged(dir, &e.to_string()))
            }
            Err(Error::Corrupt(what)) => Err(damaged(dir, &what)),
            other => other,
        }
    }

    /// Commits without an fsync each (for rows that may be redone or lost
    /// to a power cut: delivery marks, on-site impressions).
    pub(crate) fn relaxed(self) -> Result<CampaignDb> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(self)
    }

    /// A state value (cursors).
    pub(crate) fn get_state(&self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The secret that signs tracking and unsubscribe links (256 random
    /// bits, made the first time anyone asks: the server or the CLI).
    pub fn tracking_secret(&self) -> Result<String> {
        self.secret("tracking", || {
            let bytes: [u8; 32] = rand::random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        })
    }

    /// A secret by name, made (by `make`) and kept the first time it is asked for.
    fn secret(&self, name: &str, make: impl FnOnce() -> String) -> Result<String> {
        let found: Option<String> = self
            .conn
            .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(s) = found {
            return Ok(s);
        }
        let value = make();
        self.conn.execute(
            "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, value],
        )?;
        Ok(self
            .conn
            .query_row("SELECT value FROM secrets WHERE name = ?1", [name], |r| {
                r.get(0)
            })?)
    }

    /// Runs `f` in one transaction: everything it writes commits together or
    /// not at all. Reads through `self` inside `f` see what `f` wrote so far
    /// (one connection), so later decisions of a round count earlier ones.
    ///
    /// The transaction takes the write lock when it begins (`BEGIN
    /// IMMEDIATE`), waiting for other writers up to the busy timeout: a
    /// transaction that read first and wrote later could not wait, and would
    /// fail at once with `database is locked` when another connection (the
    /// decision thread, the sender, on-site answers, the API) committed in
    /// between.
    pub(crate) fn atomically<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let tx = Tx {
            tx: Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)?,
        };
        let out = f(&tx)?;
        tx.tx.commit()?;
        Ok(out)
    }
}

/// A transaction on `campaigns.db` (see [`CampaignDb::atomically`]).
pub(crate) struct Tx<'a> {
    tx: Transaction<'a>,
}

impl Tx<'_> {
    pub(crate) fn set_state(&self, key: &str, value: i64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO state (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }
}

/// Handles on `campaigns.db` for the API and the CLI, opened and migrated
/// once, then reused.
pub struct Pool(seglab_store::Handles<CampaignDb>);

impl Pool {
    /// Opens (and migrates) the file in `dir` once.
    pub fn open(dir: &Path) -> Result<Pool> {
        Ok(Pool(seglab_store::Handles::new(
            dir,
            CampaignDb::open(dir)?,
        )))
    }

    /// Opens the file in `dir` once, checking it first (for a server; see
    /// [`CampaignDb::open_checked`]).
    pub fn open_checked(dir: &Path) -> Result<Pool> {
        Ok(Pool(seglab_store::Handles::new(
            dir,
            CampaignDb::open_checked(dir)?,
        )))
    }

    /// Runs `f` with a handle of its own.
    pub fn with<T>(&self, f: impl FnOnce(&mut CampaignDb) -> Result<T>) -> Result<T> {
        self.0.with(CampaignDb::open, |db| f(db))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_file_stops_a_server_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let secret = CampaignDb::open_checked(dir.path())
            .unwrap()
            .tracking_secret()
            .unwrap();
        assert_eq!(
            Pool::open_checked(dir.path())
                .unwrap()
                .with(|db| db.tracking_secret())
                .unwrap(),
            secret,
            "a sound file is kept"
        );
        let file = dir.path().join(CAMPAIGNS_DB_FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[..64].fill(0x33);
        std::fs::write(&file, &bytes).unwrap();
        let e = CampaignDb::open_checked(dir.path()).err().unwrap();
        let text = e.to_string();
        assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
        for words in ["campaigns.db", "seglab restore", "move the file aside"] {
            assert!(text.contains(words), "{text}");
        }
        // Nothing was moved or replaced.
        assert_eq!(std::fs::read(&file).unwrap()[..64], [0x33; 64]);
    }

    #[test]
    fn the_tracking_secret_is_random_and_kept() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let secret_in = |dir: &Path| CampaignDb::open(dir).unwrap().tracking_secret().unwrap();
        let secret = secret_in(a.path());
        assert_eq!(secret.len(), 64);
        assert!(secret.bytes().all(|c| c.is_ascii_hexdigit()), "{secret}");
        assert_eq!(secret_in(a.path()), secret);
        assert_ne!(secret_in(b.path()), secret);
    }

    #[test]
    fn a_transaction_that_reads_then_writes_waits_for_other_writers() {
        // Before a write, every transaction here reads (the campaigns, the
        // ledger); another connection committing in between must make it
        // wait, not fail with "database is locked".
        let dir = tempfile::tempdir().unwrap();
        let a = CampaignDb::open(dir.path()).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (dir, stop) = (dir.path().to_owned(), stop.clone());
            std::thread::spawn(move || {
                let b = CampaignDb::open(&dir).unwrap();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 10_000 {
                    b.atomically(|tx| tx.set_state("b", n)).unwrap();
                    n += 1;
                }
                n
            })
        };
        for i in 0..40 {
            a.atomically(|tx| {
                a.get_state("b")?;
                std::thread::sleep(std::time::Duration::from_millis(2));
                tx.set_state("a", i)
            })
            .unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(writer.join().unwrap() > 0, "the other writer wrote");
        assert_eq!(a.get_state("a").unwrap(), Some(39));
    }
}

//! The SQLite schema, applied in order by `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: events, people, identities, traits, keys, settings.
    "
    CREATE TABLE events (
        seq          INTEGER PRIMARY KEY,
        id_hash      INTEGER NOT NULL,
        message_id   TEXT    NOT NULL,
        type         INTEGER NOT NULL,
        person_id    INTEGER NOT NULL,
        user_id      TEXT,
        anonymous_id TEXT,
        event        TEXT,
        name         TEXT,
        ts           INTEGER NOT NULL,
        received_at  INTEGER NOT NULL,
        historical   INTEGER NOT NULL,
        payload      TEXT    NOT NULL
    );
    CREATE TABLE persons (
        person_id   INTEGER PRIMARY KEY,
        created_at  INTEGER NOT NULL,
        user_id     TEXT,
        merged_into INTEGER
    );
    CREATE INDEX persons_merged_into ON persons(merged_into) WHERE merged_into IS NOT NULL;
    CREATE TABLE identities (
        id        TEXT PRIMARY KEY,
        person_id INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX identities_person ON identities(person_id);
    CREATE TABLE traits (
        person_id  INTEGER NOT NULL,
        key        TEXT    NOT NULL,
        value      TEXT    NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (person_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE write_keys (
        key        TEXT PRIMARY KEY,
        name       TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    );
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    ",
    // 2: segment definitions, every version kept.
    "
    CREATE TABLE segments (
        name       TEXT PRIMARY KEY,
        version    INTEGER NOT NULL,
        title      TEXT,
        source     TEXT    NOT NULL,
        ast        TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE segment_versions (
        name       TEXT    NOT NULL,
        version    INTEGER NOT NULL,
        title      TEXT,
        source     TEXT    NOT NULL,
        ast        TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        deleted    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (name, version)
    );
    ",
    // 3: the log of identity merges, in commit order (the engine follows it).
    "
    CREATE TABLE merges (
        seq         INTEGER PRIMARY KEY,
        person_id   INTEGER NOT NULL,
        merged_into INTEGER NOT NULL,
        at          INTEGER NOT NULL
    );
    INSERT INTO merges (person_id, merged_into, at)
        SELECT person_id, merged_into, created_at FROM persons
        WHERE merged_into IS NOT NULL ORDER BY rowid;
    ",
    // 4: scoped admin tokens, kept as SHA-256 hashes (the token is shown
    // once, at creation); a name belongs to one active token at a time.
    "
    CREATE TABLE admin_tokens (
        id           INTEGER PRIMARY KEY,
        name         TEXT    NOT NULL,
        scope        TEXT    NOT NULL CHECK (scope IN ('read', 'full')),
        hash         TEXT    NOT NULL UNIQUE,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER,
        revoked_at   INTEGER
    );
    CREATE UNIQUE INDEX admin_tokens_active_name ON admin_tokens(name) WHERE revoked_at IS NULL;
    ",
    // 5: deleting people (ADR 0014). Merge numbers are never handed out again
    // (AUTOINCREMENT: followers keep the last one they read as a cursor);
    // tombstones hold salted hashes of the ids and addresses of deleted
    // people; `erasures` the people whose rows in `live.db` and
    // `campaigns.db` are still to be deleted.
    "
    CREATE TABLE merges_numbered (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        person_id   INTEGER NOT NULL,
        merged_into INTEGER NOT NULL,
        at          INTEGER NOT NULL
    );
    INSERT INTO merges_numbered (seq, person_id, merged_into, at)
        SELECT seq, person_id, merged_into, at FROM merges ORDER BY seq;
    DROP TABLE merges;
    ALTER TABLE merges_numbered RENAME TO merges;
    CREATE TABLE tombstones (
        hash BLOB PRIMARY KEY,
        kind TEXT    NOT NULL,
        at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE erasures (
        person_id INTEGER PRIMARY KEY
    );
    ",
    // 6: deleted people whose rows a warehouse may still hold (ADR 0018):
    // listed only once a warehouse has been used, until it deleted them.
    "
    CREATE TABLE warehouse_erasures (
        person_id INTEGER PRIMARY KEY
    );
    ",
];

/// Brings the database to the newest schema. Fails on a database written by a
/// newer seglab.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    apply(conn, MIGRATIONS)
}

/// Opens a SQLite file of its own beside the store (`live.db`,
/// `campaigns.db`): WAL, `synchronous=FULL`, a busy timeout; then brings it
/// to the newest of `migrations` (entry `i` moves `user_version` from `i` to
/// `i + 1`), failing on a file written by a newer seglab.
pub fn open_beside(path: &std::path::Path, migrations: &[&str]) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "busy_timeout", 10_000)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    apply(&mut conn, migrations)?;
    Ok(conn)
}

fn apply(conn: &mut Connection, migrations: &[&str]) -> rusqlite::Result<()> {
    let version: usize = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > migrations.len() {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
            Some(format!(
                "the database has schema version {version}; this seglab knows up to {}",
                migrations.len()
            )),
        ));
    }
    for (i, sql) in migrations.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

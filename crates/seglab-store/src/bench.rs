//! The baseline the ingestion benchmarks compare with: bare SQLite appends of
//! opaque rows, with no parsing, identity or deduplication.

use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, params};

use crate::{Durability, Result, configure};

/// Appends `rows` rows of `row_bytes` bytes into a fresh database in `dir`, in
/// transactions of `txn_rows`; returns rows per second.
pub fn raw_append(
    dir: &Path,
    rows: usize,
    row_bytes: usize,
    txn_rows: usize,
    durability: Durability,
) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("baseline.db");
    let _ = std::fs::remove_file(&path);
    let mut conn = Connection::open(&path)?;
    configure(&conn, durability)?;
    conn.execute_batch("CREATE TABLE t (seq INTEGER PRIMARY KEY, payload BLOB NOT NULL)")?;
    let payload = vec![b'x'; row_bytes];
    let started = Instant::now();
    let mut seq = 0i64;
    while (seq as usize) < rows {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("INSERT INTO t (seq, payload) VALUES (?1, ?2)")?;
            for _ in 0..txn_rows.min(rows - seq as usize) {
                seq += 1;
                stmt.execute(params![seq, payload])?;
            }
        }
        tx.commit()?;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    Ok(rows as f64 / secs.max(1e-9))
}

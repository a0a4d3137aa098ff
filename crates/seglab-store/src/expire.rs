//! Event retention: events older than the store's retention are deleted in
//! small batches while ingestion goes on, and events that arrive already
//! older than it are dropped (ADR 0016).
//!
//! A pass ([`Store::expire`]) looks for expired rows on a reader connection
//! (a WAL reader never blocks the writer), a chunk of sequence numbers at a
//! time, and hands each chunk to the writer thread, which deletes it in a
//! transaction of its own between two group commits. The pass ends by
//! recording its cutoff (`events_expired_before`): whoever loads events from
//! a cache made before the pass (the engine's snapshot) drops the events
//! before it too. People, their ids and their traits are kept: retention is
//! about events; deleting a person is [`Store::forget`].

use std::time::Instant;

use rusqlite::{OptionalExtension, Transaction, params};
use tokio::sync::oneshot;

use crate::{Error, Reader, Result, Store, writer};

/// The settings key of the retention in milliseconds (absent: forever).
pub(crate) const RETENTION: &str = "event_retention_ms";
/// The settings key of the cutoff of the last pass: no stored event is older.
pub(crate) const EXPIRED_BEFORE: &str = "events_expired_before";

/// Rows deleted in one writer transaction.
const CHUNK: usize = 1_000;

/// What one retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expired {
    /// Events deleted.
    pub events: u64,
    /// Writer transactions it took.
    pub batches: u64,
    /// How long the pass took, in milliseconds.
    pub elapsed_ms: u64,
}

impl Reader {
    /// How long events are kept, in milliseconds (`None`: forever).
    pub fn retention(&self) -> Result<Option<i64>> {
        Ok(self
            .setting(RETENTION)?
            .and_then(|v| v.parse().ok())
            .filter(|&ms: &i64| ms > 0))
    }

    /// The cutoff of the last retention pass: every event before it is
    /// deleted (`None`: no pass ever ran).
    pub fn expired_before(&self) -> Result<Option<i64>> {
        Ok(self.setting(EXPIRED_BEFORE)?.and_then(|v| v.parse().ok()))
    }

    /// Up to `limit` events after `after_seq` older than `cutoff`, as
    /// (sequence number, message id hash), in sequence order.
    fn expirable(&self, after_seq: i64, cutoff: i64, limit: usize) -> Result<Vec<(i64, i64)>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, id_hash FROM events WHERE seq > ?1 AND ts < ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt
                .query_map(params![after_seq, cutoff, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}

impl Store {
    /// Sets how long events are kept (`None` or zero: forever). From now on
    /// an event older than that when it arrives is dropped (counted in
    /// [`crate::AppendOutcome::expired`]); the events already stored go with
    /// the next [`Store::expire`].
    pub fn set_retention(&self, keep_ms: Option<i64>) -> Result<()> {
        let keep = keep_ms.filter(|&ms| ms > 0);
        match keep {
            Some(ms) => self.reader.set_setting(RETENTION, &ms.to_string())?,
            None => self.reader.with_conn(|c| {
                c.execute("DELETE FROM settings WHERE key = ?1", [RETENTION])?;
                Ok(())
            })?,
        }
        self.retention
            .store(keep.unwrap_or(0), std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Deletes every event older than `cutoff` (epoch milliseconds), a chunk
    /// at a time between the writer's commits, so ingestion goes on; then
    /// records `cutoff` as [`Reader::expired_before`]. `progress` hears the
    /// events deleted so far after each chunk.
    pub fn expire(&self, cutoff: i64, mut progress: impl FnMut(u64)) -> Result<Expired> {
        let started = Instant::now();
        let mut out = Expired::default();
        let mut after = 0;
        loop {
            let rows = self.reader.expirable(after, cutoff, CHUNK)?;
            let Some(&(last, _)) = rows.last() else { break };
            after = last;
            out.events += self.expire_rows(rows, None)?;
            out.batches += 1;
            progress(out.events);
        }
        self.expire_rows(Vec::new(), Some(cutoff))?;
        out.elapsed_ms = started.elapsed().as_millis() as u64;
        tracing::info!(
            cutoff,
            events = out.events,
            batches = out.batches,
            elapsed_ms = out.elapsed_ms,
            "expired events deleted"
        );
        Ok(out)
    }

    fn expire_rows(&self, rows: Vec<(i64, i64)>, done: Option<i64>) -> Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.work(writer::Work::Expire { rows, done, reply })?;
        rx.blocking_recv().map_err(|_| Error::Closed)?
    }
}

/// The writer's part: deletes `rows` (sequence numbers) in `tx`; with
/// `done`, records the pass's cutoff. Answers how many rows went.
pub(crate) fn delete(
    tx: &Transaction<'_>,
    rows: &[(i64, i64)],
    done: Option<i64>,
    next_seq: i64,
) -> rusqlite::Result<u64> {
    let mut n = 0;
    {
        let mut stmt = tx.prepare_cached("DELETE FROM events WHERE seq = ?1")?;
        for &(seq, _) in rows {
            n += stmt.execute([seq])? as u64;
        }
    }
    if let Some(cutoff) = done {
        let before: Option<i64> = tx
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                [EXPIRED_BEFORE],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .and_then(|v| v.parse().ok());
        let cutoff = before.map_or(cutoff, |b| b.max(cutoff));
        crate::forget::set_number(tx, EXPIRED_BEFORE, cutoff)?;
    }
    if n > 0 {
        // Sequence numbers are never handed out again, even when the newest
        // events were the ones deleted.
        let floor = crate::forget::setting_number(tx, crate::forget::SEQ_FLOOR)?.max(next_seq - 1);
        crate::forget::set_number(tx, crate::forget::SEQ_FLOOR, floor)?;
    }
    Ok(n)
}

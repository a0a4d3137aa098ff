//! What the membership state machine loads at start and records at each step.

use roaring::RoaringTreemap;
use rusqlite::{OptionalExtension, Transaction, params};
use seglab_store::PersonId;

use super::{LiveDb, set_state};
use crate::{Cause, Error, Result};

/// Where the state machine stands, as last committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    /// The instant memberships describe (`i64::MIN`: never stepped).
    pub(crate) clock: i64,
    pub(crate) last_seq: i64,
    pub(crate) last_merge: i64,
}

/// A segment as recorded: its id and the definition version of its members.
pub(crate) struct SegmentRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) version: i64,
}

impl LiveDb {
    pub(crate) fn position(&self) -> Result<Position> {
        Ok(Position {
            clock: self.get_state("clock")?.unwrap_or(i64::MIN),
            last_seq: self.get_state("last_seq")?.unwrap_or(0),
            last_merge: self.get_state("last_merge")?.unwrap_or(0),
        })
    }

    /// Segments not deleted, by name.
    pub(crate) fn live_segments(&self) -> Result<Vec<SegmentRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, name, version FROM segments WHERE deleted = 0 ORDER BY name")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SegmentRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    version: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Members of every segment: the last checkpoint plus the changes after
    /// it. Calls `members(segment id, bitmap)` once per checkpointed segment,
    /// then `change(segment id, person, entered)` per later change; returns
    /// the number of changes replayed.
    pub(crate) fn replay_members(
        &self,
        mut members: impl FnMut(i64, RoaringTreemap),
        mut change: impl FnMut(i64, PersonId, bool),
    ) -> Result<u64> {
        let checkpoint = self.get_state("checkpoint")?.unwrap_or(0);
        let mut stmt = self
            .conn
            .prepare("SELECT segment, members FROM checkpoints")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let blob = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            let bitmap = RoaringTreemap::deserialize_from(blob)
                .map_err(|e| Error::Corrupt(format!("checkpoint of segment {id}: {e}")))?;
            members(id, bitmap);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT segment, person, entered FROM changes WHERE id > ?1 ORDER BY id")?;
        let mut rows = stmt.query([checkpoint])?;
        let mut n = 0;
        while let Some(r) = rows.next()? {
            change(r.get(0)?, r.get(1)?, r.get(2)?);
            n += 1;
        }
        Ok(n)
    }

    /// Every pending timer, as (person, due).
    pub(crate) fn timers(&self) -> Result<Vec<(PersonId, i64)>> {
        let mut stmt = self.conn.prepare("SELECT person, due FROM timers")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Starts the transaction one step records in.
    pub(crate) fn recording(&mut self) -> Result<Recording<'_>> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // A file that replaced a damaged one numbers its changes after the
        // old ones (see `repair`): the first change takes its id explicitly.
        let next_id = tx
            .query_row(
                "SELECT value + 1 FROM state WHERE key = ?1
                   AND value >= (SELECT coalesce(max(id), 0) FROM changes)",
                [super::repair::CHANGE_FLOOR],
                |r| r.get(0),
            )
            .optional()?;
        Ok(Recording {
            tx,
            next_id: std::cell::Cell::new(next_id),
        })
    }

    /// Replaces the member checkpoints with `members` (segment id, bitmap), as
    /// of the newest change.
    pub(crate) fn checkpoint<'a>(
        &mut self,
        members: impl IntoIterator<Item = (i64, &'a RoaringTreemap)>,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last: i64 =
            tx.query_row("SELECT coalesce(max(id), 0) FROM changes", [], |r| r.get(0))?;
        tx.execute("DELETE FROM checkpoints", [])?;
        for (segment, bitmap) in members {
            let mut blob = Vec::with_capacity(bitmap.serialized_size());
            bitmap.serialize_into(&mut blob)?;
            tx.prepare_cached("INSERT INTO checkpoints (segment, members) VALUES (?1, ?2)")?
                .execute(params![segment, blob])?;
        }
        set_state(&tx, "checkpoint", last)?;
        tx.commit()?;
        Ok(())
    }
}

/// One step's writes: segments, changes, the deliveries they owe, timers and
/// the position, committed together or not at all.
pub(crate) struct Recording<'a> {
    tx: Transaction<'a>,
    /// The id of the next change when it must be given (`None`: SQLite's
    /// next rowid).
    next_id: std::cell::Cell<Option<i64>>,
}

/// A change to record.
pub(crate) struct NewChange {
    pub(crate) segment: i64,
    pub(crate) person: PersonId,
    pub(crate) entered: bool,
    pub(crate) at: i64,
    pub(crate) cause: Cause,
    pub(crate) event_seq: Option<i64>,
    pub(crate) historical: bool,
}

impl Recording<'_> {
    /// Records a segment's definition version; returns its id.
    pub(crate) fn segment(&self, name: &str, version: i64) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO segments (name, version) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version, deleted = 0",
            )?
            .execute(params![name, version])?;
        Ok(self
            .tx
            .query_row("SELECT id FROM segments WHERE name = ?1", [name], |r| {
                r.get(0)
            })?)
    }

    /// Marks a segment deleted (its history stays).
    pub(crate) fn segment_deleted(&self, name: &str) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE segments SET deleted = 1 WHERE name = ?1")?
            .execute([name])?;
        Ok(())
    }

    /// Records a change; returns its id.
    pub(crate) fn change(&self, c: &NewChange) -> Result<i64> {
        self.tx
            .prepare_cached(
                "INSERT INTO changes (id, segment, person, entered, at, cause, event_seq, historical)
                 VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                c.segment,
                c.person,
                c.entered,
                c.at,
                c.cause.as_str(),
                c.event_seq,
                c.historical,
                self.next_id.take(),
            ])?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Owes subscription `subscription` the delivery of change `change`, due
    /// at `at`.
    pub(crate) fn owe_delivery(&self, subscription: i64, change: i64, at: i64) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO deliveries (subscription, change, next_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![subscription, change, at])?;
        Ok(())
    }

    /// Sets (`Some`) or clears (`None`) a person's timer.
    pub(crate) fn timer(&self, person: PersonId, due: Option<i64>) -> Result<()> {
        match due {
            Some(due) => self
                .tx
                .prepare_cached(
                    "INSERT INTO timers (person, due) VALUES (?1, ?2)
                     ON CONFLICT (person) DO UPDATE SET due = excluded.due",
                )?
                .execute(params![person, due])?,
            None => self
                .tx
                .prepare_cached("DELETE FROM timers WHERE person = ?1")?
                .execute([person])?,
        };
        Ok(())
    }

    /// Records the position and commits everything.
    pub(crate) fn commit(self, at: Position) -> Result<()> {
        set_state(&self.tx, "clock", at.clock)?;
        set_state(&self.tx, "last_seq", at.last_seq)?;
        set_state(&self.tx, "last_merge", at.last_merge)?;
        self.tx.commit()?;
        Ok(())
    }
}

//! Deleting people's rows (ADR 0014): their entries and exits, the webhook
//! deliveries those owed (with the bodies kept for retries), their timers and
//! their bits in the member checkpoints.

use std::collections::HashSet;

use roaring::RoaringTreemap;
use rusqlite::params;
use seglab_store::PersonId;

use super::LiveDb;
use crate::{Error, Result};

/// What deleting people removed from `live.db`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Entries and exits.
    pub changes: u64,
    /// Webhook deliveries (delivered, owed or failed) of those changes.
    pub deliveries: u64,
    pub timers: u64,
    /// Member checkpoints that held one of them.
    pub checkpoints: u64,
}

impl LiveDb {
    /// Deletes every row of `persons` in one transaction (see the module
    /// docs). The membership state in memory is the caller's to update.
    pub fn forget(&mut self, persons: &[PersonId]) -> Result<Forgotten> {
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // The numbers of deleted changes are not handed out again (webhooks
        // send `chg_N` as the idempotency key; followers keep the last one
        // they read as their cursor): new ones are numbered after them.
        tx.execute(
            "INSERT INTO state (key, value)
                VALUES (?1, (SELECT coalesce(max(id), 0) FROM changes))
             ON CONFLICT (key) DO UPDATE SET value = excluded.value
                WHERE excluded.value > value",
            [super::repair::CHANGE_FLOOR],
        )?;
        let mut out = Forgotten::default();
        for &p in persons {
            out.deliveries += tx
                .prepare_cached(
                    "DELETE FROM deliveries WHERE change IN
                        (SELECT id FROM changes WHERE person = ?1)",
                )?
                .execute([p])? as u64;
            out.changes += tx
                .prepare_cached("DELETE FROM changes WHERE person = ?1")?
                .execute([p])? as u64;
            out.timers += tx
                .prepare_cached("DELETE FROM timers WHERE person = ?1")?
                .execute([p])? as u64;
            tx.prepare_cached("DELETE FROM memberships WHERE person = ?1")?
                .execute([p])?;
        }
        let gone: HashSet<u64> = persons.iter().map(|&p| p as u64).collect();
        let mut rewritten = Vec::new();
        {
            let mut stmt = tx.prepare("SELECT segment, members FROM checkpoints")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let segment: i64 = r.get(0)?;
                let blob = r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
                let mut members = RoaringTreemap::deserialize_from(blob)
                    .map_err(|e| Error::Corrupt(format!("checkpoint of segment {segment}: {e}")))?;
                let before = members.len();
                for &p in &gone {
                    members.remove(p);
                }
                if members.len() != before {
                    let mut blob = Vec::with_capacity(members.serialized_size());
                    members.serialize_into(&mut blob)?;
                    rewritten.push((segment, blob));
                }
            }
        }
        for (segment, blob) in &rewritten {
            tx.execute(
                "UPDATE checkpoints SET members = ?2 WHERE segment = ?1",
                params![segment, blob],
            )?;
        }
        out.checkpoints = rewritten.len() as u64;
        tx.commit()?;
        Ok(out)
    }

    /// Rebuilds the file and empties its write-ahead log, so deleted rows
    /// are gone from disk (see [`seglab_store::erase_deleted`]); false when
    /// a reader held the log.
    pub fn erase_deleted(&self) -> Result<bool> {
        Ok(seglab_store::erase_deleted(&self.conn)?)
    }
}

//! Deleting people's rows (ADR 0014): their sends (with the rendered
//! messages and addresses), the coupons given to them, and their
//! suppressions. An address of theirs stays suppressed through the store's
//! tombstones, which hold only its hash.

use seglab_store::PersonId;

use super::CampaignDb;
use crate::Result;

/// What deleting people removed from `campaigns.db`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Ledger rows: every decision, sent or not, with its rendered copy.
    pub sends: u64,
    /// Coupons given to them (out of the pool for good: a code they hold is
    /// never given to someone else).
    pub coupons: u64,
    pub suppressions: u64,
}

impl CampaignDb {
    /// Deletes every row of `persons` in one transaction.
    pub fn forget(&mut self, persons: &[PersonId]) -> Result<Forgotten> {
        self.conn.pragma_update(None, "secure_delete", "ON")?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut out = Forgotten::default();
        for &p in persons {
            out.coupons += tx
                .prepare_cached("DELETE FROM coupons WHERE person = ?1")?
                .execute([p])? as u64;
            out.sends += tx
                .prepare_cached("DELETE FROM sends WHERE person = ?1")?
                .execute([p])? as u64;
            out.suppressions += tx
                .prepare_cached("DELETE FROM suppressions WHERE person = ?1")?
                .execute([p])? as u64;
        }
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

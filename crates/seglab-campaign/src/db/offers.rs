//! Coupons (generated or from an uploaded pool, one per person and campaign)
//! and suppressions (unsubscribes per channel, bounces, a manual list).

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{CampaignDb, Tx};
use crate::Result;

/// A coupon code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coupon {
    pub code: String,
    pub campaign: String,
    /// Who it was given to (`None`: still in the pool).
    pub person: Option<i64>,
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub redeemed_at: Option<i64>,
}

fn coupon(r: &Row<'_>) -> rusqlite::Result<Coupon> {
    Ok(Coupon {
        code: r.get(0)?,
        campaign: r.get(1)?,
        person: r.get(2)?,
        issued_at: r.get(3)?,
        expires_at: r.get(4)?,
        redeemed_at: r.get(5)?,
    })
}

const COUPON_COLUMNS: &str = "code, campaign, person, issued_at, expires_at, redeemed_at";

/// Someone not to send to on a channel (`any`: on every channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppression {
    pub person: i64,
    pub channel: String,
    /// `unsubscribed`, `bounced` or `listed`.
    pub reason: String,
    pub at: i64,
    /// For a bounce: the address that bounced.
    pub address: Option<String>,
}

impl CampaignDb {
    /// Adds codes to a campaign's pool; returns how many were new.
    pub fn add_pool_codes(&mut self, campaign: &str, codes: &[String]) -> Result<usize> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut added = 0;
        for code in codes {
            added += tx
                .prepare_cached(
                    "INSERT INTO coupons (code, campaign) VALUES (?1, ?2)
                     ON CONFLICT (code) DO NOTHING",
                )?
                .execute(params![code, campaign])?;
        }
        tx.commit()?;
        Ok(added)
    }

    /// Codes of a campaign: (still in the pool, given out, redeemed).
    pub fn coupon_counts(&self, campaign: &str) -> Result<(u64, u64, u64)> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(person IS NULL), 0), coalesce(sum(person IS NOT NULL), 0),
                    coalesce(sum(redeemed_at IS NOT NULL), 0)
             FROM coupons WHERE campaign = ?1",
            [campaign],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?)
    }

    /// The code `person` got from `campaign`.
    pub fn coupon_of(&self, campaign: &str, person: i64) -> Result<Option<Coupon>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COUPON_COLUMNS} FROM coupons WHERE campaign = ?1 AND person = ?2"
            ))?
            .query_row(params![campaign, person], coupon)
            .optional()?)
    }

    /// A code, by its text.
    pub fn coupon(&self, code: &str) -> Result<Option<Coupon>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COUPON_COLUMNS} FROM coupons WHERE code = ?1"
            ))?
            .query_row([code], coupon)
            .optional()?)
    }

    /// Marks a code given out as redeemed by the order event `seq` at `at`
    /// (the first redemption counts); false when it is unknown, not given out
    /// or already redeemed.
    pub(crate) fn redeem(&self, code: &str, seq: i64, at: i64) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE coupons SET redeemed_at = ?3, redeemed_seq = ?2
             WHERE code = ?1 AND person IS NOT NULL AND redeemed_at IS NULL",
            params![code, seq, at],
        )? > 0)
    }

    /// A person's suppressions.
    pub fn suppressions_of(&self, person: i64) -> Result<Vec<Suppression>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT person, channel, reason, at, address FROM suppressions
             WHERE person = ?1 ORDER BY channel, reason",
        )?;
        let rows = stmt
            .query_map([person], |r| {
                Ok(Suppression {
                    person: r.get(0)?,
                    channel: r.get(1)?,
                    reason: r.get(2)?,
                    at: r.get(3)?,
                    address: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Suppresses a person on a channel (`any`: every channel) for a reason;
    /// the first time stays.
    pub fn suppress(&self, person: i64, channel: &str, reason: &str, now: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO suppressions (person, channel, reason, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (person, channel, reason) DO NOTHING",
            params![person, channel, reason, now],
        )?;
        Ok(())
    }

    /// Records that email to `address` bounced: the person is not emailed
    /// while that is their address.
    pub fn bounced(&self, person: i64, address: &str, now: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO suppressions (person, channel, reason, at, address)
             VALUES (?1, 'email', 'bounced', ?2, ?3)
             ON CONFLICT (person, channel, reason)
             DO UPDATE SET at = excluded.at, address = excluded.address",
            params![person, now, address],
        )?;
        Ok(())
    }

    /// Lifts every suppression of a person on a channel (unsubscribes and
    /// bounces too); false when there was none.
    pub fn unsuppress(&self, person: i64, channel: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM suppressions WHERE person = ?1 AND channel = ?2",
            params![person, channel],
        )? > 0)
    }
}

impl Tx<'_> {
    /// Records a generated code given to `person`; false when the code is
    /// taken (the caller draws another).
    pub(crate) fn issue_code(
        &self,
        code: &str,
        campaign: &str,
        person: i64,
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<bool> {
        Ok(self
            .tx
            .prepare_cached(
                "INSERT INTO coupons (code, campaign, person, issued_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (code) DO NOTHING",
            )?
            .execute(params![code, campaign, person, now, expires_at])?
            > 0)
    }

    /// Gives `person` the next code of the campaign's pool; `None` when the
    /// pool is empty.
    pub(crate) fn take_pool_code(
        &self,
        campaign: &str,
        person: i64,
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<Option<String>> {
        let code: Option<String> = self
            .tx
            .prepare_cached(
                "SELECT code FROM coupons WHERE campaign = ?1 AND person IS NULL
                 ORDER BY code LIMIT 1",
            )?
            .query_row([campaign], |r| r.get(0))
            .optional()?;
        if let Some(code) = &code {
            self.tx
                .prepare_cached(
                    "UPDATE coupons SET person = ?2, issued_at = ?3, expires_at = ?4
                     WHERE code = ?1",
                )?
                .execute(params![code, person, now, expires_at])?;
        }
        Ok(code)
    }

    /// The code `person` already got from `campaign` (one per person).
    pub(crate) fn code_of(&self, campaign: &str, person: i64) -> Result<Option<String>> {
        Ok(self
            .tx
            .prepare_cached("SELECT code FROM coupons WHERE campaign = ?1 AND person = ?2")?
            .query_row(params![campaign, person], |r| r.get(0))
            .optional()?)
    }
}

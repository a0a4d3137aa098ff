//! Webhook subscriptions and the outbox of deliveries.

use rusqlite::params;
use serde::Serialize;

use super::LiveDb;
use crate::{Change, Result};

/// Which changes a subscription receives.
pub(crate) const KIND_ENTERED: i64 = 1;
/// See [`KIND_ENTERED`].
pub(crate) const KIND_EXITED: i64 = 2;

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

/// Delivery counts of one subscription.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DeliveryStats {
    pub delivered: u64,
    pub pending: u64,
    pub failed: u64,
}

/// A delivery owed now, with what its request needs.
pub(crate) struct DueDelivery {
    pub(crate) id: i64,
    pub(crate) attempts: i64,
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) change: Change,
    /// The body of the first attempt, kept for the retries.
    pub(crate) body: Option<String>,
}

/// What one attempt came to: delivery id, the change it delivers, attempts
/// before it, the outcome, and the body to keep when it was the first.
/// (The change id too: deleting a person deletes their deliveries, and the
/// number of the newest one may be handed out again, to another change.)
pub(crate) type Attempt = (
    i64,
    i64,
    i64,
    std::result::Result<(), String>,
    Option<String>,
);

impl LiveDb {
    /// Adds a subscription; returns its id.
    pub(crate) fn insert_subscription(
        &self,
        url: &str,
        secret: &str,
        segments: Option<&[String]>,
        kinds: i64,
        now: i64,
    ) -> Result<i64> {
        self.conn.execute(
            "INSERT INTO subscriptions (url, secret, segments, kinds, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                url,
                secret,
                segments.map(|s| serde_json::to_string(s).unwrap_or_default()),
                kinds,
                now
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Active subscriptions, with their secrets or without.
    pub fn subscriptions(&self, with_secret: bool) -> Result<Vec<Subscription>> {
        let mut stmt = self.conn.prepare_cached(
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

    /// Removes a subscription and drops its pending deliveries; false when
    /// there was none.
    pub(crate) fn remove_subscription(&self, id: i64, now: i64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE subscriptions SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
            params![id, now],
        )?;
        self.conn.execute(
            "UPDATE deliveries SET failed = 1, last_error = 'unsubscribed'
             WHERE subscription = ?1 AND done_at IS NULL",
            [id],
        )?;
        Ok(n > 0)
    }

    /// Delivery counts of one subscription.
    pub fn delivery_stats(&self, subscription: i64) -> Result<DeliveryStats> {
        Ok(self.conn.query_row(
            "SELECT count(done_at), sum(done_at IS NULL AND failed = 0), sum(failed)
             FROM deliveries WHERE subscription = ?1",
            [subscription],
            |r| {
                Ok(DeliveryStats {
                    delivered: r.get::<_, Option<u64>>(0)?.unwrap_or(0),
                    pending: r.get::<_, Option<u64>>(1)?.unwrap_or(0),
                    failed: r.get::<_, Option<u64>>(2)?.unwrap_or(0),
                })
            },
        )?)
    }

    /// Up to `limit` deliveries of `subscription` due by `now`, oldest first.
    pub(crate) fn due_deliveries(
        &self,
        subscription: i64,
        now: i64,
        limit: usize,
    ) -> Result<Vec<DueDelivery>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id, d.attempts, s.url, s.secret, c.id, g.name, c.person, c.entered, c.at,
                    c.cause, c.event_seq, c.historical, d.body
             FROM deliveries d
             JOIN subscriptions s ON s.id = d.subscription
             JOIN changes c ON c.id = d.change
             JOIN segments g ON g.id = c.segment
             WHERE d.subscription = ?3 AND d.done_at IS NULL AND d.failed = 0
               AND d.next_at <= ?1 AND s.deleted_at IS NULL
             ORDER BY d.next_at, d.id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![now, limit as i64, subscription], |r| {
                Ok(DueDelivery {
                    id: r.get(0)?,
                    attempts: r.get(1)?,
                    url: r.get(2)?,
                    secret: r.get(3)?,
                    change: Change {
                        id: r.get(4)?,
                        segment: r.get(5)?,
                        person: r.get(6)?,
                        entered: r.get(7)?,
                        at: r.get(8)?,
                        cause: super::cause(r.get_ref(9)?.as_str()?)?,
                        event_seq: r.get(10)?,
                        historical: r.get(11)?,
                    },
                    body: r.get(12)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Marks delivered rows done and failed ones for their retry at
    /// `finished + backoff(attempts)` (given up after `max_attempts`).
    pub(crate) fn record_attempts(
        &self,
        results: Vec<Attempt>,
        finished: i64,
        max_attempts: i64,
        backoff: impl Fn(i64) -> i64,
    ) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        for (id, change, attempts, outcome, body) in results {
            let attempts = attempts + 1;
            match outcome {
                Ok(()) => {
                    tx.prepare_cached(
                        "UPDATE deliveries SET done_at = ?2, attempts = ?3
                         WHERE id = ?1 AND change = ?4 AND done_at IS NULL",
                    )?
                    .execute(params![id, finished, attempts, change])?;
                }
                Err(e) => {
                    tracing::debug!(delivery = id, error = %e, "webhook delivery failed");
                    tx.prepare_cached(
                        "UPDATE deliveries SET attempts = ?2, last_error = ?3, next_at = ?4,
                                failed = ?5, body = coalesce(body, ?6)
                         WHERE id = ?1 AND change = ?7 AND done_at IS NULL AND failed = 0",
                    )?
                    .execute(params![
                        id,
                        attempts,
                        e,
                        finished + backoff(attempts - 1),
                        attempts >= max_attempts,
                        body,
                        change
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// When the next retry of `subscription` is due, if any is owed.
    pub(crate) fn next_retry(&self, subscription: i64) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT min(next_at) FROM deliveries
             WHERE subscription = ?1 AND done_at IS NULL AND failed = 0",
            [subscription],
            |r| r.get(0),
        )?)
    }
}

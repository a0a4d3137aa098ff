//! The send ledger: one row per (campaign, person, trigger instance), from
//! the moment a trigger fires to the moment the message is out.
//!
//! A row is `scheduled` when its trigger fires (an entry, a broadcast),
//! decided when due into `owed` (rendered, to dispatch), `skipped` or
//! `deferred` (due again later), and ends `sent` or `failed`.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, Row, params};
use serde::Serialize;

use super::{CampaignDb, Tx};
use crate::def::ChannelKind;
use crate::{Error, Result};

/// Where a send stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Scheduled,
    Deferred,
    Owed,
    Sent,
    Skipped,
    Failed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Scheduled,
        Status::Deferred,
        Status::Owed,
        Status::Sent,
        Status::Skipped,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Scheduled => "scheduled",
            Status::Deferred => "deferred",
            Status::Owed => "owed",
            Status::Sent => "sent",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }

    fn parse(s: &str) -> rusqlite::Result<Status> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| unknown("status", s))
    }
}

fn unknown(what: &str, s: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} {s:?}").into(),
    )
}

fn channel(s: &str) -> rusqlite::Result<ChannelKind> {
    [
        ChannelKind::Email,
        ChannelKind::Webhook,
        ChannelKind::Onsite,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
    .ok_or_else(|| unknown("channel", s))
}

/// A trigger that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSend {
    pub campaign: String,
    pub version: i64,
    pub person: i64,
    /// What makes it one send: `once`, `entry:<change id>`,
    /// `schedule:<instant>`, `view:<instant>`.
    pub instance: String,
    pub channel: ChannelKind,
    pub due_at: i64,
}

/// A row of the ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SendRow {
    pub id: i64,
    pub campaign: String,
    pub version: i64,
    pub person: i64,
    pub instance: String,
    pub channel: ChannelKind,
    pub status: Status,
    pub created_at: i64,
    pub due_at: i64,
    pub decided_at: Option<i64>,
    /// The rule that decided (`ok` when sent).
    pub rule: Option<String>,
    pub explanation: Option<String>,
    pub variant: Option<String>,
    /// The personalization ladder's step.
    pub step: Option<String>,
    pub address: Option<String>,
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub coupon: Option<String>,
    pub attempts: i64,
    pub next_at: Option<i64>,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

impl SendRow {
    /// The key a message carries on every attempt (`Message-ID`,
    /// `Idempotency-Key`).
    pub fn key(&self) -> String {
        format!("send-{}", self.id)
    }
}

const SEND_COLUMNS: &str = "id, campaign, version, person, instance, channel, status,
    created_at, due_at, decided_at, rule, explanation, variant, step, address, subject,
    html, body_text, coupon, attempts, next_at, last_error, sent_at";

fn send_row(r: &Row<'_>) -> rusqlite::Result<SendRow> {
    Ok(SendRow {
        id: r.get(0)?,
        campaign: r.get(1)?,
        version: r.get(2)?,
        person: r.get(3)?,
        instance: r.get(4)?,
        channel: channel(r.get_ref(5)?.as_str()?)?,
        status: Status::parse(r.get_ref(6)?.as_str()?)?,
        created_at: r.get(7)?,
        due_at: r.get(8)?,
        decided_at: r.get(9)?,
        rule: r.get(10)?,
        explanation: r.get(11)?,
        variant: r.get(12)?,
        step: r.get(13)?,
        address: r.get(14)?,
        subject: r.get(15)?,
        html: r.get(16)?,
        text: r.get(17)?,
        coupon: r.get(18)?,
        attempts: r.get(19)?,
        next_at: r.get(20)?,
        last_error: r.get(21)?,
        sent_at: r.get(22)?,
    })
}

/// Which rows to list.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub campaign: Option<String>,
    pub person: Option<i64>,
    pub status: Option<Status>,
    /// Only rows with a larger id.
    pub after: i64,
    pub limit: usize,
}

/// A row due for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRow {
    pub id: i64,
    pub campaign: String,
    pub person: i64,
    pub instance: String,
    pub due_at: i64,
}

/// A decided send with an arm, as (id, campaign, person, arm, decided at).
pub(crate) type Exposure = (i64, String, i64, String, i64);

/// What a decision writes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Decided {
    pub(crate) rule: String,
    pub(crate) explanation: String,
    pub(crate) variant: Option<String>,
    pub(crate) step: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) subject: Option<String>,
    pub(crate) html: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) coupon: Option<String>,
}

impl CampaignDb {
    /// Rows of the ledger, oldest first.
    pub fn sends(&self, filter: &LedgerFilter) -> Result<Vec<SendRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SEND_COLUMNS} FROM sends
             WHERE id > ?1 AND (?2 IS NULL OR campaign = ?2) AND (?3 IS NULL OR person = ?3)
               AND (?4 IS NULL OR status = ?4)
             ORDER BY id LIMIT ?5"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    filter.after,
                    filter.campaign,
                    filter.person,
                    filter.status.map(Status::as_str),
                    filter.limit.min(100_000) as i64
                ],
                send_row,
            )?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// One row.
    pub fn send(&self, id: i64) -> Result<Option<SendRow>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {SEND_COLUMNS} FROM sends WHERE id = ?1"))?
            .query_row([id], send_row)
            .optional()?)
    }

    /// Rows per status, by campaign.
    pub fn counts(&self) -> Result<BTreeMap<String, BTreeMap<Status, u64>>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT campaign, status, count(*) FROM sends GROUP BY 1, 2")?;
        let mut rows = stmt.query([])?;
        let mut out: BTreeMap<String, BTreeMap<Status, u64>> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            let status = Status::parse(r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?)?;
            out.entry(r.get(0)?).or_default().insert(status, r.get(2)?);
        }
        Ok(out)
    }

    /// Rows due for a decision by `now` (at most `limit`), person after
    /// person, so that one person's due sends are decided together.
    pub(crate) fn due(&self, now: i64, limit: usize) -> Result<Vec<DueRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, campaign, person, instance, due_at FROM sends
             WHERE status IN ('scheduled', 'deferred') AND due_at <= ?1
             ORDER BY person, due_at, id LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![now, limit as i64], |r| {
                Ok(DueRow {
                    id: r.get(0)?,
                    campaign: r.get(1)?,
                    person: r.get(2)?,
                    instance: r.get(3)?,
                    due_at: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// When the next scheduled or deferred row comes due.
    pub fn next_due(&self) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT min(due_at) FROM sends WHERE status IN ('scheduled', 'deferred')",
            [],
            |r| r.get(0),
        )?)
    }

    /// Rows to dispatch by `now` (at most `limit`); email only when `email`
    /// (an SMTP server is set: without one, email waits and must not hold
    /// up the other channels).
    pub(crate) fn owed(&self, now: i64, limit: usize, email: bool) -> Result<Vec<SendRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SEND_COLUMNS} FROM sends
             WHERE status = 'owed' AND next_at <= ?1 AND (?3 OR channel != 'email')
             ORDER BY next_at, id LIMIT ?2"
        ))?;
        let rows = stmt
            .query_map(params![now, limit as i64, email], send_row)?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// When the next owed row may be attempted (email only when `email`, as
    /// for [`CampaignDb::owed`]).
    pub fn next_owed(&self, email: bool) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT min(next_at) FROM sends WHERE status = 'owed' AND (?1 OR channel != 'email')",
            [email],
            |r| r.get(0),
        )?)
    }

    /// A person's sends decided to go out (owed or sent) since `since`, as
    /// (decided at, campaign, channel).
    pub(crate) fn history(
        &self,
        person: i64,
        since: i64,
    ) -> Result<Vec<(i64, String, ChannelKind)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT decided_at, campaign, channel FROM sends
             WHERE person = ?1 AND decided_at >= ?2 AND status IN ('owed', 'sent')
             ORDER BY decided_at",
        )?;
        let rows = stmt
            .query_map(params![person, since], |r| {
                Ok((r.get(0)?, r.get(1)?, channel(r.get_ref(2)?.as_str()?)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// The arm recorded with `person`'s first decided send of `campaign` (a
    /// variant's name, `holdout` or `global_holdout`).
    pub(crate) fn recorded_arm(&self, campaign: &str, person: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT variant FROM sends WHERE campaign = ?1 AND person = ?2
                 AND variant IS NOT NULL ORDER BY id LIMIT 1",
            )?
            .query_row(params![campaign, person], |r| r.get(0))
            .optional()?)
    }

    /// Decided rows with an arm whose exposure is not in the store yet.
    pub(crate) fn unexposed(&self, limit: usize) -> Result<Vec<Exposure>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, campaign, person, variant, decided_at FROM sends
             WHERE exposed = 0 AND variant IS NOT NULL AND decided_at IS NOT NULL
             ORDER BY id LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Marks rows whose exposure is in the store.
    pub(crate) fn mark_exposed(&self, ids: &[i64]) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        for id in ids {
            tx.prepare_cached("UPDATE sends SET exposed = 1 WHERE id = ?1")?
                .execute([id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// When `campaign` last decided to send to `person`.
    pub(crate) fn last_send(&self, campaign: &str, person: i64) -> Result<Option<i64>> {
        Ok(self.conn.query_row(
            "SELECT max(decided_at) FROM sends
             WHERE campaign = ?1 AND person = ?2 AND status IN ('owed', 'sent')",
            params![campaign, person],
            |r| r.get(0),
        )?)
    }

    /// Marks attempts: sent, or (with an error) retried at `retry_at`, or
    /// failed when `retry_at` is `None`.
    pub(crate) fn record_attempts(
        &mut self,
        results: &[(i64, std::result::Result<(), String>, Option<i64>)],
        now: i64,
    ) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (id, outcome, retry_at) in results {
            match outcome {
                Ok(()) => tx
                    .prepare_cached(
                        "UPDATE sends SET status = 'sent', sent_at = ?2,
                                attempts = attempts + 1, html = NULL, body_text = NULL
                         WHERE id = ?1 AND status = 'owed'",
                    )?
                    .execute(params![id, now])?,
                Err(e) => tx
                    .prepare_cached(
                        "UPDATE sends SET attempts = attempts + 1, last_error = ?2,
                                next_at = ?3,
                                status = CASE WHEN ?3 IS NULL THEN 'failed' ELSE 'owed' END,
                                rule = CASE WHEN ?3 IS NULL THEN 'delivery' ELSE rule END,
                                explanation = CASE WHEN ?3 IS NULL
                                    THEN 'failed after ' || (attempts + 1)
                                         || iif(attempts = 0, ' attempt: ', ' attempts: ') || ?2
                                    ELSE explanation END
                         WHERE id = ?1 AND status = 'owed'",
                    )?
                    .execute(params![id, e, retry_at])?,
            };
        }
        tx.commit()?;
        Ok(())
    }
}

impl Tx<'_> {
    /// Records a trigger; false when the ledger already has this (campaign,
    /// person, instance).
    pub(crate) fn insert_send(&self, s: &NewSend, now: i64) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "INSERT INTO sends (campaign, version, person, instance, channel, status,
                                    created_at, due_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'scheduled', ?6, ?7)
                 ON CONFLICT (campaign, person, instance) DO NOTHING",
            )?
            .execute(params![
                s.campaign,
                s.version,
                s.person,
                s.instance,
                s.channel.as_str(),
                now,
                s.due_at
            ])?;
        Ok(n > 0)
    }

    /// Records a trigger decided at once (on-site decisions); returns its id.
    pub(crate) fn insert_decided(
        &self,
        s: &NewSend,
        status: Status,
        d: &Decided,
        now: i64,
    ) -> Result<i64> {
        if !self.insert_send(s, now)? {
            return Err(Error::Refused(format!(
                "{} already has a send for person {} ({})",
                s.campaign, s.person, s.instance
            )));
        }
        let id = self.tx.last_insert_rowid();
        self.decide(id, status, d, now, None)?;
        Ok(id)
    }

    /// Writes a decision: `owed` (to dispatch now), `skipped`, `deferred`
    /// (due again at `due_again`), `sent` (decided and delivered at once) or
    /// `failed`.
    pub(crate) fn decide(
        &self,
        id: i64,
        status: Status,
        d: &Decided,
        now: i64,
        due_again: Option<i64>,
    ) -> Result<()> {
        self.tx
            .prepare_cached(
                "UPDATE sends SET status = ?2, decided_at = ?3, rule = ?4, explanation = ?5,
                        variant = ?6, step = ?7, address = ?8, subject = ?9, html = ?10,
                        body_text = ?11, coupon = ?12,
                        next_at = CASE WHEN ?2 = 'owed' THEN ?3 ELSE next_at END,
                        sent_at = CASE WHEN ?2 = 'sent' THEN ?3 ELSE sent_at END,
                        due_at = coalesce(?13, due_at)
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                status.as_str(),
                now,
                d.rule,
                d.explanation,
                d.variant,
                d.step,
                d.address,
                d.subject,
                d.html,
                d.text,
                d.coupon,
                due_again
            ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `campaigns.db` in a temporary folder with the email campaign `mail`
    /// and the webhook campaign `hook`.
    fn db() -> (tempfile::TempDir, CampaignDb) {
        let dir = tempfile::tempdir().unwrap();
        let mut db = CampaignDb::open(dir.path()).unwrap();
        let source = r#"
[[campaign]]
name = "mail"
segment = "s"
channel = "email"
[campaign.trigger]
on = "entry"
[[campaign.message]]
subject = "Hi"
text = "Hi"

[[campaign]]
name = "hook"
segment = "s"
channel = "webhook"
webhook_url = "http://127.0.0.1:9/hook"
[campaign.trigger]
on = "entry"
[[campaign.message]]
text = "Hi"
"#;
        let files = [("c.toml".to_owned(), source.to_owned())];
        let checked = crate::check_files(&files, &|_| true).unwrap();
        crate::code::apply(&mut db, &checked, 0).unwrap();
        (dir, db)
    }

    /// Writes a row of `campaign` for `person`, decided `owed` at `at`.
    fn owe(db: &CampaignDb, campaign: &str, channel: ChannelKind, person: i64, at: i64) {
        db.atomically(|tx| {
            let send = NewSend {
                campaign: campaign.into(),
                version: 1,
                person,
                instance: "once".into(),
                channel,
                due_at: at,
            };
            tx.insert_decided(&send, Status::Owed, &Decided::default(), at)
        })
        .unwrap();
    }

    #[test]
    fn email_waiting_for_an_smtp_server_holds_up_nothing() {
        let (_dir, db) = db();
        for person in 1..=3 {
            owe(&db, "mail", ChannelKind::Email, person, 10);
        }
        assert_eq!(db.next_owed(false).unwrap(), None, "nothing to wake for");
        owe(&db, "hook", ChannelKind::Webhook, 1, 20);
        // A batch of one: the webhook, not the older email.
        let rows = db.owed(100, 1, false).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.campaign.as_str()).collect::<Vec<_>>(),
            ["hook"]
        );
        assert_eq!(db.next_owed(false).unwrap(), Some(20));
        assert_eq!(db.owed(100, 10, true).unwrap().len(), 4);
        assert_eq!(db.next_owed(true).unwrap(), Some(10));
    }

    #[test]
    fn deleting_people_removes_their_rows_and_never_reuses_a_send_number() {
        let (dir, mut db) = db();
        owe(&db, "mail", ChannelKind::Email, 1, 10);
        let send = NewSend {
            campaign: "mail".into(),
            version: 1,
            person: 2,
            instance: "once".into(),
            channel: ChannelKind::Email,
            due_at: 10,
        };
        let decided = Decided {
            address: Some("ann.f00d@example.com".into()),
            html: Some("<p>Hi ann.f00d@example.com</p>".into()),
            ..Decided::default()
        };
        let ann = db
            .atomically(|tx| tx.insert_decided(&send, Status::Owed, &decided, 10))
            .unwrap();
        db.atomically(|tx| tx.issue_code("CODE-ANN-F00D", "mail", 2, 10, None))
            .unwrap();
        db.suppress(2, "email", "unsubscribed", 10).unwrap();
        db.bounced(2, "ann.f00d@example.com", 11).unwrap();
        db.suppress(1, "any", "listed", 10).unwrap();
        let in_files = |needle: &str| {
            std::fs::read_dir(dir.path()).unwrap().any(|e| {
                std::fs::read(e.unwrap().path())
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
            })
        };
        assert!(in_files("ann.f00d@example.com") && in_files("CODE-ANN-F00D"));

        let out = db.forget(&[2]).unwrap();
        assert_eq!(
            out,
            crate::db::Forgotten {
                sends: 1,
                coupons: 1,
                suppressions: 2
            }
        );
        assert!(db.erase_deleted().unwrap());
        assert!(db.send(ann).unwrap().is_none());
        assert!(db.coupon("CODE-ANN-F00D").unwrap().is_none());
        assert!(db.suppressions_of(2).unwrap().is_empty());
        assert_eq!(db.suppressions_of(1).unwrap().len(), 1);
        assert!(!in_files("ann.f00d@example.com") && !in_files("CODE-ANN-F00D"));

        // The newest send was hers: its number is not handed out again.
        owe(&db, "hook", ChannelKind::Webhook, 3, 20);
        let rows = db
            .sends(&LedgerFilter {
                limit: 10,
                ..LedgerFilter::default()
            })
            .unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[1].id > ann, "{} <= {ann}", rows[1].id);
    }
}

//! Campaign definitions, their versions, and the policy.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{CampaignDb, Tx};
use crate::def::{CampaignDef, Policy, Trigger};
use crate::{Error, Result};

/// A saved campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredCampaign {
    pub name: String,
    pub version: i64,
    pub def: CampaignDef,
    /// Its `[[campaign]]` text as applied.
    pub source: String,
    pub updated_at: i64,
    /// Signs webhook-channel requests.
    #[serde(skip)]
    pub secret: String,
    /// Schedule trigger: the next instant it sends at.
    pub next_run: Option<i64>,
}

/// What saving a definition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Applied {
    Created { version: i64 },
    Updated { version: i64 },
    Unchanged { version: i64 },
}

impl Applied {
    pub fn version(self) -> i64 {
        match self {
            Applied::Created { version }
            | Applied::Updated { version }
            | Applied::Unchanged { version } => version,
        }
    }
}

fn corrupt(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("the stored definition of {name:?}: {e}"))
}

/// The first instant a schedule sends at: `at`, or when `at` has passed, the
/// next of its recurrences (a one-time schedule in the past never sends).
fn first_run(def: &CampaignDef, now: i64) -> Option<i64> {
    match def.trigger {
        Trigger::Schedule { at, .. } if at >= now => Some(at),
        Trigger::Schedule {
            at,
            every_ms: Some(every),
        } if every > 0 => Some(at + ((now - at) / every + 1) * every),
        _ => None,
    }
}

impl CampaignDb {
    /// Saves a checked definition: a new version when it changed (an edited
    /// schedule starts again from its `at`).
    pub fn save_campaign(
        &mut self,
        def: &CampaignDef,
        source: &str,
        secret: impl FnOnce() -> String,
        now: i64,
    ) -> Result<Applied> {
        let json = serde_json::to_string(def).map_err(|e| corrupt(&def.name, e))?;
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current: Option<(i64, String, bool)> = tx
            .query_row(
                "SELECT version, def, deleted FROM campaigns WHERE name = ?1",
                [&def.name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let applied = match current {
            Some((version, old, false)) if old == json => {
                return Ok(Applied::Unchanged { version });
            }
            Some((version, _, _)) => {
                tx.execute(
                    "UPDATE campaigns SET version = ?2, def = ?3, source = ?4, updated_at = ?5,
                            deleted = 0, next_run = ?6
                     WHERE name = ?1",
                    params![
                        def.name,
                        version + 1,
                        json,
                        source,
                        now,
                        first_run(def, now)
                    ],
                )?;
                Applied::Updated {
                    version: version + 1,
                }
            }
            None => {
                tx.execute(
                    "INSERT INTO campaigns (name, version, def, source, updated_at, secret, next_run)
                     VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6)",
                    params![def.name, json, source, now, secret(), first_run(def, now)],
                )?;
                Applied::Created { version: 1 }
            }
        };
        tx.execute(
            "INSERT INTO campaign_versions (name, version, def, source, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![def.name, applied.version(), json, source, now],
        )?;
        tx.commit()?;
        Ok(applied)
    }

    /// Every campaign not deleted, by name.
    pub fn campaigns(&self) -> Result<Vec<StoredCampaign>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name, version, def, source, updated_at, secret, next_run
             FROM campaigns WHERE deleted = 0 ORDER BY name",
        )?;
        type Row = (String, i64, String, String, i64, String, Option<i64>);
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(
                |(name, version, def, source, updated_at, secret, next_run)| {
                    let def = serde_json::from_str(&def).map_err(|e| corrupt(&name, e))?;
                    Ok(StoredCampaign {
                        name,
                        version,
                        def,
                        source,
                        updated_at,
                        secret,
                        next_run,
                    })
                },
            )
            .collect()
    }

    /// One campaign, if saved and not deleted.
    pub fn campaign(&self, name: &str) -> Result<Option<StoredCampaign>> {
        Ok(self.campaigns()?.into_iter().find(|c| c.name == name))
    }

    /// Deletes a campaign (its versions and sends stay); false when there was
    /// none. Sends not yet decided are dropped.
    pub fn delete_campaign(&mut self, name: &str, now: i64) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE campaigns SET deleted = 1, updated_at = ?2, next_run = NULL
             WHERE name = ?1 AND deleted = 0",
            params![name, now],
        )?;
        tx.execute(
            "UPDATE sends SET status = 'skipped', rule = 'campaign.deleted',
                    explanation = 'the campaign was deleted before the send was decided',
                    decided_at = ?2
             WHERE campaign = ?1 AND status IN ('scheduled', 'deferred')",
            params![name, now],
        )?;
        tx.commit()?;
        Ok(n > 0)
    }

    /// The versions of a campaign, oldest first, as (version, created at).
    pub fn campaign_versions(&self, name: &str) -> Result<Vec<(i64, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT version, created_at FROM campaign_versions WHERE name = ?1 ORDER BY version",
        )?;
        let rows = stmt
            .query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Saves the policy: a new version when it changed.
    pub fn save_policy(&mut self, policy: &Policy, source: &str, now: i64) -> Result<Applied> {
        let json = serde_json::to_string(policy).map_err(|e| corrupt("policy", e))?;
        let current: Option<(i64, String)> = self
            .conn
            .query_row(
                "SELECT version, def FROM policy_versions ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let version = match current {
            Some((v, old)) if old == json => return Ok(Applied::Unchanged { version: v }),
            Some((v, _)) => v + 1,
            None => 1,
        };
        self.conn.execute(
            "INSERT INTO policy_versions (version, def, source, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![version, json, source, now],
        )?;
        Ok(if version == 1 {
            Applied::Created { version }
        } else {
            Applied::Updated { version }
        })
    }

    /// The policy in force (the defaults until one is applied).
    pub fn policy(&self) -> Result<Policy> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT def FROM policy_versions ORDER BY version DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match json {
            Some(j) => serde_json::from_str(&j).map_err(|e| corrupt("policy", e)),
            None => Ok(Policy::default()),
        }
    }
}

impl Tx<'_> {
    /// Moves a schedule on (`None`: it has sent for the last time).
    pub(crate) fn set_next_run(&self, name: &str, next: Option<i64>) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE campaigns SET next_run = ?2 WHERE name = ?1")?
            .execute(params![name, next])?;
        Ok(())
    }
}

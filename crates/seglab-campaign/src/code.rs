//! Campaigns as code: check, apply, diff and list, shared by the CLI and the
//! API.

use std::collections::BTreeMap;

use seglab_store::Reader;
use serde::Serialize;

use crate::Result;
use crate::check::{Checked, check_files};
use crate::db::{Applied, CampaignDb, Status, StoredCampaign};
use crate::members::Membership;

/// Checks campaign files against the saved segments.
pub fn check(reader: &Reader, files: &[(String, String)]) -> Result<Checked> {
    let segments: Vec<String> = reader.segments()?.into_iter().map(|s| s.name).collect();
    Ok(check_files(files, &|name| {
        segments.iter().any(|s| s == name)
    })?)
}

/// What applying did, per campaign (and `policy`).
pub type AppliedAll = Vec<(String, Applied)>;

/// Saves every campaign of checked files (a new version when changed) and
/// the policy when the files have one.
pub fn apply(db: &mut CampaignDb, checked: &Checked, now: i64) -> Result<AppliedAll> {
    let mut out = Vec::new();
    if let Some(policy) = &checked.definitions.policy {
        let source = toml_of(policy);
        out.push(("policy".to_owned(), db.save_policy(policy, &source, now)?));
    }
    for def in &checked.definitions.campaigns {
        let source = checked
            .sources
            .iter()
            .find(|(n, _)| *n == def.name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let applied = db.save_campaign(def, &source, random_secret, now)?;
        out.push((def.name.clone(), applied));
    }
    Ok(out)
}

fn toml_of(policy: &crate::def::Policy) -> String {
    serde_json::to_string(policy).unwrap_or_default()
}

fn random_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// What applying a campaign would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignDiff {
    pub name: String,
    /// `new`, `changed` or `unchanged`.
    pub status: &'static str,
    /// Members of its segment now.
    pub audience: u64,
    /// The saved segment it targets before, when it changes.
    pub segment_before: Option<String>,
}

/// What applying checked files would change.
pub fn diff(
    db: &CampaignDb,
    checked: &Checked,
    members: &dyn Membership,
) -> Result<Vec<CampaignDiff>> {
    let mut out = Vec::new();
    for def in &checked.definitions.campaigns {
        let stored = db.campaign(&def.name)?;
        let status = match &stored {
            None => "new",
            Some(s) if s.def == *def => "unchanged",
            Some(_) => "changed",
        };
        out.push(CampaignDiff {
            name: def.name.clone(),
            status,
            audience: members.members(&def.segment).map_or(0, |m| m.len()),
            segment_before: stored
                .filter(|s| s.def.segment != def.segment)
                .map(|s| s.def.segment),
        });
    }
    Ok(out)
}

/// Makes `variant` the campaign's only message (all of the audience, no
/// holdout): a new version, as if the file had been edited so.
pub fn ship(db: &mut CampaignDb, name: &str, variant: &str, now: i64) -> Result<Applied> {
    let c = db
        .campaign(name)?
        .ok_or_else(|| crate::Error::NotFound(name.to_owned()))?;
    let Some(m) = c.def.messages.iter().find(|m| m.name == variant) else {
        let names: Vec<&str> = c.def.messages.iter().map(|m| m.name.as_str()).collect();
        return Err(crate::Error::Refused(format!(
            "{name} has no message {variant:?}; its messages: {}",
            names.join(", ")
        )));
    };
    let mut def = c.def.clone();
    def.messages = vec![crate::def::MessageDef {
        weight: 100,
        ..m.clone()
    }];
    def.holdout = 0;
    let source = crate::print::to_toml(&def);
    db.save_campaign(&def, &source, random_secret, now)
}

/// A campaign with its ledger counts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub campaign: StoredCampaign,
    /// Ledger rows per status.
    pub sends: BTreeMap<Status, u64>,
    /// Coupon codes: still in the pool, given out, redeemed.
    pub coupons: Option<(u64, u64, u64)>,
}

/// Every campaign with its counts.
pub fn list(db: &CampaignDb) -> Result<Vec<Summary>> {
    let mut counts = db.counts()?;
    db.campaigns()?
        .into_iter()
        .map(|c| {
            let coupons = match c.def.offer {
                Some(_) => Some(db.coupon_counts(&c.name)?),
                None => None,
            };
            Ok(Summary {
                sends: counts.remove(&c.name).unwrap_or_default(),
                coupons,
                campaign: c,
            })
        })
        .collect()
}

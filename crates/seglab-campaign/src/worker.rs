//! One round of the campaign worker: triggers fire into the ledger, then the
//! sends that came due are decided, person after person, and written (with
//! the coupons they take) in one transaction per batch. Dispatch is the
//! sender's job (`send.rs`): it only reads rows decided `owed`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;
use seglab_live::LiveDb;
use seglab_store::Reader;

use crate::Result;
use crate::db::{CampaignDb, Status, StoredCampaign};
use crate::plan::{Codes, Env, Person, Planned, decide_person, group_due};
use crate::template::Templates;
use crate::trigger;

/// Due rows decided per transaction.
const DUE_PER_BATCH: usize = 2_000;
/// The ledger's position in the store's events (coupon redemptions).
const ORDER_CURSOR: &str = "order_seq";
/// Events scanned for redemptions per round.
const EVENTS_PER_ROUND: usize = 100_000;

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    /// Ledger rows written by triggers (entries, broadcasts).
    pub triggered: usize,
    /// Coupons redeemed by orders since the last round.
    pub redeemed: usize,
    /// Rows decided, by outcome.
    pub decided: BTreeMap<&'static str, usize>,
    /// The next instant something comes due (a delay, a deferral, a
    /// broadcast), if any.
    pub next_due: Option<i64>,
}

impl Round {
    /// Rows decided to go out.
    pub fn owed(&self) -> usize {
        self.decided.get("owed").copied().unwrap_or(0)
            + self.decided.get("sent").copied().unwrap_or(0)
    }
}

/// Compiled templates per campaign version.
#[derive(Default)]
pub struct TemplateCache {
    compiled: HashMap<String, (i64, Arc<Templates>)>,
}

impl TemplateCache {
    /// The templates of `c`, compiled once per version.
    pub fn get(&mut self, c: &StoredCampaign) -> Result<Arc<Templates>> {
        if let Some((v, t)) = self.compiled.get(&c.name)
            && *v == c.version
        {
            return Ok(t.clone());
        }
        let t = Arc::new(Templates::compile(&c.def).map_err(|errors| {
            crate::Error::Corrupt(format!(
                "the templates of {:?} no longer compile: {}",
                c.name,
                errors
                    .iter()
                    .map(|e| e.message.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?);
        self.compiled.insert(c.name.clone(), (c.version, t.clone()));
        Ok(t)
    }

    /// Compiles every campaign's templates ahead of a round.
    pub(crate) fn prepare(
        &mut self,
        campaigns: &BTreeMap<String, StoredCampaign>,
    ) -> HashMap<String, Result<Arc<Templates>, String>> {
        campaigns
            .values()
            .map(|c| (c.name.clone(), self.get(c).map_err(|e| e.to_string())))
            .collect()
    }
}

/// The decision side of campaigns: owns its handle on `campaigns.db`.
pub struct Worker {
    db: CampaignDb,
    rng: StdRng,
    templates: TemplateCache,
}

impl Worker {
    /// Opens `campaigns.db` in `dir`; a new ledger starts following `live.db`
    /// after what it recorded already.
    pub fn open(dir: &Path, live: &LiveDb, reader: &Reader) -> Result<Worker> {
        let mut db = CampaignDb::open(dir)?;
        trigger::start_cursor(&mut db, live)?;
        if db.get_state(ORDER_CURSOR)?.is_none() {
            let last = reader.last_seq()?;
            db.atomically(|tx| tx.set_state(ORDER_CURSOR, last))?;
        }
        Ok(Worker {
            db,
            rng: StdRng::from_os_rng(),
            templates: TemplateCache::default(),
        })
    }

    /// Marks the codes that orders after the cursor carried (`coupon`) as
    /// redeemed; returns how many.
    fn redemptions(&mut self, reader: &Reader) -> Result<usize> {
        let after = self.db.get_state(ORDER_CURSOR)?.unwrap_or(0);
        let mut found = Vec::new();
        let last = reader.scan_named(
            after,
            "Order Completed",
            EVENTS_PER_ROUND,
            |seq, _, ts, payload| {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(payload)
                    && let Some(code) = v.pointer("/properties/coupon").and_then(|c| c.as_str())
                {
                    found.push((code.to_owned(), seq, ts));
                }
            },
        )?;
        let db = &self.db;
        db.atomically(|tx| {
            let mut n = 0;
            for (code, seq, ts) in &found {
                n += usize::from(db.redeem(code, *seq, *ts)?);
            }
            tx.set_state(ORDER_CURSOR, last)?;
            Ok(n)
        })
    }

    /// Fires triggers and decides everything due by `now`.
    pub fn round(&mut self, env: &Env<'_>, live: &LiveDb, now: i64) -> Result<Round> {
        let mut out = Round {
            redeemed: self.redemptions(env.reader)?,
            ..Round::default()
        };
        let stored = self.db.campaigns()?;
        loop {
            let (n, more) = trigger::ingest_entries(&mut self.db, live, &stored, now)?;
            out.triggered += n;
            if !more {
                break;
            }
        }
        out.triggered += trigger::expand_schedules(&mut self.db, &stored, env.members, now)?;
        let campaigns: BTreeMap<String, StoredCampaign> = self
            .db
            .campaigns()?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        let policy = self.db.policy()?;
        let compiled = self.templates.prepare(&campaigns);
        let mut templates = |c: &StoredCampaign| -> Result<Arc<Templates>> {
            compiled
                .get(&c.name)
                .cloned()
                .unwrap_or_else(|| Err(format!("no templates for {:?}", c.name)))
                .map_err(crate::Error::Corrupt)
        };
        loop {
            let rows = self.db.due(now, DUE_PER_BATCH)?;
            if rows.is_empty() {
                break;
            }
            let (people, gone) = group_due(&rows, &campaigns);
            let db = &self.db;
            let rng = &mut self.rng;
            let decided = db.atomically(|tx| {
                let mut decided: Vec<Status> = Vec::new();
                for (id, planned) in &gone {
                    tx.decide(*id, planned.status, &planned.decided(), now, None)?;
                    decided.push(planned.status);
                }
                for (person, due) in &people {
                    // One send per campaign and person per round: a second
                    // instance waits for the next round (and sees this one).
                    let mut seen = std::collections::HashSet::new();
                    let (now_due, later): (Vec<_>, Vec<_>) = due
                        .iter()
                        .cloned()
                        .partition(|d| seen.insert(d.campaign.name.clone()));
                    let person = match Person::load(env, *person) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(error = %e, person, "campaign person not loaded");
                            continue;
                        }
                    };
                    let planned = decide_person(
                        env,
                        db,
                        &mut templates,
                        &policy,
                        &person,
                        &now_due,
                        &mut Codes::Issue { tx, rng },
                        now,
                    )?;
                    for (d, p) in now_due.iter().zip_planned(&planned) {
                        let Some(id) = d.row else { continue };
                        tx.decide(id, p.status, &p.decided(), now, p.due_again)?;
                        decided.push(p.status);
                    }
                    // Later instances of the same campaign: due again at once.
                    drop(later);
                }
                Ok(decided)
            })?;
            let progressed = !decided.is_empty();
            for s in decided {
                *out.decided.entry(s.as_str()).or_default() += 1;
            }
            if !progressed {
                break;
            }
        }
        out.next_due = [
            self.db.next_due()?,
            trigger::next_schedule(&campaigns.into_values().collect::<Vec<_>>()),
        ]
        .into_iter()
        .flatten()
        .min();
        Ok(out)
    }
}

/// Exposures stored per call.
const EXPOSURES_PER_ROUND: usize = 5_000;

impl Worker {
    /// Stores an `Experiment Viewed` event for every decided send with an
    /// arm (a variant sent, or a holdout) whose event is not stored yet;
    /// returns how many. The event's `messageId` is the send's, so storing
    /// one twice (after a crash) keeps one.
    pub fn exposures(&mut self, store: &seglab_store::Store) -> Result<usize> {
        let rows = self.db.unexposed(EXPOSURES_PER_ROUND)?;
        if rows.is_empty() {
            return Ok(0);
        }
        // Only experiments log exposures: more than one message, a holdout,
        // or the global holdout.
        let experiments: std::collections::HashSet<String> = self
            .db
            .campaigns()?
            .into_iter()
            .filter(|c| c.def.messages.len() > 1 || c.def.holdout > 0)
            .map(|c| c.name)
            .collect();
        let mut batch = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for (id, campaign, person, arm, at) in rows {
            ids.push(id);
            if !experiments.contains(&campaign) && arm != crate::plan::GLOBAL_HOLDOUT {
                continue;
            }
            let Some((who, is_user)) = store.reader().an_id_of(person)? else {
                continue;
            };
            let mut e = serde_json::json!({
                "type": "track",
                "event": EXPOSURE_EVENT,
                "messageId": format!("exposure-{id}"),
                "timestamp": seglab_event::time::format_timestamp(at),
                "properties": {
                    "experiment_id": campaign,
                    "experiment_name": campaign,
                    "variation_id": arm,
                    "variation_name": arm,
                },
            });
            e[if is_user { "userId" } else { "anonymousId" }] = serde_json::json!(who);
            batch.push(e);
        }
        if !batch.is_empty() {
            let body = serde_json::json!({ "batch": batch }).to_string();
            let parsed = seglab_event::wire::segment_spec::parse(
                body.as_bytes(),
                seglab_event::wire::segment_spec::Endpoint::Batch,
                seglab_event::time::now_millis(),
            )
            .map_err(|e| crate::Error::Corrupt(format!("an exposure event: {e}")))?;
            store.append_blocking(parsed.events, false)?;
        }
        self.db.mark_exposed(&ids)?;
        Ok(ids.len())
    }
}

/// The event an exposure is stored as (the Segment spec's A/B testing event).
pub const EXPOSURE_EVENT: &str = "Experiment Viewed";

/// Pairs due sends with what was decided for them (by campaign name: the
/// policy decides in priority order, not in the order given).
trait ZipPlanned<'a, 'p> {
    fn zip_planned(self, planned: &'p [Planned]) -> Vec<(&'a crate::plan::Due<'a>, &'p Planned)>;
}

impl<'a, 'p, I: Iterator<Item = &'a crate::plan::Due<'a>>> ZipPlanned<'a, 'p> for I {
    fn zip_planned(self, planned: &'p [Planned]) -> Vec<(&'a crate::plan::Due<'a>, &'p Planned)> {
        self.filter_map(|d| {
            planned
                .iter()
                .find(|p| p.campaign == d.campaign.def.name)
                .map(|p| (d, p))
        })
        .collect()
    }
}

//! Deciding one person's due sends: the checks only the ledger and live
//! membership can answer (still in the segment, re-entry), then the policies
//! (caps, quiet hours, consent, arbitration), then for each send the variant,
//! the personalization ladder, the offer and the rendered message.
//!
//! The worker writes what this decides in one transaction with the coupons it
//! takes; `preview` and `why` run the same code without writing.

use std::collections::BTreeMap;

use seglab_segments::Segments;
use seglab_store::Reader;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::best::Shop;
use crate::context::{CampaignCtx, Context, Links, PersonCtx};
use crate::db::{CampaignDb, Decided, Status, StoredCampaign, Tx};
use crate::def::{CampaignDef, ChannelKind, CodeSource, MessageDef, Policy, Reentry, Trigger};
use crate::members::Membership;
use crate::policy::{self, DueSend, Outcome, PastSend, PersonFacts};
use crate::template::Templates;
use crate::track::Tokens;
use crate::{Result, ladder, offer, variant};

/// What deciding needs from the rest of seglab.
pub struct Env<'a> {
    pub reader: &'a Reader,
    pub segments: &'a Segments,
    pub members: &'a dyn Membership,
    pub shop: &'a Shop,
    /// Where links in messages point (`http://host:port`).
    pub base_url: &'a str,
    pub tokens: &'a Tokens,
}

/// A person as templates and policies see them.
pub(crate) struct Person {
    pub(crate) id: i64,
    pub(crate) user_id: Option<String>,
    pub(crate) traits: Map<String, Value>,
    /// Their events, oldest first: (time, name, properties).
    pub(crate) events: Vec<(i64, String, Value)>,
}

impl Person {
    pub(crate) fn load(env: &Env<'_>, id: i64) -> Result<Person> {
        let (traits, events) = env.segments.with_engine(|e| {
            let t = e.timelines();
            (t.person_traits(id), t.person_events(id))
        });
        Ok(Person {
            id,
            user_id: env.reader.user_id(id)?,
            traits,
            events: events
                .into_iter()
                .map(|e| (e.time, e.name, e.properties))
                .collect(),
        })
    }

    pub(crate) fn email(&self) -> Option<&str> {
        policy::email_address(self.traits.get(policy::EMAIL_TRAIT))
    }
}

/// One due send to decide.
#[derive(Debug, Clone)]
pub(crate) struct Due<'a> {
    /// The ledger row (`None` in a preview).
    pub(crate) row: Option<i64>,
    pub(crate) campaign: &'a StoredCampaign,
    pub(crate) due_at: i64,
    /// The message, once the person's arm is known.
    pub(crate) variant: Option<usize>,
}

/// What was decided for one due send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Planned {
    pub campaign: String,
    pub status: Status,
    pub rule: String,
    pub explanation: String,
    /// For a deferral, when it is decided again.
    pub due_again: Option<i64>,
    pub variant: Option<String>,
    /// The personalization ladder's step.
    pub step: Option<String>,
    pub address: Option<String>,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub coupon: Option<String>,
}

impl Planned {
    /// A decision that sends nothing.
    pub(crate) fn outcome(
        campaign: &str,
        status: Status,
        rule: &str,
        explanation: String,
    ) -> Planned {
        Planned {
            campaign: campaign.to_owned(),
            status,
            rule: rule.to_owned(),
            explanation,
            due_again: None,
            variant: None,
            step: None,
            address: None,
            subject: None,
            html: None,
            text: None,
            coupon: None,
        }
    }

    pub(crate) fn decided(&self) -> Decided {
        Decided {
            rule: self.rule.clone(),
            explanation: self.explanation.clone(),
            variant: self.variant.clone(),
            step: self.step.clone(),
            address: self.address.clone(),
            subject: self.subject.clone(),
            html: self.html.clone(),
            text: self.text.clone(),
            coupon: self.coupon.clone(),
        }
    }
}

/// The variant a person gets: sticky (a hash of campaign and person) and
/// spread by weight.
pub fn variant_of(def: &CampaignDef, person: i64) -> usize {
    variant::choose_variant(&def.messages, &def.name, &person.to_string())
}

/// Which arm of a campaign's experiment a person is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    /// Gets message `i`.
    Variant(usize),
    /// The campaign's holdout: gets nothing.
    Holdout,
    /// The global holdout: no marketing campaign reaches them.
    GlobalHoldout,
}

/// The ledger's name of the holdout arm.
pub const HOLDOUT: &str = "holdout";
/// The ledger's name of the global holdout arm.
pub const GLOBAL_HOLDOUT: &str = "global_holdout";

impl Arm {
    /// The name recorded as the send's variant.
    pub fn name(self, def: &CampaignDef) -> String {
        match self {
            Arm::Variant(i) => def.messages[i].name.clone(),
            Arm::Holdout => HOLDOUT.to_owned(),
            Arm::GlobalHoldout => GLOBAL_HOLDOUT.to_owned(),
        }
    }
}

/// Where `person` falls in `[0, 100)` for `key`: an xxh3 hash, so the same
/// person gets the same place on every machine and after every restart.
pub(crate) fn bucket(key: &str, person: i64) -> u64 {
    xxhash_rust::xxh3::xxh3_64(format!("{key}:{person}").as_bytes()) % 10_000
}

/// Whether `person` is in the global holdout of `share` percent.
pub fn in_global_holdout(share: u32, person: i64) -> bool {
    bucket("seglab.global_holdout", person) < u64::from(share) * 100
}

/// The arm of `person` in campaign `def`: the one recorded with their first
/// send of it when there is one (assignment is sticky: edits of weights and
/// identity merges do not move anyone; a merged person keeps the kept
/// person's arm), else the global holdout (marketing only), the campaign's
/// holdout, or a variant, by hash and weight.
pub fn arm_of(def: &CampaignDef, policy: &Policy, person: i64, recorded: Option<&str>) -> Arm {
    match recorded {
        Some(HOLDOUT) => return Arm::Holdout,
        Some(GLOBAL_HOLDOUT) => return Arm::GlobalHoldout,
        Some(name) => {
            if let Some(i) = def.messages.iter().position(|m| m.name == name) {
                return Arm::Variant(i);
            }
        }
        None => {}
    }
    if !def.transactional
        && bucket("seglab.global_holdout", person) < u64::from(policy.global_holdout) * 100
    {
        return Arm::GlobalHoldout;
    }
    let b = bucket(&def.name, person);
    if b < u64::from(def.holdout) * 100 {
        return Arm::Holdout;
    }
    let total: u64 = def.messages.iter().map(|m| u64::from(m.weight)).sum();
    if total == 0 {
        return Arm::Variant(0);
    }
    // The rest of the range, spread over the variants by weight.
    let mut x =
        (b - u64::from(def.holdout) * 100) * total / (10_000 - u64::from(def.holdout) * 100).max(1);
    for (i, m) in def.messages.iter().enumerate() {
        if x < u64::from(m.weight) {
            return Arm::Variant(i);
        }
        x -= u64::from(m.weight);
    }
    Arm::Variant(def.messages.len().saturating_sub(1))
}

/// Where coupons come from while deciding: the transaction (the worker) or
/// nowhere (a preview shows a placeholder).
pub(crate) enum Codes<'t, 'c> {
    Issue {
        tx: &'t Tx<'c>,
        rng: &'t mut dyn rand::RngCore,
    },
    Preview,
}

/// The longest window any cap or re-entry rule looks back over.
fn history_window(policy: &Policy, due: &[Due<'_>]) -> i64 {
    let caps = policy.caps.iter().map(|c| c.per_ms);
    let own = due
        .iter()
        .filter_map(|d| d.campaign.def.cap.map(|c| c.per_ms));
    caps.chain(own).max().unwrap_or(0)
}

/// Decides every due send of one person at `now`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decide_person(
    env: &Env<'_>,
    db: &CampaignDb,
    templates: &mut dyn FnMut(&StoredCampaign) -> Result<std::sync::Arc<Templates>>,
    policy: &Policy,
    person: &Person,
    due: &[Due<'_>],
    codes: &mut Codes<'_, '_>,
    now: i64,
) -> Result<Vec<Planned>> {
    let mut out = Vec::with_capacity(due.len());
    let mut candidates: Vec<Due<'_>> = Vec::new();
    for d in due {
        let def = &d.campaign.def;
        if let Trigger::Entry {
            still_in_segment: true,
            ..
        } = def.trigger
            && !env.members.is_member(&def.segment, person.id)
        {
            out.push(Planned::outcome(
                &def.name,
                Status::Skipped,
                "left_segment",
                format!("no longer in {} when due", def.segment),
            ));
            continue;
        }
        // The ledger's key already allows one `once` send per person; a
        // preview has no row and asks the ledger.
        if let Trigger::Entry { reentry, .. } = def.trigger
            && let Some(last) = db.last_send(&def.name, person.id)?
            && !policy::reentry_allows(reentry, Some(last), now)
        {
            let ago = crate::duration::format_duration(now - last);
            let rule = match reentry {
                Reentry::AtMostEvery(every) => format!(
                    "at most once per {}",
                    crate::duration::format_duration(every)
                ),
                _ => "once per person".to_owned(),
            };
            out.push(Planned::outcome(
                &def.name,
                Status::Skipped,
                "reentry",
                format!("sent {ago} ago; {rule}"),
            ));
            continue;
        }
        let recorded = db.recorded_arm(&def.name, person.id)?;
        match arm_of(def, policy, person.id, recorded.as_deref()) {
            Arm::Variant(i) => candidates.push(Due {
                variant: Some(i),
                ..d.clone()
            }),
            arm => {
                let (rule, explanation) = match arm {
                    Arm::GlobalHoldout => (
                        GLOBAL_HOLDOUT,
                        format!(
                            "in the global holdout ({} % of everyone gets no marketing campaign)",
                            policy.global_holdout
                        ),
                    ),
                    _ => (
                        HOLDOUT,
                        format!(
                            "in the holdout of {} ({} % get nothing)",
                            def.name, def.holdout
                        ),
                    ),
                };
                out.push(Planned {
                    variant: Some(arm.name(def)),
                    ..Planned::outcome(&def.name, Status::Skipped, rule, explanation)
                });
            }
        }
    }
    if candidates.is_empty() {
        return Ok(out);
    }
    let since = now.saturating_sub(history_window(policy, due));
    let history: Vec<PastSend> = db
        .history(person.id, since)?
        .into_iter()
        .map(|(at, campaign, channel)| PastSend {
            at,
            campaign,
            channel,
        })
        .collect();
    let suppressions = db.suppressions_of(person.id)?;
    let traits = Value::Object(person.traits.clone());
    let mut facts = PersonFacts::from_traits(&traits);
    facts.unsubscribed = suppressions
        .iter()
        .filter(|s| s.reason == "unsubscribed")
        .filter_map(|s| channel_kind(&s.channel))
        .collect();
    // A bounce holds only while the address that bounced is theirs.
    let holds = |s: &&crate::db::Suppression| {
        s.reason != "unsubscribed"
            && (s.reason != "bounced" || s.address.as_deref() == person.email())
    };
    facts.suppressed = suppressions
        .iter()
        .filter(holds)
        .any(|s| s.channel == "any");
    facts.suppressed_on = suppressions
        .iter()
        .filter(holds)
        .filter_map(|s| channel_kind(&s.channel))
        .collect();
    // The address of a deleted person is not mailed again, whoever has it
    // now, until its tombstone is lifted (ADR 0014).
    if let Some(address) = person.email()
        && env.reader.is_forgotten(address)?
    {
        facts.suppressed_on.insert(ChannelKind::Email);
    }
    let due_sends: Vec<DueSend<'_>> = candidates
        .iter()
        .map(|d| DueSend {
            campaign: &d.campaign.def,
            due_at: d.due_at,
        })
        .collect();
    let decisions = policy::decide(policy, &facts, &due_sends, &history, now);
    for decision in decisions {
        let Some(d) = candidates
            .iter()
            .find(|d| d.campaign.def.name == decision.campaign)
        else {
            continue;
        };
        let planned = match decision.outcome {
            Outcome::Skip => Planned::outcome(
                &decision.campaign,
                Status::Skipped,
                &decision.rule,
                decision.explanation,
            ),
            Outcome::Defer { until } => Planned {
                due_again: Some(until),
                ..Planned::outcome(
                    &decision.campaign,
                    Status::Deferred,
                    &decision.rule,
                    decision.explanation,
                )
            },
            Outcome::Send => {
                let t = templates(d.campaign)?;
                compose(env, &t, d, person, codes, decision.explanation, now)?
            }
        };
        out.push(planned);
    }
    Ok(out)
}

fn channel_kind(s: &str) -> Option<ChannelKind> {
    [
        ChannelKind::Email,
        ChannelKind::Webhook,
        ChannelKind::Onsite,
    ]
    .into_iter()
    .find(|c| c.as_str() == s)
}

/// The message of a send decided to go out: variant, ladder step, offer,
/// rendered copy with tracked links.
pub(crate) fn compose(
    env: &Env<'_>,
    templates: &Templates,
    due: &Due<'_>,
    person: &Person,
    codes: &mut Codes<'_, '_>,
    explanation: String,
    now: i64,
) -> Result<Planned> {
    let def = &due.campaign.def;
    let variant = due.variant.unwrap_or_else(|| variant_of(def, person.id));
    let message: &MessageDef = &def.messages[variant];
    let events: Vec<ladder::ViewedEvent<'_>> = person
        .events
        .iter()
        .map(|(t, n, p)| ladder::ViewedEvent {
            time: *t,
            name: n.as_str(),
            properties: p,
        })
        .collect();
    let chosen = ladder::choose(
        &events,
        now,
        def.personalize.as_ref(),
        &env.shop.best,
        &env.shop.catalog,
    );
    let (pick, behavior) = (chosen.pick, chosen.behavior);
    let mut planned = Planned {
        variant: Some(message.name.clone()),
        step: Some(pick.step.as_str().to_owned()),
        address: match def.channel.kind() {
            ChannelKind::Email => person.email().map(str::to_owned),
            _ => None,
        },
        ..Planned::outcome(&def.name, Status::Owed, "ok", explanation)
    };
    let offer = match &def.offer {
        None => None,
        Some(o) => {
            let expires = offer::expires_at(now, o);
            let code = match codes {
                Codes::Preview => Some(match &o.codes {
                    CodeSource::Generated { prefix } => format!("{prefix}-PREVIEW"),
                    CodeSource::Pool => "POOL-CODE".to_owned(),
                }),
                Codes::Issue { tx, rng } => match tx.code_of(&def.name, person.id)? {
                    Some(code) => Some(code),
                    None => match &o.codes {
                        CodeSource::Pool => {
                            tx.take_pool_code(&def.name, person.id, now, expires)?
                        }
                        CodeSource::Generated { prefix } => loop {
                            let code = offer::generate_code(prefix, &mut **rng);
                            if tx.issue_code(&code, &def.name, person.id, now, expires)? {
                                break Some(code);
                            }
                        },
                    },
                },
            };
            let Some(code) = code else {
                return Ok(Planned::outcome(
                    &def.name,
                    Status::Skipped,
                    "offer.pool_empty",
                    format!("the coupon pool of {} is empty", def.name),
                ));
            };
            planned.coupon = Some(code.clone());
            Some(offer::offer_context(code, now, o))
        }
    };
    let send_id = due.row.unwrap_or(0);
    let ctx = Context {
        person: PersonCtx {
            id: person.id.to_string(),
            user_id: person.user_id.clone(),
            email: person.email().map(str::to_owned),
            traits: Value::Object(person.traits.clone()),
        },
        behavior,
        pick,
        best_sellers: env.shop.best.clone(),
        offer,
        campaign: CampaignCtx {
            name: def.name.clone(),
            title: def.title.clone(),
            variant: message.name.clone(),
        },
        links: Links {
            unsubscribe: crate::track::unsubscribe_url(env.base_url, &env.tokens.sign(send_id)),
        },
    };
    match templates.render(variant, &ctx) {
        Ok(r) => {
            planned.subject = Some(r.subject);
            planned.html = r.html.map(|h| match def.channel.kind() {
                ChannelKind::Email => {
                    crate::track::instrument_html(&h, env.base_url, env.tokens, send_id)
                }
                _ => h,
            });
            planned.text = r.text;
            Ok(planned)
        }
        Err(e) => Ok(Planned::outcome(
            &def.name,
            Status::Failed,
            "template",
            format!("the message could not be rendered: {e}"),
        )),
    }
}

/// Due sends by person, and decisions already made (by row).
pub(crate) type Grouped<'c> = (Vec<(i64, Vec<Due<'c>>)>, Vec<(i64, Planned)>);

/// Due rows of one person, grouped with their campaigns (rows of campaigns
/// that are gone are decided `skipped`).
pub(crate) fn group_due<'c>(
    rows: &[crate::db::DueRow],
    campaigns: &'c BTreeMap<String, StoredCampaign>,
) -> Grouped<'c> {
    let mut people: Vec<(i64, Vec<Due<'c>>)> = Vec::new();
    let mut gone = Vec::new();
    for r in rows {
        let Some(c) = campaigns.get(&r.campaign) else {
            gone.push((
                r.id,
                Planned::outcome(
                    &r.campaign,
                    Status::Skipped,
                    "campaign.deleted",
                    "the campaign was deleted before the send was decided".into(),
                ),
            ));
            continue;
        };
        let due = Due {
            row: Some(r.id),
            campaign: c,
            due_at: r.due_at,
            variant: None,
        };
        match people.last_mut() {
            Some((p, list)) if *p == r.person => list.push(due),
            _ => people.push((r.person, vec![due])),
        }
    }
    (people, gone)
}

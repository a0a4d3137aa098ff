//! `seglab campaigns …`: campaigns as code beside a running server (they read
//! the store, `live.db` as recorded, and `campaigns.db`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Context;
use seglab_campaign::code::{self, Summary};
use seglab_campaign::db::{Applied, CampaignDb, LedgerFilter, Status};
use seglab_campaign::members::Recorded;
use seglab_campaign::plan::Env;
use seglab_campaign::track::Tokens;
use seglab_event::time::{format_timestamp, now_millis};
use seglab_live::LiveDb;
use seglab_segments::Segments;
use seglab_store::Reader;

use crate::segments_cmd::read_sources;

/// The starter campaigns (also in `campaigns/starter.toml`).
pub const STARTER: &str = include_str!("../../../campaigns/starter.toml");

#[derive(Debug, clap::Subcommand)]
pub enum CampaignsCommand {
    /// Check campaign files (TOML): every error with file, line, column and a hint.
    Check {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Create or update the campaigns (and the policy) of the files; every change is a new version.
    Apply {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// What applying would change, with the audience of each campaign now.
    Diff {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Every campaign with its sends by outcome and its coupons.
    List,
    /// Exactly what a person would get from a campaign now: decision, variant, ladder step, copy.
    Preview {
        name: String,
        /// Any of the person's ids.
        #[arg(long)]
        person: String,
    },
    /// Why a person was (or was not) sent a campaign: every recorded decision and its rule.
    Why {
        name: String,
        #[arg(long)]
        person: String,
    },
    /// Add coupon codes (one per line) to a campaign's pool.
    Coupons { name: String, file: PathBuf },
    /// Apply the starter campaigns.
    InstallStarter,
    /// Put a person on the suppression list (no campaign reaches them on that channel).
    Suppress {
        /// Any of the person's ids.
        person: String,
        /// `email`, `webhook`, `onsite` or `any`.
        #[arg(long, default_value = "any")]
        channel: String,
    },
    /// Take a person off the suppression list (unsubscribes and bounces too).
    Unsuppress {
        person: String,
        #[arg(long, default_value = "any")]
        channel: String,
    },
}

/// How an apply went, for people.
pub fn applied(a: Applied) -> String {
    match a {
        Applied::Created { version } => format!("created (version {version})"),
        Applied::Updated { version } => format!("updated (version {version})"),
        Applied::Unchanged { version } => format!("unchanged (version {version})"),
    }
}

/// Applies the embedded starter campaigns.
pub fn install_starter(reader: &Reader, db: &mut CampaignDb) -> anyhow::Result<code::AppliedAll> {
    let files = [("starter.toml".to_owned(), STARTER.to_owned())];
    let checked = code::check(reader, &files)?;
    Ok(code::apply(db, &checked, now_millis())?)
}

/// Checks files; prints every diagnostic and gives `None` on an error.
fn checked_or_report(
    reader: &Reader,
    files: &[(String, String)],
) -> anyhow::Result<Option<seglab_campaign::check::Checked>> {
    match code::check(reader, files) {
        Ok(c) => {
            for (file, w) in &c.warnings {
                let source = files
                    .iter()
                    .find(|(n, _)| n == file)
                    .map_or("", |(_, s)| s.as_str());
                eprint!("{}", w.render(source, file));
            }
            Ok(Some(c))
        }
        Err(seglab_campaign::Error::Invalid(invalid)) => {
            eprint!("{}", invalid.rendered);
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn print_list(list: &[Summary]) {
    println!(
        "{:<22} {:<22} {:<8} {:<9} {:>4} {:>7} {:>6} {:>7} {:>6}  coupons",
        "campaign", "segment", "channel", "trigger", "ver", "sent", "owed", "skipped", "failed"
    );
    for s in list {
        let n = |st: Status| s.sends.get(&st).copied().unwrap_or(0);
        let trigger = match &s.campaign.def.trigger {
            seglab_campaign::def::Trigger::Entry { .. } => "entry",
            seglab_campaign::def::Trigger::Schedule { .. } => "schedule",
            seglab_campaign::def::Trigger::Decision { .. } => "decision",
        };
        println!(
            "{:<22} {:<22} {:<8} {:<9} {:>4} {:>7} {:>6} {:>7} {:>6}  {}",
            s.campaign.name,
            s.campaign.def.segment,
            s.campaign.def.channel.kind().as_str(),
            trigger,
            s.campaign.version,
            n(Status::Sent),
            n(Status::Owed) + n(Status::Scheduled) + n(Status::Deferred),
            n(Status::Skipped),
            n(Status::Failed),
            s.coupons.map_or("-".to_owned(), |(free, given, redeemed)| {
                format!("{given} given, {redeemed} redeemed, {free} in pool")
            })
        );
    }
}

/// The person behind any of their ids.
fn person_of(reader: &Reader, segments: &Segments, id: &str) -> anyhow::Result<i64> {
    let person = reader
        .resolve_id(id)?
        .with_context(|| format!("no person with id {id:?}"))?;
    Ok(segments.resolve(person))
}

/// `campaigns.db` and the person behind any of their ids.
fn db_and_person(data: &Path, id: &str) -> anyhow::Result<(CampaignDb, i64)> {
    let reader = Reader::open(data)?;
    let person = reader
        .resolve_id(id)?
        .with_context(|| format!("no person with id {id:?}"))?;
    Ok((CampaignDb::open(data)?, person))
}

/// Decides as the server would, from what is recorded.
fn with_env<T>(
    data: &Path,
    f: impl FnOnce(&Env<'_>, &CampaignDb, &Reader, &Segments) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let reader = Reader::open(data)?;
    let segments = Segments::open(&reader, Some(data))?;
    let live = LiveDb::open(data)?;
    let db = CampaignDb::open(data)?;
    let now = now_millis();
    let members = Recorded { db: &live, at: now };
    let shop = seglab_campaign::best::compute(&segments, now);
    let secret = db.tracking_secret()?;
    let tokens = Tokens::new(secret.as_bytes());
    let env = Env {
        reader: &reader,
        segments: &segments,
        members: &members,
        shop: &shop,
        base_url: "http://127.0.0.1:8080",
        tokens: &tokens,
    };
    f(&env, &db, &reader, &segments)
}

pub fn run(data: &Path, cmd: CampaignsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CampaignsCommand::Check { paths } => {
            let files = read_sources(&paths, "toml")?;
            let reader = Reader::create(data)?;
            let Some(checked) = checked_or_report(&reader, &files)? else {
                return Ok(ExitCode::FAILURE);
            };
            println!(
                "{} campaigns{} in {} files: ok",
                checked.definitions.campaigns.len(),
                if checked.definitions.policy.is_some() {
                    " and a policy"
                } else {
                    ""
                },
                files.len()
            );
        }
        CampaignsCommand::Apply { paths } => {
            let files = read_sources(&paths, "toml")?;
            let reader = Reader::create(data)?;
            let Some(checked) = checked_or_report(&reader, &files)? else {
                return Ok(ExitCode::FAILURE);
            };
            let mut db = CampaignDb::open(data)?;
            for (name, a) in code::apply(&mut db, &checked, now_millis())? {
                println!("{name:<24} {}", applied(a));
            }
        }
        CampaignsCommand::Diff { paths } => {
            let files = read_sources(&paths, "toml")?;
            let reader = Reader::create(data)?;
            let Some(checked) = checked_or_report(&reader, &files)? else {
                return Ok(ExitCode::FAILURE);
            };
            let db = CampaignDb::open(data)?;
            let live = LiveDb::open(data)?;
            let members = Recorded {
                db: &live,
                at: now_millis(),
            };
            println!("{:<24} {:<10} {:>9}", "campaign", "status", "audience");
            for d in code::diff(&db, &checked, &members)? {
                println!("{:<24} {:<10} {:>9}", d.name, d.status, d.audience);
            }
        }
        CampaignsCommand::List => {
            Reader::open(data)?;
            let db = CampaignDb::open(data)?;
            print_list(&code::list(&db)?);
        }
        CampaignsCommand::Preview { name, person } => {
            with_env(data, |env, db, reader, segments| {
                let person = person_of(reader, segments, &person)?;
                let templates = Mutex::new(Default::default());
                let p = seglab_campaign::service::preview(
                    env,
                    db,
                    &templates,
                    &name,
                    person,
                    now_millis(),
                )?;
                let d = &p.decision;
                println!("campaign  {}", p.campaign);
                println!(
                    "person    {} ({})",
                    p.person,
                    if p.member {
                        "in the segment"
                    } else {
                        "not in the segment"
                    }
                );
                println!(
                    "decision  {} — {} ({})",
                    d.status.as_str(),
                    d.explanation,
                    d.rule
                );
                let fields = [
                    ("variant", &d.variant),
                    ("ladder", &d.step),
                    ("to", &d.address),
                    ("coupon", &d.coupon),
                    ("subject", &d.subject),
                ];
                for (label, value) in fields {
                    if let Some(v) = value {
                        println!("{label:<9} {v}");
                    }
                }
                for body in [&d.text, &d.html].into_iter().flatten() {
                    println!("\n{body}");
                }
                Ok(())
            })?;
        }
        CampaignsCommand::Why { name, person } => {
            with_env(data, |env, db, reader, segments| {
                let person = person_of(reader, segments, &person)?;
                let sends = db.sends(&LedgerFilter {
                    campaign: Some(name.clone()),
                    person: Some(person),
                    limit: 1_000,
                    ..LedgerFilter::default()
                })?;
                if sends.is_empty() {
                    println!("{name}: nothing recorded for person {person}");
                }
                for s in &sends {
                    println!(
                        "{} {:<9} {} — {} ({})",
                        format_timestamp(s.decided_at.unwrap_or(s.created_at)),
                        s.status.as_str(),
                        s.instance,
                        s.explanation.as_deref().unwrap_or("not decided yet"),
                        s.rule.as_deref().unwrap_or("-"),
                    );
                }
                let templates = Mutex::new(Default::default());
                let p = seglab_campaign::service::preview(
                    env,
                    db,
                    &templates,
                    &name,
                    person,
                    now_millis(),
                )?;
                println!(
                    "now: {} — {} ({})",
                    p.decision.status.as_str(),
                    p.decision.explanation,
                    p.decision.rule
                );
                Ok(())
            })?;
        }
        CampaignsCommand::Coupons { name, file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let codes: Vec<String> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect();
            Reader::open(data)?;
            let mut db = CampaignDb::open(data)?;
            anyhow::ensure!(db.campaign(&name)?.is_some(), "no campaign named {name:?}");
            let added = db.add_pool_codes(&name, &codes)?;
            println!("{added} new codes of {} in the pool of {name}", codes.len());
        }
        CampaignsCommand::Suppress { channel, .. }
        | CampaignsCommand::Unsuppress { channel, .. }
            if !["email", "webhook", "onsite", "any"].contains(&channel.as_str()) =>
        {
            anyhow::bail!("--channel {channel:?}: expected email, webhook, onsite or any");
        }
        CampaignsCommand::Suppress { person, channel } => {
            let (db, id) = db_and_person(data, &person)?;
            db.suppress(id, &channel, "listed", now_millis())?;
            for s in db.suppressions_of(id)? {
                println!(
                    "person {id}: suppressed on {} ({}, since {})",
                    s.channel,
                    s.reason,
                    format_timestamp(s.at)
                );
            }
        }
        CampaignsCommand::Unsuppress { person, channel } => {
            let (db, id) = db_and_person(data, &person)?;
            anyhow::ensure!(
                db.unsuppress(id, &channel)?,
                "person {id} is not suppressed on {channel}"
            );
            println!("person {id}: no longer suppressed on {channel}");
        }
        CampaignsCommand::InstallStarter => {
            let reader = Reader::create(data)?;
            let mut db = CampaignDb::open(data)?;
            for (name, a) in install_starter(&reader, &mut db)? {
                println!("{name:<24} {}", applied(a));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

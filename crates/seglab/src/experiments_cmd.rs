//! `seglab experiments …`: every campaign with more than one message or a
//! holdout is an experiment; its results read the exposures and goals from
//! the store (beside a running server too).

use std::path::Path;

use seglab_campaign::db::CampaignDb;
use seglab_campaign::experiment::{self, Results};
use seglab_campaign::members::Recorded;
use seglab_event::time::now_millis;
use seglab_live::LiveDb;
use seglab_segments::Segments;
use seglab_store::Reader;

#[derive(Debug, clap::Subcommand)]
pub enum ExperimentsCommand {
    /// Campaigns that are experiments, with their arms and planned shares.
    List,
    /// Estimates, intervals, chance to win, sample ratio check and a hint.
    Results {
        name: String,
        /// Only people in this segment now.
        #[arg(long)]
        segment: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a message the campaign's only one (a new version, no holdout).
    Ship { name: String, variant: String },
    /// What all marketing campaigns together earn: the global holdout against everyone else.
    Global {
        /// Over the last this many days.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

fn pct(x: f64) -> String {
    format!("{:.2} %", x * 100.0)
}

/// Prints results as tables.
pub fn print(r: &Results) {
    println!(
        "experiment {}{}: goal {} within {} days",
        r.experiment,
        r.segment
            .as_deref()
            .map(|s| format!(" (segment {s})"))
            .unwrap_or_default(),
        r.goal,
        r.window_days
    );
    println!(
        "\n{:<16} {:>9} {:>11} {:>10} {:>12} {:>14}",
        "arm", "exposed", "conversions", "rate", "revenue", "per person"
    );
    for a in &r.arms {
        println!(
            "{:<16} {:>9} {:>11} {:>10} {:>12.2} {:>14.2}",
            a.arm,
            a.exposed,
            a.conversions,
            pct(a.conversion_rate),
            a.revenue,
            a.revenue_per_person
        );
    }
    if !r.comparisons.is_empty() {
        println!(
            "\n{:<16} {:<10} {:>9} {:>22} {:>8} {:>8} {:>8} {:>22}",
            "vs control",
            "metric",
            "lift",
            "lift 95 % interval",
            "p",
            "p (Holm)",
            "P(win)",
            "always-valid interval"
        );
        for c in &r.comparisons {
            println!(
                "{:<16} {:<10} {:>9} {:>22} {:>8.4} {:>8.4} {:>8} {:>22}{}",
                format!("{} vs {}", c.arm, c.control),
                c.metric,
                format!("{:+.1} %", c.lift * 100.0),
                format!(
                    "[{:+.1} %, {:+.1} %]",
                    c.lift_interval[0] * 100.0,
                    c.lift_interval[1] * 100.0
                ),
                c.p_value,
                c.p_adjusted,
                format!("{:.0} %", c.chance_to_win * 100.0),
                format!(
                    "[{:+.4}, {:+.4}]",
                    c.sequential_interval[0], c.sequential_interval[1]
                ),
                if c.sequential_significant { " *" } else { "" }
            );
        }
    }
    if !r.by_segment.is_empty() {
        println!(
            "\n{:<24} {:>9} {:>22} {:>22}",
            "segment", "exposed", "raw (interval)", "shrunk (interval)"
        );
        for s in &r.by_segment {
            println!(
                "{:<24} {:>9} {:>22} {:>22}",
                s.segment,
                s.exposed,
                format!(
                    "{:+.4} [{:+.3}, {:+.3}]",
                    s.raw_lift, s.raw_interval[0], s.raw_interval[1]
                ),
                format!(
                    "{:+.4} [{:+.3}, {:+.3}]",
                    s.shrunk_lift, s.shrunk_interval[0], s.shrunk_interval[1]
                ),
            );
        }
    }
    match r.srm_p_value {
        Some(p) if r.srm_alert => println!("\nsample ratio MISMATCH (p = {p:.2e})"),
        Some(p) => println!("\nsample ratio ok (p = {p:.3})"),
        None => {}
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    println!("\n{}", r.hint);
}

pub fn run(data: &Path, cmd: ExperimentsCommand) -> anyhow::Result<()> {
    match cmd {
        ExperimentsCommand::List => {
            Reader::open(data)?;
            let db = CampaignDb::open(data)?;
            println!("{:<24} {:<22} {:<10} arms", "experiment", "segment", "goal");
            for c in db.campaigns()? {
                let d = &c.def;
                if d.messages.len() < 2 && d.holdout == 0 {
                    continue;
                }
                let mut arms: Vec<String> = d
                    .messages
                    .iter()
                    .map(|m| format!("{} {} %", m.name, m.weight))
                    .collect();
                if d.holdout > 0 {
                    arms.insert(0, format!("holdout {} %", d.holdout));
                }
                println!(
                    "{:<24} {:<22} {:<10} {}",
                    c.name,
                    d.segment,
                    d.goal.as_ref().map_or("-", |g| g.event.as_str()),
                    arms.join(", ")
                );
            }
        }
        ExperimentsCommand::Results {
            name,
            segment,
            json,
        } => {
            let reader = Reader::open(data)?;
            let db = CampaignDb::open(data)?;
            let c = db
                .campaign(&name)?
                .ok_or_else(|| anyhow::anyhow!("no campaign named {name:?}"))?;
            let segments = Segments::open(&reader, Some(data))?;
            let live = LiveDb::open(data)?;
            let members = Recorded {
                db: &live,
                at: now_millis(),
            };
            if let Some(s) = &segment {
                anyhow::ensure!(
                    reader.segments()?.iter().any(|r| &r.name == s),
                    "no segment named {s:?}"
                );
            }
            let names: Vec<String> = reader.segments()?.into_iter().map(|r| r.name).collect();
            let r = experiment::results(&segments, &members, &c.def, segment.as_deref(), &names);
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print(&r);
            }
        }
        ExperimentsCommand::Global { days } => {
            let reader = Reader::open(data)?;
            let db = CampaignDb::open(data)?;
            let share = db.policy()?.global_holdout;
            let segments = Segments::open(&reader, Some(data))?;
            let g = experiment::global(&segments, share, days, now_millis());
            println!("global holdout: {share} % of everyone, orders of the last {days} days\n");
            println!(
                "{:<16} {:>9} {:>11} {:>10} {:>12} {:>14}",
                "group", "people", "buyers", "rate", "revenue", "per person"
            );
            for a in [&g.holdout, &g.reached] {
                println!(
                    "{:<16} {:>9} {:>11} {:>10} {:>12.2} {:>14.2}",
                    a.arm,
                    a.exposed,
                    a.conversions,
                    pct(a.conversion_rate),
                    a.revenue,
                    a.revenue_per_person
                );
            }
            for c in &g.comparisons {
                println!(
                    "{} lift {:+.1} % [{:+.1} %, {:+.1} %], p = {:.4}",
                    c.metric,
                    c.lift * 100.0,
                    c.lift_interval[0] * 100.0,
                    c.lift_interval[1] * 100.0,
                    c.p_value
                );
            }
            if let Some(inc) = g.incremental_revenue {
                println!("\nincremental revenue of campaigns: {inc:+.2}");
            }
            for n in &g.notes {
                println!("note: {n}");
            }
        }
        ExperimentsCommand::Ship { name, variant } => {
            Reader::open(data)?;
            let mut db = CampaignDb::open(data)?;
            let applied = seglab_campaign::code::ship(&mut db, &name, &variant, now_millis())?;
            println!(
                "{name}: {variant} is now its only message, {}",
                crate::campaigns_cmd::applied(applied)
            );
        }
    }
    Ok(())
}

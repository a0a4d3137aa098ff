//! `seglab insights …`: a segment's figures, the RFM grid, overlaps,
//! families and the guardrails, as tables with bars and heat characters; and
//! the guardrail warnings `seglab segments check` prints. Members are
//! evaluated at the moment the command runs; history comes from `live.db`
//! (recorded by `seglab serve`), when there is one.

use std::path::Path;

use seglab_event::time::now_millis;
use seglab_insights::{Evaluated, Guardrail, History, Insights, NoHistory, Overlap, Thresholds};
use seglab_lang::ast::Condition;
use seglab_segments::Segments;
use seglab_store::Reader;

use crate::live_cmd::bar;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InsightsArgs {
    #[command(subcommand)]
    pub command: Option<InsightsCommand>,
    /// A segment: size and share now and per day, revenue, average order,
    /// conversion and email engagement.
    pub segment: Option<String>,
    /// Days of history shown for a segment, ending today.
    #[arg(long, default_value_t = seglab_insights::DEFAULT_DAYS)]
    pub days: u32,
}

#[derive(Debug, clap::Subcommand)]
pub enum InsightsCommand {
    /// Buyers and revenue in each cell of the 5×5 recency × frequency grid.
    Rfm,
    /// People in both and the Jaccard index of every pair of segments (all when none is named).
    Overlap { names: Vec<String> },
    /// A mutually exclusive family: each person in the first of the segments (in this order) that holds them.
    Families {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Warnings: too small to test, near-duplicates, stale, small but valuable (all segments when none is named).
    Guardrails {
        names: Vec<String>,
        /// The relative lift a test should detect (0.1 is +10 %).
        #[arg(long, default_value_t = seglab_insights::guardrails::LIFT)]
        lift: f64,
        /// The weeks a test may run.
        #[arg(long, default_value_t = seglab_insights::guardrails::WEEKS)]
        weeks: u32,
    },
}

/// The recorded history of the data folder, if `seglab serve` ever ran on it.
fn history(data: &Path) -> anyhow::Result<Box<dyn History>> {
    if data.join(seglab_live::db::LIVE_DB_FILE).exists() {
        Ok(Box::new(seglab_live::LiveDb::open(data)?))
    } else {
        Ok(Box::new(NoHistory))
    }
}

pub fn run(data: &Path, args: InsightsArgs) -> anyhow::Result<()> {
    let reader = Reader::create(data)?;
    let segments = Segments::open(&reader, Some(data))?;
    let now = now_millis();
    let members = Evaluated::saved(&segments, now)?;
    let history = history(data)?;
    let insights = Insights::new(&segments, &members, history.as_ref());
    match (args.command, args.segment) {
        (Some(InsightsCommand::Rfm), _) => print_rfm(&insights, now),
        (Some(InsightsCommand::Overlap { names }), _) => {
            print_overlap(&insights.overlap(&names)?);
        }
        (Some(InsightsCommand::Families { names }), _) => {
            let f = insights.families(&names)?;
            let max = f.families.iter().map(|x| x.first).max().unwrap_or(0);
            println!(
                "{} people; each in the first segment that holds them",
                f.people
            );
            println!(
                "{:<24} {:>9} {:>9} {:>7}",
                "segment", "members", "first", "share"
            );
            for x in &f.families {
                println!(
                    "{:<24} {:>9} {:>9} {:>6.1}%  {}",
                    x.segment,
                    x.members,
                    x.first,
                    x.share * 100.0,
                    bar(x.first, max, 30)
                );
            }
            println!("{:<24} {:>9} {:>9}", "(in none)", "", f.unassigned);
        }
        (Some(InsightsCommand::Guardrails { names, lift, weeks }), _) => {
            let t = Thresholds {
                lift,
                weeks,
                ..Thresholds::default()
            };
            let list = insights.guardrails(&names, now, &t)?;
            if list.is_empty() {
                println!("no warnings");
            }
            for g in &list {
                println!("{}", warning(g));
            }
        }
        (None, Some(name)) => print_segment(&insights, &name, now, args.days)?,
        (None, None) => anyhow::bail!(
            "name a segment, or one of: rfm, overlap, families, guardrails (see --help)"
        ),
    }
    Ok(())
}

/// `warning[kind] segment: message`.
fn warning(g: &Guardrail) -> String {
    format!("warning[{}] {}: {}", g.kind.as_str(), g.segment, g.message)
}

/// Prints the guardrail warnings of the definitions just checked (to
/// stderr, after the diagnostics); a failure to compute them is a warning
/// too, never an error.
pub fn print_check_warnings(data: &Path, segments: &Segments, defs: Vec<(String, Condition)>) {
    let result = (|| -> anyhow::Result<Vec<Guardrail>> {
        let now = now_millis();
        let names: Vec<String> = defs.iter().map(|(n, _)| n.clone()).collect();
        let members = Evaluated::with(segments, &defs, now)?;
        let history = history(data)?;
        let insights = Insights::new(segments, &members, history.as_ref()).with_definitions(defs);
        Ok(insights.guardrails(&names, now, &Thresholds::default())?)
    })();
    match result {
        Ok(list) => {
            for g in &list {
                eprintln!("{}", warning(g));
            }
        }
        Err(e) => eprintln!("warning: the guardrails could not be computed: {e:#}"),
    }
}

/// `-` for what is not defined.
fn or_dash(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or_else(|| "-".to_owned(), f)
}

fn print_segment(insights: &Insights<'_>, name: &str, now: i64, days: u32) -> anyhow::Result<()> {
    let s = insights.segment(name, now, days)?;
    println!(
        "{} at {}: {} members, {:.1} % of {} people",
        s.segment,
        s.at,
        s.size,
        s.share * 100.0,
        s.people
    );
    let o = &s.orders;
    println!();
    println!("orders, last {} days", o.window_days);
    println!(
        "  revenue          {:>12.2}  ({} orders)",
        o.revenue, o.orders
    );
    println!(
        "  per member       {:>12}",
        or_dash(o.revenue_per_member, |x| format!("{x:.2}"))
    );
    println!(
        "  average order    {:>12}",
        or_dash(o.average_order_value, |x| format!("{x:.2}"))
    );
    println!(
        "  conversion       {:>12}  ({} of {} members ordered)",
        or_dash(o.conversion_rate, |x| format!("{:.1} %", x * 100.0)),
        o.buyers,
        s.size
    );
    let e = &s.email;
    println!("email, last {} days", e.window_days);
    println!(
        "  engagement       {:>12}  ({} of the {} members emailed opened or clicked)",
        or_dash(e.engagement_rate, |x| format!("{:.1} %", x * 100.0)),
        e.engaged,
        e.delivered
    );
    if !s.days.is_empty() {
        let max = s.days.iter().map(|d| d.size).max().unwrap_or(0);
        println!();
        println!(
            "{:<10} {:>9} {:>9} {:>10} {:>7}",
            "day", "entered", "exited", "size", "share"
        );
        for d in &s.days {
            println!(
                "{:<10} {:>9} {:>9} {:>10} {:>6.1}%  {}",
                d.day,
                format!("+{}", d.entered),
                format!("-{}", d.exited),
                d.size,
                d.share * 100.0,
                bar(d.size, max, 30)
            );
        }
    }
    for n in &s.notes {
        println!("note: {n}");
    }
    Ok(())
}

/// A heat character for `value` out of `max`: blank, then ░ ▒ ▓ █.
fn heat(value: f64, max: f64) -> char {
    if value <= 0.0 || max <= 0.0 {
        return '·';
    }
    const SHADES: [char; 4] = ['░', '▒', '▓', '█'];
    let i = ((value / max) * 4.0).ceil() as usize;
    SHADES[i.clamp(1, 4) - 1]
}

fn print_rfm(insights: &Insights<'_>, now: i64) {
    let g = insights.rfm_grid(now);
    println!(
        "RFM at {}: {} buyers, revenue {:.2}",
        g.at, g.buyers, g.revenue
    );
    println!("buyers per cell (R: recency, 5 = most recent; F: frequency, 5 = most orders)");
    let max = g.cells.iter().map(|c| c.people).max().unwrap_or(0) as f64;
    print!("{:>5}", "");
    for f in 1..=5 {
        print!("{:>10}", format!("F={f}"));
    }
    println!();
    for row in g.cells.chunks(5) {
        print!("{:>5}", format!("R={}", row[0].r));
        for c in row {
            print!(
                "{:>10}",
                format!("{} {}", heat(c.people as f64, max), c.people)
            );
        }
        println!();
    }
    println!();
    println!(
        "{:<20} {:>8} {:>7} {:>12} {:>7}",
        "cell", "buyers", "share", "revenue", "share"
    );
    let top = g.named.iter().map(|c| c.people).max().unwrap_or(0);
    for c in &g.named {
        println!(
            "{:<20} {:>8} {:>6.1}% {:>12.2} {:>6.1}%  {}",
            c.cell,
            c.people,
            c.share_of_buyers * 100.0,
            c.revenue,
            c.share_of_revenue * 100.0,
            bar(c.people, top, 20)
        );
    }
}

/// Pairs listed under the heat map.
const TOP_PAIRS: usize = 20;

fn print_overlap(o: &Overlap) {
    let n = o.segments.len();
    println!("Jaccard index of every pair (█ the same people, · none in common)");
    for (i, s) in o.segments.iter().enumerate() {
        let row: String = (0..n).map(|j| heat(o.jaccard[i][j], 1.0)).collect();
        println!("{i:>3} {row}  {} ({})", s.name, s.size);
    }
    let mut pairs: Vec<(usize, usize)> = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .filter(|&(i, j)| o.intersections[i][j] > 0)
        .collect();
    pairs.sort_by(|a, b| o.jaccard[b.0][b.1].total_cmp(&o.jaccard[a.0][a.1]));
    if pairs.is_empty() {
        return;
    }
    println!();
    println!(
        "{:<24} {:<24} {:>9} {:>8}",
        "segment", "and", "in both", "Jaccard"
    );
    for &(i, j) in pairs.iter().take(TOP_PAIRS) {
        println!(
            "{:<24} {:<24} {:>9} {:>8.3}",
            o.segments[i].name, o.segments[j].name, o.intersections[i][j], o.jaccard[i][j]
        );
    }
    if pairs.len() > TOP_PAIRS {
        println!(
            "… and {} more pairs with people in common",
            pairs.len() - TOP_PAIRS
        );
    }
}

//! Live membership from the command line: a segment's history and changes, a
//! person's memberships and why, and webhook subscriptions. These read
//! `live.db`, which `seglab serve` keeps current; they work beside it.

use std::path::Path;

use anyhow::Context;
use seglab_event::time::{format_timestamp, now_millis};
use seglab_live::webhook::{self, NewSubscription};
use seglab_live::{ChangeFilter, LiveDb};
use seglab_store::Reader;

const DAY: i64 = 86_400_000;

#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// Subscribe a URL to entries and exits (prints the signing secret once).
    Add {
        url: String,
        /// Only this segment (repeat for several; default: every segment).
        #[arg(long = "segment", value_name = "NAME")]
        segments: Vec<String>,
        /// Only entries or only exits: `entered`, `exited` (default: both).
        #[arg(long = "on", value_name = "KIND")]
        on: Vec<String>,
    },
    /// List subscriptions with their delivery counts.
    List,
    /// Remove a subscription (its pending deliveries are dropped).
    Remove { id: i64 },
}

/// `live.db` of the data folder (which must hold a store).
fn live_db(data: &Path) -> anyhow::Result<LiveDb> {
    Reader::open(data)?;
    Ok(LiveDb::open(data)?)
}

/// A bar of `width` cells for `value` out of `max`.
pub(crate) fn bar(value: u64, max: u64, width: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let eighths = (value as f64 / max as f64 * width as f64 * 8.0).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push([' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8]);
    }
    s
}

/// `seglab segments history NAME`: per day, entered, exited and size, with a
/// bar of the size.
pub fn segment_history(data: &Path, name: &str, days: u32) -> anyhow::Result<()> {
    let db = live_db(data)?;
    let to = now_millis();
    let from = to - i64::from(days.max(1) - 1) * DAY;
    let rows = db.daily(name, from, to)?;
    let max = rows.iter().map(|d| d.size).max().unwrap_or(0);
    println!("{name}: size at the end of each UTC day");
    println!(
        "{:<10} {:>9} {:>9} {:>10}",
        "day", "entered", "exited", "size"
    );
    for d in &rows {
        println!(
            "{:<10} {:>9} {:>9} {:>10}  {}",
            d.day,
            format!("+{}", d.entered),
            format!("-{}", d.exited),
            d.size,
            bar(d.size, max, 40)
        );
    }
    Ok(())
}

fn print_changes(changes: &[seglab_live::Change]) {
    println!(
        "{:>8}  {:<24} {:<20} {:>10}  {:<8} cause",
        "id", "at", "segment", "person", "change"
    );
    for c in changes {
        println!(
            "{:>8}  {:<24} {:<20} {:>10}  {:<8} {}{}",
            c.id,
            format_timestamp(c.at),
            c.segment,
            c.person,
            if c.entered { "entered" } else { "exited" },
            c.cause.as_str(),
            c.event_seq
                .map(|s| format!(" (event #{s})"))
                .unwrap_or_default()
        );
    }
}

/// `seglab segments members NAME [--at T]`: members as recorded then.
pub fn segment_members(data: &Path, name: &str, at: i64, limit: usize) -> anyhow::Result<()> {
    let db = live_db(data)?;
    let members = db.members_at(name, at)?;
    println!(
        "{name} at {}: {} members",
        format_timestamp(at),
        members.len()
    );
    for p in members.iter().take(limit) {
        println!("{p}");
    }
    Ok(())
}

/// `seglab segments changes NAME`.
pub fn segment_changes(data: &Path, name: &str, after: i64, limit: usize) -> anyhow::Result<()> {
    let db = live_db(data)?;
    let changes = db.changes(&ChangeFilter {
        segment: Some(name.to_owned()),
        after,
        limit,
        ..ChangeFilter::default()
    })?;
    print_changes(&changes);
    Ok(())
}

fn person_id(reader: &Reader, id: &str) -> anyhow::Result<i64> {
    reader
        .resolve_id(id)?
        .with_context(|| format!("no person with id {id:?}"))
}

/// `seglab people segments ID [--at T]`: memberships (now or at `at`) and the
/// person's membership timeline.
pub fn person_segments(data: &Path, id: &str, at: Option<i64>) -> anyhow::Result<()> {
    let reader = Reader::open(data)?;
    let person = person_id(&reader, id)?;
    let db = live_db(data)?;
    let when = at.unwrap_or_else(now_millis);
    let segments = db.segments_at(person, when)?;
    println!(
        "person {person} at {}: {}",
        format_timestamp(when),
        if segments.is_empty() {
            "in no segment".to_owned()
        } else {
            segments.join(", ")
        }
    );
    let changes = db.timeline(person)?;
    println!();
    print_changes(&changes);
    Ok(())
}

/// `seglab people explain ID SEGMENT [--at T]`.
pub fn explain(data: &Path, id: &str, segment: &str, at: Option<i64>) -> anyhow::Result<()> {
    let reader = Reader::open(data)?;
    let person = person_id(&reader, id)?;
    let segments = seglab_segments::Segments::open(&reader, Some(data))?;
    let person = segments.resolve(person);
    let at = at.unwrap_or_else(now_millis);
    let e = segments.explain(person, segment, at)?;
    println!(
        "person {person} is {} {segment} at {}",
        if e.holds { "IN" } else { "NOT in" },
        format_timestamp(at)
    );
    print!("{}", render(&e, 0));
    Ok(())
}

/// An explanation as an indented tree: each condition with ✓ or ✗, then the
/// events that decided it.
pub fn render(e: &seglab_engine::Explanation, depth: usize) -> String {
    let pad = "  ".repeat(depth);
    let mut out = format!(
        "{pad}{} {}",
        if e.holds { "✓" } else { "✗" },
        e.condition.trim()
    );
    if let Some(v) = &e.value {
        out += &format!("   [{v}]");
    }
    if let Some(r) = &e.rfm {
        out += &format!("   [R{} F{} M{}: {}]", r.r, r.f, r.m, r.cell);
    }
    if let Some(w) = &e.window {
        out += &format!(
            "   [{} … {}]",
            format_timestamp(w.from),
            format_timestamp(w.to)
        );
    }
    if let Some(t) = e.next_change {
        out += &format!("   (can change at {})", format_timestamp(t));
    }
    out.push('\n');
    for ev in &e.events {
        out += &format!(
            "{pad}    {} {}{} {}\n",
            format_timestamp(ev.time),
            ev.role.map(|r| format!("[{r}] ")).unwrap_or_default(),
            ev.name,
            ev.properties
        );
    }
    if e.event_count > e.events.len() {
        out += &format!("{pad}    … {} events in all\n", e.event_count);
    }
    for c in &e.children {
        out += &render(c, depth + 1);
    }
    out
}

pub fn webhooks(data: &Path, cmd: WebhooksCommand) -> anyhow::Result<()> {
    let db = live_db(data)?;
    match cmd {
        WebhooksCommand::Add { url, segments, on } => {
            let reader = Reader::open(data)?;
            let known = reader.segments()?;
            for s in &segments {
                anyhow::ensure!(known.iter().any(|r| r.name == *s), "no segment named {s:?}");
            }
            let sub = webhook::subscribe(
                &db,
                &NewSubscription {
                    url,
                    segments: (!segments.is_empty()).then_some(segments),
                    events: (!on.is_empty()).then_some(on),
                },
                now_millis(),
            )?;
            println!("webhook {} → {}", sub.id, sub.url);
            println!(
                "signing secret (shown once): {}",
                sub.secret.unwrap_or_default()
            );
            println!("a running server picks it up at its next change");
        }
        WebhooksCommand::List => {
            println!(
                "{:>4}  {:<40} {:<24} {:<15} {:>9} {:>8} {:>7}",
                "id", "url", "segments", "on", "delivered", "pending", "failed"
            );
            for s in webhook::list(&db)? {
                let st = webhook::stats(&db, s.id)?;
                let on = match (s.entered, s.exited) {
                    (true, true) => "entered,exited",
                    (true, false) => "entered",
                    _ => "exited",
                };
                println!(
                    "{:>4}  {:<40} {:<24} {:<15} {:>9} {:>8} {:>7}",
                    s.id,
                    s.url,
                    s.segments
                        .map(|v| v.join(","))
                        .unwrap_or_else(|| "*".into()),
                    on,
                    st.delivered,
                    st.pending,
                    st.failed
                );
            }
        }
        WebhooksCommand::Remove { id } => {
            anyhow::ensure!(
                webhook::unsubscribe(&db, id, now_millis())?,
                "no webhook {id}"
            );
            println!("removed webhook {id}");
        }
    }
    Ok(())
}

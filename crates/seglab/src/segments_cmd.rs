//! `seglab segments …`: segments as code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use seglab_event::Millis;
use seglab_event::time::{format_timestamp, now_millis, parse_timestamp};
use seglab_segments::{Evaluation, STARTER, Segments};
use seglab_store::{Reader, SaveOutcome};

#[derive(Debug, clap::Subcommand)]
pub enum SegmentsCommand {
    /// Validate .seg files (a folder or files); exit code 1 on any error. The
    /// guardrails of the segments (too small, near-duplicates, stale, small but
    /// valuable) follow as warnings.
    Check {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Create or update the segments of .seg files (every change is a new version).
    Apply {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// What applying would change: definitions, and who would enter (+) and leave (−).
    Diff {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Evaluate at this instant (ISO-8601) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Size, share of people and sample members of saved segments (all when no name is given).
    Eval {
        names: Vec<String>,
        /// Evaluate at this instant (ISO-8601) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
    /// Install the starter segments (recent, repeat and new buyers, cart abandoners, RFM cells, …).
    InstallStarter,
    /// List saved segments with their versions.
    List,
    /// Entries, exits and size per day (recorded by the live engine).
    History {
        name: String,
        /// How many days, ending today.
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// Members as recorded at an instant (default now), from the live history.
    Members {
        name: String,
        /// ISO-8601 instant.
        #[arg(long)]
        at: Option<String>,
        /// How many member ids to print.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Recorded entries and exits, oldest first.
    Changes {
        name: String,
        /// Only changes after this id (for paging).
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// The instant `--at` names, or now.
pub fn instant(at: Option<&str>) -> anyhow::Result<Millis> {
    match at {
        None => Ok(now_millis()),
        Some(text) => {
            parse_timestamp(text).with_context(|| format!("--at {text:?} is not an ISO-8601 time"))
        }
    }
}

/// Files named, or found with extension `ext` in named folders (sorted), as
/// (name, source).
pub(crate) fn read_sources(paths: &[PathBuf], ext: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == ext))
                .collect();
            found.sort();
            if found.is_empty() {
                bail!("no .{ext} files in {}", path.display());
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files
        .iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

fn load(data: &Path) -> anyhow::Result<(Reader, Segments)> {
    let reader = Reader::create(data)?;
    let segments = Segments::open(&reader, Some(data))?;
    Ok((reader, segments))
}

/// Prints evaluations as a table.
pub fn print_table(evals: &[Evaluation], people: u64, at: Millis) {
    println!("{} people, at {}", people, format_timestamp(at));
    println!(
        "{:<24} {:<26} {:>9} {:>7}  sample",
        "segment", "title", "members", "share"
    );
    for e in evals {
        let sample: Vec<String> = e.sample.iter().take(5).map(i64::to_string).collect();
        println!(
            "{:<24} {:<26} {:>9} {:>6.1}%  {}",
            e.name,
            e.title
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(26)
                .collect::<String>(),
            e.size,
            e.share * 100.0,
            sample.join(" ")
        );
    }
}

fn outcome(o: &SaveOutcome) -> String {
    match o {
        SaveOutcome::Created { version } => format!("created (version {version})"),
        SaveOutcome::Updated { version } => format!("updated (version {version})"),
        SaveOutcome::Unchanged { version } => format!("unchanged (version {version})"),
    }
}

/// Applies the embedded starter segments.
pub fn install_starter(
    reader: &Reader,
    segments: &Segments,
) -> anyhow::Result<Vec<(String, SaveOutcome)>> {
    let checked = segments.check(reader, STARTER, "starter.seg")?;
    Ok(segments.apply(reader, &checked, STARTER)?)
}

pub fn run(data: &Path, cmd: SegmentsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SegmentsCommand::History { name, days } => {
            crate::live_cmd::segment_history(data, &name, days)?;
        }
        SegmentsCommand::Members { name, at, limit } => {
            let at = instant(at.as_deref())?;
            crate::live_cmd::segment_members(data, &name, at, limit)?;
        }
        SegmentsCommand::Changes { name, after, limit } => {
            crate::live_cmd::segment_changes(data, &name, after, limit)?;
        }
        SegmentsCommand::Check { paths } => {
            let files = read_sources(&paths, "seg")?;
            let (reader, segments) = load(data)?;
            match segments.check_files(&reader, &files) {
                Ok(checked) => {
                    let mut n = 0;
                    for (c, (name, source)) in checked.iter().zip(&files) {
                        n += c.file.segments.len();
                        if !c.warnings.is_empty() {
                            eprint!("{}", seglab_lang::render_all(&c.warnings, source, name));
                        }
                    }
                    let defs = checked
                        .iter()
                        .flat_map(|c| &c.file.segments)
                        .map(|d| (d.name.text.clone(), d.condition.without_spans()))
                        .collect();
                    crate::insights_cmd::print_check_warnings(data, &segments, defs);
                    println!("{n} segments in {} files: ok", files.len());
                }
                Err(seglab_segments::Error::Invalid {
                    rendered,
                    diagnostics,
                }) => {
                    eprint!("{rendered}");
                    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                    eprintln!("{errors} errors");
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => return Err(e.into()),
            }
        }
        SegmentsCommand::Apply { paths } => {
            let files = read_sources(&paths, "seg")?;
            let (reader, segments) = load(data)?;
            let Some(checked) = checked_or_report(&segments, &reader, &files)? else {
                return Ok(ExitCode::FAILURE);
            };
            for (c, (_, source)) in checked.iter().zip(&files) {
                for (name, o) in segments.apply(&reader, c, source)? {
                    println!("{name:<24} {}", outcome(&o));
                }
            }
        }
        SegmentsCommand::Diff { paths, at } => {
            let now = instant(at.as_deref())?;
            let files = read_sources(&paths, "seg")?;
            let (reader, segments) = load(data)?;
            let Some(checked) = checked_or_report(&segments, &reader, &files)? else {
                return Ok(ExitCode::FAILURE);
            };
            {
                for d in segments.diff(&reader, &checked, now)? {
                    let ids = |v: &[i64]| {
                        v.iter()
                            .take(5)
                            .map(i64::to_string)
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    println!(
                        "{:<24} {:<9} {:>8} → {:<8} +{} −{}",
                        d.name, d.status, d.before, d.after, d.entering, d.leaving
                    );
                    if d.entering > 0 {
                        println!("    + {}", ids(&d.entering_sample));
                    }
                    if d.leaving > 0 {
                        println!("    − {}", ids(&d.leaving_sample));
                    }
                }
            }
        }
        SegmentsCommand::Eval { names, at } => {
            let now = instant(at.as_deref())?;
            let (reader, segments) = load(data)?;
            let evals = segments.evaluate(&reader, &names, now)?;
            print_table(&evals, segments.people(), now);
        }
        SegmentsCommand::InstallStarter => {
            let (reader, segments) = load(data)?;
            for (name, o) in install_starter(&reader, &segments)? {
                println!("{name:<24} {}", outcome(&o));
            }
        }
        SegmentsCommand::List => {
            let reader = Reader::create(data)?;
            println!(
                "{:<24} {:>7}  {:<24} title",
                "segment", "version", "updated"
            );
            for r in reader.segments()? {
                println!(
                    "{:<24} {:>7}  {:<24} {}",
                    r.name,
                    r.version,
                    format_timestamp(r.updated_at),
                    r.title.unwrap_or_default()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks `files`; prints every diagnostic and gives `None` when any is an
/// error.
fn checked_or_report(
    segments: &Segments,
    reader: &Reader,
    files: &[(String, String)],
) -> anyhow::Result<Option<Vec<seglab_segments::Checked>>> {
    match segments.check_files(reader, files) {
        Ok(c) => Ok(Some(c)),
        Err(seglab_segments::Error::Invalid { rendered, .. }) => {
            eprint!("{rendered}");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

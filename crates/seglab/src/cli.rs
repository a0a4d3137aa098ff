//! The command line: flags and dispatch. Each command lives in its own module.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use seglab_event::time::format_timestamp;
use seglab_store::{Durability, Reader, Store};

use crate::config::{Config, LogFormat, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "seglab",
    version,
    about = "Behavioral segmentation in one binary",
    propagate_version = true
)]
pub struct Cli {
    /// Data folder.
    #[arg(long, global = true, env = "SEGLAB_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Configuration file (default: ./seglab.toml if it exists).
    #[arg(long, global = true, env = "SEGLAB_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, env = "SEGLAB_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Log level or filter (as RUST_LOG).
    #[arg(long, global = true, env = "SEGLAB_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: ingestion, management API, metrics.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SEGLAB_LISTEN", value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Admin token for the management API (default: generated and kept in the data folder).
        #[arg(long, env = "SEGLAB_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// Events waiting for commit beyond which ingestion answers 429.
        #[arg(long, env = "SEGLAB_MAX_PENDING_EVENTS")]
        max_pending_events: Option<usize>,
        /// Ingestion requests per second per write key beyond which it answers 429 (0: no limit).
        #[arg(long, env = "SEGLAB_RATE_LIMIT", value_name = "PER_SECOND")]
        rate_limit: Option<f64>,
        /// Requests a write key may send at once before its rate applies.
        #[arg(long, env = "SEGLAB_RATE_BURST", value_name = "REQUESTS")]
        rate_burst: Option<u32>,
        /// Load the demo store first when the data folder is empty.
        #[arg(long)]
        demo: bool,
        /// SMTP server for campaign email (`smtp://host:port`).
        #[arg(long, env = "SEGLAB_SMTP", value_name = "URL")]
        smtp: Option<String>,
        /// Sender address of campaign email.
        #[arg(long, env = "SEGLAB_EMAIL_FROM", value_name = "ADDR")]
        email_from: Option<String>,
        /// What links in messages start with (default: http:// and the listen address).
        #[arg(long, env = "SEGLAB_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
        /// Delete events older than this (`400d`, `52w`; `forever`: keep them all).
        #[arg(long, env = "SEGLAB_RETENTION_EVENTS", value_name = "DURATION")]
        retention_events: Option<String>,
        /// How often expired events are deleted.
        #[arg(long, env = "SEGLAB_RETENTION_EVERY", value_name = "DURATION")]
        retention_every: Option<String>,
        /// Export events to ClickHouse and compute memberships there:
        /// clickhouse://HOST[:PORT][,HOST[:PORT]…][/DATABASE][?cluster=NAME].
        #[arg(long, env = "SEGLAB_WAREHOUSE", value_name = "URL")]
        warehouse: Option<String>,
        /// How often memberships are computed in the warehouse.
        #[arg(long, env = "SEGLAB_WAREHOUSE_EVERY", value_name = "DURATION")]
        warehouse_every: Option<String>,
    },
    /// Import past events from NDJSON, Segment batch JSON or CSV files (.gz too).
    Import {
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Manage write keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage admin tokens for the management API and the dashboard.
    Tokens {
        #[command(subcommand)]
        command: crate::tokens_cmd::TokensCommand,
    },
    /// Inspect people.
    People {
        #[command(subcommand)]
        command: PeopleCommand,
    },
    /// Generate a realistic demo store and import it.
    Demo {
        #[command(flatten)]
        spec: DemoArgs,
        /// Write the events to this NDJSON file instead of importing them.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Segments as code: check, apply, diff and evaluate .seg files.
    Segments {
        #[command(subcommand)]
        command: crate::segments_cmd::SegmentsCommand,
    },
    /// Campaigns as code: check, apply, diff, list, preview and explain campaigns/*.toml.
    Campaigns {
        #[command(subcommand)]
        command: crate::campaigns_cmd::CampaignsCommand,
    },
    /// Insights: a segment's figures, the RFM grid, overlaps, families and the guardrails.
    Insights(crate::insights_cmd::InsightsArgs),
    /// Experiments: results of campaigns with several messages or a holdout, and shipping the winner.
    Experiments {
        #[command(subcommand)]
        command: crate::experiments_cmd::ExperimentsCommand,
    },
    /// Webhooks on segment entries and exits.
    Webhooks {
        #[command(subcommand)]
        command: crate::live_cmd::WebhooksCommand,
    },
    /// Back up the data folder into a new folder DEST (works while `seglab serve` runs).
    Backup {
        #[arg(value_name = "DEST")]
        dest: PathBuf,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Restore a backup made by `seglab backup` into a new or empty data folder (`--data`).
    Restore {
        #[arg(value_name = "SRC")]
        src: PathBuf,
        /// No progress bars.
        #[arg(long)]
        quiet: bool,
    },
    /// Benchmarks that print their figures next to a baseline measured in the same run.
    Bench {
        #[command(subcommand)]
        command: seglab_bench::BenchCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a write key and print it.
    Create { name: String },
    /// List write keys.
    List,
    /// Revoke a write key.
    Revoke { key: String },
}

#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// A person's ids, traits and latest events, by any of their ids.
    Show {
        id: String,
        /// How many of the latest events to show.
        #[arg(long, default_value_t = 20)]
        events: usize,
    },
    /// The segments a person is in (now or at `--at`) and their membership timeline.
    Segments {
        id: String,
        /// As recorded at this instant (ISO-8601).
        #[arg(long)]
        at: Option<String>,
    },
    /// Delete a person and everyone merged into them: events, ids, traits, memberships,
    /// webhook deliveries, sends, coupons; later events with their ids are dropped.
    /// Works while `seglab serve` runs (it asks the server).
    Delete {
        /// Any of their ids (user id, anonymous id) or their person id.
        id: String,
        /// Print what was deleted as JSON (the API's answer).
        #[arg(long)]
        json: bool,
        /// The running server's admin token (default: the configured one, else the one kept in
        /// the data folder).
        #[arg(long, env = "SEGLAB_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// Let an id or email address of a deleted person in again (its events start a new person).
    UndeleteId {
        id: String,
        /// As for `delete`.
        #[arg(long, env = "SEGLAB_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// Why a person is in a segment, or not: each condition and the events that decided it.
    Explain {
        id: String,
        segment: String,
        /// At this instant (ISO-8601) instead of now.
        #[arg(long)]
        at: Option<String>,
    },
}

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Number of people.
    #[arg(long, default_value_t = 2_000)]
    pub people: usize,
    /// Days of history, ending now.
    #[arg(long, default_value_t = 90)]
    pub days: u32,
    /// Number of products.
    #[arg(long, default_value_t = 200)]
    pub products: usize,
    /// Number of categories.
    #[arg(long, default_value_t = 12)]
    pub categories: usize,
    /// Random seed (same seed, same store).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Stop after this many events.
    #[arg(long)]
    pub max_events: Option<u64>,
}

impl DemoArgs {
    pub fn spec(&self) -> seglab_demo::DemoSpec {
        seglab_demo::DemoSpec {
            people: self.people,
            days: self.days,
            products: self.products,
            categories: self.categories,
            seed: self.seed,
            max_events: self.max_events,
            ..seglab_demo::DemoSpec::default()
        }
    }
}

/// What the benchmarks run: this executable, and its import in-process.
fn bench_target() -> anyhow::Result<seglab_bench::Seglab> {
    Ok(seglab_bench::Seglab {
        exe: std::env::current_exe()?,
        import: |store, file| {
            let summary = crate::import::import_files(store, &[file.to_owned()], true)?;
            Ok(seglab_bench::Imported {
                accepted: summary.accepted,
                rejected: summary.rejected,
            })
        },
    })
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    seglab_live::webhook::install_tls_provider();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut overrides = Overrides {
        data: cli.data.clone(),
        log_format: cli.log_format,
        log_level: cli.log.clone(),
        ..Overrides::default()
    };
    if let Command::Serve {
        listen,
        admin_token,
        max_pending_events,
        rate_limit,
        rate_burst,
        smtp,
        email_from,
        public_url,
        retention_events,
        retention_every,
        warehouse,
        warehouse_every,
        ..
    } = &cli.command
    {
        overrides.retention_events = retention_events.clone();
        overrides.retention_every = retention_every.clone();
        overrides.warehouse = warehouse.clone();
        overrides.warehouse_every = warehouse_every.clone();
        overrides.listen = *listen;
        overrides.admin_token = admin_token.clone();
        overrides.max_pending_events = *max_pending_events;
        overrides.rate_limit = *rate_limit;
        overrides.rate_burst = *rate_burst;
        overrides.smtp = smtp.clone();
        overrides.email_from = email_from.clone();
        overrides.public_url = public_url.clone();
    }
    if let Command::People {
        command:
            PeopleCommand::Delete { admin_token, .. } | PeopleCommand::UndeleteId { admin_token, .. },
    } = &cli.command
    {
        overrides.admin_token = admin_token.clone();
    }
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    init_logging(&config);
    match cli.command {
        Command::Serve { demo, .. } => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(crate::serve::run(&config, demo))?;
        }
        Command::Import { files, quiet } => {
            let store = Store::open(&config.data, Durability::Normal).with_context(|| {
                format!(
                    "opening {} (stop `seglab serve` on it, or post the file to /v1/import)",
                    config.data.display()
                )
            })?;
            let started = std::time::Instant::now();
            let summary = crate::import::import_files(&store, &files, !quiet)?;
            let secs = started.elapsed().as_secs_f64();
            print!("{}", summary.report());
            println!(
                "took {secs:.1}s ({:.0} lines/s)",
                summary.lines as f64 / secs.max(1e-9)
            );
            if summary.rejected > 0 {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Keys { command } => {
            let reader = Reader::create(&config.data)?;
            match command {
                KeysCommand::Create { name } => println!("{}", reader.create_key(&name)?.key),
                KeysCommand::List => {
                    println!("{:<34} {:<20} {:<26} revoked", "key", "name", "created");
                    for k in reader.list_keys()? {
                        let revoked = k
                            .revoked_at
                            .map(format_timestamp)
                            .unwrap_or_else(|| "-".into());
                        println!(
                            "{:<34} {:<20} {:<26} {revoked}",
                            k.key,
                            k.name,
                            format_timestamp(k.created_at)
                        );
                    }
                }
                KeysCommand::Revoke { key } => {
                    if !reader.revoke_key(&key)? {
                        anyhow::bail!("no active write key {key:?}");
                    }
                    println!("revoked {key}");
                }
            }
        }
        Command::Tokens { command } => crate::tokens_cmd::run(&config.data, command)?,
        Command::People {
            command: PeopleCommand::Show { id, events },
        } => {
            let reader = Reader::open(&config.data)?;
            let person = reader
                .person(&id, events)?
                .with_context(|| format!("no person with id {id:?}"))?;
            println!("{}", serde_json::to_string_pretty(&person.to_json())?);
        }
        Command::People {
            command: PeopleCommand::Delete { id, json, .. },
        } => {
            let deleted = crate::people_cmd::delete(&config, &id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&deleted)?);
            } else {
                print!("{}", crate::people_cmd::summary(&deleted));
            }
        }
        Command::People {
            command: PeopleCommand::UndeleteId { id, .. },
        } => {
            if !crate::people_cmd::undelete_id(&config, &id)? {
                anyhow::bail!("{id:?} is not the id or address of a deleted person");
            }
            println!("{id} is let in again: its events start a new person");
        }
        Command::People {
            command: PeopleCommand::Segments { id, at },
        } => {
            let at = at
                .as_deref()
                .map(|t| crate::segments_cmd::instant(Some(t)))
                .transpose()?;
            crate::live_cmd::person_segments(&config.data, &id, at)?;
        }
        Command::People {
            command: PeopleCommand::Explain { id, segment, at },
        } => {
            let at = at
                .as_deref()
                .map(|t| crate::segments_cmd::instant(Some(t)))
                .transpose()?;
            crate::live_cmd::explain(&config.data, &id, &segment, at)?;
        }
        Command::Webhooks { command } => crate::live_cmd::webhooks(&config.data, command)?,
        Command::Demo { spec, out } => {
            let spec = spec.spec();
            match out {
                Some(path) => {
                    let n = crate::demo_cmd::write(&spec, &path)?;
                    println!("wrote {n} events to {}", path.display());
                }
                None => {
                    let store = Store::open(&config.data, Durability::Normal)?;
                    let summary = crate::demo_cmd::load(&store, &spec, true)?;
                    println!("{} events in {}", summary.accepted, config.data.display());
                    let segments =
                        seglab_segments::Segments::open(store.reader(), Some(&config.data))?;
                    crate::segments_cmd::install_starter(store.reader(), &segments)?;
                    let mut db = seglab_campaign::CampaignDb::open(&config.data)?;
                    for (name, applied) in
                        crate::campaigns_cmd::install_starter(store.reader(), &mut db)?
                    {
                        println!(
                            "campaign {name:<24} {}",
                            crate::campaigns_cmd::applied(applied)
                        );
                    }
                    let now = seglab_event::time::now_millis();
                    let evals = segments.evaluate(store.reader(), &[], now)?;
                    crate::segments_cmd::print_table(&evals, segments.people(), now);
                }
            }
        }
        Command::Segments { command } => return crate::segments_cmd::run(&config.data, command),
        Command::Experiments { command } => crate::experiments_cmd::run(&config.data, command)?,
        Command::Insights(args) => crate::insights_cmd::run(&config.data, args)?,
        Command::Campaigns { command } => {
            return crate::campaigns_cmd::run(&config.data, command);
        }
        Command::Backup { dest, quiet } => {
            let started = std::time::Instant::now();
            let manifest = crate::backup_cmd::backup(&config.data, &dest, !quiet)?;
            print!(
                "{}",
                crate::backup_cmd::backup_report(&manifest, &config.data, &dest, started.elapsed())
            );
        }
        Command::Restore { src, quiet } => {
            let started = std::time::Instant::now();
            let manifest = crate::backup_cmd::restore(&src, &config.data, !quiet)?;
            print!(
                "{}",
                crate::backup_cmd::restore_report(&manifest, &src, &config.data, started.elapsed())
            );
        }
        Command::Bench { command } => seglab_bench::run(command, &bench_target()?)?,
    }
    Ok(ExitCode::SUCCESS)
}

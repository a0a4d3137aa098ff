//! Configuration, layered: defaults < `seglab.toml` < `SEGLAB_*` environment <
//! command-line flags. A newcomer needs none of it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub data: PathBuf,
    pub server: ServerConfig,
    pub ingest: IngestConfig,
    pub email: EmailConfig,
    pub log: LogConfig,
    pub retention: RetentionConfig,
    pub warehouse: WarehouseConfig,
}

/// Memberships computed in ClickHouse (ADR 0018).
#[derive(Debug, Clone, PartialEq)]
pub struct WarehouseConfig {
    /// Where (`None`: the native engine computes memberships).
    pub target: Option<seglab_warehouse::Target>,
    /// How often memberships are computed there.
    pub every: seglab_lang::ast::Duration,
}

impl WarehouseConfig {
    /// What the server needs (`None` without a warehouse).
    pub fn settings(&self) -> Option<seglab_warehouse::Settings> {
        let every = std::time::Duration::from_millis(self.every.millis().max(1) as u64);
        self.target
            .clone()
            .map(|t| seglab_warehouse::Settings::new(t, every))
    }
}

/// How long events are kept (ADR 0016).
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// Events older than this are deleted (`None`: kept forever).
    pub events: Option<seglab_lang::ast::Duration>,
    /// How often a retention pass runs.
    pub every: seglab_lang::ast::Duration,
}

impl RetentionConfig {
    /// `forever` (or `off`, `none`, `0`) keeps every event; anything else is a
    /// duration as in the segment language.
    fn parse_events(text: &str) -> anyhow::Result<Option<seglab_lang::ast::Duration>> {
        match text.trim() {
            "forever" | "off" | "none" | "0" | "" => Ok(None),
            t => Ok(Some(t.parse().with_context(|| "retention events")?)),
        }
    }
}

/// Where campaign email goes.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// `smtp://host:port`; without it email campaigns wait.
    pub smtp: Option<String>,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Fixed admin token; when absent one is generated and kept in the store.
    pub admin_token: Option<String>,
    /// What links in messages start with (default: `http://` and the listen
    /// address).
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IngestConfig {
    pub max_pending_events: usize,
    /// Requests per second per write key on the ingestion paths (0: no limit).
    pub rate_limit: f64,
    /// Requests a write key may send at once before its rate applies.
    pub rate_burst: u32,
}

impl IngestConfig {
    /// The server's rate limit (`None` when `rate_limit` is 0 or less).
    pub fn rate(&self) -> Option<seglab_server::RateLimit> {
        (self.rate_limit > 0.0 && self.rate_limit.is_finite()).then_some(seglab_server::RateLimit {
            per_second: self.rate_limit,
            burst: self.rate_burst.max(1),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            data: PathBuf::from("./seglab-data"),
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
                admin_token: None,
                public_url: None,
            },
            ingest: IngestConfig {
                max_pending_events: seglab_server::Limits::default().max_pending_events,
                rate_limit: seglab_server::RateLimit::DEFAULT.per_second,
                rate_burst: seglab_server::RateLimit::DEFAULT.burst,
            },
            email: EmailConfig {
                smtp: None,
                from: "seglab@localhost".into(),
            },
            log: LogConfig {
                format: LogFormat::Text,
                level: "info".into(),
            },
            retention: RetentionConfig {
                events: None,
                every: seglab_lang::ast::Duration {
                    amount: 1,
                    unit: seglab_lang::ast::TimeUnit::Hours,
                },
            },
            warehouse: WarehouseConfig {
                target: None,
                every: seglab_lang::ast::Duration {
                    amount: 1,
                    unit: seglab_lang::ast::TimeUnit::Minutes,
                },
            },
        }
    }
}

/// `seglab.toml`: every field optional, unknown fields refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    #[serde(default)]
    server: FileServer,
    #[serde(default)]
    ingest: FileIngest,
    #[serde(default)]
    email: FileEmail,
    #[serde(default)]
    log: FileLog,
    #[serde(default)]
    retention: FileRetention,
    #[serde(default)]
    warehouse: FileWarehouse,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWarehouse {
    url: Option<String>,
    every: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRetention {
    events: Option<String>,
    every: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileServer {
    listen: Option<SocketAddr>,
    admin_token: Option<String>,
    public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEmail {
    smtp: Option<String>,
    from: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIngest {
    max_pending_events: Option<usize>,
    rate_limit: Option<f64>,
    rate_burst: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

/// Values from the environment or flags (clap reads both: a flag wins over its
/// `SEGLAB_*` variable).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub admin_token: Option<String>,
    pub max_pending_events: Option<usize>,
    pub rate_limit: Option<f64>,
    pub rate_burst: Option<u32>,
    pub public_url: Option<String>,
    pub smtp: Option<String>,
    pub email_from: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log_level: Option<String>,
    pub retention_events: Option<String>,
    pub retention_every: Option<String>,
    pub warehouse: Option<String>,
    pub warehouse_every: Option<String>,
}

impl Config {
    /// Loads `file` (if it exists; an explicitly named file must exist) and applies
    /// the overrides.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Config> {
        let (path, required) = match file {
            Some(p) => (p.to_owned(), true),
            None => (PathBuf::from("seglab.toml"), false),
        };
        let from_file = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("reading {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                FileConfig::default()
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Config::layer(from_file, overrides).with_context(|| format!("reading {}", path.display()))
    }

    fn layer(file: FileConfig, o: &Overrides) -> anyhow::Result<Config> {
        let d = Config::default();
        let retention = RetentionConfig {
            events: match o
                .retention_events
                .as_ref()
                .or(file.retention.events.as_ref())
            {
                Some(text) => RetentionConfig::parse_events(text)?,
                None => d.retention.events,
            },
            every: match o.retention_every.as_ref().or(file.retention.every.as_ref()) {
                Some(text) => text.parse().context("retention every")?,
                None => d.retention.every,
            },
        };
        let warehouse = WarehouseConfig {
            target: match o.warehouse.as_ref().or(file.warehouse.url.as_ref()) {
                Some(url) if url.trim().is_empty() => None,
                Some(url) => Some(url.parse()?),
                None => d.warehouse.target,
            },
            every: match o.warehouse_every.as_ref().or(file.warehouse.every.as_ref()) {
                Some(text) => text.parse().context("warehouse every")?,
                None => d.warehouse.every,
            },
        };
        if warehouse.every.millis() <= 0 {
            anyhow::bail!("warehouse every must be longer than 0");
        }
        Ok(Config {
            retention,
            warehouse,
            data: o.data.clone().or(file.data).unwrap_or(d.data),
            server: ServerConfig {
                listen: o.listen.or(file.server.listen).unwrap_or(d.server.listen),
                admin_token: o
                    .admin_token
                    .clone()
                    .or(file.server.admin_token)
                    .filter(|t| !t.is_empty()),
                public_url: o
                    .public_url
                    .clone()
                    .or(file.server.public_url)
                    .map(|u| u.trim_end_matches('/').to_owned()),
            },
            email: EmailConfig {
                smtp: o.smtp.clone().or(file.email.smtp).filter(|s| !s.is_empty()),
                from: o
                    .email_from
                    .clone()
                    .or(file.email.from)
                    .unwrap_or(d.email.from),
            },
            ingest: IngestConfig {
                max_pending_events: o
                    .max_pending_events
                    .or(file.ingest.max_pending_events)
                    .unwrap_or(d.ingest.max_pending_events),
                rate_limit: o
                    .rate_limit
                    .or(file.ingest.rate_limit)
                    .unwrap_or(d.ingest.rate_limit),
                rate_burst: o
                    .rate_burst
                    .or(file.ingest.rate_burst)
                    .unwrap_or(d.ingest.rate_burst),
            },
            log: LogConfig {
                format: o.log_format.or(file.log.format).unwrap_or(d.log.format),
                level: o
                    .log_level
                    .clone()
                    .or(file.log.level)
                    .unwrap_or(d.log.level),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        assert!(Config::load(Some(&missing), &Overrides::default()).is_err());
        assert_eq!(
            Config::layer(FileConfig::default(), &Overrides::default()).unwrap(),
            Config::default()
        );
    }

    #[test]
    fn flags_beat_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seglab.toml");
        std::fs::write(&path, "data = \"/srv/seglab\"\n[server]\nlisten = \"0.0.0.0:9000\"\n[ingest]\nmax_pending_events = 5\n").unwrap();
        let c = Config::load(Some(&path), &Overrides::default()).unwrap();
        assert_eq!(c.data, PathBuf::from("/srv/seglab"));
        assert_eq!(c.server.listen.port(), 9000);
        assert_eq!(c.ingest.max_pending_events, 5);
        let o = Overrides {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..Overrides::default()
        };
        let c = Config::load(Some(&path), &o).unwrap();
        assert_eq!(c.server.listen.port(), 7000);
        assert_eq!(c.data, PathBuf::from("/srv/seglab"));
    }

    #[test]
    fn the_rate_limit_is_on_by_default_and_zero_turns_it_off() {
        let d = Config::default();
        assert_eq!(d.ingest.rate(), Some(seglab_server::RateLimit::DEFAULT));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seglab.toml");
        std::fs::write(&path, "[ingest]\nrate_limit = 50\nrate_burst = 200\n").unwrap();
        let c = Config::load(Some(&path), &Overrides::default()).unwrap();
        assert_eq!(
            c.ingest.rate(),
            Some(seglab_server::RateLimit {
                per_second: 50.0,
                burst: 200
            })
        );
        let o = Overrides {
            rate_limit: Some(0.0),
            ..Overrides::default()
        };
        let c = Config::load(Some(&path), &o).unwrap();
        assert_eq!(c.ingest.rate(), None);
        let o = Overrides {
            rate_limit: Some(0.5),
            rate_burst: Some(0),
            ..Overrides::default()
        };
        let rate = Config::load(Some(&path), &o)
            .unwrap()
            .ingest
            .rate()
            .unwrap();
        assert_eq!((rate.per_second, rate.burst), (0.5, 1));
    }

    #[test]
    fn retention_is_a_duration_or_forever() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seglab.toml");
        std::fs::write(&path, "[retention]\nevents = \"400d\"\nevery = \"15m\"\n").unwrap();
        let c = Config::load(Some(&path), &Overrides::default()).unwrap();
        assert_eq!(
            c.retention.events.map(|d| d.millis()),
            Some(400 * 86_400_000)
        );
        assert_eq!(c.retention.every.millis(), 15 * 60_000);
        let o = Overrides {
            retention_events: Some("forever".into()),
            ..Overrides::default()
        };
        assert_eq!(
            Config::load(Some(&path), &o).unwrap().retention.events,
            None
        );
        std::fs::write(&path, "[retention]\nevents = \"400 days\"\n").unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&path), &Overrides::default()).unwrap_err()
        );
        assert!(err.contains("not a duration"), "{err}");
    }

    #[test]
    fn the_warehouse_is_a_clickhouse_address_and_a_schedule() {
        assert_eq!(Config::default().warehouse.settings(), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seglab.toml");
        std::fs::write(
            &path,
            "[warehouse]\nurl = \"clickhouse://127.0.0.1:8123/?cluster=seglab\"\nevery = \"5m\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), &Overrides::default()).unwrap();
        let s = c.warehouse.settings().unwrap();
        assert_eq!(s.every, std::time::Duration::from_secs(300));
        assert_eq!(s.target.database, "seglab");
        assert!(matches!(
            s.target.topology,
            seglab_warehouse::Topology::Cluster { .. }
        ));
        let o = Overrides {
            warehouse: Some("clickhouse://10.0.0.1".into()),
            warehouse_every: Some("30s".into()),
            ..Overrides::default()
        };
        let s = Config::load(Some(&path), &o)
            .unwrap()
            .warehouse
            .settings()
            .unwrap();
        assert_eq!(s.target.nodes, vec!["http://10.0.0.1:8123"]);
        assert_eq!(s.every, std::time::Duration::from_secs(30));
        let o = Overrides {
            warehouse: Some("postgres://x".into()),
            ..Overrides::default()
        };
        let err = format!("{:#}", Config::load(Some(&path), &o).unwrap_err());
        assert!(err.contains("must start with clickhouse://"), "{err}");
        std::fs::write(
            &path,
            "[warehouse]\nurl = \"clickhouse://a\"\nevry = \"1m\"\n",
        )
        .unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&path), &Overrides::default()).unwrap_err()
        );
        assert!(err.contains("unknown field `evry`"), "{err}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seglab.toml");
        std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:1\"\nport = 3\n").unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&path), &Overrides::default()).unwrap_err()
        );
        assert!(err.contains("unknown field `port`"), "{err}");
    }
}

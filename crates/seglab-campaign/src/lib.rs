//! Campaigns: the right message or offer to each segment, sent once, with
//! caps, quiet hours and consent (ADR 0007).
//!
//! - [`def`]: what a campaign is, as written in `campaigns/*.toml`.
//! - [`db`]: `campaigns.db`, behind the typed handle [`CampaignDb`]:
//!   definitions and versions, the send ledger, coupons, suppressions.

pub mod db;
pub mod def;
pub mod members;
mod trigger;

pub use db::{CampaignDb, Pool};
pub use def::{CampaignDef, Channel, ChannelKind, Definitions, Policy};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] seglab_store::Error),
    #[error(transparent)]
    Live(#[from] seglab_live::Error),
    #[error(transparent)]
    Segments(#[from] seglab_segments::Error),
    #[error("campaigns.db has schema version {0}, newer than this seglab knows")]
    Schema(usize),
    #[error("campaign state is damaged: {0}")]
    Corrupt(String),
    #[error("{}", .rendered)]
    Invalid {
        diagnostics: Vec<(String, seglab_lang::Diagnostic)>,
        rendered: String,
    },
    #[error("{0}")]
    Refused(String),
    #[error("no campaign named {0:?}")]
    NotFound(String),
    #[error("no person with id {0:?}")]
    NoPerson(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Segments(e) => e.code(),
            Error::Live(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Invalid { diagnostics, .. } => diagnostics
                .iter()
                .map(|(_, d)| d)
                .find(|d| d.is_error())
                .map_or("invalid_campaign", |d| d.code),
            Error::Refused(_) => "invalid_request",
            Error::NotFound(_) | Error::NoPerson(_) => "not_found",
            _ => "storage",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

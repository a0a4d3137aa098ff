//! Real-time segment membership.
//!
//! [`Live`] follows the store: after each commit it re-evaluates only the
//! people whose timelines changed, and a timer queue re-evaluates a person at
//! the next instant one of their answers can change without new events (a
//! buyer leaves "recent buyers" 30 days after the order). Every entry and exit
//! is recorded in `live.db` with its time and cause, together with the webhook
//! deliveries it owes, in one transaction; [`LiveDb`] answers questions about
//! the past and [`webhook`] delivers.

mod change;
pub mod db;
mod eval;
mod live;
pub mod rounds;
mod runner;
pub mod webhook;

pub use change::{Cause, Change, UnknownCause};
pub use db::{ChangeFilter, Day, Entries, Forgotten, LiveDb, Pool};
pub use live::{Evaluated, Live, Mode, Stepped};
pub use runner::{RetentionPass, Runner};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] seglab_store::Error),
    #[error(transparent)]
    Segments(#[from] seglab_segments::Error),
    #[error(transparent)]
    Engine(#[from] seglab_engine::EngineError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("live state is damaged: {0}")]
    Corrupt(String),
    #[error("no segment named {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Segments(e) => e.code(),
            Error::NotFound(_) => "not_found",
            Error::Invalid(_) => "invalid_request",
            _ if self.is_storage_full() => "storage_full",
            _ => "storage",
        }
    }

    /// True when the disk (or the quota) was full: retrying later, once
    /// there is room, can succeed.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Sql(e) => seglab_store::fault::sqlite_full(e),
            Error::Store(e) => e.is_storage_full(),
            Error::Segments(seglab_segments::Error::Store(e)) => e.is_storage_full(),
            Error::Io(e) | Error::Segments(seglab_segments::Error::Io(e)) => {
                seglab_store::fault::io_full(e)
            }
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

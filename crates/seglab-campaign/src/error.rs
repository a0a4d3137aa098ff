//! The crate's error.

use crate::check::Invalid;
use crate::template::RenderError;

/// What can go wrong with campaigns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Campaign files that do not check.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A message that could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// `campaigns.db` failed.
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The event store failed.
    #[error(transparent)]
    Store(#[from] seglab_store::Error),
    /// Live membership failed.
    #[error(transparent)]
    Live(#[from] seglab_live::Error),
    /// The segments (engine, definitions) failed.
    #[error(transparent)]
    Segments(#[from] seglab_segments::Error),
    /// Stored state that does not read back.
    #[error("campaign state is damaged: {0}")]
    Corrupt(String),
    /// A request that cannot be done as asked.
    #[error("{0}")]
    Refused(String),
    /// No campaign of that name.
    #[error("no campaign named {0:?}")]
    NotFound(String),
    /// No person with that id.
    #[error("no person with id {0:?}")]
    NoPerson(String),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when the disk (or the quota) was full: retrying later, once
    /// there is room, can succeed.
    pub fn is_storage_full(&self) -> bool {
        match self {
            Error::Sql(e) => seglab_store::fault::sqlite_full(e),
            Error::Io(e) => seglab_store::fault::io_full(e),
            Error::Store(e) => e.is_storage_full(),
            Error::Live(e) => e.is_storage_full(),
            Error::Segments(seglab_segments::Error::Store(e)) => e.is_storage_full(),
            _ => false,
        }
    }

    /// The stable code: the first error's diagnostic code (`campaign.…`) for
    /// [`Error::Invalid`], `campaign.render` for [`Error::Render`].
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(invalid) => invalid
                .diagnostics
                .iter()
                .map(|(_, d)| d)
                .find(|d| d.is_error())
                .map_or(crate::check::codes::INVALID, |d| d.code),
            Error::Render(_) => "campaign.render",
            Error::Segments(e) => e.code(),
            Error::Live(e) => e.code(),
            Error::Store(e) => e.code(),
            Error::Refused(_) => "invalid_request",
            Error::NotFound(_) | Error::NoPerson(_) => "not_found",
            _ if self.is_storage_full() => "storage_full",
            Error::Sql(_) | Error::Io(_) | Error::Corrupt(_) => "storage",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let files = vec![("c.toml".to_string(), "x = 1".to_string())];
        let invalid = crate::check_files(&files, &|_| true).unwrap_err();
        assert_eq!(Error::from(invalid).code(), "campaign.unknown_field");
        let render = RenderError {
            variant: 0,
            part: "subject",
            message: "m".into(),
        };
        let err = Error::from(render);
        assert_eq!(err.code(), "campaign.render");
        assert_eq!(err.to_string(), "cannot render the subject of variant 0: m");
        assert_eq!(Error::NotFound("x".into()).code(), "not_found");
    }
}

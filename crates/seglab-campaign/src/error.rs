//! The crate's error.

use crate::check::Invalid;
use crate::template::RenderError;

/// What can go wrong in the pure part of campaigns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Campaign files that do not check.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A message that could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl Error {
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
    }
}

//! API errors: every failure the server answers has a stable code, and codes map to
//! HTTP statuses here and nowhere else.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The fixed set of error classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    MethodNotAllowed,
    TooLarge,
    /// The store is behind: 429 with `Retry-After: 1`.
    Overloaded,
    /// A write key is over its rate: 429 with the error's `Retry-After`.
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorKind {
    pub(crate) fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Overloaded | ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: `{"code": …, "message": …}` with the status of its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
    /// More fields for the error body (e.g. `diagnostics`).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    /// Seconds for `Retry-After` (an overloaded store says 1 without it).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Sets `Retry-After` (whole seconds).
    pub fn retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after = Some(secs);
        self
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::NotFound, "not_found", message)
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, code, message)
    }

    /// The disk under the data folder is full: nothing was written, and the
    /// same request can be sent again later.
    pub fn storage_full(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            ErrorKind::Unavailable,
            "storage_full",
            format!("storage full: nothing was stored; retry later ({detail})"),
        )
        .retry_after(STORAGE_FULL_RETRY_SECS)
    }
}

/// `Retry-After` of a full disk: the writer tries again every second, but
/// room rarely comes back that fast.
const STORAGE_FULL_RETRY_SECS: u64 = 5;

impl From<seglab_event::Error> for ApiError {
    fn from(e: seglab_event::Error) -> ApiError {
        let kind = match e {
            seglab_event::Error::BodyTooLarge => ErrorKind::TooLarge,
            seglab_event::Error::MissingWriteKey => ErrorKind::Unauthorized,
            _ => ErrorKind::BadRequest,
        };
        ApiError::new(kind, e.code(), e.to_string())
    }
}

impl From<seglab_store::Error> for ApiError {
    fn from(e: seglab_store::Error) -> ApiError {
        if let seglab_store::Error::StorageFull(detail) = &e {
            // Logged by the writer, once per transition.
            return ApiError::storage_full(detail);
        }
        if e.is_storage_full() {
            tracing::warn!(error = %e, "storage full");
            return ApiError::storage_full(e);
        }
        let kind = match e {
            seglab_store::Error::Closed => ErrorKind::Unavailable,
            seglab_store::Error::Exists(_) => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        };
        tracing::error!(error = %e, "store error");
        ApiError::new(kind, e.code(), e.to_string())
    }
}

impl From<seglab_segments::Error> for ApiError {
    fn from(e: seglab_segments::Error) -> ApiError {
        if let seglab_segments::Error::Store(e) = e {
            return e.into();
        }
        let kind = match &e {
            seglab_segments::Error::Invalid { .. } | seglab_segments::Error::Engine(..) => {
                ErrorKind::BadRequest
            }
            seglab_segments::Error::NotFound(_) | seglab_segments::Error::NoTimeline(_) => {
                ErrorKind::NotFound
            }
            seglab_segments::Error::InUse(..) => ErrorKind::Conflict,
            seglab_segments::Error::Store(seglab_store::Error::Closed) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        if kind == ErrorKind::Internal {
            tracing::error!(error = %e, "segments error");
        }
        ApiError::new(kind, e.code(), e.to_string())
    }
}

impl From<seglab_live::Error> for ApiError {
    fn from(e: seglab_live::Error) -> ApiError {
        if e.is_storage_full() {
            tracing::warn!(error = %e, "storage full");
            return ApiError::storage_full(e);
        }
        match e {
            seglab_live::Error::Segments(e) => e.into(),
            seglab_live::Error::Store(e) => e.into(),
            seglab_live::Error::NotFound(_) => ApiError::not_found(e.to_string()),
            seglab_live::Error::Invalid(_) => ApiError::bad_request(e.code(), e.to_string()),
            _ => {
                tracing::error!(error = %e, "live state error");
                ApiError::new(ErrorKind::Internal, e.code(), e.to_string())
            }
        }
    }
}

impl From<seglab_insights::Error> for ApiError {
    fn from(e: seglab_insights::Error) -> ApiError {
        use seglab_insights::Error as E;
        match e {
            E::Segments(e) => e.into(),
            E::Live(e) => e.into(),
            E::NotFound(_) => ApiError::not_found(e.to_string()),
            E::Invalid(_) | E::Engine(..) => ApiError::bad_request(e.code(), e.to_string()),
        }
    }
}

impl From<seglab_campaign::Error> for ApiError {
    fn from(e: seglab_campaign::Error) -> ApiError {
        use seglab_campaign::Error as E;
        if e.is_storage_full() {
            tracing::warn!(error = %e, "storage full");
            return ApiError::storage_full(e);
        }
        match e {
            E::Segments(e) => e.into(),
            E::Store(e) => e.into(),
            E::Live(e) => e.into(),
            E::NotFound(_) | E::NoPerson(_) => ApiError::not_found(e.to_string()),
            E::Invalid(_) | E::Render(_) | E::Refused(_) => {
                ApiError::bad_request(e.code(), e.to_string())
            }
            _ => {
                tracing::error!(error = %e, "campaigns error");
                ApiError::new(ErrorKind::Internal, e.code(), e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let (Some(details), Some(obj)) = (self.details, body.as_object_mut()) {
            obj.extend(details);
        }
        let mut res = (self.kind.status(), Json(body)).into_response();
        let retry_after = self
            .retry_after
            .or((self.kind == ErrorKind::Overloaded).then_some(1));
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_errors_map_to_statuses() {
        let e: ApiError = seglab_event::Error::BodyTooLarge.into();
        assert_eq!(
            (e.kind.status(), e.code),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        );
        let e: ApiError = seglab_event::Error::InvalidJson("x".into()).into();
        assert_eq!(
            (e.kind.status(), e.code),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );
        let e: ApiError = seglab_event::Error::MissingWriteKey.into();
        assert_eq!(e.kind.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_full_disk_is_503_storage_full_with_retry_after() {
        let e: ApiError =
            seglab_store::Error::StorageFull("database or disk is full".into()).into();
        assert_eq!(e.code, "storage_full");
        assert!(e.message.contains("retry later"), "{}", e.message);
        let res = e.into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
        // A full disk seen by any database or file.
        let full = || std::io::Error::from(std::io::ErrorKind::StorageFull);
        let e: ApiError = seglab_store::Error::Io(full()).into();
        assert_eq!((e.kind, e.code), (ErrorKind::Unavailable, "storage_full"));
        let e: ApiError = seglab_live::Error::Io(full()).into();
        assert_eq!((e.kind, e.code), (ErrorKind::Unavailable, "storage_full"));
        let e: ApiError = seglab_campaign::Error::Io(full()).into();
        assert_eq!((e.kind, e.code), (ErrorKind::Unavailable, "storage_full"));
        let e: ApiError = seglab_segments::Error::Store(seglab_store::Error::Io(full())).into();
        assert_eq!((e.kind, e.code), (ErrorKind::Unavailable, "storage_full"));
        // Other storage errors stay 500.
        let e: ApiError = seglab_live::Error::Corrupt("x".into()).into();
        assert_eq!(e.kind, ErrorKind::Internal);
    }

    #[test]
    fn overloaded_says_when_to_retry() {
        let res = ApiError::new(ErrorKind::Overloaded, "overloaded", "busy").into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
        let res = ApiError::new(ErrorKind::RateLimited, "rate_limited", "slow down")
            .retry_after(3)
            .into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "3");
    }
}

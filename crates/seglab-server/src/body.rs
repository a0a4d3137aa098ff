//! Reading request bodies: the size limit on the wire, and whether they are gzip
//! (`seglab_event::wire::body` inflates them, with its own limit).

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use seglab_event::MAX_BATCH_BYTES;

use crate::error::{ApiError, ApiResult, ErrorKind};

fn too_large() -> ApiError {
    ApiError::new(
        ErrorKind::TooLarge,
        "payload_too_large",
        format!("request body is larger than {MAX_BATCH_BYTES} bytes"),
    )
}

/// Reads the body, at most [`MAX_BATCH_BYTES`] on the wire.
pub async fn read(body: Body) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, MAX_BATCH_BYTES)
        .await
        .map_err(|e| {
            let limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if limit {
                too_large()
            } else {
                ApiError::bad_request("invalid_body", format!("could not read the body: {e}"))
            }
        })
}

/// Whether the request says its body is gzip.
pub fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
}

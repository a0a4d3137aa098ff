//! Reading request bodies: size limits before and after decompression, gzip.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_ENCODING;
use flate2::read::GzDecoder;
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

/// Inflates a gzip body, refusing more than [`MAX_BATCH_BYTES`] of output.
pub fn gunzip(bytes: &[u8]) -> ApiResult<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    GzDecoder::new(bytes)
        .take(MAX_BATCH_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::bad_request("invalid_gzip", format!("the body is not valid gzip: {e}"))
        })?;
    if out.len() > MAX_BATCH_BYTES {
        return Err(too_large());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gunzip_round_trip_and_limits() {
        assert_eq!(gunzip(&gz(b"hello")).unwrap(), b"hello");
        assert_eq!(gunzip(b"not gzip").unwrap_err().code, "invalid_gzip");
        let bomb = gz(&vec![b'a'; MAX_BATCH_BYTES + 10]);
        assert!(bomb.len() < 10_000);
        assert_eq!(gunzip(&bomb).unwrap_err().code, "payload_too_large");
        let mut truncated = gz(b"hello world");
        truncated.truncate(truncated.len() - 6);
        assert_eq!(gunzip(&truncated).unwrap_err().code, "invalid_gzip");
    }
}

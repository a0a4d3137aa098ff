//! Bodies as they arrive, before a wire protocol reads them: gzip, and
//! PostHog's form-encoded `data=` field (base64 or plain JSON).

use std::collections::HashMap;
use std::io::Read;

use base64::Engine;
use flate2::read::GzDecoder;

use crate::{Error, MAX_BATCH_BYTES};

/// Inflates a gzip body, refusing more than [`MAX_BATCH_BYTES`] of output.
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(bytes.len().saturating_mul(4).min(MAX_BATCH_BYTES + 1));
    GzDecoder::new(bytes)
        .take(MAX_BATCH_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::InvalidGzip(e.to_string()))?;
    if out.len() > MAX_BATCH_BYTES {
        return Err(Error::BodyTooLarge);
    }
    Ok(out)
}

/// How a PostHog capture request was sent, as its headers say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PostHogHeaders {
    /// `Content-Type: application/x-www-form-urlencoded`.
    pub form: bool,
    /// `Content-Encoding: gzip`.
    pub gzip: bool,
}

/// The JSON of a PostHog capture request, from its query parameters, its
/// headers and its raw body (at most [`MAX_BATCH_BYTES`], as read).
///
/// A form body's fields join the query's. The JSON is the `data` field
/// (base64 or plain JSON) of a form body or of a request with an empty body,
/// or else the body itself; it is inflated when the headers or the
/// `compression` field say gzip.
pub fn posthog_body(
    query: &HashMap<String, String>,
    headers: PostHogHeaders,
    raw: &[u8],
) -> Result<Vec<u8>, Error> {
    let mut fields: HashMap<String, String> = query.clone();
    if headers.form {
        fields.extend(form_urlencoded::parse(raw).into_owned());
    }
    let gzip = headers.gzip
        || fields
            .get("compression")
            .is_some_and(|c| c.starts_with("gzip"));
    let mut bytes = match fields.get("data") {
        Some(data) if headers.form || raw.is_empty() => decode_data(data)?,
        _ => raw.to_vec(),
    };
    if gzip {
        bytes = gunzip(&bytes)?;
    }
    if bytes.is_empty() {
        return Err(Error::InvalidBody("the body is empty".into()));
    }
    Ok(bytes)
}

/// `data=` values are base64 (as posthog-js sends them) or plain JSON.
fn decode_data(data: &str) -> Result<Vec<u8>, Error> {
    let t = data.trim();
    if t.starts_with('{') || t.starts_with('[') {
        return Ok(t.as_bytes().to_vec());
    }
    base64::engine::general_purpose::STANDARD
        .decode(t)
        .map_err(|_| Error::InvalidBody("`data` is neither JSON nor base64".into()))
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

    fn b64(data: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(data)
    }

    #[test]
    fn gunzip_round_trip_and_limits() {
        assert_eq!(gunzip(&gz(b"hello")).unwrap(), b"hello");
        assert_eq!(gunzip(b"not gzip").unwrap_err().code(), "invalid_gzip");
        let bomb = gz(&vec![b'a'; MAX_BATCH_BYTES + 10]);
        assert!(bomb.len() < 10_000);
        assert_eq!(gunzip(&bomb).unwrap_err().code(), "payload_too_large");
        let mut truncated = gz(b"hello world");
        truncated.truncate(truncated.len() - 6);
        assert_eq!(gunzip(&truncated).unwrap_err().code(), "invalid_gzip");
    }

    #[test]
    fn posthog_bodies_of_every_shape() {
        let json = br#"{"api_key":"k","event":"e","distinct_id":"u"}"#;
        let none = HashMap::new();
        let form = PostHogHeaders {
            form: true,
            gzip: false,
        };
        // Raw JSON, raw gzip.
        let plain = PostHogHeaders::default();
        assert_eq!(posthog_body(&none, plain, json).unwrap(), json);
        let gzip = PostHogHeaders {
            form: false,
            gzip: true,
        };
        assert_eq!(posthog_body(&none, gzip, &gz(json)).unwrap(), json);
        // Form: base64, plain JSON, gzip named by the `compression` field.
        let body = format!("data={}", b64(json).replace('+', "%2B"));
        assert_eq!(posthog_body(&none, form, body.as_bytes()).unwrap(), json);
        let body = format!("data={}", String::from_utf8_lossy(json));
        assert_eq!(posthog_body(&none, form, body.as_bytes()).unwrap(), json);
        let body = format!(
            "data={}&compression=gzip-js",
            b64(&gz(json)).replace('+', "%2B")
        );
        assert_eq!(posthog_body(&none, form, body.as_bytes()).unwrap(), json);
        // GET: `data` in the query and an empty body.
        let query = HashMap::from([("data".to_string(), b64(json))]);
        assert_eq!(posthog_body(&query, plain, b"").unwrap(), json);
        // Errors.
        let err = posthog_body(&none, form, b"data=%%%").unwrap_err();
        assert_eq!(err.code(), "invalid_body");
        assert_eq!(err.to_string(), "`data` is neither JSON nor base64");
        let err = posthog_body(&none, plain, b"").unwrap_err();
        assert_eq!(err.to_string(), "the body is empty");
        let err = posthog_body(&none, gzip, json).unwrap_err();
        assert_eq!(err.code(), "invalid_gzip");
    }
}

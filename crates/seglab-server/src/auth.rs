//! Write keys for ingestion, the admin token for everything else (or, for
//! reads, a dashboard session).

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use seglab_store::Reader;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorKind};

/// Active write keys, cached; a miss is checked against the store so a new key
/// works at once.
pub struct KeyCache {
    active: RwLock<HashSet<String>>,
}

impl KeyCache {
    pub fn load(reader: &Reader) -> seglab_store::Result<KeyCache> {
        Ok(KeyCache {
            active: RwLock::new(reader.active_keys()?.into_iter().collect()),
        })
    }

    pub fn refresh(&self, reader: &Reader) {
        match reader.active_keys() {
            Ok(keys) => {
                *self.active.write().unwrap_or_else(|e| e.into_inner()) = keys.into_iter().collect()
            }
            Err(e) => tracing::warn!(error = %e, "refreshing write keys"),
        }
    }

    fn cached(&self, key: &str) -> bool {
        self.active
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(key)
    }

    /// Whether `key` may write events.
    pub fn check(&self, key: &str, reader: &Reader) -> ApiResult<()> {
        if self.cached(key) {
            return Ok(());
        }
        if reader.key_is_active(key)? {
            self.active
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.to_owned());
            return Ok(());
        }
        Err(ApiError::new(
            ErrorKind::Unauthorized,
            "invalid_write_key",
            "the write key is unknown or revoked",
        ))
    }
}

/// The write key of `Authorization: Basic base64(key:)`, if any.
pub fn basic_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            ErrorKind::Unauthorized,
            "invalid_authorization",
            "authorization must be `Basic base64(writeKey:)`",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = text
        .strip_prefix("Basic ")
        .or_else(|| text.strip_prefix("basic "))
    else {
        return Err(bad());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let key = decoded
        .split_once(':')
        .map_or(decoded.as_str(), |(user, _)| user);
    Ok(Some(key.to_owned()).filter(|k| !k.is_empty()))
}

/// The layer in front of every management route: the request goes on only
/// with `Authorization: Bearer <admin token>`, or, for reads (GET and HEAD)
/// sent without an `Authorization` header, with a valid dashboard session
/// cookie (the dashboard's event stream). A session cannot change anything
/// through the API: the API's writes take no CSRF token.
pub(crate) async fn admin_only(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    if session_may_read(&state, &request) {
        return next.run(request).await;
    }
    match require_admin(request.headers(), &state.admin_token) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Whether `request` is a read with no `Authorization` header from a browser
/// logged in to the dashboard.
fn session_may_read(state: &AppState, request: &Request) -> bool {
    matches!(*request.method(), Method::GET | Method::HEAD)
        && !request.headers().contains_key(AUTHORIZATION)
        && matches!(
            state
                .sessions
                .from_headers(request.headers(), std::time::Instant::now()),
            crate::dashboard::session::Lookup::Valid(_)
        )
}

/// Requires a write key (Basic auth, as the SDKs send it, or `Bearer`) or the
/// admin token: what a site may call from the browser (on-site decisions).
pub(crate) fn require_writer_or_admin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if let Some(t) = bearer {
        if constant_time_eq(t.as_bytes(), state.admin_token.as_bytes()) {
            return Ok(());
        }
        return state.keys.check(t, state.store.reader());
    }
    match basic_key(headers)? {
        Some(key) => state.keys.check(&key, state.store.reader()),
        None => Err(ApiError::new(
            ErrorKind::Unauthorized,
            "missing_write_key",
            "send a write key (`Authorization: Basic base64(writeKey:)`) or the admin token",
        )),
    }
}

/// Requires `Authorization: Bearer <admin token>`.
fn require_admin(headers: &HeaderMap, token: &str) -> ApiResult<()> {
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        None => Err(ApiError::new(
            ErrorKind::Unauthorized,
            "missing_admin_token",
            "send `Authorization: Bearer <admin token>`",
        )),
        Some(t) if constant_time_eq(t.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(
            ErrorKind::Forbidden,
            "invalid_admin_token",
            "the admin token is wrong (write keys cannot read data)",
        )),
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn basic_auth_takes_the_username() {
        let enc = base64::engine::general_purpose::STANDARD.encode("KEY:");
        assert_eq!(
            basic_key(&headers(&format!("Basic {enc}")))
                .unwrap()
                .as_deref(),
            Some("KEY")
        );
        let enc = base64::engine::general_purpose::STANDARD.encode("KEY");
        assert_eq!(
            basic_key(&headers(&format!("Basic {enc}")))
                .unwrap()
                .as_deref(),
            Some("KEY")
        );
        assert!(basic_key(&headers("Basic !!!")).is_err());
        assert!(basic_key(&headers("Bearer x")).is_err());
        assert_eq!(basic_key(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn admin_token_is_checked() {
        assert!(require_admin(&headers("Bearer tok"), "tok").is_ok());
        assert_eq!(
            require_admin(&headers("Bearer nope"), "tok")
                .unwrap_err()
                .code,
            "invalid_admin_token"
        );
        assert_eq!(
            require_admin(&HeaderMap::new(), "tok").unwrap_err().code,
            "missing_admin_token"
        );
    }
}

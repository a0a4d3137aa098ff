//! Write keys for ingestion (rate-limited per key), admin tokens for
//! everything else (or, for reads, a dashboard session).
//!
//! Admin tokens carry a scope: the built-in token (`seglab serve` prints it)
//! is `full`; tokens made by `seglab tokens create` are `read` or `full`.
//! [`admin_only`] authenticates every management request and notes what it
//! was granted; each management route then checks the scope it needs
//! ([`scope::Management`] declares every route with its scope).

pub(crate) mod scope;
mod tokens;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use seglab_event::time::now_millis;
use seglab_store::{Reader, Scope};

pub use tokens::TokenCache;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorKind};

/// What an authenticated management request may do, and the stored token it
/// came with (`None`: the built-in admin token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub scope: Scope,
    pub token: Option<i64>,
}

impl Granted {
    /// The built-in admin token.
    pub const BUILTIN: Granted = Granted {
        scope: Scope::Full,
        token: None,
    };
}

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

/// The layer in front of every management route: the request goes on with
/// `Authorization: Bearer <admin token>` (the built-in one, or a stored
/// token that is not revoked), or, for reads (GET and HEAD) sent without an
/// `Authorization` header, with a valid dashboard session cookie (the
/// dashboard's event stream). What it was granted goes with it, for the
/// route's own scope check. A session cannot change anything through the
/// API: the API's writes take no CSRF token.
pub(crate) async fn admin_only(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let granted = match session_grant(&state, &request) {
        Some(g) => Ok(g),
        None => authenticate(&state, request.headers()),
    };
    match granted {
        Ok(g) => {
            request.extensions_mut().insert(g);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// What the dashboard session of a read (GET or HEAD, with no
/// `Authorization` header) grants, if it has one.
fn session_grant(state: &AppState, request: &Request) -> Option<Granted> {
    if !matches!(*request.method(), Method::GET | Method::HEAD)
        || request.headers().contains_key(AUTHORIZATION)
    {
        return None;
    }
    match state
        .sessions
        .from_headers(request.headers(), std::time::Instant::now())
    {
        crate::dashboard::session::Lookup::Valid(s) => Some(s.granted),
        _ => None,
    }
}

/// The bearer token of `Authorization: Bearer …`, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Checks `Authorization: Bearer <admin token>`: 401 when it is missing,
/// unknown or revoked.
fn authenticate(state: &AppState, headers: &HeaderMap) -> ApiResult<Granted> {
    match bearer(headers) {
        None => Err(ApiError::new(
            ErrorKind::Unauthorized,
            "missing_admin_token",
            "send `Authorization: Bearer <admin token>`",
        )),
        Some(t) => admin_token(state, t),
    }
}

/// What the admin token `token` grants: the built-in one (compared in
/// constant time) is full; a stored one has its own scope.
pub(crate) fn admin_token(state: &AppState, token: &str) -> ApiResult<Granted> {
    if constant_time_eq(token.as_bytes(), state.admin_token.as_bytes()) {
        return Ok(Granted::BUILTIN);
    }
    state
        .tokens
        .check(token, state.store.reader(), now_millis())
}

/// Whether `key` may write events now: an active write key within its rate.
pub(crate) fn writer(state: &AppState, key: &str) -> ApiResult<()> {
    state.keys.check(key, state.store.reader())?;
    state.rate.admit(key, std::time::Instant::now())
}

/// Requires a write key (Basic auth, as the SDKs send it, or `Bearer`) or the
/// admin token: what a site may call from the browser (on-site decisions).
pub(crate) fn require_writer_or_admin(state: &AppState, headers: &HeaderMap) -> ApiResult<()> {
    if let Some(t) = bearer(headers) {
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
    fn the_bearer_token_is_read_and_trimmed() {
        assert_eq!(bearer(&headers("Bearer tok ")), Some("tok"));
        assert_eq!(bearer(&headers("Basic dG9rOg==")), None);
        assert_eq!(bearer(&HeaderMap::new()), None);
    }
}

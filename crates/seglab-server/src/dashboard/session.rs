//! Dashboard sessions: an admin token, given once at the login page, is
//! exchanged for a random session id kept in memory (lost on restart, which
//! only means logging in again). A session has the scope of its token (a
//! `read` token opens a read-only session) and ends when that token is
//! revoked.
//!
//! - The id is 32 random bytes from the operating system's generator (via
//!   `rand`'s thread generator), sent as the cookie [`COOKIE`] with
//!   `HttpOnly; SameSite=Strict; Path=/` (and `Secure` over https).
//! - A session expires after [`Sessions::idle`] without a request; an expired
//!   id is forgotten at its next use, and every login sweeps the rest.
//! - Each session has its own CSRF token, checked on every form that changes
//!   anything (see `guard.rs`).
//! - At most [`MAX_SESSIONS`] live at once: a login beyond that ends the one
//!   idle longest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::header::COOKIE as COOKIE_HEADER;
use axum::http::{HeaderMap, HeaderValue};
use rand::RngCore;

use crate::auth::Granted;

/// The session cookie's name.
pub const COOKIE: &str = "seglab_session";

/// Sessions alive at once, at most.
pub const MAX_SESSIONS: usize = 1024;

/// The default idle expiry.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(12 * 3600);

/// A logged-in browser, as the pages see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Sent back in a hidden field (or the `X-CSRF-Token` header) by every
    /// request that changes something.
    pub csrf: String,
    /// What the token it was opened with grants.
    pub granted: Granted,
}

impl Session {
    /// Whether this session may change things (its token is `full`).
    pub fn can_write(&self) -> bool {
        self.granted.scope.allows(seglab_store::Scope::Full)
    }
}

/// What a session id turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Valid(Session),
    /// It was valid, but idle for too long (now forgotten).
    Expired,
    Unknown,
}

struct Entry {
    csrf: String,
    granted: Granted,
    last_seen: Instant,
}

/// Every live session, in memory.
pub struct Sessions {
    idle: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            idle,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// How long a session lives without a request.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session (after the admin token was checked) with what the token
    /// grants.
    pub fn create(&self, now: Instant, granted: Granted) -> Session {
        let session = Session {
            id: random_hex(),
            csrf: random_hex(),
            granted,
        };
        let mut entries = self.entries();
        let idle = self.idle;
        entries.retain(|_, e| now.saturating_duration_since(e.last_seen) < idle);
        if entries.len() >= MAX_SESSIONS
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.last_seen)
                .map(|(id, _)| id.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(
            session.id.clone(),
            Entry {
                csrf: session.csrf.clone(),
                granted,
                last_seen: now,
            },
        );
        session
    }

    /// The session of `id`, which counts as a use (the idle clock restarts).
    pub fn touch(&self, id: &str, now: Instant) -> Lookup {
        let mut entries = self.entries();
        let Some(entry) = entries.get_mut(id) else {
            return Lookup::Unknown;
        };
        if now.saturating_duration_since(entry.last_seen) >= self.idle {
            entries.remove(id);
            return Lookup::Expired;
        }
        entry.last_seen = entry.last_seen.max(now);
        Lookup::Valid(Session {
            id: id.to_owned(),
            csrf: entry.csrf.clone(),
            granted: entry.granted,
        })
    }

    /// Keeps only the sessions whose grant `keep` accepts (the others' tokens
    /// were revoked).
    pub fn retain(&self, keep: impl Fn(&Granted) -> bool) {
        self.entries().retain(|_, e| keep(&e.granted));
    }

    /// Ends a session (logout).
    pub fn remove(&self, id: &str) {
        self.entries().remove(id);
    }

    /// The valid session named by the request's cookie, if any.
    pub fn from_headers(&self, headers: &HeaderMap, now: Instant) -> Lookup {
        match cookie(headers) {
            Some(id) => self.touch(id, now),
            None => Lookup::Unknown,
        }
    }
}

/// 32 random bytes as hex.
fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of the session cookie in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(id: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("seglab_session=; Max-Age=0; Path=/"))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    HeaderValue::from_static(if secure {
        "seglab_session=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/; Secure"
    } else {
        "seglab_session=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_lives_while_used_and_expires_when_idle() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let s = sessions.create(t0, Granted::BUILTIN);
        assert_eq!(s.id.len(), 64);
        assert_ne!(s.id, s.csrf);
        assert_eq!(
            sessions.touch(&s.id, t0 + Duration::from_secs(59)),
            Lookup::Valid(s.clone())
        );
        // Used at 59 s: alive until 119 s.
        assert!(matches!(
            sessions.touch(&s.id, t0 + Duration::from_secs(118)),
            Lookup::Valid(_)
        ));
        assert_eq!(
            sessions.touch(&s.id, t0 + Duration::from_secs(178)),
            Lookup::Expired
        );
        assert_eq!(
            sessions.touch(&s.id, t0 + Duration::from_secs(179)),
            Lookup::Unknown
        );
    }

    #[test]
    fn logout_ends_a_session_and_ids_are_unguessable() {
        let sessions = Sessions::new(DEFAULT_IDLE);
        let now = Instant::now();
        let a = sessions.create(now, Granted::BUILTIN);
        let b = sessions.create(now, Granted::BUILTIN);
        assert_ne!(a.id, b.id);
        sessions.remove(&a.id);
        assert_eq!(sessions.touch(&a.id, now), Lookup::Unknown);
        assert!(matches!(sessions.touch(&b.id, now), Lookup::Valid(_)));
        assert_eq!(sessions.touch("", now), Lookup::Unknown);
    }

    #[test]
    fn sessions_are_bounded() {
        let sessions = Sessions::new(DEFAULT_IDLE);
        let t0 = Instant::now();
        let first = sessions.create(t0, Granted::BUILTIN);
        for i in 1..=MAX_SESSIONS {
            sessions.create(t0 + Duration::from_millis(i as u64), Granted::BUILTIN);
        }
        assert_eq!(sessions.entries().len(), MAX_SESSIONS);
        assert_eq!(sessions.touch(&first.id, t0), Lookup::Unknown);
    }

    #[test]
    fn sessions_of_revoked_tokens_end() {
        let sessions = Sessions::new(DEFAULT_IDLE);
        let now = Instant::now();
        let reader = Granted {
            scope: seglab_store::Scope::Read,
            token: Some(7),
        };
        let admin = sessions.create(now, Granted::BUILTIN);
        let read = sessions.create(now, reader);
        match sessions.touch(&read.id, now) {
            Lookup::Valid(s) => assert!(!s.can_write()),
            other => panic!("{other:?}"),
        }
        sessions.retain(|g| g.token != Some(7));
        assert_eq!(sessions.touch(&read.id, now), Lookup::Unknown);
        match sessions.touch(&admin.id, now) {
            Lookup::Valid(s) => assert!(s.can_write()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(COOKIE_HEADER, HeaderValue::from_static("a=1; b=2"));
        h.append(
            COOKIE_HEADER,
            HeaderValue::from_static("x=y; seglab_session=abc ; z=1"),
        );
        assert_eq!(cookie(&h), Some("abc"));
        assert_eq!(cookie(&HeaderMap::new()), None);
        let mut h = HeaderMap::new();
        h.insert(COOKIE_HEADER, HeaderValue::from_static("seglab_session="));
        assert_eq!(cookie(&h), None);
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie("abc", false);
        assert_eq!(
            c.to_str().unwrap(),
            "seglab_session=abc; HttpOnly; SameSite=Strict; Path=/"
        );
        assert!(
            set_cookie("abc", true)
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
        assert!(clear_cookie(false).to_str().unwrap().contains("Max-Age=0"));
    }
}

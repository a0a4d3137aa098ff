//! Admin tokens as the server sees them: the scoped tokens of the store,
//! cached by their hash.
//!
//! - A token missing from the cache is looked up in the store, so one created
//!   by `seglab tokens create` works at once.
//! - [`TokenCache::refresh`] (every second in `seglab serve`) reloads the
//!   active tokens, so a token revoked by `seglab tokens revoke` stops working
//!   within one refresh; dashboard sessions opened with it end then too.
//! - Each use is noted in memory; a refresh writes the last use of the tokens
//!   used since it last did, at most once a minute per token.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use seglab_event::Millis;
use seglab_store::{ActiveToken, Reader, TokenLookup, token_hash};

use super::Granted;
use crate::error::{ApiError, ApiResult, ErrorKind};

/// How often, at most, a token's last use is written to the store.
const USE_RESOLUTION_MS: Millis = 60_000;

struct Cached {
    token: ActiveToken,
    /// The latest use seen (0: none since the server started).
    used_at: AtomicI64,
    /// The last use written to the store (`i64::MIN`: none).
    recorded_at: AtomicI64,
}

impl Cached {
    fn new(token: ActiveToken) -> Cached {
        let recorded = token.last_used_at.unwrap_or(i64::MIN);
        Cached {
            token,
            used_at: AtomicI64::new(0),
            recorded_at: AtomicI64::new(recorded),
        }
    }

    fn granted(&self, now: Millis) -> Granted {
        self.used_at.fetch_max(now, Ordering::Relaxed);
        Granted {
            scope: self.token.scope,
            token: Some(self.token.id),
        }
    }
}

/// The active admin tokens, by hash.
pub struct TokenCache {
    by_hash: RwLock<HashMap<String, Arc<Cached>>>,
}

impl TokenCache {
    pub fn load(reader: &Reader) -> seglab_store::Result<TokenCache> {
        let cache = TokenCache {
            by_hash: RwLock::new(HashMap::new()),
        };
        cache.replace(reader.active_tokens()?);
        Ok(cache)
    }

    fn map(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Cached>>> {
        self.by_hash.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `active` the cached set, keeping what is known about the uses of
    /// tokens already cached.
    fn replace(&self, active: Vec<ActiveToken>) {
        let mut map = self.by_hash.write().unwrap_or_else(|e| e.into_inner());
        let mut old = std::mem::take(&mut *map);
        for token in active {
            let entry = match old.remove(&token.hash) {
                Some(c) if c.token.id == token.id => c,
                _ => Arc::new(Cached::new(token.clone())),
            };
            map.insert(token.hash, entry);
        }
    }

    /// Writes the last uses not yet recorded, then reloads the active tokens.
    pub fn refresh(&self, reader: &Reader) {
        let due: Vec<(Arc<Cached>, Millis)> = self
            .map()
            .values()
            .filter_map(|c| {
                let used = c.used_at.load(Ordering::Relaxed);
                let recorded = c.recorded_at.load(Ordering::Relaxed);
                // Never recorded (`i64::MIN`): the difference saturates, so due.
                (used > 0 && used.saturating_sub(recorded) >= USE_RESOLUTION_MS)
                    .then(|| (c.clone(), used))
            })
            .collect();
        let pairs: Vec<(i64, Millis)> = due.iter().map(|(c, at)| (c.token.id, *at)).collect();
        match reader.mark_tokens_used(&pairs) {
            Ok(()) => {
                for (c, at) in &due {
                    c.recorded_at.fetch_max(*at, Ordering::Relaxed);
                }
            }
            Err(e) => tracing::warn!(error = %e, "recording admin token uses"),
        }
        match reader.active_tokens() {
            Ok(active) => self.replace(active),
            Err(e) => tracing::warn!(error = %e, "refreshing admin tokens"),
        }
    }

    /// Whether the token with store id `id` is active (as of the last
    /// refresh or lookup).
    pub fn is_active(&self, id: i64) -> bool {
        self.map().values().any(|c| c.token.id == id)
    }

    /// What `token` may do; a miss asks the store.
    pub fn check(&self, token: &str, reader: &Reader, now: Millis) -> ApiResult<Granted> {
        let hash = token_hash(token);
        if let Some(c) = self.map().get(&hash) {
            return Ok(c.granted(now));
        }
        match reader.lookup_token(token)? {
            TokenLookup::Active(t) => {
                let cached = Arc::new(Cached::new(t));
                let granted = cached.granted(now);
                self.by_hash
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(hash, cached);
                Ok(granted)
            }
            TokenLookup::Revoked { name } => Err(ApiError::new(
                ErrorKind::Unauthorized,
                "invalid_admin_token",
                format!("the admin token {name:?} was revoked"),
            )),
            TokenLookup::Unknown => Err(ApiError::new(
                ErrorKind::Unauthorized,
                "invalid_admin_token",
                "the admin token is unknown (write keys cannot read data)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seglab_store::Scope;

    #[test]
    fn a_new_token_works_at_once_and_a_revoked_one_after_a_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let reader = Reader::create(dir.path()).unwrap();
        let cache = TokenCache::load(&reader).unwrap();
        let (record, token) = reader.create_token("ci", Scope::Read).unwrap();
        let granted = cache.check(&token, &reader, 1_000).unwrap();
        assert_eq!(
            granted,
            Granted {
                scope: Scope::Read,
                token: Some(record.id)
            }
        );
        assert!(cache.is_active(record.id));
        reader.revoke_token("ci").unwrap();
        // Cached until the next refresh: that is the documented bound.
        assert!(cache.check(&token, &reader, 2_000).is_ok());
        cache.refresh(&reader);
        assert!(!cache.is_active(record.id));
        let e = cache.check(&token, &reader, 3_000).unwrap_err();
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::Unauthorized, "invalid_admin_token")
        );
        assert!(e.message.contains("revoked"), "{}", e.message);
        let e = cache.check("adm_unknown", &reader, 3_000).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unauthorized);
    }

    #[test]
    fn the_last_use_is_recorded_at_a_refresh_and_at_most_once_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let reader = Reader::create(dir.path()).unwrap();
        let (_, token) = reader.create_token("ci", Scope::Full).unwrap();
        let cache = TokenCache::load(&reader).unwrap();
        let last = || reader.list_tokens().unwrap()[0].last_used_at;
        cache.refresh(&reader);
        assert_eq!(last(), None);
        cache.check(&token, &reader, 100_000).unwrap();
        cache.refresh(&reader);
        assert_eq!(last(), Some(100_000));
        cache.check(&token, &reader, 130_000).unwrap();
        cache.refresh(&reader);
        assert_eq!(last(), Some(100_000), "within the minute: not written");
        cache.check(&token, &reader, 161_000).unwrap();
        cache.refresh(&reader);
        assert_eq!(last(), Some(161_000));
    }
}

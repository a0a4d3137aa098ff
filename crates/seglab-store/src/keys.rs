//! Write keys (what SDKs send) and the built-in admin token (what the
//! management API needs; scoped tokens are in `tokens.rs`). A write key can
//! only write events; reading needs an admin token.

use rand::Rng;
use rand::distr::Alphanumeric;
use rusqlite::{OptionalExtension, params};
use seglab_event::Millis;
use seglab_event::time::now_millis;

use crate::{Reader, Result};

/// A write key and its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteKey {
    pub key: String,
    pub name: String,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
}

pub(crate) fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

impl Reader {
    /// Creates a new write key named `name`.
    pub fn create_key(&self, name: &str) -> Result<WriteKey> {
        let key = WriteKey {
            key: random_token(32),
            name: name.to_owned(),
            created_at: now_millis(),
            revoked_at: None,
        };
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO write_keys (key, name, created_at) VALUES (?1, ?2, ?3)",
                params![key.key, key.name, key.created_at],
            )?;
            Ok(())
        })?;
        Ok(key)
    }

    /// Every key, oldest first.
    pub fn list_keys(&self) -> Result<Vec<WriteKey>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT key, name, created_at, revoked_at FROM write_keys ORDER BY created_at, key",
            )?;
            let keys = stmt
                .query_map([], |r| {
                    Ok(WriteKey {
                        key: r.get(0)?,
                        name: r.get(1)?,
                        created_at: r.get(2)?,
                        revoked_at: r.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(keys)
        })
    }

    /// The keys that are not revoked.
    pub fn active_keys(&self) -> Result<Vec<String>> {
        Ok(self
            .list_keys()?
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| k.key)
            .collect())
    }

    /// Revokes a key; false when no active key matched.
    pub fn revoke_key(&self, key: &str) -> Result<bool> {
        self.with_conn(|c| {
            let n = c.execute(
                "UPDATE write_keys SET revoked_at = ?2 WHERE key = ?1 AND revoked_at IS NULL",
                params![key, now_millis()],
            )?;
            Ok(n > 0)
        })
    }

    /// Whether `key` is an active write key.
    pub fn key_is_active(&self, key: &str) -> Result<bool> {
        self.with_conn(|c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM write_keys WHERE key = ?1 AND revoked_at IS NULL)",
            )?
            .query_row([key], |r| r.get(0))?)
        })
    }

    /// A stored setting.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        self.with_conn(|c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
    }

    /// Stores a setting.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
            Ok(())
        })
    }

    /// A random id of this store, created on first use: files derived from the
    /// store (snapshots) name it, so they are never applied to another store.
    pub fn store_id(&self) -> Result<String> {
        if let Some(t) = self.setting("store_id")? {
            return Ok(t);
        }
        let id = random_token(24);
        self.with_conn(|c| {
            c.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES ('store_id', ?1)",
                [&id],
            )?;
            Ok(())
        })?;
        Ok(self.setting("store_id")?.unwrap_or(id))
    }

    /// The key of the caches derived from the store (`timelines.snapshot`,
    /// `dedup.snapshot`): the store id, changed by every deletion of a
    /// person, so that a cache written before one is never read after it.
    pub fn cache_key(&self) -> Result<String> {
        self.store_id()?;
        self.with_conn(|c| Ok(cache_key(c)?))
    }

    /// The admin token, created on first use.
    pub fn admin_token(&self) -> Result<String> {
        if let Some(t) = self.setting("admin_token")? {
            return Ok(t);
        }
        let token = format!("adm_{}", random_token(40));
        self.with_conn(|c| {
            c.execute(
                "INSERT OR IGNORE INTO settings (key, value) VALUES ('admin_token', ?1)",
                [&token],
            )?;
            Ok(())
        })?;
        Ok(self.setting("admin_token")?.unwrap_or(token))
    }
}

/// See [`Reader::cache_key`] (the store id must exist).
pub(crate) fn cache_key(conn: &rusqlite::Connection) -> rusqlite::Result<String> {
    let id: String = conn.query_row(
        "SELECT value FROM settings WHERE key = 'store_id'",
        [],
        |r| r.get(0),
    )?;
    Ok(
        match crate::forget::setting_number(conn, crate::forget::FORGET_COUNT)? {
            0 => id,
            n => format!("{id}/{n}"),
        },
    )
}

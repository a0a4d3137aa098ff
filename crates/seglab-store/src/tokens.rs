//! Scoped admin tokens: what the management API accepts besides the built-in
//! admin token. A token is shown once, when it is created; the database keeps
//! only its SHA-256 hash, its name and its scope.

use rusqlite::{OptionalExtension, Row, params};
use seglab_event::Millis;
use seglab_event::time::now_millis;
use sha2::{Digest, Sha256};

use crate::keys::random_token;
use crate::{Error, Reader, Result};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Reads, and requests that only compute (previews, diffs).
    Read,
    /// Everything.
    Full,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Full => "full",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "read" => Some(Scope::Read),
            "full" => Some(Scope::Full),
            _ => None,
        }
    }

    /// Whether a token of this scope may do what `needed` asks.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }

    /// What tokens of this scope start with.
    fn prefix(self) -> &'static str {
        match self {
            Scope::Read => "rdo_",
            Scope::Full => "adm_",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminToken {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    pub created_at: Millis,
    /// The last request it authorized, to the minute (as the server records it).
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

/// An active token, as a server caches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveToken {
    pub id: i64,
    pub name: String,
    pub scope: Scope,
    /// The hex SHA-256 of the token.
    pub hash: String,
    pub last_used_at: Option<Millis>,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLookup {
    Active(ActiveToken),
    Revoked { name: String },
    Unknown,
}

/// The hex SHA-256 of a token: what is stored and what lookups compare.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const COLUMNS: &str = "id, name, scope, hash, created_at, last_used_at, revoked_at";

fn scope_of(row: &Row<'_>, i: usize) -> rusqlite::Result<Scope> {
    let text: String = row.get(i)?;
    Scope::parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("unknown token scope {text:?}").into(),
        )
    })
}

fn listed(row: &Row<'_>) -> rusqlite::Result<AdminToken> {
    Ok(AdminToken {
        id: row.get(0)?,
        name: row.get(1)?,
        scope: scope_of(row, 2)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

fn active(row: &Row<'_>) -> rusqlite::Result<ActiveToken> {
    Ok(ActiveToken {
        id: row.get(0)?,
        name: row.get(1)?,
        scope: scope_of(row, 2)?,
        hash: row.get(3)?,
        last_used_at: row.get(5)?,
    })
}

impl Reader {
    /// Creates a token named `name`; answers it (the only time it is seen)
    /// with its record. Fails when an active token already has the name.
    pub fn create_token(&self, name: &str, scope: Scope) -> Result<(AdminToken, String)> {
        let token = format!("{}{}", scope.prefix(), random_token(40));
        let created_at = now_millis();
        let id = self.with_conn(|c| {
            let taken: bool = c
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM admin_tokens WHERE name = ?1 AND revoked_at IS NULL)",
                )?
                .query_row([name], |r| r.get(0))?;
            if taken {
                return Err(Error::Exists(format!(
                    "an active admin token is already named {name:?} (revoke it first)"
                )));
            }
            c.execute(
                "INSERT INTO admin_tokens (name, scope, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![name, scope.as_str(), token_hash(&token), created_at],
            )?;
            Ok(c.last_insert_rowid())
        })?;
        let record = AdminToken {
            id,
            name: name.to_owned(),
            scope,
            created_at,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((record, token))
    }

    /// Every token, revoked ones too, oldest first.
    pub fn list_tokens(&self) -> Result<Vec<AdminToken>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM admin_tokens ORDER BY created_at, id"
            ))?;
            Ok(stmt.query_map([], listed)?.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The tokens that are not revoked.
    pub fn active_tokens(&self) -> Result<Vec<ActiveToken>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM admin_tokens WHERE revoked_at IS NULL ORDER BY id"
            ))?;
            Ok(stmt.query_map([], active)?.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// What `token` is: active (with its scope), revoked, or unknown.
    pub fn lookup_token(&self, token: &str) -> Result<TokenLookup> {
        let hash = token_hash(token);
        self.with_conn(|c| {
            let found = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM admin_tokens WHERE hash = ?1"
                ))?
                .query_row([&hash], |r| {
                    Ok((active(r)?, r.get::<_, Option<Millis>>(6)?))
                })
                .optional()?;
            Ok(match found {
                None => TokenLookup::Unknown,
                Some((t, Some(_))) => TokenLookup::Revoked { name: t.name },
                Some((t, None)) => TokenLookup::Active(t),
            })
        })
    }

    /// Revokes the active token named `name`; false when there is none.
    pub fn revoke_token(&self, name: &str) -> Result<bool> {
        self.with_conn(|c| {
            let n = c.execute(
                "UPDATE admin_tokens SET revoked_at = ?2 WHERE name = ?1 AND revoked_at IS NULL",
                params![name, now_millis()],
            )?;
            Ok(n > 0)
        })
    }

    /// Records when tokens were last used (`(id, at)` pairs), in one
    /// transaction; an earlier time never replaces a later one.
    pub fn mark_tokens_used(&self, used: &[(i64, Millis)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        self.with_conn(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "UPDATE admin_tokens SET last_used_at = ?2 \
                     WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                )?;
                for (id, at) in used {
                    stmt.execute(params![id, at])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_as_hashes_and_shown_once() {
        let dir = tempfile::tempdir().unwrap();
        let r = Reader::create(dir.path()).unwrap();
        let (record, token) = r.create_token("ci", Scope::Read).unwrap();
        assert!(token.starts_with("rdo_") && token.len() == 44, "{token}");
        assert_eq!((record.name.as_str(), record.scope), ("ci", Scope::Read));
        let (_, full) = r.create_token("ops", Scope::Full).unwrap();
        assert!(full.starts_with("adm_"), "{full}");

        // Nothing in the file holds the token itself.
        let stored: Vec<String> = r
            .with_conn(|c| {
                let mut s = c.prepare("SELECT hash FROM admin_tokens ORDER BY id")?;
                Ok(s.query_map([], |row| row.get(0))?
                    .collect::<Result<Vec<_>, _>>()?)
            })
            .unwrap();
        assert_eq!(stored, vec![token_hash(&token), token_hash(&full)]);
        assert_eq!(stored[0].len(), 64);
        let bytes = std::fs::read(dir.path().join(crate::DB_FILE)).unwrap();
        let wal = std::fs::read(dir.path().join("seglab.db-wal")).unwrap_or_default();
        for file in [&bytes, &wal] {
            assert!(
                !file.windows(token.len()).any(|w| w == token.as_bytes()),
                "the token is stored in clear"
            );
        }

        match r.lookup_token(&token).unwrap() {
            TokenLookup::Active(t) => assert_eq!((t.name.as_str(), t.scope), ("ci", Scope::Read)),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.lookup_token("rdo_nope").unwrap(), TokenLookup::Unknown);
        assert_eq!(r.active_tokens().unwrap().len(), 2);
    }

    #[test]
    fn a_name_has_one_active_token_and_revocation_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let r = Reader::create(dir.path()).unwrap();
        let (_, first) = r.create_token("ci", Scope::Read).unwrap();
        let err = r.create_token("ci", Scope::Full).unwrap_err();
        assert_eq!(err.code(), "exists");
        assert!(err.to_string().contains("\"ci\""), "{err}");
        assert!(r.revoke_token("ci").unwrap());
        assert!(!r.revoke_token("ci").unwrap());
        assert!(!r.revoke_token("nobody").unwrap());
        assert_eq!(
            r.lookup_token(&first).unwrap(),
            TokenLookup::Revoked { name: "ci".into() }
        );
        let (_, second) = r.create_token("ci", Scope::Full).unwrap();
        assert!(matches!(
            r.lookup_token(&second).unwrap(),
            TokenLookup::Active(ActiveToken {
                scope: Scope::Full,
                ..
            })
        ));
        let listed = r.list_tokens().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].revoked_at.is_some() && listed[1].revoked_at.is_none());
        assert_eq!(r.active_tokens().unwrap().len(), 1);
    }

    #[test]
    fn last_use_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let r = Reader::create(dir.path()).unwrap();
        let (t, _) = r.create_token("ci", Scope::Read).unwrap();
        assert_eq!(r.list_tokens().unwrap()[0].last_used_at, None);
        r.mark_tokens_used(&[(t.id, 2_000)]).unwrap();
        r.mark_tokens_used(&[(t.id, 1_000)]).unwrap();
        assert_eq!(r.list_tokens().unwrap()[0].last_used_at, Some(2_000));
        r.mark_tokens_used(&[]).unwrap();
    }

    #[test]
    fn scopes_order_read_below_full() {
        assert!(Scope::Full.allows(Scope::Read));
        assert!(Scope::Full.allows(Scope::Full));
        assert!(Scope::Read.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Full));
        for s in [Scope::Read, Scope::Full] {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("admin"), None);
    }
}

//! Segment definitions. Every change is a new version; deleting keeps the history.

use rusqlite::{OptionalExtension, Row, params};
use seglab_event::Millis;
use seglab_event::time::now_millis;

use crate::{Reader, Result};

/// A saved segment: its source text and its syntax tree as JSON (the language
/// crate's form; the store does not interpret it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRecord {
    pub name: String,
    pub version: i64,
    pub title: Option<String>,
    pub source: String,
    pub ast: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What saving a segment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    Created { version: i64 },
    Updated { version: i64 },
    Unchanged { version: i64 },
}

fn record(r: &Row<'_>) -> rusqlite::Result<SegmentRecord> {
    Ok(SegmentRecord {
        name: r.get(0)?,
        version: r.get(1)?,
        title: r.get(2)?,
        source: r.get(3)?,
        ast: r.get(4)?,
        created_at: r.get(5)?,
        updated_at: r.get(6)?,
    })
}

const COLUMNS: &str = "name, version, title, source, ast, created_at, updated_at";

impl Reader {
    /// Creates or updates a segment. A definition whose syntax tree and title are
    /// unchanged keeps its version.
    pub fn save_segment(
        &self,
        name: &str,
        title: Option<&str>,
        source: &str,
        ast: &str,
    ) -> Result<SaveOutcome> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let now = now_millis();
            let current: Option<(i64, Option<String>, String)> = tx
                .query_row("SELECT version, title, ast FROM segments WHERE name = ?1", [name], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let last_version: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) FROM segment_versions WHERE name = ?1",
                [name],
                |r| r.get(0),
            )?;
            let outcome = match current {
                Some((v, t, a)) if a == ast && t.as_deref() == title => return Ok(SaveOutcome::Unchanged { version: v }),
                Some(_) => SaveOutcome::Updated { version: last_version + 1 },
                None => SaveOutcome::Created { version: last_version + 1 },
            };
            let version = match outcome {
                SaveOutcome::Created { version } | SaveOutcome::Updated { version } | SaveOutcome::Unchanged { version } => version,
            };
            tx.execute(
                "INSERT INTO segment_versions (name, version, title, source, ast, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, version, title, source, ast, now],
            )?;
            tx.execute(
                "INSERT INTO segments (name, version, title, source, ast, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version, title = excluded.title,
                    source = excluded.source, ast = excluded.ast, updated_at = excluded.updated_at",
                params![name, version, title, source, ast, now],
            )?;
            tx.commit()?;
            Ok(outcome)
        })
    }

    /// Every current segment, by name.
    pub fn segments(&self) -> Result<Vec<SegmentRecord>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM segments ORDER BY name"))?;
            Ok(stmt.query_map([], record)?.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// One current segment.
    pub fn segment(&self, name: &str) -> Result<Option<SegmentRecord>> {
        self.with_conn(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM segments WHERE name = ?1"),
                [name],
                record,
            )
            .optional()?)
        })
    }

    /// Every version of a segment, oldest first (deleted ones included).
    pub fn segment_versions(&self, name: &str) -> Result<Vec<SegmentRecord>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT name, version, title, source, ast, created_at, created_at
                 FROM segment_versions WHERE name = ?1 ORDER BY version",
            )?;
            Ok(stmt
                .query_map([name], record)?
                .collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Deletes a segment (its versions stay); false when there was none.
    pub fn delete_segment(&self, name: &str) -> Result<bool> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            let n = tx.execute("DELETE FROM segments WHERE name = ?1", [name])?;
            if n > 0 {
                tx.execute(
                    "UPDATE segment_versions SET deleted = 1
                     WHERE name = ?1 AND version = (SELECT max(version) FROM segment_versions WHERE name = ?1)",
                    [name],
                )?;
            }
            tx.commit()?;
            Ok(n > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, Store};

    #[test]
    fn versions_are_kept_and_unchanged_saves_are_noops() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Durability::Full).unwrap();
        let r = store.reader();
        assert_eq!(
            r.save_segment("vip", Some("VIP"), "a", "{\"x\":1}")
                .unwrap(),
            SaveOutcome::Created { version: 1 }
        );
        assert_eq!(
            r.save_segment("vip", Some("VIP"), "a  ", "{\"x\":1}")
                .unwrap(),
            SaveOutcome::Unchanged { version: 1 }
        );
        assert_eq!(
            r.save_segment("vip", Some("VIP"), "b", "{\"x\":2}")
                .unwrap(),
            SaveOutcome::Updated { version: 2 }
        );
        assert_eq!(r.segment("vip").unwrap().unwrap().source, "b");
        assert_eq!(r.segment_versions("vip").unwrap().len(), 2);
        assert!(r.delete_segment("vip").unwrap());
        assert!(!r.delete_segment("vip").unwrap());
        assert!(r.segment("vip").unwrap().is_none());
        // Re-creating continues the numbering.
        assert_eq!(
            r.save_segment("vip", None, "c", "{\"x\":3}").unwrap(),
            SaveOutcome::Created { version: 3 }
        );
        assert_eq!(r.segments().unwrap().len(), 1);
    }
}

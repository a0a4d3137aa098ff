//! Deleting a person (ADR 0014): every row of a person and of everyone merged
//! into them, tombstones that keep their ids out afterwards, and erasing the
//! deleted bytes from the files.
//!
//! A deletion runs on the writer thread, in one transaction: it finds today's
//! person of an id and the persons merged into it (the identity cluster),
//! deletes their events, ids, traits, merges and person rows, records a
//! tombstone per id and email address they used, and lists the persons whose
//! rows in `live.db` and `campaigns.db` are still to be deleted
//! (`erasures`). A tombstone is a SHA-256 of the id under a random salt of
//! this store: the ids themselves are never kept. Then the file is rebuilt
//! (`VACUUM`) and its write-ahead log emptied, so the deleted rows are no
//! longer anywhere in the files.

use std::collections::{BTreeSet, HashSet};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::PersonId;

/// What deleting a person removed from `seglab.db`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Today's person the id led to.
    pub person: PersonId,
    /// It and every person merged into it, in id order.
    pub persons: Vec<PersonId>,
    pub events: u64,
    pub identities: u64,
    pub traits: u64,
    pub merges: u64,
    pub people: u64,
    /// Ids and email addresses newly refused (see [`crate::Reader::is_forgotten`]).
    pub tombstones: u64,
    /// Whether the file was rebuilt and its write-ahead log emptied (false:
    /// a reader held the log; the rows are deleted, their bytes may remain
    /// until the next deletion).
    pub erased: bool,
}

/// A deletion as the writer applies it to its memory.
pub(crate) struct Deleted {
    pub(crate) out: Forgotten,
    /// The ids that mapped to the deleted persons.
    pub(crate) ids: Vec<String>,
    /// `(message id hash, seq)` of every deleted event.
    pub(crate) events: Vec<(u64, i64)>,
    /// The tombstones written.
    pub(crate) hashes: Vec<[u8; 32]>,
}

/// The settings key of the tombstone salt.
const SALT: &str = "tombstone_salt";
/// The settings key counting deletions (part of the caches' key).
pub(crate) const FORGET_COUNT: &str = "forget_count";
/// The settings key of the newest event sequence number ever handed out.
pub(crate) const SEQ_FLOOR: &str = "event_seq_floor";
/// The settings key of the newest person id ever handed out.
pub(crate) const PERSON_FLOOR: &str = "person_id_floor";
/// The settings key set once a warehouse has been exported to: from then
/// on a deletion is also owed to the warehouse (`warehouse_erasures`).
const WAREHOUSE_USED: &str = "warehouse_used";

/// The tombstone of `text` under `salt`.
pub(crate) fn hash(salt: &[u8], text: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(text.as_bytes());
    h.finalize().into()
}

/// An email address as tombstones hold it (trimmed, lowercase), if `text`
/// looks like one.
pub(crate) fn normalize_email(text: &str) -> Option<String> {
    let t = text.trim();
    (t.len() > 2 && t.contains('@')).then(|| t.to_lowercase())
}

/// The salt of this store's tombstones, if one was made.
pub(crate) fn salt(conn: &Connection) -> rusqlite::Result<Option<Vec<u8>>> {
    let hex: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [SALT], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(hex.and_then(|h| hex::decode(h).ok()))
}

fn salt_or_create(tx: &Transaction<'_>) -> rusqlite::Result<Vec<u8>> {
    if let Some(s) = salt(tx)? {
        return Ok(s);
    }
    let fresh: [u8; 32] = rand::random();
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)",
        params![SALT, hex::encode(fresh)],
    )?;
    Ok(fresh.to_vec())
}

/// Every tombstone.
pub(crate) fn tombstones(conn: &Connection) -> rusqlite::Result<HashSet<[u8; 32]>> {
    let mut stmt = conn.prepare("SELECT hash FROM tombstones")?;
    let mut rows = stmt.query([])?;
    let mut out = HashSet::new();
    while let Some(r) = rows.next()? {
        if let Ok(h) = <[u8; 32]>::try_from(r.get_ref(0)?.as_blob()?) {
            out.insert(h);
        }
    }
    Ok(out)
}

/// A number kept in `settings` (0 when absent).
pub(crate) fn setting_number(conn: &Connection, key: &str) -> rusqlite::Result<i64> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(text.and_then(|t| t.parse().ok()).unwrap_or(0))
}

pub(crate) fn set_number(tx: &Transaction<'_>, key: &str, value: i64) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value.to_string()],
    )?;
    Ok(())
}

/// Today's person of `id` (a user id, anonymous id, distinct id, or a
/// numeric person id).
fn find(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Option<PersonId>> {
    let mapped: Option<PersonId> = tx
        .query_row(
            "SELECT person_id FROM identities WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    let start = match (mapped, id.parse::<PersonId>()) {
        (Some(p), _) => p,
        (None, Ok(n)) => {
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM persons WHERE person_id = ?1)",
                [n],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(None);
            }
            n
        }
        (None, Err(_)) => return Ok(None),
    };
    let mut p = start;
    for _ in 0..10_000 {
        let next: Option<PersonId> = tx
            .query_row(
                "SELECT merged_into FROM persons WHERE person_id = ?1",
                [p],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        match next {
            Some(n) => p = n,
            None => break,
        }
    }
    Ok(Some(p))
}

/// `root` and everyone merged into it, directly or through others.
fn cluster(tx: &Transaction<'_>, root: PersonId) -> rusqlite::Result<Vec<PersonId>> {
    let mut stmt = tx.prepare(
        "WITH RECURSIVE m(id) AS (
            SELECT ?1 UNION SELECT p.person_id FROM persons p JOIN m ON p.merged_into = m.id)
         SELECT id FROM m ORDER BY id",
    )?;
    stmt.query_map([root], |r| r.get(0))?.collect()
}

/// Every email address under a key named `email` in `v`.
fn emails_in(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k.eq_ignore_ascii_case("email")
                    && let Some(e) = v.as_str().and_then(normalize_email)
                {
                    out.insert(e);
                }
                emails_in(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| emails_in(v, out)),
        _ => {}
    }
}

/// What the writer hands out next, so that a deletion never lets a number be
/// handed out again.
pub(crate) struct Next {
    pub(crate) seq: i64,
    pub(crate) person: PersonId,
}

/// Deletes the person `id` leads to and everyone merged into it, in `tx`;
/// `None` when no person has that id.
pub(crate) fn delete(
    tx: &Transaction<'_>,
    id: &str,
    next: Next,
    now: i64,
) -> rusqlite::Result<Option<Deleted>> {
    let Some(root) = find(tx, id)? else {
        return Ok(None);
    };
    let persons = cluster(tx, root)?;
    let list = persons
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut emails: BTreeSet<String> = BTreeSet::new();
    {
        let mut stmt = tx.prepare(&format!(
            "SELECT id FROM identities WHERE person_id IN ({list})"
        ))?;
        for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
            ids.insert(id?);
        }
        let mut stmt = tx.prepare(&format!(
            "SELECT user_id FROM persons WHERE person_id IN ({list}) AND user_id IS NOT NULL"
        ))?;
        for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
            ids.insert(id?);
        }
        let mut stmt = tx.prepare(&format!(
            "SELECT value FROM traits WHERE person_id IN ({list})"
        ))?;
        for text in stmt.query_map([], |r| r.get::<_, String>(0))? {
            let text = text?;
            let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            emails_in(&serde_json::json!({ "email": value }), &mut emails);
        }
    }
    let mut events = Vec::new();
    {
        let mut stmt = tx.prepare(&format!(
            "SELECT seq, id_hash, user_id, anonymous_id, payload FROM events
             WHERE person_id IN ({list})"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            events.push((r.get::<_, i64>(1)? as u64, r.get::<_, i64>(0)?));
            for col in [2, 3] {
                if let Some(id) = r.get::<_, Option<String>>(col)? {
                    ids.insert(id);
                }
            }
            if let Ok(payload) = serde_json::from_str::<Value>(r.get_ref(4)?.as_str()?) {
                emails_in(&payload, &mut emails);
            }
        }
    }
    let mut out = Forgotten {
        person: root,
        persons: persons.clone(),
        ..Forgotten::default()
    };
    {
        let mut by_seq = tx.prepare("DELETE FROM events WHERE seq = ?1")?;
        for &(_, seq) in &events {
            out.events += by_seq.execute([seq])? as u64;
        }
    }
    out.identities = tx.execute(
        &format!("DELETE FROM identities WHERE person_id IN ({list})"),
        [],
    )? as u64;
    out.traits = tx.execute(
        &format!("DELETE FROM traits WHERE person_id IN ({list})"),
        [],
    )? as u64;
    out.merges = tx.execute(
        &format!("DELETE FROM merges WHERE person_id IN ({list}) OR merged_into IN ({list})"),
        [],
    )? as u64;
    out.people = tx.execute(
        &format!("DELETE FROM persons WHERE person_id IN ({list})"),
        [],
    )? as u64;
    let salt = salt_or_create(tx)?;
    let mut hashes = Vec::new();
    {
        let mut insert = tx.prepare(
            "INSERT INTO tombstones (hash, kind, at) VALUES (?1, ?2, ?3)
             ON CONFLICT (hash) DO NOTHING",
        )?;
        let kinds = ids
            .iter()
            .map(|i| (i.as_str(), "id"))
            .chain(emails.iter().map(|e| (e.as_str(), "email")));
        for (text, kind) in kinds {
            let h = hash(&salt, text);
            out.tombstones += insert.execute(params![&h[..], kind, now])? as u64;
            hashes.push(h);
        }
        let mut erasure = tx.prepare("INSERT OR IGNORE INTO erasures (person_id) VALUES (?1)")?;
        for &p in &persons {
            erasure.execute([p])?;
        }
        if setting_number(tx, WAREHOUSE_USED)? != 0 {
            let mut owed =
                tx.prepare("INSERT OR IGNORE INTO warehouse_erasures (person_id) VALUES (?1)")?;
            for &p in &persons {
                owed.execute([p])?;
            }
        }
    }
    let count = setting_number(tx, FORGET_COUNT)?;
    set_number(tx, FORGET_COUNT, count + 1)?;
    let seq_floor = setting_number(tx, SEQ_FLOOR)?.max(next.seq - 1);
    set_number(tx, SEQ_FLOOR, seq_floor)?;
    let person_floor = setting_number(tx, PERSON_FLOOR)?.max(next.person - 1);
    set_number(tx, PERSON_FLOOR, person_floor)?;
    Ok(Some(Deleted {
        out,
        ids: ids.into_iter().collect(),
        events,
        hashes,
    }))
}

/// Removes the tombstones of `id` (as an id, and as an email address when it
/// is one); returns the hashes removed.
pub(crate) fn lift(tx: &Transaction<'_>, id: &str) -> rusqlite::Result<Vec<[u8; 32]>> {
    let Some(salt) = salt(tx)? else {
        return Ok(Vec::new());
    };
    let mut texts = vec![id.to_owned()];
    texts.extend(normalize_email(id));
    let mut removed = Vec::new();
    for text in texts {
        let h = hash(&salt, &text);
        if tx.execute("DELETE FROM tombstones WHERE hash = ?1", [&h[..]])? > 0 {
            removed.push(h);
        }
    }
    Ok(removed)
}

/// Makes deleted rows unrecoverable from the files of the database `conn` is
/// open on: rebuilds the file (`VACUUM`, which writes only the rows that
/// remain) and copies its write-ahead log back and truncates it. Returns
/// false when the log could not be emptied (a reader still held it).
///
/// For `live.db` and `campaigns.db` too: their modules call it on their own
/// connections.
pub fn erase_deleted(conn: &Connection) -> rusqlite::Result<bool> {
    conn.pragma_update(None, "secure_delete", "ON")?;
    conn.execute_batch("VACUUM")?;
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
}

impl crate::Reader {
    /// Whether `text` (an id, or an email address) belongs to a deleted
    /// person: events with it are dropped, email to it is not sent.
    pub fn is_forgotten(&self, text: &str) -> crate::Result<bool> {
        self.with_conn(|conn| {
            let Some(salt) = salt(conn)? else {
                return Ok(false);
            };
            let mut texts = vec![text.to_owned()];
            texts.extend(normalize_email(text));
            for t in texts {
                let found: bool = conn
                    .prepare_cached("SELECT EXISTS (SELECT 1 FROM tombstones WHERE hash = ?1)")?
                    .query_row([&hash(&salt, &t)[..]], |r| r.get(0))?;
                if found {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    /// How many ids and addresses are refused.
    pub fn tombstone_count(&self) -> crate::Result<u64> {
        self.with_conn(|c| Ok(c.query_row("SELECT count(*) FROM tombstones", [], |r| r.get(0))?))
    }

    /// Deleted persons whose rows in `live.db` and `campaigns.db` are still
    /// to be deleted (a deletion interrupted before it finished).
    pub fn pending_erasures(&self) -> crate::Result<Vec<PersonId>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare("SELECT person_id FROM erasures ORDER BY person_id")?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// Records that the rows of `persons` beside the store are deleted.
    pub fn erasures_done(&self, persons: &[PersonId]) -> crate::Result<()> {
        self.delete_listed("erasures", persons)
    }

    /// Records that a warehouse holds (or may hold) rows of this store:
    /// every later deletion is listed in [`Reader::warehouse_erasures`]
    /// too, until [`Reader::warehouse_erasures_done`]. Call it before
    /// exporting anything.
    pub fn use_warehouse(&self) -> crate::Result<()> {
        self.set_setting(WAREHOUSE_USED, "1")
    }

    /// Deleted persons whose rows a warehouse may still hold (the store
    /// deleted them after [`Reader::use_warehouse`]), in id order.
    pub fn warehouse_erasures(&self) -> crate::Result<Vec<PersonId>> {
        self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT person_id FROM warehouse_erasures ORDER BY person_id")?;
            let rows = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// Records that the warehouse no longer shows `persons` (their rows are
    /// marked and their deletion is under way there).
    pub fn warehouse_erasures_done(&self, persons: &[PersonId]) -> crate::Result<()> {
        self.delete_listed("warehouse_erasures", persons)
    }

    fn delete_listed(&self, table: &str, persons: &[PersonId]) -> crate::Result<()> {
        self.with_conn(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare(&format!("DELETE FROM {table} WHERE person_id = ?1"))?;
                for p in persons {
                    stmt.execute([p])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use seglab_event::wire::segment_spec::{Endpoint, parse};
    use serde_json::json;

    use super::*;
    use crate::{Durability, Store};

    fn events(batch: Value) -> Vec<seglab_event::Event> {
        parse(
            json!({ "batch": batch }).to_string().as_bytes(),
            Endpoint::Batch,
            1_767_225_600_000,
        )
        .unwrap()
        .events
    }

    fn open(dir: &Path) -> Store {
        Store::open(dir, Durability::Full).unwrap()
    }

    /// Whether any file of the folder holds `needle`.
    fn in_files(dir: &Path, needle: &str) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                std::fs::read(p)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
            })
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    /// Ann browses anonymously, identifies with an email, and an older
    /// account of hers is aliased in; Bob is someone else.
    fn ann_and_bob(store: &Store) {
        store
            .append_blocking(
                events(json!([
                    {"type": "track", "anonymousId": "anon-ann-7f3a", "event": "Product Viewed", "messageId": "m1"},
                    {"type": "identify", "userId": "user-ann-7f3a", "anonymousId": "anon-ann-7f3a", "traits": {"email": "Ann.7f3a@Example.com"}, "messageId": "m2"},
                    {"type": "track", "userId": "old-ann-7f3a", "event": "Order Completed", "messageId": "m3"},
                    {"type": "alias", "userId": "user-ann-7f3a", "previousId": "old-ann-7f3a", "messageId": "m4"},
                    {"type": "identify", "userId": "user-bob-9c2e", "traits": {"email": "bob.9c2e@example.com"}, "messageId": "m5"},
                    {"type": "track", "userId": "user-ann-7f3a", "event": "Order Completed", "messageId": "m6"},
                ])),
                false,
            )
            .unwrap();
    }

    #[test]
    fn a_deleted_person_is_gone_from_the_file_and_stays_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        ann_and_bob(&store);
        store.sync().unwrap();
        let ann = store.reader().person("user-ann-7f3a", 0).unwrap().unwrap();
        for needle in [
            "anon-ann-7f3a",
            "user-ann-7f3a",
            "old-ann-7f3a",
            "Ann.7f3a@Example.com",
        ] {
            assert!(!in_files(dir.path(), needle).is_empty(), "{needle} stored");
        }

        // By the anonymous id of a person merged into her: the whole cluster.
        let gone = store.forget("old-ann-7f3a").unwrap().unwrap();
        assert_eq!(gone.person, ann.person_id);
        assert_eq!(gone.persons.len(), 2, "{gone:?}");
        assert_eq!(
            (
                gone.events,
                gone.identities,
                gone.people,
                gone.merges,
                gone.traits
            ),
            (5, 3, 2, 1, 1),
            "{gone:?}"
        );
        // Three ids and one address (normalized).
        assert_eq!(gone.tombstones, 4, "{gone:?}");
        assert!(gone.erased);
        assert!(store.forget("user-ann-7f3a").unwrap().is_none());
        let r = store.reader();
        assert!(r.person("user-ann-7f3a", 0).unwrap().is_none());
        assert!(r.person("anon-ann-7f3a", 0).unwrap().is_none());
        assert!(r.person("user-bob-9c2e", 0).unwrap().is_some());
        assert_eq!(r.event_count().unwrap(), 1);
        assert_eq!(r.pending_erasures().unwrap(), gone.persons);
        assert!(r.is_forgotten("user-ann-7f3a").unwrap());
        assert!(r.is_forgotten(" ann.7F3A@example.com").unwrap());
        assert!(!r.is_forgotten("user-bob-9c2e").unwrap());
        for needle in [
            "anon-ann-7f3a",
            "user-ann-7f3a",
            "old-ann-7f3a",
            "Ann.7f3a@Example.com",
            "ann.7f3a@example.com",
        ] {
            assert!(
                in_files(dir.path(), needle).is_empty(),
                "{needle} in {:?}",
                in_files(dir.path(), needle)
            );
        }
        assert!(!in_files(dir.path(), "user-bob-9c2e").is_empty());

        // Her ids are refused, a re-sent message too; someone else on her
        // old device is not.
        let out = store
            .append_blocking(
                events(json!([
                    {"type": "track", "userId": "user-ann-7f3a", "event": "Order Completed", "messageId": "m6"},
                    {"type": "track", "anonymousId": "anon-ann-7f3a", "event": "Product Viewed", "messageId": "m7"},
                    {"type": "alias", "userId": "user-new-1", "previousId": "old-ann-7f3a", "messageId": "m8"},
                    {"type": "track", "userId": "user-carl-5d1b", "anonymousId": "anon-ann-7f3a", "event": "Product Viewed", "messageId": "m9"},
                ])),
                true,
            )
            .unwrap();
        assert_eq!((out.accepted, out.tombstoned, out.duplicates), (1, 3, 0));
        assert!(store.reader().person("user-ann-7f3a", 0).unwrap().is_none());
        // Carl's event is kept without her anonymous id: a tombstoned id is
        // never written again.
        let carl = store.reader().person("user-carl-5d1b", 1).unwrap().unwrap();
        assert_eq!(carl.ids, ["user-carl-5d1b"]);
        assert_eq!(carl.events[0].anonymous_id, None);
        store.sync().unwrap();
        assert!(in_files(dir.path(), "anon-ann-7f3a").is_empty());
        drop(store);

        // After a restart: tombstones hold, and no number is handed out again.
        let store = open(dir.path());
        let out = store
            .append_blocking(
                events(json!([
                    {"type": "track", "userId": "user-ann-7f3a", "event": "Order Completed", "messageId": "m10"},
                    {"type": "track", "userId": "user-dan-3e8f", "event": "Order Completed", "messageId": "m11"},
                ])),
                false,
            )
            .unwrap();
        assert_eq!((out.accepted, out.tombstoned), (1, 1));
        assert_eq!(out.last_seq, 8, "six, then Carl's, then Dan's");
        let dan = store.reader().person("user-dan-3e8f", 0).unwrap().unwrap();
        assert!(dan.person_id > *gone.persons.last().unwrap());

        // Lifted: she comes back as a new person.
        assert!(store.lift_tombstone("user-ann-7f3a").unwrap());
        assert!(!store.lift_tombstone("user-ann-7f3a").unwrap());
        let out = store
            .append_blocking(
                events(json!([{"type": "track", "userId": "user-ann-7f3a", "event": "Order Completed", "messageId": "m12"}])),
                false,
            )
            .unwrap();
        assert_eq!((out.accepted, out.tombstoned), (1, 0));
        let back = store.reader().person("user-ann-7f3a", 0).unwrap().unwrap();
        assert!(back.person_id > dan.person_id);
        assert!(store.reader().is_forgotten("anon-ann-7f3a").unwrap());
    }

    #[test]
    fn deleting_the_newest_events_and_people_never_reuses_their_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        ann_and_bob(&store);
        let key = store.reader().cache_key().unwrap();
        let last = store.reader().last_seq().unwrap();
        let last_merge = store.reader().last_merge().unwrap();
        store.forget("user-ann-7f3a").unwrap().unwrap();
        assert_ne!(
            store.reader().cache_key().unwrap(),
            key,
            "caches are keyed anew"
        );
        assert_eq!(store.reader().last_seq().unwrap(), last);
        drop(store);
        let store = open(dir.path());
        let out = store
            .append_blocking(
                events(json!([
                    {"type": "track", "userId": "user-eve-1", "event": "E", "messageId": "n1"},
                    {"type": "alias", "userId": "user-eve-1", "previousId": "user-bob-9c2e", "messageId": "n2"},
                ])),
                false,
            )
            .unwrap();
        assert_eq!(out.last_seq, last + 2);
        assert_eq!(store.reader().last_merge().unwrap(), last_merge + 1);
    }

    #[test]
    fn deletions_are_owed_to_a_warehouse_only_once_one_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        ann_and_bob(&store);
        let r = store.reader();
        let bob = store.forget("user-bob-9c2e").unwrap().unwrap();
        assert_eq!(r.pending_erasures().unwrap(), bob.persons);
        assert!(r.warehouse_erasures().unwrap().is_empty());

        r.use_warehouse().unwrap();
        let ann = store.forget("user-ann-7f3a").unwrap().unwrap();
        assert_eq!(ann.persons.len(), 2);
        assert_eq!(r.warehouse_erasures().unwrap(), ann.persons);
        // The followers and the warehouse each clear their own list.
        r.erasures_done(&ann.persons).unwrap();
        assert_eq!(r.warehouse_erasures().unwrap(), ann.persons);
        r.warehouse_erasures_done(&ann.persons[..1]).unwrap();
        assert_eq!(r.warehouse_erasures().unwrap(), ann.persons[1..]);
        drop(store);
        let store = open(dir.path());
        assert_eq!(
            store.reader().warehouse_erasures().unwrap(),
            ann.persons[1..]
        );
    }

    #[test]
    fn emails_are_found_under_any_email_key_and_normalized() {
        let mut out = BTreeSet::new();
        emails_in(
            &serde_json::json!({
                "traits": {"Email": " Ann@Example.com "},
                "context": {"traits": {"email": "ann@example.com"}},
                "properties": {"$set": {"email": "a2@example.com"}, "list": [{"email": "x"}]},
            }),
            &mut out,
        );
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            ["a2@example.com", "ann@example.com"]
        );
    }

    #[test]
    fn hashes_depend_on_the_salt() {
        assert_eq!(hash(b"s", "u1"), hash(b"s", "u1"));
        assert_ne!(hash(b"s", "u1"), hash(b"t", "u1"));
        assert_ne!(hash(b"s", "u1"), hash(b"s", "u2"));
    }
}

//! Queries: the event log in order, and one person with ids, traits and latest
//! events.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{Connection, OptionalExtension, Row, params};
use seglab_event::time::format_timestamp;
use seglab_event::{EventType, Millis};
use serde_json::{Map, Value};

use crate::{PersonId, Reader, Result};

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub message_id: String,
    pub kind: EventType,
    /// Today's person (merges followed).
    pub person_id: PersonId,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub event: Option<String>,
    pub name: Option<String>,
    pub timestamp: Millis,
    pub received_at: Millis,
    pub historical: bool,
    /// The rest of the message: a JSON object.
    pub payload: String,
}

impl StoredEvent {
    /// The export form: columns plus the payload's fields, times in RFC 3339.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("seq".into(), self.seq.into());
        out.insert("message_id".into(), self.message_id.clone().into());
        out.insert("type".into(), self.kind.as_str().into());
        out.insert("person_id".into(), self.person_id.into());
        out.insert("user_id".into(), self.user_id.clone().into());
        out.insert("anonymous_id".into(), self.anonymous_id.clone().into());
        out.insert("event".into(), self.event.clone().into());
        out.insert("name".into(), self.name.clone().into());
        out.insert("timestamp".into(), format_timestamp(self.timestamp).into());
        out.insert(
            "received_at".into(),
            format_timestamp(self.received_at).into(),
        );
        out.insert("historical".into(), self.historical.into());
        if let Ok(Value::Object(payload)) = serde_json::from_str::<Value>(&self.payload) {
            for (k, v) in payload {
                out.insert(k, v);
            }
        }
        for key in ["properties", "context", "traits"] {
            out.entry(key).or_insert_with(|| Value::Object(Map::new()));
        }
        Value::Object(out)
    }
}

/// A trait value and when it was last set (event time).
#[derive(Debug, Clone, PartialEq)]
pub struct TraitValue {
    pub value: Value,
    pub updated_at: Millis,
}

/// One person as a user would inspect it.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonView {
    pub person_id: PersonId,
    /// Every id stitched into this person.
    pub ids: Vec<String>,
    pub traits: BTreeMap<String, TraitValue>,
    pub event_count: u64,
    /// The latest events, newest first.
    pub events: Vec<StoredEvent>,
}

impl PersonView {
    pub fn to_json(&self) -> Value {
        let traits: Map<String, Value> = self
            .traits
            .iter()
            .map(|(k, t)| {
                (k.clone(), serde_json::json!({"value": t.value, "updated_at": format_timestamp(t.updated_at)}))
            })
            .collect();
        serde_json::json!({
            "person_id": self.person_id,
            "ids": self.ids,
            "traits": traits,
            "event_count": self.event_count,
            "events": self.events.iter().map(StoredEvent::to_json).collect::<Vec<_>>(),
        })
    }
}

const EVENT_COLUMNS: &str = "seq, message_id, type, person_id, user_id, anonymous_id, event, name, ts, received_at, historical, payload";

fn event_row(r: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    let code: u8 = r.get(2)?;
    Ok(StoredEvent {
        seq: r.get(0)?,
        message_id: r.get(1)?,
        kind: EventType::from_code(code).unwrap_or(EventType::Track),
        person_id: r.get(3)?,
        user_id: r.get(4)?,
        anonymous_id: r.get(5)?,
        event: r.get(6)?,
        name: r.get(7)?,
        timestamp: r.get(8)?,
        received_at: r.get(9)?,
        historical: r.get(10)?,
        payload: r.get(11)?,
    })
}

/// Follows merges from `p` to today's person.
/// The person an id names as stored (before merges): an identity, else a
/// numeric person id that exists.
fn find_id(conn: &Connection, id: &str) -> rusqlite::Result<Option<PersonId>> {
    let found: Option<PersonId> = conn
        .prepare_cached("SELECT person_id FROM identities WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(match (found, id.parse::<PersonId>()) {
        (Some(p), _) => Some(p),
        (None, Ok(n)) => conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM persons WHERE person_id = ?1)")?
            .query_row([n], |r| r.get::<_, bool>(0))?
            .then_some(n),
        (None, Err(_)) => None,
    })
}

fn root(
    conn: &Connection,
    mut p: PersonId,
    cache: &mut HashMap<PersonId, PersonId>,
) -> rusqlite::Result<PersonId> {
    let start = p;
    if let Some(&r) = cache.get(&p) {
        return Ok(r);
    }
    let mut stmt = conn.prepare_cached("SELECT merged_into FROM persons WHERE person_id = ?1")?;
    for _ in 0..10_000 {
        match stmt
            .query_row([p], |r| r.get::<_, Option<PersonId>>(0))
            .optional()?
            .flatten()
        {
            Some(next) => p = next,
            None => break,
        }
    }
    cache.insert(start, p);
    Ok(p)
}

impl Reader {
    /// Events with `seq > after`, in order, at most `limit`.
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<StoredEvent>> {
        self.with_conn(|conn| {
            let mut cache = HashMap::new();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            ))?;
            let mut events = stmt
                .query_map(params![after, limit as i64], event_row)?
                .collect::<Result<Vec<_>, _>>()?;
            for e in &mut events {
                e.person_id = root(conn, e.person_id, &mut cache)?;
            }
            Ok(events)
        })
    }

    /// The sequence number of the newest event (0 when there is none); a
    /// deleted event's number counts (numbers are never handed out again).
    pub fn last_seq(&self) -> Result<i64> {
        self.with_conn(|c| {
            let max: i64 =
                c.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))?;
            Ok(max.max(crate::forget::setting_number(c, crate::forget::SEQ_FLOOR)?))
        })
    }

    /// Number of stored events.
    pub fn event_count(&self) -> Result<u64> {
        self.with_conn(|c| Ok(c.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?))
    }

    /// The person (the root of its merges) an id belongs to: a user id,
    /// anonymous id or distinct id, else a numeric person id that was stored.
    /// Indexed lookups only, whatever the number of events.
    pub fn resolve_id(&self, id: &str) -> Result<Option<PersonId>> {
        self.with_conn(|conn| {
            Ok(match find_id(conn, id)? {
                Some(start) => Some(root(conn, start, &mut HashMap::new())?),
                None => None,
            })
        })
    }

    /// The person an id (user id, anonymous id, distinct id, or a numeric person
    /// id) belongs to, with `latest` of its newest events.
    pub fn person(&self, id: &str, latest: usize) -> Result<Option<PersonView>> {
        self.with_conn(|conn| {
            let mut cache = HashMap::new();
            let Some(start) = find_id(conn, id)? else {
                return Ok(None);
            };
            let person = root(conn, start, &mut cache)?;
            let members: Vec<PersonId> = conn
                .prepare_cached(
                    "WITH RECURSIVE m(id) AS (
                        SELECT ?1 UNION SELECT p.person_id FROM persons p JOIN m ON p.merged_into = m.id)
                     SELECT id FROM m",
                )?
                .query_map([person], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let list = members.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let ids: Vec<String> = conn
                .prepare(&format!("SELECT id FROM identities WHERE person_id IN ({list}) ORDER BY id"))?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let traits = conn
                .prepare_cached("SELECT key, value, updated_at FROM traits WHERE person_id = ?1 ORDER BY key")?
                .query_map([person], |r| {
                    let text: String = r.get(1)?;
                    Ok((
                        r.get::<_, String>(0)?,
                        TraitValue { value: serde_json::from_str(&text).unwrap_or(Value::String(text)), updated_at: r.get(2)? },
                    ))
                })?
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            let event_count: u64 = conn
                .prepare(&format!("SELECT count(*) FROM events WHERE person_id IN ({list})"))?
                .query_row([], |r| r.get(0))?;
            let mut events = conn
                .prepare(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events WHERE person_id IN ({list}) ORDER BY ts DESC, seq DESC LIMIT ?1"
                ))?
                .query_map([latest as i64], event_row)?
                .collect::<Result<Vec<_>, _>>()?;
            for e in &mut events {
                e.person_id = person;
            }
            Ok(Some(PersonView { person_id: person, ids, traits, event_count, events }))
        })
    }
}

fn sql(e: rusqlite::types::FromSqlError) -> crate::Error {
    crate::Error::Sqlite(e.into())
}

/// One stored event as the segment engine reads it, borrowed from the scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanRow<'a> {
    pub seq: i64,
    /// The person the event was stored with; follow [`Reader::person_roots`].
    pub person_id: PersonId,
    pub kind: EventType,
    pub event: Option<&'a str>,
    pub name: Option<&'a str>,
    pub timestamp: Millis,
    pub historical: bool,
    /// The payload object (JSON text).
    pub payload: &'a str,
}

impl Reader {
    /// Calls `f` for every event with `seq > after`, in order; returns the last
    /// sequence number seen (or `after`).
    pub fn scan_events(&self, after: i64, mut f: impl FnMut(&ScanRow<'_>)) -> Result<i64> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT seq, person_id, type, event, name, ts, historical, payload FROM events WHERE seq > ?1 ORDER BY seq",
            )?;
            let mut rows = stmt.query([after])?;
            let mut last = after;
            while let Some(r) = rows.next()? {
                let code: u8 = r.get(2)?;
                let row = ScanRow {
                    seq: r.get(0)?,
                    person_id: r.get(1)?,
                    kind: EventType::from_code(code).unwrap_or(EventType::Track),
                    event: r.get_ref(3)?.as_str_or_null().map_err(sql)?,
                    name: r.get_ref(4)?.as_str_or_null().map_err(sql)?,
                    timestamp: r.get(5)?,
                    historical: r.get(6)?,
                    payload: r.get_ref(7)?.as_str().map_err(sql)?,
                };
                last = row.seq;
                f(&row);
            }
            Ok(last)
        })
    }

    /// Calls `f(seq, person, historical)` for every event with `after < seq <=
    /// upto`, in order: who a range of the log touched, without the payloads.
    pub fn scan_event_people(
        &self,
        after: i64,
        upto: i64,
        mut f: impl FnMut(i64, PersonId, bool),
    ) -> Result<()> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, person_id, historical FROM events
                 WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
            )?;
            let mut rows = stmt.query([after, upto])?;
            while let Some(r) = rows.next()? {
                f(r.get(0)?, r.get(1)?, r.get(2)?);
            }
            Ok(())
        })
    }

    /// Calls `f(seq, person, timestamp, payload)` for every track event named
    /// `event` with `seq > after`, in order (at most `limit`); returns the
    /// last sequence number scanned, whatever its name (or `after`).
    pub fn scan_named(
        &self,
        after: i64,
        event: &str,
        limit: usize,
        mut f: impl FnMut(i64, PersonId, Millis, &str),
    ) -> Result<i64> {
        self.with_conn(|conn| {
            let last: i64 = conn
                .prepare_cached(
                    "SELECT coalesce(max(seq), ?1) FROM
                     (SELECT seq FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2)",
                )?
                .query_row(params![after, limit as i64], |r| r.get(0))?;
            let mut stmt = conn.prepare_cached(
                "SELECT seq, person_id, ts, payload FROM events
                 WHERE seq > ?1 AND seq <= ?2 AND event = ?3 ORDER BY seq",
            )?;
            let mut rows = stmt.query(params![after, last, event])?;
            while let Some(r) = rows.next()? {
                f(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get_ref(3)?.as_str().map_err(sql)?,
                );
            }
            Ok(last)
        })
    }

    /// For every merged person, the person it lives on in today.
    pub fn person_roots(&self) -> Result<HashMap<PersonId, PersonId>> {
        self.with_conn(|conn| {
            let links: HashMap<PersonId, PersonId> = conn
                .prepare(
                    "SELECT person_id, merged_into FROM persons WHERE merged_into IS NOT NULL",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut roots = HashMap::with_capacity(links.len());
            for &start in links.keys() {
                let mut p = start;
                let mut hops = 0;
                while let Some(&next) = links.get(&p) {
                    p = next;
                    hops += 1;
                    if hops > links.len() {
                        break;
                    }
                }
                roots.insert(start, p);
            }
            Ok(roots)
        })
    }

    /// Identity merges committed after the merge numbered `after`, in order, as
    /// `(seq, person, merged_into)`.
    pub fn merges_after(&self, after: i64) -> Result<Vec<(i64, PersonId, PersonId)>> {
        self.merges_between(after, i64::MAX)
    }

    /// Identity merges numbered `after < seq <= upto`, in order, as `(seq,
    /// person, merged_into)`.
    pub fn merges_between(&self, after: i64, upto: i64) -> Result<Vec<(i64, PersonId, PersonId)>> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, person_id, merged_into FROM merges
                 WHERE seq > ?1 AND seq <= ?2 ORDER BY seq",
            )?;
            let rows = stmt
                .query_map([after, upto], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// Whether a person with this id was ever stored.
    pub fn person_exists(&self, person: PersonId) -> Result<bool> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM persons WHERE person_id = ?1)")?
                .query_row([person], |r| r.get(0))?)
        })
    }

    /// The user id a person was identified with, if any.
    pub fn user_id(&self, person: PersonId) -> Result<Option<String>> {
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached("SELECT user_id FROM persons WHERE person_id = ?1")?
                .query_row([person], |r| r.get(0))
                .optional()?
                .flatten())
        })
    }

    /// An id that resolves to `person`, to send events as them: their user id
    /// (`true`) or, without one, any other id (`false`).
    pub fn an_id_of(&self, person: PersonId) -> Result<Option<(String, bool)>> {
        if let Some(user) = self.user_id(person)? {
            return Ok(Some((user, true)));
        }
        self.with_conn(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT id FROM identities WHERE person_id = ?1 ORDER BY id LIMIT 1",
                )?
                .query_row([person], |r| r.get(0))
                .optional()?
                .map(|id| (id, false)))
        })
    }

    /// The number of the newest merge (0: none).
    pub fn last_merge(&self) -> Result<i64> {
        self.with_conn(|conn| {
            Ok(conn.query_row("SELECT coalesce(max(seq), 0) FROM merges", [], |r| r.get(0))?)
        })
    }

    /// One person's traits, as `(key, value)` (values that are not JSON come
    /// back as strings).
    pub fn person_traits(&self, person: PersonId) -> Result<Vec<(String, Value)>> {
        self.with_conn(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT key, value FROM traits WHERE person_id = ?1")?;
            let rows = stmt
                .query_map([person], |r| {
                    let text: String = r.get(1)?;
                    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
                    Ok((r.get(0)?, value))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// Calls `f(person, key, value, updated_at)` for every stored trait.
    pub fn scan_traits(&self, mut f: impl FnMut(PersonId, &str, Value, Millis)) -> Result<()> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT person_id, key, value, updated_at FROM traits")?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let text = r.get_ref(2)?.as_str().map_err(sql)?;
                let value =
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
                f(
                    r.get(0)?,
                    r.get_ref(1)?.as_str().map_err(sql)?,
                    value,
                    r.get(3)?,
                );
            }
            Ok(())
        })
    }
}

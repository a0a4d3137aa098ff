//! From the store to the engine: every behavioral event (track calls by name,
//! page calls as `Page Viewed`, screen calls as `Screen Viewed`) on today's
//! person, and every trait.

use std::collections::HashMap;
use std::sync::Arc;

use seglab_event::{EventType, Millis};
use seglab_store::{PersonId, Reader, ScanRow};
use serde_json::{Map, Value};
use xxhash_rust::xxh3::xxh3_64;

/// Where loaded data goes (the engine's timelines).
pub trait Sink {
    fn event(&mut self, person: PersonId, ts: Millis, name: &str, properties: &Value);
    fn set_trait(&mut self, person: PersonId, key: &str, value: Value);
}

/// The event name the segment language sees for a stored call, if it is behavior.
pub fn behavior_name<'a>(row: &ScanRow<'a>) -> Option<&'a str> {
    match row.kind {
        EventType::Track => row.event,
        EventType::Page => Some("Page Viewed"),
        EventType::Screen => Some("Screen Viewed"),
        EventType::Identify | EventType::Group | EventType::Alias => None,
    }
}

/// The event name and properties the language sees for a stored call, if it
/// is behavior (what the engine loads; other engines are loaded with it too).
pub fn behavior<'a>(row: &ScanRow<'a>) -> Option<(&'a str, Value)> {
    behavior_name(row).map(|name| (name, properties(row)))
}

/// The properties the language sees: the payload's `properties`, plus `name` and
/// `category` for pages and screens.
fn properties(row: &ScanRow<'_>) -> Value {
    let mut props = match serde_json::from_str::<Value>(row.payload) {
        Ok(Value::Object(mut payload)) => {
            let category = payload.remove("category");
            let mut p = match payload.remove("properties") {
                Some(Value::Object(p)) => p,
                _ => Map::new(),
            };
            if let Some(c) = category {
                p.entry("category").or_insert(c);
            }
            p
        }
        _ => Map::new(),
    };
    if let (EventType::Page | EventType::Screen, Some(name)) = (row.kind, row.name) {
        props
            .entry("name")
            .or_insert_with(|| Value::String(name.to_owned()));
    }
    Value::Object(props)
}

/// Events handed from the scanning thread to the loading one, per message.
const CHUNK: usize = 4_096;
/// Distinct payloads remembered by the parse cache before it starts over.
const CACHE_LIMIT: usize = 50_000;

/// One behavioral event, parsed, on today's person.
struct Parsed {
    person: PersonId,
    ts: Millis,
    name: Arc<str>,
    properties: Arc<Value>,
}

/// Loads every event with `seq > after` and (when `after` is 0) every trait into
/// `sink`; returns the last sequence number loaded. One thread reads and parses
/// (repeated payloads — the same product viewed again — are parsed once), the
/// calling thread hands the events to `sink`.
pub fn load(reader: &Reader, after: i64, sink: &mut impl Sink) -> seglab_store::Result<i64> {
    let roots = reader.person_roots()?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Parsed>>(8);
    let last = std::thread::scope(|scope| {
        let scanner = scope.spawn(|| {
            let mut names: HashMap<String, Arc<str>> = HashMap::new();
            let mut cache: HashMap<u64, Arc<Value>> = HashMap::new();
            let mut chunk = Vec::with_capacity(CHUNK);
            let last = reader.scan_events(after, |row| {
                let Some(name) = behavior_name(row) else {
                    return;
                };
                let name = match names.get(name) {
                    Some(n) => n.clone(),
                    None => names
                        .entry(name.to_owned())
                        .or_insert_with(|| Arc::from(name))
                        .clone(),
                };
                let key = xxh3_64(row.payload.as_bytes())
                    ^ u64::from(row.kind.code()).rotate_left(7)
                    ^ row
                        .name
                        .map_or(0, |n| xxh3_64(n.as_bytes()).rotate_left(13));
                if cache.len() >= CACHE_LIMIT && !cache.contains_key(&key) {
                    cache.clear();
                }
                let properties = cache
                    .entry(key)
                    .or_insert_with(|| Arc::new(properties(row)))
                    .clone();
                let person = *roots.get(&row.person_id).unwrap_or(&row.person_id);
                chunk.push(Parsed {
                    person,
                    ts: row.timestamp,
                    name,
                    properties,
                });
                if chunk.len() == CHUNK {
                    // A closed channel means the loader stopped; the scan just ends.
                    let _ = tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)));
                }
            });
            if !chunk.is_empty() {
                let _ = tx.send(chunk);
            }
            drop(tx);
            last
        });
        for chunk in rx {
            for e in chunk {
                sink.event(e.person, e.ts, &e.name, &e.properties);
            }
        }
        scanner
            .join()
            .unwrap_or_else(|_| Err(seglab_store::Error::Closed))
    })?;
    if after == 0 {
        reader.scan_traits(|person, key, value, _| {
            sink.set_trait(*roots.get(&person).unwrap_or(&person), key, value)
        })?;
    }
    Ok(last)
}

/// Loads one scanned row on `person` (today's person of the row); whether it was
/// a behavioral event (used by incremental refreshes).
pub(crate) fn load_row(row: &ScanRow<'_>, person: PersonId, sink: &mut impl Sink) -> bool {
    match behavior_name(row) {
        Some(name) => {
            sink.event(person, row.timestamp, name, &properties(row));
            true
        }
        None => false,
    }
}

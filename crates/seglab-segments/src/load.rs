//! From the store to the engine: every behavioral event (track calls by name,
//! page calls as `Page Viewed`, screen calls as `Screen Viewed`) on today's
//! person, and every trait.

use std::collections::HashMap;

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

/// Payloads parsed recently: repeated payloads (the same product viewed again)
/// are parsed once.
struct ParseCache {
    map: HashMap<u64, Value>,
}

impl ParseCache {
    const LIMIT: usize = 200_000;

    fn get(&mut self, row: &ScanRow<'_>) -> &Value {
        let key = xxh3_64(row.payload.as_bytes())
            ^ (row.kind.code() as u64)
            ^ row.name.map_or(0, |n| xxh3_64(n.as_bytes()).rotate_left(1));
        if self.map.len() >= Self::LIMIT && !self.map.contains_key(&key) {
            self.map.clear();
        }
        self.map.entry(key).or_insert_with(|| properties(row))
    }
}

/// Loads every event with `seq > after` and (when `after` is 0) every trait into
/// `sink`; returns the last sequence number loaded.
pub fn load(reader: &Reader, after: i64, sink: &mut impl Sink) -> seglab_store::Result<i64> {
    let roots = reader.person_roots()?;
    let root = |p: PersonId| *roots.get(&p).unwrap_or(&p);
    let mut cache = ParseCache {
        map: HashMap::new(),
    };
    let last = reader.scan_events(after, |row| {
        if let Some(name) = behavior_name(row) {
            let props = cache.get(row);
            sink.event(root(row.person_id), row.timestamp, name, props);
        }
    })?;
    if after == 0 {
        reader.scan_traits(|person, key, value, _| sink.set_trait(root(person), key, value))?;
    }
    Ok(last)
}

/// Loads one scanned row (used by incremental refreshes).
pub(crate) fn load_row(
    row: &ScanRow<'_>,
    roots: &HashMap<PersonId, PersonId>,
    sink: &mut impl Sink,
) {
    if let Some(name) = behavior_name(row) {
        let person = *roots.get(&row.person_id).unwrap_or(&row.person_id);
        sink.event(person, row.timestamp, name, &properties(row));
    }
}

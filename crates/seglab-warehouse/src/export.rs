//! The follower of the store's log that writes it to ClickHouse.
//!
//! Each round reads up to [`BATCH_EVENTS`] events after the cursor (on
//! today's person: the store follows merges when it reads), inserts their
//! rows, then applies the identity merges after the cursor — a merged
//! person's events are copied to the person they now live on, the merged
//! person is marked (queries leave them out), and the person they live on
//! gets a new trait snapshot — and writes a trait snapshot for everyone an
//! `identify` call changed. Only then does the cursor move, in a file beside
//! the store: a round cut short is done again from the same cursor, and
//! every row is keyed by its message id, so doing it again changes nothing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use seglab_clickhouse::rows::Row;
use seglab_event::EventType;
use seglab_store::{PersonId, Reader, ScanRow, StoredEvent};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Target};

/// Events read (and at most as many rows inserted) per round.
pub const BATCH_EVENTS: usize = 10_000;

/// The cursor's file in the data folder.
pub const CURSOR_FILE: &str = "warehouse.cursor";

/// How far the warehouse has the log: the newest event and merge exported,
/// for one warehouse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// [`Target::key`] of the warehouse it describes.
    pub target: String,
    pub last_seq: i64,
    pub last_merge: i64,
    /// The store's retention cutoff (ADR 0016) the recorded memberships
    /// follow: evaluations leave out the events before it.
    #[serde(default)]
    pub expired_before: Option<i64>,
    /// The cutoff whose deletion every node was asked for.
    #[serde(default)]
    pub deleted_before: Option<i64>,
}

impl Cursor {
    /// The cursor kept in `dir` for `target` (zero for another warehouse,
    /// or none yet).
    pub fn load(dir: &Path, target: &Target) -> Result<Cursor, Error> {
        let fresh = Cursor {
            target: target.key(),
            ..Cursor::default()
        };
        let text = match std::fs::read_to_string(dir.join(CURSOR_FILE)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fresh),
            Err(e) => return Err(e.into()),
        };
        match serde_json::from_str::<Cursor>(&text) {
            Ok(c) if c.target == fresh.target => Ok(c),
            Ok(_) => Ok(fresh),
            Err(e) => {
                tracing::warn!(error = %e, "unreadable warehouse cursor: exporting from the start");
                Ok(fresh)
            }
        }
    }

    /// Writes the cursor (a temporary file, then a rename).
    pub fn save(&self, dir: &Path) -> Result<(), Error> {
        let path = dir.join(CURSOR_FILE);
        let tmp: PathBuf = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(self).unwrap_or_default())?;
        std::fs::rename(&tmp, &path)?;
        Ok(())
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Events read from the store.
    pub events: usize,
    /// Rows inserted (events, snapshots, marks).
    pub rows: usize,
    pub merges: usize,
    /// A full batch was read: more is probably waiting.
    pub full: bool,
}

/// Exports one round after `cursor` and moves it (saved in `dir`).
pub async fn round(
    reader: &Reader,
    target: &Target,
    dir: &Path,
    cursor: &mut Cursor,
) -> Result<Round, Error> {
    let schema = target.schema();
    let table = schema.table();
    let client = target.entry();
    let events = reader.events_after(cursor.last_seq, BATCH_EVENTS)?;
    let mut out = Round {
        events: events.len(),
        full: events.len() == BATCH_EVENTS,
        ..Round::default()
    };
    let mut rows = Vec::with_capacity(events.len());
    let mut profiled = BTreeSet::new();
    for e in &events {
        if let Some(row) = event_row(e) {
            rows.push(row);
        }
        if e.kind == EventType::Identify {
            profiled.insert(e.person_id);
        }
    }
    client.insert(&table, &rows).await?;
    out.rows += rows.len();
    let last_seq = events.last().map_or(cursor.last_seq, |e| e.seq);

    let merges = reader.merges_after(cursor.last_merge)?;
    let last_merge = merges.last().map_or(cursor.last_merge, |m| m.0);
    let mut marks = Vec::new();
    if !merges.is_empty() {
        let roots = reader.person_roots()?;
        for &(_, from, _) in &merges {
            let into = roots.get(&from).copied().unwrap_or(from);
            if into == from {
                continue;
            }
            client.execute(&schema.move_events(from, into)).await?;
            marks.push(Row::merged(from));
            profiled.insert(into);
        }
        out.merges = merges.len();
    }
    // A snapshot's version grows with every round that read anything, and
    // a round done again writes the same one.
    let version = (last_seq + last_merge) as u64;
    for person in profiled {
        if let Some(row) = traits_row(reader, person, version)? {
            marks.push(row);
        }
    }
    client.insert(&table, &marks).await?;
    out.rows += marks.len();
    cursor.last_seq = last_seq;
    cursor.last_merge = last_merge;
    cursor.save(dir)?;
    Ok(out)
}

/// The row of a behavioral event (none for identify, group and alias calls).
fn event_row(e: &StoredEvent) -> Option<Row> {
    let scanned = ScanRow {
        seq: e.seq,
        person_id: e.person_id,
        kind: e.kind,
        event: e.event.as_deref(),
        name: e.name.as_deref(),
        timestamp: e.timestamp,
        historical: e.historical,
        payload: &e.payload,
    };
    let (name, properties) = seglab_segments::behavior(&scanned)?;
    Some(Row::event(
        e.person_id,
        &e.message_id,
        e.seq as u64,
        e.timestamp,
        name,
        &properties,
    ))
}

/// A person's traits as the store has them now, when they have any (a
/// trait set to `null` counts: the engine knows the person then too).
fn traits_row(reader: &Reader, person: PersonId, version: u64) -> Result<Option<Row>, Error> {
    let traits = reader.person_traits(person)?;
    if traits.is_empty() {
        return Ok(None);
    }
    let object: Map<String, Value> = traits.into_iter().collect();
    Ok(Some(Row::traits(person, version, &object)))
}

//! Keeping the engine in step with the store: the first load (from a
//! snapshot when one matches), refreshes, and who changed after a position.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Mutex, RwLock};

use seglab_engine::{BulkLoad, Engine, EngineError, Timelines};
use seglab_store::{PersonId, Reader};
use serde_json::Value;

use crate::code::condition_of;
use crate::roots::Roots;
use crate::{
    Changes, Cursor, Loaded, Refreshed, Result, SNAPSHOT_MIN_EVENTS, Segments, Touched, load,
    snapshot,
};

/// What the loader writes into: the timelines, or their packed first load.
trait Target {
    fn push(
        &mut self,
        person: PersonId,
        ts: i64,
        name: &str,
        properties: &Value,
    ) -> Result<(), EngineError>;
    fn set_trait(&mut self, person: PersonId, key: &str, value: Value) -> Result<(), EngineError>;
}

impl Target for Timelines {
    fn push(
        &mut self,
        person: PersonId,
        ts: i64,
        name: &str,
        properties: &Value,
    ) -> Result<(), EngineError> {
        Timelines::push(self, person, ts, name, properties)
    }

    fn set_trait(&mut self, person: PersonId, key: &str, value: Value) -> Result<(), EngineError> {
        Timelines::set_trait(self, person, key, value)
    }
}

impl Target for BulkLoad<'_> {
    fn push(
        &mut self,
        person: PersonId,
        ts: i64,
        name: &str,
        properties: &Value,
    ) -> Result<(), EngineError> {
        BulkLoad::push(self, person, ts, name, properties)
    }

    fn set_trait(&mut self, person: PersonId, key: &str, value: Value) -> Result<(), EngineError> {
        BulkLoad::set_trait(self, person, key, value)
    }
}

/// Hands loaded events and traits to the engine; what it refuses is logged.
struct EngineSink<'a, T: Target>(&'a mut T);

impl<T: Target> load::Sink for EngineSink<'_, T> {
    fn event(&mut self, person: PersonId, ts: i64, name: &str, properties: &Value) {
        if let Err(e) = self.0.push(person, ts, name, properties) {
            tracing::warn!(error = %e, person, "event not loaded into the engine");
        }
    }

    fn set_trait(&mut self, person: PersonId, key: &str, value: Value) {
        if let Err(e) = self.0.set_trait(person, key, value) {
            tracing::warn!(error = %e, person, "trait not loaded into the engine");
        }
    }
}

/// Writes the timelines snapshot; a failure is logged (the next start does a
/// full load).
fn write_snapshot(dir: &Path, store_id: &str, last_seq: i64, timelines: &Timelines) {
    match snapshot::write(dir, store_id, last_seq, timelines) {
        Ok(path) => tracing::info!(path = %path.display(), "timelines snapshot written"),
        Err(e) => tracing::warn!(error = %e, "writing the timelines snapshot"),
    }
}

impl Segments {
    /// Loads every event, trait and saved definition from the store.
    pub fn load(reader: &Reader) -> Result<Segments> {
        Segments::open(reader, None)
    }

    /// Loads like [`Segments::load`]; with `snapshot_dir`, starts from the
    /// snapshot there when it matches the store (then reads only the events after
    /// it), and writes one after a full load of at least [`SNAPSHOT_MIN_EVENTS`]
    /// events, or when the events read after the snapshot are that many and a
    /// quarter of it.
    pub fn open(reader: &Reader, snapshot_dir: Option<&Path>) -> Result<Segments> {
        Segments::open_with(reader, snapshot_dir, SNAPSHOT_MIN_EVENTS)
    }

    pub(crate) fn open_with(
        reader: &Reader,
        snapshot_dir: Option<&Path>,
        snapshot_min: usize,
    ) -> Result<Segments> {
        // Merges up to this one are in the roots; later ones are applied by the
        // first refresh (applying one twice changes nothing).
        let last_merge = reader.last_merge()?;
        let roots = reader.person_roots()?;
        // The cache key: a deletion of a person makes older snapshots stale.
        let store_id = reader.cache_key()?;
        // Events after a snapshot are read from the store; a snapshot far
        // behind the log is written again after that.
        let newest = reader.last_seq()?;
        let snap = snapshot_dir.and_then(|dir| {
            snapshot::read(dir, |h| h.store_id == store_id && h.last_seq <= newest).unwrap_or_else(
                |e| {
                    // A cache: the log has everything it held. Removed, so
                    // that the warning is not repeated at every start of a
                    // store too small to write a new one.
                    tracing::warn!(
                        error = %e,
                        path = %dir.join(snapshot::FILE).display(),
                        "ignoring the damaged timelines snapshot; loading every event from the store"
                    );
                    if let Err(e) = snapshot::remove(dir) {
                        tracing::warn!(error = %e, "removing the damaged timelines snapshot");
                    }
                    None
                },
            )
        });
        if snap.is_none()
            && let Some(dir) = snapshot_dir
        {
            // One that does not match (another store's, or from before a
            // person was deleted) must not stay on disk.
            if let Err(e) = snapshot::remove(dir) {
                tracing::warn!(error = %e, "removing a timelines snapshot that does not match");
            }
        }
        let (timelines, last_seq) = match snap {
            Some((header, mut timelines)) => {
                // Identity merges made since the snapshot was written.
                for (&person, &root) in &roots {
                    if let Some(i) = timelines.index_of(person)
                        && timelines.index_of(root) != Some(i)
                        && let Err(e) = timelines.merge(person, root)
                    {
                        tracing::warn!(error = %e, person, root, "merge not applied in the engine");
                    }
                }
                // Traits change only with stored events: with none after the
                // snapshot, its traits are current.
                let last = if newest > header.last_seq {
                    let mut bulk = timelines.bulk_load();
                    let last = load::load(reader, header.last_seq, &mut EngineSink(&mut bulk))?;
                    reader.scan_traits(|person, key, value, _| {
                        load::Sink::set_trait(
                            &mut EngineSink(&mut bulk),
                            *roots.get(&person).unwrap_or(&person),
                            key,
                            value,
                        )
                    })?;
                    bulk.finish();
                    last
                } else {
                    header.last_seq
                };
                let after = timelines.event_count() - header.events;
                tracing::info!(
                    snapshot_events = header.events,
                    after,
                    "timelines loaded from the snapshot"
                );
                if let Some(dir) = snapshot_dir
                    && after as usize >= snapshot_min.max(header.events as usize / 4)
                {
                    write_snapshot(dir, &store_id, last, &timelines);
                }
                (timelines, last)
            }
            None => {
                let mut timelines = Timelines::new();
                let mut bulk = timelines.bulk_load();
                let last = load::load(reader, 0, &mut EngineSink(&mut bulk))?;
                bulk.finish();
                if let Some(dir) = snapshot_dir
                    && timelines.event_count() as usize >= snapshot_min
                {
                    write_snapshot(dir, &store_id, last, &timelines);
                }
                (timelines, last)
            }
        };
        let mut timelines = timelines;
        // Events a retention pass deleted after the snapshot was written
        // (ADR 0016).
        if let Some(cutoff) = reader.expired_before()? {
            timelines.expire(cutoff);
        }
        let segments = Segments {
            engine: RwLock::new(Engine::new(timelines)),
            loaded: Mutex::new(Loaded {
                at: Cursor {
                    last_seq,
                    last_merge,
                },
                roots: Roots::new(roots),
                versions: BTreeMap::new(),
            }),
        };
        segments.sync_definitions(reader)?;
        Ok(segments)
    }

    /// Loads every event and trait from the store again into new timelines
    /// and puts them in place of the engine's (definitions stay): after a
    /// person was deleted from the store, nothing of them is left in memory,
    /// not even an interned property value. With `snapshot_dir`, the
    /// snapshot there is removed first, and written again from the new
    /// timelines when they hold at least [`SNAPSHOT_MIN_EVENTS`] events.
    ///
    /// Readers keep the old timelines meanwhile; refreshes wait for it.
    pub fn reload(&self, reader: &Reader, snapshot_dir: Option<&Path>) -> Result<()> {
        self.reload_with(reader, snapshot_dir, SNAPSHOT_MIN_EVENTS)
    }

    pub(crate) fn reload_with(
        &self,
        reader: &Reader,
        snapshot_dir: Option<&Path>,
        snapshot_min: usize,
    ) -> Result<()> {
        if let Some(dir) = snapshot_dir {
            snapshot::remove(dir)?;
        }
        let mut loaded = self.loaded();
        let last_merge = reader.last_merge()?;
        let roots = reader.person_roots()?;
        let mut timelines = Timelines::new();
        let mut bulk = timelines.bulk_load();
        let last_seq = load::load(reader, 0, &mut EngineSink(&mut bulk))?;
        bulk.finish();
        if let Some(dir) = snapshot_dir
            && timelines.event_count() as usize >= snapshot_min
        {
            write_snapshot(dir, &reader.cache_key()?, last_seq, &timelines);
        }
        self.engine_mut().replace_timelines(timelines);
        loaded.at = Cursor {
            last_seq,
            last_merge,
        };
        loaded.roots = Roots::new(roots);
        Ok(())
    }

    /// Brings the engine's definitions in line with the store's.
    pub(crate) fn sync_definitions(&self, reader: &Reader) -> Result<bool> {
        let records = reader.segments()?;
        let mut loaded = self.loaded();
        let current: BTreeMap<String, i64> = records
            .iter()
            .map(|r| (r.name.clone(), r.version))
            .collect();
        if current == loaded.versions {
            return Ok(false);
        }
        let mut engine = self.engine_mut();
        for name in loaded.versions.keys() {
            if !current.contains_key(name) {
                engine.undefine(name);
            }
        }
        for r in &records {
            if loaded.versions.get(&r.name) != Some(&r.version) {
                let condition = condition_of(r)?;
                if let Err(e) = engine.define(&r.name, condition) {
                    tracing::warn!(segment = %r.name, error = %e, "stored segment not usable");
                }
            }
        }
        loaded.versions = current;
        Ok(true)
    }

    /// Loads what the store committed since the last load or refresh (events,
    /// identity merges, traits, definitions).
    pub fn refresh(&self, reader: &Reader) -> Result<Refreshed> {
        let mut loaded = self.loaded();
        let merges = reader.merges_after(loaded.at.last_merge)?;
        let mut out = Refreshed::default();
        let mut profiles: Vec<PersonId> = Vec::new();
        {
            let mut engine = self.engine_mut();
            let timelines = engine.timelines_mut();
            for &(seq, from, into) in &merges {
                loaded.at.last_merge = seq;
                let (gone, kept) = loaded.roots.merge(from, into);
                if gone == kept {
                    continue;
                }
                if let Err(e) = timelines.merge(gone, kept) {
                    tracing::warn!(error = %e, gone, kept, "merge not applied in the engine");
                }
                profiles.push(kept);
            }
            let roots = &loaded.roots;
            let mut sink = EngineSink(timelines);
            let last = reader.scan_events(loaded.at.last_seq, |row| {
                let person = roots.resolve(row.person_id);
                if row.kind == seglab_event::EventType::Identify {
                    profiles.push(person);
                }
                if load::load_row(row, person, &mut sink) {
                    out.events += 1;
                }
            })?;
            profiles.sort_unstable();
            profiles.dedup();
            for &person in &profiles {
                for (key, value) in reader.person_traits(person)? {
                    load::Sink::set_trait(&mut sink, person, &key, value);
                }
            }
            loaded.at.last_seq = last;
        }
        out.last_seq = loaded.at.last_seq;
        out.last_merge = loaded.at.last_merge;
        drop(loaded);
        out.definitions_changed = self.sync_definitions(reader)?;
        Ok(out)
    }

    /// Who the store changed after `from` up to where the engine stands
    /// (call [`Segments::refresh`] first to move that on): every person with
    /// events in the range, by today's id, and every merge. Read from the
    /// store, so any number of readers can follow the log, each with a cursor
    /// of its own.
    pub fn changes_since(&self, reader: &Reader, from: Cursor) -> Result<Changes> {
        let loaded = self.loaded();
        let to = loaded.at;
        let mut out = Changes {
            to,
            ..Changes::default()
        };
        let mut touched: BTreeMap<PersonId, Touched> = BTreeMap::new();
        let mut merged = BTreeSet::new();
        if from.last_merge < to.last_merge {
            for (_, from, _) in reader.merges_between(from.last_merge, to.last_merge)? {
                let kept = loaded.roots.resolve(from);
                if kept == from {
                    continue;
                }
                for gone in loaded.roots.group(kept) {
                    merged.insert((gone, kept));
                }
                touched.entry(kept).or_insert(Touched {
                    person: kept,
                    seq: 0,
                    historical: false,
                    merged: true,
                });
            }
        }
        if from.last_seq < to.last_seq {
            reader.scan_event_people(from.last_seq, to.last_seq, |seq, person, historical| {
                let person = loaded.roots.resolve(person);
                out.events += 1;
                let t = touched.entry(person).or_insert(Touched {
                    person,
                    seq,
                    historical,
                    merged: false,
                });
                t.seq = seq;
                t.historical &= historical;
            })?;
        }
        out.touched = touched.into_values().collect();
        out.merged = merged.into_iter().collect();
        Ok(out)
    }
}

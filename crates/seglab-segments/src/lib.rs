//! Segments as code: the glue between the store (definitions, events), the
//! language (parse, check, print) and the engine (timelines, evaluation).
//!
//! [`Segments`] loads every behavioral event and trait from the store into the
//! engine's timelines, keeps them current with [`Segments::refresh`], and runs the
//! operations the CLI and the API share: check, apply, diff, evaluate, preview,
//! members.

mod export;
mod load;
mod roots;
pub mod snapshot;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Mutex, RwLock};

use roaring::RoaringBitmap;
use roots::Roots;
use seglab_engine::{Engine, Timelines};
use seglab_lang::Diagnostic;
use seglab_lang::ast::{Condition, File, SegmentDef};
use seglab_store::{PersonId, Reader, SaveOutcome, SegmentRecord};
use serde::Serialize;
use serde_json::Value;

pub use export::flat_csv;
pub use load::behavior_name;

/// The starter segments every store wants (also in `segments/starter.seg`).
pub const STARTER: &str = include_str!("../../../segments/starter.seg");

/// Events of the Segment e-commerce and email specs (plus pages and screens):
/// conditions may name them before the first one is tracked.
pub const SPEC_EVENTS: &[&str] = &[
    "Page Viewed",
    "Screen Viewed",
    "Products Searched",
    "Product List Viewed",
    "Product Clicked",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Completed",
    "Order Updated",
    "Order Refunded",
    "Order Cancelled",
    "Coupon Applied",
    "Product Added to Wishlist",
    "Email Delivered",
    "Email Opened",
    "Email Link Clicked",
    "Email Bounced",
    "Email Marked as Spam",
    "Unsubscribed",
];

/// Full loads at least this large leave a snapshot for the next start.
pub const SNAPSHOT_MIN_EVENTS: usize = 200_000;

/// People sampled in evaluation results.
pub const SAMPLE: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] seglab_store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{}", .rendered)]
    Invalid {
        diagnostics: Vec<Diagnostic>,
        rendered: String,
    },
    #[error("no segment named {0:?}")]
    NotFound(String),
    #[error("segment {0:?} is used by {1}: change or delete those first")]
    InUse(String, String),
    #[error("person {0} has no events or traits yet")]
    NoTimeline(PersonId),
    #[error("segment {0:?}: {1}")]
    Engine(String, seglab_engine::EngineError),
    #[error("the stored definition of {0:?} is not a valid syntax tree: {1}")]
    Corrupt(String, String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Store(e) => e.code(),
            Error::Io(_) => "io",
            Error::Invalid { diagnostics, .. } => diagnostics
                .iter()
                .find(|d| d.is_error())
                .map_or("invalid_segment", |d| d.code),
            Error::NotFound(_) | Error::NoTimeline(_) => "not_found",
            Error::InUse(..) => "segment_in_use",
            Error::Engine(..) => "invalid_segment",
            Error::Corrupt(..) => "storage",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A segment's size at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub name: String,
    pub title: Option<String>,
    pub size: u64,
    /// Share of all people with a timeline.
    pub share: f64,
    /// A few members (person ids).
    pub sample: Vec<PersonId>,
}

/// What applying a definition would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentDiff {
    pub name: String,
    /// `new`, `changed` or `unchanged` (definition).
    pub status: &'static str,
    pub before: u64,
    pub after: u64,
    pub entering: u64,
    pub leaving: u64,
    pub entering_sample: Vec<PersonId>,
    pub leaving_sample: Vec<PersonId>,
}

/// What one [`Segments::refresh`] brought in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refreshed {
    /// Behavioral events added to the timelines.
    pub events: u64,
    /// The newest event sequence number loaded.
    pub last_seq: i64,
    /// The newest identity merge applied.
    pub last_merge: i64,
    /// People whose timeline or profile changed, by today's id, in id order.
    pub touched: Vec<Touched>,
    /// Identity merges applied, as (gone, kept) roots.
    pub merged: Vec<(PersonId, PersonId)>,
    /// Whether segment definitions were added, changed or deleted.
    pub definitions_changed: bool,
}

impl Refreshed {
    /// Adds a later refresh to this one.
    fn absorb(&mut self, later: &Refreshed) {
        self.events += later.events;
        self.last_seq = self.last_seq.max(later.last_seq);
        self.last_merge = self.last_merge.max(later.last_merge);
        self.merged.extend_from_slice(&later.merged);
        self.definitions_changed |= later.definitions_changed;
        let mut by_person: BTreeMap<PersonId, Touched> =
            self.touched.iter().map(|t| (t.person, *t)).collect();
        for t in &later.touched {
            by_person
                .entry(t.person)
                .and_modify(|e| {
                    e.seq = e.seq.max(t.seq);
                    e.historical &= t.historical;
                    e.merged |= t.merged;
                })
                .or_insert(*t);
        }
        self.touched = by_person.into_values().collect();
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.touched.is_empty() && self.merged.is_empty() && !self.definitions_changed
    }
}

/// One person a refresh changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touched {
    pub person: PersonId,
    /// The newest of their events in the refresh (0: changed by a merge only).
    pub seq: i64,
    /// Whether every one of those events was imported history.
    pub historical: bool,
    /// Whether another person merged into this one.
    pub merged: bool,
}

/// A parsed file and its warnings.
pub struct Checked {
    pub file: File,
    pub warnings: Vec<Diagnostic>,
}

struct Loaded {
    last_seq: i64,
    /// The newest merge applied.
    last_merge: i64,
    roots: Roots,
    /// What refreshes brought in and nobody took yet (see
    /// [`Segments::follow_changes`]).
    pending: Option<Refreshed>,
    /// (name, version) of the definitions the engine holds.
    versions: BTreeMap<String, i64>,
}

/// Timelines and definitions, kept in step with the store.
pub struct Segments {
    engine: RwLock<Engine>,
    loaded: Mutex<Loaded>,
}

struct TimelineSink<'a>(&'a mut Timelines);

impl load::Sink for TimelineSink<'_> {
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

/// The first load goes straight into the packed layout.
struct BulkSink<'a, 't>(&'a mut seglab_engine::BulkLoad<'t>);

impl load::Sink for BulkSink<'_, '_> {
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

fn condition_of(record: &SegmentRecord) -> Result<Condition> {
    serde_json::from_str(&record.ast)
        .map_err(|e| Error::Corrupt(record.name.clone(), e.to_string()))
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

    fn open_with(
        reader: &Reader,
        snapshot_dir: Option<&Path>,
        snapshot_min: usize,
    ) -> Result<Segments> {
        // Merges up to this one are in the roots; later ones are applied by the
        // first refresh (applying one twice changes nothing).
        let last_merge = reader.last_merge()?;
        let roots = reader.person_roots()?;
        let store_id = reader.store_id()?;
        // Events after a snapshot are read from the store; a snapshot far
        // behind the log is written again after that.
        let newest = reader.last_seq()?;
        let snap = snapshot_dir.and_then(|dir| {
            snapshot::read(dir, |h| h.store_id == store_id && h.last_seq <= newest).unwrap_or_else(
                |e| {
                    tracing::warn!(error = %e, "ignoring the timelines snapshot");
                    None
                },
            )
        });
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
                    let last = load::load(reader, header.last_seq, &mut BulkSink(&mut bulk))?;
                    reader.scan_traits(|person, key, value, _| {
                        load::Sink::set_trait(
                            &mut BulkSink(&mut bulk),
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
                let last = load::load(reader, 0, &mut BulkSink(&mut bulk))?;
                bulk.finish();
                if let Some(dir) = snapshot_dir
                    && timelines.event_count() as usize >= snapshot_min
                {
                    write_snapshot(dir, &store_id, last, &timelines);
                }
                (timelines, last)
            }
        };
        let segments = Segments {
            engine: RwLock::new(Engine::new(timelines)),
            loaded: Mutex::new(Loaded {
                last_seq,
                last_merge,
                roots: Roots::new(roots),
                pending: None,
                versions: BTreeMap::new(),
            }),
        };
        segments.sync_definitions(reader)?;
        Ok(segments)
    }

    fn engine(&self) -> std::sync::RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|e| e.into_inner())
    }

    fn engine_mut(&self) -> std::sync::RwLockWriteGuard<'_, Engine> {
        self.engine.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the engine's definitions in line with the store's.
    fn sync_definitions(&self, reader: &Reader) -> Result<bool> {
        let records = reader.segments()?;
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
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
    /// identity merges, traits, definitions) and says what changed.
    pub fn refresh(&self, reader: &Reader) -> Result<Refreshed> {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let merges = reader.merges_after(loaded.last_merge)?;
        let mut out = Refreshed::default();
        let mut touched: BTreeMap<PersonId, Touched> = BTreeMap::new();
        let mut profiles: Vec<PersonId> = Vec::new();
        {
            let mut engine = self.engine_mut();
            let timelines = engine.timelines_mut();
            for &(seq, from, into) in &merges {
                loaded.last_merge = seq;
                let (gone, kept) = loaded.roots.merge(from, into);
                if gone == kept {
                    continue;
                }
                if let Err(e) = timelines.merge(gone, kept) {
                    tracing::warn!(error = %e, gone, kept, "merge not applied in the engine");
                }
                out.merged.push((gone, kept));
                profiles.push(kept);
                touched.entry(kept).or_insert(Touched {
                    person: kept,
                    seq: 0,
                    historical: false,
                    merged: true,
                });
            }
            let roots = &loaded.roots;
            let mut sink = TimelineSink(timelines);
            let last = reader.scan_events(loaded.last_seq, |row| {
                let person = roots.resolve(row.person_id);
                if row.kind == seglab_event::EventType::Identify {
                    profiles.push(person);
                }
                let t = touched.entry(person).or_insert(Touched {
                    person,
                    seq: row.seq,
                    historical: row.historical,
                    merged: false,
                });
                t.seq = row.seq;
                t.historical &= row.historical;
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
            loaded.last_seq = last;
        }
        out.last_seq = loaded.last_seq;
        out.last_merge = loaded.last_merge;
        out.touched = touched.into_values().collect();
        // Under the same lock as the position moved: whoever takes the
        // changes gets every event and merge up to the position it reads.
        if let Some(pending) = &mut loaded.pending {
            pending.absorb(&out);
        }
        drop(loaded);
        out.definitions_changed = self.sync_definitions(reader)?;
        if out.definitions_changed {
            let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(pending) = &mut loaded.pending {
                pending.definitions_changed = true;
            }
        }
        Ok(out)
    }

    /// Puts back changes taken by [`Segments::take_changes`] that could not be
    /// applied, ahead of anything refreshed since.
    pub fn give_back(&self, mut taken: Refreshed) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pending) = &mut loaded.pending {
            taken.absorb(pending);
            *pending = taken;
        }
    }

    /// The version of every definition the engine holds, by name.
    pub fn definition_versions(&self) -> BTreeMap<String, i64> {
        let versions = self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .versions
            .clone();
        let engine = self.engine();
        versions
            .into_iter()
            .filter(|(n, _)| engine.definitions().contains_key(n))
            .collect()
    }

    /// From now on, keeps what every refresh brings in until
    /// [`Segments::take_changes`] takes it, whoever called the refresh.
    pub fn follow_changes(&self) {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let (last_seq, last_merge) = (loaded.last_seq, loaded.last_merge);
        loaded.pending.get_or_insert_with(|| Refreshed {
            last_seq,
            last_merge,
            ..Refreshed::default()
        });
    }

    /// What refreshes brought in since the last call (see
    /// [`Segments::follow_changes`]).
    pub fn take_changes(&self) -> Refreshed {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        let empty = Refreshed {
            last_seq: loaded.last_seq,
            last_merge: loaded.last_merge,
            ..Refreshed::default()
        };
        match &mut loaded.pending {
            Some(p) => std::mem::replace(p, empty),
            None => empty,
        }
    }

    /// Runs `f` with the engine (read access).
    pub fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&self.engine())
    }

    /// Today's person of `person` (itself unless it was merged into another).
    pub fn resolve(&self, person: PersonId) -> PersonId {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .roots
            .resolve(person)
    }

    /// The number of the newest identity merge applied.
    pub fn last_merge(&self) -> i64 {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_merge
    }

    /// Why `person` (today's id) is in saved segment `name` at `now`, or not:
    /// every condition with its answer and the events that decided it.
    pub fn explain(
        &self,
        person: PersonId,
        name: &str,
        now: i64,
    ) -> Result<seglab_engine::Explanation> {
        let engine = self.engine();
        if !engine.definitions().contains_key(name) {
            return Err(Error::NotFound(name.to_owned()));
        }
        if engine.timelines().index_of(person).is_none() {
            return Err(Error::NoTimeline(person));
        }
        engine
            .explain_segment(person, name, now)
            .map_err(|e| Error::Engine(name.to_owned(), e))
    }

    /// Runs `f` with the engine for writing (benchmarks and tools that push
    /// events straight into the timelines).
    pub fn with_engine_mut<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        f(&mut self.engine_mut())
    }

    /// The sequence number of the newest event loaded.
    pub fn last_seq(&self) -> i64 {
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_seq
    }

    /// People with a timeline.
    pub fn people(&self) -> u64 {
        self.engine().timelines().person_count() as u64
    }

    /// Events in the timelines.
    pub fn events(&self) -> u64 {
        self.engine().timelines().event_count()
    }

    /// Bytes the timelines use.
    pub fn memory_bytes(&self) -> usize {
        self.engine().timelines().memory().total()
    }

    /// What the timelines use, by part.
    pub fn memory(&self) -> seglab_engine::MemoryUsage {
        self.engine().timelines().memory()
    }

    /// What the checker knows: tracked events and properties, traits, saved
    /// segments.
    pub fn catalog(&self, reader: &Reader) -> Result<seglab_lang::Catalog> {
        let mut catalog = seglab_lang::Catalog::from(&self.engine().timelines().catalog());
        if !catalog.events.is_empty() {
            // Events of the Segment spec are valid names before they are first tracked.
            for name in SPEC_EVENTS {
                catalog.events.entry((*name).to_owned()).or_default();
            }
        }
        for r in reader.segments()? {
            catalog.segments.insert(r.name.clone(), condition_of(&r)?);
        }
        Ok(catalog)
    }

    /// Parses and checks `source` against what has been tracked.
    pub fn check(&self, reader: &Reader, source: &str, file_name: &str) -> Result<Checked> {
        let mut checked = self.check_files(reader, &[(file_name.to_owned(), source.to_owned())])?;
        Ok(checked.remove(0))
    }

    /// Parses and checks several files together (`(name, source)`): a segment may
    /// refer to one defined in another file. Every error of every file is
    /// reported.
    pub fn check_files(&self, reader: &Reader, files: &[(String, String)]) -> Result<Vec<Checked>> {
        let mut catalog = self.catalog(reader)?;
        let mut diagnostics = Vec::new();
        let mut rendered = String::new();
        let mut parsed = Vec::new();
        for (name, source) in files {
            match seglab_lang::parse(source) {
                Ok(file) => {
                    catalog.add_file(&file);
                    parsed.push((name, source, file));
                }
                Err(diags) => {
                    rendered += &seglab_lang::render_all(&diags, source, name);
                    diagnostics.extend(diags);
                }
            }
        }
        let mut out = Vec::new();
        for (name, source, file) in parsed {
            let diags = seglab_lang::check(&file, &catalog);
            if diags.iter().any(Diagnostic::is_error) {
                rendered += &seglab_lang::render_all(&diags, source, name);
                diagnostics.extend(diags);
            } else {
                out.push(Checked {
                    file,
                    warnings: diags,
                });
            }
        }
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(Error::Invalid {
                diagnostics,
                rendered,
            });
        }
        Ok(out)
    }

    /// Saves every segment of a checked file (a new version when changed) and
    /// defines it in the engine.
    pub fn apply(
        &self,
        reader: &Reader,
        checked: &Checked,
        source: &str,
    ) -> Result<Vec<(String, SaveOutcome)>> {
        let mut out = Vec::new();
        for def in &checked.file.segments {
            let text = def_source(def, source);
            let ast = serde_json::to_string(&def.condition.without_spans())
                .map_err(|e| Error::Corrupt(def.name.text.clone(), e.to_string()))?;
            let outcome = reader.save_segment(&def.name.text, def.title.as_deref(), &text, &ast)?;
            out.push((def.name.text.clone(), outcome));
        }
        self.sync_definitions(reader)?;
        Ok(out)
    }

    /// Saves one segment given as a condition (the API's JSON form).
    pub fn save_condition(
        &self,
        reader: &Reader,
        name: &str,
        title: Option<&str>,
        condition: &Condition,
    ) -> Result<SaveOutcome> {
        let def = SegmentDef {
            name: seglab_lang::ast::Name::new(name),
            title: title.map(str::to_owned),
            condition: condition.without_spans(),
            span: Default::default(),
        };
        let file = File {
            segments: vec![def],
        };
        let source = seglab_lang::print(&file);
        let checked = self.check(reader, &source, name)?;
        let mut saved = self.apply(reader, &checked, &source)?;
        Ok(saved
            .pop()
            .map(|(_, o)| o)
            .unwrap_or(SaveOutcome::Unchanged { version: 0 }))
    }

    /// Deletes a saved segment.
    pub fn delete(&self, reader: &Reader, name: &str) -> Result<()> {
        let users: Vec<String> = self
            .engine()
            .definitions()
            .iter()
            .filter(|(n, c)| *n != name && c.segment_refs().iter().any(|r| r.text == name))
            .map(|(n, _)| n.clone())
            .collect();
        if !users.is_empty() {
            return Err(Error::InUse(name.to_owned(), users.join(", ")));
        }
        if !reader.delete_segment(name)? {
            return Err(Error::NotFound(name.to_owned()));
        }
        self.sync_definitions(reader).map(drop)
    }

    fn evaluation(
        &self,
        engine: &Engine,
        name: &str,
        title: Option<String>,
        members: &RoaringBitmap,
    ) -> Evaluation {
        let people = engine.timelines().person_count().max(1) as f64;
        Evaluation {
            name: name.to_owned(),
            title,
            size: members.len(),
            share: members.len() as f64 / people,
            sample: engine.members(members, 0, SAMPLE),
        }
    }

    /// Sizes of saved segments at `now` (all of them when `names` is empty).
    pub fn evaluate(&self, reader: &Reader, names: &[String], now: i64) -> Result<Vec<Evaluation>> {
        let records = reader.segments()?;
        let titles: HashMap<&str, Option<String>> = records
            .iter()
            .map(|r| (r.name.as_str(), r.title.clone()))
            .collect();
        let wanted: Vec<String> = if names.is_empty() {
            records.iter().map(|r| r.name.clone()).collect()
        } else {
            names.to_vec()
        };
        for n in &wanted {
            if !titles.contains_key(n.as_str()) {
                return Err(Error::NotFound(n.clone()));
            }
        }
        let engine = self.engine();
        let list: Vec<(String, Condition)> = wanted
            .iter()
            .map(|n| {
                Ok((
                    n.clone(),
                    engine
                        .definitions()
                        .get(n)
                        .cloned()
                        .ok_or_else(|| Error::NotFound(n.clone()))?,
                ))
            })
            .collect::<Result<_>>()?;
        let results = engine
            .evaluate_all(&list, now)
            .map_err(|e| Error::Engine(wanted.join(", "), e))?;
        Ok(results
            .iter()
            .map(|(name, bitmap)| {
                self.evaluation(
                    &engine,
                    name,
                    titles.get(name.as_str()).cloned().flatten(),
                    bitmap,
                )
            })
            .collect())
    }

    /// Size and a sample of an unsaved condition at `now`.
    pub fn preview(&self, condition: &Condition, now: i64) -> Result<Evaluation> {
        let engine = self.engine();
        let members = engine
            .evaluate(condition, now)
            .map_err(|e| Error::Engine("preview".into(), e))?;
        Ok(self.evaluation(&engine, "preview", None, &members))
    }

    /// A page of a saved segment's members at `now`, and their total.
    pub fn members(
        &self,
        name: &str,
        now: i64,
        offset: usize,
        limit: usize,
    ) -> Result<(u64, Vec<PersonId>)> {
        let engine = self.engine();
        if !engine.definitions().contains_key(name) {
            return Err(Error::NotFound(name.to_owned()));
        }
        let members = engine
            .evaluate_segment(name, now)
            .map_err(|e| Error::Engine(name.to_owned(), e))?;
        Ok((members.len(), engine.members(&members, offset, limit)))
    }

    /// What applying the files would change at `now`: per segment, the definition's
    /// status and who would enter and leave.
    pub fn diff(&self, reader: &Reader, checked: &[Checked], now: i64) -> Result<Vec<SegmentDiff>> {
        let engine = self.engine();
        let new_list: Vec<(String, Condition)> = checked
            .iter()
            .flat_map(|c| &c.file.segments)
            .map(|d| (d.name.text.clone(), d.condition.without_spans()))
            .collect();
        let after = engine
            .evaluate_all(&new_list, now)
            .map_err(|e| Error::Engine("diff".into(), e))?;
        let mut out = Vec::new();
        for ((name, condition), (_, after)) in new_list.iter().zip(after) {
            let stored = reader.segment(name)?;
            let (status, before) = match &stored {
                None => ("new", RoaringBitmap::new()),
                Some(r) => {
                    let old = condition_of(r)?;
                    let status = if old == *condition {
                        "unchanged"
                    } else {
                        "changed"
                    };
                    let before = engine
                        .evaluate_segment(name, now)
                        .map_err(|e| Error::Engine(name.clone(), e))?;
                    (status, before)
                }
            };
            let entering = &after - &before;
            let leaving = &before - &after;
            out.push(SegmentDiff {
                name: name.clone(),
                status,
                before: before.len(),
                after: after.len(),
                entering: entering.len(),
                leaving: leaving.len(),
                entering_sample: engine.members(&entering, 0, SAMPLE),
                leaving_sample: engine.members(&leaving, 0, SAMPLE),
            });
        }
        Ok(out)
    }
}

/// The text of one definition in its file.
fn def_source(def: &SegmentDef, source: &str) -> String {
    let (start, end) = (def.span.start as usize, def.span.end as usize);
    match source.get(start..end) {
        Some(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => seglab_lang::print(&File {
            segments: vec![def.clone()],
        })
        .trim()
        .to_owned(),
    }
}

#[cfg(test)]
mod tests;

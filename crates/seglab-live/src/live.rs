//! The membership state machine: applies what the store committed and what the
//! clock passed, records every entry and exit, and keeps the timer queue.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use roaring::RoaringTreemap;
use seglab_engine::Engine;
use seglab_segments::{Changes, Cursor, Segments};
use seglab_store::{PersonId, Reader};

use crate::db::{LiveDb, NewChange, Position, Subscription};
use crate::eval::{PersonEval, Prepared};
use crate::{Cause, Change};
use crate::{Error, Result};

/// Passes over everyone: a definition changed, RFM quintiles moved.
mod passes;
mod retention;
mod warehouse;

pub use warehouse::Evaluated;

/// Who computes memberships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// The engine, incrementally: every commit, timer and merge (ADR 0006).
    #[default]
    Native,
    /// The warehouse, on a schedule (ADR 0018): [`Live::record_members`]
    /// records what an evaluation found, and steps only keep the engine
    /// current (for the API) without evaluating or moving the position in
    /// the log. Back in native mode, a start evaluates everyone the log
    /// changed since (cause `start`), as after any stop.
    Warehouse,
}

struct Seg {
    id: i64,
    name: String,
    version: i64,
    /// The version changed since it was last written.
    dirty: bool,
    members: RoaringTreemap,
}

/// What one [`Live::step`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stepped {
    /// People re-evaluated because of events or merges.
    pub people: usize,
    /// Timers that fired.
    pub timers: usize,
    /// Entries and exits recorded.
    pub changes: usize,
    /// Of which entries.
    pub entered: usize,
}

/// A change about to be recorded.
struct Pending {
    seg: usize,
    person: PersonId,
    entered: bool,
    at: i64,
    cause: Cause,
    event_seq: Option<i64>,
    historical: bool,
}

/// The changes of one step, with the latest queued answer per (segment,
/// person) so that later evaluations in the same step diff against it.
#[derive(Default)]
struct Batch {
    list: Vec<Pending>,
    latest: HashMap<(usize, PersonId), bool>,
}

impl Batch {
    fn push(&mut self, p: Pending) {
        self.latest.insert((p.seg, p.person), p.entered);
        self.list.push(p);
    }

    fn latest(&self, seg: usize, person: PersonId) -> Option<bool> {
        self.latest.get(&(seg, person)).copied()
    }
}

/// Live memberships of every defined segment.
pub struct Live {
    db: LiveDb,
    segs: Vec<Seg>,
    /// Index into `segs` by name.
    by_name: HashMap<String, usize>,
    prepared: Option<Prepared>,
    /// Position in `segs` of each prepared segment.
    slots: Vec<usize>,
    timers: BTreeSet<(i64, PersonId)>,
    due: HashMap<PersonId, i64>,
    /// Timers to write (`None`: delete).
    dirty_timers: BTreeMap<PersonId, Option<i64>>,
    clock: i64,
    last_seq: i64,
    last_merge: i64,
    last_rfm: i64,
    /// Events arrived since segments that use RFM were last re-evaluated.
    orders_since_rfm: bool,
    /// How often segments that use RFM are re-evaluated in full (ms).
    pub rfm_every: i64,
    subs: Vec<Subscription>,
    feed: tokio::sync::broadcast::Sender<Arc<Change>>,
    /// Changes recorded since the last checkpoint of the member bitmaps.
    since_checkpoint: u64,
    mode: Mode,
}

/// Checkpoint the member bitmaps after this many changes (and at shutdown).
const CHECKPOINT_CHANGES: u64 = 200_000;

impl Live {
    /// Opens the live state in `dir` for `segments` (which must be current)
    /// and brings it up to `now`: timers that came due while seglab was not
    /// running fire at their instants, then people with events or merges the
    /// state has not seen, and segments whose definition changed, are
    /// evaluated.
    ///
    /// A damaged `live.db` (SQLite cannot open it, its structure check
    /// fails, or what it holds cannot be read back) is set aside and the
    /// memberships are computed again from the event log in a new file, as
    /// for a new segment (cause `definition`): correct members now, no
    /// history before. A full disk does not stop the start: the state stays
    /// at its recorded position and the next step tries again.
    pub fn open(dir: &Path, segments: &Segments, reader: &Reader, now: i64) -> Result<Live> {
        Live::open_in(dir, segments, reader, now, Mode::Native)
    }

    /// [`Live::open`] in `mode`: in [`Mode::Warehouse`] nothing is evaluated
    /// at start (the first scheduled evaluation records what changed).
    pub fn open_in(
        dir: &Path,
        segments: &Segments,
        reader: &Reader,
        now: i64,
        mode: Mode,
    ) -> Result<Live> {
        let (db, aside) = LiveDb::open_checked(dir)?;
        let mut live = match Live::read(db) {
            Err(e) if aside.is_none() && crate::db::is_damage(&e) => {
                // Damage the structure check cannot see: values SQLite
                // stores fine but seglab cannot read (a member bitmap).
                let (db, _) = LiveDb::replace(dir, &e.to_string())?;
                Live::read(db)?
            }
            read => read?,
        };
        live.mode = mode;
        if mode == Mode::Native {
            live.catch_up(segments, reader, now)?;
        }
        Ok(live)
    }

    /// The state as `db` recorded it.
    fn read(db: LiveDb) -> Result<Live> {
        let (feed, _) = tokio::sync::broadcast::channel(4096);
        let at = db.position()?;
        let mut live = Live {
            segs: Vec::new(),
            by_name: HashMap::new(),
            prepared: None,
            slots: Vec::new(),
            timers: BTreeSet::new(),
            due: HashMap::new(),
            dirty_timers: BTreeMap::new(),
            clock: at.clock,
            last_seq: at.last_seq,
            last_merge: at.last_merge,
            last_rfm: i64::MIN,
            orders_since_rfm: false,
            rfm_every: 60_000,
            subs: db.subscriptions(true)?,
            feed,
            since_checkpoint: 0,
            mode: Mode::Native,
            db,
        };
        live.load()?;
        Ok(live)
    }

    /// Brings a state just read up to `now` (see [`Live::open`]).
    fn catch_up(&mut self, segments: &Segments, reader: &Reader, now: i64) -> Result<()> {
        let fresh = self.clock == i64::MIN;
        let now = now.max(self.clock);
        // What the state has not seen: events after its position and merges
        // after its last merge, found at start (a fresh state evaluates
        // everyone anyway).
        let mut gap = segments.changes_since(reader, self.cursor())?;
        if fresh {
            gap.touched.clear();
            gap.merged.clear();
        }
        for t in &mut gap.touched {
            t.seq = 0;
            t.merged = false;
        }
        if let Err(e) = self.apply(segments, gap, now) {
            if !e.is_storage_full() {
                return Err(e);
            }
            // The runner's next step records it (people the gap touched
            // then count as changed by events).
            tracing::error!(
                error = %e,
                "storage full: live memberships start from what live.db recorded; \
                 catching up when there is room"
            );
            self.reset()?;
        }
        Ok(())
    }

    /// Where the state stands in the store's log.
    fn cursor(&self) -> Cursor {
        Cursor {
            last_seq: self.last_seq,
            last_merge: self.last_merge,
        }
    }

    /// Loads segments, member bitmaps (checkpoint plus the changes after it)
    /// and timers.
    fn load(&mut self) -> Result<()> {
        for row in self.db.live_segments()? {
            self.by_name.insert(row.name.clone(), self.segs.len());
            self.segs.push(Seg {
                id: row.id,
                name: row.name,
                version: row.version,
                dirty: false,
                members: RoaringTreemap::new(),
            });
        }
        let by_id: HashMap<i64, usize> = self
            .segs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        let segs = &mut self.segs;
        let mut replayed = Vec::new();
        self.since_checkpoint = self.db.replay_members(
            |id, bitmap| {
                if let Some(&i) = by_id.get(&id) {
                    segs[i].members = bitmap;
                }
            },
            |id, person, entered| replayed.push((id, person, entered)),
        )?;
        for (id, person, entered) in replayed {
            if let Some(&i) = by_id.get(&id) {
                if entered {
                    self.segs[i].members.insert(person as u64);
                } else {
                    self.segs[i].members.remove(person as u64);
                }
            }
        }
        for (person, due) in self.db.timers()? {
            self.timers.insert((due, person));
            self.due.insert(person, due);
        }
        Ok(())
    }

    /// The live feed of changes (for server-sent events).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Change>> {
        self.feed.subscribe()
    }

    /// The sending side of the feed, to subscribe without holding the state.
    pub fn feed(&self) -> tokio::sync::broadcast::Sender<Arc<Change>> {
        self.feed.clone()
    }

    /// The instant the state has been brought to.
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// The newest event sequence number applied.
    pub fn last_seq(&self) -> i64 {
        self.last_seq
    }

    /// Pending timers (one per person at most).
    pub fn timer_count(&self) -> usize {
        self.due.len()
    }

    /// The earliest pending timer (none in warehouse mode: timers fire
    /// only natively).
    pub fn next_timer(&self) -> Option<i64> {
        match self.mode {
            Mode::Native => self.timers.first().map(|&(due, _)| due),
            Mode::Warehouse => None,
        }
    }

    /// Who computes the memberships.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Members of `segment` now, as person ids.
    pub fn members(&self, segment: &str) -> Option<&RoaringTreemap> {
        self.by_name.get(segment).map(|&i| &self.segs[i].members)
    }

    /// The segments `person` is in now.
    pub fn segments_of(&self, person: PersonId) -> Vec<String> {
        self.segs
            .iter()
            .filter(|s| s.members.contains(person as u64))
            .map(|s| s.name.clone())
            .collect()
    }

    /// Deletes deleted people from `live.db` and from memory (ADR 0014):
    /// their changes and the deliveries those owe, their timers, and their
    /// memberships, so they are in no segment and no checkpoint. Call it
    /// once the engine no longer holds them (else a step could evaluate
    /// them again).
    pub fn forget(&mut self, persons: &[PersonId]) -> Result<crate::db::Forgotten> {
        let out = self.db.forget(persons)?;
        for &p in persons {
            for s in &mut self.segs {
                s.members.remove(p as u64);
            }
            if let Some(due) = self.due.remove(&p) {
                self.timers.remove(&(due, p));
            }
            self.dirty_timers.remove(&p);
        }
        Ok(out)
    }

    /// Rebuilds `live.db` so that deleted rows are gone from the files (see
    /// [`LiveDb::erase_deleted`]).
    pub fn erase_deleted(&self) -> Result<bool> {
        self.db.erase_deleted()
    }

    /// Re-reads webhook subscriptions (after one was added or removed).
    pub fn reload_subscriptions(&mut self) -> Result<()> {
        self.subs = self.db.subscriptions(true)?;
        Ok(())
    }

    /// Brings the state to `now`: loads what the store committed, fires the
    /// timers due by then (each at its own instant), and re-evaluates everyone
    /// whose timeline changed.
    pub fn step(&mut self, segments: &Segments, reader: &Reader, now: i64) -> Result<Stepped> {
        segments.refresh(reader)?;
        if self.mode == Mode::Warehouse {
            return Ok(Stepped::default());
        }
        let changes = segments.changes_since(reader, self.cursor())?;
        let now = now.max(self.clock);
        match self.apply(segments, changes, now) {
            Ok(s) => Ok(s),
            Err(e) => {
                // Nothing was recorded: memory returns to what live.db holds,
                // and the next step reads the same changes again.
                self.reset()?;
                Err(e)
            }
        }
    }

    /// Reloads the in-memory state from `live.db`.
    fn reset(&mut self) -> Result<()> {
        self.segs.clear();
        self.by_name.clear();
        self.prepared = None;
        self.slots.clear();
        self.timers.clear();
        self.due.clear();
        self.dirty_timers.clear();
        self.since_checkpoint = 0;
        let at = self.db.position()?;
        (self.clock, self.last_seq, self.last_merge) = (at.clock, at.last_seq, at.last_merge);
        self.subs = self.db.subscriptions(true)?;
        self.load()
    }

    fn apply(&mut self, segments: &Segments, r: Changes, now: i64) -> Result<Stepped> {
        let mut out = Stepped::default();
        let mut pending = Batch::default();
        let versions = segments.definition_versions();
        if r.events > 0 {
            self.orders_since_rfm = true;
        }
        segments.with_engine(|engine| -> Result<()> {
            let redefined = self.sync_definitions(engine, &versions, now, &mut pending)?;
            // Merges first: a merged-away person leaves every segment and has
            // no timeline (or timer) of its own any more.
            for &(gone, _) in &r.merged {
                self.unschedule(gone);
                for i in 0..self.segs.len() {
                    let is_in = pending
                        .latest(i, gone)
                        .unwrap_or_else(|| self.segs[i].members.contains(gone as u64));
                    if is_in {
                        pending.push(Pending {
                            seg: i,
                            person: gone,
                            entered: false,
                            at: now,
                            cause: Cause::Merge,
                            event_seq: None,
                            historical: false,
                        });
                    }
                }
            }
            // Timers, in time order, each at its own instant.
            while let Some(&(due, person)) = self.timers.first() {
                if due > now {
                    break;
                }
                self.timers.pop_first();
                self.due.remove(&person);
                self.dirty_timers.insert(person, None);
                if segments.resolve(person) != person {
                    continue;
                }
                out.timers += 1;
                let eval = self.prepared()?.person(engine, person, due)?;
                self.diff(
                    person,
                    &eval,
                    due,
                    &|_| Cause::Time,
                    None,
                    false,
                    &mut pending,
                );
                self.schedule(person, eval.next);
            }
            // The people the store changed, at `now`.
            let evals: Vec<(seglab_segments::Touched, Result<PersonEval>)> = {
                let prepared = self.prepared()?;
                r.touched
                    .par_iter()
                    .map(|t| (*t, prepared.person(engine, t.person, now)))
                    .collect()
            };
            for (t, eval) in evals {
                let eval = eval?;
                let cause = if t.merged {
                    Cause::Merge
                } else if t.seq == 0 {
                    Cause::Start
                } else {
                    Cause::Event
                };
                let seq = (t.seq > 0).then_some(t.seq);
                self.diff(
                    t.person,
                    &eval,
                    now,
                    &|_| cause,
                    seq,
                    t.historical,
                    &mut pending,
                );
                self.schedule(t.person, eval.next);
            }
            out.people = r.touched.len();
            if !redefined.is_empty() || self.clock == i64::MIN {
                // Everyone (the timers now cover more conditions); changes of
                // the segments whose definition changed are `definition`.
                self.evaluate_everyone(engine, now, &redefined, &mut pending)?;
            }
            if self.rfm_due(now) {
                self.evaluate_rfm(engine, now, &mut pending)?;
            }
            Ok(())
        })?;
        out.changes = pending.list.len();
        out.entered = pending.list.iter().filter(|p| p.entered).count();
        self.record(
            pending.list,
            Position {
                clock: now,
                last_seq: r.to.last_seq.max(self.last_seq),
                last_merge: r.to.last_merge.max(self.last_merge),
            },
        )?;
        Ok(out)
    }

    fn prepared(&self) -> Result<&Prepared> {
        self.prepared
            .as_ref()
            .ok_or_else(|| Error::Corrupt("segments not prepared".into()))
    }

    /// Lines the segments up with the engine's definitions; returns the ones
    /// that are new or changed (their members are recomputed by the caller).
    fn sync_definitions(
        &mut self,
        engine: &Engine,
        versions: &BTreeMap<String, i64>,
        now: i64,
        pending: &mut Batch,
    ) -> Result<Vec<usize>> {
        let mut redefined = Vec::new();
        // Deleted: every member exits.
        for i in 0..self.segs.len() {
            let s = &self.segs[i];
            if s.id != 0 && !engine.definitions().contains_key(&s.name) && s.version >= 0 {
                for person in s.members.iter() {
                    pending.push(Pending {
                        seg: i,
                        person: person as i64,
                        entered: false,
                        at: now,
                        cause: Cause::Deleted,
                        event_seq: None,
                        historical: false,
                    });
                }
                self.segs[i].version = -1;
            }
        }
        // Every segment the engine holds (the version read a moment earlier
        // may lag behind it: a later step sees the new version and
        // re-evaluates).
        for name in engine.definitions().keys() {
            let name = name.as_str();
            let version = versions.get(name).copied().unwrap_or(0);
            match self.by_name.get(name) {
                Some(&i) if self.segs[i].version == version => {}
                Some(&i) => {
                    self.segs[i].version = version;
                    self.segs[i].dirty = true;
                    redefined.push(i);
                }
                None => {
                    self.by_name.insert(name.to_owned(), self.segs.len());
                    redefined.push(self.segs.len());
                    self.segs.push(Seg {
                        id: 0,
                        name: name.to_owned(),
                        version,
                        dirty: true,
                        members: RoaringTreemap::new(),
                    });
                }
            }
        }
        let stale = self.prepared.as_ref().is_none_or(|p| p.is_stale(engine));
        if stale || !redefined.is_empty() {
            let prepared = Prepared::new(engine, now)?;
            self.slots = prepared
                .names()
                .iter()
                .map(|n| self.by_name[n.as_str()])
                .collect();
            self.prepared = Some(prepared);
        }
        Ok(redefined)
    }

    fn schedule(&mut self, person: PersonId, due: Option<i64>) {
        self.unschedule(person);
        if let Some(due) = due {
            self.timers.insert((due, person));
            self.due.insert(person, due);
            self.dirty_timers.insert(person, Some(due));
        }
    }

    fn unschedule(&mut self, person: PersonId) {
        if let Some(old) = self.due.remove(&person) {
            self.timers.remove(&(old, person));
            self.dirty_timers.insert(person, None);
        }
    }

    /// Writes the changes, their deliveries, the timers and the position in
    /// one transaction, then applies them in memory and tells the feed.
    fn record(&mut self, pending: Vec<Pending>, at: Position) -> Result<()> {
        let now = at.clock;
        let rec = self.db.recording()?;
        for s in &mut self.segs {
            if s.version < 0 {
                rec.segment_deleted(&s.name)?;
            } else if s.id == 0 || s.dirty {
                // A failed commit leaves the segment dirty: the next step
                // writes it again and reads its id anew.
                s.id = rec.segment(&s.name, s.version)?;
            }
        }
        let mut recorded = Vec::with_capacity(pending.len());
        for p in &pending {
            let seg = &self.segs[p.seg];
            let id = rec.change(&NewChange {
                segment: seg.id,
                person: p.person,
                entered: p.entered,
                at: p.at,
                cause: p.cause,
                event_seq: p.event_seq,
                historical: p.historical,
            })?;
            if p.cause.delivered() && !p.historical {
                for sub in &self.subs {
                    if (if p.entered { sub.entered } else { sub.exited })
                        && sub.segments.as_ref().is_none_or(|s| s.contains(&seg.name))
                    {
                        rec.owe_delivery(sub.id, id, now)?;
                    }
                }
            }
            recorded.push(Change {
                id,
                segment: seg.name.clone(),
                person: p.person,
                entered: p.entered,
                at: p.at,
                cause: p.cause,
                event_seq: p.event_seq,
                historical: p.historical,
            });
        }
        for (&person, &due) in &self.dirty_timers {
            rec.timer(person, due)?;
        }
        rec.commit(at)?;
        self.dirty_timers.clear();
        for s in &mut self.segs {
            s.dirty = false;
        }
        (self.clock, self.last_seq, self.last_merge) = (at.clock, at.last_seq, at.last_merge);
        for p in &pending {
            let m = &mut self.segs[p.seg].members;
            if p.entered {
                m.insert(p.person as u64);
            } else {
                m.remove(p.person as u64);
            }
        }
        self.segs.retain(|s| s.version >= 0);
        self.by_name = self
            .segs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.clone(), i))
            .collect();
        if let Some(p) = &self.prepared {
            self.slots = p
                .names()
                .iter()
                .filter_map(|n| self.by_name.get(n.as_str()).copied())
                .collect();
        }
        self.since_checkpoint += recorded.len() as u64;
        for c in recorded {
            // No receivers is fine: nobody is watching.
            let _ = self.feed.send(Arc::new(c));
        }
        if self.since_checkpoint >= CHECKPOINT_CHANGES {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Writes every member bitmap, so a restart replays only later changes.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.db
            .checkpoint(self.segs.iter().map(|s| (s.id, &s.members)))?;
        self.since_checkpoint = 0;
        Ok(())
    }
}

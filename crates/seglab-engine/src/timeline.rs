//! People and their events, in memory, user-major.
//!
//! Layout:
//!
//! - Each person has a dense index (`u32`), assigned on first sight of its
//!   external id (`i64`, the store's person id). `Timelines::persons[index]`
//!   holds where the person's events are, a 64-bit summary of the event names
//!   the person has (bit `name % 64`, so evaluation skips people who never
//!   did E without reading their events), and the person's traits.
//! - A person's events are sorted by time; equal times keep arrival order. An
//!   [`Event`] is 12 bytes: the timestamp (epoch ms, 48 bits), the interned
//!   event name (16 bits) and the id of its interned property set.
//! - Events live either in one shared *packed* array, person after person
//!   (after [`Timelines::compact`] or a [`Timelines::bulk_load`]: no
//!   per-person allocation, sequential reads during evaluation), or in the
//!   person's own growable array (a person changed since the last packing is
//!   moved out of the packed array, leaving a hole until the next packing).
//! - Property sets live once in the [`Dictionary`] (see [`crate::props`]): many
//!   events share identical properties, so an event pays 4 bytes for them.
//! - Traits are a short list of `(trait name, property set of {name: value})`
//!   entries per person, sorted by name id.
//! - Identity merges move the events of one person into another (a sorted
//!   merge, the surviving person's events first among equal times); the merged
//!   index stays behind, empty and forwarded, and is skipped by evaluation.

mod memory;
mod pack;
mod snapshot;

pub use memory::MemoryUsage;
pub use pack::BulkLoad;

use roaring::RoaringBitmap;
use serde_json::Value;

use crate::EngineError;
use crate::intern::{IntMap, NONE, StrInterner};
use crate::props::{Dictionary, Pair, kind_bits};

/// One event in 12 bytes: the time (48-bit signed milliseconds since the epoch,
/// about ±4 400 years), the event name id (16 bits) and the property set id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// Low 32 bits of the time.
    lo: u32,
    /// High 16 bits of the time, then the name id.
    hi: u32,
    props: u32,
}

impl Event {
    /// The earliest time an event can have.
    pub(crate) const MIN_TS: i64 = -(1 << 47);
    /// The latest time an event can have.
    pub(crate) const MAX_TS: i64 = (1 << 47) - 1;
    /// The largest event name id.
    pub(crate) const MAX_NAME: u32 = 0xFFFF;

    /// `ts` within `MIN_TS..=MAX_TS`, `name <= MAX_NAME`.
    pub(crate) fn new(ts: i64, name: u32, props: u32) -> Event {
        debug_assert!((Self::MIN_TS..=Self::MAX_TS).contains(&ts) && name <= Self::MAX_NAME);
        Event {
            lo: ts as u32,
            hi: ((ts >> 32) as u32 & 0xFFFF) | (name << 16),
            props,
        }
    }

    #[inline]
    pub(crate) fn ts(self) -> i64 {
        // Sign-extend the 48-bit time.
        ((((u64::from(self.hi) << 32) | u64::from(self.lo)) << 16) as i64) >> 16
    }

    #[inline]
    pub(crate) fn name(self) -> u32 {
        self.hi >> 16
    }

    #[inline]
    pub(crate) fn props(self) -> u32 {
        self.props
    }
}

/// The id of an interned properties object (see
/// [`Timelines::intern_properties`]); valid for the timelines that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PropsId(u32);

/// One trait of a person: its name (an interned path) and the property set of
/// `{name: value}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraitEntry {
    pub(crate) key: u32,
    pub(crate) set: u32,
}

#[derive(Debug)]
pub(crate) struct Person {
    /// The events, unless they are packed (`packed_len > 0`).
    own: Vec<Event>,
    /// Where the events are in `Timelines::packed`.
    packed_start: u64,
    packed_len: u32,
    /// Bit `name % 64` is set when the person has an event of that name.
    pub(crate) names: u64,
    /// The time of the latest event (`i64::MIN`: none), so that evaluation
    /// skips a person with nothing in a window without reading the events.
    pub(crate) last: i64,
    pub(crate) traits: Box<[TraitEntry]>,
}

impl Default for Person {
    fn default() -> Person {
        Person {
            own: Vec::new(),
            packed_start: 0,
            packed_len: 0,
            names: 0,
            last: i64::MIN,
            traits: Box::default(),
        }
    }
}

/// The bit of [`Person::names`] for an event name id.
#[inline]
pub(crate) fn name_bit(name: u32) -> u64 {
    1 << (name % 64)
}

/// Every person's timeline and traits. See the module docs for the layout.
pub struct Timelines {
    pub(crate) persons: Vec<Person>,
    /// Every packed person's events, person after person (see [`Timelines::compact`]).
    packed: Vec<Event>,
    /// Events in `packed` that belong to no one any more.
    packed_garbage: usize,
    /// External id each index was created for.
    ext_ids: Vec<i64>,
    /// `forward[i] == i` while `i` is a live person; else the person it merged into.
    forward: Vec<u32>,
    index: IntMap<i64, u32>,
    /// The person of the latest [`Timelines::person_or_insert`]: loads often
    /// bring several events of one person in a row.
    recent: Option<(i64, u32)>,
    pub(crate) names: StrInterner,
    pub(crate) name_counts: Vec<u64>,
    /// Per event name, the property sets seen with it (for the catalog).
    pub(crate) name_sets: Vec<RoaringBitmap>,
    pub(crate) trait_kinds: IntMap<u32, u8>,
    pub(crate) dict: Dictionary,
    alive: usize,
    events: u64,
    generation: u64,
}

impl Default for Timelines {
    fn default() -> Timelines {
        Timelines::new()
    }
}

impl std::fmt::Debug for Timelines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timelines")
            .field("people", &self.alive)
            .field("events", &self.events)
            .field("event_names", &self.names.len())
            .field("property_sets", &self.dict.set_count())
            .finish()
    }
}

impl Timelines {
    pub fn new() -> Timelines {
        Timelines {
            persons: Vec::new(),
            packed: Vec::new(),
            packed_garbage: 0,
            ext_ids: Vec::new(),
            forward: Vec::new(),
            index: IntMap::default(),
            recent: None,
            names: StrInterner::new(Event::MAX_NAME, "event names"),
            name_counts: Vec::new(),
            name_sets: Vec::new(),
            trait_kinds: IntMap::default(),
            dict: Dictionary::default(),
            alive: 0,
            events: 0,
            generation: 0,
        }
    }

    /// Adds one event. Events may arrive in any order; each timeline stays
    /// sorted by time, equal times in arrival order.
    pub fn push(
        &mut self,
        person: i64,
        ts: i64,
        event: &str,
        properties: &Value,
    ) -> Result<(), EngineError> {
        let (idx, ev) = self.prepare(person, ts, event, properties)?;
        self.place(idx, ev);
        Ok(())
    }

    /// Interns a properties object (as [`Timelines::push`] does) and returns
    /// its id, for [`Timelines::push_interned`] and [`BulkLoad::push_interned`]:
    /// a loader that sees the same payload again (the same product viewed by
    /// many people) can then skip parsing and interning it. Equal properties
    /// get equal ids; an id stays valid for the life of these timelines.
    pub fn intern_properties(&mut self, properties: &Value) -> Result<PropsId, EngineError> {
        self.dict.intern_object(properties).map(PropsId)
    }

    /// Adds one event whose properties were interned by
    /// [`Timelines::intern_properties`]; the same as [`Timelines::push`] with
    /// those properties.
    pub fn push_interned(
        &mut self,
        person: i64,
        ts: i64,
        event: &str,
        properties: PropsId,
    ) -> Result<(), EngineError> {
        let props = self.known(properties)?;
        let (idx, ev) = self.prepare_interned(person, ts, event, |_| Ok(props))?;
        self.place(idx, ev);
        Ok(())
    }

    /// The set of a properties id, if these timelines handed it out.
    fn known(&self, properties: PropsId) -> Result<u32, EngineError> {
        let id = properties.0;
        if (id as usize) < self.dict.set_count() {
            Ok(id)
        } else {
            Err(EngineError::UnknownProperties { id })
        }
    }

    /// Places one event in its person's own, sorted array.
    fn place(&mut self, idx: u32, ev: Event) {
        let events = self.events_mut(idx);
        match events.last() {
            Some(last) if last.ts() > ev.ts() => {
                let at = events.partition_point(|e| e.ts() <= ev.ts());
                events.insert(at, ev);
            }
            _ => events.push(ev),
        }
    }

    /// Interns an event and accounts for it; the caller places it.
    fn prepare(
        &mut self,
        person: i64,
        ts: i64,
        event: &str,
        properties: &Value,
    ) -> Result<(u32, Event), EngineError> {
        self.prepare_interned(person, ts, event, |dict| dict.intern_object(properties))
    }

    /// [`Timelines::prepare`] with the properties interned by `props` (once the
    /// name is known to be valid, so that a bad event interns nothing new).
    fn prepare_interned(
        &mut self,
        person: i64,
        ts: i64,
        event: &str,
        props: impl FnOnce(&mut Dictionary) -> Result<u32, EngineError>,
    ) -> Result<(u32, Event), EngineError> {
        if !(Event::MIN_TS..=Event::MAX_TS).contains(&ts) {
            return Err(EngineError::TimestampOutOfRange { ts });
        }
        let name = self.names.intern(event)?;
        if name as usize == self.name_counts.len() {
            self.name_counts.push(0);
            self.name_sets.push(RoaringBitmap::new());
        }
        let props = props(&mut self.dict)?;
        let idx = self.person_or_insert(person)?;
        self.name_counts[name as usize] += 1;
        self.name_sets[name as usize].insert(props);
        let p = &mut self.persons[idx as usize];
        p.names |= name_bit(name);
        p.last = p.last.max(ts);
        self.events += 1;
        self.generation += 1;
        Ok((idx, Event::new(ts, name, props)))
    }

    /// Event retention: drops every event before `before` (epoch
    /// milliseconds), as if it had never been pushed; people, their traits
    /// and their ids stay. Returns the external ids of the people who lost
    /// events, in index order.
    pub fn expire(&mut self, before: i64) -> Vec<i64> {
        let mut touched = Vec::new();
        for idx in 0..self.persons.len() as u32 {
            if !self.is_alive(idx) {
                continue;
            }
            let k = self.events(idx).partition_point(|e| e.ts() < before);
            if k == 0 {
                continue;
            }
            let gone: Vec<u32> = self.events(idx)[..k].iter().map(|e| e.name()).collect();
            for name in gone {
                self.name_counts[name as usize] -= 1;
            }
            let p = &mut self.persons[idx as usize];
            if p.packed_len > 0 {
                // The packed array keeps the dropped events as garbage until
                // the next packing.
                p.packed_start += k as u64;
                p.packed_len -= k as u32;
                self.packed_garbage += k;
            } else {
                p.own.drain(..k);
            }
            let names = self
                .events(idx)
                .iter()
                .fold(0, |m, e| m | name_bit(e.name()));
            let p = &mut self.persons[idx as usize];
            p.names = names;
            if p.own.is_empty() && p.packed_len == 0 {
                p.last = i64::MIN;
            }
            self.events -= k as u64;
            touched.push(self.ext_ids[idx as usize]);
        }
        if !touched.is_empty() {
            self.recent = None;
            self.generation += 1;
        }
        touched
    }

    /// Identity merge: `from`'s events and traits join `into`'s, and `from`
    /// becomes another name of `into` (later events for `from` go to `into`).
    /// Among equal times, `into`'s events come first; a trait both have keeps
    /// `into`'s value.
    pub fn merge(&mut self, from: i64, into: i64) -> Result<(), EngineError> {
        let i = self.person_or_insert(into)?;
        // `from` may be the recent person, and is about to name another.
        self.recent = None;
        self.generation += 1;
        let Some(f) = self.index_of(from) else {
            self.index.insert(from, i);
            return Ok(());
        };
        if f == i {
            return Ok(());
        }
        let gone_events = std::mem::take(self.events_mut(f));
        let kept_events = std::mem::take(self.events_mut(i));
        let gone = std::mem::take(&mut self.persons[f as usize]);
        let kept = &mut self.persons[i as usize];
        kept.own = merge_sorted(kept_events, gone_events);
        kept.names |= gone.names;
        kept.last = kept.last.max(gone.last);
        if !gone.traits.is_empty() {
            let mut traits = kept.traits.to_vec();
            for t in gone.traits.iter() {
                if let Err(at) = traits.binary_search_by_key(&t.key, |e| e.key) {
                    traits.insert(at, *t);
                }
            }
            kept.traits = traits.into_boxed_slice();
        }
        self.forward[f as usize] = i;
        self.index.insert(from, i);
        self.alive -= 1;
        Ok(())
    }

    /// Sets one trait (from an identify call); `null` removes it. The value
    /// replaces the trait's previous value as a whole.
    pub fn set_trait(&mut self, person: i64, key: &str, value: Value) -> Result<(), EngineError> {
        let idx = self.person_or_insert(person)?;
        let k = self.dict.keys.intern(key)?;
        let entry = if value.is_null() {
            None
        } else {
            let set = self.dict.intern_entry(key, &value)?;
            for &p in self.dict.set(set) {
                *self.trait_kinds.entry(p.path()).or_default() |= kind_bits(p);
            }
            Some(TraitEntry { key: k, set })
        };
        let person = &mut self.persons[idx as usize];
        let mut traits = person.traits.to_vec();
        match (traits.binary_search_by_key(&k, |e| e.key), entry) {
            (Ok(at), Some(e)) => traits[at] = e,
            (Ok(at), None) => {
                traits.remove(at);
            }
            (Err(at), Some(e)) => traits.insert(at, e),
            (Err(_), None) => {}
        }
        person.traits = traits.into_boxed_slice();
        self.generation += 1;
        Ok(())
    }

    /// Sets every key of a traits object (anything else is ignored).
    pub fn set_traits(&mut self, person: i64, traits: &Value) -> Result<(), EngineError> {
        if let Value::Object(map) = traits {
            for (k, v) in map {
                self.set_trait(person, k, v.clone())?;
            }
        } else {
            self.person_or_insert(person)?;
        }
        Ok(())
    }

    fn person_or_insert(&mut self, person: i64) -> Result<u32, EngineError> {
        if let Some((p, i)) = self.recent
            && p == person
        {
            return Ok(i);
        }
        if let Some(i) = self.index_of(person) {
            self.recent = Some((person, i));
            return Ok(i);
        }
        let i = self.persons.len();
        if i >= NONE as usize {
            return Err(EngineError::CapacityExceeded { what: "people" });
        }
        let i = i as u32;
        self.persons.push(Person::default());
        self.ext_ids.push(person);
        self.forward.push(i);
        self.index.insert(person, i);
        self.recent = Some((person, i));
        self.alive += 1;
        self.generation += 1;
        Ok(i)
    }

    /// The dense index of a person (following merges), if known.
    pub fn index_of(&self, person: i64) -> Option<u32> {
        let mut i = *self.index.get(&person)?;
        while self.forward[i as usize] != i {
            i = self.forward[i as usize];
        }
        Some(i)
    }

    /// The external id of a live person index (the id it was created for).
    pub fn external_id(&self, index: u32) -> Option<i64> {
        self.is_alive(index).then(|| self.ext_ids[index as usize])
    }

    /// The external id a person is known by after merges.
    pub fn canonical_id(&self, person: i64) -> Option<i64> {
        self.index_of(person).map(|i| self.ext_ids[i as usize])
    }

    #[inline]
    pub(crate) fn is_alive(&self, index: u32) -> bool {
        self.forward.get(index as usize) == Some(&index)
    }

    /// Number of (live) people.
    pub fn person_count(&self) -> usize {
        self.alive
    }

    /// Number of person indexes ever handed out (live or merged away): the
    /// bound of the bitmaps evaluation returns.
    pub fn index_len(&self) -> usize {
        self.persons.len()
    }

    /// Number of events loaded.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// Changes on every mutation: lets callers cache results.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Live person indexes with their external ids.
    pub fn people(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        (0..self.persons.len() as u32)
            .filter(|&i| self.is_alive(i))
            .map(|i| (i, self.ext_ids[i as usize]))
    }

    /// A person's events, sorted by time.
    #[inline]
    pub(crate) fn events(&self, index: u32) -> &[Event] {
        let p = &self.persons[index as usize];
        if p.packed_len > 0 {
            let start = p.packed_start as usize;
            &self.packed[start..start + p.packed_len as usize]
        } else {
            &p.own
        }
    }

    /// Reads one event per cache line of the events of the people `range`
    /// that have an event named in `names` (a [`name_bit`] mask) at `from` or
    /// later, so that they are in the cache when evaluated (people in
    /// ascending order, each one's events forwards: a sweep the hardware
    /// prefetches). Returns a value computed from them.
    pub(crate) fn touch_events(&self, range: std::ops::Range<usize>, names: u64, from: i64) -> u32 {
        // 12-byte events: one in five is in each 64-byte line at least.
        const STEP: usize = 5;
        let mut acc = 0u32;
        for (i, p) in self.persons[range.clone()].iter().enumerate() {
            if p.names & names != 0 && p.last >= from {
                let events = self.events((range.start + i) as u32);
                acc = events.iter().step_by(STEP).fold(acc, |a, e| a ^ e.props);
            }
        }
        acc
    }

    /// A person's events, unpacked for changes.
    fn events_mut(&mut self, index: u32) -> &mut Vec<Event> {
        let p = &mut self.persons[index as usize];
        if p.packed_len > 0 {
            let (start, len) = (p.packed_start as usize, p.packed_len as usize);
            let mut own = Vec::with_capacity(len + len / 4 + 1);
            own.extend_from_slice(&self.packed[start..start + len]);
            p.own = own;
            p.packed_len = 0;
            self.packed_garbage += len;
        }
        &mut p.own
    }

    /// How many events have a name.
    pub(crate) fn name_count(&self, name: u32) -> u64 {
        self.name_counts.get(name as usize).copied().unwrap_or(0)
    }

    /// The property sets seen with an event name.
    pub(crate) fn sets_of_name(&self, name: u32) -> Option<&RoaringBitmap> {
        self.name_sets.get(name as usize)
    }

    /// The interned id of an event name.
    pub(crate) fn name_id(&self, name: &str) -> Option<u32> {
        self.names.get(name)
    }

    /// The property set of an event.
    #[inline]
    pub(crate) fn set(&self, id: u32) -> &[Pair] {
        self.dict.set(id)
    }
}

/// Merges two time-sorted lists; among equal times, `first`'s events come first.
fn merge_sorted(first: Vec<Event>, second: Vec<Event>) -> Vec<Event> {
    if second.is_empty() {
        return first;
    }
    if first.is_empty() {
        return second;
    }
    let mut out = Vec::with_capacity(first.len() + second.len());
    let (mut a, mut b) = (first.into_iter().peekable(), second.into_iter().peekable());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        if y.ts() < x.ts() {
            out.push(*y);
            b.next();
        } else {
            out.push(*x);
            a.next();
        }
    }
    out.extend(a);
    out.extend(b);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(super) fn times(t: &Timelines, person: i64) -> Vec<(i64, String)> {
        let i = t.index_of(person).unwrap();
        t.events(i)
            .iter()
            .map(|e| (e.ts(), t.names.resolve(e.name()).to_owned()))
            .collect()
    }

    #[test]
    fn out_of_order_pushes_end_sorted_and_stable() {
        let mut t = Timelines::new();
        for (ts, name) in [(5, "a"), (1, "b"), (5, "c"), (3, "d"), (1, "e"), (9, "f")] {
            t.push(7, ts, name, &json!({})).unwrap();
        }
        let got = times(&t, 7);
        let want: Vec<(i64, String)> = [(1, "b"), (1, "e"), (3, "d"), (5, "a"), (5, "c"), (9, "f")]
            .into_iter()
            .map(|(t, n)| (t, n.to_owned()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(t.event_count(), 6);
        assert_eq!(t.person_count(), 1);
    }

    /// Everything a person's events say: times, names and properties.
    fn full(t: &Timelines, person: i64) -> Vec<(i64, String, Vec<Pair>)> {
        let i = t.index_of(person).unwrap();
        t.events(i)
            .iter()
            .map(|e| {
                (
                    e.ts(),
                    t.names.resolve(e.name()).to_owned(),
                    t.set(e.props()).to_vec(),
                )
            })
            .collect()
    }

    #[test]
    fn pushing_interned_properties_equals_pushing_values() {
        let props = [
            json!({"product_id": "sku-1", "category": "shoes", "price": 25.5}),
            json!({"order_id": "o-1", "revenue": 10, "products": [{"category": "bags"}]}),
            json!({}),
            json!(null),
            json!({"product_id": "sku-1", "category": "shoes", "price": 25.5}),
        ];
        let events: Vec<(i64, i64, &str, usize)> = (0..120)
            .map(|i| {
                (
                    i % 9,
                    (i * 53) % 70,
                    ["a", "b", "c"][i as usize % 3],
                    i as usize % props.len(),
                )
            })
            .collect();
        // One by one, in bulk, and in bulk after some pushes.
        for bulk in [false, true] {
            let mut values = Timelines::new();
            let mut interned = Timelines::new();
            for t in [&mut values, &mut interned] {
                t.push(3, 5, "before", &json!({"x": 1})).unwrap();
                t.compact();
            }
            let ids: Vec<PropsId> = props
                .iter()
                .map(|p| interned.intern_properties(p).unwrap())
                .collect();
            assert_eq!(ids[0], ids[4], "equal properties share an id");
            assert_eq!(ids[2], ids[3], "no properties");
            if bulk {
                let mut load = values.bulk_load();
                for &(p, ts, name, k) in &events {
                    load.push(p, ts, name, &props[k]).unwrap();
                }
                load.finish();
                let mut load = interned.bulk_load();
                for &(p, ts, name, k) in &events {
                    load.push_interned(p, ts, name, ids[k]).unwrap();
                }
                assert_eq!(load.len(), events.len());
                load.finish();
            } else {
                for &(p, ts, name, k) in &events {
                    values.push(p, ts, name, &props[k]).unwrap();
                    interned.push_interned(p, ts, name, ids[k]).unwrap();
                }
            }
            for p in 0..9 {
                assert_eq!(full(&values, p), full(&interned, p), "person {p}");
            }
            assert_eq!(values.event_count(), interned.event_count());
            assert_eq!(values.person_count(), interned.person_count());
            assert_eq!(values.catalog(), interned.catalog());
        }
    }

    #[test]
    fn unknown_properties_ids_are_errors() {
        let mut t = Timelines::new();
        let mut other = Timelines::new();
        other.intern_properties(&json!({"a": 1})).unwrap();
        let foreign = other.intern_properties(&json!({"b": 2})).unwrap();
        assert_eq!(
            t.push_interned(1, 1, "e", foreign),
            Err(EngineError::UnknownProperties { id: 2 })
        );
        assert_eq!(t.person_count(), 0);
        assert_eq!(t.event_count(), 0);
        assert!(t.catalog().events.is_empty());
        let mut load = t.bulk_load();
        assert!(load.push_interned(1, 1, "e", foreign).is_err());
        let empty = load.intern_properties(&json!({})).unwrap();
        load.push_interned(1, 1, "e", empty).unwrap();
        load.finish();
        assert_eq!(t.event_count(), 1);
    }

    #[test]
    fn merge_interleaves_and_forwards() {
        let mut t = Timelines::new();
        t.push(1, 10, "x1", &json!({})).unwrap();
        t.push(1, 30, "x2", &json!({})).unwrap();
        t.push(2, 10, "y1", &json!({})).unwrap();
        t.push(2, 20, "y2", &json!({})).unwrap();
        t.merge(2, 1).unwrap();
        assert_eq!(
            times(&t, 1),
            vec![
                (10, "x1".to_owned()),
                (10, "y1".to_owned()),
                (20, "y2".to_owned()),
                (30, "x2".to_owned())
            ]
        );
        assert_eq!(t.person_count(), 1);
        assert_eq!(t.index_of(2), t.index_of(1));
        assert_eq!(t.canonical_id(2), Some(1));
        // Later events for the merged id join the survivor; chains resolve.
        t.push(2, 25, "y3", &json!({})).unwrap();
        t.merge(1, 3).unwrap();
        assert_eq!(t.canonical_id(2), Some(3));
        assert_eq!(times(&t, 3).len(), 5);
        assert_eq!(t.people().map(|(_, id)| id).collect::<Vec<_>>(), vec![3]);
        // Merging an unknown id makes it an alias.
        t.merge(99, 3).unwrap();
        assert_eq!(t.canonical_id(99), Some(3));
        t.merge(3, 3).unwrap();
        assert_eq!(t.person_count(), 1);
    }

    #[test]
    fn traits_replace_remove_and_merge() {
        let mut t = Timelines::new();
        t.set_trait(1, "plan", json!("free")).unwrap();
        t.set_trait(1, "plan", json!("pro")).unwrap();
        t.set_trait(1, "age", json!(30)).unwrap();
        t.set_trait(1, "age", Value::Null).unwrap();
        t.set_trait(2, "plan", json!("plus")).unwrap();
        t.set_trait(2, "city", json!({"name": "Oslo"})).unwrap();
        t.merge(2, 1).unwrap();
        let p = &t.persons[t.index_of(1).unwrap() as usize];
        let names: Vec<&str> = p
            .traits
            .iter()
            .map(|e| t.dict.keys.resolve(e.key))
            .collect();
        assert_eq!(names, vec!["plan", "city"]);
        let plan = p.traits[0].set;
        assert_eq!(t.dict.set(plan).len(), 1);
        assert_eq!(
            t.dict.scalar(t.dict.set(plan)[0].value),
            crate::props::Scalar::Str("pro")
        );
    }

    #[test]
    fn events_pack_time_name_and_properties() {
        for ts in [
            0,
            1,
            -1,
            Event::MIN_TS,
            Event::MAX_TS,
            1_767_225_600_000,
            -86_400_000,
        ] {
            for name in [0, 1, Event::MAX_NAME] {
                let e = Event::new(ts, name, 7);
                assert_eq!((e.ts(), e.name(), e.props()), (ts, name, 7));
            }
        }
        assert_eq!(std::mem::size_of::<Event>(), 12);
        let mut t = Timelines::new();
        assert_eq!(
            t.push(1, Event::MAX_TS + 1, "a", &json!({})),
            Err(EngineError::TimestampOutOfRange {
                ts: Event::MAX_TS + 1
            })
        );
        assert_eq!(t.person_count(), 0);
    }
}

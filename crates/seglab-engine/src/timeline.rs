//! People and their events, in memory, user-major.
//!
//! Layout:
//!
//! - Each person has a dense index (`u32`), assigned on first sight of its
//!   external id (`i64`, the store's person id). `Timelines::persons[index]`
//!   holds the person's events and traits.
//! - A person's events are one `Vec<Event>` sorted by time; equal times keep
//!   arrival order. An [`Event`] is 16 bytes: the timestamp (epoch ms), the
//!   interned event name and the id of its interned property set.
//! - Property sets live once in the [`Dictionary`] (see [`crate::props`]): many
//!   events share identical properties, so an event pays 4 bytes for them.
//! - Traits are a short list of `(trait name, property set of {name: value})`
//!   entries per person, sorted by name id.
//! - Identity merges move the events of one person into another (a sorted
//!   merge, the surviving person's events first among equal times); the merged
//!   index stays behind, empty and forwarded, and is skipped by evaluation.

use roaring::RoaringBitmap;
use serde_json::Value;

use crate::EngineError;
use crate::catalog::{Catalog, EventInfo, PropertyInfo, ValueKinds};
use crate::intern::{IntMap, NONE, StrInterner};
use crate::props::{Dictionary, Pair, kind_bits};

/// One event: 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) ts: i64,
    pub(crate) name: u32,
    pub(crate) props: u32,
}

/// One trait of a person: its name (an interned path) and the property set of
/// `{name: value}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraitEntry {
    pub(crate) key: u32,
    pub(crate) set: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Person {
    pub(crate) events: Vec<Event>,
    pub(crate) traits: Box<[TraitEntry]>,
}

/// Resident bytes of [`Timelines`], by part (heap capacities plus the tables'
/// own sizes; allocator overhead is not included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Event records.
    pub events: usize,
    /// Per-person records, identity tables and traits.
    pub people: usize,
    /// Event names, their counts and the catalog's per-name set index.
    pub names: usize,
    /// Interned property paths, strings and numbers.
    pub values: usize,
    /// Interned property sets.
    pub property_sets: usize,
    pub event_count: u64,
    pub person_count: usize,
    /// Distinct string values, numbers, property sets, and pairs in all sets.
    pub distinct_strings: usize,
    pub distinct_numbers: usize,
    pub distinct_property_sets: usize,
    pub property_pairs: usize,
}

impl MemoryUsage {
    pub fn total(&self) -> usize {
        self.events + self.people + self.names + self.values + self.property_sets
    }

    /// Total bytes divided by the number of events.
    pub fn bytes_per_event(&self) -> f64 {
        self.total() as f64 / self.event_count.max(1) as f64
    }
}

/// Every person's timeline and traits. See the module docs for the layout.
pub struct Timelines {
    pub(crate) persons: Vec<Person>,
    /// External id each index was created for.
    ext_ids: Vec<i64>,
    /// `forward[i] == i` while `i` is a live person; else the person it merged into.
    forward: Vec<u32>,
    index: IntMap<i64, u32>,
    pub(crate) names: StrInterner,
    name_counts: Vec<u64>,
    /// Per event name, the property sets seen with it (for the catalog).
    name_sets: Vec<RoaringBitmap>,
    trait_kinds: IntMap<u32, u8>,
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
            ext_ids: Vec::new(),
            forward: Vec::new(),
            index: IntMap::default(),
            names: StrInterner::new(NONE - 1),
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
        let name = self.names.intern(event)?;
        if name as usize == self.name_counts.len() {
            self.name_counts.push(0);
            self.name_sets.push(RoaringBitmap::new());
        }
        let props = self.dict.intern_object(properties)?;
        let idx = self.person_or_insert(person)?;
        self.name_counts[name as usize] += 1;
        self.name_sets[name as usize].insert(props);
        let ev = Event { ts, name, props };
        let events = &mut self.persons[idx as usize].events;
        match events.last() {
            Some(last) if last.ts > ts => {
                let at = events.partition_point(|e| e.ts <= ts);
                events.insert(at, ev);
            }
            _ => events.push(ev),
        }
        self.events += 1;
        self.generation += 1;
        Ok(())
    }

    /// Identity merge: `from`'s events and traits join `into`'s, and `from`
    /// becomes another name of `into` (later events for `from` go to `into`).
    /// Among equal times, `into`'s events come first; a trait both have keeps
    /// `into`'s value.
    pub fn merge(&mut self, from: i64, into: i64) -> Result<(), EngineError> {
        let i = self.person_or_insert(into)?;
        self.generation += 1;
        let Some(f) = self.index_of(from) else {
            self.index.insert(from, i);
            return Ok(());
        };
        if f == i {
            return Ok(());
        }
        let gone = std::mem::take(&mut self.persons[f as usize]);
        let kept = &mut self.persons[i as usize];
        kept.events = merge_sorted(std::mem::take(&mut kept.events), gone.events);
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
        if let Some(i) = self.index_of(person) {
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

    /// The interned id of an event name.
    pub(crate) fn name_id(&self, name: &str) -> Option<u32> {
        self.names.get(name)
    }

    /// The property set of an event.
    #[inline]
    pub(crate) fn set(&self, id: u32) -> &[Pair] {
        self.dict.set(id)
    }

    /// Event names, their properties and value kinds; trait paths and kinds.
    pub fn catalog(&self) -> Catalog {
        let mut events: Vec<EventInfo> = self
            .names
            .iter()
            .map(|(id, name)| {
                let mut kinds: IntMap<u32, u8> = IntMap::default();
                for set in &self.name_sets[id as usize] {
                    for &p in self.dict.set(set) {
                        *kinds.entry(p.path()).or_default() |= kind_bits(p);
                    }
                }
                EventInfo {
                    name: name.to_owned(),
                    count: self.name_counts[id as usize],
                    properties: self.property_infos(kinds),
                }
            })
            .collect();
        events.sort_by(|a, b| a.name.cmp(&b.name));
        Catalog {
            events,
            traits: self.property_infos(self.trait_kinds.clone()),
        }
    }

    fn property_infos(&self, kinds: IntMap<u32, u8>) -> Vec<PropertyInfo> {
        let mut out: Vec<PropertyInfo> = kinds
            .into_iter()
            .map(|(path, bits)| PropertyInfo {
                path: self.dict.keys.resolve(path).to_owned(),
                kinds: ValueKinds::from_bits(bits),
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    /// Releases spare capacity (after a bulk load).
    pub fn shrink_to_fit(&mut self) {
        for p in &mut self.persons {
            p.events.shrink_to_fit();
        }
        self.persons.shrink_to_fit();
        self.ext_ids.shrink_to_fit();
        self.forward.shrink_to_fit();
        self.index.shrink_to_fit();
        self.names.shrink_to_fit();
        for s in &mut self.name_sets {
            s.optimize();
        }
        self.dict.shrink_to_fit();
    }

    /// Bytes used, by part.
    pub fn memory(&self) -> MemoryUsage {
        use std::mem::size_of;
        let mut events = 0;
        let mut traits = 0;
        for p in &self.persons {
            events += p.events.capacity() * size_of::<Event>();
            traits += p.traits.len() * size_of::<TraitEntry>();
        }
        let people = self.persons.capacity() * size_of::<Person>()
            + traits
            + self.ext_ids.capacity() * 8
            + self.forward.capacity() * 4
            + self.index.capacity() * (size_of::<(i64, u32)>() + 1)
            + self.trait_kinds.capacity() * (size_of::<(u32, u8)>() + 1);
        let names = self.names.heap_bytes()
            + self.name_counts.capacity() * 8
            + self
                .name_sets
                .iter()
                .map(|s| s.serialized_size() + size_of::<RoaringBitmap>())
                .sum::<usize>();
        let (values, property_sets) = self.dict.heap_bytes();
        MemoryUsage {
            events,
            people,
            names,
            values,
            property_sets,
            event_count: self.events,
            person_count: self.alive,
            distinct_strings: self.dict.strings.len(),
            distinct_numbers: self.dict.numbers.len(),
            distinct_property_sets: self.dict.set_count(),
            property_pairs: self.dict.pair_count(),
        }
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
        if y.ts < x.ts {
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

    fn times(t: &Timelines, person: i64) -> Vec<(i64, String)> {
        let i = t.index_of(person).unwrap();
        t.persons[i as usize]
            .events
            .iter()
            .map(|e| (e.ts, t.names.resolve(e.name).to_owned()))
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
    fn catalog_lists_events_properties_and_traits() {
        let mut t = Timelines::new();
        t.push(
            1,
            1,
            "Order Completed",
            &json!({"revenue": 10, "products": [{"category": "shoes"}]}),
        )
        .unwrap();
        t.push(1, 2, "Order Completed", &json!({"revenue": "n/a"}))
            .unwrap();
        t.push(2, 2, "Page Viewed", &json!({"name": "Home"}))
            .unwrap();
        t.set_trait(1, "vip", json!(true)).unwrap();
        let c = t.catalog();
        assert_eq!(c.events.len(), 2);
        let order = c.event("Order Completed").unwrap();
        assert_eq!(order.count, 2);
        let paths: Vec<(&str, ValueKinds)> = order
            .properties
            .iter()
            .map(|p| (p.path.as_str(), p.kinds))
            .collect();
        let k = |bits| ValueKinds::from_bits(bits);
        assert_eq!(
            paths,
            vec![
                ("products", k(8 | 16)),
                ("products.category", k(1)),
                ("revenue", k(1 | 2)),
            ]
        );
        assert_eq!(
            c.traits,
            vec![PropertyInfo {
                path: "vip".into(),
                kinds: k(4)
            }]
        );
    }

    #[test]
    fn memory_counts_every_part() {
        let mut t = Timelines::new();
        for i in 0..1000 {
            t.push(i % 10, i, "Product Viewed", &json!({"sku": i % 7}))
                .unwrap();
        }
        t.shrink_to_fit();
        let m = t.memory();
        assert_eq!(m.event_count, 1000);
        assert!(m.events >= 16_000, "{m:?}");
        assert!(m.total() > m.events);
        assert!(m.bytes_per_event() < 40.0, "{m:?}");
    }
}

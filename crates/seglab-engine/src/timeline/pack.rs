//! The packed layout: [`Timelines::compact`] packs every timeline into one
//! array, person after person, and a [`BulkLoad`] stages events and packs
//! them with the rest.

use serde_json::Value;

use super::{Event, PropsId, Timelines};
use crate::EngineError;

impl Timelines {
    /// Loads many events at once, straight into the packed layout of
    /// [`Timelines::compact`]: the events are staged in one array and placed
    /// when the loader is dropped, with no per-person allocations on the way.
    /// The result is the same as pushing them one by one.
    pub fn bulk_load(&mut self) -> BulkLoad<'_> {
        BulkLoad {
            timelines: self,
            staged: Vec::new(),
        }
    }

    /// Packs every timeline into one contiguous array, person after person,
    /// and releases spare capacity. Call it after a bulk load (and now and
    /// then after many changes): evaluation then reads memory sequentially,
    /// and no memory is spent on per-person allocations. Later changes to a
    /// person move that person's events out of the array again.
    pub fn compact(&mut self) {
        self.pack(Vec::new());
    }

    /// Rebuilds the packed array from every person's events followed by the
    /// `staged` ones (in arrival order; then sorted by time, stably).
    fn pack(&mut self, staged: Vec<(u32, Event)>) {
        let mut extra = vec![0u32; self.persons.len()];
        for (p, _) in &staged {
            extra[*p as usize] += 1;
        }
        let live = self.packed.len() - self.packed_garbage
            + self.persons.iter().map(|p| p.own.len()).sum::<usize>()
            + staged.len();
        let old = std::mem::take(&mut self.packed);
        let mut packed = Vec::with_capacity(live);
        // Where each person's staged events go.
        let mut cursor = vec![0usize; self.persons.len()];
        for (i, p) in self.persons.iter_mut().enumerate() {
            let start = packed.len();
            if p.packed_len > 0 {
                let from = p.packed_start as usize;
                packed.extend_from_slice(&old[from..from + p.packed_len as usize]);
            } else {
                packed.extend_from_slice(&p.own);
            }
            cursor[i] = packed.len();
            packed.resize(packed.len() + extra[i] as usize, Event::new(0, 0, 0));
            let len = packed.len() - start;
            if len > u32::MAX as usize {
                // Too long to pack: this person keeps its own array.
                p.own = packed.split_off(start);
                p.packed_len = 0;
                cursor[i] = usize::MAX;
                continue;
            }
            p.own = Vec::new();
            p.packed_start = start as u64;
            p.packed_len = len as u32;
        }
        drop(old);
        for (p, e) in staged {
            let c = &mut cursor[p as usize];
            if *c == usize::MAX {
                let own = &mut self.persons[p as usize].own;
                let at = own.partition_point(|x| x.ts() <= e.ts());
                own.insert(at, e);
            } else {
                packed[*c] = e;
                *c += 1;
            }
        }
        for (i, p) in self.persons.iter().enumerate() {
            if extra[i] > 0 && p.packed_len > 0 {
                let start = p.packed_start as usize;
                let events = &mut packed[start..start + p.packed_len as usize];
                if !events.is_sorted_by_key(|e| e.ts()) {
                    events.sort_by_key(|e| e.ts());
                }
            }
        }
        self.packed = packed;
        self.packed_garbage = 0;
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
}

/// A bulk load in progress (see [`Timelines::bulk_load`]); the events are
/// placed when it is dropped (or [`BulkLoad::finish`]ed).
pub struct BulkLoad<'t> {
    timelines: &'t mut Timelines,
    staged: Vec<(u32, Event)>,
}

impl BulkLoad<'_> {
    /// Adds one event (see [`Timelines::push`]).
    pub fn push(
        &mut self,
        person: i64,
        ts: i64,
        event: &str,
        properties: &Value,
    ) -> Result<(), EngineError> {
        let staged = self.timelines.prepare(person, ts, event, properties)?;
        self.staged.push(staged);
        Ok(())
    }

    /// Interns a properties object (see [`Timelines::intern_properties`]).
    pub fn intern_properties(&mut self, properties: &Value) -> Result<PropsId, EngineError> {
        self.timelines.intern_properties(properties)
    }

    /// Adds one event with interned properties (see [`Timelines::push_interned`]).
    pub fn push_interned(
        &mut self,
        person: i64,
        ts: i64,
        event: &str,
        properties: PropsId,
    ) -> Result<(), EngineError> {
        let props = self.timelines.known(properties)?;
        let staged = self
            .timelines
            .prepare_interned(person, ts, event, |_| Ok(props))?;
        self.staged.push(staged);
        Ok(())
    }

    /// Sets one trait (see [`Timelines::set_trait`]).
    pub fn set_trait(&mut self, person: i64, key: &str, value: Value) -> Result<(), EngineError> {
        self.timelines.set_trait(person, key, value)
    }

    /// Events staged so far.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// Places the staged events.
    pub fn finish(self) {}
}

impl Drop for BulkLoad<'_> {
    fn drop(&mut self) {
        let staged = std::mem::take(&mut self.staged);
        self.timelines.pack(staged);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tests::times;
    use super::*;

    #[test]
    fn compaction_keeps_timelines_and_later_changes() {
        let mut t = Timelines::new();
        for i in 0..50 {
            t.push(i % 5, 100 - i, &format!("e{}", i % 3), &json!({}))
                .unwrap();
        }
        t.set_trait(9, "plan", json!("pro")).unwrap();
        let before: Vec<Vec<(i64, String)>> = (0..5).map(|p| times(&t, p)).collect();
        t.compact();
        let after: Vec<Vec<(i64, String)>> = (0..5).map(|p| times(&t, p)).collect();
        assert_eq!(before, after);
        assert_eq!(t.memory().events, 50 * std::mem::size_of::<Event>());
        // Changes after packing: a push, a merge, and packing again.
        t.push(1, 50, "late", &json!({})).unwrap();
        t.merge(2, 3).unwrap();
        let mut want = before[1].clone();
        want.push((50, "late".to_owned()));
        want.sort_by_key(|e| e.0);
        assert_eq!(times(&t, 1), want);
        assert_eq!(times(&t, 3).len(), 20);
        assert_eq!(times(&t, 0), before[0]);
        t.compact();
        assert_eq!(times(&t, 1), want);
        assert_eq!(times(&t, 3).len(), 20);
        assert_eq!(t.memory().events, 51 * std::mem::size_of::<Event>());
    }

    #[test]
    fn bulk_load_equals_pushing() {
        let events: Vec<(i64, i64, String)> = (0..200)
            .map(|i| (i % 7, (i * 37) % 50, format!("e{}", i % 4)))
            .collect();
        let mut one = Timelines::new();
        let mut bulk = Timelines::new();
        // Some people exist before the bulk load, one of them packed.
        for t in [&mut one, &mut bulk] {
            t.push(3, 25, "before", &json!({})).unwrap();
            t.push(4, 10, "before", &json!({})).unwrap();
            t.compact();
            t.push(4, 30, "before", &json!({})).unwrap();
        }
        for (p, ts, name) in &events {
            one.push(*p, *ts, name, &json!({"n": ts})).unwrap();
        }
        let mut load = bulk.bulk_load();
        for (p, ts, name) in &events {
            load.push(*p, *ts, name, &json!({"n": ts})).unwrap();
        }
        assert_eq!(load.len(), 200);
        load.finish();
        for p in 0..7 {
            assert_eq!(times(&one, p), times(&bulk, p), "person {p}");
        }
        assert_eq!(one.event_count(), bulk.event_count());
        assert_eq!(bulk.memory().events, 203 * std::mem::size_of::<Event>());
        // Pushing and merging after a bulk load.
        bulk.push(5, 1, "late", &json!({})).unwrap();
        one.push(5, 1, "late", &json!({})).unwrap();
        bulk.merge(5, 6).unwrap();
        one.merge(5, 6).unwrap();
        assert_eq!(times(&one, 6), times(&bulk, 6));
    }
}

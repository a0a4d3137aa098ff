//! What [`Timelines`] cost in memory, by part.

use roaring::RoaringBitmap;

use super::{Event, Person, Timelines, TraitEntry};

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
    /// Events left in the packed array by people changed since the last
    /// packing (included in `events`; [`Timelines::compact`] reclaims them).
    pub stale_events: usize,
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

impl Timelines {
    /// Bytes used, by part.
    pub fn memory(&self) -> MemoryUsage {
        use std::mem::size_of;
        let mut events = self.packed.capacity() * size_of::<Event>();
        let mut traits = 0;
        for p in &self.persons {
            events += p.own.capacity() * size_of::<Event>();
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
            stale_events: self.packed_garbage,
            distinct_strings: self.dict.strings.len(),
            distinct_numbers: self.dict.numbers.len(),
            distinct_property_sets: self.dict.set_count(),
            property_pairs: self.dict.pair_count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn memory_counts_every_part() {
        let mut t = Timelines::new();
        for i in 0..1000 {
            t.push(i % 10, i, "Product Viewed", &json!({"sku": i % 7}))
                .unwrap();
        }
        t.compact();
        let m = t.memory();
        assert_eq!(m.event_count, 1000);
        assert!(m.events >= 12_000, "{m:?}");
        assert!(m.total() > m.events);
        assert!(m.bytes_per_event() < 40.0, "{m:?}");
    }
}

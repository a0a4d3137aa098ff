//! [`Timelines`] as bytes and back, so that a restart reads its tables
//! instead of interning every event again.
//!
//! The bytes are the tables themselves, little-endian: a magic and version,
//! the event names, per name the property sets seen with it (a serialized
//! roaring bitmap), the property [`Dictionary`], the people (event counts,
//! external ids, merge forwards, the identity index, traits), then every
//! person's events (12 bytes each), person after person. Hash indexes are
//! rebuilt when reading; so are the per-person name summaries and latest
//! times, the counts per name and the kinds of traits, from the data they
//! summarize. Reading checks every id against its table, so damaged bytes are
//! an error, never a panic or a wrong answer later.

use std::io::{Read, Write};

use roaring::RoaringBitmap;

use super::{Event, Person, Timelines, TraitEntry, name_bit};
use crate::codec::{In, Out, invalid};
use crate::intern::{IntMap, StrInterner};
use crate::props::{Dictionary, kind_bits};

const MAGIC: [u8; 8] = *b"SEGLABTL";
const VERSION: u32 = 1;
/// Bytes per write of events.
const BLOCK: usize = 1 << 16;

impl Timelines {
    /// Writes everything these timelines hold (events, people, identities,
    /// traits, interned names and properties) to `w`; see
    /// [`Timelines::read_snapshot`]. Files and checksums are the caller's.
    pub fn write_snapshot(&self, w: &mut impl Write) -> std::io::Result<()> {
        w.write_all(&MAGIC)?;
        let mut out = Out(w);
        out.u32(VERSION)?;
        out.u64(self.generation)?;
        self.names.write_to(out.0)?;
        let mut bitmap = Vec::new();
        for sets in &self.name_sets {
            bitmap.clear();
            sets.serialize_into(&mut bitmap)?;
            out.bytes(&bitmap)?;
        }
        self.dict.write_to(out.0)?;
        let n = self.persons.len();
        let counts = (0..n as u32)
            .map(|i| u32::try_from(self.events(i).len()))
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "a person has too many events for a snapshot",
                )
            })?;
        out.u32s(&counts)?;
        out.array(&self.ext_ids, |x| x.to_le_bytes())?;
        out.u32s(&self.forward)?;
        let mut index: Vec<(i64, u32)> = self.index.iter().map(|(&k, &v)| (k, v)).collect();
        index.sort_unstable();
        out.array(&index, |&(k, v)| {
            let mut b = [0u8; 12];
            b[..8].copy_from_slice(&k.to_le_bytes());
            b[8..].copy_from_slice(&v.to_le_bytes());
            b
        })?;
        let traits: Vec<[u32; 3]> = self
            .persons
            .iter()
            .enumerate()
            .flat_map(|(i, p)| p.traits.iter().map(move |t| [i as u32, t.key, t.set]))
            .collect();
        out.array(&traits, |t| {
            let mut b = [0u8; 12];
            for (k, x) in t.iter().enumerate() {
                b[k * 4..k * 4 + 4].copy_from_slice(&x.to_le_bytes());
            }
            b
        })?;
        out.u64(self.events)?;
        let mut buf = Vec::with_capacity(BLOCK + 12);
        for i in 0..n as u32 {
            for e in self.events(i) {
                buf.extend_from_slice(&e.lo.to_le_bytes());
                buf.extend_from_slice(&e.hi.to_le_bytes());
                buf.extend_from_slice(&e.props.to_le_bytes());
                if buf.len() >= BLOCK {
                    out.0.write_all(&buf)?;
                    buf.clear();
                }
            }
        }
        out.0.write_all(&buf)
    }

    /// Reads timelines written by [`Timelines::write_snapshot`]: the result
    /// answers every question as the written ones did. Every event is in the
    /// packed layout (see [`Timelines::compact`]).
    pub fn read_snapshot(r: &mut impl Read) -> std::io::Result<Timelines> {
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)
            .map_err(|_| invalid("not a snapshot of timelines"))?;
        let mut input = In(r);
        if magic != MAGIC || input.u32()? != VERSION {
            return Err(invalid("not a snapshot of timelines of this version"));
        }
        let generation = input.u64()?;
        let names = StrInterner::read_from(input.0, Event::MAX_NAME, "event names")?;
        let name_sets = (0..names.len())
            .map(|_| {
                let bytes = input.bytes(u32::MAX as usize)?;
                RoaringBitmap::deserialize_from(bytes.as_slice())
                    .map_err(|_| invalid("bad set index"))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let dict = Dictionary::read_from(input.0)?;
        let sets = dict.set_count();
        if name_sets
            .iter()
            .any(|s| s.max().is_some_and(|m| m as usize >= sets))
        {
            return Err(invalid("bad set index"));
        }
        let counts = input.u32s(super::NONE as usize)?;
        let n = counts.len();
        let ext_ids = input.array(n, i64::from_le_bytes)?;
        if ext_ids.len() != n {
            return Err(invalid("tables of people disagree"));
        }
        let forward = roots(input.u32s(n)?, n)?;
        let entries = input.array(usize::MAX, |b: [u8; 12]| {
            let k = i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            let v = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
            (k, v)
        })?;
        let mut index = IntMap::default();
        index.reserve(entries.len());
        for (k, v) in entries {
            if v as usize >= n || index.insert(k, v).is_some() {
                return Err(invalid("bad identity index"));
            }
        }
        let traits = input.array(usize::MAX, |b: [u8; 12]| {
            let word = |k: usize| u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
            [word(0), word(4), word(8)]
        })?;
        let total = input.u64()?;
        if total != counts.iter().map(|&c| u64::from(c)).sum::<u64>() {
            return Err(invalid("event counts disagree"));
        }
        let packed = input.items(
            usize::try_from(total).map_err(|_| invalid("too many events"))?,
            |b: [u8; 12]| {
                let word = |k: usize| u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
                Event {
                    lo: word(0),
                    hi: word(4),
                    props: word(8),
                }
            },
        )?;

        let mut name_counts = vec![0u64; names.len()];
        let mut persons = Vec::with_capacity(n);
        let mut start = 0usize;
        for &len in &counts {
            let events = &packed[start..start + len as usize];
            let mut p = Person {
                packed_start: start as u64,
                packed_len: len,
                ..Person::default()
            };
            let mut prev = i64::MIN;
            for e in events {
                let (ts, name) = (e.ts(), e.name());
                if ts < prev || name as usize >= names.len() || e.props as usize >= sets {
                    return Err(invalid("bad event"));
                }
                prev = ts;
                p.names |= name_bit(name);
                name_counts[name as usize] += 1;
            }
            p.last = prev;
            persons.push(p);
            start += len as usize;
        }
        let mut trait_kinds: IntMap<u32, u8> = IntMap::default();
        let mut at = 0;
        while at < traits.len() {
            let person = traits[at][0] as usize;
            let end = at + traits[at..].partition_point(|t| t[0] as usize == person);
            let entries: Box<[TraitEntry]> = traits[at..end]
                .iter()
                .map(|t| TraitEntry {
                    key: t[1],
                    set: t[2],
                })
                .collect();
            let sorted = entries.windows(2).all(|w| w[0].key < w[1].key);
            let known = entries
                .iter()
                .all(|e| (e.key as usize) < dict.keys.len() && (e.set as usize) < sets);
            if person >= n || !persons[person].traits.is_empty() || !sorted || !known {
                return Err(invalid("bad traits"));
            }
            for e in entries.iter() {
                for &pair in dict.set(e.set) {
                    *trait_kinds.entry(pair.path()).or_default() |= kind_bits(pair);
                }
            }
            persons[person].traits = entries;
            at = end;
        }
        let alive = (0..n).filter(|&i| forward[i] as usize == i).count();
        Ok(Timelines {
            persons,
            packed,
            packed_garbage: 0,
            ext_ids,
            forward,
            index,
            recent: None,
            names,
            name_counts,
            name_sets,
            trait_kinds,
            dict,
            alive,
            events: total,
            generation,
        })
    }
}

/// Checks merge forwards (`forward[i] == i` for a live person, else a person
/// it merged into) and points each straight at its live person.
fn roots(mut forward: Vec<u32>, n: usize) -> std::io::Result<Vec<u32>> {
    if forward.len() != n || forward.iter().any(|&f| f as usize >= n) {
        return Err(invalid("tables of people disagree"));
    }
    let mut path = Vec::new();
    for i in 0..n {
        let mut x = i;
        path.clear();
        while forward[x] as usize != x {
            path.push(x);
            if path.len() > n {
                return Err(invalid("merges form a cycle"));
            }
            x = forward[x] as usize;
        }
        for &p in &path {
            forward[p] = x as u32;
        }
    }
    Ok(forward)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn round_trip(t: &Timelines) -> Timelines {
        let mut bytes = Vec::new();
        t.write_snapshot(&mut bytes).unwrap();
        Timelines::read_snapshot(&mut bytes.as_slice()).unwrap()
    }

    /// Everything observable about a person.
    type Seen = (Vec<(i64, String, Vec<crate::props::Pair>)>, Vec<(u32, u32)>);

    fn seen(t: &Timelines, person: i64) -> Option<Seen> {
        let i = t.index_of(person)?;
        let events = t
            .events(i)
            .iter()
            .map(|e| {
                (
                    e.ts(),
                    t.names.resolve(e.name()).to_owned(),
                    t.set(e.props()).to_vec(),
                )
            })
            .collect();
        let traits = t.persons[i as usize]
            .traits
            .iter()
            .map(|e| (e.key, e.set))
            .collect();
        Some((events, traits))
    }

    fn sample() -> Timelines {
        let mut t = Timelines::new();
        let mut load = t.bulk_load();
        for i in 0..300i64 {
            let category = ["shoes", "bags"][i as usize % 2];
            load.push(
                i % 17,
                (i * 7919) % 1000 - 300,
                ["Product Viewed", "Order Completed", "Page Viewed"][i as usize % 3],
                &json!({"n": i % 11, "category": category, "tags": ["a"]}),
            )
            .unwrap();
        }
        load.set_trait(3, "plan", json!("pro")).unwrap();
        load.finish();
        t.set_trait(3, "age", json!(41)).unwrap();
        t.set_trait(5, "address", json!({"city": "Oslo"})).unwrap();
        t.merge(4, 3).unwrap();
        t.merge(3, 6).unwrap();
        t.merge(99, 6).unwrap();
        // Some people unpacked by changes after packing.
        t.push(7, 5000, "Late", &json!({})).unwrap();
        t
    }

    #[test]
    fn snapshots_keep_everything() {
        let t = sample();
        let back = round_trip(&t);
        for p in -1..120 {
            assert_eq!(seen(&back, p), seen(&t, p), "person {p}");
            assert_eq!(back.canonical_id(p), t.canonical_id(p), "person {p}");
        }
        assert_eq!(back.catalog(), t.catalog());
        assert_eq!(back.person_count(), t.person_count());
        assert_eq!(back.event_count(), t.event_count());
        assert_eq!(back.index_len(), t.index_len());
        for i in 0..t.index_len() as u32 {
            let (a, b) = (&t.persons[i as usize], &back.persons[i as usize]);
            assert_eq!((a.names, a.last), (b.names, b.last), "index {i}");
            assert_eq!(t.external_id(i), back.external_id(i));
        }
        for name in 0..t.names.len() as u32 {
            assert_eq!(t.name_count(name), back.name_count(name));
        }
        // Later changes work as on the original.
        let mut a = t;
        let mut b = back;
        for t in [&mut a, &mut b] {
            t.push(1, 7, "Product Viewed", &json!({"n": 3})).unwrap();
            t.push(200, 7, "New", &json!({"fresh": true})).unwrap();
            t.merge(1, 2).unwrap();
            t.set_trait(2, "plan", json!("free")).unwrap();
            t.compact();
        }
        for p in 0..201 {
            assert_eq!(seen(&a, p), seen(&b, p), "person {p}");
        }
        // And an empty one.
        let empty = round_trip(&Timelines::new());
        assert_eq!((empty.person_count(), empty.event_count()), (0, 0));
    }

    #[test]
    fn damaged_snapshots_are_errors() {
        let mut bytes = Vec::new();
        sample().write_snapshot(&mut bytes).unwrap();
        for cut in (0..bytes.len()).step_by(7) {
            assert!(
                Timelines::read_snapshot(&mut &bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // Flipped bytes: an error or valid timelines, never a panic.
        for at in (8..bytes.len()).step_by(3) {
            let mut b = bytes.clone();
            b[at] ^= 0x5a;
            let _ = Timelines::read_snapshot(&mut b.as_slice());
        }
        let mut b = bytes.clone();
        b[0] = b'X';
        assert!(Timelines::read_snapshot(&mut b.as_slice()).is_err());
    }

    #[test]
    fn merge_cycles_are_errors() {
        assert!(roots(vec![1, 0], 2).is_err());
        assert!(roots(vec![0, 2], 2).is_err());
        assert_eq!(roots(vec![1, 2, 2, 3], 4).unwrap(), vec![2, 2, 2, 3]);
    }
}

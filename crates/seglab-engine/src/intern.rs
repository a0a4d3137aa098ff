//! Interning: every distinct string, number and property set is stored once and
//! named by a dense `u32` id.
//!
//! The tables are compact on purpose. A string interner keeps all bytes in one
//! arena (`String`) with one `u32` end offset per string; its hash index
//! ([`IdTable`]) is an open-addressing table of `(hash fragment, id)` slots, so a
//! distinct string costs its bytes plus about 4 + 8/load bytes, instead of a
//! separately allocated `Box<str>` in a `HashMap`.

use std::hash::{BuildHasherDefault, Hasher};
use std::io::{Read, Write};

use crate::EngineError;
use crate::codec::{In, Out, invalid};

const K: u64 = 0x9E37_79B9_7F4A_7C15;
/// Id of an empty slot, and of "no such value" in compiled plans.
pub(crate) const NONE: u32 = u32::MAX;

/// Final avalanche of MurmurHash3: every input bit affects every output bit.
#[inline]
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// A fast hash for table lookups (not resistant to chosen collisions: the
/// tables stay correct under collisions, only slower).
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    fmix64(h)
}

/// Hash of a sequence of 64-bit words.
#[inline]
pub(crate) fn hash_words(words: impl Iterator<Item = u64>) -> u64 {
    let mut h = 0x2545_f491_4f6c_dd1d_u64;
    for w in words {
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    fmix64(h)
}

/// A `Hasher` for integer keys (person ids), for `std::collections::HashMap`.
#[derive(Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(32) ^ u64::from(n)).wrapping_mul(K);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(32) ^ n).wrapping_mul(K);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

pub(crate) type IntMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<IntHasher>>;

#[derive(Clone, Copy)]
struct Slot {
    hash: u32,
    id: u32,
}

const EMPTY: Slot = Slot { hash: 0, id: NONE };

/// An open-addressing (linear probing) index from content hashes to ids. The
/// content itself lives with the owner; lookups pass an equality test on ids.
#[derive(Default)]
pub(crate) struct IdTable {
    slots: Vec<Slot>,
    len: usize,
}

impl IdTable {
    /// A table that holds `n` ids without growing.
    pub(crate) fn with_capacity(n: usize) -> IdTable {
        let mut cap = 16;
        while n * 4 > cap * 3 {
            cap *= 2;
        }
        IdTable {
            slots: vec![EMPTY; cap],
            len: 0,
        }
    }

    #[inline]
    fn fragment(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    /// The id whose content hashes to `hash` and satisfies `eq`.
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let frag = Self::fragment(hash);
        let mut i = frag as usize & mask;
        loop {
            let s = self.slots[i];
            if s.id == NONE {
                return None;
            }
            if s.hash == frag && eq(s.id) {
                return Some(s.id);
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds `id` (known to be absent) under `hash`.
    pub(crate) fn insert(&mut self, hash: u64, id: u32) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        Self::place(
            &mut self.slots,
            Slot {
                hash: Self::fragment(hash),
                id,
            },
        );
        self.len += 1;
    }

    fn place(slots: &mut [Slot], slot: Slot) {
        let mask = slots.len() - 1;
        let mut i = slot.hash as usize & mask;
        while slots[i].id != NONE {
            i = (i + 1) & mask;
        }
        slots[i] = slot;
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; cap]);
        for s in old.into_iter().filter(|s| s.id != NONE) {
            Self::place(&mut self.slots, s);
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }
}

/// Distinct strings in one arena, named by dense ids in first-seen order.
pub(crate) struct StrInterner {
    bytes: String,
    ends: Vec<u32>,
    table: IdTable,
    /// Largest id this interner may hand out.
    limit: u32,
    /// What the strings are, for errors.
    what: &'static str,
}

impl StrInterner {
    pub(crate) fn new(limit: u32, what: &'static str) -> StrInterner {
        StrInterner {
            bytes: String::new(),
            ends: Vec::new(),
            table: IdTable::default(),
            limit,
            what,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        self.table
            .find(hash_bytes(s.as_bytes()), |id| self.resolve(id) == s)
    }

    pub(crate) fn intern(&mut self, s: &str) -> Result<u32, EngineError> {
        let hash = hash_bytes(s.as_bytes());
        if let Some(id) = self.table.find(hash, |id| self.resolve(id) == s) {
            return Ok(id);
        }
        let id = self.ends.len() as u32;
        let end = self.bytes.len() + s.len();
        if id > self.limit || end > u32::MAX as usize {
            return Err(EngineError::CapacityExceeded { what: self.what });
        }
        self.bytes.push_str(s);
        self.ends.push(end as u32);
        self.table.insert(hash, id);
        Ok(id)
    }

    #[inline]
    pub(crate) fn resolve(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &str)> {
        (0..self.ends.len() as u32).map(|id| (id, self.resolve(id)))
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.ends.shrink_to_fit();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * 4 + self.table.heap_bytes()
    }

    /// Writes the strings (the hash index is rebuilt when reading).
    pub(crate) fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut out = Out(w);
        out.bytes(self.bytes.as_bytes())?;
        out.u32s(&self.ends)
    }

    /// Reads what [`StrInterner::write_to`] wrote, checking that it is a
    /// valid interner: UTF-8 text, ascending ends on character boundaries,
    /// distinct strings, no more than `limit + 1` of them.
    pub(crate) fn read_from(
        r: &mut impl Read,
        limit: u32,
        what: &'static str,
    ) -> std::io::Result<StrInterner> {
        let mut input = In(r);
        let bytes = String::from_utf8(input.bytes(u32::MAX as usize)?)
            .map_err(|_| invalid("text is not UTF-8"))?;
        let ends = input.u32s(limit as usize + 1)?;
        let mut start = 0;
        for &end in &ends {
            if end < start || !bytes.is_char_boundary(end as usize) {
                return Err(invalid("bad string table"));
            }
            start = end;
        }
        if start as usize != bytes.len() {
            return Err(invalid("bad string table"));
        }
        let mut s = StrInterner {
            bytes,
            ends,
            table: IdTable::default(),
            limit,
            what,
        };
        let mut table = IdTable::with_capacity(s.ends.len());
        for id in 0..s.ends.len() as u32 {
            let text = s.resolve(id);
            let hash = hash_bytes(text.as_bytes());
            if table.find(hash, |other| s.resolve(other) == text).is_some() {
                return Err(invalid("a string is listed twice"));
            }
            table.insert(hash, id);
        }
        s.table = table;
        Ok(s)
    }
}

/// Distinct numbers (`-0.0` is stored as `0.0`), named by dense ids.
#[derive(Default)]
pub(crate) struct NumInterner {
    values: Vec<f64>,
    table: IdTable,
}

/// The one representative of numbers that compare equal (`-0.0` → `0.0`).
#[inline]
pub(crate) fn normalize(x: f64) -> f64 {
    x + 0.0
}

impl NumInterner {
    pub(crate) fn get(&self, x: f64) -> Option<u32> {
        let x = normalize(x);
        self.table.find(fmix64(x.to_bits()), |id| {
            self.values[id as usize].to_bits() == x.to_bits()
        })
    }

    pub(crate) fn intern(&mut self, x: f64, limit: u32) -> Result<u32, EngineError> {
        let x = normalize(x);
        let hash = fmix64(x.to_bits());
        if let Some(id) = self
            .table
            .find(hash, |id| self.values[id as usize].to_bits() == x.to_bits())
        {
            return Ok(id);
        }
        let id = self.values.len() as u32;
        if id > limit {
            return Err(EngineError::CapacityExceeded {
                what: "distinct numbers",
            });
        }
        self.values.push(x);
        self.table.insert(hash, id);
        Ok(id)
    }

    #[inline]
    pub(crate) fn resolve(&self, id: u32) -> f64 {
        self.values[id as usize]
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.values.shrink_to_fit();
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.values.capacity() * 8 + self.table.heap_bytes()
    }

    /// Writes the numbers (the hash index is rebuilt when reading).
    pub(crate) fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        Out(w).array(&self.values, |x| x.to_bits().to_le_bytes())
    }

    /// Reads what [`NumInterner::write_to`] wrote; the numbers must be
    /// distinct, normalized and no more than `limit + 1`.
    pub(crate) fn read_from(r: &mut impl Read, limit: u32) -> std::io::Result<NumInterner> {
        let values = In(r).array(limit as usize + 1, |b| {
            f64::from_bits(u64::from_le_bytes(b))
        })?;
        let mut table = IdTable::with_capacity(values.len());
        for (id, &x) in values.iter().enumerate() {
            let bits = x.to_bits();
            let hash = fmix64(bits);
            if x.is_nan()
                || normalize(x).to_bits() != bits
                || table
                    .find(hash, |other| values[other as usize].to_bits() == bits)
                    .is_some()
            {
                return Err(invalid("bad number table"));
            }
            table.insert(hash, id as u32);
        }
        Ok(NumInterner { values, table })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_dedupe() {
        let mut s = StrInterner::new(u32::MAX - 1, "strings");
        let words: Vec<String> = (0..1000).map(|i| format!("w{}", i % 300)).collect();
        let ids: Vec<u32> = words.iter().map(|w| s.intern(w).unwrap()).collect();
        assert_eq!(s.len(), 300);
        for (w, id) in words.iter().zip(&ids) {
            assert_eq!(s.resolve(*id), w);
            assert_eq!(s.get(w), Some(*id));
        }
        assert_eq!(s.get("nope"), None);
        assert_eq!(s.intern("").unwrap(), 300);
        assert_eq!(s.resolve(300), "");
    }

    #[test]
    fn string_limit_is_an_error() {
        let mut s = StrInterner::new(1, "strings");
        s.intern("a").unwrap();
        s.intern("b").unwrap();
        assert!(matches!(
            s.intern("c"),
            Err(EngineError::CapacityExceeded { .. })
        ));
        assert_eq!(s.intern("a").unwrap(), 0);
    }

    #[test]
    fn numbers_fold_negative_zero() {
        let mut n = NumInterner::default();
        let a = n.intern(0.0, u32::MAX).unwrap();
        let b = n.intern(-0.0, u32::MAX).unwrap();
        assert_eq!(a, b);
        assert_eq!(n.get(-0.0), Some(a));
        assert_eq!(n.intern(1.5, u32::MAX).unwrap(), 1);
        assert_eq!(n.resolve(1), 1.5);
        assert_eq!(n.get(2.0), None);
    }

    #[test]
    fn interners_round_trip_through_bytes() {
        let mut s = StrInterner::new(100, "strings");
        for w in ["", "a", "héllo", "a", "zz"] {
            s.intern(w).unwrap();
        }
        let mut bytes = Vec::new();
        s.write_to(&mut bytes).unwrap();
        let back = StrInterner::read_from(&mut bytes.as_slice(), 100, "strings").unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            s.iter().collect::<Vec<_>>()
        );
        assert_eq!(back.get("héllo"), Some(2));
        assert!(StrInterner::read_from(&mut bytes.as_slice(), 2, "strings").is_err());
        // An end inside a character.
        let mut bad = Vec::new();
        let mut out = Out(&mut bad);
        out.bytes("é".as_bytes()).unwrap();
        out.u32s(&[1, 2]).unwrap();
        assert!(StrInterner::read_from(&mut bad.as_slice(), 100, "strings").is_err());
        // A string twice.
        let mut twice = Vec::new();
        let mut out = Out(&mut twice);
        out.bytes(b"aa").unwrap();
        out.u32s(&[1, 2]).unwrap();
        assert!(StrInterner::read_from(&mut twice.as_slice(), 100, "strings").is_err());

        let mut n = NumInterner::default();
        for x in [1.5, -0.0, 7.0, 1.5] {
            n.intern(x, 100).unwrap();
        }
        let mut bytes = Vec::new();
        n.write_to(&mut bytes).unwrap();
        let back = NumInterner::read_from(&mut bytes.as_slice(), 100).unwrap();
        assert_eq!(back.values, n.values);
        assert_eq!(back.get(7.0), Some(2));
        assert_eq!(back.get(0.0), Some(1));
    }

    #[test]
    fn table_survives_colliding_hashes() {
        let mut t = IdTable::default();
        for id in 0..100 {
            t.insert(42, id);
        }
        for id in 0..100 {
            assert_eq!(t.find(42, |x| x == id), Some(id));
        }
        assert_eq!(t.find(42, |_| false), None);
    }
}

//! Property values and property sets in compact, interned form.
//!
//! A JSON properties object is flattened into a *property set*: a list of
//! [`Pair`]s `(path, value)`, sorted by path id (stably, so values of one path
//! keep their document order). Sets are interned: events with identical
//! properties (the same product viewed by many people) share one set id.
//!
//! Flattening, which defines what a property path names:
//!
//! - an object's keys are joined with `.`: `{"a": {"b": 1}}` has `a.b = 1`, and
//!   also `a = <object>` (so `a exists` holds);
//! - an array contributes each element at the array's own path, recursively
//!   (nested arrays are flattened): `{"tags": ["x", "y"]}` has `tags = x` and
//!   `tags = y`; `{"products": [{"c": "s"}, {"c": "t"}]}` has `products = <object>`
//!   twice and `products.c = s`, `products.c = t`;
//! - `null` contributes nothing (a null property does not exist);
//! - a value that is an element of an array at the end of the path is marked
//!   ([`Pair::in_array`]): `contains` means element equality for those and
//!   substring for plain strings.
//!
//! Value ids ([`Pair::value`]) carry their kind in the two top bits: strings
//! and numbers index their interners, the third kind holds `false`, `true` and
//! the object marker.

use std::io::{Read, Write};

use serde_json::{Map, Value};

use crate::EngineError;
use crate::codec::{In, Out, invalid};
use crate::intern::{IdTable, NumInterner, StrInterner, hash_words};

const KIND_SHIFT: u32 = 30;
const INDEX_MASK: u32 = (1 << KIND_SHIFT) - 1;
const KIND_STR: u32 = 0;
const KIND_NUM: u32 = 1;
/// Value id of `false`.
pub(crate) const FALSE: u32 = 2 << KIND_SHIFT;
/// Value id of `true`.
pub(crate) const TRUE: u32 = FALSE | 1;
/// Value id of "an object is here".
pub(crate) const OBJECT: u32 = FALSE | 2;
/// Set on [`Pair::key`] when the value is an element of an array that ends the path.
const ARRAY_BIT: u32 = 1 << 31;
/// Largest index a string or number interner may hand out.
pub(crate) const MAX_INDEX: u32 = INDEX_MASK;
/// A path id no property has (compiled plans use it for unseen paths).
pub(crate) const NO_PATH: u32 = ARRAY_BIT - 1;

/// One `(path, value)` of a property set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pair {
    key: u32,
    pub(crate) value: u32,
}

impl Pair {
    /// The interned path.
    #[inline]
    pub(crate) fn path(self) -> u32 {
        self.key & !ARRAY_BIT
    }

    /// Whether the value is an element of an array that ends the path.
    #[inline]
    pub(crate) fn in_array(self) -> bool {
        self.key & ARRAY_BIT != 0
    }

    #[inline]
    fn word(self) -> u64 {
        (u64::from(self.key) << 32) | u64::from(self.value)
    }
}

/// A decoded value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Object,
}

/// Bits of [`crate::ValueKinds`] observed for a pair.
pub(crate) fn kind_bits(p: Pair) -> u8 {
    let kind = match p.value >> KIND_SHIFT {
        KIND_STR => 1,
        KIND_NUM => 2,
        _ if p.value == OBJECT => 8,
        _ => 4,
    };
    if p.in_array() { kind | 16 } else { kind }
}

/// The pairs of `set` whose path is `path` (sets are sorted by path).
#[inline]
pub(crate) fn values_of(set: &[Pair], path: u32) -> &[Pair] {
    if set.len() <= 8 {
        let Some(start) = set.iter().position(|p| p.path() == path) else {
            return &[];
        };
        let len = set[start..].iter().take_while(|p| p.path() == path).count();
        return &set[start..start + len];
    }
    let start = set.partition_point(|p| p.path() < path);
    let end = start + set[start..].partition_point(|p| p.path() == path);
    &set[start..end]
}

/// Interned property paths, values and sets, and the flattening of JSON into them.
pub(crate) struct Dictionary {
    pub(crate) keys: StrInterner,
    pub(crate) strings: StrInterner,
    pub(crate) numbers: NumInterner,
    pairs: Vec<Pair>,
    ends: Vec<u32>,
    sets: IdTable,
    scratch: Vec<Pair>,
    path: String,
}

impl Default for Dictionary {
    fn default() -> Dictionary {
        let mut d = Dictionary {
            keys: StrInterner::new(NO_PATH - 1, "property paths"),
            strings: StrInterner::new(MAX_INDEX, "distinct strings"),
            numbers: NumInterner::default(),
            pairs: Vec::new(),
            ends: Vec::new(),
            sets: IdTable::default(),
            scratch: Vec::new(),
            path: String::new(),
        };
        // Set 0 is the empty set.
        d.ends.push(0);
        d.sets.insert(hash_words(std::iter::empty()), 0);
        d
    }
}

impl Dictionary {
    /// The pairs of a set.
    #[inline]
    pub(crate) fn set(&self, id: u32) -> &[Pair] {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.pairs[start..self.ends[i] as usize]
    }

    pub(crate) fn set_count(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    #[inline]
    pub(crate) fn scalar(&self, value: u32) -> Scalar<'_> {
        match value >> KIND_SHIFT {
            KIND_STR => Scalar::Str(self.strings.resolve(value & INDEX_MASK)),
            KIND_NUM => Scalar::Num(self.numbers.resolve(value & INDEX_MASK)),
            _ => match value {
                FALSE => Scalar::Bool(false),
                TRUE => Scalar::Bool(true),
                _ => Scalar::Object,
            },
        }
    }

    /// The value id of a string, if it was ever seen.
    pub(crate) fn string_id(&self, s: &str) -> Option<u32> {
        self.strings.get(s).map(|i| (KIND_STR << KIND_SHIFT) | i)
    }

    /// The value id of a number, if it was ever seen.
    pub(crate) fn number_id(&self, x: f64) -> Option<u32> {
        self.numbers.get(x).map(|i| (KIND_NUM << KIND_SHIFT) | i)
    }

    pub(crate) fn bool_id(b: bool) -> u32 {
        if b { TRUE } else { FALSE }
    }

    /// Interns a properties object (anything else has no properties).
    pub(crate) fn intern_object(&mut self, value: &Value) -> Result<u32, EngineError> {
        let Value::Object(map) = value else {
            return Ok(0);
        };
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        self.path.clear();
        let r = self.children(map, true, &mut out);
        let r = r.and_then(|()| self.intern_pairs(&mut out));
        self.scratch = out;
        r
    }

    /// Interns the one-key object `{key: value}` (a trait). `null` gives the empty set.
    pub(crate) fn intern_entry(&mut self, key: &str, value: &Value) -> Result<u32, EngineError> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        self.path.clear();
        self.path.push_str(key);
        let r = self.flatten(value, false, &mut out);
        let r = r.and_then(|()| self.intern_pairs(&mut out));
        self.scratch = out;
        r
    }

    fn intern_pairs(&mut self, pairs: &mut [Pair]) -> Result<u32, EngineError> {
        pairs.sort_by_key(|p| p.path());
        let hash = hash_words(pairs.iter().map(|p| p.word()));
        let found = {
            let this = &*self;
            this.sets.find(hash, |id| this.set(id) == pairs)
        };
        if let Some(id) = found {
            return Ok(id);
        }
        let id = self.ends.len() as u32;
        let end = self.pairs.len() + pairs.len();
        if id == u32::MAX || end > u32::MAX as usize {
            return Err(EngineError::CapacityExceeded {
                what: "distinct property sets",
            });
        }
        self.pairs.extend_from_slice(pairs);
        self.ends.push(end as u32);
        self.sets.insert(hash, id);
        Ok(id)
    }

    fn push(&mut self, in_array: bool, value: u32, out: &mut Vec<Pair>) -> Result<(), EngineError> {
        let key = self.keys.intern(&self.path)?;
        out.push(Pair {
            key: if in_array { key | ARRAY_BIT } else { key },
            value,
        });
        Ok(())
    }

    fn children(
        &mut self,
        map: &Map<String, Value>,
        root: bool,
        out: &mut Vec<Pair>,
    ) -> Result<(), EngineError> {
        let base = self.path.len();
        for (k, v) in map {
            if !root {
                self.path.push('.');
            }
            self.path.push_str(k);
            let r = self.flatten(v, false, out);
            self.path.truncate(base);
            r?;
        }
        Ok(())
    }

    /// Flattens `v`, found at `self.path`.
    fn flatten(
        &mut self,
        v: &Value,
        in_array: bool,
        out: &mut Vec<Pair>,
    ) -> Result<(), EngineError> {
        match v {
            Value::Null => Ok(()),
            Value::Bool(b) => self.push(in_array, Self::bool_id(*b), out),
            Value::Number(n) => match n.as_f64() {
                Some(x) => {
                    let id = self.numbers.intern(x, MAX_INDEX)?;
                    self.push(in_array, (KIND_NUM << KIND_SHIFT) | id, out)
                }
                None => Ok(()),
            },
            Value::String(s) => {
                let id = self.strings.intern(s)?;
                self.push(in_array, (KIND_STR << KIND_SHIFT) | id, out)
            }
            Value::Array(items) => {
                for item in items {
                    self.flatten(item, true, out)?;
                }
                Ok(())
            }
            Value::Object(map) => {
                self.push(in_array, OBJECT, out)?;
                self.children(map, false, out)
            }
        }
    }

    pub(crate) fn shrink_to_fit(&mut self) {
        self.keys.shrink_to_fit();
        self.strings.shrink_to_fit();
        self.numbers.shrink_to_fit();
        self.pairs.shrink_to_fit();
        self.ends.shrink_to_fit();
        self.scratch = Vec::new();
        self.path = String::new();
    }

    /// Writes the paths, values and sets (hash indexes are rebuilt when reading).
    pub(crate) fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        self.keys.write_to(w)?;
        self.strings.write_to(w)?;
        self.numbers.write_to(w)?;
        let mut out = Out(w);
        out.array(&self.pairs, |p| p.word().to_le_bytes())?;
        out.u32s(&self.ends)
    }

    /// Reads what [`Dictionary::write_to`] wrote, checking that every pair
    /// names a known path and value, that sets are sorted by path, distinct,
    /// and that set 0 is the empty set.
    pub(crate) fn read_from(r: &mut impl Read) -> std::io::Result<Dictionary> {
        let keys = StrInterner::read_from(r, NO_PATH - 1, "property paths")?;
        let strings = StrInterner::read_from(r, MAX_INDEX, "distinct strings")?;
        let numbers = NumInterner::read_from(r, MAX_INDEX)?;
        let mut input = In(r);
        let pairs = input.array(u32::MAX as usize, |b| {
            let w = u64::from_le_bytes(b);
            Pair {
                key: (w >> 32) as u32,
                value: w as u32,
            }
        })?;
        let ends = input.u32s(u32::MAX as usize)?;
        let (paths, nstrings, nnumbers) = (keys.len(), strings.len(), numbers.len());
        let valid = |p: &Pair| {
            (p.path() as usize) < paths
                && match p.value >> KIND_SHIFT {
                    KIND_STR => ((p.value & INDEX_MASK) as usize) < nstrings,
                    KIND_NUM => ((p.value & INDEX_MASK) as usize) < nnumbers,
                    _ => matches!(p.value, FALSE | TRUE | OBJECT),
                }
        };
        if !pairs.iter().all(valid)
            || ends.first() != Some(&0)
            || !ends.is_sorted()
            || ends.last().map(|&e| e as usize) != Some(pairs.len())
        {
            return Err(invalid("bad property sets"));
        }
        let mut d = Dictionary {
            keys,
            strings,
            numbers,
            pairs,
            ends,
            sets: IdTable::default(),
            scratch: Vec::new(),
            path: String::new(),
        };
        let mut sets = IdTable::with_capacity(d.ends.len());
        for id in 0..d.ends.len() as u32 {
            let set = d.set(id);
            if !set.is_sorted_by_key(|p| p.path()) {
                return Err(invalid("bad property sets"));
            }
            let hash = hash_words(set.iter().map(|p| p.word()));
            if sets.find(hash, |other| d.set(other) == set).is_some() {
                return Err(invalid("a property set is listed twice"));
            }
            sets.insert(hash, id);
        }
        d.sets = sets;
        Ok(d)
    }

    /// Heap bytes of (paths and values, property sets).
    pub(crate) fn heap_bytes(&self) -> (usize, usize) {
        let values = self.keys.heap_bytes() + self.strings.heap_bytes() + self.numbers.heap_bytes();
        let sets = self.pairs.capacity() * std::mem::size_of::<Pair>()
            + self.ends.capacity() * 4
            + self.sets.heap_bytes()
            + self.scratch.capacity() * std::mem::size_of::<Pair>()
            + self.path.capacity();
        (values, sets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat(d: &Dictionary, set: u32) -> Vec<(String, String, bool)> {
        d.set(set)
            .iter()
            .map(|p| {
                let v = match d.scalar(p.value) {
                    Scalar::Str(s) => format!("{s:?}"),
                    Scalar::Num(x) => format!("{x}"),
                    Scalar::Bool(b) => format!("{b}"),
                    Scalar::Object => "{}".to_owned(),
                };
                (d.keys.resolve(p.path()).to_owned(), v, p.in_array())
            })
            .collect()
    }

    #[test]
    fn flattening_paths_arrays_and_nulls() {
        let mut d = Dictionary::default();
        let s = d
            .intern_object(&json!({
                "price": 5, "gone": null, "tags": ["x", ["y"], null],
                "products": [{"category": "shoes"}, {"category": "bags", "n": 2}],
                "o": {"a": true}
            }))
            .unwrap();
        let mut got = flat(&d, s);
        got.sort();
        let mut want = vec![
            ("price", "5", false),
            ("tags", "\"x\"", true),
            ("tags", "\"y\"", true),
            ("products", "{}", true),
            ("products", "{}", true),
            ("products.category", "\"shoes\"", false),
            ("products.category", "\"bags\"", false),
            ("products.n", "2", false),
            ("o", "{}", false),
            ("o.a", "true", false),
        ]
        .into_iter()
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c))
        .collect::<Vec<_>>();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn identical_properties_share_a_set() {
        let mut d = Dictionary::default();
        let a = d.intern_object(&json!({"a": 1, "b": "x"})).unwrap();
        let b = d.intern_object(&json!({"b": "x", "a": 1.0})).unwrap();
        let c = d.intern_object(&json!({"a": 2, "b": "x"})).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(d.intern_object(&json!({})).unwrap(), 0);
        assert_eq!(d.intern_object(&json!([1, 2])).unwrap(), 0);
        assert_eq!(d.intern_object(&json!({"n": null})).unwrap(), 0);
    }

    #[test]
    fn dictionaries_round_trip_through_bytes() {
        let mut d = Dictionary::default();
        let objects = [
            json!({"a": 1, "b": "x", "tags": ["p", "q"], "o": {"t": true}}),
            json!({"price": 2.5, "products": [{"category": "shoes"}]}),
            json!({"b": "x"}),
        ];
        let ids: Vec<u32> = objects
            .iter()
            .map(|o| d.intern_object(o).unwrap())
            .collect();
        let mut bytes = Vec::new();
        d.write_to(&mut bytes).unwrap();
        let mut back = Dictionary::read_from(&mut bytes.as_slice()).unwrap();
        for &id in &ids {
            assert_eq!(flat(&back, id), flat(&d, id));
        }
        assert_eq!(back.set_count(), d.set_count());
        // Interning again finds the same sets and values.
        for (o, &id) in objects.iter().zip(&ids) {
            assert_eq!(back.intern_object(o).unwrap(), id);
        }
        assert_eq!(back.string_id("x"), d.string_id("x"));
        // Every truncation is an error, never a panic.
        for cut in 0..bytes.len() {
            assert!(Dictionary::read_from(&mut &bytes[..cut]).is_err());
        }
    }

    #[test]
    fn values_of_finds_every_value_of_a_path() {
        let mut d = Dictionary::default();
        let big: serde_json::Map<String, Value> = (0..20)
            .map(|i| (format!("k{i}"), json!([i, i + 1])))
            .collect();
        let s = d.intern_object(&Value::Object(big)).unwrap();
        let key = d.keys.get("k7").unwrap();
        let vals: Vec<Scalar> = values_of(d.set(s), key)
            .iter()
            .map(|p| d.scalar(p.value))
            .collect();
        assert_eq!(vals, vec![Scalar::Num(7.0), Scalar::Num(8.0)]);
        let small = d.intern_object(&json!({"k7": 1})).unwrap();
        assert_eq!(values_of(d.set(small), key).len(), 1);
        assert!(values_of(d.set(small), key + 1).is_empty());
    }
}

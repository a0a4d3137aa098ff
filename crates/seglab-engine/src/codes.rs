//! The values of one property path in the property sets of one event name,
//! as small dense codes.
//!
//! `top`, `distinct` and the aggregates read the values of a path in every
//! matching event. When the event name has few distinct property sets (a
//! product catalog viewed over and over), a [`SetCodes`] table built once per
//! evaluation maps each of those sets to the codes of its values there, so an
//! event costs one lookup in a small, cache-resident table instead of a visit
//! to the property set, and values are counted in plain arrays indexed by code.

use crate::intern::IntMap;
use crate::props::{OBJECT, Scalar, values_of};
use crate::timeline::Timelines;

/// What a table codes: the values of `path` in the sets of event `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CodeKey {
    pub(crate) name: u32,
    pub(crate) path: u32,
    /// Numbers only (aggregates); otherwise every value but objects.
    pub(crate) numbers: bool,
}

/// Event names with more distinct property sets than this get no table (the
/// values are then read from the sets).
const MAX_SETS: u64 = 1 << 16;

/// Marks an entry that is an offset in `lists` (codes stay below it).
const LIST: u32 = 1 << 31;

/// Set ids to codes, for the sets of one event name.
pub(crate) struct SetCodes {
    /// Per set id: 0 for a set of another name, the code of the set's one
    /// value plus 1, or [`LIST`] plus the offset in `lists` of its codes (a
    /// length, then the codes).
    entries: Vec<u32>,
    lists: Vec<u32>,
    /// Per code, the value id.
    pub(crate) values: Vec<u32>,
    /// Per code, the number (for tables of numbers).
    pub(crate) numbers: Vec<f64>,
}

impl SetCodes {
    /// The table for `key`, unless the name has too many sets for one.
    pub(crate) fn build(tl: &Timelines, key: CodeKey) -> Option<SetCodes> {
        let sets = tl.sets_of_name(key.name)?;
        if sets.len() > MAX_SETS {
            return None;
        }
        let mut table = SetCodes {
            entries: vec![0; tl.dict.set_count()],
            // Offset 0: the empty list, shared by sets without values.
            lists: vec![0],
            values: Vec::new(),
            numbers: Vec::new(),
        };
        let mut code_of: IntMap<u32, u32> = IntMap::default();
        // Codes stay below `LIST`: at most one per pair.
        debug_assert!(tl.dict.pair_count() < LIST as usize);
        let mut codes = Vec::new();
        for set in sets {
            codes.clear();
            for p in values_of(tl.set(set), key.path) {
                let number = match tl.dict.scalar(p.value) {
                    Scalar::Num(x) => Some(x),
                    _ => None,
                };
                let wanted = if key.numbers {
                    number.is_some()
                } else {
                    p.value != OBJECT
                };
                if !wanted {
                    continue;
                }
                let next = table.values.len() as u32;
                let code = *code_of.entry(p.value).or_insert(next);
                if code == next {
                    table.values.push(p.value);
                    table.numbers.push(number.unwrap_or(f64::NAN));
                }
                codes.push(code);
            }
            let entry = match codes[..] {
                [] => LIST,
                [code] => code + 1,
                _ => {
                    let at = table.lists.len() as u32;
                    table.lists.push(codes.len() as u32);
                    table.lists.extend_from_slice(&codes);
                    LIST | at
                }
            };
            table.entries[set as usize] = entry;
        }
        Some(table)
    }

    /// Calls `f` with the code of each of a set's values (in the set's order);
    /// `false` for a set that is not of the table's event name.
    #[inline]
    pub(crate) fn each(&self, set: u32, mut f: impl FnMut(u32)) -> bool {
        match self.entries.get(set as usize).copied().unwrap_or(0) {
            0 => return false,
            code if code < LIST => f(code - 1),
            list => {
                let at = (list - LIST) as usize;
                let len = self.lists[at] as usize;
                self.lists[at + 1..at + 1 + len].iter().for_each(|&c| f(c));
            }
        }
        true
    }

    /// How many distinct values there are.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
}

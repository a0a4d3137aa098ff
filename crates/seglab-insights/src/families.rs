//! Mutually exclusive families: segments in priority order, each person
//! counted in the first one that holds them (the way campaigns arbitrate by
//! priority), so the family splits people into disjoint groups.

use roaring::RoaringTreemap;
use serde::Serialize;

use crate::ratio;

/// People in a family of segments (shape in the crate docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Families {
    /// Everyone with a timeline.
    pub people: u64,
    /// People in at least one of the segments (the sum of `first`).
    pub assigned: u64,
    /// `people - assigned`.
    pub unassigned: u64,
    /// In priority order.
    pub families: Vec<Family>,
}

/// One segment of a family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Family {
    pub segment: String,
    /// The segment's whole size.
    pub members: u64,
    /// Members not held by a segment before it.
    pub first: u64,
    /// `first / people` (0 with nobody at all).
    pub share: f64,
    /// Up to [`SAMPLE`] person ids of `first`.
    pub sample: Vec<i64>,
}

/// Person ids shown per segment.
pub const SAMPLE: usize = 10;

/// Splits `people` people over `ordered` segments, first come first served.
pub fn families(ordered: &[(String, RoaringTreemap)], people: u64) -> Families {
    let mut taken = RoaringTreemap::new();
    let mut out = Vec::with_capacity(ordered.len());
    for (name, members) in ordered {
        let first = members - &taken;
        taken |= members;
        out.push(Family {
            segment: name.clone(),
            members: members.len(),
            first: first.len(),
            share: ratio(first.len() as f64, people as f64).unwrap_or(0.0),
            sample: first.iter().take(SAMPLE).map(|p| p as i64).collect(),
        });
    }
    let assigned = taken.len();
    Families {
        people,
        assigned,
        unassigned: people.saturating_sub(assigned),
        families: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_person_in_the_first_segment_that_holds_them() {
        let set = |ids: &[u64]| ids.iter().copied().collect::<RoaringTreemap>();
        let ordered = vec![
            ("champions".to_owned(), set(&[1, 2])),
            ("buyers".to_owned(), set(&[1, 2, 3, 4])),
            ("empty".to_owned(), set(&[])),
            ("visitors".to_owned(), set(&[4, 5, 6])),
        ];
        let f = families(&ordered, 10);
        let firsts: Vec<(u64, u64, &[i64])> = f
            .families
            .iter()
            .map(|x| (x.members, x.first, x.sample.as_slice()))
            .collect();
        assert_eq!(
            firsts,
            vec![
                (2, 2, &[1, 2][..]),
                (4, 2, &[3, 4][..]),
                (0, 0, &[][..]),
                (3, 2, &[5, 6][..])
            ]
        );
        assert_eq!((f.assigned, f.unassigned), (6, 4));
        assert!((f.families[1].share - 0.2).abs() < 1e-12);
        // Nobody at all: shares are 0, not NaN.
        assert_eq!(families(&ordered, 0).families[0].share, 0.0);
    }
}

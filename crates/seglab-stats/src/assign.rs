//! Deterministic, sticky assignment of people to arms.

use xxhash_rust::xxh3::Xxh3;

use crate::error::{Result, StatsError};
use crate::weights::check_percentages;

/// An experiment's traffic split: a holdout share and one share per
/// variant, all percentages, together summing to 100.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    holdout: f64,
    variants: Vec<f64>,
}

impl Allocation {
    /// `variants` (control first, by convention) and `holdout`, percentages
    /// summing to 100, each finite and non-negative; at least one variant
    /// must have a positive share.
    pub fn new(variants: &[f64], holdout: f64) -> Result<Allocation> {
        let mut all = Vec::with_capacity(variants.len() + 1);
        all.push(holdout);
        all.extend_from_slice(variants);
        check_percentages(&all)?;
        if !variants.iter().any(|&w| w > 0.0) {
            return Err(StatsError::OutOfRange {
                what: "the variants' share".into(),
                value: variants.iter().sum(),
                range: "(0, 100]",
            });
        }
        Ok(Allocation {
            holdout,
            variants: variants.to_vec(),
        })
    }

    /// The holdout share, in percent.
    pub fn holdout(&self) -> f64 {
        self.holdout
    }

    /// The variants' shares, in percent.
    pub fn variants(&self) -> &[f64] {
        &self.variants
    }
}

/// Where [`assign`] puts a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arm {
    /// Kept out of every variant, as a long-term baseline.
    Holdout,
    /// The variant at this index of [`Allocation::variants`].
    Variant(usize),
}

/// A person's position in [0, 1) for an experiment: the top 53 bits of the
/// xxh3-64 hash of the length of the experiment key (8 bytes, little
/// endian), the experiment key and the person key, over 2⁵³.
///
/// The length prefix keeps ("ab", "c") and ("a", "bc") apart; the
/// experiment key makes positions independent across experiments.
pub fn bucket(experiment_key: &str, person_key: &str) -> f64 {
    let mut hasher = Xxh3::new();
    hasher.update(&(experiment_key.len() as u64).to_le_bytes());
    hasher.update(experiment_key.as_bytes());
    hasher.update(person_key.as_bytes());
    (hasher.digest() >> 11) as f64 / (1u64 << 53) as f64
}

/// The arm of `person_key` in `experiment_key`: the same for the same keys
/// and allocation, on every machine and in every release.
///
/// The unit interval is cut in order: [0, holdout) is the holdout, then
/// each variant's share in turn. Changing a share moves the edges after
/// it, and only the people between an old and a new edge change arm.
pub fn assign(experiment_key: &str, person_key: &str, allocation: &Allocation) -> Arm {
    let position = bucket(experiment_key, person_key) * 100.0;
    if position < allocation.holdout {
        return Arm::Holdout;
    }
    let mut edge = allocation.holdout;
    for (index, &share) in allocation.variants.iter().enumerate() {
        edge += share;
        if position < edge {
            return Arm::Variant(index);
        }
    }
    // Rounding can leave the very top of [0, 100) past the last edge: it
    // belongs to the last variant with a share.
    let last = allocation
        .variants
        .iter()
        .rposition(|&w| w > 0.0)
        .expect("a variant with a positive share");
    Arm::Variant(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_is_sticky_and_follows_the_weights() {
        let allocation = Allocation::new(&[45.0, 45.0], 10.0).unwrap();
        let mut counts = [0u32; 3];
        for person in 0..20_000 {
            let key = format!("person-{person}");
            let arm = assign("checkout-button", &key, &allocation);
            assert_eq!(arm, assign("checkout-button", &key, &allocation));
            counts[match arm {
                Arm::Holdout => 0,
                Arm::Variant(i) => i + 1,
            }] += 1;
        }
        assert!((1_800..2_200).contains(&counts[0]), "{counts:?}");
        assert!((8_600..9_400).contains(&counts[1]), "{counts:?}");
    }

    #[test]
    fn zero_shares_are_never_assigned() {
        let allocation = Allocation::new(&[0.0, 100.0, 0.0], 0.0).unwrap();
        for person in 0..1_000 {
            let arm = assign("e", &person.to_string(), &allocation);
            assert_eq!(arm, Arm::Variant(1));
        }
    }

    #[test]
    fn weights_must_sum_to_100() {
        assert!(matches!(
            Allocation::new(&[50.0, 40.0], 0.0),
            Err(StatsError::WeightsSum { .. })
        ));
        assert!(Allocation::new(&[0.0, 0.0], 100.0).is_err());
        assert!(Allocation::new(&[], 100.0).is_err());
        assert!(Allocation::new(&[50.0, 50.0], 0.0).is_ok());
    }

    #[test]
    fn key_boundaries_are_unambiguous() {
        assert_ne!(bucket("ab", "c"), bucket("a", "bc"));
    }
}

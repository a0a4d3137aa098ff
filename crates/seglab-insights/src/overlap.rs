//! How segments overlap: people in both and the Jaccard index of every pair,
//! from the member bitmaps.
//!
//! One roaring intersection per pair (|A ∪ B| = |A| + |B| − |A ∩ B|), the
//! rows in parallel: 50 segments of a million people are 1,225 intersections
//! of compressed bitmaps, well under a second.

use rayon::prelude::*;
use roaring::RoaringTreemap;
use serde::Serialize;

/// The overlap matrices (shape in the crate docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlap {
    pub segments: Vec<SegmentSize>,
    /// `intersections[i][j]`: people in both `segments[i]` and `segments[j]`.
    pub intersections: Vec<Vec<u64>>,
    /// `jaccard[i][j]`: |A ∩ B| / |A ∪ B|, 0 when both are empty.
    pub jaccard: Vec<Vec<f64>>,
}

/// A segment and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentSize {
    pub name: String,
    pub size: u64,
}

/// |A ∩ B| / |A ∪ B| from the sizes and the intersection; 0 when both are
/// empty.
pub fn jaccard(a: u64, b: u64, both: u64) -> f64 {
    let union = a + b - both;
    if union == 0 {
        0.0
    } else {
        both as f64 / union as f64
    }
}

/// The overlap of every pair of `sets`, in their order.
pub fn overlap(sets: &[(String, RoaringTreemap)]) -> Overlap {
    let n = sets.len();
    let sizes: Vec<u64> = sets.iter().map(|(_, s)| s.len()).collect();
    let intersections = pairwise(&sizes, |i, j| sets[i].1.intersection_len(&sets[j].1));
    let jaccard = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| jaccard(sizes[i], sizes[j], intersections[i][j]))
                .collect()
        })
        .collect();
    Overlap {
        segments: sets
            .iter()
            .zip(&sizes)
            .map(|((name, _), &size)| SegmentSize {
                name: name.clone(),
                size,
            })
            .collect(),
        intersections,
        jaccard,
    }
}

/// The symmetric matrix of `both(i, j)` for every pair `i < j` (rows in
/// parallel), with `sizes` on the diagonal.
fn pairwise(sizes: &[u64], both: impl Fn(usize, usize) -> u64 + Sync) -> Vec<Vec<u64>> {
    let n = sizes.len();
    let upper: Vec<Vec<u64>> = (0..n)
        .into_par_iter()
        .map(|i| (i + 1..n).map(|j| both(i, j)).collect())
        .collect();
    let mut out = vec![vec![0u64; n]; n];
    for i in 0..n {
        out[i][i] = sizes[i];
        for (k, &v) in upper[i].iter().enumerate() {
            out[i][i + 1 + k] = v;
            out[i + 1 + k][i] = v;
        }
    }
    out
}

/// The same intersections the slow way, for the benchmark's baseline: a
/// merge of sorted member lists per pair (rows in parallel, as
/// [`overlap`]).
pub fn intersections_by_merge(sorted: &[Vec<i64>]) -> Vec<Vec<u64>> {
    let sizes: Vec<u64> = sorted.iter().map(|s| s.len() as u64).collect();
    pairwise(&sizes, |i, j| {
        let (a, b) = (&sorted[i], &sorted[j]);
        let (mut x, mut y, mut both) = (0, 0, 0u64);
        while x < a.len() && y < b.len() {
            match a[x].cmp(&b[y]) {
                std::cmp::Ordering::Less => x += 1,
                std::cmp::Ordering::Greater => y += 1,
                std::cmp::Ordering::Equal => {
                    both += 1;
                    x += 1;
                    y += 1;
                }
            }
        }
        both
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: impl IntoIterator<Item = u64>) -> RoaringTreemap {
        ids.into_iter().collect()
    }

    #[test]
    fn two_known_segments() {
        // a = 1..=10, b = 6..=15: 5 in both, 15 in either.
        let sets = vec![
            ("a".to_owned(), set(1..=10)),
            ("b".to_owned(), set(6..=15)),
            ("empty".to_owned(), set([])),
        ];
        let o = overlap(&sets);
        assert_eq!(
            o.intersections,
            vec![vec![10, 5, 0], vec![5, 10, 0], vec![0, 0, 0]]
        );
        assert!((o.jaccard[0][1] - 5.0 / 15.0).abs() < 1e-12);
        assert_eq!(o.jaccard[1][0], o.jaccard[0][1]);
        assert_eq!(
            (o.jaccard[0][0], o.jaccard[2][2], o.jaccard[0][2]),
            (1.0, 0.0, 0.0)
        );
        assert_eq!(
            o.segments[1],
            SegmentSize {
                name: "b".into(),
                size: 10
            }
        );
    }

    #[test]
    fn the_baseline_counts_the_same() {
        let sets: Vec<(String, RoaringTreemap)> = (1..6u64)
            .map(|k| (format!("s{k}"), set((0..5_000).filter(|x| x % k == 0))))
            .collect();
        let sorted: Vec<Vec<i64>> = sets
            .iter()
            .map(|(_, s)| s.iter().map(|p| p as i64).collect())
            .collect();
        assert_eq!(
            overlap(&sets).intersections,
            intersections_by_merge(&sorted)
        );
    }
}

//! "Did you mean …?": the closest known name by edit distance.

/// The candidate closest to `name`, if it is close enough to be a likely typo:
/// the same but for letter case, or within an edit distance of a third of the
/// name's length (at least 1, at most 3). Ties go to the first candidate.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    let limit = (len / 3).clamp(1, 3);
    let lower = name.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        let d = if candidate.to_lowercase() == lower {
            0
        } else if candidate.chars().count().abs_diff(len) > limit {
            continue;
        } else {
            distance(name, candidate)
        };
        if d <= limit && best.is_none_or(|(best_d, _)| d < best_d) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// The number of single-character insertions, deletions, substitutions and
/// swaps of neighbours that turn `a` into `b` (optimal string alignment).
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    // Three rows of the dynamic-programming table: i - 2, i - 1 and i.
    let mut before: Vec<usize> = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j - 1] + cost)
                .min(previous[j] + 1)
                .min(current[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[width - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("Order Complete", "Order Completed"), 1);
        assert_eq!(distance("é", "e"), 1);
        assert_eq!(distance("vpi", "vip"), 1);
        assert_eq!(distance("ab", "ba"), 1);
    }

    #[test]
    fn suggestions() {
        let known = ["Order Completed", "Product Viewed", "Product Added"];
        assert_eq!(closest("Order Complete", known), Some("Order Completed"));
        assert_eq!(closest("order completed", known), Some("Order Completed"));
        assert_eq!(closest("Product Addded", known), Some("Product Added"));
        assert_eq!(closest("Signed Up", known), None);
        assert_eq!(closest("vpi", ["vip", "dormant"]), Some("vip"));
        assert_eq!(closest("x", ["y"]), Some("y"));
        assert_eq!(closest("x", ["yz"]), None);
    }
}

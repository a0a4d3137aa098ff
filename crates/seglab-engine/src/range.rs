//! Inclusive time ranges of evaluation, and finding the events in one.

use crate::timeline::Event;

/// An inclusive time range; empty when `lo > hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub(crate) lo: i64,
    pub(crate) hi: i64,
}

impl Default for TimeRange {
    /// The empty range.
    fn default() -> TimeRange {
        TimeRange::new(1, 0)
    }
}

impl TimeRange {
    /// `[lo, hi]` in exact arithmetic, clamped to what timestamps can be.
    pub(crate) fn new(lo: i128, hi: i128) -> TimeRange {
        if lo > hi || lo > i128::from(i64::MAX) || hi < i128::from(i64::MIN) {
            return TimeRange {
                lo: i64::MAX,
                hi: i64::MIN,
            };
        }
        TimeRange {
            lo: lo.max(i128::from(i64::MIN)) as i64,
            hi: hi.min(i128::from(i64::MAX)) as i64,
        }
    }

    /// `(-inf, hi]`
    pub(crate) fn up_to(hi: i128) -> TimeRange {
        TimeRange::new(i128::from(i64::MIN), hi)
    }

    pub(crate) fn intersect(self, other: TimeRange) -> TimeRange {
        TimeRange::new(
            i128::from(self.lo.max(other.lo)),
            i128::from(self.hi.min(other.hi)),
        )
    }

    #[inline]
    pub(crate) fn contains(self, t: i64) -> bool {
        self.lo <= t && t <= self.hi
    }

    /// Index bounds of the events in the range (events sorted by time). Ranges
    /// usually reach to the latest events, so the search starts at the end.
    #[inline]
    pub(crate) fn bounds(self, events: &[Event]) -> (usize, usize) {
        let n = events.len();
        if self.lo > self.hi || n == 0 {
            return (0, 0);
        }
        let end = if events[n - 1].ts() <= self.hi {
            n
        } else {
            gallop_back(events, |e| e.ts() <= self.hi)
        };
        let start = if events[0].ts() >= self.lo {
            0
        } else {
            gallop_back(&events[..end], |e| e.ts() < self.lo)
        };
        (start.min(end), end)
    }

    #[cfg(test)]
    pub(crate) fn slice(self, events: &[Event]) -> &[Event] {
        let (a, b) = self.bounds(events);
        &events[a..b]
    }
}

/// The partition point of `pred` (true on a prefix, false after), found by
/// probing back from the end in doubling steps, then by binary search.
fn gallop_back(events: &[Event], pred: impl Fn(&Event) -> bool) -> usize {
    // `pred` is false from `hi` on.
    let mut hi = events.len();
    let mut step = 1;
    let lo = loop {
        if step >= hi {
            break 0;
        }
        let probe = hi - step;
        if pred(&events[probe]) {
            break probe + 1;
        }
        hi = probe;
        step *= 2;
    };
    lo + events[lo..hi].partition_point(pred)
}

/// An instant in exact arithmetic as a timestamp, clamped to what one can be.
pub(crate) fn clamp(x: i128) -> i64 {
    x.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_and_slice() {
        let r = TimeRange::new(-5, 3);
        assert!(r.contains(-5) && r.contains(3) && !r.contains(4));
        assert!(!TimeRange::new(4, 3).contains(3));
        let all = TimeRange::new(i128::MIN / 2, i128::MAX / 2);
        let everything = TimeRange {
            lo: i64::MIN,
            hi: i64::MAX,
        };
        assert_eq!(all, everything);
        assert!(!TimeRange::new(i128::from(i64::MAX) + 1, i128::MAX).contains(i64::MAX));
        assert_eq!(
            TimeRange::up_to(i128::from(i64::MIN) - 1).bounds(&[]),
            (0, 0)
        );
        let ev = |ts| Event::new(ts, 0, 0);
        let events = [ev(1), ev(2), ev(2), ev(5)];
        assert_eq!(TimeRange::new(2, 4).bounds(&events), (1, 3));
        assert_eq!(TimeRange::new(2, 5).slice(&events).len(), 3);
        assert_eq!(TimeRange::new(6, 9).slice(&events).len(), 0);
        assert_eq!(TimeRange::new(3, 2).slice(&events).len(), 0);
        assert_eq!(everything.slice(&events).len(), 4);
        // Against a plain binary search, for every range over a longer list.
        let events: Vec<Event> = [1, 1, 2, 3, 5, 5, 5, 8, 9, 9, 12, 20, 20, 21]
            .iter()
            .map(|&t| ev(t))
            .collect();
        for lo in -1..23 {
            for hi in -1..23 {
                let r = TimeRange::new(lo, hi);
                let want = if lo > hi {
                    (0, 0)
                } else {
                    let start = events.partition_point(|e| i128::from(e.ts()) < lo);
                    let end = events.partition_point(|e| i128::from(e.ts()) <= hi);
                    (start, end)
                };
                assert_eq!(r.bounds(&events), want, "[{lo}, {hi}]");
            }
        }
    }
}

//! Evaluating `first`, `last`, `then` and `then not`.

use super::Evaluator;
use crate::plan::{Filter, NameMatch, Plan};
use crate::range::TimeRange;

impl<'a> Evaluator<'a> {
    /// `first`, `last`, `then` and `then not`.
    #[inline]
    pub(super) fn sequence(&mut self, plan: &'a Plan) -> bool {
        match plan {
            Plan::FirstLast {
                last,
                filter,
                seen,
                time,
            } => {
                if filter.name == NameMatch::Any {
                    // Any event: the first, or the last seen by `now`.
                    let events = self.events;
                    let found = if *last {
                        events[..events.partition_point(|e| e.ts() <= seen.hi)].last()
                    } else {
                        events.first().filter(|e| e.ts() <= seen.hi)
                    };
                    return found.is_some_and(|e| time.contains(e.ts()));
                }
                let Some((a, b)) = self.picks(filter, *seen) else {
                    return false;
                };
                let found = if *last {
                    (a..b).rev().find(|&k| self.pred(filter, k))
                } else {
                    (a..b).find(|&k| self.pred(filter, k))
                };
                found.is_some_and(|k| time.contains(self.times[k]))
            }
            Plan::Then {
                a,
                a_range,
                b,
                within,
                seen,
            } => {
                let (Some((a0, a1)), Some((mut j, b1))) = (
                    self.picks(a, *a_range),
                    self.picks(
                        b,
                        TimeRange {
                            lo: a_range.lo,
                            hi: seen.hi,
                        },
                    ),
                ) else {
                    return false;
                };
                for k in a0..a1 {
                    if !self.pred(a, k) {
                        continue;
                    }
                    let ta = self.times[k];
                    match self.next_b(b, &mut j, b1, ta) {
                        None => return false,
                        Some(tb) if tb <= ta.saturating_add(*within) => return true,
                        Some(_) => {}
                    }
                }
                false
            }
            Plan::ThenNotWithin {
                a,
                a_range,
                b,
                within,
                seen,
            } => {
                let Some((a0, a1)) = self.picks(a, *a_range) else {
                    return false;
                };
                let Some((mut j, b1)) = self.picks(
                    b,
                    TimeRange {
                        lo: a_range.lo,
                        hi: seen.hi,
                    },
                ) else {
                    // No B at all: any A will do.
                    return (a0..a1).any(|k| self.pred(a, k));
                };
                for k in a0..a1 {
                    if !self.pred(a, k) {
                        continue;
                    }
                    let ta = self.times[k];
                    if self
                        .next_b(b, &mut j, b1, ta)
                        .is_none_or(|tb| tb > ta.saturating_add(*within))
                    {
                        return true;
                    }
                }
                false
            }
            Plan::ThenNotLatest {
                a,
                a_range,
                b,
                seen,
            } => {
                let Some((a0, a1)) = self.picks(a, *a_range) else {
                    return false;
                };
                let Some(k) = (a0..a1).rev().find(|&k| self.pred(a, k)) else {
                    return false;
                };
                let ta = self.times[k];
                match self.picks(
                    b,
                    TimeRange {
                        lo: a_range.lo,
                        hi: seen.hi,
                    },
                ) {
                    None => true,
                    Some((b0, b1)) => !(b0..b1)
                        .rev()
                        .take_while(|&j| self.times[j] > ta)
                        .any(|j| self.pred(b, j)),
                }
            }
            _ => unreachable!("not a sequence plan"),
        }
    }

    /// For `then` and `then not`: the earliest listed B at or after `*j` in
    /// `b0..b1` that is after `ta` and passes `b`'s predicate (`*j` moves up
    /// to it: earlier ones are before every later A too).
    #[inline]
    fn next_b(&self, b: &Filter, j: &mut usize, b1: usize, ta: i64) -> Option<i64> {
        while *j < b1 && (self.times[*j] <= ta || !self.pred(b, *j)) {
            *j += 1;
        }
        (*j < b1).then(|| self.times[*j])
    }
}

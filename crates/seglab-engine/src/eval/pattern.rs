//! Evaluating `stopped`, `restarted` and `regularly`.

use super::Evaluator;
use crate::plan::Plan;

impl<'a> Evaluator<'a> {
    /// `stopped`, `restarted` and `regularly`.
    #[inline]
    pub(super) fn pattern(&mut self, plan: &'a Plan) -> bool {
        match plan {
            Plan::Pattern { filter, some, none } => {
                some.iter().all(|r| self.did(filter, *r)) && !self.did(filter, *none)
            }
            Plan::Regularly {
                filter,
                times,
                period,
                at_least,
                of_last,
                now,
                span,
            } => {
                if *at_least == 0 {
                    return true;
                }
                if *times == 0 {
                    return of_last >= at_least;
                }
                let Some((a, b)) = self.picks(filter, *span) else {
                    return false;
                };
                // Walk back from `now`, counting matching events per period.
                let now = i128::from(*now);
                let mut qualifying = 0u32;
                let mut current = None;
                let mut count = 0u32;
                for k in (a..b).rev() {
                    if !self.pred(filter, k) {
                        continue;
                    }
                    let i = period_index(now - i128::from(self.times[k]), *period);
                    if i >= i128::from(*of_last) {
                        break;
                    }
                    if current != Some(i) {
                        current = Some(i);
                        count = 0;
                    }
                    count += 1;
                    if count == *times {
                        qualifying += 1;
                        if qualifying >= *at_least {
                            return true;
                        }
                    }
                }
                false
            }
            _ => unreachable!("not a pattern plan"),
        }
    }
}

/// Which period of `regularly` an event `age` = `now - t` old falls in: period
/// 0 is `[now-P, now]`, period `i >= 1` is `[now-(i+1)P, now-iP)`.
#[inline]
fn period_index(age: i128, period: i128) -> i128 {
    if period == 0 {
        return if age == 0 { 0 } else { i128::MAX };
    }
    // ceil(age / P) - 1, and 0 for age 0.
    ((age + period - 1) / period - 1).max(0)
}

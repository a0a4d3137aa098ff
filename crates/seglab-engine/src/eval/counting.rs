//! Evaluating `did`, `count`, aggregates, `distinct` and `top`.

use seglab_lang::ast::{AggFunc, NumTest};

use super::Evaluator;
use crate::codes::SetCodes;
use crate::plan::{Filter, Plan};
use crate::props::{Dictionary, OBJECT, Scalar, values_of};

/// Up to this many distinct values, `top` finds a value by a linear search.
const FEW_TOPS: usize = 16;

impl<'a> Evaluator<'a> {
    /// `did`, `count`, aggregates, `distinct` and `top`.
    #[inline]
    pub(super) fn counting(&mut self, plan: &'a Plan) -> bool {
        let env = self.env;
        let tl = env.tl;
        match plan {
            Plan::Did { filter, range } => self.did(filter, *range),
            Plan::Count {
                filter,
                range,
                test,
                ..
            } => {
                let n = match self.picks(filter, *range) {
                    None => 0,
                    Some((a, b)) => match filter.pred {
                        None => b - a,
                        Some(_) => (a..b).map(|k| usize::from(self.pred(filter, k))).sum(),
                    },
                };
                test.holds(n as f64)
            }
            Plan::Aggregate {
                func,
                filter,
                range,
                path,
                test,
                codes,
            } => {
                let bounds = self.picks(filter, *range);
                let sets = &self.sets;
                let mut agg = Aggregate::default();
                let coded = env.codes(*codes).is_some_and(|table| {
                    self.matching(filter, bounds)
                        .all(|k| table.each(sets[k], |c| agg.add(table.numbers[c as usize])))
                });
                if !coded {
                    agg = Aggregate::default();
                    for k in self.matching(filter, bounds) {
                        for p in values_of(tl.set(sets[k]), *path) {
                            if let Scalar::Num(x) = tl.dict.scalar(p.value) {
                                agg.add(x);
                            }
                        }
                    }
                }
                agg.holds(*func, test)
            }
            Plan::Distinct {
                filter,
                range,
                path,
                test,
                cap,
                codes,
            } => {
                let bounds = self.picks(filter, *range);
                if let Some(table) = env.codes(*codes)
                    && self.count_codes(table, filter, bounds, *cap)
                {
                    let n = self.seen;
                    self.clear_codes();
                    return test.holds(n as f64);
                }
                let mut ids = std::mem::take(&mut self.ids);
                ids.clear();
                for k in self.matching(filter, bounds) {
                    ids.extend(
                        values_of(tl.set(self.sets[k]), *path)
                            .iter()
                            .filter(|p| p.value != OBJECT)
                            .map(|p| p.value),
                    );
                }
                ids.sort_unstable();
                ids.dedup();
                let n = ids.len();
                self.ids = ids;
                test.holds(n as f64)
            }
            Plan::Top {
                filter,
                range,
                path,
                value,
                codes,
            } => {
                let bounds = self.picks(filter, *range);
                // The most frequent value; then the one seen last; then the greatest.
                let better = |(v, c): (u32, (u32, i64)), best: Option<(u32, (u32, i64))>| match best
                {
                    None => true,
                    Some((bv, bc)) => c
                        .cmp(&bc)
                        .then_with(|| value_order(&tl.dict, v, bv))
                        .is_gt(),
                };
                let mut best: Option<(u32, (u32, i64))> = None;
                if let Some(table) = env.codes(*codes)
                    && self.count_codes(table, filter, bounds, u64::MAX)
                {
                    for &c in self.touched() {
                        let candidate = (table.values[c as usize], self.counts[c as usize]);
                        if better(candidate, best) {
                            best = Some(candidate);
                        }
                    }
                    self.clear_codes();
                    return best.is_some_and(|(v, _)| v == *value);
                }
                self.tops.clear();
                let picked: Vec<usize> = self.matching(filter, bounds).collect();
                for k in picked {
                    let (set, ts) = (self.sets[k], self.times[k]);
                    for p in values_of(tl.set(set), *path) {
                        if p.value != OBJECT {
                            self.count_top(p.value, ts);
                        }
                    }
                }
                for &(v, count, latest) in &self.tops {
                    if better((v, (count, latest)), best) {
                        best = Some((v, (count, latest)));
                    }
                }
                best.is_some_and(|(v, _)| v == *value)
            }
            _ => unreachable!("not a counting plan"),
        }
    }

    /// Counts one occurrence of a `top` value.
    #[inline]
    fn count_top(&mut self, value: u32, ts: i64) {
        let at = if self.tops.len() <= FEW_TOPS {
            self.tops.iter().position(|t| t.0 == value)
        } else {
            self.top_index.get(&value).map(|&i| i as usize)
        };
        match at {
            Some(i) => {
                let t = &mut self.tops[i];
                t.1 += 1;
                t.2 = ts;
            }
            None => {
                self.tops.push((value, 1, ts));
                let n = self.tops.len();
                if n == FEW_TOPS + 1 {
                    self.top_index.clear();
                    for (i, t) in self.tops.iter().enumerate() {
                        self.top_index.insert(t.0, i as u32);
                    }
                } else if n > FEW_TOPS + 1 {
                    self.top_index.insert(value, (n - 1) as u32);
                }
            }
        }
    }

    /// Counts the codes of the values of the listed events in `bounds` that
    /// pass the filter into `counts`, and lists the codes seen in
    /// `touched[..seen]`; stops once `stop` codes are seen. `false` (and
    /// nothing counted) when an event's set is not in the table.
    #[inline]
    fn count_codes(
        &mut self,
        table: &SetCodes,
        filter: &Filter,
        bounds: Option<(usize, usize)>,
        stop: u64,
    ) -> bool {
        if self.counts.len() < table.len() {
            self.counts.resize(table.len(), (0, 0));
        }
        if self.touched.len() <= table.len() {
            self.touched.resize(table.len() + 1, 0);
        }
        let Some((a, b)) = bounds else {
            self.seen = 0;
            return true;
        };
        let env = self.env;
        let (counts, touched) = (&mut self.counts, &mut self.touched);
        let mut seen = 0;
        for (&set, &ts) in self.sets[a..b].iter().zip(&self.times[a..b]) {
            if let Some(p) = filter.pred
                && !env.pred_on_set(p, set)
            {
                continue;
            }
            let known = table.each(set, |c| {
                let n = &mut counts[c as usize];
                // Without branching: listed when new.
                touched[seen] = c;
                seen += usize::from(n.0 == 0);
                n.0 += 1;
                n.1 = ts;
            });
            if !known {
                self.seen = seen;
                self.clear_codes();
                return false;
            }
            if seen as u64 >= stop {
                break;
            }
        }
        self.seen = seen;
        true
    }

    /// The codes counted by [`Evaluator::count_codes`].
    #[inline]
    fn touched(&self) -> &[u32] {
        &self.touched[..self.seen]
    }

    #[inline]
    fn clear_codes(&mut self) {
        for &c in &self.touched[..self.seen] {
            self.counts[c as usize] = (0, 0);
        }
        self.seen = 0;
    }
}

/// Sum, count, minimum and maximum of numbers, added in order.
#[derive(Default)]
struct Aggregate {
    sum: f64,
    n: u64,
    min: f64,
    max: f64,
}

impl Aggregate {
    #[inline]
    fn add(&mut self, x: f64) {
        if self.n == 0 {
            (self.min, self.max) = (x, x);
        } else {
            if x < self.min {
                self.min = x;
            }
            if x > self.max {
                self.max = x;
            }
        }
        self.sum += x;
        self.n += 1;
    }

    /// Whether the aggregate passes `test`; `avg`, `min` and `max` of no
    /// values fail it, `sum` of none is 0.
    #[inline]
    fn holds(&self, func: AggFunc, test: &NumTest) -> bool {
        match func {
            AggFunc::Sum => test.holds(self.sum),
            _ if self.n == 0 => false,
            AggFunc::Avg => test.holds(self.sum / self.n as f64),
            AggFunc::Min => test.holds(self.min),
            AggFunc::Max => test.holds(self.max),
        }
    }
}

/// The order that breaks `top` ties: booleans, then numbers, then strings;
/// each by value.
#[inline]
fn value_order(dict: &Dictionary, a: u32, b: u32) -> std::cmp::Ordering {
    fn rank(s: &Scalar<'_>) -> u8 {
        match s {
            Scalar::Bool(_) => 0,
            Scalar::Num(_) => 1,
            Scalar::Str(_) => 2,
            Scalar::Object => 3,
        }
    }
    let (x, y) = (dict.scalar(a), dict.scalar(b));
    match (x, y) {
        (Scalar::Bool(x), Scalar::Bool(y)) => x.cmp(&y),
        (Scalar::Num(x), Scalar::Num(y)) => x.total_cmp(&y),
        (Scalar::Str(x), Scalar::Str(y)) => x.cmp(y),
        _ => rank(&x).cmp(&rank(&y)),
    }
}

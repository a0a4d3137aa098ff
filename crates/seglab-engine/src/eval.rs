//! Evaluating compiled plans over every timeline.
//!
//! People are split into chunks evaluated in parallel (rayon). For one person,
//! every requested plan is evaluated while the person's events are hot in the
//! cache. A plan on events of name E skips at once a person who never did E
//! (the person's name summary); otherwise it finds the events of its time
//! range by searching back from the latest event (ranges usually end near
//! `now`) and scans only those, in one pass (`then` and `then not` use a single
//! forward or backward sweep). Segment references are evaluated at most once
//! per person and remembered. The results are roaring bitmaps of person
//! indexes.

use rayon::prelude::*;
use roaring::RoaringBitmap;
use seglab_lang::ast::AggFunc;

use crate::compile::{Filter, NameMatch, Plan, PredPlan, Program, TimeRange, ValueTest};
use crate::intern::{IntMap, NONE};
use crate::props::{Dictionary, OBJECT, Pair, Scalar, values_of};
use crate::rfm::{RfmTable, rfm_cell_index};
use crate::timeline::{Event, Person, Timelines, TraitEntry, name_bit};

/// People per parallel task.
const CHUNK: usize = 4096;

/// What evaluation reads besides the plans.
pub(crate) struct Env<'a> {
    pub(crate) tl: &'a Timelines,
    pub(crate) program: &'a Program,
    pub(crate) rfm: Option<&'a RfmTable>,
    /// Per model of `program.models`, the value of each person index (NaN: none).
    pub(crate) predictions: &'a [Vec<f64>],
}

/// Evaluates `roots` for every live person; one bitmap per root.
pub(crate) fn run(env: &Env<'_>, roots: &[Plan]) -> Vec<RoaringBitmap> {
    let n = env.tl.persons.len();
    let parts: Vec<Vec<Vec<u32>>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut ev = Evaluator::new(env);
            let mut out = vec![Vec::new(); roots.len()];
            for i in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
                let idx = i as u32;
                if !env.tl.is_alive(idx) {
                    continue;
                }
                ev.start(idx);
                for (r, plan) in roots.iter().enumerate() {
                    if ev.holds(plan) {
                        out[r].push(idx);
                    }
                }
            }
            out
        })
        .collect();
    (0..roots.len())
        .map(|r| {
            let mut bitmap = RoaringBitmap::new();
            for part in &parts {
                let appended = bitmap.append(part[r].iter().copied());
                debug_assert!(appended.is_ok(), "chunks are disjoint and ascending");
            }
            bitmap
        })
        .collect()
}

/// Per-thread evaluation state for one person at a time.
pub(crate) struct Evaluator<'a> {
    env: &'a Env<'a>,
    idx: u32,
    events: &'a [Event],
    /// [`Person::names`] of the current person.
    names: u64,
    traits: &'a [TraitEntry],
    /// Per segment: 0 unknown, 1 false, 2 true.
    memo: Vec<u8>,
    ids: Vec<u32>,
    /// Per value seen by `top`: occurrences, time of the latest.
    tops: IntMap<u32, (u32, i64)>,
}

impl<'a> Evaluator<'a> {
    pub(crate) fn new(env: &'a Env<'a>) -> Evaluator<'a> {
        Evaluator {
            env,
            idx: 0,
            events: &[],
            names: 0,
            traits: &[],
            memo: vec![0; env.program.segments.len()],
            ids: Vec::new(),
            tops: IntMap::default(),
        }
    }

    /// Switches to another person.
    pub(crate) fn start(&mut self, idx: u32) {
        self.idx = idx;
        let tl: &'a Timelines = self.env.tl;
        let person: &'a Person = &tl.persons[idx as usize];
        self.events = tl.events(idx);
        self.names = person.names;
        self.traits = &person.traits;
        self.memo.fill(0);
    }

    /// The person's events in `range`; none at all when the person never had
    /// an event of the filter's name.
    #[inline]
    fn slice(&self, filter: &Filter, range: TimeRange) -> &'a [Event] {
        match filter.name {
            NameMatch::Id(n) if n == NONE || self.names & name_bit(n) == 0 => &[],
            _ => range.slice(self.events),
        }
    }

    pub(crate) fn holds(&mut self, plan: &'a Plan) -> bool {
        let env = self.env;
        let tl = env.tl;
        let events = self.events;
        match plan {
            Plan::Const(b) => *b,
            Plan::And(all) => all.iter().all(|p| self.holds(p)),
            Plan::Or(any) => any.iter().any(|p| self.holds(p)),
            Plan::Not(p) => !self.holds(p),
            Plan::Did { filter, range } => self
                .slice(filter, *range)
                .iter()
                .any(|e| matches(tl, filter, e)),
            Plan::Count {
                filter,
                range,
                test,
            } => {
                let n = self
                    .slice(filter, *range)
                    .iter()
                    .filter(|e| matches(tl, filter, e))
                    .count();
                test.holds(n as f64)
            }
            Plan::Aggregate {
                func,
                filter,
                range,
                path,
                test,
            } => {
                let (mut sum, mut n) = (0.0f64, 0u64);
                let (mut min, mut max) = (f64::NAN, f64::NAN);
                for e in self
                    .slice(filter, *range)
                    .iter()
                    .filter(|e| matches(tl, filter, e))
                {
                    for p in values_of(tl.set(e.props()), *path) {
                        if let Scalar::Num(x) = tl.dict.scalar(p.value) {
                            if n == 0 {
                                (min, max) = (x, x);
                            } else {
                                if x < min {
                                    min = x;
                                }
                                if x > max {
                                    max = x;
                                }
                            }
                            sum += x;
                            n += 1;
                        }
                    }
                }
                match func {
                    AggFunc::Sum => test.holds(sum),
                    _ if n == 0 => false,
                    AggFunc::Avg => test.holds(sum / n as f64),
                    AggFunc::Min => test.holds(min),
                    AggFunc::Max => test.holds(max),
                }
            }
            Plan::Distinct {
                filter,
                range,
                path,
                test,
            } => {
                self.ids.clear();
                for e in self
                    .slice(filter, *range)
                    .iter()
                    .filter(|e| matches(tl, filter, e))
                {
                    self.ids.extend(
                        values_of(tl.set(e.props()), *path)
                            .iter()
                            .filter(|p| p.value != OBJECT)
                            .map(|p| p.value),
                    );
                }
                self.ids.sort_unstable();
                self.ids.dedup();
                test.holds(self.ids.len() as f64)
            }
            Plan::Top {
                filter,
                range,
                path,
                value,
            } => {
                self.tops.clear();
                for e in self
                    .slice(filter, *range)
                    .iter()
                    .filter(|e| matches(tl, filter, e))
                {
                    for p in values_of(tl.set(e.props()), *path) {
                        if p.value != OBJECT {
                            let c = self.tops.entry(p.value).or_insert((0, e.ts()));
                            c.0 += 1;
                            c.1 = e.ts();
                        }
                    }
                }
                // The most frequent value; then the one seen last; then the greatest.
                let mut best: Option<(u32, (u32, i64))> = None;
                for (&v, &c) in &self.tops {
                    let better = match best {
                        None => true,
                        Some((bv, bc)) => c
                            .cmp(&bc)
                            .then_with(|| value_order(&tl.dict, v, bv))
                            .is_gt(),
                    };
                    if better {
                        best = Some((v, c));
                    }
                }
                best.is_some_and(|(v, _)| v == *value)
            }
            Plan::FirstLast {
                last,
                filter,
                seen,
                time,
            } => {
                let seen = self.slice(filter, *seen);
                let found = if *last {
                    seen.iter().rev().find(|e| matches(tl, filter, e))
                } else {
                    seen.iter().find(|e| matches(tl, filter, e))
                };
                found.is_some_and(|e| time.contains(e.ts()))
            }
            Plan::Then {
                a,
                a_range,
                b,
                within,
                seen,
            } => {
                if self.slice(a, *a_range).is_empty() {
                    return false;
                }
                let seen = seen.slice(events);
                let start = a_range.bounds(seen).0;
                // Latest A strictly before the current group of equal times.
                let mut last_a: Option<i64> = None;
                let mut group = None;
                let mut a_in_group = false;
                for e in &seen[start..] {
                    if group != Some(e.ts()) {
                        if a_in_group {
                            last_a = group;
                        }
                        group = Some(e.ts());
                        a_in_group = false;
                    }
                    if let Some(ta) = last_a
                        && e.ts() <= ta.saturating_add(*within)
                        && matches(tl, b, e)
                    {
                        return true;
                    }
                    if !a_in_group && a_range.contains(e.ts()) && matches(tl, a, e) {
                        a_in_group = true;
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
                if self.slice(a, *a_range).is_empty() {
                    return false;
                }
                let seen = seen.slice(events);
                let (start, _) = a_range.bounds(seen);
                let end_ts = TimeRange::up_to(i128::from(a_range.hi) + i128::from(*within));
                let end = end_ts.bounds(seen).1;
                // Earliest B strictly after the current group of equal times.
                let mut next_b: Option<i64> = None;
                let mut group = None;
                let mut b_in_group = false;
                for e in seen[start..end].iter().rev() {
                    if group != Some(e.ts()) {
                        if b_in_group {
                            next_b = group;
                        }
                        group = Some(e.ts());
                        b_in_group = false;
                    }
                    if a_range.contains(e.ts())
                        && next_b.is_none_or(|tb| tb > e.ts().saturating_add(*within))
                        && matches(tl, a, e)
                    {
                        return true;
                    }
                    if !b_in_group && matches(tl, b, e) {
                        b_in_group = true;
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
                if self.slice(a, *a_range).is_empty() {
                    return false;
                }
                let seen = seen.slice(events);
                let (start, end) = a_range.bounds(seen);
                let Some(pos) = seen[start..end]
                    .iter()
                    .rposition(|e| matches(tl, a, e))
                    .map(|p| start + p)
                else {
                    return false;
                };
                let ta = seen[pos].ts();
                !seen[pos + 1..]
                    .iter()
                    .any(|e| e.ts() > ta && matches(tl, b, e))
            }
            Plan::Pattern { filter, some, none } => {
                some.iter().all(|r| {
                    self.slice(filter, *r)
                        .iter()
                        .any(|e| matches(tl, filter, e))
                }) && !self
                    .slice(filter, *none)
                    .iter()
                    .any(|e| matches(tl, filter, e))
            }
            Plan::Regularly {
                filter,
                times,
                period,
                at_least,
                of_last,
                now,
            } => {
                if *at_least == 0 {
                    return true;
                }
                if *times == 0 {
                    return of_last >= at_least;
                }
                // Walk back from `now`, counting matching events per period.
                let now = i128::from(*now);
                let span = TimeRange::new(now - i128::from(*of_last) * period, now);
                let mut qualifying = 0u32;
                let mut current = None;
                let mut count = 0u32;
                for e in self.slice(filter, span).iter().rev() {
                    if !matches(tl, filter, e) {
                        continue;
                    }
                    let i = period_index(now - i128::from(e.ts()), *period);
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
            Plan::Trait(pred) => pred_holds(
                pred,
                &TraitProps {
                    entries: self.traits,
                    dict: &tl.dict,
                },
            ),
            Plan::Segment(i) => {
                let i = *i;
                match self.memo[i] {
                    1 => false,
                    2 => true,
                    _ => {
                        let r = self.holds(&env.program.segments[i]);
                        self.memo[i] = if r { 2 } else { 1 };
                        r
                    }
                }
            }
            Plan::RfmScore { dim, test } => env
                .rfm
                .and_then(|t| t.get(self.idx))
                .is_some_and(|s| test.holds(f64::from([s.r, s.f, s.m][*dim]))),
            Plan::RfmCell(mask) => env
                .rfm
                .and_then(|t| t.get(self.idx))
                .is_some_and(|s| mask & (1 << rfm_cell_index(s.r, s.f)) != 0),
            Plan::Predicted { model, test } => env
                .predictions
                .get(*model)
                .and_then(|v| v.get(self.idx as usize))
                .is_some_and(|x| test.holds(*x)),
        }
    }
}

/// The order that breaks `top` ties: booleans, then numbers, then strings;
/// each by value.
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

/// Which period of `regularly` an event `age` = `now - t` old falls in: period
/// 0 is `[now-P, now]`, period `i >= 1` is `[now-(i+1)P, now-iP)`.
fn period_index(age: i128, period: i128) -> i128 {
    if period == 0 {
        return if age == 0 { 0 } else { i128::MAX };
    }
    // ceil(age / P) - 1, and 0 for age 0.
    ((age + period - 1) / period - 1).max(0)
}

#[inline]
fn matches(tl: &Timelines, f: &Filter, e: &Event) -> bool {
    if let NameMatch::Id(n) = f.name
        && e.name() != n
    {
        return false;
    }
    match &f.pred {
        None => true,
        Some(p) => pred_holds(
            p,
            &SetProps {
                set: tl.set(e.props()),
                dict: &tl.dict,
            },
        ),
    }
}

/// Where a predicate finds the values of a path.
trait Props {
    fn dict(&self) -> &Dictionary;
    fn any(&self, path: u32, f: impl FnMut(Pair) -> bool) -> bool;
}

struct SetProps<'a> {
    set: &'a [Pair],
    dict: &'a Dictionary,
}

impl Props for SetProps<'_> {
    fn dict(&self) -> &Dictionary {
        self.dict
    }

    #[inline]
    fn any(&self, path: u32, f: impl FnMut(Pair) -> bool) -> bool {
        values_of(self.set, path).iter().copied().any(f)
    }
}

struct TraitProps<'a> {
    entries: &'a [TraitEntry],
    dict: &'a Dictionary,
}

impl Props for TraitProps<'_> {
    fn dict(&self) -> &Dictionary {
        self.dict
    }

    fn any(&self, path: u32, mut f: impl FnMut(Pair) -> bool) -> bool {
        self.entries.iter().any(|t| {
            values_of(self.dict.set(t.set), path)
                .iter()
                .copied()
                .any(&mut f)
        })
    }
}

fn pred_holds(p: &PredPlan, props: &impl Props) -> bool {
    match p {
        PredPlan::Const(b) => *b,
        PredPlan::And(all) => all.iter().all(|p| pred_holds(p, props)),
        PredPlan::Or(any) => any.iter().any(|p| pred_holds(p, props)),
        PredPlan::Not(p) => !pred_holds(p, props),
        PredPlan::Leaf { path, test } => {
            let dict = props.dict();
            props.any(*path, |pair| value_holds(test, pair, dict))
        }
    }
}

#[inline]
fn value_holds(test: &ValueTest, p: Pair, dict: &Dictionary) -> bool {
    match test {
        ValueTest::Exists => true,
        ValueTest::AnyOf(ids) => ids.contains(&p.value),
        ValueTest::NotEq(id) => p.value != *id,
        ValueTest::OrdNum(op, x) => {
            matches!(dict.scalar(p.value), Scalar::Num(v) if v.partial_cmp(x).is_some_and(|o| op.holds(o)))
        }
        ValueTest::OrdStr(op, s) => {
            matches!(dict.scalar(p.value), Scalar::Str(v) if op.holds(v.cmp(s.as_str())))
        }
        ValueTest::Contains { element, substring } => {
            if p.in_array() {
                p.value == *element
            } else {
                match (substring, dict.scalar(p.value)) {
                    (Some(s), Scalar::Str(v)) => v.contains(s.as_str()),
                    _ => false,
                }
            }
        }
        ValueTest::StartsWith(s) => {
            matches!(dict.scalar(p.value), Scalar::Str(v) if v.starts_with(s.as_str()))
        }
    }
}

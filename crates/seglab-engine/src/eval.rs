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

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use roaring::RoaringBitmap;
use seglab_lang::ast::AggFunc;

use crate::codes::SetCodes;
use crate::intern::{IntMap, NONE};
use crate::plan::{Filter, NameMatch, Plan, Program, TraitPlan};
use crate::pred::{SetProps, TraitProps, pred_holds};
use crate::props::{Dictionary, OBJECT, Scalar, values_of};
use crate::range::TimeRange;
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
    /// Per predicate of `program.preds`, its result on each property set.
    results: Vec<SetResults>,
    /// Per code table of `program.codes`, the table (if the name has one).
    codes: Vec<Option<SetCodes>>,
    /// Per event name id, its slot in `program.names` (`NONE`: no plan looks
    /// for it).
    slot_of_name: Vec<u32>,
    /// Per slot: the name, its time range, and whether its events are common.
    slots: Vec<(u32, TimeRange, bool)>,
}

impl<'a> Env<'a> {
    /// `remember`: keep predicate results per property set (worth it when
    /// evaluating for many people, not for one).
    pub(crate) fn new(
        tl: &'a Timelines,
        program: &'a Program,
        rfm: Option<&'a RfmTable>,
        predictions: &'a [Vec<f64>],
        remember: bool,
    ) -> Env<'a> {
        let sets = tl.dict.set_count();
        let (results, codes) = if remember {
            (
                program
                    .preds
                    .iter()
                    .map(|_| SetResults::new(sets))
                    .collect(),
                program
                    .codes
                    .iter()
                    .map(|&key| SetCodes::build(tl, key))
                    .collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let mut slot_of_name = vec![NONE; tl.names.len()];
        let mut slots = Vec::with_capacity(program.names.len());
        for (s, &(n, lo)) in program.names.iter().enumerate() {
            slot_of_name[n as usize] = s as u32;
            let common = tl.name_count(n).saturating_mul(8) >= tl.event_count();
            let range = TimeRange::new(i128::from(lo), i128::from(program.now));
            slots.push((n, range, common));
        }
        Env {
            tl,
            program,
            rfm,
            predictions,
            results,
            codes,
            slot_of_name,
            slots,
        }
    }

    /// Code table `i` of the program, if built.
    #[inline]
    fn codes(&self, i: u32) -> Option<&SetCodes> {
        self.codes.get(i as usize).and_then(Option::as_ref)
    }

    /// Whether predicate `pred` of the program holds on property set `set`.
    #[inline]
    fn pred_on_set(&self, pred: u32, set: u32) -> bool {
        let compute = || {
            pred_holds(
                &self.program.preds[pred as usize],
                &SetProps {
                    set: self.tl.set(set),
                    dict: &self.tl.dict,
                },
            )
        };
        match self.results.get(pred as usize) {
            Some(results) => results.get(set, compute),
            None => compute(),
        }
    }
}

/// A predicate's result on each property set, filled in as sets are met (and
/// shared by the threads): two bits per set, "known" and "holds". Property
/// sets are interned, so a predicate is evaluated once per distinct set rather
/// than once per event.
struct SetResults {
    words: Box<[AtomicU64]>,
}

impl SetResults {
    fn new(sets: usize) -> SetResults {
        SetResults {
            words: (0..sets.div_ceil(32)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    fn get(&self, set: u32, compute: impl FnOnce() -> bool) -> bool {
        let word = &self.words[(set / 32) as usize];
        let shift = (set % 32) * 2;
        let bits = word.load(Ordering::Relaxed) >> shift;
        if bits & 1 != 0 {
            return bits & 2 != 0;
        }
        let holds = compute();
        word.fetch_or((1 | (u64::from(holds) << 1)) << shift, Ordering::Relaxed);
        holds
    }
}

/// People evaluated after reading their events ahead (see [`run`]).
const BLOCK_PEOPLE: usize = 64;

/// Evaluates `roots` for every live person; one bitmap per root.
///
/// People come in blocks whose events (consecutive in the packed layout) are
/// first read from start to end, one load per cache line: a sequential sweep
/// the hardware prefetches, where evaluation alone would wait on memory at
/// every person (it reads the latest events first, then searches back).
pub(crate) fn run(env: &Env<'_>, roots: &[Plan]) -> Vec<RoaringBitmap> {
    let n = env.tl.persons.len();
    let parts: Vec<Vec<Vec<u32>>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|chunk| {
            let mut ev = Evaluator::new(env);
            let mut out = vec![Vec::new(); roots.len()];
            let end = ((chunk + 1) * CHUNK).min(n);
            let mut touched = 0u32;
            for from in (chunk * CHUNK..end).step_by(BLOCK_PEOPLE) {
                let to = (from + BLOCK_PEOPLE).min(end);
                let program = env.program;
                if program.reads_names != 0 {
                    touched ^=
                        env.tl
                            .touch_events(from..to, program.reads_names, program.reads_from);
                }
                for i in from..to {
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
            }
            std::hint::black_box(touched);
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
///
/// A person's events are found by name through an index built on first use:
/// one pass over the events of the program's time span sorts their positions
/// by name ([`Evaluator::index`]). A plan then takes the positions of its
/// name, cuts its time range out of them by binary search, and looks at those
/// events only; `then` and `then not` walk the positions of A and B side by
/// side. Names a person never had are ruled out before, by the person's name
/// summary.
pub(crate) struct Evaluator<'a> {
    env: &'a Env<'a>,
    idx: u32,
    events: &'a [Event],
    /// [`Person::names`] of the current person.
    names: u64,
    /// [`Person::last`] of the current person.
    last: i64,
    traits: &'a [TraitEntry],
    /// Per segment: `(person index + 1) << 1 | result` once known for the
    /// current person (older entries belong to other people).
    memo: Vec<u64>,
    /// The times and property sets of the events of each name slot, in time
    /// order (`start..end` in `lists`), listed for the current person as needed.
    times: Vec<i64>,
    sets: Vec<u32>,
    /// Per name slot: `(person index + 1, start, end)`; older entries belong
    /// to other people.
    lists: Vec<(u32, u32, u32)>,
    /// Bounds of the time ranges met for the current person.
    ranges: Vec<(TimeRange, u32, u32)>,
    ids: Vec<u32>,
    /// Per value seen by `top`: the value, its occurrences, the time of the latest.
    tops: Vec<(u32, u32, i64)>,
    /// Where each value of `tops` is, while there are more than [`FEW_TOPS`].
    top_index: IntMap<u32, u32>,
    /// Per code of a code table: occurrences (0: not seen), time of the latest;
    /// all zero between uses.
    counts: Vec<(u32, i64)>,
    /// The codes seen (`touched[..seen]`), in the order first seen.
    touched: Vec<u32>,
    seen: usize,
}

/// Up to this many distinct values, `top` finds a value by a linear search.
const FEW_TOPS: usize = 16;

impl<'a> Evaluator<'a> {
    pub(crate) fn new(env: &'a Env<'a>) -> Evaluator<'a> {
        Evaluator {
            env,
            idx: 0,
            events: &[],
            names: 0,
            last: i64::MIN,
            traits: &[],
            memo: vec![0; env.program.segments.len()],
            times: Vec::new(),
            sets: Vec::new(),
            lists: vec![(0, 0, 0); env.slots.len()],
            ranges: Vec::new(),
            ids: Vec::new(),
            tops: Vec::new(),
            top_index: IntMap::default(),
            counts: Vec::new(),
            touched: Vec::new(),
            seen: 0,
        }
    }

    /// Switches to another person.
    pub(crate) fn start(&mut self, idx: u32) {
        self.idx = idx;
        let tl: &'a Timelines = self.env.tl;
        let person: &'a Person = &tl.persons[idx as usize];
        self.events = tl.events(idx);
        self.names = person.names;
        self.last = person.last;
        self.traits = &person.traits;
        self.times.clear();
        self.sets.clear();
        self.ranges.clear();
    }

    /// The person's events in `range` (the bounds of each range are found
    /// once per person).
    #[inline]
    fn range(&mut self, range: TimeRange) -> (usize, usize) {
        if let Some(&(_, a, b)) = self.ranges.iter().find(|r| r.0 == range) {
            return (a as usize, b as usize);
        }
        let (a, b) = range.bounds(self.events);
        self.ranges.push((range, a as u32, b as u32));
        (a, b)
    }

    /// The bounds in `times` and `sets` of the events of name slot `s`,
    /// listed on first use for the person.
    fn list(&mut self, s: usize) -> (usize, usize) {
        let stamp = self.idx + 1;
        let (listed, start, end) = self.lists[s];
        if listed == stamp {
            return (start as usize, end as usize);
        }
        let (name, range, common) = self.env.slots[s];
        let (a, b) = self.range(range);
        let events = &self.events[a..b];
        let start = self.times.len();
        if common {
            // Half of the events may have the name: no branch on it.
            self.times.resize(start + events.len(), 0);
            self.sets.resize(start + events.len(), 0);
            let mut k = start;
            for e in events {
                self.times[k] = e.ts();
                self.sets[k] = e.props();
                k += usize::from(e.name() == name);
            }
            self.times.truncate(k);
            self.sets.truncate(k);
        } else {
            for e in events {
                if e.name() == name {
                    self.times.push(e.ts());
                    self.sets.push(e.props());
                }
            }
        }
        let end = self.times.len();
        self.lists[s] = (stamp, start as u32, end as u32);
        (start, end)
    }

    /// The bounds in `times` and `sets` of the events named as the filter asks
    /// in `range`; `None` when there are none (known at once when the person
    /// never had the name, or no event that late).
    #[inline]
    fn picks(&mut self, filter: &Filter, range: TimeRange) -> Option<(usize, usize)> {
        let NameMatch::Id(n) = filter.name else {
            return None;
        };
        if n == NONE || self.names & name_bit(n) == 0 || range.lo > self.last || range.lo > range.hi
        {
            return None;
        }
        let s = self.env.slot_of_name[n as usize];
        if s == NONE {
            return None;
        }
        let (start, end) = self.list(s as usize);
        let times = &self.times[start..end];
        let lo = before(times, range.lo);
        let hi = match times.last() {
            Some(&t) if t <= range.hi => times.len(),
            _ => before(times, range.hi.saturating_add(1)),
        };
        (lo < hi).then_some((start + lo, start + hi))
    }

    /// Whether listed event `k` passes the filter's predicate (its name is
    /// known to match).
    #[inline]
    fn pred(&self, filter: &Filter, k: usize) -> bool {
        filter
            .pred
            .is_none_or(|p| self.env.pred_on_set(p, self.sets[k]))
    }

    /// The listed events in `bounds` that pass the filter's predicate.
    fn matching(
        &self,
        filter: &Filter,
        bounds: Option<(usize, usize)>,
    ) -> impl Iterator<Item = usize> + use<'_, 'a> {
        let (a, b) = bounds.unwrap_or((0, 0));
        let pred = filter.pred;
        (a..b).filter(move |&k| pred.is_none_or(|p| self.env.pred_on_set(p, self.sets[k])))
    }

    /// Counts one occurrence of a `top` value.
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
    fn touched(&self) -> &[u32] {
        &self.touched[..self.seen]
    }

    fn clear_codes(&mut self) {
        for &c in &self.touched[..self.seen] {
            self.counts[c as usize] = (0, 0);
        }
        self.seen = 0;
    }

    pub(crate) fn holds(&mut self, plan: &'a Plan) -> bool {
        match plan {
            Plan::Const(b) => *b,
            Plan::And(all) => all.iter().all(|p| self.holds(p)),
            Plan::Or(any) => any.iter().any(|p| self.holds(p)),
            Plan::Not(p) => !self.holds(p),
            Plan::Segment(i) => {
                let i = *i;
                let stamp = (u64::from(self.idx) + 1) << 1;
                let memo = self.memo[i];
                if memo & !1 == stamp {
                    return memo & 1 != 0;
                }
                let r = self.holds(&self.env.program.segments[i]);
                self.memo[i] = stamp | u64::from(r);
                r
            }
            _ => self.leaf(plan),
        }
    }

    /// Whether some event passes `filter` in `range`.
    fn did(&mut self, filter: &Filter, range: TimeRange) -> bool {
        match self.picks(filter, range) {
            None => false,
            Some((a, b)) => filter.pred.is_none() || (a..b).any(|k| self.pred(filter, k)),
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

    /// [`Evaluator::holds`] for the plans that read events, traits or scores
    /// (kept out of line: the combinators above stay small and fast).
    #[inline(never)]
    fn leaf(&mut self, plan: &'a Plan) -> bool {
        let env = self.env;
        let tl = env.tl;
        match plan {
            Plan::Const(_) | Plan::And(_) | Plan::Or(_) | Plan::Not(_) | Plan::Segment(_) => {
                self.holds(plan)
            }
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
            Plan::Trait(t) => match t {
                TraitPlan::Const(b) => *b,
                TraitPlan::One { key, pred, absent } => {
                    match self.traits.binary_search_by_key(key, |t| t.key) {
                        Ok(i) => env.pred_on_set(*pred, self.traits[i].set),
                        Err(_) => *absent,
                    }
                }
                TraitPlan::Many { pred, keys } => pred_holds(
                    pred,
                    &TraitProps {
                        entries: self.traits,
                        keys,
                        dict: &tl.dict,
                    },
                ),
            },
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

/// How many of the (ascending) `times` are before `t`: counted without
/// branches in a short list, by binary search in a long one.
#[inline]
fn before(times: &[i64], t: i64) -> usize {
    if times.len() <= 32 {
        times.iter().map(|&x| usize::from(x < t)).sum()
    } else {
        times.partition_point(|&x| x < t)
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
    fn holds(&self, func: AggFunc, test: &seglab_lang::ast::NumTest) -> bool {
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

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
//!
//! The plans that read events are evaluated by family: `counting` (`did`,
//! `count`, aggregates, `distinct`, `top`), `sequence` (`first`, `last`,
//! `then`, `then not`) and `pattern` (`stopped`, `restarted`, `regularly`).

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::codes::SetCodes;
use crate::intern::{IntMap, NONE};
use crate::plan::{Filter, NameMatch, Plan, Program, TraitPlan};
use crate::pred::{SetProps, TraitProps, pred_holds};
use crate::range::TimeRange;
use crate::rfm::{RfmTable, rfm_cell_index};
use crate::timeline::{Event, Person, Timelines, TraitEntry, name_bit};

mod counting;
mod pattern;
mod sequence;

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
    /// Where each value of `tops` is, while there are more than
    /// `counting::FEW_TOPS`.
    top_index: IntMap<u32, u32>,
    /// Per code of a code table: occurrences (0: not seen), time of the latest;
    /// all zero between uses.
    counts: Vec<(u32, i64)>,
    /// The codes seen (`touched[..seen]`), in the order first seen.
    touched: Vec<u32>,
    seen: usize,
}

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

    /// [`Evaluator::holds`] for the plans that read events, traits or scores
    /// (kept out of line: the combinators above stay small and fast).
    #[inline(never)]
    fn leaf(&mut self, plan: &'a Plan) -> bool {
        match plan {
            Plan::Const(_) | Plan::And(_) | Plan::Or(_) | Plan::Not(_) | Plan::Segment(_) => {
                self.holds(plan)
            }
            Plan::Did { .. }
            | Plan::Count { .. }
            | Plan::Aggregate { .. }
            | Plan::Distinct { .. }
            | Plan::Top { .. } => self.counting(plan),
            Plan::FirstLast { .. }
            | Plan::Then { .. }
            | Plan::ThenNotWithin { .. }
            | Plan::ThenNotLatest { .. } => self.sequence(plan),
            Plan::Pattern { .. } | Plan::Regularly { .. } => self.pattern(plan),
            Plan::Trait(_) | Plan::RfmScore { .. } | Plan::RfmCell(_) | Plan::Predicted { .. } => {
                self.profile(plan)
            }
        }
    }

    /// Traits, RFM scores and cells, and model outputs: what is known of the
    /// person besides events.
    #[inline]
    fn profile(&mut self, plan: &'a Plan) -> bool {
        let env = self.env;
        let tl = env.tl;
        match plan {
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
            _ => unreachable!("not a profile plan"),
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

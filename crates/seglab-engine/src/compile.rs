//! Compiling conditions into evaluation plans.
//!
//! A plan is bound to one evaluation: names, property paths and literal values
//! are resolved to interned ids once (something never seen compiles to a test
//! that never matches), and every window is turned into an absolute, inclusive
//! time range for the given `now`. Plans are cheap to build (a walk over the
//! syntax tree), so they are rebuilt for each evaluation and never go stale as
//! events arrive.
//!
//! Segment references are compiled once each into [`Program::segments`] and
//! evaluated at most once per person (memoized); unknown segments and cycles
//! are errors.

use std::collections::{BTreeMap, HashMap};

use seglab_lang::ast::{
    AggFunc, CmpOp, Condition, EventFilter, EventQuery, Literal, NumTest, Pred, RfmDim, TimeTest,
};

use crate::EngineError;
use crate::codes::CodeKey;
use crate::eval::{SetProps, pred_holds};
use crate::intern::NONE;
use crate::props::{Dictionary, NO_PATH};
use crate::rfm::RFM_CELLS;
use crate::timeline::{Event, Timelines, name_bit};

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

/// A test on one value of a property.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValueTest {
    Exists,
    /// `=` and `in`: the value is one of these ids (sorted).
    AnyOf(Vec<u32>),
    /// `!=`: the value is not this id.
    NotEq(u32),
    OrdNum(CmpOp, f64),
    OrdStr(CmpOp, String),
    /// Element equality for array elements, substring for plain strings.
    Contains {
        element: u32,
        substring: Option<String>,
    },
    StartsWith(String),
}

/// A compiled property predicate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PredPlan {
    Const(bool),
    Leaf { path: u32, test: ValueTest },
    And(Vec<PredPlan>),
    Or(Vec<PredPlan>),
    Not(Box<PredPlan>),
}

/// Which event names a filter accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameMatch {
    Any,
    /// One name (`NONE`: a name never seen, which matches nothing).
    Id(u32),
}

/// Which events a plan looks at: a name, and a property predicate given by its
/// index in [`Program::preds`] (its result is remembered per property set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) name: NameMatch,
    pub(crate) pred: Option<u32>,
    /// Whether events of the name are common (an eighth of all events or
    /// more): scans then test names without branching (see `eval`).
    pub(crate) common: bool,
}

/// A compiled trait test. A trait's value is the property set of
/// `{name: value}`, so only the traits whose name is a prefix (at a `.`) of a
/// path the predicate reads can hold values for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TraitPlan {
    /// No trait can hold a value the predicate reads: its result without values.
    Const(bool),
    /// One trait can: the predicate ([`Program::preds`]) on that trait's set,
    /// or `absent` when the person does not have the trait.
    One { key: u32, pred: u32, absent: bool },
    /// Several traits can (`keys`, sorted).
    Many { pred: PredPlan, keys: Vec<u32> },
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    Const(bool),
    And(Vec<Plan>),
    Or(Vec<Plan>),
    Not(Box<Plan>),
    Did {
        filter: Filter,
        range: TimeRange,
    },
    /// `cap`: counting may stop there (see [`count_cap`]).
    Count {
        filter: Filter,
        range: TimeRange,
        test: NumTest,
        cap: u64,
    },
    /// `codes`: the index of the values' code table in [`Program::codes`].
    Aggregate {
        func: AggFunc,
        filter: Filter,
        range: TimeRange,
        path: u32,
        test: NumTest,
        codes: u32,
    },
    Distinct {
        filter: Filter,
        range: TimeRange,
        path: u32,
        test: NumTest,
        cap: u64,
        codes: u32,
    },
    Top {
        filter: Filter,
        range: TimeRange,
        path: u32,
        value: u32,
        codes: u32,
    },
    /// The first (or last) matching event seen by `now` falls in `time`.
    FirstLast {
        last: bool,
        filter: Filter,
        seen: TimeRange,
        time: TimeRange,
    },
    /// Some A in `a_range` has a B in `(t_A, min(t_A + within, now)]`.
    Then {
        a: Filter,
        a_range: TimeRange,
        b: Filter,
        within: i64,
        seen: TimeRange,
    },
    /// Some A in `a_range` (already cut at `now - within`) has no B in
    /// `(t_A, t_A + within]`.
    ThenNotWithin {
        a: Filter,
        a_range: TimeRange,
        b: Filter,
        within: i64,
        seen: TimeRange,
    },
    /// The latest A in `a_range` has no B after it up to `now`.
    ThenNotLatest {
        a: Filter,
        a_range: TimeRange,
        b: Filter,
        seen: TimeRange,
    },
    /// Some event in each of `some`, none in `none`.
    Pattern {
        filter: Filter,
        some: Vec<TimeRange>,
        none: TimeRange,
    },
    /// `span`: the last `of_last` periods, up to `now`.
    Regularly {
        filter: Filter,
        times: u32,
        period: i128,
        at_least: u32,
        of_last: u32,
        now: i64,
        span: TimeRange,
    },
    Trait(TraitPlan),
    Segment(usize),
    RfmScore {
        dim: usize,
        test: NumTest,
    },
    /// Bit `i` set: cell `RFM_CELLS[i]` accepted.
    RfmCell(u16),
    Predicted {
        model: usize,
        test: NumTest,
    },
}

impl Plan {
    /// Whether the plan reads a person's events or traits (and is worth
    /// evaluating only once per person).
    fn is_leaf(&self) -> bool {
        !matches!(
            self,
            Plan::Const(_)
                | Plan::And(_)
                | Plan::Or(_)
                | Plan::Not(_)
                | Plan::Segment(_)
                | Plan::RfmScore { .. }
                | Plan::RfmCell(_)
                | Plan::Predicted { .. }
        )
    }

    /// Calls `f` with each filter of the plan (and its parts) and the time
    /// range in which it looks for events.
    fn scans(&self, f: &mut impl FnMut(&Filter, TimeRange)) {
        match self {
            Plan::And(ps) | Plan::Or(ps) => ps.iter().for_each(|p| p.scans(f)),
            Plan::Not(p) => p.scans(f),
            Plan::Did { filter, range }
            | Plan::Count { filter, range, .. }
            | Plan::Aggregate { filter, range, .. }
            | Plan::Distinct { filter, range, .. }
            | Plan::Top { filter, range, .. } => f(filter, *range),
            Plan::FirstLast { filter, seen, .. } => f(filter, *seen),
            Plan::Then { a, a_range, b, .. }
            | Plan::ThenNotWithin { a, a_range, b, .. }
            | Plan::ThenNotLatest { a, a_range, b, .. } => {
                // B counts only after some A.
                f(a, *a_range);
                f(b, *a_range);
            }
            Plan::Pattern { filter, some, none } => {
                some.iter().for_each(|r| f(filter, *r));
                f(filter, *none);
            }
            Plan::Regularly { filter, span, .. } => f(filter, *span),
            _ => {}
        }
    }

    fn leaves<'p>(&'p self, out: &mut Vec<&'p Plan>) {
        match self {
            Plan::And(ps) | Plan::Or(ps) => ps.iter().for_each(|p| p.leaves(out)),
            Plan::Not(p) => p.leaves(out),
            p if p.is_leaf() => out.push(p),
            _ => {}
        }
    }

    /// Replaces each plan of `shared` by a reference to segment `first + i`.
    fn share(&mut self, shared: &[Plan], first: usize) {
        match self {
            Plan::And(ps) | Plan::Or(ps) => ps.iter_mut().for_each(|p| p.share(shared, first)),
            Plan::Not(p) => p.share(shared, first),
            p if p.is_leaf() => {
                if let Some(i) = shared.iter().position(|s| s == p) {
                    *p = Plan::Segment(first + i);
                }
            }
            _ => {}
        }
    }
}

/// Compiled plans for one evaluation.
#[derive(Debug, Default)]
pub(crate) struct Program {
    /// Segments referenced (or evaluated), by index; `Plan::Segment(i)` refers here.
    pub(crate) segments: Vec<Plan>,
    pub(crate) segment_names: Vec<String>,
    /// Models referenced by `Plan::Predicted`, by index.
    pub(crate) models: Vec<String>,
    /// Distinct event predicates, by index (`Filter::pred`, `TraitPlan::One`).
    pub(crate) preds: Vec<PredPlan>,
    /// Code tables wanted by `top`, `distinct` and aggregates, by index.
    pub(crate) codes: Vec<CodeKey>,
    /// The event names plans look for, each once with the earliest time plans
    /// look for it from (up to `now`).
    pub(crate) names: Vec<(u32, i64)>,
    /// The people whose events plans read: those with a name of this mask
    /// (see `timeline::name_bit`) and an event at `reads_from` or later.
    pub(crate) reads_names: u64,
    pub(crate) reads_from: i64,
    pub(crate) now: i64,
    pub(crate) uses_rfm: bool,
}

/// Where `in segment` finds definitions.
#[derive(Clone, Copy)]
pub(crate) enum Scope<'a> {
    List(&'a [(String, Condition)]),
    Map(&'a BTreeMap<String, Condition>),
}

impl<'a> Scope<'a> {
    fn get(self, name: &str) -> Option<&'a Condition> {
        match self {
            Scope::List(list) => list.iter().find(|(n, _)| n == name).map(|(_, c)| c),
            Scope::Map(map) => map.get(name),
        }
    }
}

/// Builds a [`Program`].
pub(crate) struct Compiler<'a> {
    tl: &'a Timelines,
    now: i64,
    /// Definitions visible to `in segment`, searched in order.
    scopes: Vec<Scope<'a>>,
    program: Program,
    index: HashMap<String, usize>,
    /// Segments being compiled (for cycle reports).
    stack: Vec<String>,
    done: Vec<bool>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(tl: &'a Timelines, now: i64) -> Compiler<'a> {
        Compiler {
            tl,
            now,
            scopes: Vec::new(),
            program: Program::default(),
            index: HashMap::new(),
            stack: Vec::new(),
            done: Vec::new(),
        }
    }

    /// Adds a source of segment definitions (searched after earlier ones).
    pub(crate) fn scope(&mut self, scope: Scope<'a>) {
        self.scopes.push(scope);
    }

    /// The program for `roots`. A condition that appears more than once (in
    /// the roots or in segments: `did "Order Completed" in last 30d` in two
    /// starter segments) becomes an unnamed segment, evaluated once per person.
    pub(crate) fn finish(self, roots: &mut [Plan]) -> Program {
        let mut program = self.program;
        let mut segments = std::mem::take(&mut program.segments);
        let mut leaves: Vec<&Plan> = Vec::new();
        for plan in roots.iter().chain(&segments) {
            plan.leaves(&mut leaves);
        }
        let mut shared: Vec<Plan> = Vec::new();
        for (i, leaf) in leaves.iter().enumerate() {
            if !shared.contains(leaf) && leaves[i + 1..].contains(leaf) {
                shared.push((*leaf).clone());
            }
        }
        let first = segments.len();
        for plan in roots.iter_mut().chain(&mut segments) {
            plan.share(&shared, first);
        }
        program
            .segment_names
            .extend(shared.iter().map(|_| String::new()));
        segments.extend(shared);
        let mut names: Vec<(u32, i64)> = Vec::new();
        let (mut mask, mut from) = (0u64, i64::MAX);
        for plan in roots.iter().chain(&segments) {
            plan.scans(&mut |filter, range| {
                if range.lo > range.hi {
                    return;
                }
                match filter.name {
                    NameMatch::Id(n) if n != NONE => {
                        match names.iter_mut().find(|(m, _)| *m == n) {
                            Some((_, lo)) => *lo = (*lo).min(range.lo),
                            None => names.push((n, range.lo)),
                        }
                        mask |= name_bit(n);
                    }
                    NameMatch::Id(_) => return,
                    // Any name: the first or last event, found without the lists.
                    NameMatch::Any => mask = u64::MAX,
                }
                from = from.min(range.lo);
            });
        }
        program.names = names;
        program.reads_names = mask;
        program.reads_from = from;
        program.now = self.now;
        program.segments = segments;
        program
    }

    /// Compiles the named segment (and what it references); returns its index.
    pub(crate) fn segment(&mut self, name: &str) -> Result<usize, EngineError> {
        if let Some(&i) = self.index.get(name) {
            if !self.done[i] {
                let at = self.stack.iter().position(|s| s == name).unwrap_or(0);
                let mut cycle = self.stack[at..].to_vec();
                cycle.push(name.to_owned());
                return Err(EngineError::SegmentCycle { cycle });
            }
            return Ok(i);
        }
        let def = self
            .scopes
            .iter()
            .find_map(|s| s.get(name))
            .ok_or_else(|| EngineError::UnknownSegment {
                name: name.to_owned(),
            })?;
        let i = self.program.segments.len();
        self.program.segments.push(Plan::Const(false));
        self.program.segment_names.push(name.to_owned());
        self.done.push(false);
        self.index.insert(name.to_owned(), i);
        self.stack.push(name.to_owned());
        let plan = self.condition(def)?;
        self.stack.pop();
        self.program.segments[i] = plan;
        self.done[i] = true;
        Ok(i)
    }

    /// Compiles an unnamed condition.
    pub(crate) fn condition(&mut self, c: &Condition) -> Result<Plan, EngineError> {
        let now = i128::from(self.now);
        let seen = TimeRange::up_to(now);
        Ok(match c {
            Condition::And { all } => Plan::And(
                all.iter()
                    .map(|c| self.condition(c))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Or { any } => Plan::Or(
                any.iter()
                    .map(|c| self.condition(c))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Not { condition } => Plan::Not(Box::new(self.condition(condition)?)),
            Condition::Did { query } => Plan::Did {
                filter: self.filter(&query.events),
                range: self.window(query),
            },
            Condition::Count { query, test } => Plan::Count {
                filter: self.filter(&query.events),
                range: self.window(query),
                test: test.clone(),
                cap: count_cap(test),
            },
            Condition::Aggregate {
                func,
                query,
                property,
                test,
            } => {
                let filter = self.filter(&query.events);
                let path = self.path(&property.text);
                Plan::Aggregate {
                    func: *func,
                    filter,
                    range: self.window(query),
                    path,
                    test: test.clone(),
                    codes: self.codes(filter, path, true),
                }
            }
            Condition::Distinct {
                query,
                property,
                test,
            } => {
                let filter = self.filter(&query.events);
                let path = self.path(&property.text);
                Plan::Distinct {
                    filter,
                    range: self.window(query),
                    path,
                    test: test.clone(),
                    cap: count_cap(test),
                    codes: self.codes(filter, path, false),
                }
            }
            Condition::Top {
                query,
                property,
                value,
            } => match literal_id(&self.tl.dict, value) {
                Some(value) => {
                    let filter = self.filter(&query.events);
                    let path = self.path(&property.text);
                    Plan::Top {
                        filter,
                        range: self.window(query),
                        path,
                        value,
                        codes: self.codes(filter, path, false),
                    }
                }
                None => Plan::Const(false),
            },
            Condition::First { events, time } | Condition::Last { events, time } => {
                Plan::FirstLast {
                    last: matches!(c, Condition::Last { .. }),
                    filter: match events {
                        Some(f) => self.filter(f),
                        None => Filter {
                            name: NameMatch::Any,
                            pred: None,
                            common: true,
                        },
                    },
                    seen,
                    time: self.time_test(time),
                }
            }
            Condition::Then {
                first,
                then,
                within,
            } => Plan::Then {
                a: self.filter(&first.events),
                a_range: self.window(first),
                b: self.filter(then),
                within: clamp(within.exact_millis()),
                seen,
            },
            Condition::ThenNot {
                first,
                then,
                within: Some(within),
            } => {
                let t = within.exact_millis();
                Plan::ThenNotWithin {
                    a: self.filter(&first.events),
                    a_range: self.window(first).intersect(TimeRange::up_to(now - t)),
                    b: self.filter(then),
                    within: clamp(t),
                    seen,
                }
            }
            Condition::ThenNot {
                first,
                then,
                within: None,
            } => Plan::ThenNotLatest {
                a: self.filter(&first.events),
                a_range: self.window(first),
                b: self.filter(then),
                seen,
            },
            Condition::Stopped { events, period } => {
                let d = period.exact_millis();
                Plan::Pattern {
                    filter: self.filter(events),
                    some: vec![TimeRange::new(now - 2 * d, now - d - 1)],
                    none: TimeRange::new(now - d, now),
                }
            }
            Condition::Restarted { events, gap } => {
                let d = gap.exact_millis();
                Plan::Pattern {
                    filter: self.filter(events),
                    some: vec![
                        TimeRange::new(now - d, now),
                        TimeRange::up_to(now - 2 * d - 1),
                    ],
                    none: TimeRange::new(now - 2 * d, now - d - 1),
                }
            }
            Condition::Regularly {
                events,
                times,
                period,
                at_least,
                of_last,
            } => Plan::Regularly {
                filter: self.filter(events),
                times: *times,
                period: period.exact_millis(),
                at_least: *at_least,
                of_last: *of_last,
                now: self.now,
                span: TimeRange::new(now - i128::from(*of_last) * period.exact_millis(), now),
            },
            Condition::Trait { test } => Plan::Trait(self.trait_plan(&test.pred)),
            Condition::InSegment { segment } => Plan::Segment(self.segment(&segment.text)?),
            Condition::RfmScore { dim, test } => {
                self.program.uses_rfm = true;
                Plan::RfmScore {
                    dim: match dim {
                        RfmDim::R => 0,
                        RfmDim::F => 1,
                        RfmDim::M => 2,
                    },
                    test: test.clone(),
                }
            }
            Condition::RfmCell { cells } => {
                self.program.uses_rfm = true;
                let mut mask = 0u16;
                for c in cells {
                    let i = RFM_CELLS.iter().position(|n| *n == c.text).ok_or_else(|| {
                        EngineError::UnknownRfmCell {
                            name: c.text.clone(),
                        }
                    })?;
                    mask |= 1 << i;
                }
                Plan::RfmCell(mask)
            }
            Condition::Predicted { model, test } => {
                let i = match self.program.models.iter().position(|m| *m == model.text) {
                    Some(i) => i,
                    None => {
                        self.program.models.push(model.text.clone());
                        self.program.models.len() - 1
                    }
                };
                Plan::Predicted {
                    model: i,
                    test: test.clone(),
                }
            }
        })
    }

    fn window(&self, q: &EventQuery) -> TimeRange {
        let (lo, hi) = q.instants(self.now);
        TimeRange::new(lo, hi)
    }

    fn time_test(&self, t: &TimeTest) -> TimeRange {
        let (lo, hi) = t.instants(self.now);
        TimeRange::new(lo, hi)
    }

    fn path(&self, path: &str) -> u32 {
        self.tl.dict.keys.get(path).unwrap_or(NO_PATH)
    }

    fn filter(&mut self, f: &EventFilter) -> Filter {
        let mut name = NameMatch::Id(self.tl.name_id(&f.event.text).unwrap_or(NONE));
        let pred = match f.filter.as_ref().map(|p| self.pred(p)) {
            Some(PredPlan::Const(true)) | None => None,
            Some(PredPlan::Const(false)) => {
                name = NameMatch::Id(NONE);
                None
            }
            Some(p) => Some(self.pred_index(p)),
        };
        let common = match name {
            NameMatch::Id(n) => self.tl.name_count(n).saturating_mul(8) >= self.tl.event_count(),
            NameMatch::Any => true,
        };
        Filter { name, pred, common }
    }

    /// The index in [`Program::codes`] of the code table of `path` in the
    /// events of the filter's name.
    fn codes(&mut self, filter: Filter, path: u32, numbers: bool) -> u32 {
        let key = CodeKey {
            name: match filter.name {
                NameMatch::Id(n) => n,
                NameMatch::Any => NONE,
            },
            path,
            numbers,
        };
        let codes = &mut self.program.codes;
        match codes.iter().position(|k| *k == key) {
            Some(i) => i as u32,
            None => {
                codes.push(key);
                (codes.len() - 1) as u32
            }
        }
    }

    /// The index of a predicate in [`Program::preds`] (equal predicates share one).
    fn pred_index(&mut self, p: PredPlan) -> u32 {
        let preds = &mut self.program.preds;
        match preds.iter().position(|q| *q == p) {
            Some(i) => i as u32,
            None => {
                preds.push(p);
                (preds.len() - 1) as u32
            }
        }
    }

    fn trait_plan(&mut self, p: &Pred) -> TraitPlan {
        let pred = self.pred(p);
        let absent = pred_holds(
            &pred,
            &SetProps {
                set: &[],
                dict: &self.tl.dict,
            },
        );
        let mut keys = Vec::new();
        trait_keys(&self.tl.dict, &pred, &mut keys);
        keys.sort_unstable();
        keys.dedup();
        match keys[..] {
            [] => TraitPlan::Const(absent),
            [key] => TraitPlan::One {
                key,
                pred: self.pred_index(pred),
                absent,
            },
            _ => TraitPlan::Many { pred, keys },
        }
    }

    pub(crate) fn pred(&self, p: &Pred) -> PredPlan {
        let dict = &self.tl.dict;
        let leaf = |path: &str, test: ValueTest| match dict.keys.get(path) {
            Some(path) => PredPlan::Leaf { path, test },
            None => PredPlan::Const(false),
        };
        match p {
            Pred::Cmp { path, op, value } => match op {
                CmpOp::Eq => match literal_id(dict, value) {
                    Some(id) => leaf(&path.text, ValueTest::AnyOf(vec![id])),
                    None => PredPlan::Const(false),
                },
                CmpOp::Ne => leaf(
                    &path.text,
                    ValueTest::NotEq(literal_id(dict, value).unwrap_or(NONE)),
                ),
                _ => match value {
                    Literal::Number(x) => leaf(&path.text, ValueTest::OrdNum(*op, *x)),
                    Literal::String(s) => leaf(&path.text, ValueTest::OrdStr(*op, s.clone())),
                    Literal::Bool(_) => PredPlan::Const(false),
                },
            },
            Pred::In { path, values } => {
                let mut ids: Vec<u32> = values.iter().filter_map(|v| literal_id(dict, v)).collect();
                ids.sort_unstable();
                ids.dedup();
                if ids.is_empty() {
                    PredPlan::Const(false)
                } else {
                    leaf(&path.text, ValueTest::AnyOf(ids))
                }
            }
            Pred::Contains { path, value } => {
                let element = literal_id(dict, value).unwrap_or(NONE);
                let substring = match value {
                    Literal::String(s) => Some(s.clone()),
                    _ => None,
                };
                if element == NONE && substring.is_none() {
                    PredPlan::Const(false)
                } else {
                    leaf(&path.text, ValueTest::Contains { element, substring })
                }
            }
            Pred::StartsWith { path, value } => {
                leaf(&path.text, ValueTest::StartsWith(value.clone()))
            }
            Pred::Exists { path } => leaf(&path.text, ValueTest::Exists),
            Pred::And { all } => {
                let mut parts = Vec::new();
                for p in all {
                    match self.pred(p) {
                        PredPlan::Const(true) => {}
                        PredPlan::Const(false) => return PredPlan::Const(false),
                        p => parts.push(p),
                    }
                }
                if parts.is_empty() {
                    PredPlan::Const(true)
                } else {
                    PredPlan::And(parts)
                }
            }
            Pred::Or { any } => {
                let mut parts = Vec::new();
                for p in any {
                    match self.pred(p) {
                        PredPlan::Const(false) => {}
                        PredPlan::Const(true) => return PredPlan::Const(true),
                        p => parts.push(p),
                    }
                }
                if parts.is_empty() {
                    PredPlan::Const(false)
                } else {
                    PredPlan::Or(parts)
                }
            }
            Pred::Not { pred } => match self.pred(pred) {
                PredPlan::Const(b) => PredPlan::Const(!b),
                p => PredPlan::Not(Box::new(p)),
            },
        }
    }
}

/// The interned trait names that can hold values at the predicate's paths:
/// each path itself and its prefixes ending before a `.`.
fn trait_keys(dict: &Dictionary, p: &PredPlan, out: &mut Vec<u32>) {
    match p {
        PredPlan::Const(_) => {}
        PredPlan::And(ps) | PredPlan::Or(ps) => ps.iter().for_each(|p| trait_keys(dict, p, out)),
        PredPlan::Not(p) => trait_keys(dict, p, out),
        PredPlan::Leaf { path, .. } => {
            let path = dict.keys.resolve(*path);
            let ends = path
                .match_indices('.')
                .map(|(i, _)| i)
                .chain(std::iter::once(path.len()));
            out.extend(ends.filter_map(|end| dict.keys.get(&path[..end])));
        }
    }
}

/// A count from which a count test no longer changes: for every `n >= cap`,
/// `test.holds(n) == test.holds(cap)`, so counting can stop at `cap`.
pub(crate) fn count_cap(test: &NumTest) -> u64 {
    let bound = match *test {
        NumTest::Cmp { value, .. } => value,
        NumTest::Between { high, .. } => high,
    };
    if bound.is_nan() || bound < 0.0 {
        // No count is below (or at) the bound: every count compares alike.
        return 0;
    }
    // Above the bound every count compares alike; `as` saturates.
    (bound.floor() + 1.0) as u64
}

fn clamp(x: i128) -> i64 {
    x.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The value id of a literal, if such a value was ever seen.
fn literal_id(dict: &Dictionary, l: &Literal) -> Option<u32> {
    match l {
        Literal::String(s) => dict.string_id(s),
        Literal::Number(x) => dict.number_id(*x),
        Literal::Bool(b) => Some(Dictionary::bool_id(*b)),
    }
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

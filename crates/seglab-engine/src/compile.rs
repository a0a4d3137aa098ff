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
    AggFunc, CmpOp, Condition, Duration, EventFilter, EventQuery, Literal, NumTest, Pred, RfmDim,
    TimeTest, Window,
};

use crate::EngineError;
use crate::intern::NONE;
use crate::props::{Dictionary, NO_PATH};
use crate::rfm::RFM_CELLS;
use crate::timeline::{Event, Timelines};

/// An inclusive time range; empty when `lo > hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeRange {
    pub(crate) lo: i64,
    pub(crate) hi: i64,
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

    #[inline]
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

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    pub(crate) name: NameMatch,
    pub(crate) pred: Option<PredPlan>,
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
    Count {
        filter: Filter,
        range: TimeRange,
        test: NumTest,
    },
    Aggregate {
        func: AggFunc,
        filter: Filter,
        range: TimeRange,
        path: u32,
        test: NumTest,
    },
    Distinct {
        filter: Filter,
        range: TimeRange,
        path: u32,
        test: NumTest,
    },
    Top {
        filter: Filter,
        range: TimeRange,
        path: u32,
        value: u32,
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
    Regularly {
        filter: Filter,
        times: u32,
        period: i128,
        at_least: u32,
        of_last: u32,
        now: i64,
    },
    Trait(PredPlan),
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

/// Compiled plans for one evaluation.
#[derive(Debug, Default)]
pub(crate) struct Program {
    /// Segments referenced (or evaluated), by index; `Plan::Segment(i)` refers here.
    pub(crate) segments: Vec<Plan>,
    pub(crate) segment_names: Vec<String>,
    /// Models referenced by `Plan::Predicted`, by index.
    pub(crate) models: Vec<String>,
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

fn millis(d: &Duration) -> i128 {
    i128::from(d.amount) * i128::from(d.unit.millis())
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

    pub(crate) fn finish(self) -> Program {
        self.program
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
            },
            Condition::Aggregate {
                func,
                query,
                property,
                test,
            } => Plan::Aggregate {
                func: *func,
                filter: self.filter(&query.events),
                range: self.window(query),
                path: self.path(&property.text),
                test: test.clone(),
            },
            Condition::Distinct {
                query,
                property,
                test,
            } => Plan::Distinct {
                filter: self.filter(&query.events),
                range: self.window(query),
                path: self.path(&property.text),
                test: test.clone(),
            },
            Condition::Top {
                query,
                property,
                value,
            } => match literal_id(&self.tl.dict, value) {
                Some(value) => Plan::Top {
                    filter: self.filter(&query.events),
                    range: self.window(query),
                    path: self.path(&property.text),
                    value,
                },
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
                within: clamp(millis(within)),
                seen,
            },
            Condition::ThenNot {
                first,
                then,
                within: Some(within),
            } => {
                let t = millis(within);
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
                let d = millis(period);
                Plan::Pattern {
                    filter: self.filter(events),
                    some: vec![TimeRange::new(now - 2 * d, now - d - 1)],
                    none: TimeRange::new(now - d, now),
                }
            }
            Condition::Restarted { events, gap } => {
                let d = millis(gap);
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
                period: millis(period),
                at_least: *at_least,
                of_last: *of_last,
                now: self.now,
            },
            Condition::Trait { test } => Plan::Trait(self.pred(&test.pred)),
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
        let now = i128::from(self.now);
        match &q.window {
            None => TimeRange::up_to(now),
            Some(Window::Last { duration }) => TimeRange::new(now - millis(duration), now),
            Some(Window::Between { start, end }) => {
                TimeRange::new(i128::from(*start), (i128::from(*end) - 1).min(now))
            }
        }
    }

    fn time_test(&self, t: &TimeTest) -> TimeRange {
        let now = i128::from(self.now);
        match t {
            TimeTest::InLast { duration } => TimeRange::new(now - millis(duration), now),
            TimeTest::Before { duration } => TimeRange::up_to(now - millis(duration) - 1),
            TimeTest::Between { start, end } => {
                TimeRange::new(i128::from(*start), i128::from(*end) - 1)
            }
        }
    }

    fn path(&self, path: &str) -> u32 {
        self.tl.dict.keys.get(path).unwrap_or(NO_PATH)
    }

    fn filter(&self, f: &EventFilter) -> Filter {
        let mut name = NameMatch::Id(self.tl.name_id(&f.event.text).unwrap_or(NONE));
        let pred = match f.filter.as_ref().map(|p| self.pred(p)) {
            Some(PredPlan::Const(true)) | None => None,
            Some(PredPlan::Const(false)) => {
                name = NameMatch::Id(NONE);
                None
            }
            Some(p) => Some(p),
        };
        Filter { name, pred }
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

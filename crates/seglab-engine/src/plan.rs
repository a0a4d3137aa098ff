//! Evaluation plans: conditions compiled for one evaluation (see
//! `compile`), evaluated by `eval`.

use seglab_lang::ast::{AggFunc, NumTest};

use crate::codes::CodeKey;
use crate::pred::PredPlan;
use crate::range::TimeRange;

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
    pub(crate) fn is_leaf(&self) -> bool {
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
    pub(crate) fn scans(&self, f: &mut impl FnMut(&Filter, TimeRange)) {
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

    pub(crate) fn leaves<'p>(&'p self, out: &mut Vec<&'p Plan>) {
        match self {
            Plan::And(ps) | Plan::Or(ps) => ps.iter().for_each(|p| p.leaves(out)),
            Plan::Not(p) => p.leaves(out),
            p if p.is_leaf() => out.push(p),
            _ => {}
        }
    }

    /// Replaces each plan of `shared` by a reference to segment `first + i`.
    pub(crate) fn share(&mut self, shared: &[Plan], first: usize) {
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

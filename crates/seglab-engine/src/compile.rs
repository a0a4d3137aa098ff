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

use seglab_lang::ast::{Condition, EventFilter, EventQuery, Family, Pred, RfmDim, TimeTest};

use crate::EngineError;
use crate::codes::CodeKey;
use crate::intern::NONE;
use crate::plan::{Filter, NameMatch, Plan, Program, TraitPlan, count_cap};
use crate::pred::{PredPlan, SetProps, literal_id, pred_holds};
use crate::props::{Dictionary, NO_PATH};
use crate::range::{TimeRange, clamp};
use crate::rfm::cell_mask;
use crate::timeline::{Timelines, name_bit};

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
        Ok(match c.family() {
            Family::Logic => self.logic(c)?,
            Family::Counting => self.counting(c),
            Family::Sequence => self.sequence(c),
            Family::Pattern => self.pattern(c),
            Family::Profile => self.profile(c)?,
        })
    }

    /// `and`, `or`, `not` and `in segment`.
    fn logic(&mut self, c: &Condition) -> Result<Plan, EngineError> {
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
            Condition::InSegment { segment } => Plan::Segment(self.segment(&segment.text)?),
            _ => unreachable!("not a logic condition"),
        })
    }

    /// `did`, `count`, aggregates, `distinct` and `top`.
    fn counting(&mut self, c: &Condition) -> Plan {
        match c {
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
            _ => unreachable!("not a counting condition"),
        }
    }

    /// `first`, `last`, `then` and `then not`.
    fn sequence(&mut self, c: &Condition) -> Plan {
        let now = i128::from(self.now);
        let seen = TimeRange::up_to(now);
        match c {
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
            _ => unreachable!("not a sequence condition"),
        }
    }

    /// `stopped`, `restarted` and `regularly`.
    fn pattern(&mut self, c: &Condition) -> Plan {
        let now = i128::from(self.now);
        match c {
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
            _ => unreachable!("not a pattern condition"),
        }
    }

    /// Traits, RFM scores and cells, and model outputs.
    fn profile(&mut self, c: &Condition) -> Result<Plan, EngineError> {
        Ok(match c {
            Condition::Trait { test } => Plan::Trait(self.trait_plan(&test.pred)),
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
                Plan::RfmCell(cell_mask(cells)?)
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
            _ => unreachable!("not a profile condition"),
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
        let pred = match f
            .filter
            .as_ref()
            .map(|p| PredPlan::compile(&self.tl.dict, p))
        {
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
        let pred = PredPlan::compile(&self.tl.dict, p);
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

//! Why a condition holds, or not, for one person: a tree that mirrors the
//! condition, each node with its text, its answer, the events that decided
//! it and when it can next change by itself.
//!
//! Answers and change instants come from the same per-person evaluation as
//! live sets (so they agree with batch evaluation); the events are read
//! from the person's timeline. Per construct:
//!
//! - `did`, `count`, aggregates, `distinct`, `top`: the matching events in the
//!   window (the latest [`EXPLAIN_MAX_EVENTS`]) and their number; the count or the
//!   aggregate as `value`.
//! - `first` / `last`: that event.
//! - `then … within`: an A and the B that followed it; when none did, the As.
//! - `then not … within`: the A and the `window` in which no B came; when
//!   every A got its B, each A with the B that came.
//! - `then not` (latest): the latest A and the first B after it, if any.
//! - `stopped`: the last event before the quiet period (`window`), and any in it.
//! - `restarted`: the latest recent event, any in the gap (`window`), and the
//!   latest before it.
//! - `regularly`: the events of the periods looked at.
//! - traits: the trait values read; predictions: the value; RFM: the scores
//!   and cell; `in segment`: the segment's explanation as the child.

use serde::Serialize;
use serde_json::{Map, Value};

use seglab_lang::ast::{AggFunc, Condition, Family, Pred};

use crate::forest::{Forest, Leaf, Matcher, Node, PersonView};
use crate::horizon::{NodeResults, to_instant};
use crate::live::{RfmBasis, evaluate_forest};
use crate::props::{Scalar, values_of};
use crate::range::clamp;
use crate::readback::set_to_json;
use crate::rfm::rfm_cell;
use crate::{Engine, EngineError};

/// Events listed per node at most (`event_count` says how many there were).
pub const EXPLAIN_MAX_EVENTS: usize = 10;

/// One node of an explanation (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The condition, as the language prints it.
    pub condition: String,
    pub holds: bool,
    /// For `in segment`: the segment's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// The events that decided the answer (at most [`EXPLAIN_MAX_EVENTS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ExplainedEvent>,
    /// How many events there were in all.
    #[serde(skip_serializing_if = "is_zero")]
    pub event_count: usize,
    /// A time range that matters: the quiet period of `stopped`, the gap of
    /// `restarted`, the span with no B of `then not`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<TimeSpan>,
    /// A count, an aggregate, trait values, a model's output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rfm: Option<RfmExplanation>,
    /// The earliest instant at which the answer can change with no new event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_change: Option<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Explanation>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// An event, with its part in the decision when it has one (`A`, `B`,
/// `before`, `during`, `recent`, `gap`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainedEvent {
    pub time: i64,
    pub name: String,
    pub properties: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
}

/// `from <= t <= to`, epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimeSpan {
    pub from: i64,
    pub to: i64,
}

/// A buyer's RFM scores and cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RfmExplanation {
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub cell: &'static str,
}

/// [`Engine::explain`].
pub(crate) fn explain(
    engine: &Engine,
    person: i64,
    condition: &Condition,
    now: i64,
) -> Result<Explanation, EngineError> {
    let tl = engine.timelines();
    let roots = [(String::new(), condition.clone())];
    let forest = Forest::build(tl, &roots, engine.definitions())?;
    let index = tl
        .index_of(person)
        .ok_or(EngineError::UnknownPerson { id: person })?;
    let basis = forest.uses_rfm[0].then(|| RfmBasis::build(tl, now));
    let mut results = Vec::new();
    evaluate_forest(engine, &forest, basis.as_ref(), index, now, &mut results)?;
    let x = Explainer {
        engine,
        forest: &forest,
        view: PersonView::new(tl, &forest, index),
        results,
        basis: basis.as_ref(),
        index,
        now,
    };
    Ok(x.node(forest.trees[0].1, condition))
}

struct Explainer<'a> {
    engine: &'a Engine,
    forest: &'a Forest,
    view: PersonView<'a>,
    results: NodeResults,
    basis: Option<&'a RfmBasis>,
    index: u32,
    now: i64,
}

/// An event found for a leaf: time, property set, role.
type Found = (i64, u32, Option<&'static str>);

impl Explainer<'_> {
    fn node(&self, n: usize, c: &Condition) -> Explanation {
        let (holds, at) = self.results[n].unwrap_or((false, None));
        let mut x = Explanation {
            condition: seglab_lang::print_condition(c),
            holds,
            segment: None,
            events: Vec::new(),
            event_count: 0,
            window: None,
            value: None,
            rfm: None,
            next_change: to_instant(at),
            children: Vec::new(),
        };
        match (&self.forest.nodes[n], c) {
            (Node::And(ns), Condition::And { all: cs })
            | (Node::Or(ns), Condition::Or { any: cs }) => {
                x.children = ns.iter().zip(cs).map(|(&n, c)| self.node(n, c)).collect();
            }
            (Node::Not(n), Condition::Not { condition }) => {
                x.children = vec![self.node(*n, condition)];
            }
            (Node::Tree(t), Condition::InSegment { segment }) => {
                x.segment = Some(segment.text.clone());
                let root = self.forest.trees[*t].1;
                if let Some(def) = self.engine.definitions().get(&segment.text) {
                    x.children = vec![self.node(root, def)];
                }
            }
            (Node::Leaf(l), _) => self.leaf(&self.forest.leaves[*l], &mut x),
            _ => {}
        }
        x
    }

    fn event(&self, (t, set, role): Found) -> ExplainedEvent {
        let tl = self.engine.timelines();
        let name = tl
            .events(self.index)
            .iter()
            .find(|e| e.ts() == t && e.props() == set)
            .map_or(String::new(), |e| tl.names.resolve(e.name()).to_owned());
        ExplainedEvent {
            time: t,
            name,
            properties: set_to_json(&tl.dict, tl.set(set)),
            role,
        }
    }

    /// Lists the latest [`EXPLAIN_MAX_EVENTS`] of `found` (in time order).
    fn list(&self, x: &mut Explanation, found: &[Found]) {
        x.event_count = found.len();
        let skip = found.len().saturating_sub(EXPLAIN_MAX_EVENTS);
        x.events = found[skip..].iter().map(|&f| self.event(f)).collect();
    }

    fn matching(&self, m: &Matcher, lo: i128, hi: i128, role: Option<&'static str>) -> Vec<Found> {
        self.view
            .matching(m, lo, hi)
            .map(|(t, s)| (t, s, role))
            .collect()
    }

    /// Adds what a leaf read to its node (see the module docs), by family.
    fn leaf(&self, leaf: &Leaf, x: &mut Explanation) {
        match leaf.condition.family() {
            Family::Counting => self.counting(leaf, x),
            Family::Sequence => self.sequence(leaf, x),
            Family::Pattern => self.pattern(leaf, x),
            Family::Profile => self.profile(leaf, x),
            Family::Logic => {}
        }
    }

    /// `did`, `count`, aggregates, `distinct` and `top`: the events in the
    /// window, and the count or the aggregate.
    fn counting(&self, leaf: &Leaf, x: &mut Explanation) {
        let tl = self.engine.timelines();
        let m = |i: usize| leaf.matchers[i];
        match &leaf.condition {
            Condition::Did { query } | Condition::Count { query, .. } => {
                let (lo, hi) = query.instants(self.now);
                let found = self.matching(&m(0), lo, hi, None);
                if matches!(leaf.condition, Condition::Count { .. }) {
                    x.value = Some(Value::from(found.len()));
                }
                self.list(x, &found);
            }
            Condition::Aggregate {
                func,
                query,
                property,
                ..
            } => {
                let (lo, hi) = query.instants(self.now);
                let found = self.matching(&m(0), lo, hi, None);
                let numbers: Vec<f64> = match tl.dict.keys.get(&property.text) {
                    None => Vec::new(),
                    Some(path) => found
                        .iter()
                        .flat_map(|&(_, set, _)| values_of(tl.set(set), path))
                        .filter_map(|p| match tl.dict.scalar(p.value) {
                            Scalar::Num(x) => Some(x),
                            _ => None,
                        })
                        .collect(),
                };
                let sum: f64 = numbers.iter().sum();
                let value = match func {
                    AggFunc::Sum => Some(sum),
                    _ if numbers.is_empty() => None,
                    AggFunc::Avg => Some(sum / numbers.len() as f64),
                    AggFunc::Min => numbers.iter().copied().reduce(f64::min),
                    AggFunc::Max => numbers.iter().copied().reduce(f64::max),
                };
                x.value = value.map(Value::from);
                self.list(x, &found);
            }
            Condition::Distinct {
                query, property, ..
            }
            | Condition::Top {
                query, property, ..
            } => {
                let (lo, hi) = query.instants(self.now);
                let found = self.matching(&m(0), lo, hi, None);
                // Per value id (objects skipped): how often, and when last seen.
                let mut seen: std::collections::HashMap<u32, (usize, usize)> =
                    std::collections::HashMap::new();
                let mut order = 0;
                if let Some(path) = tl.dict.keys.get(&property.text) {
                    for &(_, set, _) in &found {
                        for p in values_of(tl.set(set), path) {
                            if !matches!(tl.dict.scalar(p.value), Scalar::Object) {
                                order += 1;
                                let e = seen.entry(p.value).or_insert((0, 0));
                                e.0 += 1;
                                e.1 = order;
                            }
                        }
                    }
                }
                x.value = Some(if matches!(leaf.condition, Condition::Distinct { .. }) {
                    Value::from(seen.len())
                } else {
                    // The most frequent value; ties go to the one seen last.
                    seen.iter()
                        .max_by_key(|&(_, &key)| key)
                        .map_or(Value::Null, |(&v, _)| match tl.dict.scalar(v) {
                            Scalar::Str(s) => Value::from(s),
                            Scalar::Num(n) => Value::from(n),
                            Scalar::Bool(b) => Value::from(b),
                            Scalar::Object => Value::Null,
                        })
                });
                self.list(x, &found);
            }
            _ => {}
        }
    }

    /// `first`, `last`, `then` and `then not`: the events of the pair or the
    /// lone A.
    fn sequence(&self, leaf: &Leaf, x: &mut Explanation) {
        let now = i128::from(self.now);
        let m = |i: usize| leaf.matchers[i];
        match &leaf.condition {
            Condition::First { .. } => {
                let found: Vec<Found> = self
                    .matching(&m(0), i128::from(i64::MIN), now, None)
                    .into_iter()
                    .take(1)
                    .collect();
                self.list(x, &found);
            }
            Condition::Last { .. } => {
                let found: Vec<Found> = self
                    .view
                    .matching(&m(0), i128::from(i64::MIN), now)
                    .next_back()
                    .map(|(t, s)| (t, s, None))
                    .into_iter()
                    .collect();
                self.list(x, &found);
            }
            Condition::Then { first, within, .. } => {
                let t = within.exact_millis();
                let (lo, hi) = first.instants(self.now);
                let a_events = self.matching(&m(0), lo, hi, Some("A"));
                let pair = a_events.iter().find_map(|&a| {
                    let ta = i128::from(a.0);
                    let b = self
                        .view
                        .matching(&m(1), ta + 1, (ta + t).min(now))
                        .next()?;
                    Some([a, (b.0, b.1, Some("B"))])
                });
                match pair {
                    Some(pair) => self.list(x, &pair),
                    None => self.list(x, &a_events),
                }
            }
            Condition::ThenNot {
                first,
                within: Some(within),
                ..
            } => {
                let t = within.exact_millis();
                let (lo, hi) = first.instants(self.now);
                let a_events = self.matching(&m(0), lo, hi.min(now - t), Some("A"));
                let mut found = Vec::new();
                for &a in &a_events {
                    let ta = i128::from(a.0);
                    match self.view.matching(&m(1), ta + 1, ta + t).next() {
                        None => {
                            found = vec![a];
                            x.window = Some(TimeSpan {
                                from: clamp(ta + 1),
                                to: clamp(ta + t),
                            });
                            break;
                        }
                        Some((tb, sb)) => found.extend([a, (tb, sb, Some("B"))]),
                    }
                }
                self.list(x, &found);
            }
            Condition::ThenNot {
                first,
                within: None,
                ..
            } => {
                let (lo, hi) = first.instants(self.now);
                let mut found = Vec::new();
                if let Some((ta, sa)) = self.view.matching(&m(0), lo, hi).next_back() {
                    found.push((ta, sa, Some("A")));
                    let after = i128::from(ta) + 1;
                    x.window = Some(TimeSpan {
                        from: clamp(after),
                        to: self.now,
                    });
                    if let Some((tb, sb)) = self.view.matching(&m(1), after, now).next() {
                        found.push((tb, sb, Some("B")));
                    }
                }
                self.list(x, &found);
            }
            _ => {}
        }
    }

    /// `stopped`, `restarted` and `regularly`: the events around the periods
    /// looked at.
    fn pattern(&self, leaf: &Leaf, x: &mut Explanation) {
        let now = i128::from(self.now);
        let m = |i: usize| leaf.matchers[i];
        match &leaf.condition {
            Condition::Stopped { period, .. } => {
                let d = period.exact_millis();
                let mut found: Vec<Found> = self
                    .view
                    .matching(&m(0), now - 2 * d, now - d - 1)
                    .next_back()
                    .map(|(t, s)| (t, s, Some("before")))
                    .into_iter()
                    .collect();
                found.extend(self.matching(&m(0), now - d, now, Some("during")));
                x.window = Some(TimeSpan {
                    from: clamp(now - d),
                    to: self.now,
                });
                self.list(x, &found);
            }
            Condition::Restarted { gap, .. } => {
                let d = gap.exact_millis();
                let before = self
                    .view
                    .matching(&m(0), i128::from(i64::MIN), now - 2 * d - 1)
                    .next_back()
                    .map(|(t, s)| (t, s, Some("before")));
                let mut found: Vec<Found> = before.into_iter().collect();
                found.extend(self.matching(&m(0), now - 2 * d, now - d - 1, Some("gap")));
                found.extend(
                    self.view
                        .matching(&m(0), now - d, now)
                        .next_back()
                        .map(|(t, s)| (t, s, Some("recent"))),
                );
                x.window = Some(TimeSpan {
                    from: clamp(now - 2 * d),
                    to: clamp(now - d - 1),
                });
                self.list(x, &found);
            }
            Condition::Regularly {
                period, of_last, ..
            } => {
                let span = i128::from(*of_last) * period.exact_millis();
                let found = self.matching(&m(0), now - span, now, None);
                self.list(x, &found);
            }
            _ => {}
        }
    }

    /// Traits, RFM scores and cells, and model outputs: the values read.
    fn profile(&self, leaf: &Leaf, x: &mut Explanation) {
        let tl = self.engine.timelines();
        match &leaf.condition {
            Condition::Trait { test } => {
                let traits = tl.person_traits(self.engine_id());
                let mut paths = Vec::new();
                pred_paths(&test.pred, &mut paths);
                let read: Map<String, Value> = traits
                    .into_iter()
                    .filter(|(k, _)| {
                        paths.iter().any(|p| {
                            p == k
                                || p.strip_prefix(k.as_str())
                                    .is_some_and(|r| r.starts_with('.'))
                        })
                    })
                    .collect();
                x.value = Some(Value::Object(read));
            }
            Condition::RfmScore { .. } | Condition::RfmCell { .. } => {
                x.rfm = self
                    .basis
                    .and_then(|b| b.scores(tl, self.index, self.now))
                    .map(|[r, f, m]| RfmExplanation {
                        r,
                        f,
                        m,
                        cell: rfm_cell(r, f),
                    });
            }
            Condition::Predicted { model, .. } => {
                x.value = self
                    .engine
                    .prediction(&model.text, self.index)
                    .map(Value::from);
            }
            _ => {}
        }
    }

    /// The id the person is known by.
    fn engine_id(&self) -> i64 {
        self.engine
            .timelines()
            .external_id(self.index)
            .unwrap_or_default()
    }
}

fn pred_paths(p: &Pred, out: &mut Vec<String>) {
    match p {
        Pred::Cmp { path, .. }
        | Pred::In { path, .. }
        | Pred::Contains { path, .. }
        | Pred::StartsWith { path, .. }
        | Pred::Exists { path } => out.push(path.text.clone()),
        Pred::And { all: ps } | Pred::Or { any: ps } => ps.iter().for_each(|p| pred_paths(p, out)),
        Pred::Not { pred } => pred_paths(pred, out),
    }
}

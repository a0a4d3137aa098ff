//! Building conditions, worlds of people, and checking both evaluators.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::reference::{RefEvent, RefPerson, Reference};
use crate::{Engine, EngineError, Timelines};
use seglab_lang::ast::*;
use serde_json::{Map, Value};

/// 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600_000;
pub const SEC: i64 = 1_000;
pub const MIN: i64 = 60 * SEC;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;
pub const WEEK: i64 = 7 * DAY;

// ---- syntax tree builders ----

pub fn name(s: &str) -> Name {
    Name::new(s)
}

pub fn dur(amount: u64, unit: TimeUnit) -> Duration {
    Duration { amount, unit }
}
pub fn secs(n: u64) -> Duration {
    dur(n, TimeUnit::Seconds)
}
pub fn mins(n: u64) -> Duration {
    dur(n, TimeUnit::Minutes)
}
pub fn hours(n: u64) -> Duration {
    dur(n, TimeUnit::Hours)
}
pub fn days(n: u64) -> Duration {
    dur(n, TimeUnit::Days)
}
pub fn weeks(n: u64) -> Duration {
    dur(n, TimeUnit::Weeks)
}

pub fn ev(event: &str) -> EventFilter {
    EventFilter {
        event: name(event),
        filter: None,
    }
}

pub fn ev_where(event: &str, p: Pred) -> EventFilter {
    EventFilter {
        event: name(event),
        filter: Some(p),
    }
}

pub fn q(event: &str) -> EventQuery {
    EventQuery {
        events: ev(event),
        window: None,
    }
}

pub trait QueryExt {
    fn last(self, d: Duration) -> EventQuery;
    fn between(self, start: i64, end: i64) -> EventQuery;
    fn filter(self, p: Pred) -> EventQuery;
}

impl QueryExt for EventQuery {
    fn last(mut self, duration: Duration) -> EventQuery {
        self.window = Some(Window::Last { duration });
        self
    }
    fn between(mut self, start: i64, end: i64) -> EventQuery {
        self.window = Some(Window::Between { start, end });
        self
    }
    fn filter(mut self, p: Pred) -> EventQuery {
        self.events.filter = Some(p);
        self
    }
}

pub fn ls(s: &str) -> Literal {
    Literal::String(s.to_owned())
}
pub fn ln(x: f64) -> Literal {
    Literal::Number(x)
}
pub fn lb(b: bool) -> Literal {
    Literal::Bool(b)
}

pub fn cmp(path: &str, op: CmpOp, value: Literal) -> Pred {
    Pred::Cmp {
        path: name(path),
        op,
        value,
    }
}
pub fn eq(path: &str, value: Literal) -> Pred {
    cmp(path, CmpOp::Eq, value)
}
pub fn is_in(path: &str, values: Vec<Literal>) -> Pred {
    Pred::In {
        path: name(path),
        values,
    }
}
pub fn contains(path: &str, value: Literal) -> Pred {
    Pred::Contains {
        path: name(path),
        value,
    }
}
pub fn starts_with(path: &str, value: &str) -> Pred {
    Pred::StartsWith {
        path: name(path),
        value: value.to_owned(),
    }
}
pub fn exists(path: &str) -> Pred {
    Pred::Exists { path: name(path) }
}
pub fn pand(all: Vec<Pred>) -> Pred {
    Pred::And { all }
}
pub fn por(any: Vec<Pred>) -> Pred {
    Pred::Or { any }
}
pub fn pnot(p: Pred) -> Pred {
    Pred::Not { pred: Box::new(p) }
}

pub fn num(op: CmpOp, value: f64) -> NumTest {
    NumTest::Cmp { op, value }
}
pub fn ge(value: f64) -> NumTest {
    num(CmpOp::Ge, value)
}
pub fn between(low: f64, high: f64) -> NumTest {
    NumTest::Between { low, high }
}

pub fn and(all: Vec<Condition>) -> Condition {
    Condition::And { all }
}
pub fn or(any: Vec<Condition>) -> Condition {
    Condition::Or { any }
}
pub fn not(c: Condition) -> Condition {
    Condition::Not {
        condition: Box::new(c),
    }
}
pub fn did(query: EventQuery) -> Condition {
    Condition::Did { query }
}
pub fn count(query: EventQuery, test: NumTest) -> Condition {
    Condition::Count { query, test }
}
pub fn agg(func: AggFunc, query: EventQuery, property: &str, test: NumTest) -> Condition {
    Condition::Aggregate {
        func,
        query,
        property: name(property),
        test,
    }
}
pub fn distinct(query: EventQuery, property: &str, test: NumTest) -> Condition {
    Condition::Distinct {
        query,
        property: name(property),
        test,
    }
}
pub fn top(query: EventQuery, property: &str, value: Literal) -> Condition {
    Condition::Top {
        query,
        property: name(property),
        value,
    }
}
pub fn first(events: Option<EventFilter>, time: TimeTest) -> Condition {
    Condition::First { events, time }
}
pub fn last(events: Option<EventFilter>, time: TimeTest) -> Condition {
    Condition::Last { events, time }
}
pub fn in_last(duration: Duration) -> TimeTest {
    TimeTest::InLast { duration }
}
pub fn before(duration: Duration) -> TimeTest {
    TimeTest::Before { duration }
}
pub fn then(first: EventQuery, then: EventFilter, within: Duration) -> Condition {
    Condition::Then {
        first,
        then,
        within,
    }
}
pub fn then_not(first: EventQuery, then: EventFilter, within: Option<Duration>) -> Condition {
    Condition::ThenNot {
        first,
        then,
        within,
    }
}
pub fn stopped(events: EventFilter, period: Duration) -> Condition {
    Condition::Stopped { events, period }
}
pub fn restarted(events: EventFilter, gap: Duration) -> Condition {
    Condition::Restarted { events, gap }
}
pub fn regularly(
    events: EventFilter,
    times: u32,
    period: Duration,
    at_least: u32,
    of_last: u32,
) -> Condition {
    Condition::Regularly {
        events,
        times,
        period,
        at_least,
        of_last,
    }
}
pub fn trait_test(pred: Pred) -> Condition {
    Condition::Trait {
        test: TraitTest { pred },
    }
}
pub fn in_segment(s: &str) -> Condition {
    Condition::InSegment { segment: name(s) }
}
pub fn rfm_score(dim: RfmDim, test: NumTest) -> Condition {
    Condition::RfmScore { dim, test }
}
pub fn rfm_in(cells: &[&str]) -> Condition {
    Condition::RfmCell {
        cells: cells.iter().map(|c| name(c)).collect(),
    }
}
pub fn predicted(model: &str, test: NumTest) -> Condition {
    Condition::Predicted {
        model: name(model),
        test,
    }
}

// ---- worlds ----

/// One step of loading data.
#[derive(Debug, Clone)]
pub enum Op {
    Push(i64, i64, String, Value),
    Trait(i64, String, Value),
    Merge(i64, i64),
    /// Packs the timelines (no change in meaning).
    Compact,
}

/// People as the reference sees them, built by applying the same steps.
#[derive(Debug, Default)]
pub struct Model {
    /// External id → canonical id.
    canon: HashMap<i64, i64>,
    people: BTreeMap<i64, RefPerson>,
}

impl Model {
    fn person(&mut self, id: i64) -> i64 {
        if let Some(c) = self.canon.get(&id) {
            return *c;
        }
        self.canon.insert(id, id);
        self.people.insert(
            id,
            RefPerson {
                id,
                ..RefPerson::default()
            },
        );
        id
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Push(p, ts, n, props) => {
                let c = self.person(*p);
                self.people.get_mut(&c).unwrap().events.push(RefEvent {
                    ts: *ts,
                    name: n.clone(),
                    props: props.clone(),
                });
            }
            Op::Trait(p, k, v) => {
                let c = self.person(*p);
                let traits = &mut self.people.get_mut(&c).unwrap().traits;
                if v.is_null() {
                    traits.remove(k);
                } else {
                    traits.insert(k.clone(), v.clone());
                }
            }
            Op::Merge(from, into) => {
                let ci = self.person(*into);
                let Some(&cf) = self.canon.get(from) else {
                    self.canon.insert(*from, ci);
                    return;
                };
                if cf == ci {
                    return;
                }
                let gone = self.people.remove(&cf).unwrap();
                let kept = self.people.get_mut(&ci).unwrap();
                kept.events.extend(gone.events);
                for (k, v) in gone.traits {
                    kept.traits.entry(k).or_insert(v);
                }
                for c in self.canon.values_mut() {
                    if *c == cf {
                        *c = ci;
                    }
                }
            }
            Op::Compact => {}
        }
    }

    pub fn people(&self) -> Vec<RefPerson> {
        self.people.values().cloned().collect()
    }
}

pub fn apply(t: &mut Timelines, op: &Op) {
    match op {
        Op::Push(p, ts, n, props) => t.push(*p, *ts, n, props).unwrap(),
        Op::Trait(p, k, v) => t.set_trait(*p, k, v.clone()).unwrap(),
        Op::Merge(from, into) => t.merge(*from, *into).unwrap(),
        Op::Compact => t.compact(),
    }
}

/// A world of people, segments and predictions, and the checks run on it.
#[derive(Debug, Default, Clone)]
pub struct Case {
    pub ops: Vec<Op>,
    pub segments: Vec<(String, Condition)>,
    pub predictions: HashMap<String, HashMap<i64, f64>>,
}

impl Case {
    pub fn new() -> Case {
        Case::default()
    }

    pub fn ev(mut self, person: i64, ts: i64, event: &str, props: Value) -> Case {
        self.ops.push(Op::Push(person, ts, event.to_owned(), props));
        self
    }

    /// An event without properties.
    pub fn at(self, person: i64, ts: i64, event: &str) -> Case {
        self.ev(person, ts, event, Value::Object(Map::new()))
    }

    pub fn set_trait(mut self, person: i64, key: &str, value: Value) -> Case {
        self.ops.push(Op::Trait(person, key.to_owned(), value));
        self
    }

    pub fn merge(mut self, from: i64, into: i64) -> Case {
        self.ops.push(Op::Merge(from, into));
        self
    }

    pub fn segment(mut self, name: &str, c: Condition) -> Case {
        self.segments.push((name.to_owned(), c));
        self
    }

    pub fn predict(mut self, model: &str, person: i64, x: f64) -> Case {
        self.predictions
            .entry(model.to_owned())
            .or_default()
            .insert(person, x);
        self
    }

    pub fn compact(mut self) -> Case {
        self.ops.push(Op::Compact);
        self
    }

    pub fn engine(&self) -> Engine {
        self.engine_with(false)
    }

    /// The engine, optionally with its timelines packed at the end.
    pub fn engine_with(&self, compact: bool) -> Engine {
        let mut t = Timelines::new();
        for op in &self.ops {
            apply(&mut t, op);
        }
        if compact {
            t.compact();
        }
        let mut e = Engine::new(t);
        for (n, c) in &self.segments {
            e.define(n, c.clone()).unwrap();
        }
        for (m, values) in &self.predictions {
            e.set_predictions(m, values.iter().map(|(k, v)| (*k, *v)));
        }
        e
    }

    /// The engine, loaded through `intern_properties` and `push_interned`
    /// (each distinct properties object interned once).
    pub fn engine_interned(&self) -> Engine {
        let mut t = Timelines::new();
        let mut ids: HashMap<String, crate::PropsId> = HashMap::new();
        for op in &self.ops {
            match op {
                Op::Push(p, ts, n, props) => {
                    let id = match ids.get(&props.to_string()) {
                        Some(id) => *id,
                        None => {
                            let id = t.intern_properties(props).unwrap();
                            ids.insert(props.to_string(), id);
                            id
                        }
                    };
                    t.push_interned(*p, *ts, n, id).unwrap();
                }
                op => apply(&mut t, op),
            }
        }
        let mut e = Engine::new(t);
        for (n, c) in &self.segments {
            e.define(n, c.clone()).unwrap();
        }
        for (m, values) in &self.predictions {
            e.set_predictions(m, values.iter().map(|(k, v)| (*k, *v)));
        }
        e
    }

    /// Members by the reference evaluator.
    pub fn reference(&self, c: &Condition, now: i64) -> Result<BTreeSet<i64>, EngineError> {
        let mut model = Model::default();
        for op in &self.ops {
            model.apply(op);
        }
        let people = model.people();
        let segments: HashMap<String, Condition> = self.segments.iter().cloned().collect();
        Reference {
            people: &people,
            segments: &segments,
            predictions: &self.predictions,
        }
        .members(c, now)
    }

    /// Members by the engine, four ways (one condition, a batch, person by
    /// person, and after packing the timelines), which must agree.
    pub fn fast(&self, c: &Condition, now: i64) -> Result<BTreeSet<i64>, EngineError> {
        let e = self.engine();
        let bitmap = e.evaluate(c, now)?;
        let packed = self.engine_with(true).evaluate(c, now)?;
        assert_eq!(packed, bitmap, "packed timelines differ");
        let members: BTreeSet<i64> = e.members(&bitmap, 0, usize::MAX).into_iter().collect();
        assert_eq!(members.len() as u64, bitmap.len());
        let batch = e.evaluate_all(&[("__case".to_owned(), c.clone())], now)?;
        assert_eq!(batch[0].1, bitmap, "evaluate_all differs from evaluate");
        for (_, id) in e.timelines().people() {
            assert_eq!(
                e.holds(id, c, now)?,
                members.contains(&id),
                "holds({id}) differs from evaluate"
            );
        }
        Ok(members)
    }

    /// Members of `c` at `now` in the given engine (built from this case by
    /// other means), checked against its single-person answers.
    pub fn fast_with(
        &self,
        e: &Engine,
        c: &Condition,
        now: i64,
    ) -> Result<BTreeSet<i64>, EngineError> {
        let bitmap = e.evaluate(c, now)?;
        let members: BTreeSet<i64> = e.members(&bitmap, 0, usize::MAX).into_iter().collect();
        for (_, id) in e.timelines().people() {
            assert_eq!(e.holds(id, c, now)?, members.contains(&id), "holds({id})");
        }
        Ok(members)
    }

    /// Both evaluators give `expected`.
    #[track_caller]
    pub fn check(&self, c: Condition, now: i64, expected: &[i64]) {
        let expected: BTreeSet<i64> = expected.iter().copied().collect();
        let reference = self.reference(&c, now).unwrap();
        assert_eq!(reference, expected, "reference evaluator, condition {c:?}");
        let fast = self.fast(&c, now).unwrap();
        assert_eq!(fast, expected, "engine, condition {c:?}");
    }

    /// Both evaluators fail with `code`.
    #[track_caller]
    pub fn check_error(&self, c: Condition, now: i64, code: &str) {
        assert_eq!(self.reference(&c, now).unwrap_err().code(), code);
        assert_eq!(self.fast(&c, now).unwrap_err().code(), code);
    }
}

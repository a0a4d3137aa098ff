//! The reference evaluator: the meaning of every condition, written as plainly
//! as possible over plain data (events as JSON, traits as a JSON object). It is
//! slow on purpose and serves as the oracle the fast engine (and any other
//! evaluator, such as SQL) is tested against.
//!
//! Shared rules:
//!
//! - Only events at or before `now` are seen. Events are taken in time order,
//!   equal times in the order given.
//! - A property path names values by joining keys with `.`; arrays on the way
//!   or at the end contribute each element (see [`resolve`]). `null` is absent.
//! - A predicate on a path holds when *some* value there satisfies it; a
//!   missing property satisfies nothing (`!=` included). `exists`: some value.
//! - `=` / `!=` / `in` compare typed values: numbers numerically, strings and
//!   booleans exactly; values of different types are unequal. `< <= > >=` hold
//!   for two numbers or two strings (byte-wise); for anything else they fail.
//! - `contains`: element equality for a value that is an element of an array
//!   ending the path, substring for a plain string value.
//! - Aggregates use numeric values only; no values: `sum` is 0, `avg`, `min`,
//!   `max` are absent and the test fails. `distinct` and `top` count string,
//!   number and boolean values (objects are skipped); `top` breaks ties by the
//!   value seen most recently (later events, then later array elements).
//! - RFM as documented in [`crate::rfm`]; predictions as given, a missing value
//!   fails the test.

use std::collections::{BTreeSet, HashMap};

use seglab_lang::ast::{
    AggFunc, CmpOp, Condition, EventFilter, EventQuery, Family, Literal, Pred, RfmDim, TimeTest,
    Window,
};
use serde_json::{Map, Value};

use crate::EngineError;
use crate::rfm::{ORDER_EVENT, REVENUE_PROPERTY, RFM_CELLS, quintile, rfm_cell};

/// One event as tracked.
#[derive(Debug, Clone, PartialEq)]
pub struct RefEvent {
    pub ts: i64,
    pub name: String,
    pub props: Value,
}

/// One person: events in arrival order, traits as an object.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefPerson {
    pub id: i64,
    pub events: Vec<RefEvent>,
    pub traits: Map<String, Value>,
}

/// Everything a condition can look at.
#[derive(Debug, Clone, Copy)]
pub struct Reference<'a> {
    pub people: &'a [RefPerson],
    /// Segment definitions, for `in segment`.
    pub segments: &'a HashMap<String, Condition>,
    /// Model name → person id → predicted value.
    pub predictions: &'a HashMap<String, HashMap<i64, f64>>,
}

/// The values at `path` in a properties object, each with whether it is an
/// element of an array that ends the path.
pub fn resolve<'v>(object: &'v Map<String, Value>, path: &str) -> Vec<(&'v Value, bool)> {
    fn lookup<'v>(m: &'v Map<String, Value>, path: &str, out: &mut Vec<(&'v Value, bool)>) {
        for (k, v) in m {
            if path == k {
                terminal(v, false, out);
            } else if let Some(rest) = path
                .strip_prefix(k.as_str())
                .and_then(|r| r.strip_prefix('.'))
            {
                descend(v, rest, out);
            }
        }
    }
    fn terminal<'v>(v: &'v Value, in_array: bool, out: &mut Vec<(&'v Value, bool)>) {
        match v {
            Value::Null => {}
            Value::Array(items) => items.iter().for_each(|e| terminal(e, true, out)),
            _ => out.push((v, in_array)),
        }
    }
    fn descend<'v>(v: &'v Value, rest: &str, out: &mut Vec<(&'v Value, bool)>) {
        match v {
            Value::Object(m) => lookup(m, rest, out),
            Value::Array(items) => items.iter().for_each(|e| descend(e, rest, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    lookup(object, path, &mut out);
    out
}

fn literal_eq(v: &Value, lit: &Literal) -> bool {
    match (v, lit) {
        (Value::String(s), Literal::String(l)) => s == l,
        (Value::Number(n), Literal::Number(x)) => n.as_f64() == Some(*x),
        (Value::Bool(b), Literal::Bool(c)) => b == c,
        _ => false,
    }
}

fn compare(v: &Value, op: CmpOp, lit: &Literal) -> bool {
    match op {
        CmpOp::Eq => literal_eq(v, lit),
        CmpOp::Ne => !literal_eq(v, lit),
        _ => match (v, lit) {
            (Value::Number(n), Literal::Number(x)) => n
                .as_f64()
                .and_then(|n| n.partial_cmp(x))
                .is_some_and(|o| op.holds(o)),
            (Value::String(s), Literal::String(l)) => op.holds(s.as_str().cmp(l.as_str())),
            _ => false,
        },
    }
}

/// Whether a property predicate holds on a properties (or traits) object.
pub fn pred_holds(p: &Pred, object: &Map<String, Value>) -> bool {
    match p {
        Pred::Cmp { path, op, value } => resolve(object, &path.text)
            .iter()
            .any(|(v, _)| compare(v, *op, value)),
        Pred::In { path, values } => resolve(object, &path.text)
            .iter()
            .any(|(v, _)| values.iter().any(|l| literal_eq(v, l))),
        Pred::Contains { path, value } => {
            resolve(object, &path.text)
                .iter()
                .any(|(v, in_array)| match (v, value) {
                    _ if *in_array => literal_eq(v, value),
                    (Value::String(s), Literal::String(l)) => s.contains(l.as_str()),
                    _ => false,
                })
        }
        Pred::StartsWith { path, value } => resolve(object, &path.text)
            .iter()
            .any(|(v, _)| matches!(v, Value::String(s) if s.starts_with(value.as_str()))),
        Pred::Exists { path } => !resolve(object, &path.text).is_empty(),
        Pred::And { all } => all.iter().all(|p| pred_holds(p, object)),
        Pred::Or { any } => any.iter().any(|p| pred_holds(p, object)),
        Pred::Not { pred } => !pred_holds(pred, object),
    }
}

fn props(e: &RefEvent) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    match &e.props {
        Value::Object(m) => m,
        _ => EMPTY.get_or_init(Map::new),
    }
}

fn filter_matches(e: &RefEvent, f: &EventFilter) -> bool {
    e.name == f.event.text && f.filter.as_ref().is_none_or(|p| pred_holds(p, props(e)))
}

fn in_window(t: i64, w: Option<&Window>, now: i64) -> bool {
    let (t, now) = (i128::from(t), i128::from(now));
    t <= now
        && match w {
            None => true,
            Some(Window::Last { duration }) => now - duration.exact_millis() <= t,
            Some(Window::Between { start, end }) => i128::from(*start) <= t && t < i128::from(*end),
        }
}

fn query_matches(e: &RefEvent, q: &EventQuery, now: i64) -> bool {
    in_window(e.ts, q.window.as_ref(), now) && filter_matches(e, &q.events)
}

fn time_holds(t: i64, test: &TimeTest, now: i64) -> bool {
    let (t, now) = (i128::from(t), i128::from(now));
    match test {
        TimeTest::InLast { duration } => now - duration.exact_millis() <= t && t <= now,
        TimeTest::Before { duration } => t < now - duration.exact_millis(),
        TimeTest::Between { start, end } => i128::from(*start) <= t && t < i128::from(*end),
    }
}

/// A value `distinct` and `top` can count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Str(String),
    Num(u64),
    Bool(bool),
}

impl Key {
    /// Booleans, then numbers, then strings; each by value.
    fn order(&self, other: &Key) -> std::cmp::Ordering {
        fn rank(k: &Key) -> u8 {
            match k {
                Key::Bool(_) => 0,
                Key::Num(_) => 1,
                Key::Str(_) => 2,
            }
        }
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Num(a), Key::Num(b)) => f64::from_bits(*a).total_cmp(&f64::from_bits(*b)),
            (Key::Str(a), Key::Str(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

fn key_of(v: &Value) -> Option<Key> {
    match v {
        Value::String(s) => Some(Key::Str(s.clone())),
        Value::Number(n) => n.as_f64().map(|x| Key::Num((x + 0.0).to_bits())),
        Value::Bool(b) => Some(Key::Bool(*b)),
        _ => None,
    }
}

fn literal_key(l: &Literal) -> Key {
    match l {
        Literal::String(s) => Key::Str(s.clone()),
        Literal::Number(x) => Key::Num((x + 0.0).to_bits()),
        Literal::Bool(b) => Key::Bool(*b),
    }
}

/// A person with events sorted by time (stable) and RFM scores.
struct Subject<'a> {
    person: &'a RefPerson,
    events: Vec<&'a RefEvent>,
    rfm: Option<[u8; 3]>,
}

impl<'a> Reference<'a> {
    /// The ids of the people for whom `condition` holds at `now`.
    pub fn members(&self, condition: &Condition, now: i64) -> Result<BTreeSet<i64>, EngineError> {
        self.validate(condition, &mut Vec::new())?;
        let rfm = self.rfm(now);
        let mut out = BTreeSet::new();
        for (i, person) in self.people.iter().enumerate() {
            let mut events: Vec<&RefEvent> = person.events.iter().collect();
            events.sort_by_key(|e| e.ts);
            let s = Subject {
                person,
                events,
                rfm: rfm[i],
            };
            if self.holds(&s, condition, now) {
                out.insert(person.id);
            }
        }
        Ok(out)
    }

    /// Unknown segments, cycles and unknown RFM cells are errors, whether or
    /// not evaluation would reach them.
    fn validate(&self, c: &Condition, stack: &mut Vec<String>) -> Result<(), EngineError> {
        match c {
            Condition::And { all: cs } | Condition::Or { any: cs } => {
                cs.iter().try_for_each(|c| self.validate(c, stack))
            }
            Condition::Not { condition } => self.validate(condition, stack),
            Condition::InSegment { segment } => {
                let name = &segment.text;
                if let Some(at) = stack.iter().position(|s| s == name) {
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(name.clone());
                    return Err(EngineError::SegmentCycle { cycle });
                }
                let def = self
                    .segments
                    .get(name)
                    .ok_or_else(|| EngineError::UnknownSegment { name: name.clone() })?;
                stack.push(name.clone());
                self.validate(def, stack)?;
                stack.pop();
                Ok(())
            }
            Condition::RfmCell { cells } => {
                match cells.iter().find(|c| !RFM_CELLS.contains(&c.text.as_str())) {
                    Some(c) => Err(EngineError::UnknownRfmCell {
                        name: c.text.clone(),
                    }),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// RFM scores of each person (by position), `None` for non-buyers.
    fn rfm(&self, now: i64) -> Vec<Option<[u8; 3]>> {
        // (last order time, order count, revenue) per buyer.
        let stats: Vec<Option<(i64, u64, f64)>> = self
            .people
            .iter()
            .map(|p| {
                let mut orders: Vec<&RefEvent> = p
                    .events
                    .iter()
                    .filter(|e| e.name == ORDER_EVENT && e.ts <= now)
                    .collect();
                orders.sort_by_key(|e| e.ts);
                let last = orders.last()?.ts;
                let revenue = orders
                    .iter()
                    .flat_map(|e| resolve(props(e), REVENUE_PROPERTY))
                    .filter_map(|(v, _)| v.as_f64())
                    .fold(0.0, |a, b| a + b);
                Some((last, orders.len() as u64, revenue))
            })
            .collect();
        let buyers: Vec<(i64, u64, f64)> = stats.iter().flatten().copied().collect();
        let n = buyers.len();
        stats
            .iter()
            .map(|s| {
                let (last, count, revenue) = (*s)?;
                let r = buyers.iter().filter(|b| b.0 < last).count();
                let f = buyers.iter().filter(|b| b.1 < count).count();
                let m = buyers.iter().filter(|b| b.2 < revenue).count();
                Some([quintile(r, n), quintile(f, n), quintile(m, n)])
            })
            .collect()
    }

    fn seen<'s>(&self, s: &'s Subject<'a>, now: i64) -> impl Iterator<Item = &'a RefEvent> + 's {
        s.events.iter().copied().filter(move |e| e.ts <= now)
    }

    fn holds(&self, s: &Subject<'a>, c: &Condition, now: i64) -> bool {
        match c.family() {
            Family::Logic => self.logic(s, c, now),
            Family::Counting => self.counting(s, c, now),
            Family::Sequence => self.sequence(s, c, now),
            Family::Pattern => self.pattern(s, c, now),
            Family::Profile => self.profile(s, c),
        }
    }

    /// `and`, `or`, `not` and `in segment`.
    fn logic(&self, s: &Subject<'a>, c: &Condition, now: i64) -> bool {
        match c {
            Condition::And { all } => all.iter().all(|c| self.holds(s, c, now)),
            Condition::Or { any } => any.iter().any(|c| self.holds(s, c, now)),
            Condition::Not { condition } => !self.holds(s, condition, now),
            Condition::InSegment { segment } => {
                // Validated before evaluation: defined, no cycles.
                self.segments
                    .get(&segment.text)
                    .is_some_and(|def| self.holds(s, def, now))
            }
            _ => unreachable!("not a logic condition"),
        }
    }

    /// Traits, RFM scores and cells, and model outputs.
    fn profile(&self, s: &Subject<'a>, c: &Condition) -> bool {
        match c {
            Condition::Trait { test } => pred_holds(&test.pred, &s.person.traits),
            Condition::RfmScore { dim, test } => s.rfm.is_some_and(|[r, f, m]| {
                let score = match dim {
                    RfmDim::R => r,
                    RfmDim::F => f,
                    RfmDim::M => m,
                };
                test.holds(f64::from(score))
            }),
            Condition::RfmCell { cells } => s.rfm.is_some_and(|[r, f, _]| {
                let cell = rfm_cell(r, f);
                cells.iter().any(|c| c.text == cell)
            }),
            Condition::Predicted { model, test } => self
                .predictions
                .get(&model.text)
                .and_then(|m| m.get(&s.person.id))
                .is_some_and(|x| test.holds(*x)),
            _ => unreachable!("not a profile condition"),
        }
    }

    /// `did`, `count`, aggregates, `distinct` and `top`.
    fn counting(&self, s: &Subject<'a>, c: &Condition, now: i64) -> bool {
        match c {
            Condition::Did { query } => self.seen(s, now).any(|e| query_matches(e, query, now)),
            Condition::Count { query, test } => {
                let n = self
                    .seen(s, now)
                    .filter(|e| query_matches(e, query, now))
                    .count();
                test.holds(n as f64)
            }
            Condition::Aggregate {
                func,
                query,
                property,
                test,
            } => {
                let values: Vec<f64> = self
                    .seen(s, now)
                    .filter(|e| query_matches(e, query, now))
                    .flat_map(|e| resolve(props(e), &property.text))
                    .filter_map(|(v, _)| v.as_f64())
                    .collect();
                let sum = values.iter().fold(0.0, |a, b| a + b);
                let result = match func {
                    AggFunc::Sum => Some(sum),
                    AggFunc::Avg => (!values.is_empty()).then(|| sum / values.len() as f64),
                    AggFunc::Min => values
                        .iter()
                        .copied()
                        .reduce(|a, b| if b < a { b } else { a }),
                    AggFunc::Max => values
                        .iter()
                        .copied()
                        .reduce(|a, b| if b > a { b } else { a }),
                };
                result.is_some_and(|x| test.holds(x))
            }
            Condition::Distinct {
                query,
                property,
                test,
            } => {
                let keys: std::collections::HashSet<Key> = self
                    .seen(s, now)
                    .filter(|e| query_matches(e, query, now))
                    .flat_map(|e| resolve(props(e), &property.text))
                    .filter_map(|(v, _)| key_of(v))
                    .collect();
                test.holds(keys.len() as f64)
            }
            Condition::Top {
                query,
                property,
                value,
            } => {
                // value → (occurrences, time of the latest)
                let mut counts: HashMap<Key, (u64, i64)> = HashMap::new();
                for e in self.seen(s, now).filter(|e| query_matches(e, query, now)) {
                    for (v, _) in resolve(props(e), &property.text) {
                        if let Some(key) = key_of(v) {
                            let c = counts.entry(key).or_insert((0, e.ts));
                            c.0 += 1;
                            c.1 = c.1.max(e.ts);
                        }
                    }
                }
                counts
                    .into_iter()
                    .max_by(|(ka, a), (kb, b)| a.cmp(b).then_with(|| ka.order(kb)))
                    .is_some_and(|(k, _)| k == literal_key(value))
            }
            _ => unreachable!("not a counting condition"),
        }
    }

    /// `first`, `last`, `then` and `then not`.
    fn sequence(&self, s: &Subject<'a>, c: &Condition, now: i64) -> bool {
        match c {
            Condition::First { events, time } => self
                .seen(s, now)
                .find(|e| events.as_ref().is_none_or(|f| filter_matches(e, f)))
                .is_some_and(|e| time_holds(e.ts, time, now)),
            Condition::Last { events, time } => self
                .seen(s, now)
                .filter(|e| events.as_ref().is_none_or(|f| filter_matches(e, f)))
                .last()
                .is_some_and(|e| time_holds(e.ts, time, now)),
            Condition::Then {
                first,
                then,
                within,
            } => {
                let t = within.exact_millis();
                self.seen(s, now)
                    .filter(|a| query_matches(a, first, now))
                    .any(|a| {
                        self.seen(s, now).any(|b| {
                            filter_matches(b, then)
                                && a.ts < b.ts
                                && i128::from(b.ts) <= i128::from(a.ts) + t
                        })
                    })
            }
            Condition::ThenNot {
                first,
                then,
                within: Some(within),
            } => {
                let t = within.exact_millis();
                self.seen(s, now)
                    .filter(|a| query_matches(a, first, now))
                    .any(|a| {
                        i128::from(a.ts) + t <= i128::from(now)
                            && !self.seen(s, now).any(|b| {
                                filter_matches(b, then)
                                    && a.ts < b.ts
                                    && i128::from(b.ts) <= i128::from(a.ts) + t
                            })
                    })
            }
            Condition::ThenNot {
                first,
                then,
                within: None,
            } => {
                let latest = self
                    .seen(s, now)
                    .filter(|a| query_matches(a, first, now))
                    .last();
                latest.is_some_and(|a| {
                    !self
                        .seen(s, now)
                        .any(|b| filter_matches(b, then) && b.ts > a.ts)
                })
            }
            _ => unreachable!("not a sequence condition"),
        }
    }

    /// `stopped`, `restarted` and `regularly`.
    fn pattern(&self, s: &Subject<'a>, c: &Condition, now: i64) -> bool {
        match c {
            Condition::Stopped { events, period } => {
                let (d, now) = (period.exact_millis(), i128::from(now));
                let count_in = |lo: i128, hi_excl: i128| {
                    s.events.iter().any(|e| {
                        let t = i128::from(e.ts);
                        filter_matches(e, events) && lo <= t && t < hi_excl
                    })
                };
                count_in(now - 2 * d, now - d) && !count_in(now - d, now + 1)
            }
            Condition::Restarted { events, gap } => {
                let (d, now) = (gap.exact_millis(), i128::from(now));
                let any_in = |lo: i128, hi_excl: i128| {
                    s.events.iter().any(|e| {
                        let t = i128::from(e.ts);
                        filter_matches(e, events) && lo <= t && t < hi_excl
                    })
                };
                any_in(now - d, now + 1)
                    && !any_in(now - 2 * d, now - d)
                    && any_in(i128::MIN, now - 2 * d)
            }
            Condition::Regularly {
                events,
                times,
                period,
                at_least,
                of_last,
            } => {
                let (p, now) = (period.exact_millis(), i128::from(now));
                let qualifying = (0..i128::from(*of_last))
                    .filter(|&i| {
                        let (lo, hi_excl) = if i == 0 {
                            (now - p, now + 1)
                        } else {
                            (now - (i + 1) * p, now - i * p)
                        };
                        let n = s
                            .events
                            .iter()
                            .filter(|e| {
                                let t = i128::from(e.ts);
                                filter_matches(e, events) && lo <= t && t < hi_excl
                            })
                            .count();
                        n >= *times as usize
                    })
                    .count();
                qualifying >= *at_least as usize
            }
            _ => unreachable!("not a pattern condition"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn resolve_walks_objects_and_arrays() {
        let m = obj(json!({
            "a": {"b": [1, [2, null]]},
            "products": [{"category": "shoes"}, {"category": ["x"]}],
            "a.b": 3,
            "n": null
        }));
        let got: Vec<(Value, bool)> = resolve(&m, "a.b")
            .into_iter()
            .map(|(v, f)| (v.clone(), f))
            .collect();
        assert_eq!(
            got,
            vec![(json!(1), true), (json!(2), true), (json!(3), false)]
        );
        let cats: Vec<(Value, bool)> = resolve(&m, "products.category")
            .into_iter()
            .map(|(v, f)| (v.clone(), f))
            .collect();
        assert_eq!(cats, vec![(json!("shoes"), false), (json!("x"), true)]);
        assert!(resolve(&m, "n").is_empty());
        assert_eq!(resolve(&m, "a").len(), 1);
        assert!(resolve(&m, "a.c").is_empty());
    }

    #[test]
    fn predicates_on_types_and_arrays() {
        let m = obj(json!({"s": "shoes", "n": 5, "tags": ["sale", "new"], "b": true}));
        let p = |v: Value| -> Pred { serde_json::from_value(v).unwrap() };
        let holds = |v: Value| pred_holds(&p(v), &m);
        assert!(holds(
            json!({"kind": "cmp", "path": {"text": "n"}, "op": ">=", "value": 5.0})
        ));
        assert!(!holds(
            json!({"kind": "cmp", "path": {"text": "n"}, "op": "=", "value": "5"})
        ));
        assert!(holds(
            json!({"kind": "cmp", "path": {"text": "n"}, "op": "!=", "value": "5"})
        ));
        assert!(!holds(
            json!({"kind": "cmp", "path": {"text": "zz"}, "op": "!=", "value": "5"})
        ));
        assert!(!holds(
            json!({"kind": "cmp", "path": {"text": "b"}, "op": "<", "value": true})
        ));
        assert!(holds(
            json!({"kind": "contains", "path": {"text": "s"}, "value": "hoe"})
        ));
        assert!(!holds(
            json!({"kind": "contains", "path": {"text": "tags"}, "value": "sal"})
        ));
        assert!(holds(
            json!({"kind": "contains", "path": {"text": "tags"}, "value": "sale"})
        ));
        assert!(holds(
            json!({"kind": "starts_with", "path": {"text": "tags"}, "value": "ne"})
        ));
        assert!(holds(
            json!({"kind": "in", "path": {"text": "tags"}, "values": ["x", "new"]})
        ));
        assert!(holds(json!({"kind": "exists", "path": {"text": "tags"}})));
        assert!(holds(
            json!({"kind": "not", "pred": {"kind": "exists", "path": {"text": "t"}}})
        ));
    }
}

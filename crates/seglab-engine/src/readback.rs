//! Reading a person's events and traits back as JSON.
//!
//! Properties are stored flattened (see [`crate::props`]), so the JSON given
//! back is rebuilt from the `(path, value)` pairs: objects from the paths
//! that hold objects, arrays from values marked as array elements. It
//! flattens to the same pairs, so every condition means the same on it as on
//! what was tracked; what flattening forgets cannot come back: which element
//! of an array of objects held which values (they are given to the elements
//! in order), empty arrays and `null`s, nested arrays (flattened), and a key
//! with a `.` beside an object of the same path.

use serde::Serialize;
use serde_json::{Map, Number, Value};

use crate::props::{Dictionary, OBJECT, Pair, Scalar, values_of};
use crate::timeline::{Timelines, name_bit};

/// One event of a person's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    /// Epoch milliseconds.
    pub time: i64,
    pub name: String,
    /// The properties, rebuilt (see the module docs of `readback`).
    pub properties: Value,
}

impl Timelines {
    /// A person's events in time order, with their properties as JSON (empty
    /// for an unknown person; merged ids give the merged timeline).
    pub fn person_events(&self, person: i64) -> Vec<TimelineEvent> {
        let Some(index) = self.index_of(person) else {
            return Vec::new();
        };
        self.events(index)
            .iter()
            .map(|e| TimelineEvent {
                time: e.ts(),
                name: self.names.resolve(e.name()).to_owned(),
                properties: set_to_json(&self.dict, self.set(e.props())),
            })
            .collect()
    }

    /// Calls `f(person, time, properties)` for every event named `name` at or
    /// after `since`, person after person (for summaries over everyone, such
    /// as best-sellers; properties are rebuilt only for matching events).
    pub fn for_each_named(&self, name: &str, since: i64, f: impl FnMut(i64, i64, Value)) {
        self.for_each_named_in(name, since, 0..self.index_len(), f);
    }

    /// [`Timelines::for_each_named`] over the people whose indexes are in
    /// `indexes` (below [`Timelines::index_len`]): a reader that must not
    /// hold the timelines for long reads them a range at a time.
    pub fn for_each_named_in(
        &self,
        name: &str,
        since: i64,
        indexes: std::ops::Range<usize>,
        mut f: impl FnMut(i64, i64, Value),
    ) {
        let Some(id) = self.names.get(name) else {
            return;
        };
        let end = indexes.end.min(self.index_len());
        for index in indexes.start.min(end)..end {
            let index = index as u32;
            let Some(person) = self.external_id(index) else {
                continue;
            };
            for e in self.events(index) {
                if e.name() == id && e.ts() >= since {
                    f(person, e.ts(), set_to_json(&self.dict, self.set(e.props())));
                }
            }
        }
    }

    /// Calls `f(person, time, value)` for every event named `name` at or
    /// after `since`, person after person, with the sum of the numeric values
    /// of `property` (`None`: the event has no numeric value there, or no
    /// property was asked for). Unlike [`Timelines::for_each_named`] it builds
    /// no JSON and skips people who never sent `name`: for sums over everyone
    /// (revenue, orders, emails).
    pub fn for_each_number(
        &self,
        name: &str,
        property: Option<&str>,
        since: i64,
        mut f: impl FnMut(i64, i64, Option<f64>),
    ) {
        let Some(id) = self.names.get(name) else {
            return;
        };
        let key = property.and_then(|p| self.dict.keys.get(p));
        for (index, person) in self.people() {
            if self.persons[index as usize].names & name_bit(id) == 0 {
                continue;
            }
            let events = self.events(index);
            let from = events.partition_point(|e| e.ts() < since);
            for e in events[from..].iter().filter(|e| e.name() == id) {
                let value = key.and_then(|k| {
                    let mut sum = None;
                    for v in values_of(self.set(e.props()), k) {
                        if let Scalar::Num(x) = self.dict.scalar(v.value) {
                            *sum.get_or_insert(0.0) += x;
                        }
                    }
                    sum
                });
                f(person, e.ts(), value);
            }
        }
    }

    /// The time of the latest event named `name` at or before `now`, of
    /// anyone (`None`: there is none). People whose latest event of any name
    /// is not later than what was found already are skipped unread.
    pub fn last_time_of(&self, name: &str, now: i64) -> Option<i64> {
        let id = self.names.get(name)?;
        let mut best: Option<i64> = None;
        for (index, _) in self.people() {
            let p = &self.persons[index as usize];
            if p.names & name_bit(id) == 0 || best.is_some_and(|b| p.last <= b) {
                continue;
            }
            let events = self.events(index);
            let visible = &events[..events.partition_point(|e| e.ts() <= now)];
            if let Some(e) = visible.iter().rev().find(|e| e.name() == id) {
                best = Some(best.map_or(e.ts(), |b| b.max(e.ts())));
            }
        }
        best
    }

    /// The time of every person's first event, person after person (people
    /// with traits only are left out): how many people were known at an
    /// instant, for shares over time.
    pub fn first_seen_times(&self) -> Vec<i64> {
        self.people()
            .filter_map(|(index, _)| self.events(index).first().map(|e| e.ts()))
            .collect()
    }

    /// A person's traits as one JSON object (empty for an unknown person).
    pub fn person_traits(&self, person: i64) -> Map<String, Value> {
        let mut out = Map::new();
        let Some(index) = self.index_of(person) else {
            return out;
        };
        for t in self.persons[index as usize].traits.iter() {
            if let Value::Object(m) = set_to_json(&self.dict, self.dict.set(t.set)) {
                out.extend(m);
            }
        }
        out
    }
}

fn scalar_json(dict: &Dictionary, value: u32) -> Value {
    match dict.scalar(value) {
        Scalar::Str(s) => Value::String(s.to_owned()),
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Num(x) => {
            if x.fract() == 0.0 && x.abs() < 9.0e15 {
                Value::Number(Number::from(x as i64))
            } else {
                Number::from_f64(x).map_or(Value::Null, Value::Number)
            }
        }
        Scalar::Object => Value::Object(Map::new()),
    }
}

/// The JSON object of a property set (see the module docs).
pub(crate) fn set_to_json(dict: &Dictionary, set: &[Pair]) -> Value {
    // Each path with its values, in the set's order (by path, then document).
    let mut paths: Vec<(&str, Vec<Pair>)> = Vec::new();
    for &p in set {
        let path = dict.keys.resolve(p.path());
        match paths.last_mut() {
            Some((last, values)) if *last == path => values.push(p),
            _ => paths.push((path, vec![p])),
        }
    }
    let objects = |values: &[Pair]| values.iter().filter(|p| p.value == OBJECT).count();
    // The parent of a path: the longest proper prefix holding objects.
    let parent = |path: &str| -> Option<usize> {
        path.match_indices('.').rev().find_map(|(i, _)| {
            paths
                .iter()
                .position(|(p, v)| *p == &path[..i] && objects(v) > 0)
        })
    };
    // Per path, the objects at it, filled with their children first (longer
    // paths first), then placed in their parent's objects.
    let mut maps: Vec<Vec<Map<String, Value>>> = paths
        .iter()
        .map(|(_, v)| vec![Map::new(); objects(v)])
        .collect();
    let mut root = vec![Map::new()];
    let mut order: Vec<usize> = (0..paths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(paths[i].0.len()));
    for i in order {
        let (path, values) = &paths[i];
        let own = std::mem::take(&mut maps[i]);
        let (key, target) = match parent(path) {
            Some(q) => (&path[paths[q].0.len() + 1..], &mut maps[q]),
            None => (*path, &mut root),
        };
        place(dict, key, values, own, target);
    }
    Value::Object(root.pop().unwrap_or_default())
}

/// Gives the values of one key to the parent objects in order: a plain value
/// takes the next object without the key, array elements join the current
/// object's array.
fn place(
    dict: &Dictionary,
    key: &str,
    values: &[Pair],
    own: Vec<Map<String, Value>>,
    parents: &mut [Map<String, Value>],
) {
    let mut own = own.into_iter();
    let mut j = 0;
    let last = parents.len().saturating_sub(1);
    for p in values {
        let v = if p.value == OBJECT {
            Value::Object(own.next().unwrap_or_default())
        } else {
            scalar_json(dict, p.value)
        };
        let has = |m: &Map<String, Value>| m.get(key).map(|v| v.is_array());
        if p.in_array() {
            if has(&parents[j]) == Some(false) && j < last {
                j += 1;
            }
        } else if has(&parents[j]).is_some() && j < last {
            j += 1;
        }
        let m = &mut parents[j];
        match m.get_mut(key) {
            None if !p.in_array() => {
                m.insert(key.to_owned(), v);
            }
            None => {
                m.insert(key.to_owned(), Value::Array(vec![v]));
            }
            Some(Value::Array(items)) => items.push(v),
            Some(other) => {
                let first = other.take();
                *other = Value::Array(vec![first, v]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reading_named_events_a_range_at_a_time_reads_each_once() {
        let mut t = Timelines::new();
        for i in 0..300i64 {
            let name = if i % 3 == 0 {
                "Order Completed"
            } else {
                "Page Viewed"
            };
            t.push(i % 37, 1_000 + i, name, &json!({"n": i})).unwrap();
        }
        t.merge(5, 6).unwrap();
        let mut whole = Vec::new();
        t.for_each_named("Order Completed", 1_030, |p, ts, v| whole.push((p, ts, v)));
        let mut ranged = Vec::new();
        for start in (0..t.index_len()).step_by(4) {
            t.for_each_named_in("Order Completed", 1_030, start..start + 4, |p, ts, v| {
                ranged.push((p, ts, v))
            });
        }
        assert_eq!(whole.len(), 90);
        assert_eq!(whole, ranged);
        let mut past_the_end = 0;
        t.for_each_named_in("Order Completed", 0, 1_000..2_000, |_, _, _| {
            past_the_end += 1
        });
        assert_eq!(past_the_end, 0);
    }

    fn round_trip(v: Value) -> Value {
        let mut d = Dictionary::default();
        let set = d.intern_object(&v).unwrap();
        let back = set_to_json(&d, d.set(set));
        let again = d.intern_object(&back).unwrap();
        assert_eq!(set, again, "{v} came back as {back}");
        back
    }

    #[test]
    fn properties_come_back() {
        for v in [
            json!({}),
            json!({"a": 1, "b": "x", "c": true, "d": 2.5, "e": -3}),
            json!({"tags": ["x", "y"], "one": ["z"]}),
            json!({"o": {"p": {"q": 1}, "r": [1, "s"]}, "empty": {}}),
            json!({"products": [{"c": "s", "n": 1}, {"c": "t"}, {"n": 3}]}),
            json!({"items": [{"cat": "x", "price": 2}, {"cat": "y", "price": 1}], "k": "x"}),
            json!({"o": [{"p": ["x", 2]}, {"p": "y"}]}),
        ] {
            round_trip(v);
        }
        assert_eq!(
            round_trip(json!({"a": {"b": [1, 2]}, "n": 10})),
            json!({"a": {"b": [1, 2]}, "n": 10})
        );
        assert_eq!(
            round_trip(json!({"x": [[1], []], "y": null})),
            json!({"x": [1]})
        );
    }

    #[test]
    fn numbers_of_named_events_without_json() {
        let mut tl = Timelines::new();
        tl.push(1, 10, "Order Completed", &json!({"revenue": 5}))
            .unwrap();
        tl.push(1, 20, "Order Completed", &json!({"revenue": "x"}))
            .unwrap();
        tl.push(2, 30, "Order Completed", &json!({"revenue": [1, 2.5]}))
            .unwrap();
        tl.push(2, 5, "Page Viewed", &json!({})).unwrap();
        tl.push(3, 40, "Page Viewed", &json!({})).unwrap();
        let mut seen = Vec::new();
        tl.for_each_number("Order Completed", Some("revenue"), 10, |p, t, v| {
            seen.push((p, t, v))
        });
        assert_eq!(
            seen,
            vec![(1, 10, Some(5.0)), (1, 20, None), (2, 30, Some(3.5))]
        );
        seen.clear();
        tl.for_each_number("Order Completed", None, 15, |p, t, v| seen.push((p, t, v)));
        assert_eq!(seen, vec![(1, 20, None), (2, 30, None)]);
        tl.for_each_number("Nothing", None, 0, |_, _, _| panic!("no such event"));
        let mut first = tl.first_seen_times();
        first.sort_unstable();
        assert_eq!(first, vec![5, 10, 40]);
        assert_eq!(tl.last_time_of("Order Completed", 100), Some(30));
        assert_eq!(tl.last_time_of("Order Completed", 25), Some(20));
        assert_eq!(tl.last_time_of("Order Completed", 9), None);
        assert_eq!(tl.last_time_of("Page Viewed", 100), Some(40));
        assert_eq!(tl.last_time_of("Nothing", 100), None);
    }
}

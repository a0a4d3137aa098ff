//! What the checker knows about a workspace: events and their properties,
//! traits, saved segments and models.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ast::{Condition, File};

/// The kind of a JSON value seen in a property or trait (`null` has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    /// A JSON string.
    String,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Bool,
    /// A JSON array.
    Array,
    /// A JSON object.
    Object,
}

impl ValueKind {
    /// Every kind.
    pub const ALL: [ValueKind; 5] = [
        ValueKind::String,
        ValueKind::Number,
        ValueKind::Bool,
        ValueKind::Array,
        ValueKind::Object,
    ];

    /// The kind of a JSON value; `None` for `null`.
    pub fn of(value: &Value) -> Option<ValueKind> {
        match value {
            Value::Null => None,
            Value::Bool(_) => Some(ValueKind::Bool),
            Value::Number(_) => Some(ValueKind::Number),
            Value::String(_) => Some(ValueKind::String),
            Value::Array(_) => Some(ValueKind::Array),
            Value::Object(_) => Some(ValueKind::Object),
        }
    }

    /// The plural, for messages: `strings`, `numbers`, …
    pub fn plural(self) -> &'static str {
        match self {
            ValueKind::String => "strings",
            ValueKind::Number => "numbers",
            ValueKind::Bool => "booleans",
            ValueKind::Array => "arrays",
            ValueKind::Object => "objects",
        }
    }

    fn bit(self) -> u8 {
        match self {
            ValueKind::String => 1,
            ValueKind::Number => 2,
            ValueKind::Bool => 4,
            ValueKind::Array => 8,
            ValueKind::Object => 16,
        }
    }
}

/// A set of [`ValueKind`]s: every kind a property has been seen with. As JSON,
/// a list such as `["number", "string"]`.
///
/// A property seen as an array also holds the kinds of the array's elements
/// (so `tags` seen as `["a", "b"]` is `array` and `string`): predicates match
/// an array when any element matches.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<ValueKind>", into = "Vec<ValueKind>")]
pub struct Kinds(u8);

impl Kinds {
    /// No kind at all (nothing seen but nulls).
    pub const NONE: Kinds = Kinds(0);

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: ValueKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Adds `kind`.
    pub fn insert(&mut self, kind: ValueKind) {
        self.0 |= kind.bit();
    }

    /// The set with `kind` added.
    pub fn with(mut self, kind: ValueKind) -> Kinds {
        self.insert(kind);
        self
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds in the set, in [`ValueKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = ValueKind> {
        ValueKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }

    /// Only the kinds a literal can have: strings, numbers, booleans.
    pub fn scalars(self) -> Kinds {
        Kinds(self.0 & (ValueKind::String.bit() | ValueKind::Number.bit() | ValueKind::Bool.bit()))
    }

    /// `numbers`, `strings and numbers`, … for messages.
    pub fn describe(self) -> String {
        let names: Vec<&str> = self.iter().map(ValueKind::plural).collect();
        match names.as_slice() {
            [] => "nothing but nulls".to_string(),
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        }
    }
}

impl fmt::Debug for Kinds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl From<ValueKind> for Kinds {
    fn from(kind: ValueKind) -> Kinds {
        Kinds(kind.bit())
    }
}

impl FromIterator<ValueKind> for Kinds {
    fn from_iter<I: IntoIterator<Item = ValueKind>>(iter: I) -> Kinds {
        let mut k = Kinds::NONE;
        iter.into_iter().for_each(|kind| k.insert(kind));
        k
    }
}

impl From<Vec<ValueKind>> for Kinds {
    fn from(kinds: Vec<ValueKind>) -> Kinds {
        kinds.into_iter().collect()
    }
}

impl From<Kinds> for Vec<ValueKind> {
    fn from(kinds: Kinds) -> Vec<ValueKind> {
        kinds.iter().collect()
    }
}

/// What is known of one event name: its properties (nested ones as dotted
/// paths, `products.category`) and the kinds of their values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSchema {
    /// Property path → kinds seen.
    pub properties: BTreeMap<String, Kinds>,
}

/// Everything [`crate::check`] checks names and types against.
///
/// Build it from data as it arrives ([`Catalog::observe_event`],
/// [`Catalog::observe_traits`]), with the builder methods, or from JSON:
///
/// ```
/// let catalog: seglab_lang::Catalog = serde_json::from_str(r#"{
///     "events": {"Order Completed": {"properties": {"revenue": ["number"]}}},
///     "traits": {"plan": ["string"]},
///     "models": ["churn"]
/// }"#).unwrap();
/// assert!(catalog.events.contains_key("Order Completed"));
/// ```
///
/// An empty `events` map means nothing has been tracked yet: the checker then
/// accepts any event and property name. Likewise for an empty `traits` map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Catalog {
    /// Tracked event names (`page` calls as `Page Viewed`, `screen` calls as
    /// `Screen Viewed`).
    pub events: BTreeMap<String, EventSchema>,
    /// Profile trait paths → kinds seen.
    pub traits: BTreeMap<String, Kinds>,
    /// Saved segments: name → condition (for references and cycles).
    pub segments: BTreeMap<String, Condition>,
    /// Names of the prediction models whose outputs `predicted.NAME` reads.
    pub models: BTreeSet<String>,
    /// How long the store keeps events (`None`: forever); windows reaching
    /// further back are warned about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<crate::Retention>,
}

/// How deep [`Catalog::observe_event`] looks into nested properties.
const MAX_OBSERVE_DEPTH: usize = 16;

impl Catalog {
    /// An empty catalog (a fresh install).
    pub fn new() -> Catalog {
        Catalog::default()
    }

    /// Adds an event with properties of the given kinds.
    pub fn with_event<S: Into<String>>(
        mut self,
        name: &str,
        properties: impl IntoIterator<Item = (S, ValueKind)>,
    ) -> Catalog {
        let schema = self.events.entry(name.to_string()).or_default();
        for (path, kind) in properties {
            schema
                .properties
                .entry(path.into())
                .or_default()
                .insert(kind);
        }
        self
    }

    /// Adds a trait of the given kind.
    pub fn with_trait(mut self, name: &str, kind: ValueKind) -> Catalog {
        self.traits
            .entry(name.to_string())
            .or_default()
            .insert(kind);
        self
    }

    /// Adds a saved segment.
    pub fn with_segment(mut self, name: &str, condition: Condition) -> Catalog {
        self.segments.insert(name.to_string(), condition);
        self
    }

    /// Adds a model name.
    pub fn with_model(mut self, name: &str) -> Catalog {
        self.models.insert(name.to_string());
        self
    }

    /// Records one occurrence of an event and the kinds of its properties (a
    /// JSON object; anything else records only the name). Nested objects give
    /// dotted paths; arrays record their elements' kinds under the array's path.
    pub fn observe_event(&mut self, name: &str, properties: &Value) {
        let schema = self.events.entry(name.to_string()).or_default();
        observe(&mut schema.properties, "", properties, 0);
    }

    /// Records the kinds of a profile's traits (a JSON object), as
    /// [`Catalog::observe_event`] does for properties.
    pub fn observe_traits(&mut self, traits: &Value) {
        observe(&mut self.traits, "", traits, 0);
    }

    /// Adds (or replaces) every segment of a file, as saving it would.
    pub fn add_file(&mut self, file: &File) {
        for def in &file.segments {
            self.segments
                .insert(def.name.text.clone(), def.condition.without_spans());
        }
    }
}

fn observe(into: &mut BTreeMap<String, Kinds>, path: &str, value: &Value, depth: usize) {
    if depth > MAX_OBSERVE_DEPTH {
        return;
    }
    let Some(kind) = ValueKind::of(value) else {
        return;
    };
    if !path.is_empty() {
        into.entry(path.to_string()).or_default().insert(kind);
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                observe(into, &child, v, depth + 1);
            }
        }
        Value::Array(items) if !path.is_empty() => {
            for item in items {
                observe(into, path, item, depth + 1);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn observes_nested_properties_and_arrays() {
        let mut c = Catalog::new();
        c.observe_event(
            "Order Completed",
            &json!({
                "revenue": 12.5,
                "currency": "USD",
                "coupon": null,
                "tags": ["a", "b"],
                "products": [{"category": "shoes", "price": 10}],
                "address": {"city": "Paris"}
            }),
        );
        c.observe_event("Order Completed", &json!({"revenue": "12.5"}));
        let p = &c.events["Order Completed"].properties;
        let k = |s: &str| {
            p.get(s)
                .copied()
                .unwrap_or_default()
                .iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(k("revenue"), vec![ValueKind::String, ValueKind::Number]);
        assert_eq!(k("coupon"), vec![]);
        assert!(!p.contains_key("coupon"));
        assert_eq!(k("tags"), vec![ValueKind::String, ValueKind::Array]);
        assert_eq!(k("products"), vec![ValueKind::Array, ValueKind::Object]);
        assert_eq!(k("products.category"), vec![ValueKind::String]);
        assert_eq!(k("address.city"), vec![ValueKind::String]);
    }

    #[test]
    fn kinds_as_json_and_words() {
        let k = Kinds::from(ValueKind::Number).with(ValueKind::String);
        assert_eq!(serde_json::to_string(&k).unwrap(), r#"["string","number"]"#);
        assert_eq!(
            serde_json::from_str::<Kinds>(r#"["number","string"]"#).unwrap(),
            k
        );
        assert_eq!(k.describe(), "strings and numbers");
        assert_eq!(Kinds::NONE.describe(), "nothing but nulls");
        let all: Kinds = ValueKind::ALL.into_iter().collect();
        assert_eq!(
            all.describe(),
            "strings, numbers, booleans, arrays and objects"
        );
    }

    #[test]
    fn builds_from_json() {
        let c: Catalog = serde_json::from_str(
            r#"{"events": {"A": {}}, "segments": {"s": {"kind": "in_segment", "segment": {"text": "t"}}}}"#,
        )
        .unwrap();
        assert!(c.events["A"].properties.is_empty());
        assert_eq!(c.segments.len(), 1);
        assert!(serde_json::from_str::<Catalog>(r#"{"event": {}}"#).is_err());
    }

    #[test]
    fn deep_json_does_not_overflow() {
        let mut v = json!(1);
        for _ in 0..1000 {
            v = json!({ "a": v });
        }
        let mut c = Catalog::new();
        c.observe_event("E", &v);
        assert_eq!(c.events["E"].properties.len(), MAX_OBSERVE_DEPTH);
    }
}

//! What the loaded data looks like: event names with their property paths and
//! the kinds of values seen at each, and trait paths with theirs. The language
//! checker uses it (as a [`seglab_lang::Catalog`], which this one converts
//! into) to catch unknown names and type mismatches.

use seglab_lang::ValueKind;

use crate::intern::IntMap;
use crate::props::kind_bits;
use crate::timeline::Timelines;

/// The kinds of values seen at one path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ValueKinds {
    pub string: bool,
    pub number: bool,
    pub bool: bool,
    /// The path held an array (its elements' kinds are reported beside it).
    pub array: bool,
    pub object: bool,
}

impl ValueKinds {
    pub(crate) fn from_bits(bits: u8) -> ValueKinds {
        ValueKinds {
            string: bits & 1 != 0,
            number: bits & 2 != 0,
            bool: bits & 4 != 0,
            object: bits & 8 != 0,
            array: bits & 16 != 0,
        }
    }
}

/// A property (or trait) path, as written in conditions (`products.category`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyInfo {
    pub path: String,
    pub kinds: ValueKinds,
}

/// An event name and the properties seen with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInfo {
    pub name: String,
    /// How many events of this name were loaded.
    pub count: u64,
    /// Sorted by path.
    pub properties: Vec<PropertyInfo>,
}

/// Event names and trait names known to the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Sorted by name.
    pub events: Vec<EventInfo>,
    /// Sorted by path.
    pub traits: Vec<PropertyInfo>,
}

impl Catalog {
    pub fn event(&self, name: &str) -> Option<&EventInfo> {
        self.events
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.events[i])
    }
}

impl From<ValueKinds> for seglab_lang::Kinds {
    fn from(k: ValueKinds) -> seglab_lang::Kinds {
        let mut out = seglab_lang::Kinds::default();
        for (present, kind) in [
            (k.string, ValueKind::String),
            (k.number, ValueKind::Number),
            (k.bool, ValueKind::Bool),
            (k.array, ValueKind::Array),
            (k.object, ValueKind::Object),
        ] {
            if present {
                out.insert(kind);
            }
        }
        out
    }
}

impl From<&Catalog> for seglab_lang::Catalog {
    /// The catalog as the language checker takes it: events with the kinds of
    /// their properties, and traits (no saved segments or models).
    fn from(c: &Catalog) -> seglab_lang::Catalog {
        let mut catalog = seglab_lang::Catalog::new();
        for event in &c.events {
            let schema = catalog.events.entry(event.name.clone()).or_default();
            for p in &event.properties {
                schema.properties.insert(p.path.clone(), p.kinds.into());
            }
        }
        for t in &c.traits {
            catalog.traits.insert(t.path.clone(), t.kinds.into());
        }
        catalog
    }
}

impl Timelines {
    /// Event names, their properties and value kinds; trait paths and kinds.
    pub fn catalog(&self) -> Catalog {
        let mut events: Vec<EventInfo> = self
            .names
            .iter()
            .map(|(id, name)| {
                let mut kinds: IntMap<u32, u8> = IntMap::default();
                for set in &self.name_sets[id as usize] {
                    for &p in self.dict.set(set) {
                        *kinds.entry(p.path()).or_default() |= kind_bits(p);
                    }
                }
                EventInfo {
                    name: name.to_owned(),
                    count: self.name_counts[id as usize],
                    properties: self.property_infos(kinds),
                }
            })
            .collect();
        events.sort_by(|a, b| a.name.cmp(&b.name));
        Catalog {
            events,
            traits: self.property_infos(self.trait_kinds.clone()),
        }
    }

    fn property_infos(&self, kinds: IntMap<u32, u8>) -> Vec<PropertyInfo> {
        let mut out: Vec<PropertyInfo> = kinds
            .into_iter()
            .map(|(path, bits)| PropertyInfo {
                path: self.dict.keys.resolve(path).to_owned(),
                kinds: ValueKinds::from_bits(bits),
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn catalog_lists_events_properties_and_traits() {
        let mut t = Timelines::new();
        t.push(
            1,
            1,
            "Order Completed",
            &json!({"revenue": 10, "products": [{"category": "shoes"}]}),
        )
        .unwrap();
        t.push(1, 2, "Order Completed", &json!({"revenue": "n/a"}))
            .unwrap();
        t.push(2, 2, "Page Viewed", &json!({"name": "Home"}))
            .unwrap();
        t.set_trait(1, "vip", json!(true)).unwrap();
        let c = t.catalog();
        assert_eq!(c.events.len(), 2);
        let order = c.event("Order Completed").unwrap();
        assert_eq!(order.count, 2);
        let paths: Vec<(&str, ValueKinds)> = order
            .properties
            .iter()
            .map(|p| (p.path.as_str(), p.kinds))
            .collect();
        let k = |bits| ValueKinds::from_bits(bits);
        assert_eq!(
            paths,
            vec![
                ("products", k(8 | 16)),
                ("products.category", k(1)),
                ("revenue", k(1 | 2)),
            ]
        );
        assert_eq!(
            c.traits,
            vec![PropertyInfo {
                path: "vip".into(),
                kinds: k(4)
            }]
        );
    }

    #[test]
    fn converts_into_the_language_catalog() {
        let mut t = Timelines::new();
        t.push(
            1,
            1,
            "Order Completed",
            &json!({"revenue": 10, "tags": ["a"]}),
        )
        .unwrap();
        t.set_trait(1, "plan", json!({"name": "pro"})).unwrap();
        let c = seglab_lang::Catalog::from(&t.catalog());
        let want = seglab_lang::Catalog::new()
            .with_event(
                "Order Completed",
                [
                    ("revenue", ValueKind::Number),
                    ("tags", ValueKind::Array),
                    ("tags", ValueKind::String),
                ],
            )
            .with_trait("plan", ValueKind::Object)
            .with_trait("plan.name", ValueKind::String);
        assert_eq!(c, want);
    }
}

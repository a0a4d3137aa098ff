//! What the loaded data looks like: event names with their property paths and
//! the kinds of values seen at each, and trait paths with theirs. The language
//! checker uses it to catch unknown names and type mismatches.

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

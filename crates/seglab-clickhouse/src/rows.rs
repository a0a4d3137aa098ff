//! Rows of the `events` table, and their `RowBinary` encoding.
//!
//! Properties (and traits) are flattened here, by seglab, into one entry per
//! value a path can name, exactly as the reference evaluator's `resolve`
//! finds them: for every chain of keys (arrays on the way are walked into,
//! element by element) the path is the keys joined with `.`; the value at the
//! end is an entry unless it is `null`, and an array there contributes each
//! element (recursively) with `p_arr = 1`, which `contains` needs. Objects are
//! entries too (`exists` sees them). So `resolve(object, path)` is exactly the
//! entries whose `p_path` is `path`, in the same order, and every predicate
//! compiles to `arrayExists` over these arrays: the SQL needs no JSON
//! functions.

use serde_json::{Map, Value};

/// `p_kind` of an entry. Booleans sort before numbers before strings, the
/// order in which `top` breaks ties.
pub(crate) const OBJECT: u8 = 0;
pub(crate) const BOOL: u8 = 1;
pub(crate) const NUMBER: u8 = 2;
pub(crate) const STRING: u8 = 3;

/// `kind` of a row.
pub(crate) const EVENT: u8 = 0;
pub(crate) const TRAITS: u8 = 1;
pub(crate) const PREDICTION: u8 = 2;
pub(crate) const MERGED: u8 = 3;

/// One value of a flattened object.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub path: String,
    /// [`OBJECT`], [`BOOL`], [`NUMBER`] or [`STRING`].
    pub kind: u8,
    pub text: String,
    /// The number (normalized: `-0` is `0`), or a boolean as 0 or 1.
    pub number: f64,
    /// An element of an array that ends the path.
    pub in_array: bool,
}

/// One row of `events`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub person: i64,
    kind: u8,
    /// The deduplication key (with person and kind).
    pub message_id: String,
    /// Arrival order: equal times are taken in this order, and the latest
    /// trait snapshot or prediction is the one with the highest.
    pub seq: u64,
    pub ts: i64,
    pub name: String,
    pub value: f64,
    pub entries: Vec<Entry>,
}

impl Row {
    /// A behavioral event (`name` as the language sees it: `Page Viewed` for
    /// pages…) with its properties.
    pub fn event(
        person: i64,
        message_id: &str,
        seq: u64,
        ts: i64,
        name: &str,
        properties: &Value,
    ) -> Row {
        Row {
            person,
            kind: EVENT,
            message_id: message_id.to_owned(),
            seq,
            ts,
            name: name.to_owned(),
            value: 0.0,
            entries: match properties {
                Value::Object(m) => flatten(m),
                _ => Vec::new(),
            },
        }
    }

    /// A person's whole traits object as of `version`. Every known person
    /// needs one (an empty object for none): it is also how a person with no
    /// events exists.
    pub fn traits(person: i64, version: u64, traits: &Map<String, Value>) -> Row {
        Row {
            person,
            kind: TRAITS,
            message_id: format!("traits:{version}"),
            seq: version,
            ts: 0,
            name: String::new(),
            value: 0.0,
            entries: flatten(traits),
        }
    }

    /// The mark of a person merged into another: queries leave them out
    /// (their events were copied to the other, see
    /// [`crate::Schema::move_events`]).
    pub fn merged(person: i64) -> Row {
        Row {
            person,
            kind: MERGED,
            message_id: "merged".to_owned(),
            seq: 0,
            ts: 0,
            name: String::new(),
            value: 0.0,
            entries: Vec::new(),
        }
    }

    /// The mark of a deleted person: queries leave them out at once, while
    /// the mutation that deletes every row of theirs (this one included,
    /// see [`crate::Schema::delete_persons`]) runs in the background. The
    /// same kind as [`Row::merged`], so queries need no other test.
    pub fn deleted(person: i64) -> Row {
        Row {
            message_id: "deleted".to_owned(),
            ..Row::merged(person)
        }
    }

    /// The output of `model` for a person, as of `version`.
    pub fn prediction(person: i64, model: &str, version: u64, value: f64) -> Row {
        Row {
            person,
            kind: PREDICTION,
            message_id: format!("predicted:{model}:{version}"),
            seq: version,
            ts: 0,
            name: model.to_owned(),
            value,
            entries: Vec::new(),
        }
    }
}

/// Every value of an object, as `resolve` would find them (see the module docs).
pub fn flatten(object: &Map<String, Value>) -> Vec<Entry> {
    fn walk(m: &Map<String, Value>, prefix: &str, out: &mut Vec<Entry>) {
        for (k, v) in m {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            terminal(v, &path, false, out);
            descend(v, &path, out);
        }
    }
    fn terminal(v: &Value, path: &str, in_array: bool, out: &mut Vec<Entry>) {
        let (kind, text, number) = match v {
            Value::Null => return,
            Value::Array(items) => {
                items.iter().for_each(|e| terminal(e, path, true, out));
                return;
            }
            Value::Object(_) => (OBJECT, String::new(), 0.0),
            Value::Bool(b) => (BOOL, String::new(), if *b { 1.0 } else { 0.0 }),
            Value::Number(n) => (NUMBER, String::new(), n.as_f64().unwrap_or(0.0) + 0.0),
            Value::String(s) => (STRING, s.clone(), 0.0),
        };
        out.push(Entry {
            path: path.to_owned(),
            kind,
            text,
            number,
            in_array,
        });
    }
    fn descend(v: &Value, path: &str, out: &mut Vec<Entry>) {
        match v {
            Value::Object(m) => walk(m, path, out),
            Value::Array(items) => items.iter().for_each(|e| descend(e, path, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(object, "", &mut out);
    out
}

/// Rows encoded for `INSERT INTO … FORMAT RowBinary`: numbers as their bytes
/// (floats exact), strings and arrays length-prefixed (nothing to escape).
pub fn row_binary(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 128);
    for r in rows {
        out.extend_from_slice(&r.person.to_le_bytes());
        out.push(r.kind);
        put_str(&mut out, &r.message_id);
        out.extend_from_slice(&r.seq.to_le_bytes());
        out.extend_from_slice(&r.ts.to_le_bytes());
        put_str(&mut out, &r.name);
        out.extend_from_slice(&r.value.to_le_bytes());
        let n = r.entries.len() as u64;
        put_len(&mut out, n);
        r.entries.iter().for_each(|e| put_str(&mut out, &e.path));
        put_len(&mut out, n);
        r.entries.iter().for_each(|e| out.push(e.kind));
        put_len(&mut out, n);
        r.entries.iter().for_each(|e| put_str(&mut out, &e.text));
        put_len(&mut out, n);
        r.entries
            .iter()
            .for_each(|e| out.extend_from_slice(&e.number.to_le_bytes()));
        put_len(&mut out, n);
        r.entries
            .iter()
            .for_each(|e| out.push(u8::from(e.in_array)));
    }
    out
}

fn put_len(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use seglab_engine::reference::resolve;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    /// For every path, the entries are what `resolve` yields, in its order.
    #[test]
    fn flatten_agrees_with_resolve() {
        let m = obj(json!({
            "a": {"b": [1, [2, null]]},
            "products": [{"category": "shoes"}, {"category": ["x"]}],
            "a.b": 3,
            "n": null,
            "z": -0.0,
            "t": [true, {"u": "v"}]
        }));
        let entries = flatten(&m);
        let mut paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        paths.dedup();
        paths.extend(["n", "a.c", "zz"]);
        for path in paths {
            // Objects are compared by kind only.
            let show = |v: &Value| match v {
                Value::Object(_) => "object".to_owned(),
                Value::Number(n) => (n.as_f64().unwrap() + 0.0).to_string(),
                v => v.to_string(),
            };
            let want: Vec<(String, bool)> = resolve(&m, path)
                .into_iter()
                .map(|(v, a)| (show(v), a))
                .collect();
            let got: Vec<(String, bool)> = entries
                .iter()
                .filter(|e| e.path == path)
                .map(|e| {
                    let v = match e.kind {
                        OBJECT => "object".to_owned(),
                        BOOL => (e.number == 1.0).to_string(),
                        NUMBER => e.number.to_string(),
                        _ => json!(e.text).to_string(),
                    };
                    (v, e.in_array)
                })
                .collect();
            assert_eq!(got, want, "path {path}");
        }
    }

    #[test]
    fn row_binary_lengths_are_varints() {
        let mut out = Vec::new();
        put_len(&mut out, 300);
        assert_eq!(out, vec![0xac, 0x02]);
        let row = Row::event(7, "m1", 1, 5, "A", &json!({"k": "x"}));
        let bytes = row_binary(&[row]);
        assert_eq!(&bytes[..8], &7i64.to_le_bytes());
        assert_eq!(bytes[8], EVENT);
    }
}

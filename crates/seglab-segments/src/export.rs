//! A flat export of behavioral events (`person,ts,event,category,revenue`), the
//! table the DuckDB baseline of `seglab bench segments` queries.

use std::io::Write;

use seglab_store::Reader;
use serde_json::Value;

use crate::load::behavior_name;

/// Writes the CSV; returns the number of rows.
pub fn flat_csv(reader: &Reader, out: &mut impl Write) -> crate::Result<u64> {
    let roots = reader.person_roots()?;
    writeln!(out, "person,ts,event,category,revenue")?;
    let mut rows = 0u64;
    let mut io_error = None;
    reader.scan_events(0, |row| {
        if io_error.is_some() {
            return;
        }
        let Some(name) = behavior_name(row) else {
            return;
        };
        let payload: Value = serde_json::from_str(row.payload).unwrap_or(Value::Null);
        let props = &payload["properties"];
        let category = props["category"].as_str().unwrap_or("");
        let revenue = props["revenue"]
            .as_f64()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let person = roots.get(&row.person_id).copied().unwrap_or(row.person_id);
        let line = writeln!(
            out,
            "{person},{},{},{},{revenue}",
            row.timestamp,
            csv_field(name),
            csv_field(category)
        );
        match line {
            Ok(()) => rows += 1,
            Err(e) => io_error = Some(e),
        }
    })?;
    if let Some(e) = io_error {
        return Err(e.into());
    }
    Ok(rows)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

//! Bulk files of past events: NDJSON (one Segment message a line), Segment batch
//! JSON (`{"batch": […]}`), and CSV (`user_id,event,timestamp` plus one column per
//! property). Lines go through the same validation as HTTP; a line without a
//! message id gets one derived from its content, so importing a file twice stores
//! its events once.

use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::time::{Millis, parse_timestamp};
use crate::wire::segment_spec::{Envelope, Fields, message};
use crate::{Error, Event, EventType, MAX_MESSAGE_BYTES, payload};

/// The file formats `seglab import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    BatchJson,
    Csv,
}

impl Format {
    /// Picks the format from the extension (`.csv`, `.json`), else from the first
    /// bytes: a document that opens with `{"batch"` is batch JSON, the rest NDJSON.
    pub fn detect(path: &Path, head: &[u8]) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => return Format::Csv,
            Some("ndjson" | "jsonl") => return Format::Ndjson,
            _ => {}
        }
        let text = String::from_utf8_lossy(head);
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .take(9)
            .collect();
        if compact.starts_with("{\"batch\"") {
            Format::BatchJson
        } else {
            Format::Ndjson
        }
    }
}

/// Why one line of a file was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number (for batch JSON: the 1-based position in `batch`).
    pub line: usize,
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {} ({})", self.line, self.message, self.code)
    }
}

fn line_error(line: usize, err: Error) -> LineError {
    let message = match &err {
        Error::InvalidMessage { reason, .. } => reason.clone(),
        other => other.to_string(),
    };
    LineError {
        line,
        code: err.code(),
        message,
    }
}

/// A message id derived from the content, for lines that carry none.
fn derived_id(content: &[u8]) -> String {
    format!("imp-{:032x}", xxhash_rust::xxh3::xxh3_128(content))
}

/// Parses one NDJSON line. A message without `type` is a track call when it has an
/// `event`.
pub fn ndjson_line(text: &str, line: usize, received_at: Millis) -> Result<Event, LineError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(line_error(
            line,
            Error::MessageTooLarge {
                index: None,
                size: text.len(),
            },
        ));
    }
    object(text, line, received_at)
}

/// One message of a file: a content-derived id when it has none, and `track` when
/// it has an `event` but no `type`.
fn object(text: &str, line: usize, received_at: Millis) -> Result<Event, LineError> {
    let mut fields = Fields::parse(text, None).map_err(|e| line_error(line, e))?;
    let map = &mut fields.small;
    if matches!(map.get("messageId"), None | Some(Value::Null)) {
        map.insert(
            "messageId".into(),
            Value::String(derived_id(text.as_bytes())),
        );
    }
    if !map.contains_key("type") && map.contains_key("event") {
        map.insert("type".into(), Value::String("track".into()));
    }
    message(fields, None, &Envelope::default(), received_at)
        .map_err(|r| line_error(line, Error::invalid(None, r)))
}

#[derive(Deserialize)]
struct RawFile<'a> {
    #[serde(borrow)]
    batch: Vec<&'a RawValue>,
}

/// Parses a Segment batch JSON file: one result per message, so one bad message
/// does not reject the others.
pub fn batch_file(
    body: &[u8],
    received_at: Millis,
) -> Result<Vec<Result<Event, LineError>>, LineError> {
    let file: RawFile<'_> =
        serde_json::from_slice(body).map_err(|e| line_error(e.line(), Error::json(&e)))?;
    Ok(file
        .batch
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            let text = raw.get();
            if text.len() > MAX_MESSAGE_BYTES {
                return Err(line_error(
                    i + 1,
                    Error::MessageTooLarge {
                        index: None,
                        size: text.len(),
                    },
                ));
            }
            object(text, i + 1, received_at)
        })
        .collect())
}

/// Maps CSV records to track events, from the header row.
#[derive(Debug, Clone)]
pub struct CsvMapper {
    user_id: Option<usize>,
    anonymous_id: Option<usize>,
    event: usize,
    timestamp: usize,
    message_id: Option<usize>,
    properties: Vec<(usize, String)>,
}

impl CsvMapper {
    /// Reads the header: `event` and `timestamp` are required, and `user_id` or
    /// `anonymous_id`; `message_id` is optional; every other column is a property.
    pub fn new(header: &csv::StringRecord) -> Result<CsvMapper, LineError> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let missing = |what: &str| LineError {
            line: 1,
            code: "invalid_header",
            message: format!(
                "the header has no `{what}` column (expected user_id,event,timestamp plus property columns)"
            ),
        };
        let user_id = find("user_id");
        let anonymous_id = find("anonymous_id");
        if user_id.is_none() && anonymous_id.is_none() {
            return Err(missing("user_id"));
        }
        let event = find("event").ok_or_else(|| missing("event"))?;
        let timestamp = find("timestamp").ok_or_else(|| missing("timestamp"))?;
        let message_id = find("message_id");
        let known = [
            user_id,
            anonymous_id,
            Some(event),
            Some(timestamp),
            message_id,
        ];
        let properties = header
            .iter()
            .enumerate()
            .filter(|(i, _)| !known.contains(&Some(*i)))
            .map(|(i, h)| (i, h.trim().to_owned()))
            .collect();
        Ok(CsvMapper {
            user_id,
            anonymous_id,
            event,
            timestamp,
            message_id,
            properties,
        })
    }

    /// Turns one record into a track event; `line` is its 1-based line number.
    pub fn record(
        &self,
        rec: &csv::StringRecord,
        line: usize,
        received_at: Millis,
    ) -> Result<Event, LineError> {
        let field = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let err = |message: String| LineError {
            line,
            code: "invalid_message",
            message,
        };
        let user_id = field(self.user_id).map(str::to_owned);
        let anonymous_id = field(self.anonymous_id).map(str::to_owned);
        if user_id.is_none() && anonymous_id.is_none() {
            return Err(err("`user_id` is empty".into()));
        }
        let event = field(Some(self.event))
            .ok_or_else(|| err("`event` is empty".into()))?
            .to_owned();
        let ts_text =
            field(Some(self.timestamp)).ok_or_else(|| err("`timestamp` is empty".into()))?;
        let timestamp = parse_csv_time(ts_text).ok_or_else(|| {
            err(format!(
                "`timestamp` is not an ISO-8601 time or epoch number: {ts_text:?}"
            ))
        })?;
        let mut properties = Map::new();
        for (i, name) in &self.properties {
            if let Some(v) = field(Some(*i)) {
                properties.insert(name.clone(), csv_value(v));
            }
        }
        let message_id = match field(self.message_id) {
            Some(id) => id.to_owned(),
            None => derived_id(rec.as_slice().as_bytes()),
        };
        Ok(Event {
            message_id,
            kind: EventType::Track,
            user_id,
            anonymous_id,
            previous_id: None,
            event: Some(event),
            name: None,
            timestamp,
            received_at,
            traits: Vec::new(),
            traits_once: Vec::new(),
            payload: payload([
                ("properties", Some(Value::Object(properties))),
                ("context", None),
                ("traits", None),
                ("category", None),
                ("group_id", None),
            ]),
        })
    }
}

/// ISO-8601, or an epoch number in seconds (below 10^11) or milliseconds.
fn parse_csv_time(s: &str) -> Option<Millis> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(if n.abs() < 100_000_000_000 {
            n * 1000
        } else {
            n
        });
    }
    parse_timestamp(s)
}

/// A CSV cell as JSON: numbers and booleans typed (when the text is their canonical
/// spelling, so `"02134"` stays a string), the rest strings.
fn csv_value(s: &str) -> Value {
    match s {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    let leading_zero = s.len() > 1 && s.starts_with('0') && !s.starts_with("0.");
    if !leading_zero {
        if let Ok(i) = s.parse::<i64>() {
            return Value::from(i);
        }
        if let Ok(f) = s.parse::<f64>()
            && f.is_finite()
            && s.contains('.')
        {
            return Value::from(f);
        }
    }
    Value::String(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_767_225_600_000;

    #[test]
    fn ndjson_infers_track_and_derives_stable_ids() {
        let line = r#"{"userId":"u","event":"Order Completed","timestamp":"2025-06-01T00:00:00Z"}"#;
        let a = ndjson_line(line, 1, NOW).unwrap();
        let b = ndjson_line(line, 7, NOW + 5).unwrap();
        assert_eq!(a.kind, EventType::Track);
        assert_eq!(a.message_id, b.message_id);
        assert!(a.message_id.starts_with("imp-"));
        assert_eq!(
            a.timestamp,
            parse_timestamp("2025-06-01T00:00:00Z").unwrap()
        );
    }

    #[test]
    fn ndjson_errors_carry_line_numbers() {
        let e = ndjson_line(r#"{"type":"track","event":"x"}"#, 12, NOW).unwrap_err();
        assert_eq!(e.line, 12);
        assert_eq!(e.code, "invalid_message");
        assert_eq!(
            e.to_string(),
            "line 12: `userId` or `anonymousId` is required (invalid_message)"
        );
        assert_eq!(
            ndjson_line("{oops", 3, NOW).unwrap_err().code,
            "invalid_json"
        );
        assert_eq!(
            ndjson_line("[1]", 3, NOW).unwrap_err().code,
            "invalid_message"
        );
    }

    #[test]
    fn batch_file_keeps_good_messages() {
        let body = br#"{"batch":[{"type":"track","userId":"u","event":"a"},{"type":"track","event":"b"},7]}"#;
        let out = batch_file(body, NOW).unwrap();
        assert!(out[0].is_ok());
        assert_eq!(out[1].as_ref().unwrap_err().line, 2);
        assert_eq!(out[2].as_ref().unwrap_err().line, 3);
    }

    #[test]
    fn csv_rows_become_track_events() {
        let mut r = csv::Reader::from_reader(
            "user_id,event,timestamp,revenue,zip,member\nu1,Order Completed,2026-01-01T00:00:00Z,12.50,02134,true\n,x,1,,,\nu2,Viewed,1767225600,,,\n"
                .as_bytes(),
        );
        let m = CsvMapper::new(r.headers().unwrap()).unwrap();
        let recs: Vec<_> = r.records().map(Result::unwrap).collect();
        let e = m.record(&recs[0], 2, NOW).unwrap();
        assert_eq!(
            e.payload,
            r#"{"properties":{"member":true,"revenue":12.5,"zip":"02134"}}"#
        );
        assert_eq!(
            m.record(&recs[1], 3, NOW).unwrap_err().message,
            "`user_id` is empty"
        );
        assert_eq!(m.record(&recs[2], 4, NOW).unwrap().timestamp, NOW);
    }

    #[test]
    fn csv_header_must_name_the_columns() {
        let h = csv::StringRecord::from(vec!["user", "event", "timestamp"]);
        assert!(
            CsvMapper::new(&h)
                .unwrap_err()
                .message
                .contains("`user_id`")
        );
    }

    #[test]
    fn detects_formats() {
        assert_eq!(Format::detect(Path::new("a.csv"), b""), Format::Csv);
        assert_eq!(
            Format::detect(Path::new("a.json"), b" { \"batch\": ["),
            Format::BatchJson
        );
        assert_eq!(
            Format::detect(Path::new("a.json"), b"{\"type\":\"track\"}"),
            Format::Ndjson
        );
    }
}

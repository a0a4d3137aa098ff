//! Events and the wire protocols seglab accepts.
//!
//! Everything that arrives — a Segment or RudderStack call, a PostHog capture, a line
//! of an import file — is validated and normalized into an [`Event`] here. The crate
//! does no IO: it turns bytes into events or into an [`Error`] that says what is
//! wrong and where.
//!
//! * [`wire`]: the SDKs' protocols: [`wire::segment_spec`], the Segment HTTP
//!   Tracking API (also RudderStack's), and [`wire::posthog`], PostHog's capture
//!   endpoints.
//! * [`import`]: bulk files — NDJSON, Segment batch JSON, CSV.
//! * [`time`]: lenient ISO-8601 and clock-skew correction.

pub mod import;
pub mod time;
pub mod wire;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use time::Millis;

/// Largest accepted single message, in bytes (Segment's limit).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Largest accepted request body, in bytes, after decompression (Segment's limit).
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// Longest accepted `messageId`.
pub const MAX_MESSAGE_ID_CHARS: usize = 100;
/// Longest accepted identifier or event name.
pub const MAX_NAME_CHARS: usize = 1024;

/// The kind of a call, as in the Segment spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Track,
    Identify,
    Page,
    Screen,
    Group,
    Alias,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::Track,
        EventType::Identify,
        EventType::Page,
        EventType::Screen,
        EventType::Group,
        EventType::Alias,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Track => "track",
            EventType::Identify => "identify",
            EventType::Page => "page",
            EventType::Screen => "screen",
            EventType::Group => "group",
            EventType::Alias => "alias",
        }
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<EventType> {
        EventType::ALL.get(code as usize).copied()
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One normalized event, ready to be stored.
///
/// The fields the store and the engine look at are typed; the rest of the message
/// (properties, context, traits, page category, group id) travels as one compact JSON
/// object in `payload`, serialized once, where the request was parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub message_id: String,
    pub kind: EventType,
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// The old id an alias points away from.
    pub previous_id: Option<String>,
    /// Track: the event name.
    pub event: Option<String>,
    /// Page and screen: the page or screen name.
    pub name: Option<String>,
    /// When it happened, corrected for client clock skew.
    pub timestamp: Millis,
    /// When seglab received it.
    pub received_at: Millis,
    /// Profile traits this event sets (latest wins).
    pub traits: Vec<(String, Value)>,
    /// Profile traits this event sets only if absent (PostHog `$set_once`).
    pub traits_once: Vec<(String, Value)>,
    /// The rest of the message as a JSON object.
    pub payload: String,
}

impl Event {
    /// The id that decides which person this event belongs to first.
    pub fn primary_id(&self) -> Option<&str> {
        self.user_id.as_deref().or(self.anonymous_id.as_deref())
    }
}

/// What went wrong with an incoming body, with a stable code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("malformed json: {0}")]
    InvalidJson(String),
    #[error("{}{reason}", at(*.index))]
    InvalidMessage {
        index: Option<usize>,
        reason: String,
    },
    #[error("{}message is {size} bytes, the limit is {} bytes", at(*.index), MAX_MESSAGE_BYTES)]
    MessageTooLarge { index: Option<usize>, size: usize },
    #[error("request body is larger than {} bytes", MAX_BATCH_BYTES)]
    BodyTooLarge,
    #[error("no write key: send it as basic auth username or as `writeKey` in the body")]
    MissingWriteKey,
    #[error("the body is not valid gzip: {0}")]
    InvalidGzip(String),
    #[error("{0}")]
    InvalidBody(String),
}

fn at(index: Option<usize>) -> String {
    match index {
        Some(i) => format!("batch[{i}]: "),
        None => String::new(),
    }
}

impl Error {
    /// The stable code clients see in `{"code": …}`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidJson(_) => "invalid_json",
            Error::InvalidMessage { .. } => "invalid_message",
            Error::MessageTooLarge { .. } => "message_too_large",
            Error::BodyTooLarge => "payload_too_large",
            Error::MissingWriteKey => "missing_write_key",
            Error::InvalidGzip(_) => "invalid_gzip",
            Error::InvalidBody(_) => "invalid_body",
        }
    }

    pub(crate) fn invalid(index: Option<usize>, reason: impl Into<String>) -> Error {
        Error::InvalidMessage {
            index,
            reason: reason.into(),
        }
    }

    pub(crate) fn json(err: &serde_json::Error) -> Error {
        Error::InvalidJson(err.to_string())
    }
}

/// A parsed request: the write key it carried in its body (if any) and its events.
#[derive(Debug, Default)]
pub struct Batch {
    pub write_key: Option<String>,
    pub events: Vec<Event>,
}

/// Reads an identifier: a non-empty string, or a number (SDKs send numeric user ids).
/// `null`, absent and `""` are "no id".
pub(crate) fn take_id(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_NAME_CHARS => Err(format!(
            "`{key}` is longer than {MAX_NAME_CHARS} characters"
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("`{key}` must be a string, not {}", kind_of(&other))),
    }
}

/// Reads an optional object; `null` and absent are empty.
pub(crate) fn take_object(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Map<String, Value>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o),
        Some(other) => Err(format!(
            "`{key}` must be an object, not {}",
            kind_of(&other)
        )),
    }
}

/// Reads an optional string (a name, a category).
pub(crate) fn take_string(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<String>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_NAME_CHARS => Err(format!(
            "`{key}` is longer than {MAX_NAME_CHARS} characters"
        )),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("`{key}` must be a string, not {}", kind_of(&other))),
    }
}

/// Reads an optional timestamp string.
pub(crate) fn take_time(map: &mut Map<String, Value>, key: &str) -> Result<Option<Millis>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => time::parse_timestamp(&s)
            .map(Some)
            .ok_or_else(|| format!("`{key}` is not an ISO-8601 timestamp: {s:?}")),
        Some(other) => Err(format!(
            "`{key}` must be an ISO-8601 string, not {}",
            kind_of(&other)
        )),
    }
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A fresh message id for a message that came without one.
pub(crate) fn new_message_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Builds the `payload` JSON object from the parts that are present.
pub(crate) fn payload(parts: [(&str, Option<Value>); 5]) -> String {
    let mut out = Map::new();
    for (k, v) in parts {
        match v {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) if o.is_empty() => {}
            Some(v) => {
                out.insert(k.to_owned(), v);
            }
        }
    }
    Value::Object(out).to_string()
}

/// Splits an object of traits into the list the store applies.
pub(crate) fn trait_list(traits: &Map<String, Value>) -> Vec<(String, Value)> {
    traits.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_codes_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::from_code(t.code()), Some(t));
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::from_code(6), None);
    }

    #[test]
    fn ids_accept_strings_and_numbers_only() {
        let mut m: Map<String, Value> =
            serde_json::from_str(r#"{"a":"x","b":42,"c":null,"d":"","e":[1],"f":{}}"#).unwrap();
        assert_eq!(take_id(&mut m, "a"), Ok(Some("x".into())));
        assert_eq!(take_id(&mut m, "b"), Ok(Some("42".into())));
        assert_eq!(take_id(&mut m, "c"), Ok(None));
        assert_eq!(take_id(&mut m, "d"), Ok(None));
        assert!(take_id(&mut m, "e").unwrap_err().contains("an array"));
        assert!(take_id(&mut m, "f").unwrap_err().contains("an object"));
        assert_eq!(take_id(&mut m, "missing"), Ok(None));
    }

    #[test]
    fn error_messages_name_the_message() {
        let e = Error::invalid(Some(3), "`event` is required");
        assert_eq!(e.to_string(), "batch[3]: `event` is required");
        assert_eq!(e.code(), "invalid_message");
    }
}

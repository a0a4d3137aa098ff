//! The Segment HTTP Tracking API, as Segment's, RudderStack's and analytics.js's
//! clients speak it.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::time::{Millis, segment_event_time};
use crate::wire::raw::{RawFault, check_raw};
use crate::{
    Batch, Error, Event, EventType, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, MAX_MESSAGE_ID_CHARS,
    kind_of, new_message_id, take_id, take_object, take_string, take_time, trait_list,
};

/// Which endpoint a body was posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/track`, `/v1/t`, …: the body is one message of this type.
    Single(EventType),
    /// `/v1/batch`, `/v1/import`, `/v1/b`: `{"batch": […]}`.
    Batch,
}

impl Endpoint {
    /// Maps the last path segment (`track`, `t`, `batch`, `b`, `import`, …).
    pub fn from_path(segment: &str) -> Option<Endpoint> {
        let t = match segment {
            "track" | "t" => EventType::Track,
            "identify" | "i" => EventType::Identify,
            "page" | "p" => EventType::Page,
            "screen" | "s" => EventType::Screen,
            "group" | "g" => EventType::Group,
            "alias" | "a" => EventType::Alias,
            "batch" | "b" | "import" => return Some(Endpoint::Batch),
            _ => return None,
        };
        Some(Endpoint::Single(t))
    }
}

/// What a batch shares with each of its messages.
#[derive(Debug, Default, Clone)]
pub struct Envelope {
    pub sent_at: Option<Millis>,
    pub context: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawBatch<'a> {
    #[serde(borrow)]
    batch: Option<Vec<&'a RawValue>>,
    #[serde(rename = "writeKey")]
    write_key: Option<Value>,
    #[serde(rename = "sentAt")]
    sent_at: Option<Value>,
    context: Option<Value>,
}

/// Parses a request body (already decompressed) posted to `endpoint`.
pub fn parse(body: &[u8], endpoint: Endpoint, received_at: Millis) -> Result<Batch, Error> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(Error::BodyTooLarge);
    }
    match endpoint {
        Endpoint::Single(kind) => {
            if body.len() > MAX_MESSAGE_BYTES {
                return Err(Error::MessageTooLarge {
                    index: None,
                    size: body.len(),
                });
            }
            let text = utf8(body)?;
            let mut fields = Fields::parse(text, None)?;
            let write_key =
                take_id(&mut fields.small, "writeKey").map_err(|r| Error::invalid(None, r))?;
            let event = message(fields, Some(kind), &Envelope::default(), received_at)
                .map_err(|r| Error::invalid(None, r))?;
            Ok(Batch {
                write_key,
                events: vec![event],
            })
        }
        Endpoint::Batch => parse_batch(body, received_at, true),
    }
}

/// Parses `{"batch": […], "sentAt", "writeKey", "context"}`. With `limit_body`
/// false (bulk import of a batch file) only the per-message limit applies.
pub fn parse_batch(body: &[u8], received_at: Millis, limit_body: bool) -> Result<Batch, Error> {
    if limit_body && body.len() > MAX_BATCH_BYTES {
        return Err(Error::BodyTooLarge);
    }
    let raw: RawBatch<'_> = serde_json::from_slice(body).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            Error::invalid(None, e.to_string())
        } else {
            Error::json(&e)
        }
    })?;
    let write_key = match raw.write_key {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v) => {
            return Err(Error::invalid(
                None,
                format!("`writeKey` must be a string, not {}", kind_of(&v)),
            ));
        }
    };
    let mut top = Map::new();
    if let Some(v) = raw.sent_at {
        top.insert("sentAt".into(), v);
    }
    if let Some(v) = raw.context {
        top.insert("context".into(), v);
    }
    let envelope = Envelope {
        sent_at: take_time(&mut top, "sentAt").map_err(|r| Error::invalid(None, r))?,
        context: take_object(&mut top, "context").map_err(|r| Error::invalid(None, r))?,
    };
    let Some(items) = raw.batch else {
        return Err(Error::invalid(
            None,
            "`batch` is required: an array of messages",
        ));
    };
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let text = item.get();
        if text.len() > MAX_MESSAGE_BYTES {
            return Err(Error::MessageTooLarge {
                index: Some(i),
                size: text.len(),
            });
        }
        let fields = Fields::parse(text, Some(i))?;
        events.push(
            message(fields, None, &envelope, received_at)
                .map_err(|r| Error::invalid(Some(i), r))?,
        );
    }
    Ok(Batch { write_key, events })
}

/// Validates and normalizes one Segment message. `kind` is the endpoint's type
/// (single-message endpoints); in a batch the message names its own `type`.
pub fn message(
    fields: Fields<'_>,
    kind: Option<EventType>,
    envelope: &Envelope,
    received_at: Millis,
) -> Result<Event, String> {
    let Fields {
        small: mut map,
        properties,
        context,
        traits,
    } = fields;
    let declared = take_string(&mut map, "type")?;
    let kind = match (kind, declared) {
        (Some(k), _) => k,
        (None, Some(t)) => EventType::parse(&t.to_ascii_lowercase()).ok_or_else(|| {
            format!("unknown `type` {t:?}: expected track, identify, page, screen, group or alias")
        })?,
        (None, None) => return Err("`type` is required".into()),
    };
    let message_id = match map.remove("messageId") {
        None | Some(Value::Null) => new_message_id(),
        Some(Value::String(s)) if s.is_empty() => new_message_id(),
        Some(Value::String(s)) if s.chars().count() > MAX_MESSAGE_ID_CHARS => {
            return Err(format!(
                "`messageId` is longer than {MAX_MESSAGE_ID_CHARS} characters"
            ));
        }
        Some(Value::String(s)) => s,
        Some(v) => return Err(format!("`messageId` must be a string, not {}", kind_of(&v))),
    };
    let user_id = take_id(&mut map, "userId")?;
    let anonymous_id = take_id(&mut map, "anonymousId")?;
    let mut original = take_time(&mut map, "timestamp")?;
    if original.is_none() {
        original = take_time(&mut map, "originalTimestamp")?;
    }
    let sent_at = take_time(&mut map, "sentAt")?.or(envelope.sent_at);
    let timestamp = segment_event_time(received_at, sent_at, original);

    let properties = raw_object(properties, "properties")?;
    let context_raw = raw_object(context, "context")?;
    let traits_raw = raw_object(traits, "traits")?;
    // The context is parsed only when it has to change or be read.
    let mut context_map = None;
    if !envelope.context.is_empty() || kind == EventType::Identify {
        let mut ctx = parse_object(context_raw)?;
        for (k, v) in &envelope.context {
            if !ctx.contains_key(k) {
                ctx.insert(k.clone(), v.clone());
            }
        }
        context_map = Some(ctx);
    }
    let mut identify_traits = None;

    let mut event = None;
    let mut name = None;
    let mut category = None;
    let mut group_id = None;
    let mut previous_id = None;
    let mut profile_traits = Vec::new();
    match kind {
        EventType::Track => {
            event = Some(
                take_string(&mut map, "event")?.ok_or("`event` is required for a track call")?,
            );
        }
        EventType::Page | EventType::Screen => {
            name = take_string(&mut map, "name")?;
            category = take_string(&mut map, "category")?;
        }
        EventType::Identify => {
            let mut traits = parse_object(traits_raw)?;
            // RudderStack sends identify traits in `context.traits`.
            if let Some(Value::Object(ctx_traits)) =
                context_map.as_ref().and_then(|c| c.get("traits"))
            {
                for (k, v) in ctx_traits {
                    if !traits.contains_key(k) {
                        traits.insert(k.clone(), v.clone());
                    }
                }
            }
            profile_traits = trait_list(&traits);
            identify_traits = Some(Value::Object(traits).to_string());
        }
        EventType::Group => {
            group_id = Some(
                take_id(&mut map, "groupId")?.ok_or("`groupId` is required for a group call")?,
            );
        }
        EventType::Alias => {
            previous_id = Some(
                take_id(&mut map, "previousId")?
                    .ok_or("`previousId` is required for an alias call")?,
            );
            if user_id.is_none() {
                return Err("`userId` is required for an alias call".into());
            }
        }
    }
    if user_id.is_none() && anonymous_id.is_none() {
        return Err("`userId` or `anonymousId` is required".into());
    }
    let context_text = context_map.map(|c| Value::Object(c).to_string());
    let traits_text = match kind {
        EventType::Identify => identify_traits,
        EventType::Group => traits_raw.map(str::to_owned),
        _ => None,
    };
    let mut payload = PayloadBuilder::default();
    payload.raw("properties", properties);
    payload.raw("context", context_text.as_deref().or(context_raw));
    payload.raw("traits", traits_text.as_deref());
    payload.string("category", category.as_deref());
    payload.string("group_id", group_id.as_deref());
    let payload = payload.finish();
    Ok(Event {
        message_id,
        kind,
        user_id,
        anonymous_id,
        previous_id,
        event,
        name,
        timestamp,
        received_at,
        traits: profile_traits,
        traits_once: Vec::new(),
        payload,
    })
}

/// A message split into its small fields, parsed, and its large objects
/// (`properties`, `context`, `traits`), kept as raw JSON text: they are checked to
/// be objects and copied into the payload without being parsed.
pub struct Fields<'a> {
    pub small: Map<String, Value>,
    properties: Option<&'a RawValue>,
    context: Option<&'a RawValue>,
    traits: Option<&'a RawValue>,
}

/// Deepest nesting accepted inside a message (serde_json's own limit is 128, and
/// raw objects are not parsed, so it is enforced here).
pub const MAX_DEPTH: usize = 64;

impl<'a> Fields<'a> {
    /// Splits one JSON object; `index` is its place in a batch, for errors.
    pub fn parse(text: &'a str, index: Option<usize>) -> Result<Fields<'a>, Error> {
        let raw: std::collections::HashMap<String, &'a RawValue> =
            serde_json::from_str(text).map_err(|e| classify(index, &e))?;
        let mut fields = Fields {
            small: Map::new(),
            properties: None,
            context: None,
            traits: None,
        };
        for (key, value) in raw {
            match key.as_str() {
                "properties" | "context" | "traits" => {
                    if let Err(fault) = check_raw(value.get(), MAX_DEPTH) {
                        let at = index.map(|i| format!("batch[{i}]: ")).unwrap_or_default();
                        return Err(Error::InvalidJson(match fault {
                            RawFault::TooDeep => {
                                format!("{at}`{key}` is nested deeper than {MAX_DEPTH} levels")
                            }
                            RawFault::LoneSurrogate => format!(
                                "{at}`{key}` holds a lone surrogate in a \\u escape (half of a UTF-16 pair)"
                            ),
                            RawFault::NumberOutOfRange => {
                                format!("{at}`{key}` holds a number out of range")
                            }
                        }));
                    }
                    match key.as_str() {
                        "properties" => fields.properties = Some(value),
                        "context" => fields.context = Some(value),
                        _ => fields.traits = Some(value),
                    }
                }
                _ => {
                    let v: Value =
                        serde_json::from_str(value.get()).map_err(|e| classify(index, &e))?;
                    fields.small.insert(key, v);
                }
            }
        }
        Ok(fields)
    }
}

fn utf8(body: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(body)
        .map_err(|e| Error::InvalidJson(format!("the body is not valid UTF-8: {e}")))
}

/// Syntax errors are `invalid_json`; well-formed JSON of the wrong shape is an
/// invalid message.
fn classify(index: Option<usize>, e: &serde_json::Error) -> Error {
    match e.classify() {
        serde_json::error::Category::Data => {
            Error::invalid(index, format!("a message must be a JSON object ({e})"))
        }
        _ => Error::InvalidJson(match index {
            Some(i) => format!("batch[{i}]: {e}"),
            None => e.to_string(),
        }),
    }
}

/// A raw value that must be an object: `None` for absent, `null` or `{}`.
fn raw_object<'a>(raw: Option<&'a RawValue>, key: &str) -> Result<Option<&'a str>, String> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get().trim();
    let kind = match text.as_bytes().first() {
        Some(b'{') => {
            let inner = &text[1..text.len() - 1];
            return Ok(if inner.trim().is_empty() {
                None
            } else {
                Some(text)
            });
        }
        Some(b'n') => return Ok(None),
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        _ => "a number",
    };
    Err(format!("`{key}` must be an object, not {kind}"))
}

/// Parses an optional raw object.
fn parse_object(raw: Option<&str>) -> Result<Map<String, Value>, String> {
    match raw {
        None => Ok(Map::new()),
        Some(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
    }
}

/// Writes the payload object from raw parts, without re-serializing them.
#[derive(Default)]
pub(crate) struct PayloadBuilder {
    out: String,
}

impl PayloadBuilder {
    pub(crate) fn raw(&mut self, key: &str, raw: Option<&str>) {
        if let Some(raw) = raw {
            self.out.push(if self.out.is_empty() { '{' } else { ',' });
            self.out.push('"');
            self.out.push_str(key);
            self.out.push_str("\":");
            self.out.push_str(raw);
        }
    }

    pub(crate) fn string(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.raw(key, Some(&Value::String(v.to_owned()).to_string()));
        }
    }

    pub(crate) fn finish(mut self) -> String {
        if self.out.is_empty() {
            return "{}".to_owned();
        }
        self.out.push('}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_timestamp;

    const NOW: Millis = 1_767_225_600_000;

    fn one(body: &str, ep: Endpoint) -> Result<Event, Error> {
        parse(body.as_bytes(), ep, NOW).map(|mut b| b.events.remove(0))
    }

    #[test]
    fn track_with_skew_correction() {
        let e = one(
            r#"{"userId":"u1","event":"Order Completed","properties":{"revenue":12.5},
               "timestamp":"2026-01-01T00:10:00Z","sentAt":"2026-01-01T00:10:01Z","messageId":"m1"}"#,
            Endpoint::Single(EventType::Track),
        )
        .unwrap();
        assert_eq!(e.kind, EventType::Track);
        assert_eq!(e.event.as_deref(), Some("Order Completed"));
        assert_eq!(e.message_id, "m1");
        assert_eq!(e.timestamp, NOW - 1_000);
        assert_eq!(e.payload, r#"{"properties":{"revenue":12.5}}"#);
    }

    #[test]
    fn batch_merges_envelope_context_and_sent_at() {
        let b = parse(
            br#"{"writeKey":"k","sentAt":"2026-01-01T00:00:05Z","context":{"library":{"name":"x"},"ip":"1"},
                 "batch":[{"type":"identify","anonymousId":"a1","traits":{"email":"a@x"},"context":{"ip":"2"},
                           "timestamp":"2026-01-01T00:00:04Z"},
                          {"type":"page","userId":"u","name":"Home","category":"Docs"}]}"#,
            Endpoint::Batch,
            NOW,
        )
        .unwrap();
        assert_eq!(b.write_key.as_deref(), Some("k"));
        let id = &b.events[0];
        assert_eq!(id.timestamp, NOW - 1_000);
        assert_eq!(id.traits, vec![("email".to_string(), Value::from("a@x"))]);
        let p: Value = serde_json::from_str(&id.payload).unwrap();
        assert_eq!(p["context"]["ip"], "2");
        assert_eq!(p["context"]["library"]["name"], "x");
        assert_eq!(b.events[1].name.as_deref(), Some("Home"));
        assert!(b.events[1].payload.contains(r#""category":"Docs""#));
        assert_eq!(b.events[1].timestamp, NOW);
    }

    #[test]
    fn rudderstack_identify_traits_in_context() {
        let e = one(
            r#"{"userId":"u","context":{"traits":{"plan":"pro"}},"traits":{"name":"Ann"}}"#,
            Endpoint::Single(EventType::Identify),
        )
        .unwrap();
        let mut names: Vec<_> = e.traits.iter().map(|(k, _)| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["name", "plan"]);
    }

    #[test]
    fn explicit_nulls_are_absent() {
        let e = one(
            r#"{"userId":null,"anonymousId":"a","event":"x","properties":null,"context":null,
               "timestamp":null,"messageId":null,"integrations":null}"#,
            Endpoint::Single(EventType::Track),
        )
        .unwrap();
        assert_eq!(e.user_id, None);
        assert!(!e.message_id.is_empty());
        assert_eq!(e.payload, "{}");
    }

    #[test]
    fn each_invalid_message_says_why() {
        let cases: [(&str, Endpoint, &str); 10] = [
            (
                r#"{"event":"x"}"#,
                Endpoint::Single(EventType::Track),
                "`userId` or `anonymousId` is required",
            ),
            (
                r#"{"userId":"u"}"#,
                Endpoint::Single(EventType::Track),
                "`event` is required",
            ),
            (
                r#"{"userId":"u","event":5}"#,
                Endpoint::Single(EventType::Track),
                "`event` must be a string",
            ),
            (
                r#"{"userId":["u"],"event":"x"}"#,
                Endpoint::Single(EventType::Track),
                "`userId` must be a string",
            ),
            (
                r#"{"userId":"u","event":"x","properties":[1]}"#,
                Endpoint::Single(EventType::Track),
                "`properties` must be an object",
            ),
            (
                r#"{"userId":"u","event":"x","timestamp":"soon"}"#,
                Endpoint::Single(EventType::Track),
                "not an ISO-8601",
            ),
            (
                r#"{"userId":"u"}"#,
                Endpoint::Single(EventType::Group),
                "`groupId` is required",
            ),
            (
                r#"{"userId":"u"}"#,
                Endpoint::Single(EventType::Alias),
                "`previousId` is required",
            ),
            (
                r#"{"batch":[{"userId":"u","event":"x"}]}"#,
                Endpoint::Batch,
                "batch[0]: `type` is required",
            ),
            (
                r#"{"batch":[{"type":"tracks","userId":"u"}]}"#,
                Endpoint::Batch,
                "unknown `type`",
            ),
        ];
        for (body, ep, want) in cases {
            let err = parse(body.as_bytes(), ep, NOW).unwrap_err();
            assert_eq!(err.code(), "invalid_message", "{body}");
            assert!(err.to_string().contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn malformed_and_oversized_bodies() {
        let ep = Endpoint::Single(EventType::Track);
        assert_eq!(
            parse(b"{\"userId\":", ep, NOW).unwrap_err().code(),
            "invalid_json"
        );
        assert_eq!(
            parse(b"{\"userId\":\"\xff\xfe\"}", ep, NOW)
                .unwrap_err()
                .code(),
            "invalid_json"
        );
        let deep = "[".repeat(500) + &"]".repeat(500);
        let body = format!(r#"{{"userId":"u","event":"x","properties":{{"a":{deep}}}}}"#);
        assert_eq!(
            parse(body.as_bytes(), ep, NOW).unwrap_err().code(),
            "invalid_json"
        );
        let big = format!(
            r#"{{"userId":"u","event":"x","properties":{{"a":"{}"}}}}"#,
            "x".repeat(40_000)
        );
        assert_eq!(
            parse(big.as_bytes(), ep, NOW).unwrap_err().code(),
            "message_too_large"
        );
        let huge = vec![b' '; MAX_BATCH_BYTES + 1];
        assert_eq!(
            parse(&huge, Endpoint::Batch, NOW).unwrap_err().code(),
            "payload_too_large"
        );
        let item = format!(
            r#"{{"type":"track","userId":"u","event":"{}"}}"#,
            "e".repeat(33_000)
        );
        let body = format!(r#"{{"batch":[{item}]}}"#);
        let err = parse(body.as_bytes(), Endpoint::Batch, NOW).unwrap_err();
        assert_eq!(err.code(), "message_too_large");
        assert!(err.to_string().starts_with("batch[0]"));
        assert_eq!(
            parse(br#"{"batch":5}"#, Endpoint::Batch, NOW)
                .unwrap_err()
                .code(),
            "invalid_message"
        );
        assert_eq!(
            parse(br#"[1,2]"#, Endpoint::Batch, NOW).unwrap_err().code(),
            "invalid_message"
        );
    }

    #[test]
    fn numeric_ids_become_strings() {
        let e = one(
            r#"{"userId":123,"event":"x"}"#,
            Endpoint::Single(EventType::Track),
        )
        .unwrap();
        assert_eq!(e.user_id.as_deref(), Some("123"));
    }

    #[test]
    fn alias_keeps_both_ids() {
        let e = one(
            r#"{"previousId":"anon","userId":"u"}"#,
            Endpoint::Single(EventType::Alias),
        )
        .unwrap();
        assert_eq!(e.previous_id.as_deref(), Some("anon"));
        assert_eq!(e.user_id.as_deref(), Some("u"));
    }

    #[test]
    fn endpoint_paths() {
        assert_eq!(
            Endpoint::from_path("t"),
            Some(Endpoint::Single(EventType::Track))
        );
        assert_eq!(Endpoint::from_path("import"), Some(Endpoint::Batch));
        assert_eq!(Endpoint::from_path("nope"), None);
        assert!(parse_timestamp("2026-01-01T00:00:00Z").is_some());
    }

    #[test]
    fn raw_objects_are_kept_verbatim_and_checked() {
        let e = one(
            r#"{"userId":"u","event":"x","properties":{"s":"[[[{{{","n":[1,{"a":null}]},"context":{ }}"#,
            Endpoint::Single(EventType::Track),
        )
        .unwrap();
        assert_eq!(
            e.payload,
            r#"{"properties":{"s":"[[[{{{","n":[1,{"a":null}]}}"#
        );
        let v: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!(v["properties"]["s"], "[[[{{{");
        for (props, kind) in [
            ("[1]", "an array"),
            ("\"x\"", "a string"),
            ("true", "a boolean"),
            ("5", "a number"),
        ] {
            let body = format!(r#"{{"userId":"u","event":"x","properties":{props}}}"#);
            let err = one(&body, Endpoint::Single(EventType::Track)).unwrap_err();
            assert!(err.to_string().contains(kind), "{err}");
        }
    }

    #[test]
    fn nesting_depth_ignores_brackets_in_strings() {
        assert!(check_raw(r#"{"a":"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\"{{{{{"}"#, 2).is_ok());
        assert!(check_raw("[[1]]", 2).is_ok());
        assert_eq!(check_raw("[[[1]]]", 2), Err(RawFault::TooDeep));
        let ok = format!(
            r#"{{"userId":"u","event":"x","properties":{{"a":{}1{}}}}}"#,
            "[".repeat(62),
            "]".repeat(62)
        );
        assert!(one(&ok, Endpoint::Single(EventType::Track)).is_ok());
    }

    /// A lone surrogate escape in a key or value of `properties` (copied raw
    /// into the payload) was stored, and the payload could not be read back.
    #[test]
    fn lone_surrogate_escapes_in_raw_objects_are_refused() {
        for (props, ok) in [
            (r#"{"\ud800products":1}"#, false),
            (r#"{"a":"x\udfffy"}"#, false),
            (r#"{"a":"\ud83d"}"#, false),
            (r#"{"a":"\ud83d\u0041"}"#, false),
            (r#"{"a":"\ud83d\\ude00"}"#, false),
            (r#"{"a":"\ud83d\ude00 \u00e9 \\ud800"}"#, true),
            (r#"{"a":"\uD83D\uDE00"}"#, true),
        ] {
            let body = format!(r#"{{"userId":"u","event":"x","properties":{props}}}"#);
            match one(&body, Endpoint::Single(EventType::Track)) {
                Ok(e) => {
                    assert!(ok, "{props} was accepted");
                    let payload: Value = serde_json::from_str(&e.payload).unwrap();
                    assert!(payload["properties"]["a"].is_string());
                }
                Err(err) => {
                    assert!(!ok, "{props}: {err}");
                    assert_eq!(err.code(), "invalid_json");
                    assert!(err.to_string().contains("lone surrogate"), "{err}");
                }
            }
        }
        for key in ["context", "traits"] {
            let body = format!(r#"{{"userId":"u","groupId":"g","{key}":{{"a":"\udc00"}}}}"#);
            let err = one(&body, Endpoint::Single(EventType::Group)).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    /// A number beyond f64 (`5e+600`) in `properties` passed serde_json's skim
    /// of the raw object, and the stored payload could not be read back.
    #[test]
    fn numbers_out_of_range_in_raw_objects_are_refused() {
        let huge = "9".repeat(400);
        for (number, ok) in [
            ("5e+600", false),
            ("-1e309", false),
            ("1E400", false),
            (huge.as_str(), false),
            ("1.7976931348623157e308", true),
            ("5e-600", true),
            ("-0.0e0", true),
            ("18446744073709551616", true),
            ("42.5", true),
        ] {
            let body = format!(
                r#"{{"userId":"u","event":"x","properties":{{"a":[{number}],"b":"1e999"}}}}"#
            );
            match one(&body, Endpoint::Single(EventType::Track)) {
                Ok(e) => {
                    assert!(ok, "{number} was accepted");
                    let payload: Value = serde_json::from_str(&e.payload).unwrap();
                    assert!(payload["properties"]["a"][0].is_number());
                }
                Err(err) => {
                    assert!(!ok, "{number}: {err}");
                    assert_eq!(err.code(), "invalid_json");
                    assert!(err.to_string().contains("out of range"), "{err}");
                }
            }
        }
    }
}

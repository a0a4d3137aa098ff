//! PostHog's capture endpoints (`/batch`, `/capture`, `/e`, `/i/v0/e`, `/track`,
//! `/engage`): one event, an array of events, or `{"batch": […]}`.

use serde_json::{Map, Value};

use crate::time::{Millis, posthog_event_time};
use crate::{
    Batch, Error, Event, EventType, MAX_BATCH_BYTES, MAX_MESSAGE_BYTES, MAX_MESSAGE_ID_CHARS,
    kind_of, new_message_id, payload, take_id, take_object, take_string, take_time, trait_list,
};

/// Parses a capture body (already decompressed and, for form posts, decoded).
pub fn parse(body: &[u8], received_at: Millis) -> Result<Batch, Error> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(Error::BodyTooLarge);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| Error::json(&e))?;
    let (mut top, items, single) = match value {
        Value::Array(items) => (Map::new(), items, false),
        Value::Object(mut map) => match map.remove("batch") {
            Some(Value::Array(items)) => (map, items, false),
            Some(other) => {
                return Err(Error::invalid(
                    None,
                    format!("`batch` must be an array, not {}", kind_of(&other)),
                ));
            }
            None => (Map::new(), vec![Value::Object(map)], true),
        },
        other => {
            return Err(Error::invalid(
                None,
                format!(
                    "the body must be an object or an array, not {}",
                    kind_of(&other)
                ),
            ));
        }
    };
    let index = |i: usize| if single { None } else { Some(i) };
    let mut write_key = take_id(&mut top, "api_key").map_err(|r| Error::invalid(None, r))?;
    let mut sent_at = take_time(&mut top, "sent_at").map_err(|r| Error::invalid(None, r))?;
    if sent_at.is_none() {
        sent_at = take_time(&mut top, "sentAt").map_err(|r| Error::invalid(None, r))?;
    }
    let mut events = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(mut map) = item else {
            return Err(Error::invalid(
                index(i),
                format!("an event must be an object, not {}", kind_of(&item)),
            ));
        };
        let size = serde_json::to_string(&map).map(|s| s.len()).unwrap_or(0);
        if size > MAX_MESSAGE_BYTES {
            return Err(Error::MessageTooLarge {
                index: index(i),
                size,
            });
        }
        let key = take_id(&mut map, "api_key").map_err(|r| Error::invalid(index(i), r))?;
        let token = match map.get("properties") {
            Some(Value::Object(p)) => p.get("token").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        if write_key.is_none() {
            write_key = key.or(token);
        }
        events.push(event(map, sent_at, received_at).map_err(|r| Error::invalid(index(i), r))?);
    }
    Ok(Batch { write_key, events })
}

fn event(
    mut map: Map<String, Value>,
    sent_at: Option<Millis>,
    now: Millis,
) -> Result<Event, String> {
    let name = take_string(&mut map, "event")?.ok_or("`event` is required")?;
    let mut properties = take_object(&mut map, "properties")?;
    let mut distinct_id = take_id(&mut map, "distinct_id")?;
    if distinct_id.is_none() {
        distinct_id = take_id(&mut properties, "distinct_id")?;
    }
    let distinct_id = distinct_id.ok_or("`distinct_id` is required")?;
    let message_id = match take_string(&mut map, "uuid")? {
        Some(u) if u.chars().count() > MAX_MESSAGE_ID_CHARS => {
            return Err(format!(
                "`uuid` is longer than {MAX_MESSAGE_ID_CHARS} characters"
            ));
        }
        Some(u) => u,
        None => new_message_id(),
    };
    let timestamp = take_time(&mut map, "timestamp")?;
    let event_sent_at = take_time(&mut map, "sent_at")?;
    let offset = match map.remove("offset") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(v) => return Err(format!("`offset` must be a number, not {}", kind_of(&v))),
    };
    let timestamp = posthog_event_time(now, timestamp, event_sent_at.or(sent_at), offset);

    // `$set` / `$set_once` may sit at the top level or in the properties.
    let mut set = take_object(&mut map, "$set")?;
    for (k, v) in take_object(&mut properties, "$set")? {
        set.entry(k).or_insert(v);
    }
    let mut set_once = take_object(&mut map, "$set_once")?;
    for (k, v) in take_object(&mut properties, "$set_once")? {
        set_once.entry(k).or_insert(v);
    }
    properties.remove("token");

    // A distinct id names a user only when PostHog says so (`$identify`, or
    // `$is_identified: true`); otherwise it is an id like an anonymous one, which
    // `$identify` may later stitch to a user.
    let identified = matches!(properties.get("$is_identified"), Some(Value::Bool(true)));
    let (mut user_id, mut anonymous_id) = if identified {
        (Some(distinct_id), None)
    } else {
        (None, Some(distinct_id))
    };
    let mut previous_id = None;
    let mut event_name = None;
    let mut page_name = None;
    let mut group_id = None;
    let mut group_traits = None;
    let kind = match name.as_str() {
        "$identify" => {
            if anonymous_id.is_some() {
                user_id = anonymous_id.take();
            }
            anonymous_id = take_id(&mut properties, "$anon_distinct_id")?;
            EventType::Identify
        }
        "$set" => EventType::Identify,
        "$create_alias" => {
            let alias = take_id(&mut properties, "alias")?
                .ok_or("`properties.alias` is required for $create_alias")?;
            previous_id = user_id.take().or(anonymous_id.take());
            user_id = Some(alias);
            EventType::Alias
        }
        "$pageview" => {
            page_name = properties
                .get("$current_url")
                .and_then(Value::as_str)
                .map(str::to_owned);
            EventType::Page
        }
        "$screen" => {
            page_name = properties
                .get("$screen_name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            EventType::Screen
        }
        "$groupidentify" => {
            group_id = Some(
                take_id(&mut properties, "$group_key")?
                    .ok_or("`properties.$group_key` is required for $groupidentify")?,
            );
            group_traits = Some(Value::Object(take_object(&mut properties, "$group_set")?));
            EventType::Group
        }
        _ => {
            event_name = Some(name);
            EventType::Track
        }
    };
    let payload = payload([
        ("properties", Some(Value::Object(properties))),
        ("context", None),
        // An identify keeps the traits it set, so the event says what it did.
        (
            "traits",
            group_traits
                .or_else(|| (kind == EventType::Identify).then(|| Value::Object(set.clone()))),
        ),
        ("category", None),
        ("group_id", group_id.map(Value::String)),
    ]);
    Ok(Event {
        message_id,
        kind,
        user_id,
        anonymous_id,
        previous_id,
        event: event_name,
        name: page_name,
        timestamp,
        received_at: now,
        traits: trait_list(&set),
        traits_once: trait_list(&set_once),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_767_225_600_000;

    fn parse_str(s: &str) -> Result<Batch, Error> {
        parse(s.as_bytes(), NOW)
    }

    #[test]
    fn python_sdk_batch() {
        let b = parse_str(
            r#"{"api_key":"phc_k","sent_at":"2026-01-01T00:00:10Z","batch":[
                {"event":"Signed Up","distinct_id":"u1","uuid":"id-1","timestamp":"2026-01-01T00:00:08Z",
                 "properties":{"plan":"pro","$set":{"email":"u@x"},"$set_once":{"first":"yes"}}},
                {"event":"$pageview","distinct_id":"u1","properties":{"$current_url":"https://x/a"}}]}"#,
        )
        .unwrap();
        assert_eq!(b.write_key.as_deref(), Some("phc_k"));
        let e = &b.events[0];
        assert_eq!(e.kind, EventType::Track);
        assert_eq!(e.message_id, "id-1");
        assert_eq!(e.timestamp, NOW - 2_000);
        assert_eq!(e.traits, vec![("email".to_string(), Value::from("u@x"))]);
        assert_eq!(
            e.traits_once,
            vec![("first".to_string(), Value::from("yes"))]
        );
        assert_eq!(e.payload, r#"{"properties":{"plan":"pro"}}"#);
        assert_eq!(b.events[1].kind, EventType::Page);
        assert_eq!(b.events[1].name.as_deref(), Some("https://x/a"));
    }

    #[test]
    fn identify_alias_group_mapping() {
        let b = parse_str(
            r#"[{"event":"$identify","distinct_id":"u1","properties":{"$anon_distinct_id":"anon1","token":"phc_t"},"$set":{"a":1}},
                {"event":"$create_alias","distinct_id":"old","properties":{"alias":"new"}},
                {"event":"$groupidentify","distinct_id":"u1","properties":{"$group_type":"company","$group_key":"acme","$group_set":{"n":"Acme"}}},
                {"event":"$screen","distinct_id":"u1","properties":{"$screen_name":"Cart","$is_identified":false}}]"#,
        )
        .unwrap();
        assert_eq!(b.write_key.as_deref(), Some("phc_t"));
        let id = &b.events[0];
        assert_eq!(
            (id.kind, id.user_id.as_deref(), id.anonymous_id.as_deref()),
            (EventType::Identify, Some("u1"), Some("anon1"))
        );
        assert_eq!(id.traits.len(), 1);
        let al = &b.events[1];
        assert_eq!(
            (al.kind, al.previous_id.as_deref(), al.user_id.as_deref()),
            (EventType::Alias, Some("old"), Some("new"))
        );
        let g = &b.events[2];
        assert_eq!(g.kind, EventType::Group);
        assert!(g.payload.contains(r#""group_id":"acme""#));
        let s = &b.events[3];
        assert_eq!(
            (s.kind, s.anonymous_id.as_deref(), s.user_id.as_deref()),
            (EventType::Screen, Some("u1"), None)
        );
    }

    #[test]
    fn single_event_and_offset() {
        let b =
            parse_str(r#"{"api_key":"k","event":"x","properties":{"distinct_id":7},"offset":500}"#)
                .unwrap();
        assert_eq!(b.events[0].anonymous_id.as_deref(), Some("7"));
        assert_eq!(b.events[0].timestamp, NOW - 500);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_str(r#"{"api_key":"k","event":"x"}"#)
                .unwrap_err()
                .to_string(),
            "`distinct_id` is required"
        );
        let e = parse_str(r#"{"batch":[{"distinct_id":"u"}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "batch[0]: `event` is required");
        assert_eq!(parse_str(r#""x""#).unwrap_err().code(), "invalid_message");
        assert_eq!(
            parse_str(r#"{"batch":{}}"#).unwrap_err().code(),
            "invalid_message"
        );
        assert_eq!(parse_str("{").unwrap_err().code(), "invalid_json");
    }
}

//! A PostHog capture request as the server reads it: query string, headers,
//! form fields, base64, gzip, then the parser.
//!
//! Input: one byte of flags (1: form body, 2: `Content-Encoding: gzip`), the
//! query string up to the first newline, then the raw body.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use seglab_event::MAX_BATCH_BYTES;
use seglab_event::wire::body::{PostHogHeaders, posthog_body};
use seglab_event::wire::posthog;
use seglab_fuzz::{RECEIVED_AT, check_batch};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (query, raw) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&rest[..0], rest),
    };
    let query: HashMap<String, String> = form_urlencoded::parse(query).into_owned().collect();
    let headers = PostHogHeaders {
        form: flags & 1 != 0,
        gzip: flags & 2 != 0,
    };
    let Ok(json) = posthog_body(&query, headers, raw) else {
        return;
    };
    // Inflating is bounded; form decoding and base64 only shrink.
    assert!(!json.is_empty() && json.len() <= MAX_BATCH_BYTES.max(data.len()));
    if let Ok(batch) = posthog::parse(&json, RECEIVED_AT) {
        check_batch(&batch);
    }
});

//! The PostHog capture parser, on a decoded body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seglab_event::wire::posthog;
use seglab_fuzz::{RECEIVED_AT, check_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(batch) = posthog::parse(data, RECEIVED_AT) {
        check_batch(&batch);
    }
});

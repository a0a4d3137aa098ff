//! The Segment HTTP Tracking API parser, on every endpoint: the first byte
//! picks the endpoint, the rest is the (already inflated) body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seglab_event::EventType;
use seglab_event::wire::segment_spec::{self, Endpoint};
use seglab_fuzz::{RECEIVED_AT, check_batch};

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    let endpoint = match which % 7 {
        6 => Endpoint::Batch,
        i => Endpoint::Single(EventType::ALL[usize::from(i)]),
    };
    if let Ok(batch) = segment_spec::parse(body, endpoint, RECEIVED_AT) {
        check_batch(&batch);
    }
});

//! Inflating a gzip body (bounded output), then the Segment batch parser on
//! whatever comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seglab_event::MAX_BATCH_BYTES;
use seglab_event::wire::body::gunzip;
use seglab_event::wire::segment_spec::{self, Endpoint};
use seglab_fuzz::{RECEIVED_AT, check_batch};

fuzz_target!(|data: &[u8]| {
    match gunzip(data) {
        Ok(body) => {
            assert!(body.len() <= MAX_BATCH_BYTES);
            if let Ok(batch) = segment_spec::parse(&body, Endpoint::Batch, RECEIVED_AT) {
                check_batch(&batch);
            }
        }
        Err(e) => assert!(matches!(e.code(), "invalid_gzip" | "payload_too_large")),
    }
});

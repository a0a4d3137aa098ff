//! Any UTF-8 input: `parse` never panics; what parses prints, and the printed
//! source parses back to the same tree; errors render.
//!
//! Run with `cargo +nightly fuzz run parse` from `crates/seglab-lang`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    match seglab_lang::parse(source) {
        Ok(file) => {
            let printed = seglab_lang::print(&file);
            let again = match seglab_lang::parse(&printed) {
                Ok(again) => again,
                Err(diagnostics) => {
                    panic!("printed source does not parse: {printed:?}: {diagnostics:?}")
                }
            };
            assert_eq!(again.without_spans(), file.without_spans(), "{printed}");
        }
        Err(diagnostics) => {
            let _ = seglab_lang::render_all(&diagnostics, source, "fuzz.seg");
        }
    }
    if let Ok(condition) = seglab_lang::parse_condition(source) {
        let printed = seglab_lang::print_condition(&condition);
        assert!(seglab_lang::parse_condition(&printed).is_ok(), "{printed}");
    }
});

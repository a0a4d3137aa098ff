//! The segment language: whatever parses prints, parses back to the same tree
//! (the crate's round-trip promise), checks and renders its diagnostics;
//! whatever does not parse reports diagnostics with known codes and spans
//! inside the source.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seglab_lang::{check, codes, parse, parse_condition, print, print_condition, render_all};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    match parse(source) {
        Ok(file) => {
            let printed = print(&file);
            let again = parse(&printed)
                .unwrap_or_else(|d| panic!("{source:?} printed as {printed:?}: {d:?}"));
            assert_eq!(
                again.without_spans(),
                file.without_spans(),
                "{source:?} printed as {printed:?}"
            );
            assert_eq!(print(&again), printed, "printing is not a fixed point");
            let diags = check(&file, &seglab_fuzz::catalog());
            let _ = render_all(&diags, source, "fuzz.seg");
            let _ = seglab_lang::to_json(&file);
        }
        Err(diags) => {
            assert!(!diags.is_empty());
            for d in &diags {
                assert!(codes::ALL.contains(&d.code), "unknown code {}", d.code);
                assert!(
                    d.span.start <= d.span.end && d.span.end as usize <= source.len(),
                    "span {:?} outside the source",
                    d.span
                );
            }
            let _ = render_all(&diags, source, "fuzz.seg");
        }
    }
    if let Ok(c) = parse_condition(source) {
        let printed = print_condition(&c);
        let again = parse_condition(&printed)
            .unwrap_or_else(|d| panic!("{source:?} printed as {printed:?}: {d:?}"));
        assert_eq!(again.without_spans(), c.without_spans(), "{printed:?}");
    }
});

//! Arbitrary and mutated input never makes the parser panic, and whatever
//! parses also prints, re-parses to the same tree, checks and renders.

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use seglab_lang::{check, codes, parse, parse_condition, print, print_condition, render_all};

use crate::support::{EXAMPLES, catalog};

fn config(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Feeds `source` through everything; panics only on a broken invariant.
fn exercise(source: &str) {
    let catalog = catalog();
    match parse(source) {
        Ok(file) => {
            let printed = print(&file);
            let again =
                parse(&printed).unwrap_or_else(|d| panic!("{source:?} → {printed:?}: {d:?}"));
            assert_eq!(
                again.without_spans(),
                file.without_spans(),
                "{source:?} → {printed:?}"
            );
            let diags = check(&file, &catalog);
            let _ = render_all(&diags, source, "fuzz.seg");
        }
        Err(diags) => {
            assert!(!diags.is_empty());
            for d in &diags {
                assert!(codes::ALL.contains(&d.code), "{}", d.code);
                assert!(d.span.start <= d.span.end && d.span.end as usize <= source.len());
            }
            let _ = render_all(&diags, source, "fuzz.seg");
        }
    }
    if let Ok(c) = parse_condition(source) {
        let printed = print_condition(&c);
        let again = parse_condition(&printed).unwrap_or_else(|d| panic!("{printed:?}: {d:?}"));
        assert_eq!(again.without_spans(), c.without_spans());
    }
}

/// Source-like token soup.
fn soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "segment",
        "a",
        "b",
        "=",
        "\"Order Completed\"",
        "\"x",
        "did",
        "count",
        "sum",
        "top",
        "distinct",
        "first",
        "last_seen",
        "(",
        ")",
        "[",
        "]",
        ",",
        ".",
        "where",
        "in",
        "last",
        "between",
        "and",
        "or",
        "not",
        "then",
        "within",
        "30d",
        "0d",
        "1h",
        "2026-01-01",
        "2026-02-30",
        "3",
        "-1.5",
        ">=",
        "!=",
        "<",
        "exists",
        "contains",
        "starts_with",
        "trait",
        "rfm",
        "r",
        "predicted",
        "regularly",
        "per",
        "of",
        "stopped",
        "for",
        "restarted",
        "after",
        "before",
        "ago",
        "true",
        "#",
        "\n",
        "\\",
        "“",
        "é",
        "@",
    ]);
    prop::collection::vec(token, 0..40).prop_map(|ts| ts.join(" "))
}

/// The examples with a few characters inserted, deleted or replaced.
fn mutated() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0u8..3,
        prop::sample::select(vec![
            '"', '(', ')', '[', ']', ' ', '\n', '.', '=', '-', '0', 'd', '\\', 'x', '#', 'é',
            '\u{0}',
        ]),
    );
    prop::collection::vec(edit, 1..8).prop_map(|edits| {
        let mut chars: Vec<char> = EXAMPLES.chars().collect();
        for (at, kind, c) in edits {
            if chars.is_empty() {
                break;
            }
            let i = at.index(chars.len());
            match kind {
                0 => chars.insert(i, c),
                1 => {
                    chars.remove(i);
                }
                _ => chars[i] = c,
            }
        }
        chars.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(config(1500, 0x5e61_ab01))]
    #[test]
    fn token_soup_never_panics(source in soup()) {
        exercise(&source);
    }
}

proptest! {
    #![proptest_config(config(1500, 0x5e61_ab02))]
    #[test]
    fn mutated_examples_never_panic(source in mutated()) {
        exercise(&source);
    }
}

proptest! {
    #![proptest_config(config(1500, 0x5e61_ab03))]
    #[test]
    fn arbitrary_text_never_panics(source in any::<String>()) {
        exercise(&source);
    }
}

#[test]
fn pathological_inputs() {
    let inputs = [
        String::new(),
        "segment".to_string(),
        "segment a =".to_string(),
        "(".repeat(100_000),
        "not ".repeat(100_000),
        format!("segment a = did \"E\" where {}", "not (".repeat(50_000)),
        format!("segment a = {}", "did \"E\" and ".repeat(20_000)),
        "\"".repeat(10_001),
        "\\".repeat(1000),
        "9".repeat(5000),
        "2026-".repeat(1000),
        "segment a = rfm in [".to_string() + &"a,".repeat(10_000),
        "\u{0}\u{FEFF}\u{202E}".repeat(100),
    ];
    for input in &inputs {
        exercise(input);
    }
}

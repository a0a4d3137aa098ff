//! Insights and the guardrail warnings of `segments check`, from the command
//! line, on the demo store.

use crate::{seglab, stdout};

#[test]
fn insights_tables_and_check_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stdout(&seglab(&data, &["demo", "--people", "300", "--days", "60"]));

    let text = stdout(&seglab(
        &data,
        &["insights", "recent_buyers", "--days", "7"],
    ));
    assert!(text.starts_with("recent_buyers at "), "{text}");
    for part in ["members", "average order", "conversion", "engagement"] {
        assert!(text.contains(part), "{part}: {text}");
    }

    let text = stdout(&seglab(&data, &["insights", "rfm"]));
    assert!(text.contains("R=5") && text.contains("F=5"), "{text}");
    assert!(
        text.contains("Champions") && text.contains("Cannot lose them"),
        "{text}"
    );

    let text = stdout(&seglab(
        &data,
        &["insights", "overlap", "recent_buyers", "new_buyers"],
    ));
    assert!(
        text.contains("Jaccard") && text.contains("new_buyers"),
        "{text}"
    );

    let text = stdout(&seglab(
        &data,
        &["insights", "families", "rfm_champions", "recent_buyers"],
    ));
    assert!(text.contains("(in none)"), "{text}");

    let text = stdout(&seglab(&data, &["insights", "guardrails", "--weeks", "2"]));
    assert!(text.contains("warning["), "{text}");

    let out = seglab(&data, &["insights", "ghost"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no segment named \"ghost\""));

    // A copy of recent_buyers and a segment of an event never tracked: the
    // file is valid (exit 0), the guardrails warn.
    let segs = dir.path().join("segments");
    std::fs::create_dir(&segs).unwrap();
    std::fs::write(
        segs.join("a.seg"),
        "segment recent_again = did \"Order Completed\" in last 30d\n\
         segment refunded = did \"Order Refunded\" in last 30d\n",
    )
    .unwrap();
    let out = seglab(&data, &["segments", "check", segs.to_str().unwrap()]);
    assert!(stdout(&out).contains("2 segments in 1 files: ok"));
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        warnings.contains(
            "warning[near_duplicate] recent_again: nearly the same people as recent_buyers"
        ),
        "{warnings}"
    );
    assert!(
        warnings.contains("warning[stale] refunded: uses \"Order Refunded\" (never tracked)"),
        "{warnings}"
    );
    assert!(
        warnings.contains("warning[too_small] refunded: no members"),
        "{warnings}"
    );
}

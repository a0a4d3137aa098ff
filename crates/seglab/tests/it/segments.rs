//! Segments as code from the command line.

use crate::seglab;

fn demo(data: &std::path::Path) {
    let out = seglab(data, &["demo", "--people", "300", "--days", "60"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    // The demo installs the starter segments and prints their sizes.
    for name in [
        "recent_buyers",
        "cart_abandoners",
        "rfm_champions",
        "email_engaged",
    ] {
        assert!(table.contains(name), "{table}");
    }
}

#[test]
fn check_apply_diff_eval_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo(&data);
    let segs = dir.path().join("segments");
    std::fs::create_dir(&segs).unwrap();
    std::fs::write(
        segs.join("a.seg"),
        "segment big_spenders \"Big spenders\" = sum(\"Order Completed\".revenue) >= 200\n",
    )
    .unwrap();
    std::fs::write(
        segs.join("b.seg"),
        "segment loyal_big = in segment big_spenders and count(\"Order Completed\") >= 2\n",
    )
    .unwrap();
    let segs_arg = segs.to_str().unwrap();

    let out = seglab(&data, &["segments", "check", segs_arg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 segments in 2 files: ok"));

    let out = seglab(&data, &["segments", "diff", segs_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("big_spenders") && text.contains("new"),
        "{text}"
    );

    let out = seglab(&data, &["segments", "apply", segs_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("big_spenders") && text.contains("created (version 1)"),
        "{text}"
    );
    let out = seglab(&data, &["segments", "apply", segs_arg]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("unchanged (version 1)"));

    std::fs::write(
        segs.join("a.seg"),
        "segment big_spenders \"Big spenders\" = sum(\"Order Completed\".revenue) >= 100\n",
    )
    .unwrap();
    let out = seglab(&data, &["segments", "diff", segs_arg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("changed"), "{text}");
    assert!(text.contains("+"), "{text}");

    let out = seglab(&data, &["segments", "eval", "big_spenders", "loyal_big"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("big_spenders") && text.contains("loyal_big"),
        "{text}"
    );
    let out = seglab(
        &data,
        &[
            "segments",
            "eval",
            "recent_buyers",
            "--at",
            "2000-01-01T00:00:00Z",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("recent_buyers"))
        .unwrap();
    assert!(
        line.split_whitespace().any(|w| w == "0"),
        "nobody bought before 2000: {line}"
    );

    let out = seglab(&data, &["segments", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("big_spenders"));
}

#[test]
fn check_reports_every_error_with_position_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    demo(&data);
    let file = dir.path().join("bad.seg");
    std::fs::write(
        &file,
        "segment a = did \"Order Complete\" in last 30d\nsegment c = in segment nope\n",
    )
    .unwrap();
    let syntax = dir.path().join("syntax.seg");
    std::fs::write(
        &syntax,
        "segment b = count(\"Product Viewed\") >= \nsegment d = did\n",
    )
    .unwrap();
    let out = seglab(
        &data,
        &[
            "segments",
            "check",
            file.to_str().unwrap(),
            syntax.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.seg:1:17"), "{err}");
    assert!(err.contains("did you mean \"Order Completed\""), "{err}");
    assert!(err.contains("bad.seg:2:"), "{err}");
    assert!(err.contains("syntax.seg:1:"), "{err}");
    assert!(err.contains("syntax.seg:2:"), "{err}");
    assert!(err.contains("^"), "{err}");
    let out = seglab(&data, &["segments", "apply", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let out = seglab(&data, &["segments", "eval", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no segment named \"nope\""));
}

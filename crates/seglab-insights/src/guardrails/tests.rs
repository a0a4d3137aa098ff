//! Each guardrail firing and not firing at its boundary.

use roaring::RoaringTreemap;

use super::*;
use crate::overlap::overlap;

fn t() -> Thresholds {
    Thresholds::default()
}

/// The two-arm sample size of a test at `baseline`, as `seglab-stats` gives it.
fn needed(baseline: f64) -> u64 {
    2 * seglab_stats::sample_size(&PowerSpec::new(baseline, LIFT))
        .unwrap()
        .per_arm
}

#[test]
fn too_small_fires_one_person_short_of_the_sample_size() {
    // 10 % of 1,000 members converted; the rest must come from entries (over
    // 4 weeks, the entries of the last 28 days count once).
    let total = needed(0.1);
    assert!(total > 20_000, "{total}");
    let facts = |entries| SizeFacts {
        size: 1_000,
        converted: 100,
        entries: Some(entries),
    };
    assert_eq!(too_small("s", &facts(total - 1_000), &t()), None);
    let g = too_small("s", &facts(total - 1_001), &t()).unwrap();
    assert_eq!(g.kind, Kind::TooSmall);
    assert_eq!(g.numbers["needed"], total as f64);
    assert_eq!(g.numbers["reachable"], (total - 1) as f64);
    assert_eq!(g.numbers["baseline"], 0.1);
    assert!(g.numbers["weeks_needed"] > 4.0);
    // What it can detect is just above the lift asked for.
    let mde = g.numbers["minimum_detectable_lift"];
    assert!(mde > LIFT && mde < LIFT * 1.01, "{mde}");
    assert!(
        g.message
            .starts_with("cannot detect a +10 % lift in 4 weeks: at its 10 % conversion"),
        "{}",
        g.message
    );
    // With no history, members alone.
    let alone = SizeFacts {
        size: total,
        converted: total / 10,
        entries: None,
    };
    assert_eq!(too_small("s", &alone, &t()), None);
}

#[test]
fn too_small_says_why_without_members_or_conversions() {
    let none = too_small(
        "s",
        &SizeFacts {
            size: 0,
            converted: 0,
            entries: None,
        },
        &t(),
    )
    .unwrap();
    assert!(none.message.starts_with("no members"), "{}", none.message);
    let no_orders = too_small(
        "s",
        &SizeFacts {
            size: 1_000_000,
            converted: 0,
            entries: Some(5),
        },
        &t(),
    )
    .unwrap();
    assert!(
        no_orders
            .message
            .starts_with("no member ordered in the last 4 weeks")
    );
    assert!(no_orders.numbers.values().all(|x| x.is_finite()));
    // Everyone converts: a 10 % lift would pass 100 %; not a matter of size.
    let all = SizeFacts {
        size: 10,
        converted: 10,
        entries: None,
    };
    assert_eq!(too_small("s", &all, &t()), None);
}

#[test]
fn near_duplicates_above_the_threshold_only() {
    let set = |r: std::ops::Range<u64>| r.collect::<RoaringTreemap>();
    // a = 0..100; b = 0..90 (Jaccard 0.9 exactly); c = 0..91 (0.91).
    let sets = vec![
        ("a".to_owned(), set(0..100)),
        ("b".to_owned(), set(0..90)),
        ("c".to_owned(), set(0..91)),
    ];
    let o = overlap(&sets);
    assert_eq!(o.jaccard[0][1], 0.9);
    let found = near_duplicates(&o, &["a".to_owned()], &t());
    let pairs: Vec<(&str, Option<&str>)> = found
        .iter()
        .map(|g| (g.segment.as_str(), g.other.as_deref()))
        .collect();
    assert_eq!(pairs, vec![("a", Some("c"))]);
    assert_eq!(found[0].numbers["intersection"], 91.0);
    // Both sides, when both are checked (a and c, b and c: 90 / 91).
    let all: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    assert_eq!(near_duplicates(&o, &all, &t()).len(), 4);
    // Two empty segments are not duplicates of each other.
    let empty = overlap(&[("x".to_owned(), set(0..0)), ("y".to_owned(), set(0..0))]);
    assert!(near_duplicates(&empty, &["x".to_owned()], &t()).is_empty());
}

#[test]
fn stale_on_no_entries_or_quiet_events() {
    assert_eq!(stale("s", Some(1), &[], &t()), None);
    assert_eq!(stale("s", None, &[], &t()), None);
    let g = stale("s", Some(0), &[], &t()).unwrap();
    assert_eq!(g.message, "nobody entered in the last 30 days");
    assert_eq!(g.numbers["entries"], 0.0);
    let quiet = [
        Untracked {
            event: "Old".into(),
            ever: true,
        },
        Untracked {
            event: "New".into(),
            ever: false,
        },
    ];
    let g = stale("s", Some(3), &quiet, &t()).unwrap();
    assert_eq!(
        g.message,
        "uses \"Old\" (not tracked in the last 30 days), \"New\" (never tracked)"
    );
    assert_eq!(g.events, vec!["Old".to_owned(), "New".to_owned()]);
}

#[test]
fn small_but_valuable_strictly_under_two_and_over_ten_percent() {
    let facts = |size, revenue| ValueFacts {
        size,
        people: 1_000,
        revenue,
        total_revenue: 1_000.0,
    };
    // 2 % exactly is not small; 10 % exactly is not valuable.
    assert_eq!(small_but_valuable("s", &facts(20, 500.0), &t()), None);
    assert_eq!(small_but_valuable("s", &facts(19, 100.0), &t()), None);
    let g = small_but_valuable("s", &facts(19, 100.5), &t()).unwrap();
    assert_eq!(g.kind, Kind::SmallButValuable);
    assert_eq!(
        g.message,
        "1.9 % of people but 10.1 % of revenue: worth a campaign of its own, not to be ignored"
    );
    // No revenue or nobody at all: nothing to say, no NaN.
    let nothing = ValueFacts {
        size: 0,
        people: 0,
        revenue: 0.0,
        total_revenue: 0.0,
    };
    assert_eq!(small_but_valuable("s", &nothing, &t()), None);
    let no_revenue = ValueFacts {
        total_revenue: 0.0,
        ..facts(1, 0.0)
    };
    assert_eq!(small_but_valuable("s", &no_revenue, &t()), None);
}

#[test]
fn thresholds_are_checked() {
    assert!(t().validate().is_ok());
    for bad in [
        Thresholds { lift: 0.0, ..t() },
        Thresholds {
            lift: f64::NAN,
            ..t()
        },
        Thresholds { alpha: 1.0, ..t() },
        Thresholds { power: 0.01, ..t() },
        Thresholds { weeks: 53, ..t() },
        Thresholds {
            near_duplicate: 0.0,
            ..t()
        },
        Thresholds {
            stale_days: 0,
            ..t()
        },
        Thresholds {
            small_share: 1.5,
            ..t()
        },
    ] {
        assert!(bad.validate().is_err(), "{bad:?}");
    }
}

#[test]
fn events_a_definition_reads() {
    let file = seglab_lang::parse(
        r#"segment s = did "A" then not "B" within 1h and (count("C") >= 2 or rfm in [Champions]) and not first("D") in last 3d and last_seen in last 1d and in segment other"#,
    )
    .unwrap();
    let used: Vec<String> = events_used(&file.segments[0].condition)
        .into_iter()
        .collect();
    assert_eq!(used, ["A", "B", "C", "D", "Order Completed"]);
}

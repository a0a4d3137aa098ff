//! What the benchmarks share: figures, verdicts, the baseline and the
//! generated data.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::bail;
use seglab_demo::DemoSpec;
use seglab_store::{Durability, Reader};

/// Whether a target was met; a debug build's figures say nothing about it.
pub(crate) fn verdict(met: bool) -> &'static str {
    match (cfg!(debug_assertions), met) {
        (true, _) => "not judged (debug build: use --release)",
        (false, true) => "met",
        (false, false) => "NOT met",
    }
}

/// A whole number with thousands separators: `1234567.8` → `1,234,568`.
pub(crate) fn rate(n: f64) -> String {
    let s = format!("{:.0}", n);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Generated events: enough people that every person has a realistic number
/// of events.
pub(crate) fn events_spec(events: u64) -> DemoSpec {
    DemoSpec {
        people: (events / 20).max(100) as usize,
        days: 120,
        max_events: Some(events),
        ..DemoSpec::default()
    }
}

/// Days of history the benchmarks generate unless told otherwise.
pub(crate) const DEMO_DAYS: u32 = 120;

/// Fills `data` with the generated demo store (default seed, `days` days of
/// history) unless it already holds events; a child `seglab demo` does it, so
/// the caller's process starts cold.
pub(crate) fn ensure_demo_data(
    exe: &Path,
    data: &Path,
    people: usize,
    events: u64,
    days: u32,
) -> anyhow::Result<()> {
    if Reader::open(data)
        .and_then(|r| r.event_count())
        .unwrap_or(0)
        > 0
    {
        return Ok(());
    }
    println!(
        "generating and importing {} people, up to {} events…",
        rate(people as f64),
        rate(events as f64)
    );
    let t = Instant::now();
    let status = Command::new(exe)
        .arg("--data")
        .arg(data)
        .args(["--log", "warn", "demo", "--days", &days.to_string()])
        .args(["--people", &people.to_string()])
        .args(["--max-events", &events.to_string()])
        .args(["--seed", &DemoSpec::default().seed.to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("seglab demo failed");
    }
    println!("  done in {:.0} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// A bare SQLite append of `rows` rows of `row_bytes` bytes in `dir`: rows per second.
pub(crate) fn baseline(dir: &Path, rows: usize, row_bytes: usize) -> anyhow::Result<f64> {
    Ok(seglab_store::bench::raw_append(
        &dir.join("baseline"),
        rows,
        row_bytes,
        1_000,
        Durability::Full,
    )?)
}

/// The `p` quantile (0 to 1) of sorted values, nearest rank.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The values in increasing order.
pub(crate) fn sorted(mut xs: Vec<f64>) -> Vec<f64> {
    xs.sort_by(f64::total_cmp);
    xs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_groups_thousands() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(999.4), "999");
        assert_eq!(rate(1_000.0), "1,000");
        assert_eq!(rate(1_234_567.8), "1,234,568");
    }
}

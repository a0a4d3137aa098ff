//! `seglab bench segments`: the starter segments over a generated store, by seglab
//! and by DuckDB on the same events, with matching member counts.

use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use seglab_segments::Segments;
use seglab_store::Reader;
use serde_json::Value;

use crate::bench::{rate, verdict};

/// Resident memory of this process, from /proc (0 where unavailable).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// A Python that can `import duckdb`: the given one, or a venv made on first use.
fn python(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let venv = PathBuf::from("target/bench-venv");
    let py = venv.join("bin/python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import duckdb"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        println!(
            "installing the duckdb Python package into {} …",
            venv.display()
        );
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()?;
        if !made.success() {
            bail!("python3 -m venv {} failed", venv.display());
        }
        let pip = Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "duckdb"])
            .status()?;
        if !pip.success() {
            bail!("pip install duckdb failed");
        }
    }
    Ok(py)
}

pub fn run(
    people: usize,
    events: u64,
    python_given: Option<PathBuf>,
    keep: Option<PathBuf>,
) -> anyhow::Result<()> {
    let py = python(python_given)?;
    let tmp = tempfile::tempdir()?;
    let data = keep.unwrap_or_else(|| tmp.path().join("data"));
    // Generated and imported by a child process, so this one starts cold.
    crate::bench::ensure_demo_data(&data, people, events)?;
    let reader = Reader::open(&data)?;
    // Every generated event lies before this instant.
    let now = seglab_event::time::now_millis();

    // Cold start: from the store on disk to an engine ready to answer.
    let rss_before = rss_bytes();
    let t = Instant::now();
    let segments = Segments::open(&reader, Some(&data))?;
    let cold = t.elapsed().as_secs_f64();
    let rss_after = rss_bytes();
    let loaded = segments.events().max(1);
    let engine_bytes = segments.memory_bytes() as f64 / loaded as f64;
    let rss_per_event = rss_after.saturating_sub(rss_before) as f64 / loaded as f64;

    // All starter segments together, in one pass (median of 3).
    let names: Vec<String> = reader.segments()?.into_iter().map(|r| r.name).collect();
    let mut runs = Vec::new();
    let mut evals = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        evals = segments.evaluate(&reader, &names, now)?;
        runs.push(t.elapsed().as_secs_f64());
    }
    let ours = median(runs);

    // Preview of one unsaved definition (median of 5).
    let condition = seglab_lang::parse_condition(
        r#"count("Product Viewed" where category = "shoes" in last 30d) >= 3 and not did "Order Completed" in last 30d"#,
    )
    .map_err(|d| anyhow::anyhow!("{d:?}"))?;
    let mut previews = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        segments.preview(&condition, now)?;
        previews.push(t.elapsed().as_secs_f64());
    }
    let preview = median(previews);
    let people_loaded = segments.people();
    drop(segments);

    // The same events for DuckDB.
    let csv = tmp.path().join("events.csv");
    let rows =
        seglab_segments::flat_csv(&reader, &mut BufWriter::new(std::fs::File::create(&csv)?))?;
    println!("running the DuckDB baseline on {} rows…", rate(rows as f64));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/duckdb_segments.py");
    let out = Command::new(&py)
        .arg(&script)
        .arg(&csv)
        .arg(now.to_string())
        .arg("2")
        .output()
        .context("running DuckDB")?;
    if !out.status.success() {
        bail!(
            "the DuckDB script failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let duck: Value = serde_json::from_slice(&out.stdout)?;
    let theirs = duck["total_seconds"].as_f64().unwrap_or(f64::NAN);

    println!();
    println!(
        "segments: {} people, {} events; {} starter segments",
        rate(people_loaded as f64),
        rate(loaded as f64),
        evals.len()
    );
    println!(
        "  {:<22} {:>10} {:>10} {:>10}",
        "segment", "seglab", "duckdb", "duckdb ms"
    );
    let mut mismatches = 0;
    for e in &evals {
        let d = &duck["segments"][&e.name];
        let count = d["count"].as_u64();
        let same = count == Some(e.size);
        if !same {
            mismatches += 1;
        }
        println!(
            "  {:<22} {:>10} {:>10} {:>10.1} {}",
            e.name,
            e.size,
            count.map_or("-".into(), |c| c.to_string()),
            d["seconds"].as_f64().unwrap_or(f64::NAN) * 1000.0,
            if same { "" } else { "MISMATCH" }
        );
    }
    println!(
        "  baseline  DuckDB 2 threads, one query per segment:  {:>8.0} ms",
        theirs * 1000.0
    );
    println!(
        "  seglab    all segments in one pass:                  {:>8.0} ms",
        ours * 1000.0
    );
    println!(
        "  ratio     {:.1}× faster (target ≥ 10×: {})",
        theirs / ours,
        verdict(theirs / ours >= 10.0)
    );
    println!(
        "  preview   one unsaved segment: {:.1} ms (target < 100 ms: {})",
        preview * 1000.0,
        verdict(preview < 0.1)
    );
    println!(
        "  memory    {:.1} B/event in the timelines, {:.1} B/event resident (target ≤ 40: {})",
        engine_bytes,
        rss_per_event,
        verdict(rss_per_event <= 40.0)
    );
    println!(
        "  cold start {:.1} s from the store to ready (target < 30 s: {})",
        cold,
        verdict(cold < 30.0)
    );
    if mismatches > 0 {
        bail!("{mismatches} segments differ between seglab and DuckDB");
    }
    Ok(())
}

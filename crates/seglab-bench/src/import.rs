//! `seglab bench import`: a generated NDJSON file through `seglab import`,
//! against a bare SQLite append.

use std::fs::File;
use std::time::Instant;

use anyhow::{Context, bail};
use seglab_demo::write_ndjson;
use seglab_store::{Durability, Store};

use crate::Import;
use crate::common::{baseline, events_spec, rate, verdict};

/// Writes `events` generated events to an NDJSON file and imports it with
/// `import`.
pub fn run(import: Import, events: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("events.ndjson");
    println!("generating {} events…", rate(events as f64));
    let t = Instant::now();
    let out = File::create(&file).with_context(|| format!("creating {}", file.display()))?;
    let n = write_ndjson(&events_spec(events), out)?;
    let bytes = std::fs::metadata(&file)?.len();
    println!(
        "  wrote {} events ({} MB) in {:.1} s",
        rate(n as f64),
        bytes / 1_000_000,
        t.elapsed().as_secs_f64()
    );
    let base = baseline(
        dir.path(),
        1_000_000.min(n as usize),
        (bytes / n.max(1)) as usize,
    )?;

    let data = dir.path().join("data");
    let store = Store::open(&data, Durability::Normal)?;
    let started = Instant::now();
    let summary = import(&store, &file)?;
    let secs = started.elapsed().as_secs_f64();
    let stored = store.reader().event_count()?;
    drop(store);
    let ours = summary.accepted as f64 / secs;
    println!();
    println!(
        "import: {} events, {} MB of NDJSON",
        rate(n as f64),
        bytes / 1_000_000
    );
    println!(
        "  baseline  bare SQLite append, synchronous=FULL, 1000-row transactions: {:>10} rows/s",
        rate(base)
    );
    println!(
        "  seglab    seglab import (parse, validate, dedup, identity, store):   {:>10} events/s  ({secs:.1} s)",
        rate(ours)
    );
    println!("  ratio     {:.2} × baseline", ours / base);
    println!(
        "  stored    {stored} of {n} ({} rejected)",
        summary.rejected
    );
    println!(
        "  target    ≥ 300,000 events/s: {}",
        verdict(ours >= 300_000.0)
    );
    if stored != n {
        bail!("{stored} events stored of {n}");
    }
    Ok(())
}

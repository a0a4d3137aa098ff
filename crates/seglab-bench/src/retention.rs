//! `seglab bench retention`: a retention pass over a generated store while
//! events keep arriving (ADR 0016). Two figures, each beside a baseline
//! measured in the same run:
//!
//! 1. appends at a paced rate, p50 and p99 of the commit wait, while the pass
//!    deletes the expired events, against the same appends just before it;
//! 2. the engine dropping the expired events from memory
//!    (`Timelines::expire`), against loading the timelines again from the
//!    store (what deleting a person does).
//!
//! The pass deletes data: it runs on a copy of the store (`--keep` names the
//! store to copy; else one is generated in a temporary folder).

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use seglab_demo::{DemoSpec, generate};
use seglab_event::time::now_millis;
use seglab_event::wire::segment_spec::{Endpoint, parse};
use seglab_segments::Segments;
use seglab_store::{Durability, Store};

use crate::StoreArgs;
use crate::common::{ensure_demo_data, percentile, rate, sorted};

const DAY: i64 = 86_400_000;
/// Events per append.
const BATCH: usize = 100;

pub fn run(
    exe: &Path,
    store: StoreArgs,
    keep_days: u32,
    append_rate: f64,
    baseline: Duration,
) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("data");
    match &store.keep {
        Some(source) => {
            ensure_demo_data(exe, source, store.people, store.events, store.days)?;
            std::fs::create_dir_all(&data)?;
            println!("copying {} (the pass deletes data)…", source.display());
            for f in ["seglab.db", "timelines.snapshot", "dedup.snapshot"] {
                if source.join(f).exists() {
                    std::fs::copy(source.join(f), data.join(f))
                        .with_context(|| format!("copying {f}"))?;
                }
            }
        }
        None => ensure_demo_data(exe, &data, store.people, store.events, store.days)?,
    }
    let cutoff = now_millis() - i64::from(keep_days) * DAY;

    // The appends: generated events of the same people, parsed beforehand.
    let pass_guess = Duration::from_secs(120);
    let events = (append_rate * (baseline + pass_guess).as_secs_f64()) as u64;
    let spec = DemoSpec {
        people: store.people,
        days: 1,
        seed: 5_150,
        max_events: Some(events),
        ..DemoSpec::default()
    };
    let run_tag = format!("\"messageId\":\"ret-{}-", now_millis());
    let mut lines = Vec::new();
    generate(&spec, |l| {
        lines.push(l.replacen("\"messageId\":\"demo-", &run_tag, 1))
    });
    let batches: Vec<Vec<seglab_event::Event>> = lines
        .chunks(BATCH)
        .map(|c| {
            let body = format!("{{\"batch\":[{}]}}", c.join(","));
            parse(body.as_bytes(), Endpoint::Batch, now_millis()).map(|b| b.events)
        })
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("generated events do not parse: {e:?}"))?;
    drop(lines);

    let st = Arc::new(Store::open(&data, Durability::Full)?);
    let before = st.reader().event_count()?;
    // The engine as it stands before the pass.
    let in_memory = Segments::open(st.reader(), Some(&data))?;
    println!(
        "store: {} events; retention {keep_days}d; appending {} events/s",
        rate(before as f64),
        rate(append_rate)
    );
    // 0: baseline, 1: during the pass, 2: done.
    let phase = Arc::new(AtomicU8::new(0));
    let waits: Arc<Mutex<[Vec<f64>; 2]>> = Arc::default();
    let appender = {
        let (st, phase, waits) = (st.clone(), phase.clone(), waits.clone());
        std::thread::spawn(move || -> anyhow::Result<()> {
            let every = Duration::from_secs_f64(BATCH as f64 / append_rate);
            let start = Instant::now();
            for (i, batch) in batches.into_iter().enumerate() {
                let p = phase.load(Ordering::Acquire);
                if p >= 2 {
                    break;
                }
                let due = start + every.mul_f64(i as f64);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                let t = Instant::now();
                st.append_blocking(batch, false)?;
                waits.lock().unwrap_or_else(|e| e.into_inner())[usize::from(p)]
                    .push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok(())
        })
    };
    std::thread::sleep(baseline);
    phase.store(1, Ordering::Release);
    let t = Instant::now();
    let expired = st.expire(cutoff, |_| {})?;
    let pass = t.elapsed().as_secs_f64();
    phase.store(2, Ordering::Release);
    appender
        .join()
        .map_err(|_| anyhow::anyhow!("the appender panicked"))??;
    let [base, during] = std::mem::take(&mut *waits.lock().unwrap_or_else(|e| e.into_inner()));
    if during.is_empty() {
        bail!("no append ran during the pass: give more --events or a higher --rate");
    }
    let (base, during) = (sorted(base), sorted(during));

    // The engine: dropping the expired events against a reload.
    let held = in_memory.events();
    let t = Instant::now();
    let touched = in_memory.with_engine_mut(|e| e.timelines_mut().expire(cutoff));
    let drop_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let reloaded = Segments::open(st.reader(), None)?;
    let reload = t.elapsed().as_secs_f64();

    println!();
    println!(
        "retention pass: {} events deleted in {:.1} s ({} events/s, {} transactions of ≤ 1,000)",
        rate(expired.events as f64),
        pass,
        rate(expired.events as f64 / pass.max(1e-9)),
        rate(expired.batches as f64)
    );
    println!(
        "  appends while it ran ({} of {BATCH} events at {} events/s):",
        rate(during.len() as f64),
        rate(append_rate)
    );
    println!(
        "    baseline  before the pass:  p50 {:.2} ms, p99 {:.2} ms",
        percentile(&base, 0.5),
        percentile(&base, 0.99)
    );
    println!(
        "    seglab    during the pass:  p50 {:.2} ms, p99 {:.2} ms ({:.2}× the baseline p99)",
        percentile(&during, 0.5),
        percentile(&during, 0.99),
        percentile(&during, 0.99) / percentile(&base, 0.99)
    );
    println!(
        "  the engine drops them from memory ({} of {} events, of {} people):",
        rate((held - in_memory.events()) as f64),
        rate(held as f64),
        rate(touched.len() as f64)
    );
    drop(reloaded);
    println!(
        "    baseline  load the timelines again:  {:>9.1} ms",
        reload * 1000.0
    );
    println!(
        "    seglab    Timelines::expire:         {:>9.1} ms ({:.0}× faster)",
        drop_ms,
        reload * 1000.0 / drop_ms.max(1e-6)
    );
    Ok(())
}

//! `seglab demo`: generate the demo store and import it (or write it to a file).

use std::path::Path;

use anyhow::Context;
use seglab_demo::{DemoSpec, write_ndjson};
use seglab_store::Store;

use crate::import::{Summary, import_files};

/// Writes the demo history to `path` as NDJSON; returns the number of events.
pub fn write(spec: &DemoSpec, path: &Path) -> anyhow::Result<u64> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(write_ndjson(spec, file)?)
}

/// Generates the demo history and imports it into `store`.
pub fn load(store: &Store, spec: &DemoSpec, progress: bool) -> anyhow::Result<Summary> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("demo.ndjson");
    let n = write(spec, &path)?;
    if progress {
        eprintln!(
            "generated a demo store: {} people, {} days, {n} events; importing…",
            spec.people, spec.days
        );
    }
    let summary = import_files(store, &[path], progress)?;
    if progress {
        eprint!("{}", summary.report());
    }
    Ok(summary)
}

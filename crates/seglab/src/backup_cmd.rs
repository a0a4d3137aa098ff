//! `seglab backup` and `seglab restore`: the store's backup module over the
//! data folder's three databases, with progress bars and a summary.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use seglab_store::backup::{self, Manifest, Progress};

/// The databases beside the store, each before the files it refers to:
/// `campaigns.db` follows `live.db`'s changes, `live.db` the store's events.
pub const BESIDE_STORE: [&str; 2] = [
    seglab_campaign::db::CAMPAIGNS_DB_FILE,
    seglab_live::db::LIVE_DB_FILE,
];

/// Files from this size on get a progress bar.
const LARGE: u64 = 8 << 20;

/// Copies the databases of `data` into the new folder `dest` (a server may
/// be running on `data`).
pub fn backup(data: &Path, dest: &Path, progress: bool) -> anyhow::Result<Manifest> {
    let mut bars = Bars::new(progress);
    Ok(backup::backup(
        data,
        &BESIDE_STORE,
        dest,
        env!("CARGO_PKG_VERSION"),
        &mut bars,
    )?)
}

/// Restores the backup `src` into the new or empty data folder `data`.
pub fn restore(src: &Path, data: &Path, progress: bool) -> anyhow::Result<Manifest> {
    let mut bars = Bars::new(progress);
    Ok(backup::restore(src, data, &mut bars)?)
}

/// What `seglab backup` prints when it is done.
pub fn backup_report(manifest: &Manifest, data: &Path, dest: &Path, took: Duration) -> String {
    let mut out = format!(
        "backed up {} into {} in {:.1}s\n",
        data.display(),
        dest.display(),
        took.as_secs_f64()
    );
    out.push_str(&files_table(manifest));
    out.push_str(
        "the caches (timelines.snapshot, dedup.snapshot) are not copied: a restored folder rebuilds them\n",
    );
    out
}

/// What `seglab restore` prints when it is done.
pub fn restore_report(manifest: &Manifest, src: &Path, data: &Path, took: Duration) -> String {
    let mut out = format!(
        "restored {} into {} in {:.1}s (checksums and integrity checks ok)\n",
        src.display(),
        data.display(),
        took.as_secs_f64()
    );
    out.push_str(&files_table(manifest));
    let _ = writeln!(out, "start it with: seglab serve --data {}", data.display());
    out
}

fn files_table(manifest: &Manifest) -> String {
    let mut out = format!(
        "  store {}, events up to #{}, taken {} by seglab {}\n",
        manifest.store_id, manifest.last_seq, manifest.created_at, manifest.seglab_version
    );
    let mut total = 0;
    for f in &manifest.files {
        total += f.bytes;
        let _ = writeln!(
            out,
            "  {:<14} {:>12}  xxh3-128 {}",
            f.name,
            HumanBytes(f.bytes).to_string(),
            f.xxh3_128
        );
    }
    let _ = writeln!(
        out,
        "  {:<14} {:>12}  in {} files",
        "total",
        HumanBytes(total).to_string(),
        manifest.files.len()
    );
    out
}

/// A progress bar on standard error per large file.
struct Bars {
    show: bool,
    bar: Option<ProgressBar>,
}

impl Bars {
    fn new(show: bool) -> Bars {
        Bars { show, bar: None }
    }
}

impl Progress for Bars {
    fn start(&mut self, step: &str, file: &str, bytes: u64) {
        self.finish();
        if !self.show || bytes < LARGE {
            return;
        }
        let bar = ProgressBar::new(bytes);
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(format!("{step} {file}"));
        self.bar = Some(bar);
    }

    fn advance(&mut self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

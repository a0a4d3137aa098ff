//! `seglab import FILE…`: bulk history from NDJSON, Segment batch JSON or CSV
//! (optionally gzip-compressed), with the same validation and deduplication as
//! HTTP. Lines are parsed in parallel while the previous chunk commits; imported
//! events are marked historical.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use seglab_event::import::{CsvMapper, Format, LineError, batch_file, ndjson_line};
use seglab_event::time::now_millis;
use seglab_event::{Event, Millis};
use seglab_store::{AppendOutcome, Store};
use tokio::sync::oneshot;

/// Lines parsed and committed together.
const CHUNK: usize = 20_000;
/// Chunks committing while the next one is parsed.
const IN_FLIGHT: usize = 2;
/// Rejected lines listed one by one in the summary (the rest are counted).
const LISTED_ERRORS: usize = 20;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub lines: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Events that carry the id of a deleted person, dropped (ADR 0014).
    pub deleted: u64,
    /// Events older than the store's retention, dropped (ADR 0016).
    pub expired: u64,
    pub rejected: u64,
    /// Rejected lines by error code.
    pub by_code: BTreeMap<&'static str, u64>,
    /// The first rejected lines, with their file.
    pub errors: Vec<(PathBuf, LineError)>,
}

impl Summary {
    fn reject(&mut self, file: &Path, e: LineError) {
        self.rejected += 1;
        *self.by_code.entry(e.code).or_default() += 1;
        if self.errors.len() < LISTED_ERRORS {
            self.errors.push((file.to_owned(), e));
        }
    }

    fn add(&mut self, out: AppendOutcome) {
        self.accepted += out.accepted as u64;
        self.duplicates += out.duplicates as u64;
        self.deleted += out.tombstoned as u64;
        self.expired += out.expired as u64;
    }

    /// The report printed at the end.
    pub fn report(&self) -> String {
        let mut s = format!(
            "read {} lines: {} events imported, {} duplicates skipped, {} lines rejected\n",
            self.lines, self.accepted, self.duplicates, self.rejected
        );
        if self.deleted > 0 {
            s += &format!(
                "  {} events carry the id of a deleted person: dropped \
                 (`seglab people undelete-id ID` lets an id in again)\n",
                self.deleted
            );
        }
        if self.expired > 0 {
            s += &format!(
                "  {} events are older than the store's event retention: dropped\n",
                self.expired
            );
        }
        for (code, n) in &self.by_code {
            s += &format!("  {n} × {code}\n");
        }
        for (file, e) in &self.errors {
            s += &format!("  {}: {e}\n", file.display());
        }
        if self.rejected as usize > self.errors.len() {
            s += &format!(
                "  … and {} more rejected lines\n",
                self.rejected as usize - self.errors.len()
            );
        }
        s
    }
}

type Pending = VecDeque<oneshot::Receiver<seglab_store::Result<AppendOutcome>>>;

struct Importer<'a> {
    store: &'a Store,
    pending: Pending,
    summary: Summary,
    received_at: Millis,
}

impl Importer<'_> {
    /// Queues parsed results for commit, keeping at most `IN_FLIGHT` commits open.
    fn commit(
        &mut self,
        file: &Path,
        results: Vec<Result<Event, LineError>>,
    ) -> anyhow::Result<()> {
        self.summary.lines += results.len() as u64;
        let mut events = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(e) => events.push(e),
                Err(e) => self.summary.reject(file, e),
            }
        }
        if !events.is_empty() {
            self.pending.push_back(self.store.submit(events, true)?);
        }
        while self.pending.len() > IN_FLIGHT {
            self.wait_one()?;
        }
        Ok(())
    }

    fn wait_one(&mut self) -> anyhow::Result<()> {
        if let Some(rx) = self.pending.pop_front() {
            let out = rx.blocking_recv().context("the store stopped")??;
            self.summary.add(out);
        }
        Ok(())
    }
}

/// Opens a file, inflating `.gz`.
fn open(path: &Path) -> anyhow::Result<(Box<dyn Read>, u64)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata()?.len();
    let gz = path.extension().is_some_and(|e| e == "gz");
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok((reader, len))
}

/// Counts bytes read for the progress bar.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Imports `files` into `store`; `progress` shows a bar on the terminal.
pub fn import_files(store: &Store, files: &[PathBuf], progress: bool) -> anyhow::Result<Summary> {
    let mut imp = Importer {
        store,
        pending: Pending::new(),
        summary: Summary::default(),
        received_at: now_millis(),
    };
    for path in files {
        let (reader, len) = open(path)?;
        let bar = if progress {
            ProgressBar::new(len)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let mut reader = BufReader::with_capacity(
            1 << 20,
            Counted {
                inner: reader,
                bar: bar.clone(),
            },
        );
        let head = reader
            .fill_buf()?
            .get(..64)
            .map(<[u8]>::to_vec)
            .unwrap_or_else(|| reader.buffer().to_vec());
        let gz = path.extension().is_some_and(|e| e == "gz");
        let name_for_format = if gz {
            path.with_extension("")
        } else {
            path.clone()
        };
        match Format::detect(&name_for_format, &head) {
            Format::Ndjson => import_ndjson(&mut imp, path, reader)?,
            Format::Csv => import_csv(&mut imp, path, reader)?,
            Format::BatchJson => {
                let mut body = Vec::new();
                reader.read_to_end(&mut body)?;
                match batch_file(&body, imp.received_at) {
                    Ok(results) => {
                        for chunk in results.chunks(CHUNK) {
                            imp.commit(path, chunk.to_vec())?;
                        }
                    }
                    Err(e) => imp.summary.reject(path, e),
                }
            }
        }
        bar.finish_and_clear();
    }
    while !imp.pending.is_empty() {
        imp.wait_one()?;
    }
    store.sync()?;
    Ok(imp.summary)
}

fn import_ndjson(
    imp: &mut Importer<'_>,
    path: &Path,
    mut reader: impl BufRead,
) -> anyhow::Result<()> {
    let mut line_no = 0usize;
    loop {
        let mut lines = Vec::with_capacity(CHUNK);
        let mut buf = Vec::new();
        while lines.len() < CHUNK {
            buf.clear();
            if reader.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            line_no += 1;
            let text = String::from_utf8(std::mem::take(&mut buf));
            let blank = text.as_ref().is_ok_and(|t| t.trim().is_empty());
            if !blank {
                lines.push((line_no, text));
            }
        }
        if lines.is_empty() {
            return Ok(());
        }
        let at = imp.received_at;
        let results: Vec<_> = lines
            .into_par_iter()
            .map(|(n, text)| match text {
                Ok(t) => ndjson_line(t.trim_end(), n, at),
                Err(_) => Err(LineError {
                    line: n,
                    code: "invalid_json",
                    message: "the line is not valid UTF-8".into(),
                }),
            })
            .collect();
        imp.commit(path, results)?;
    }
}

fn import_csv(imp: &mut Importer<'_>, path: &Path, reader: impl Read) -> anyhow::Result<()> {
    let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
    let mapper = match CsvMapper::new(csv.headers()?) {
        Ok(m) => m,
        Err(e) => {
            imp.summary.reject(path, e);
            return Ok(());
        }
    };
    let mut records = csv.records();
    loop {
        let mut chunk = Vec::with_capacity(CHUNK);
        for rec in records.by_ref().take(CHUNK) {
            chunk.push(rec);
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let at = imp.received_at;
        let results: Vec<_> = chunk
            .into_par_iter()
            .map(|rec| match rec {
                Ok(r) => {
                    let line = r.position().map_or(0, |p| p.line() as usize);
                    mapper.record(&r, line, at)
                }
                Err(e) => Err(LineError {
                    line: e.position().map_or(0, |p| p.line() as usize),
                    code: "invalid_csv",
                    message: e.to_string(),
                }),
            })
            .collect();
        imp.commit(path, results)?;
    }
}

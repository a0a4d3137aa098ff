//! The store's data as rows of the ClickHouse `events` table, encoded once
//! (`RowBinary`) into a temporary file, chunk by chunk, so that every backend
//! is sent the same bytes and none of it has to fit in memory.
//!
//! Rows are read with `seglab_segments::load`, the loader the native engine
//! uses: behavioral events and traits on each person's root, so identity
//! merges (alias, identify) are resolved as the engine resolves them. The
//! compiled SQL does not model merges itself.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;

use seglab_clickhouse::rows::{Row, row_binary};
use seglab_store::{PersonId, Reader};
use serde_json::{Map, Value};

/// A run of rows sent in one `INSERT`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chunk {
    offset: u64,
    len: usize,
}

/// How many rows of each kind were written.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    pub events: u64,
    pub traits: u64,
    pub predictions: u64,
}

impl Counts {
    pub(crate) fn rows(&self) -> u64 {
        self.events + self.traits + self.predictions
    }
}

/// The encoded rows, on disk.
pub(crate) struct Spool {
    file: File,
    pub chunks: Vec<Chunk>,
    pub counts: Counts,
    /// Bytes of `RowBinary` in all.
    pub bytes: u64,
}

impl Spool {
    /// Reads every event and trait of `reader` into a new spool (a temporary
    /// file), `batch` rows per chunk. Every person gets a trait row (an empty object
    /// for none): it is how a person with no events exists in ClickHouse.
    /// The store holds no model outputs, so there are no prediction rows.
    pub(crate) fn write(reader: &Reader, batch: usize) -> anyhow::Result<Spool> {
        let file = tempfile::tempfile()?;
        let mut w = Writer {
            out: BufWriter::with_capacity(1 << 20, file.try_clone()?),
            batch: batch.max(1),
            pending: Vec::with_capacity(batch.max(1)),
            chunks: Vec::new(),
            offset: 0,
            counts: Counts::default(),
            traits: HashMap::new(),
            failed: None,
        };
        seglab_segments::load(reader, 0, &mut w)?;
        let mut people: Vec<(PersonId, Map<String, Value>)> =
            std::mem::take(&mut w.traits).into_iter().collect();
        people.sort_unstable_by_key(|(p, _)| *p);
        for (person, traits) in people {
            w.counts.traits += 1;
            w.push(Row::traits(person, 1, &traits));
        }
        w.flush();
        if let Some(e) = w.failed {
            return Err(e.into());
        }
        w.out.flush()?;
        Ok(Spool {
            file,
            bytes: w.offset,
            chunks: w.chunks,
            counts: w.counts,
        })
    }

    /// The bytes of one chunk.
    pub(crate) fn read(&self, chunk: &Chunk) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0; chunk.len];
        self.file.read_exact_at(&mut buf, chunk.offset)?;
        Ok(buf)
    }
}

/// The sink the loader writes into.
struct Writer {
    out: BufWriter<File>,
    batch: usize,
    pending: Vec<Row>,
    chunks: Vec<Chunk>,
    offset: u64,
    counts: Counts,
    /// Every person seen, with their traits as of the end of the log.
    traits: HashMap<PersonId, Map<String, Value>>,
    failed: Option<std::io::Error>,
}

impl Writer {
    fn push(&mut self, row: Row) {
        self.pending.push(row);
        if self.pending.len() >= self.batch {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() || self.failed.is_some() {
            self.pending.clear();
            return;
        }
        let bytes = row_binary(&self.pending);
        if let Err(e) = self.out.write_all(&bytes) {
            self.failed = Some(e);
        }
        self.chunks.push(Chunk {
            offset: self.offset,
            len: bytes.len(),
        });
        self.offset += bytes.len() as u64;
        self.pending.clear();
    }
}

impl seglab_segments::Sink for Writer {
    fn event(&mut self, person: PersonId, ts: i64, name: &str, properties: &Value) {
        // The loader hands events over in the store's order: their number is
        // the arrival order the SQL breaks time ties with, and a unique id.
        let seq = self.counts.events;
        self.counts.events += 1;
        self.traits.entry(person).or_default();
        let id = format!("e{seq}");
        self.push(Row::event(person, &id, seq, ts, name, properties));
    }

    fn set_trait(&mut self, person: PersonId, key: &str, value: Value) {
        let traits = self.traits.entry(person).or_default();
        if value.is_null() {
            traits.remove(key);
        } else {
            traits.insert(key.to_owned(), value);
        }
    }
}

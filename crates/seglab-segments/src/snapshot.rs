//! A snapshot of what the engine was loaded with, so a restart reads one
//! sequential file instead of scanning and parsing the whole event log.
//!
//! The file holds the event names, each distinct properties object once (as
//! JSON), and one fixed-size record per event (person, time, name, properties),
//! followed by an xxh3 checksum of everything before it. It belongs to one store
//! (`store_id`) and covers the events up to `last_seq`; events after that are read
//! from the store as usual. Identity merges made later are applied when it is
//! read, since records keep the person the event had when the snapshot was made.
//!
//! Layout, little-endian: `SEGLABT1`, store id (u32 length + bytes), last seq
//! (i64), names (u32 count, each u32 length + bytes), property objects (u32 count,
//! each u32 length + JSON), events (u64 count, each person i64, ts i64, name u32,
//! properties u32), checksum (u64).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use seglab_store::PersonId;
use xxhash_rust::xxh3::Xxh3;

const MAGIC: &[u8; 8] = b"SEGLABT1";
/// The snapshot file inside the data folder.
pub const FILE: &str = "timelines.snapshot";
/// Largest name or properties object accepted when reading.
const MAX_ITEM: u32 = 64 * 1024 * 1024;

/// One event record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub person: PersonId,
    pub ts: i64,
    pub name: u32,
    pub properties: u32,
}

/// A snapshot read back (the event records stay in the file's bytes).
#[derive(Debug, Default)]
pub struct Snapshot {
    pub store_id: String,
    pub last_seq: i64,
    pub names: Vec<String>,
    pub properties: Vec<String>,
    bytes: Vec<u8>,
    records: std::ops::Range<usize>,
}

impl Snapshot {
    /// Number of event records.
    pub fn len(&self) -> usize {
        self.records.len() / 24
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The event records, in file order.
    pub fn events(&self) -> impl Iterator<Item = Record> + '_ {
        self.bytes[self.records.clone()].chunks_exact(24).map(|r| {
            let word = |a: usize| {
                u64::from_le_bytes([
                    r[a],
                    r[a + 1],
                    r[a + 2],
                    r[a + 3],
                    r[a + 4],
                    r[a + 5],
                    r[a + 6],
                    r[a + 7],
                ])
            };
            let half = |a: usize| u32::from_le_bytes([r[a], r[a + 1], r[a + 2], r[a + 3]]);
            Record {
                person: word(0) as i64,
                ts: word(8) as i64,
                name: half(16),
                properties: half(20),
            }
        })
    }
}

/// Collects a snapshot while the engine loads from the store.
#[derive(Debug, Default)]
pub struct Builder {
    names: Vec<String>,
    name_ids: HashMap<String, u32>,
    properties: Vec<String>,
    /// 128-bit hash of a properties object's JSON → id.
    property_ids: HashMap<u128, u32>,
    events: Vec<Record>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Records one event with its properties object.
    pub fn event(
        &mut self,
        person: PersonId,
        ts: i64,
        name: &str,
        properties: &crate::load::Props,
    ) {
        let name = match self.name_ids.get(name) {
            Some(&id) => id,
            None => {
                let id = self.names.len() as u32;
                self.names.push(name.to_owned());
                self.name_ids.insert(name.to_owned(), id);
                id
            }
        };
        let properties = match self.property_ids.get(&properties.hash) {
            Some(&id) => id,
            None => {
                let id = self.properties.len() as u32;
                self.properties.push(properties.json.clone());
                self.property_ids.insert(properties.hash, id);
                id
            }
        };
        self.events.push(Record {
            person,
            ts,
            name,
            properties,
        });
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Writes the snapshot atomically (a temporary file, then a rename).
    pub fn write(self, dir: &Path, store_id: &str, last_seq: i64) -> std::io::Result<PathBuf> {
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.tmp"));
        let mut out = Checked {
            inner: BufWriter::with_capacity(1 << 20, File::create(&tmp)?),
            hash: Xxh3::new(),
        };
        out.put(MAGIC)?;
        out.bytes(store_id.as_bytes())?;
        out.put(&last_seq.to_le_bytes())?;
        out.put(&(self.names.len() as u32).to_le_bytes())?;
        for n in &self.names {
            out.bytes(n.as_bytes())?;
        }
        out.put(&(self.properties.len() as u32).to_le_bytes())?;
        for p in &self.properties {
            out.bytes(p.as_bytes())?;
        }
        out.put(&(self.events.len() as u64).to_le_bytes())?;
        for e in &self.events {
            let mut rec = [0u8; 24];
            rec[..8].copy_from_slice(&e.person.to_le_bytes());
            rec[8..16].copy_from_slice(&e.ts.to_le_bytes());
            rec[16..20].copy_from_slice(&e.name.to_le_bytes());
            rec[20..].copy_from_slice(&e.properties.to_le_bytes());
            out.put(&rec)?;
        }
        let sum = out.hash.digest();
        out.inner.write_all(&sum.to_le_bytes())?;
        let file = out.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

struct Checked<W> {
    inner: W,
    hash: Xxh3,
}

impl<W: Write> Checked<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.hash.update(b);
        self.inner.write_all(b)
    }

    fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.put(&(b.len() as u32).to_le_bytes())?;
        self.put(b)
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("timelines snapshot: {what}"),
    )
}

/// A cursor over the file's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> std::io::Result<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| invalid("truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> std::io::Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| invalid("truncated"))?,
        ))
    }

    fn u64(&mut self) -> std::io::Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| invalid("truncated"))?,
        ))
    }

    fn string(&mut self) -> std::io::Result<String> {
        let n = self.u32()?;
        if n > MAX_ITEM {
            return Err(invalid("item too large"));
        }
        String::from_utf8(self.take(n as usize)?.to_vec()).map_err(|_| invalid("text is not UTF-8"))
    }
}

/// Reads the snapshot in `dir`, if there is one; a damaged file is an error.
pub fn read(dir: &Path) -> std::io::Result<Option<Snapshot>> {
    let bytes = match std::fs::read(dir.join(FILE)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() < MAGIC.len() + 8 {
        return Err(invalid("truncated"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if xxhash_rust::xxh3::xxh3_64(body).to_le_bytes() != sum {
        return Err(invalid("checksum mismatch"));
    }
    let mut c = Cursor { bytes: body, at: 0 };
    if c.take(8)? != MAGIC {
        return Err(invalid("not a snapshot of this version"));
    }
    let store_id = c.string()?;
    let last_seq = c.u64()? as i64;
    let names = (0..c.u32()?)
        .map(|_| c.string())
        .collect::<std::io::Result<Vec<_>>>()?;
    let properties = (0..c.u32()?)
        .map(|_| c.string())
        .collect::<std::io::Result<Vec<_>>>()?;
    let count = c.u64()?;
    let len = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(24))
        .ok_or_else(|| invalid("too many events"))?;
    let start = c.at;
    c.take(len)?;
    let end = c.at;
    if end != body.len() {
        return Err(invalid("trailing bytes"));
    }
    let snapshot = Snapshot {
        store_id,
        last_seq,
        names,
        properties,
        bytes,
        records: start..end,
    };
    if snapshot.events().any(|e| {
        e.name as usize >= snapshot.names.len()
            || e.properties as usize >= snapshot.properties.len()
    }) {
        return Err(invalid("record refers past its tables"));
    }
    Ok(Some(snapshot))
}

/// Removes the snapshot (when it no longer matches the store).
pub fn remove(dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(dir.join(FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detection() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let props = |json: &str| crate::load::Props {
            value: serde_json::from_str(json).unwrap(),
            json: json.to_owned(),
            hash: xxhash_rust::xxh3::xxh3_128(json.as_bytes()),
        };
        let mut b = Builder::new();
        b.event(1, 10, "Product Viewed", &props(r#"{"category":"shoes"}"#));
        b.event(2, 11, "Product Viewed", &props(r#"{"category":"shoes"}"#));
        b.event(2, 12, "Order Completed", &props(r#"{"revenue":5}"#));
        b.write(dir.path(), "store-1", 42).unwrap();
        let s = read(dir.path()).unwrap().unwrap();
        assert_eq!((s.store_id.as_str(), s.last_seq), ("store-1", 42));
        assert_eq!(s.names, ["Product Viewed", "Order Completed"]);
        assert_eq!(s.properties.len(), 2);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.events().nth(1).unwrap(),
            Record {
                person: 2,
                ts: 11,
                name: 0,
                properties: 0
            }
        );
        // Flip one byte: the checksum catches it.
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(dir.path()).is_err());
        // Truncated.
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(read(dir.path()).is_err());
        remove(dir.path()).unwrap();
        assert!(read(dir.path()).unwrap().is_none());
    }
}

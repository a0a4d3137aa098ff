//! A snapshot of the engine's timelines, so a restart reads one sequential
//! file instead of scanning and parsing the whole event log.
//!
//! The file holds a header and the engine's own image of its timelines
//! ([`Timelines::write_snapshot`]: interned names and property sets, people,
//! identities, traits and every event in its packed form), followed by an xxh3
//! checksum of everything before it. Reading it is a sequential read with no
//! parsing or interning per event. It belongs to one store (`store_id`: the
//! store's cache key, which every deletion of a person changes) and
//! covers the events up to `last_seq`; events after that are read from the
//! store as usual, and identity merges made later are applied when it is read.
//!
//! Layout, little-endian: `SEGLABT2`, store id (u32 length + bytes), last seq
//! (i64), events (u64), the timelines image, checksum (u64).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use seglab_engine::Timelines;
use xxhash_rust::xxh3::Xxh3;

const MAGIC: &[u8; 8] = b"SEGLABT2";
/// The snapshot file inside the data folder.
pub const FILE: &str = "timelines.snapshot";
/// Largest store id accepted when reading.
const MAX_ID: u32 = 4096;

/// What a snapshot covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub store_id: String,
    /// The last sequence number of the store it includes.
    pub last_seq: i64,
    /// Events in the timelines.
    pub events: u64,
}

/// Writes the snapshot of `timelines` atomically (a temporary file, then a
/// rename); a failed write leaves nothing behind (on a full disk, a partial
/// file would hold on to the little space left).
pub fn write(
    dir: &Path,
    store_id: &str,
    last_seq: i64,
    timelines: &Timelines,
) -> std::io::Result<PathBuf> {
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let written =
        write_to(&tmp, store_id, last_seq, timelines).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

fn write_to(
    tmp: &Path,
    store_id: &str,
    last_seq: i64,
    timelines: &Timelines,
) -> std::io::Result<()> {
    let mut out = Hashing {
        inner: BufWriter::with_capacity(1 << 20, File::create(tmp)?),
        hash: Xxh3::new(),
    };
    out.write_all(MAGIC)?;
    out.write_all(&(store_id.len() as u32).to_le_bytes())?;
    out.write_all(store_id.as_bytes())?;
    out.write_all(&last_seq.to_le_bytes())?;
    out.write_all(&timelines.event_count().to_le_bytes())?;
    timelines.write_snapshot(&mut out)?;
    let sum = out.hash.digest();
    out.inner.write_all(&sum.to_le_bytes())?;
    let file = out.inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// Passes bytes through, hashing them.
struct Hashing<T> {
    inner: T,
    hash: Xxh3,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.hash.update(&b[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(b)?;
        self.hash.update(&b[..n]);
        Ok(n)
    }
}

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("timelines snapshot: {what}"),
    )
}

fn fixed<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => invalid("truncated"),
        _ => e,
    })?;
    Ok(b)
}

/// Reads the snapshot in `dir` if there is one and `wanted` accepts its
/// header (else the rest of the file is not read); a damaged file is an error.
pub fn read(
    dir: &Path,
    wanted: impl FnOnce(&Header) -> bool,
) -> std::io::Result<Option<(Header, Timelines)>> {
    let file = match File::open(dir.join(FILE)) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut input = Hashing {
        inner: BufReader::with_capacity(1 << 20, file),
        hash: Xxh3::new(),
    };
    if &fixed::<8>(&mut input)? != MAGIC {
        return Err(invalid("not a snapshot of this version"));
    }
    let id_len = u32::from_le_bytes(fixed(&mut input)?);
    if id_len > MAX_ID {
        return Err(invalid("store id too long"));
    }
    let mut id = vec![0u8; id_len as usize];
    input.read_exact(&mut id)?;
    let header = Header {
        store_id: String::from_utf8(id).map_err(|_| invalid("store id is not UTF-8"))?,
        last_seq: i64::from_le_bytes(fixed(&mut input)?),
        events: u64::from_le_bytes(fixed(&mut input)?),
    };
    if !wanted(&header) {
        return Ok(None);
    }
    let timelines = Timelines::read_snapshot(&mut input)?;
    let sum = input.hash.digest();
    if u64::from_le_bytes(fixed(&mut input.inner)?) != sum {
        return Err(invalid("checksum mismatch"));
    }
    if input.inner.read(&mut [0u8; 1])? != 0 {
        return Err(invalid("trailing bytes"));
    }
    if timelines.event_count() != header.events {
        return Err(invalid("event count differs from the header"));
    }
    Ok(Some((header, timelines)))
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
    use serde_json::json;

    use super::*;

    #[test]
    fn round_trip_and_damage_detection() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path(), |_| true).unwrap().is_none());
        let mut t = Timelines::new();
        t.push(1, 10, "Product Viewed", &json!({"category": "shoes"}))
            .unwrap();
        t.push(2, 11, "Product Viewed", &json!({"category": "shoes"}))
            .unwrap();
        t.push(2, 12, "Order Completed", &json!({"revenue": 5}))
            .unwrap();
        t.compact();
        write(dir.path(), "store-1", 42, &t).unwrap();
        let want = Header {
            store_id: "store-1".into(),
            last_seq: 42,
            events: 3,
        };
        let mut seen = None;
        assert!(
            read(dir.path(), |h| {
                seen = Some(h.clone());
                false
            })
            .unwrap()
            .is_none()
        );
        assert_eq!(seen.as_ref(), Some(&want));
        let (header, back) = read(dir.path(), |_| true).unwrap().unwrap();
        assert_eq!(header, want);
        assert_eq!((back.person_count(), back.event_count()), (2, 3));
        assert_eq!(back.catalog(), t.catalog());
        // Flip one byte: the checksum (or the engine's checks) catch it.
        let path = dir.path().join(FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        for at in [bytes.len() / 2, bytes.len() - 1] {
            bytes[at] ^= 0xff;
            std::fs::write(&path, &bytes).unwrap();
            assert!(read(dir.path(), |_| true).is_err());
            bytes[at] ^= 0xff;
        }
        // Any byte flipped, any truncation: never trusted, never a panic
        // (the header's fields are checked by `wanted` or the checksum).
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x5a;
            std::fs::write(&path, &flipped).unwrap();
            match read(dir.path(), |h| h == &want) {
                Ok(None) | Err(_) => {}
                Ok(Some(_)) => panic!("a flip at byte {at} was trusted"),
            }
        }
        for len in 0..bytes.len() {
            std::fs::write(&path, &bytes[..len]).unwrap();
            assert!(
                read(dir.path(), |_| true).is_err(),
                "a snapshot cut at {len} bytes was read"
            );
        }
        // With bytes after the checksum.
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert!(read(dir.path(), |_| true).is_err());
        remove(dir.path()).unwrap();
        assert!(read(dir.path(), |_| true).unwrap().is_none());
    }
}

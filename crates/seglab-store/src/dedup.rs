//! The deduplication map on disk: the 64-bit hash of every stored `messageId`
//! with its row, written when the writer stops (and after a full rebuild), so a
//! start reads it and scans only the rows stored after it instead of the whole
//! log. The file names the store it belongs to and the last sequence number it
//! covers, and ends with an xxh3 checksum; anything that does not match
//! (flipped bytes, a truncated file, another store's map) is ignored with a
//! warning and the map is rebuilt from the log.

use std::io::Write;
use std::path::Path;

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// The file inside the data folder.
pub(crate) const DEDUP_FILE: &str = "dedup.snapshot";
const MAGIC: &[u8; 8] = b"SEGLABD1";

/// Writes `(hash, seq)` pairs covering every row up to `last_seq`
/// atomically (a temporary file, then a rename); a failed write leaves
/// nothing behind (on a full disk, a partial file would hold on to the
/// little space left).
pub(crate) fn write<'a>(
    path: &Path,
    store_id: &str,
    last_seq: i64,
    len: usize,
    pairs: impl Iterator<Item = (&'a u64, &'a i64)>,
) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let written =
        write_to(&tmp, store_id, last_seq, len, pairs).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn write_to<'a>(
    tmp: &Path,
    store_id: &str,
    last_seq: i64,
    len: usize,
    pairs: impl Iterator<Item = (&'a u64, &'a i64)>,
) -> std::io::Result<()> {
    let file = std::fs::File::create(tmp)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hash = Xxh3::new();
    let mut put = |out: &mut std::io::BufWriter<std::fs::File>, bytes: &[u8]| {
        hash.update(bytes);
        out.write_all(bytes)
    };
    put(&mut out, MAGIC)?;
    put(&mut out, &(store_id.len() as u32).to_le_bytes())?;
    put(&mut out, store_id.as_bytes())?;
    put(&mut out, &last_seq.to_le_bytes())?;
    put(&mut out, &(len as u64).to_le_bytes())?;
    let mut n = 0usize;
    for (&h, &seq) in pairs {
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&h.to_le_bytes());
        rec[8..].copy_from_slice(&seq.to_le_bytes());
        put(&mut out, &rec)?;
        n += 1;
    }
    if n != len {
        return Err(std::io::Error::other("dedup map changed while written"));
    }
    let sum = hash.digest();
    out.write_all(&sum.to_le_bytes())?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// What a snapshot holds: the last sequence number it covers and its
/// `(hash, seq)` pairs.
pub(crate) type Snapshot = (i64, Vec<(u64, i64)>);

fn damaged(why: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("deduplication snapshot: {why}"),
    )
}

/// The snapshot at `path`: `None` when there is none, the last sequence
/// number it covers and its pairs when it belongs to `store_id` and is
/// intact, an error saying why otherwise.
pub(crate) fn read(path: &Path, store_id: &str) -> std::io::Result<Option<Snapshot>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if bytes.len() < MAGIC.len() + 4 + 8 + 8 + 8 {
        return Err(damaged("truncated"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if &body[..8] != MAGIC {
        return Err(damaged("not a deduplication snapshot of this version"));
    }
    if u64::from_le_bytes(sum.try_into().unwrap_or_default()) != xxh3_64(body) {
        return Err(damaged("checksum mismatch (damaged or truncated)"));
    }
    let mut at = 8;
    let mut take = |n: usize| {
        let s = body.get(at..at + n);
        at += n;
        s.ok_or_else(|| damaged("truncated"))
    };
    let id_len = u32::from_le_bytes(take(4)?.try_into().unwrap_or_default()) as usize;
    if take(id_len)? != store_id.as_bytes() {
        return Err(damaged("it belongs to another store"));
    }
    let last_seq = i64::from_le_bytes(take(8)?.try_into().unwrap_or_default());
    let len = u64::from_le_bytes(take(8)?.try_into().unwrap_or_default()) as usize;
    let records = take(len.checked_mul(16).ok_or_else(|| damaged("bad length"))?)?;
    if at != body.len() {
        return Err(damaged("trailing bytes"));
    }
    let pairs = records
        .chunks_exact(16)
        .map(|r| {
            (
                u64::from_le_bytes(r[..8].try_into().unwrap_or_default()),
                i64::from_le_bytes(r[8..].try_into().unwrap_or_default()),
            )
        })
        .collect();
    Ok(Some((last_seq, pairs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEDUP_FILE);
        assert!(read(&path, "store-a").unwrap().is_none(), "no file");
        let pairs: Vec<(u64, i64)> = (0..1000).map(|i| (i * 7919, i as i64 + 1)).collect();
        write(
            &path,
            "store-a",
            1000,
            pairs.len(),
            pairs.iter().map(|(h, s)| (h, s)),
        )
        .unwrap();
        assert!(!path.with_extension("tmp").exists());
        let good = std::fs::read(&path).unwrap();
        let (last, got) = read(&path, "store-a").unwrap().unwrap();
        assert_eq!((last, got), (1000, pairs.clone()));
        let refused = |bytes: &[u8], why: &str| {
            std::fs::write(&path, bytes).unwrap();
            let e = read(&path, "store-a").unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        };
        std::fs::write(&path, &good).unwrap();
        let e = read(&path, "store-b").unwrap_err();
        assert!(e.to_string().contains("another store"), "{e}");
        // A flipped bit anywhere: in the header, a record, the checksum.
        for at in [3, 20, 100, good.len() / 2, good.len() - 1] {
            let mut bytes = good.clone();
            bytes[at] ^= 1;
            assert!(read_bytes(&path, &bytes).is_err(), "flip at {at}");
        }
        // Truncated anywhere.
        for len in [0, 5, 27, 40, good.len() / 2, good.len() - 1] {
            assert!(read_bytes(&path, &good[..len]).is_err(), "cut at {len}");
        }
        refused(b"short", "truncated");
        let mut longer = good.clone();
        longer.extend_from_slice(&[0; 16]);
        refused(&longer, "checksum");
        refused(&[b'X'; 64], "not a deduplication snapshot");
    }

    fn read_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<Option<Snapshot>> {
        std::fs::write(path, bytes).unwrap();
        read(path, "store-a")
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEDUP_FILE);
        let pairs = [(1u64, 1i64), (2, 2)];
        // The length announced does not match the pairs: the write fails.
        let e = write(&path, "s", 2, 3, pairs.iter().map(|(h, s)| (h, s))).unwrap_err();
        assert!(e.to_string().contains("changed"), "{e}");
        assert!(!path.exists());
        assert!(!path.with_extension("tmp").exists());
    }
}

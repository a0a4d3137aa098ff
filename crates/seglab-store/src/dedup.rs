//! The deduplication map on disk: the 64-bit hash of every stored `messageId`
//! with its row, written when the writer stops (and after a full rebuild), so a
//! start reads it and scans only the rows stored after it instead of the whole
//! log. The file names the store it belongs to and the last sequence number it
//! covers, and ends with an xxh3 checksum; anything that does not match is
//! ignored and the map is rebuilt from the log.

use std::io::Write;
use std::path::Path;

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// The file inside the data folder.
pub(crate) const DEDUP_FILE: &str = "dedup.snapshot";
const MAGIC: &[u8; 8] = b"SEGLABD1";

/// Writes `(hash, seq)` pairs covering every row up to `last_seq`.
pub(crate) fn write<'a>(
    path: &Path,
    store_id: &str,
    last_seq: i64,
    len: usize,
    pairs: impl Iterator<Item = (&'a u64, &'a i64)>,
) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let file = std::fs::File::create(&tmp)?;
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
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The snapshot at `path` if it belongs to `store_id` and is intact: the last
/// sequence number it covers and its pairs.
pub(crate) fn read(path: &Path, store_id: &str) -> Option<(i64, Vec<(u64, i64)>)> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() < MAGIC.len() + 4 + 8 + 8 + 8 {
        return None;
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    if xxh3_64(body) != u64::from_le_bytes(sum.try_into().ok()?) || &body[..8] != MAGIC {
        return None;
    }
    let mut at = 8;
    let mut take = |n: usize| {
        let s = body.get(at..at + n);
        at += n;
        s
    };
    let id_len = u32::from_le_bytes(take(4)?.try_into().ok()?) as usize;
    if take(id_len)? != store_id.as_bytes() {
        return None;
    }
    let last_seq = i64::from_le_bytes(take(8)?.try_into().ok()?);
    let len = u64::from_le_bytes(take(8)?.try_into().ok()?) as usize;
    let records = take(len.checked_mul(16)?)?;
    if at != body.len() {
        return None;
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
    Some((last_seq, pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEDUP_FILE);
        let pairs: Vec<(u64, i64)> = (0..1000).map(|i| (i * 7919, i as i64 + 1)).collect();
        write(
            &path,
            "store-a",
            1000,
            pairs.len(),
            pairs.iter().map(|(h, s)| (h, s)),
        )
        .unwrap();
        let (last, got) = read(&path, "store-a").unwrap();
        assert_eq!((last, got), (1000, pairs));
        assert!(read(&path, "store-b").is_none(), "another store's map");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[100] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(read(&path, "store-a").is_none(), "a damaged file");
        std::fs::write(&path, b"short").unwrap();
        assert!(read(&path, "store-a").is_none());
    }
}

//! Little-endian encoding of the in-memory tables, for
//! [`Timelines::write_snapshot`](crate::Timelines::write_snapshot) and
//! [`Timelines::read_snapshot`](crate::Timelines::read_snapshot).
//!
//! Arrays are written as a `u64` length and then their elements. Reading
//! trusts nothing: lengths are checked against what the reader allows, and
//! every table checks its own contents (see the `read_from` functions).

use std::io::{Read, Write};

/// A reading error: damaged or foreign bytes.
pub(crate) fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("timelines snapshot: {what}"),
    )
}

/// Bytes per read when decoding long arrays.
const BLOCK: usize = 1 << 16;

pub(crate) struct Out<'w, W: Write>(pub(crate) &'w mut W);

impl<W: Write> Out<'_, W> {
    pub(crate) fn u32(&mut self, x: u32) -> std::io::Result<()> {
        self.0.write_all(&x.to_le_bytes())
    }

    pub(crate) fn u64(&mut self, x: u64) -> std::io::Result<()> {
        self.0.write_all(&x.to_le_bytes())
    }

    pub(crate) fn len(&mut self, n: usize) -> std::io::Result<()> {
        self.u64(n as u64)
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.len(b.len())?;
        self.0.write_all(b)
    }

    /// An array of `N`-byte items, each encoded by `f`, in blocks.
    pub(crate) fn array<T, const N: usize>(
        &mut self,
        items: &[T],
        f: impl Fn(&T) -> [u8; N],
    ) -> std::io::Result<()> {
        self.len(items.len())?;
        let mut buf = Vec::with_capacity(BLOCK);
        for chunk in items.chunks((BLOCK / N).max(1)) {
            buf.clear();
            for x in chunk {
                buf.extend_from_slice(&f(x));
            }
            self.0.write_all(&buf)?;
        }
        Ok(())
    }

    pub(crate) fn u32s(&mut self, items: &[u32]) -> std::io::Result<()> {
        self.array(items, |x| x.to_le_bytes())
    }
}

pub(crate) struct In<'r, R: Read>(pub(crate) &'r mut R);

impl<R: Read> In<'_, R> {
    fn fixed<const N: usize>(&mut self) -> std::io::Result<[u8; N]> {
        let mut b = [0u8; N];
        self.0.read_exact(&mut b).map_err(truncated)?;
        Ok(b)
    }

    pub(crate) fn u32(&mut self) -> std::io::Result<u32> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    pub(crate) fn u64(&mut self) -> std::io::Result<u64> {
        Ok(u64::from_le_bytes(self.fixed()?))
    }

    /// A length of at most `max`.
    pub(crate) fn len(&mut self, max: usize) -> std::io::Result<usize> {
        usize::try_from(self.u64()?)
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| invalid("a table is larger than allowed"))
    }

    /// A byte string of at most `max` bytes.
    pub(crate) fn bytes(&mut self, max: usize) -> std::io::Result<Vec<u8>> {
        let n = self.len(max)?;
        let mut out = Vec::new();
        out.try_reserve_exact(n).map_err(|_| invalid("too large"))?;
        self.0
            .by_ref()
            .take(n as u64)
            .read_to_end(&mut out)
            .map_err(truncated)?;
        if out.len() != n {
            return Err(invalid("truncated"));
        }
        Ok(out)
    }

    /// An array of at most `max` `N`-byte items, each decoded by `f`.
    pub(crate) fn array<T, const N: usize>(
        &mut self,
        max: usize,
        f: impl Fn([u8; N]) -> T,
    ) -> std::io::Result<Vec<T>> {
        let n = self.len(max)?;
        self.items(n, f)
    }

    /// `n` items of `N` bytes, each decoded by `f`.
    pub(crate) fn items<T, const N: usize>(
        &mut self,
        n: usize,
        f: impl Fn([u8; N]) -> T,
    ) -> std::io::Result<Vec<T>> {
        let mut out = Vec::new();
        out.try_reserve_exact(n).map_err(|_| invalid("too large"))?;
        let mut buf = vec![0u8; (BLOCK / N).max(1) * N];
        let mut left = n;
        while left > 0 {
            let k = left.min(buf.len() / N);
            let block = &mut buf[..k * N];
            self.0.read_exact(block).map_err(truncated)?;
            out.extend(block.chunks_exact(N).map(|c| {
                let mut item = [0u8; N];
                item.copy_from_slice(c);
                f(item)
            }));
            left -= k;
        }
        Ok(out)
    }

    pub(crate) fn u32s(&mut self, max: usize) -> std::io::Result<Vec<u32>> {
        self.array(max, u32::from_le_bytes)
    }
}

fn truncated(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        invalid("truncated")
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_round_trip_across_blocks() {
        let items: Vec<u32> = (0..100_000).map(|i| i * 7).collect();
        let mut bytes = Vec::new();
        let mut out = Out(&mut bytes);
        out.u32s(&items).unwrap();
        out.bytes(b"abc").unwrap();
        let mut r = bytes.as_slice();
        let mut input = In(&mut r);
        assert_eq!(input.u32s(usize::MAX).unwrap(), items);
        assert_eq!(input.bytes(3).unwrap(), b"abc");
        assert!(input.u32().is_err(), "at the end");
        let mut r = bytes.as_slice();
        assert!(In(&mut r).u32s(10).is_err(), "longer than allowed");
        let mut r = &bytes[..1000];
        assert!(In(&mut r).u32s(usize::MAX).is_err(), "truncated");
    }
}

//! Connection buffers: a read buffer with a consumed-prefix cursor, and
//! small per-worker pools so idle connections hold no buffer memory.

use std::io::{self, Read};

/// Bytes read from a socket per `read` call.
pub const READ_CHUNK: usize = 16 * 1024;

/// Buffers bigger than this are freed instead of pooled.
const POOL_BUFFER_MAX: usize = 64 * 1024;

/// Buffers kept in a worker's pool.
const POOL_SIZE: usize = 256;

/// A per-worker pool of reusable byte buffers (contents unspecified).
#[derive(Debug, Default)]
pub struct BufPool(Vec<Vec<u8>>);

impl BufPool {
    /// A buffer from the pool (an empty `Vec` when the pool is dry); its
    /// length and contents are whatever the last user left.
    pub fn take(&mut self) -> Vec<u8> {
        self.0.pop().unwrap_or_default()
    }

    /// Returns a buffer for reuse (or frees it if large or the pool is full).
    pub fn give(&mut self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > POOL_BUFFER_MAX || self.0.len() >= POOL_SIZE {
            return;
        }
        self.0.push(buf);
    }
}

/// A worker's two pools. Read and write buffers are pooled apart: a read
/// buffer keeps its initialised length, so reusing one needs no zero-fill,
/// while a write buffer comes back cleared (a shared pool had reads
/// zero-filling 16 KiB whenever they drew a former write buffer).
#[derive(Debug, Default)]
pub struct Pools {
    /// Buffers for `ReadBuf`s.
    pub read: BufPool,
    /// Buffers for replies.
    pub write: BufPool,
}

/// Bytes received and not yet consumed: `buf[start..end]`. The whole of
/// `buf` stays initialised, so reads need no zero-filling after the first.
#[derive(Debug, Default)]
pub struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    /// The unconsumed bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once from `src`, appending; returns bytes read (0 = EOF) and
    /// whether the read was short (filled less than the space offered: the
    /// socket had nothing more at that moment).
    pub fn read_from(
        &mut self,
        src: &mut impl Read,
        pool: &mut BufPool,
    ) -> io::Result<(usize, bool)> {
        if self.buf.capacity() == 0 {
            self.buf = pool.take();
        }
        if self.buf.len() - self.end < READ_CHUNK && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < READ_CHUNK {
            let want = (self.end + READ_CHUNK).max(self.buf.len() * 2);
            self.buf.resize(want, 0);
        }
        let space = self.buf.len() - self.end;
        let n = src.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok((n, n < space))
    }

    /// Gives the memory back to the pool when nothing is buffered.
    pub fn release_if_empty(&mut self, pool: &mut BufPool) {
        if self.is_empty() && self.buf.capacity() > 0 {
            pool.give(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_append_and_consume() {
        let mut pool = BufPool::default();
        let mut rb = ReadBuf::default();
        let mut src: &[u8] = b"hello world";
        assert_eq!(rb.read_from(&mut src, &mut pool).unwrap(), (11, true));
        rb.consume(6);
        assert_eq!(rb.data(), b"world");
        let mut more: &[u8] = b"!";
        rb.read_from(&mut more, &mut pool).unwrap();
        assert_eq!(rb.data(), b"world!");
        rb.consume(6);
        rb.release_if_empty(&mut pool);
        assert!(rb.is_empty());
        assert_eq!(pool.0.len(), 1);
    }

    #[test]
    fn pooled_read_buffers_stay_initialised() {
        // A read buffer goes back with its full length, so the next
        // connection that takes it reads into it without a resize.
        let mut pools = Pools::default();
        let mut rb = ReadBuf::default();
        let mut src: &[u8] = b"get k\r\n";
        rb.read_from(&mut src, &mut pools.read).unwrap();
        rb.consume(7);
        rb.release_if_empty(&mut pools.read);
        let len = pools.read.0[0].len();
        assert!(len >= READ_CHUNK);
        let mut next = ReadBuf::default();
        let mut src: &[u8] = b"x";
        next.read_from(&mut src, &mut pools.read).unwrap();
        assert_eq!(next.buf.len(), len, "reused without zero-filling more");
        assert!(pools.write.0.is_empty());
    }
}

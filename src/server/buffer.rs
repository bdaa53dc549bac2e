//! Connection buffers: a read buffer with a consumed-prefix cursor, and a
//! small per-worker pool so idle connections hold no buffer memory.

use std::io::{self, Read};

/// Bytes read from a socket per `read` call.
pub const READ_CHUNK: usize = 16 * 1024;

/// Buffers bigger than this are freed instead of pooled.
const POOL_BUFFER_MAX: usize = 64 * 1024;

/// Buffers kept in a worker's pool.
const POOL_SIZE: usize = 256;

/// A per-worker pool of reusable byte buffers.
#[derive(Debug, Default)]
pub struct BufPool(Vec<Vec<u8>>);

impl BufPool {
    /// A cleared buffer (empty `Vec` when the pool is dry).
    pub fn take(&mut self) -> Vec<u8> {
        self.0.pop().unwrap_or_default()
    }

    /// Returns a buffer for reuse (or frees it if large or the pool is full).
    pub fn give(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > POOL_BUFFER_MAX || self.0.len() >= POOL_SIZE {
            return;
        }
        buf.clear();
        self.0.push(buf);
    }
}

/// Bytes received and not yet consumed.
#[derive(Debug, Default)]
pub struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
}

impl ReadBuf {
    /// The unconsumed bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    /// Marks `n` bytes as used.
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.buf.len());
    }

    /// Reads once from `src`, appending; returns bytes read (0 = EOF).
    pub fn read_from(&mut self, src: &mut impl Read, pool: &mut BufPool) -> io::Result<usize> {
        if self.buf.capacity() == 0 {
            self.buf = pool.take();
        }
        if self.start > 0 && (self.start == self.buf.len() || self.start >= self.buf.capacity() / 2)
        {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + READ_CHUNK, 0);
        let result = src.read(&mut self.buf[len..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(len + n);
        result
    }

    /// Gives the memory back to the pool when nothing is buffered.
    pub fn release_if_empty(&mut self, pool: &mut BufPool) {
        if self.is_empty() && self.buf.capacity() > 0 {
            self.start = 0;
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
        assert_eq!(rb.read_from(&mut src, &mut pool).unwrap(), 11);
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
}

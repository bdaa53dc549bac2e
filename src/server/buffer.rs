//! Connection buffers: a read buffer with a consumed-prefix cursor, and
//! small per-worker pools so idle connections hold no buffer memory.

/// Bytes read from a socket per `read` call.
pub const READ_CHUNK: usize = 16 * 1024;

/// Buffers bigger than this are freed instead of pooled.
const POOL_BUFFER_MAX: usize = 64 * 1024;

/// Buffers kept in a worker's pool.
const POOL_SIZE: usize = 256;

/// A partial request at most this long is moved out of its pooled buffer
/// into one of its own size when the connection waits for the rest, so a
/// client that trickles a request holds tens of bytes, not a 16 KiB read
/// buffer (memcached copies partial reads out of its buffer cache too).
/// Longer ones keep their buffer: a large value arriving over many reads
/// would be copied back and forth.
const PARK_MAX: usize = 4096;

/// A per-worker pool of reusable byte buffers (contents unspecified).
#[derive(Debug, Default)]
pub struct BufPool(Vec<Vec<u8>>);

impl BufPool {
    /// A buffer from the pool (an empty `Vec` when the pool is dry); its
    /// length and contents are whatever the last user left.
    #[inline]
    pub fn take(&mut self) -> Vec<u8> {
        self.0.pop().unwrap_or_default()
    }

    /// Returns a buffer for reuse (or frees it if large or the pool is full).
    #[inline]
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
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Whether nothing is buffered.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` bytes as used.
    #[inline]
    pub fn consume(&mut self, n: usize) {
        self.start += n;
        debug_assert!(self.start <= self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room for the next read: at least [`READ_CHUNK`] bytes after the
    /// data. Report what was read into it with [`ReadBuf::filled`].
    #[inline]
    pub fn spare(&mut self, pool: &mut BufPool) -> &mut [u8] {
        self.make_room(pool);
        &mut self.buf[self.end..]
    }

    /// Appends the `n` bytes just read into [`ReadBuf::spare`].
    #[inline]
    pub fn filled(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.buf.len());
        self.end += n;
    }

    /// Ensures [`READ_CHUNK`] bytes of room after the data: moves the data
    /// to the front, or into a pooled buffer (a parked request's own small
    /// one is too small), or doubles the buffer for a large request.
    fn make_room(&mut self, pool: &mut BufPool) {
        if self.buf.len() - self.end >= READ_CHUNK {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buf.len() - self.end >= READ_CHUNK {
                return;
            }
        }
        let want = (self.end + READ_CHUNK).max(self.buf.len() * 2);
        if self.buf.len() < READ_CHUNK {
            let mut pooled = pool.take();
            if pooled.len() < want {
                pooled.resize(want, 0);
            }
            pooled[..self.end].copy_from_slice(&self.buf[..self.end]);
            self.buf = pooled; // a parked buffer is freed, never pooled
        } else {
            self.buf.resize(want, 0);
        }
    }

    /// Before the connection waits for its client: gives the buffer back
    /// to the pool when nothing is buffered, and moves a short partial
    /// request (up to [`PARK_MAX`] bytes) into a buffer of its own size.
    #[inline]
    pub fn park(&mut self, pool: &mut BufPool) {
        let len = self.end - self.start;
        if len == 0 {
            self.release_if_empty(pool);
        } else if len <= PARK_MAX && self.buf.len() > len {
            let own = self.data().to_vec();
            pool.give(std::mem::replace(&mut self.buf, own));
            self.start = 0;
            self.end = len;
        }
    }

    /// Gives the memory back to the pool when nothing is buffered.
    #[inline]
    pub fn release_if_empty(&mut self, pool: &mut BufPool) {
        if self.is_empty() && self.buf.capacity() > 0 {
            pool.give(std::mem::take(&mut self.buf));
        }
    }

    /// Bytes of memory the buffer holds.
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{self, Read};

    impl ReadBuf {
        /// Reads once from `src` into the spare room; returns the bytes
        /// read and whether the read was short.
        fn read_from(
            &mut self,
            src: &mut impl Read,
            pool: &mut BufPool,
        ) -> io::Result<(usize, bool)> {
            let space = self.spare(pool);
            let room = space.len();
            let n = src.read(space)?;
            self.filled(n);
            Ok((n, n < room))
        }
    }

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

    #[test]
    fn a_parked_partial_request_holds_only_its_bytes() {
        let mut pool = BufPool::default();
        let mut rb = ReadBuf::default();
        let mut src: &[u8] = b"get k\r\nget parti";
        rb.read_from(&mut src, &mut pool).unwrap();
        rb.consume(7);
        rb.park(&mut pool);
        assert_eq!(rb.data(), b"get parti");
        assert!(rb.capacity() < 64, "parked in {} bytes", rb.capacity());
        assert_eq!(pool.0.len(), 1, "the read buffer went back to the pool");
        // The rest arrives: the request continues in a pooled buffer.
        let mut src: &[u8] = b"al\r\n";
        rb.read_from(&mut src, &mut pool).unwrap();
        assert_eq!(rb.data(), b"get partial\r\n");
        assert!(rb.capacity() >= READ_CHUNK);
        assert!(pool.0.is_empty());
    }

    #[test]
    fn a_long_partial_request_keeps_its_buffer() {
        let mut pool = BufPool::default();
        let mut rb = ReadBuf::default();
        let big = vec![b'v'; PARK_MAX + 1];
        rb.read_from(&mut &big[..], &mut pool).unwrap();
        let capacity = rb.capacity();
        rb.park(&mut pool);
        assert_eq!(rb.capacity(), capacity);
        assert_eq!(rb.data().len(), PARK_MAX + 1);
    }

    #[test]
    fn large_requests_grow_the_buffer() {
        let mut pool = BufPool::default();
        let mut rb = ReadBuf::default();
        let big = vec![b'v'; 5 * READ_CHUNK];
        let mut src = &big[..];
        while !src.is_empty() {
            rb.read_from(&mut src, &mut pool).unwrap();
        }
        assert_eq!(rb.data(), &big[..]);
    }
}

//! One cached item as the first store keeps it, and what it costs.

/// "No item" in the LRU links.
pub const NIL: u32 = u32::MAX;

/// memcached's `sizeof(item)` on 64-bit builds; used so that `-I` and the
/// `bytes` stat mean what they mean for memcached.
const MEMCACHED_HEADER: usize = 48;

/// A stored item: key and value share one heap block.
#[derive(Debug)]
pub struct Entry {
    /// The key's full hash (also picks the stripe).
    pub hash: u64,
    /// Key bytes followed by value bytes.
    pub kv: Box<[u8]>,
    /// Key length (keys are at most 250 bytes).
    pub klen: u8,
    /// Client flags.
    pub flags: u32,
    /// Relative expiry time, 0 = never.
    pub exptime: u32,
    /// Relative time of the last store or LRU bump.
    pub time: u32,
    /// CAS / store sequence number.
    pub cas: u64,
    /// Recency: the store-wide LRU sequence at the last store or bump;
    /// lower is older. Eviction compares it across stripes.
    pub seq: u64,
    /// Whether a get has read it since it was stored.
    pub fetched: bool,
    /// LRU neighbour towards the head (more recent).
    pub prev: u32,
    /// LRU neighbour towards the tail (less recent).
    pub next: u32,
}

impl Entry {
    /// The key.
    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.kv[..self.klen as usize]
    }

    /// The value.
    #[inline]
    pub fn value(&self) -> &[u8] {
        &self.kv[self.klen as usize..]
    }

    /// Bytes charged against the memory limit for this item: the entry, its
    /// index slot and its heap block with allocator rounding.
    pub fn charge(&self) -> usize {
        charge_for(self.kv.len())
    }
}

/// Bytes charged for an item whose key + value is `kv_len` bytes.
pub fn charge_for(kv_len: usize) -> usize {
    const INDEX_SLOT: usize = 8;
    const ALLOCATOR_HEADER: usize = 16;
    std::mem::size_of::<Option<Entry>>() + INDEX_SLOT + ALLOCATOR_HEADER + kv_len.div_ceil(16) * 16
}

/// memcached's `ITEM_ntotal` for an item: what `-I` limits and `bytes` counts.
pub fn memcached_total(klen: usize, vlen: usize, flags: u32, use_cas: bool) -> usize {
    MEMCACHED_HEADER
        + klen
        + 1
        + vlen
        + 2
        + if flags != 0 { 4 } else { 0 }
        + if use_cas { 8 } else { 0 }
}

//! Numbers for `stats`, `stats items`, `stats slabs` and `stats sizes`.

use super::classes::ClassStats;
use super::item::Header;
use super::pages::Handle;
use super::{lock, Store};
use std::sync::atomic::Ordering;

/// Width of a `stats sizes` bucket, as memcached's.
pub(super) const SIZE_BUCKET: usize = 32;

/// One class's numbers for `stats slabs` / `stats items`.
#[derive(Debug, Clone, Copy)]
pub struct ClassReport {
    /// Class id.
    pub id: u8,
    /// Chunk size.
    pub chunk_size: usize,
    /// Chunks per page.
    pub chunks_per_page: usize,
    /// Pages owned.
    pub total_pages: usize,
    /// Chunks in use.
    pub used_chunks: usize,
    /// Chunks on the free list.
    pub free_chunks: usize,
    /// Chunks not yet carved from the last page.
    pub free_chunks_end: usize,
    /// Seconds since the LRU tail item was last accessed.
    pub age: u32,
    /// Counters.
    pub stats: ClassStats,
}

crate::described! {
    /// Totals over the whole store, named as memcached's `stats` fields.
    pub struct StoreStats {
        curr_items: Gauge "Items stored now",
        bytes: Gauge "Bytes of the items stored now (header, key, value)",
        total_items: Counter "Items ever stored",
        evictions: Counter "Live items evicted to make room",
        evicted_unfetched: Counter "Evicted items that were never read",
        reclaimed: Counter "Expired or flushed items whose memory an allocation reused",
        expired_unfetched: Counter "Expired items reclaimed that were never read",
        crawler_reclaimed: Counter "Expired or flushed items freed by the crawler",
        crawler_items_checked: Counter "Items the crawler looked at",
        lrutail_reflocked: Counter "LRU tail items skipped because their lock was busy",
        moves_within_lru: Counter "Items moved to the head of their LRU by a read",
        direct_reclaims: Counter "Allocations that had to reclaim or evict to find room",
        total_malloced: Gauge "Bytes of item memory allocated in pages",
        slab_global_page_pool: Gauge "Pages allocated but owned by no slab class",
        active_slabs: Gauge "Slab classes that own pages",
        slabs_moved: Counter "Pages moved between slab classes",
        limit_maxbytes: Gauge "The item memory limit in bytes (-m, cache_memlimit)",
        hash_bytes: Gauge "Bytes the index tables hold",
    }
}

impl Store {
    /// Counts a linked (+1) or unlinked (−1) item in the size histogram.
    pub(super) fn track_size(&self, hdr: &Header, linked: bool) {
        if self.size_counts.is_empty() {
            return;
        }
        let bucket = self
            .item_bytes(hdr)
            .div_ceil(SIZE_BUCKET)
            .min(self.size_counts.len() - 1);
        if linked {
            self.size_counts[bucket].fetch_add(1, Ordering::Relaxed);
        } else {
            self.size_counts[bucket].fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// `stats sizes`: (bucket upper size, items) for non-empty buckets, or
    /// `None` when `-o track_sizes` is off.
    pub fn size_histogram(&self) -> Option<Vec<(usize, u64)>> {
        if self.size_counts.is_empty() {
            return None;
        }
        Some(
            self.size_counts
                .iter()
                .enumerate()
                .map(|(i, n)| (i * SIZE_BUCKET, n.load(Ordering::Relaxed)))
                .filter(|&(_, n)| n > 0)
                .collect(),
        )
    }

    /// Per-class numbers for classes that own pages.
    pub fn class_reports(&self) -> Vec<ClassReport> {
        let now = self.clock.now();
        let page_size = self.pages.page_size();
        self.sizes
            .ids()
            .filter_map(|id| {
                let c = self.class(id);
                if c.pages.is_empty() && c.stats.total_items == 0 {
                    return None;
                }
                let age = c.tail_age(&self.pages, now).unwrap_or(0);
                let total = c.pages.len() * c.per_page;
                let uncarved = c.uncarved(page_size);
                Some(ClassReport {
                    id,
                    chunk_size: c.size,
                    chunks_per_page: c.per_page,
                    total_pages: c.pages.len(),
                    used_chunks: total - c.free.len() - uncarved,
                    free_chunks: c.free.len(),
                    free_chunks_end: uncarved,
                    age,
                    stats: c.stats,
                })
            })
            .collect()
    }

    /// Sums counters over classes and stripes.
    pub fn stats(&self) -> StoreStats {
        let mut out = StoreStats::default();
        for r in self.class_reports() {
            let s = &r.stats;
            out.curr_items += s.number;
            out.bytes += s.mem_requested;
            out.total_items += s.total_items;
            out.evictions += s.evicted;
            out.evicted_unfetched += s.evicted_unfetched;
            out.reclaimed += s.reclaimed;
            out.expired_unfetched += s.expired_unfetched;
            out.crawler_reclaimed += s.crawler_reclaimed;
            out.crawler_items_checked += s.crawler_items_checked;
            out.lrutail_reflocked += s.lrutail_reflocked;
            out.moves_within_lru += s.moves_within_lru;
            out.direct_reclaims += s.direct_reclaims;
            out.active_slabs += u64::from(r.total_pages > 0);
        }
        let pool = lock(&self.pool);
        out.total_malloced = (pool.allocated * self.pages.page_size()) as u64;
        out.slab_global_page_pool = pool.free.len() as u64;
        drop(pool);
        out.slabs_moved = self.slabs_moved.load(Ordering::Relaxed);
        out.limit_maxbytes = self.limit() as u64;
        out.hash_bytes = self
            .stripes
            .iter()
            .map(|s| lock(s).table.capacity() * (std::mem::size_of::<Handle>() + 1))
            .sum::<usize>() as u64;
        out
    }

    /// `stats reset`: zeroes the cumulative counters (not the gauges).
    pub fn reset_stats(&self) {
        for id in self.sizes.ids() {
            let mut c = self.class(id);
            let keep = ClassStats {
                number: c.stats.number,
                mem_requested: c.stats.mem_requested,
                ..ClassStats::default()
            };
            c.stats = keep;
            c.evicted_seen = 0;
        }
        self.slabs_moved.store(0, Ordering::Relaxed);
    }
}

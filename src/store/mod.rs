//! The item store: slab-allocated item memory under `-m`, a lock-striped
//! index, an LRU per slab class, TTLs, CAS, and memcached's
//! store/arith/touch/flush semantics.
//!
//! It knows nothing of protocols: callers pass keys and values and get
//! outcome values back; reads hand a borrowed [`ItemRef`] to a closure that
//! runs with the stripe lock held, so a reply is written without copying
//! the value twice.
//!
//! # Files
//! - `mod.rs`: the [`Store`], its configuration, the clock tick.
//! - `read.rs`, `write.rs`, `delete.rs`, `arith.rs`: the operations
//!   (get/touch; set/add/replace/append/prepend/cas; delete and flush_all;
//!   incr/decr), each with the public types it takes and returns.
//! - `value.rs`: the borrowed view of an item a read hands out.
//! - `index.rs`: lock stripes, hashing, lookup, and linking items into
//!   (and unlinking them from) the index and their class LRU.
//! - `alloc.rs`: chunks for new items, pages under `-m`, and writing items.
//! - `lru.rs`: LRU bumps and freeing from the LRU tail.
//! - `crawler.rs`: the background walk that frees expired items.
//! - `rebalance.rs`: page moves between classes and memory-limit changes.
//! - `report.rs`: numbers for `stats`, `stats items`/`slabs`/`sizes`.
//! - `classes.rs`, `pages.rs`, `item.rs`: slab classes, page memory, and
//!   the item layout inside a chunk.
//!
//! # Memory
//! `-m` is spent in pages (`pages.rs`), handed lazily to slab classes
//! (`classes.rs`) whose chunks hold one item each: a 32-byte header, the
//! key and the value (`item.rs`). Items larger than half a page span
//! chained chunks of the largest class. Nothing is allocated per item.
//!
//! # Locks
//! - A **stripe** lock (picked by the key's hash) guards the stripe's index
//!   and the header fields, key and value of every item linked in it.
//! - A **class** lock guards the class's pages, free list and LRU list, and
//!   the link and state bytes (the first 9) of every chunk of its pages,
//!   including chunks being written and continuation chunks.
//! - The **page pool** lock guards unassigned pages; it is a leaf.
//!
//! Order: stripe, then class, then pool. A thread holding a class lock may
//! only `try_lock` a stripe (eviction, crawling, page moves), and no thread
//! holds two class locks, so no cycle can form. An item is unlinked from
//! the index and from its LRU, and its chunks freed, with *both* its stripe
//! and class locks held; so a class-lock holder that wins the stripe's
//! `try_lock` finds the item still linked.
//!
//! A chunk taken for a new item is ALLOCATING: the taking thread writes its
//! bytes from 9 on without locks, then links it; linking marks a large
//! item's continuation chunks CONT. Debug builds check that link and state
//! bytes are only touched under the owning class's lock (`pages.rs`).

mod alloc;
mod arith;
mod classes;
mod crawler;
mod delete;
mod dump;
mod index;
mod item;
mod lru;
mod pages;
mod read;
mod rebalance;
mod report;
mod rows;
mod value;
mod write;

pub use arith::{Counted, Delta, DeltaOp, DeltaOptions, DeltaOutcome};
pub use classes::{ClassSizes, ClassStats};
pub use delete::{DeleteOptions, DeleteOutcome};
pub use dump::Dumped;
pub use read::{ExpiryOrder, ReadMeta, ReadOptions, Token};
pub use rebalance::Reassign;
pub use report::{ClassReport, StoreStats};
pub use rows::{LruRow, SlabRow};
pub use value::{ItemRef, Value};
pub use write::{StoreMode, StoreOptions, StoreOutcome};

use alloc::PagePool;
use classes::ClassLock;
use index::Stripe;
use pages::Pages;
use report::SIZE_BUCKET;

use crate::clock::Clock;
use crate::watch::Watch;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Longest key memcached accepts.
pub const KEY_MAX_LENGTH: usize = 250;

/// What a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A live item.
    Hit,
    /// Nothing.
    Miss,
    /// An item that had expired (now reclaimed).
    Expired,
    /// An item invalidated by flush_all (now reclaimed).
    Flushed,
}

/// Store configuration.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Memory limit in bytes (`-m`).
    pub max_bytes: usize,
    /// Largest item, memcached-style total size (`-I`).
    pub item_size_max: usize,
    /// Whether CAS values are kept and reported (`!-C`).
    pub use_cas: bool,
    /// Whether a full class evicts (`false` = `-M`).
    pub evictions: bool,
    /// Worker threads, to size the stripe count.
    pub threads: usize,
    /// Smallest key + value + flags space of class 1 (`-n`).
    pub chunk_size: usize,
    /// Class growth factor (`-f`).
    pub growth_factor: f64,
    /// Page size (`-o slab_page_size`), a power of two.
    pub page_size: usize,
    /// `slab_automove` mode: 0 off, 1 on evictions, 2 aggressive.
    pub automove: u8,
    /// `-o track_sizes`: keep a histogram of item sizes for `stats sizes`.
    pub track_sizes: bool,
    /// The background crawler frees expired items (`-o no_lru_crawler` turns it off).
    pub crawler: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_bytes: 64 << 20,
            item_size_max: 1 << 20,
            use_cas: true,
            evictions: true,
            threads: 4,
            chunk_size: 48,
            growth_factor: 1.25,
            page_size: 1 << 20,
            automove: 1,
            track_sizes: false,
            crawler: true,
        }
    }
}

/// The store.
pub struct Store {
    pages: Pages,
    sizes: ClassSizes,
    classes: Box<[ClassLock]>,
    pool: Mutex<PagePool>,
    stripes: Box<[Mutex<Stripe>]>,
    stripe_shift: u32,
    hasher: ahash::RandomState,
    next_cas: AtomicU64,
    /// Items with a CAS below this were flushed.
    oldest_live_cas: AtomicU64,
    /// Relative time a delayed flush_all takes effect (0 = none pending).
    pending_flush: AtomicU32,
    limit: AtomicUsize,
    /// A flush_all happened since the crawler last looked.
    crawl_after_flush: AtomicBool,
    slabs_moved: AtomicU64,
    automove: AtomicU8,
    evictions: AtomicBool,
    item_size_max: usize,
    use_cas: bool,
    clock: Clock,
    /// Linked items per 32-byte size bucket (`-o track_sizes`), else empty.
    size_counts: Box<[AtomicU64]>,
    crawler: bool,
    /// Where evictions are told to `watch evictions`.
    watch: Arc<Watch>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("pages", &self.pages)
            .field("classes", &self.sizes.largest())
            .field("stripes", &self.stripes.len())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Store {
        let page_size = config.page_size;
        let sizes = ClassSizes::new(config.chunk_size, config.growth_factor, page_size);
        let classes = (0..=sizes.largest())
            .map(|id| ClassLock::new(id, sizes.size(id).max(1), page_size))
            .collect();
        let stripe_count = (config.threads.max(1) * 256)
            .next_power_of_two()
            .clamp(256, 16384);
        let pages = Pages::new(page_size);
        let limit_pages = (config.max_bytes / page_size).clamp(1, pages.max_pages());
        Store {
            pages,
            sizes,
            classes,
            pool: Mutex::new(PagePool {
                limit: limit_pages,
                ..PagePool::default()
            }),
            stripes: (0..stripe_count).map(|_| Mutex::default()).collect(),
            stripe_shift: 64 - stripe_count.trailing_zeros(),
            hasher: ahash::RandomState::new(),
            next_cas: AtomicU64::new(1),
            oldest_live_cas: AtomicU64::new(0),
            pending_flush: AtomicU32::new(0),
            limit: AtomicUsize::new(config.max_bytes),
            crawl_after_flush: AtomicBool::new(false),
            slabs_moved: AtomicU64::new(0),
            automove: AtomicU8::new(config.automove),
            evictions: AtomicBool::new(config.evictions),
            item_size_max: config.item_size_max,
            use_cas: config.use_cas,
            clock: Clock::new(),
            crawler: config.crawler,
            watch: Arc::default(),
            size_counts: if config.track_sizes {
                (0..=config.item_size_max / SIZE_BUCKET + 1)
                    .map(|_| AtomicU64::new(0))
                    .collect()
            } else {
                Box::new([])
            },
        }
    }

    /// The store's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The slab classes' chunk sizes.
    pub fn class_sizes(&self) -> &ClassSizes {
        &self.sizes
    }

    /// Number of lock stripes.
    pub fn stripe_count(&self) -> usize {
        self.stripes.len()
    }

    /// Whether an item of this shape fits under `-I` (memcached's arithmetic,
    /// so the same values are refused).
    pub fn item_fits(&self, klen: usize, vlen: usize, flags: u32) -> bool {
        memcached_total(klen, vlen, flags, self.use_cas) <= self.item_size_max
    }

    /// Tells evictions to `watch` (the server's watchers).
    pub fn with_watch(mut self, watch: Arc<Watch>) -> Store {
        self.watch = watch;
        self
    }

    /// The slab class an item of this key length, value length and flags
    /// is stored in (the largest for an item spanning chunks), as a store
    /// would allocate it: what per-class `cmd_set` counts, as memcached
    /// counts a set by the class of the item its data was read into.
    pub fn class_of(&self, klen: usize, vlen: usize, flags: u32) -> u8 {
        self.sizes
            .class_for(item::head_bytes(klen, flags, false) + vlen)
            .unwrap_or_else(|| self.sizes.largest())
    }

    /// Once a second (timer thread): advance the clock, apply a due delayed
    /// flush_all, crawl for expired items, and move a page if automove says so.
    pub fn tick(&self) {
        self.clock.tick();
        let pending = self.pending_flush.load(Ordering::Acquire);
        if pending != 0
            && pending <= self.clock.now()
            && self
                .pending_flush
                .compare_exchange(pending, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.flush_now();
        }
        if self.crawler {
            self.crawl();
        }
        self.automove();
    }

    /// A CAS as clients see it (0 under `-C`).
    fn visible_cas(&self, cas: u64) -> u64 {
        if self.use_cas {
            cas
        } else {
            0
        }
    }

    /// The counter's next CAS.
    fn new_cas(&self) -> u64 {
        self.next_cas.fetch_add(1, Ordering::Relaxed)
    }

    /// A CAS the client asked an item to take (meta `E`): kept only while
    /// CAS values are (without `-C`, as memcached stores no CAS then). The
    /// counter moves past it, so that `flush_all`, which invalidates by CAS
    /// (everything below the counter), covers an item with such a CAS too,
    /// and later writes to the key still get a higher one.
    fn explicit_cas(&self, requested: Option<u64>) -> Option<u64> {
        let cas = requested.filter(|_| self.use_cas)?;
        self.next_cas
            .fetch_max(cas.saturating_add(1), Ordering::Relaxed);
        Some(cas)
    }

    /// Seconds an item with relative expiry `exptime` has left to live: -1
    /// if it never expires (memcached's `t`), 0 if it is already due.
    fn ttl_left(&self, exptime: u32) -> i64 {
        if exptime == 0 {
            -1
        } else {
            (i64::from(exptime) - i64::from(self.clock.now())).max(0)
        }
    }
}

/// memcached's `ITEM_ntotal` for an item: what `-I` limits.
fn memcached_total(klen: usize, vlen: usize, flags: u32, use_cas: bool) -> usize {
    48 + klen + 1 + vlen + 2 + if flags != 0 { 4 } else { 0 } + if use_cas { 8 } else { 0 }
}

#[cfg(test)]
mod testing;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod memory_tests;

#[cfg(test)]
mod meta_tests;

#[cfg(test)]
mod liveness_tests;

//! The item store: slab-allocated item memory under `-m`, a lock-striped
//! index, an LRU per slab class, TTLs, CAS, and memcached's
//! store/arith/touch/flush semantics.
//!
//! It knows nothing of protocols: callers pass keys and values and get
//! outcome values back; reads hand a borrowed [`ItemRef`] to a closure that
//! runs with the stripe lock held, so a reply is written without copying
//! the value twice.
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

mod classes;
mod item;
mod pages;
mod rebalance;

pub use classes::{ClassSizes, ClassStats};
pub use rebalance::Reassign;

use classes::{Class, ClassGuard, ClassLock};
use item::{Header, CONT_HEADER, FETCHED, HAS_FLAGS, LARGE};
use pages::{Handle, Pages, NIL};

use crate::clock::Clock;
use hashbrown::HashTable;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Longest key memcached accepts.
pub const KEY_MAX_LENGTH: usize = 250;

/// A read bumps an item in the LRU at most this often (memcached's
/// ITEM_UPDATE_INTERVAL).
const ITEM_UPDATE_INTERVAL: u32 = 60;

/// How many LRU-tail items an allocation looks at for one it may free
/// (doubling, up to 64 times as many, while it finds them all busy).
const TAIL_SEARCH_DEPTH: usize = 5;

/// How many rounds an allocation tries (reclaim, evict, move a page)
/// before giving up with "out of memory".
const ALLOC_ATTEMPTS: usize = 64;

/// How many more rounds an allocation that may evict waits, backing off,
/// while the items or pages it could free are busy (about 0.1 s in all).
const BUSY_ROUNDS: usize = 100;

/// Width of a `stats sizes` bucket, as memcached's.
const SIZE_BUCKET: usize = 32;

/// Evictions a class makes before it looks for an idle class again.
const BALANCE_BACKOFF: usize = 64;

/// Items the crawler looks at per class per tick.
const CRAWL_PER_TICK: usize = 20_000;

/// Items the crawler looks at per class lock hold (short holds: workers
/// allocating in the class wait for it).
const CRAWL_BATCH: usize = 50;

/// How to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// Store unconditionally.
    Set,
    /// Store only if absent.
    Add,
    /// Store only if present.
    Replace,
    /// Add the data after the existing value.
    Append,
    /// Add the data before the existing value.
    Prepend,
    /// Store only if the CAS matches.
    Cas,
}

/// What a store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored.
    Stored,
    /// The mode's condition failed.
    NotStored,
    /// CAS mismatch.
    Exists,
    /// CAS on a missing key.
    NotFound,
    /// Larger than `-I`.
    TooLarge,
    /// No room and nothing could be evicted (or `-M`).
    NoMemory,
}

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

/// Result of incr/decr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// The new value.
    Value(u64),
    /// No such item.
    NotFound,
    /// The stored value is not an unsigned decimal.
    NonNumeric,
    /// No memory for the longer value.
    NoMemory,
}

/// Increment or decrement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOp {
    /// Add, wrapping at 2^64.
    Incr,
    /// Subtract, stopping at 0.
    Decr,
}

/// A value borrowed from the store: its first part, then chained chunks.
#[derive(Clone, Copy)]
pub struct Value<'a> {
    pages: &'a Pages,
    first: &'a [u8],
    next: Handle,
    len: usize,
    cont_capacity: usize,
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Value").field("len", &self.len).finish()
    }
}

impl<'a> Value<'a> {
    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value's bytes, in order, as one or more slices.
    pub fn pieces(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let pages = self.pages;
        let cap = self.cont_capacity;
        let mut left = self.len - self.first.len();
        let mut next = self.next;
        std::iter::once(self.first).chain(std::iter::from_fn(move || {
            if left == 0 || next == NIL {
                return None;
            }
            let n = left.min(cap);
            // SAFETY: a `Value` only exists inside a `Store::get` callback,
            // which runs with the item's stripe lock held.
            let piece = unsafe { item::slice(pages, next, CONT_HEADER, n) };
            // SAFETY: as above.
            next = unsafe { item::cont_next(pages, next) };
            left -= n;
            Some(piece)
        }))
    }

    /// The bytes held in the item's first chunk (all of them unless the
    /// value spans chunks).
    pub fn first(&self) -> &'a [u8] {
        self.first
    }

    /// The value as one contiguous slice, if it is stored in one chunk.
    pub fn as_slice(&self) -> Option<&'a [u8]> {
        (self.first.len() == self.len).then_some(self.first)
    }

    /// Copies the value out.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len);
        self.pieces().for_each(|p| out.extend_from_slice(p));
        out
    }
}

/// A borrowed view of a live item.
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: Value<'a>,
    /// Client flags.
    pub flags: u32,
    /// CAS (0 when CAS is disabled).
    pub cas: u64,
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

/// Totals over the whole store.
#[derive(Debug, Default, Clone, Copy)]
pub struct StoreStats {
    /// Linked items.
    pub curr_items: u64,
    /// Bytes of linked items (header, key, value).
    pub bytes: u64,
    /// Items ever stored.
    pub total_items: u64,
    /// Live items evicted.
    pub evictions: u64,
    /// Evicted items never fetched.
    pub evicted_unfetched: u64,
    /// Dead items whose memory was reused.
    pub reclaimed: u64,
    /// Reclaimed expired items never fetched.
    pub expired_unfetched: u64,
    /// Dead items freed by the crawler.
    pub crawler_reclaimed: u64,
    /// Items the crawler looked at.
    pub crawler_items_checked: u64,
    /// Tail items skipped because busy.
    pub lrutail_reflocked: u64,
    /// LRU bumps.
    pub moves_within_lru: u64,
    /// Allocations that reclaimed or evicted.
    pub direct_reclaims: u64,
    /// Bytes of pages allocated.
    pub total_malloced: u64,
    /// Pages allocated but owned by no class.
    pub page_pool: u64,
    /// Classes owning pages.
    pub active_slabs: u64,
    /// Pages moved between classes.
    pub slabs_moved: u64,
    /// Current limit.
    pub limit: u64,
    /// Bytes held by the index tables.
    pub index_bytes: u64,
}

/// Unassigned pages and the page budget.
#[derive(Debug, Default)]
struct PagePool {
    /// Allocated pages owned by no class.
    free: Vec<u32>,
    /// Page ids whose memory was released.
    released: Vec<u32>,
    /// Next never-used page id.
    next_id: u32,
    /// Pages with memory (owned by classes or in `free`).
    allocated: usize,
    /// Page budget (`-m` / page size).
    limit: usize,
}

/// One lock stripe of the index.
#[derive(Debug, Default)]
struct Stripe {
    table: HashTable<Handle>,
}

/// Why an item is not live.
#[derive(Debug, Clone, Copy)]
enum Dead {
    Expired,
    Flushed,
}

/// What an attempt to free memory for an allocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freed {
    /// Freed a chunk (or moved a page).
    Yes,
    /// Found only items or pages in use by other threads right now.
    Busy,
    /// Found nothing it may free.
    No,
}

/// Waits before an allocation's next look at busy items or pages: a yield
/// at first, then sleeps from 1 µs doubling to about 1 ms.
fn back_off(round: usize) {
    if round < 4 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(std::time::Duration::from_micros(1 << (round - 4).min(10)));
    }
}

/// Why an item is being removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Removal {
    /// delete, replace by a newer version, failed set.
    Normal,
    /// Found dead on access.
    Lazy,
    /// Freed to make room (allocation).
    Evict,
    /// Freed by the crawler.
    Crawl,
    /// Freed to move its page.
    PageMove,
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
            size_counts: if config.track_sizes {
                (0..=config.item_size_max / SIZE_BUCKET + 1)
                    .map(|_| AtomicU64::new(0))
                    .collect()
            } else {
                Box::new([])
            },
        }
    }

    /// Counts a linked (+1) or unlinked (−1) item in the size histogram.
    fn track_size(&self, hdr: &Header, linked: bool) {
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

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The hash a stripe's table uses. The stripe is picked by the hash's
    /// top bits, which hashbrown also uses for its 7-bit tags: folding the
    /// low half into the high half gives the tags back their spread.
    fn table_hash(hash: u64) -> u64 {
        hash ^ (hash << 32)
    }

    /// Locks slab class `id`.
    fn class(&self, id: u8) -> ClassGuard<'_> {
        self.classes[id as usize].lock()
    }

    fn stripe(&self, hash: u64) -> &Mutex<Stripe> {
        &self.stripes[(hash >> self.stripe_shift) as usize]
    }

    fn visible_cas(&self, cas: u64) -> u64 {
        if self.use_cas {
            cas
        } else {
            0
        }
    }

    fn new_cas(&self) -> u64 {
        self.next_cas.fetch_add(1, Ordering::Relaxed)
    }

    fn dead(&self, hdr: &Header) -> Option<Dead> {
        if self.clock.is_expired(hdr.exptime) {
            Some(Dead::Expired)
        } else if hdr.cas < self.oldest_live_cas.load(Ordering::Relaxed) {
            Some(Dead::Flushed)
        } else {
            None
        }
    }

    /// The key of a linked item.
    ///
    /// # Safety
    /// The caller holds the item's stripe lock, or its class lock while the
    /// item is LINKED (keys never change while linked).
    unsafe fn key_of(&self, h: Handle) -> &[u8] {
        // SAFETY: per the caller's promise; the key and its length are
        // written once before the item is linked.
        unsafe {
            let (offset, len) = item::key_range(&self.pages, h);
            item::slice(&self.pages, h, offset, len)
        }
    }

    fn find(&self, stripe: &Stripe, hash: u64, key: &[u8]) -> Option<Handle> {
        stripe
            .table
            // SAFETY: the stripe lock is held (`stripe` is borrowed from its guard).
            .find(
                Self::table_hash(hash),
                |&h| unsafe { self.key_of(h) } == key,
            )
            .copied()
    }

    /// Finds a live item; a dead one found on the way is freed.
    fn lookup(
        &self,
        stripe: &mut Stripe,
        hash: u64,
        key: &[u8],
    ) -> Result<(Handle, Header), Lookup> {
        let h = self.find(stripe, hash, key).ok_or(Lookup::Miss)?;
        // SAFETY: the stripe lock is held.
        let hdr = unsafe { item::read(&self.pages, h) };
        match self.dead(&hdr) {
            None => Ok((h, hdr)),
            Some(why) => {
                let mut class = self.class(hdr.class);
                self.remove(stripe, &mut class, hash, h, &hdr, Removal::Lazy);
                Err(match why {
                    Dead::Expired => Lookup::Expired,
                    Dead::Flushed => Lookup::Flushed,
                })
            }
        }
    }

    /// Unlinks an item from the index and its LRU and frees its chunks
    /// (into the class's free list, except for a page move).
    fn remove(
        &self,
        stripe: &mut Stripe,
        class: &mut Class,
        hash: u64,
        h: Handle,
        hdr: &Header,
        why: Removal,
    ) {
        match stripe.table.find_entry(Self::table_hash(hash), |&c| c == h) {
            Ok(slot) => {
                slot.remove();
            }
            Err(_) => unreachable!("removing an item missing from its stripe"),
        }
        class.unlink(&self.pages, h);
        self.track_size(hdr, false);
        class.with_ttl -= u64::from(hdr.exptime != 0);
        let st = &mut class.stats;
        st.number -= 1;
        st.mem_requested -= self.item_bytes(hdr) as u64;
        let fetched = hdr.bits & FETCHED != 0;
        match why {
            Removal::Evict | Removal::PageMove => match self.dead(hdr) {
                Some(dead) => {
                    st.reclaimed += 1;
                    if matches!(dead, Dead::Expired) && !fetched {
                        st.expired_unfetched += 1;
                    }
                }
                None => {
                    st.evicted += 1;
                    st.evicted_time = hdr.time;
                    if hdr.exptime != 0 {
                        st.evicted_nonzero += 1;
                    }
                    if !fetched {
                        st.evicted_unfetched += 1;
                    }
                }
            },
            Removal::Crawl => {
                st.crawler_reclaimed += 1;
                if !fetched && self.clock.is_expired(hdr.exptime) {
                    st.expired_unfetched += 1;
                }
            }
            Removal::Lazy | Removal::Normal => {}
        }
        self.free_chunks(class, h, hdr);
    }

    /// Returns an unlinked item's chunks to its class.
    fn free_chunks(&self, class: &mut Class, h: Handle, hdr: &Header) {
        let mut next = hdr.chain;
        class.give(&self.pages, h);
        while hdr.bits & LARGE != 0 && next != NIL {
            // SAFETY: the class lock is held and the chunk is CONT.
            let after = unsafe { item::cont_next(&self.pages, next) };
            class.give(&self.pages, next);
            next = after;
        }
    }

    /// Bytes an item occupies in its chunks (header, key, value).
    fn item_bytes(&self, hdr: &Header) -> usize {
        hdr.value_offset() + hdr.vlen as usize
    }

    /// Bumps a read item in its LRU (at most once a minute) and marks it
    /// fetched. The caller holds the item's stripe lock.
    fn bump(&self, h: Handle, hdr: &Header, fetch: bool) {
        let now = self.clock.now();
        let stale = hdr.time.saturating_add(ITEM_UPDATE_INTERVAL) <= now;
        let unfetched = fetch && hdr.bits & FETCHED == 0;
        if stale || unfetched {
            let mut class = self.class(hdr.class);
            // SAFETY: both the stripe lock (caller) and the class lock are held.
            unsafe {
                if unfetched {
                    item::set_fetched(&self.pages, h);
                }
                if stale {
                    item::set_time(&self.pages, h, now);
                    class.bump(&self.pages, h);
                }
            }
        }
    }

    /// Looks `key` up; on a hit calls `f` with the item (stripe locked) and
    /// bumps it. `touch` gives the item a new expiry first (gat).
    pub fn get<F: FnOnce(ItemRef<'_>)>(&self, key: &[u8], touch: Option<i64>, f: F) -> Lookup {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        let (h, hdr) = match self.lookup(&mut stripe, hash, key) {
            Ok(found) => found,
            Err(miss) => return miss,
        };
        if let Some(t) = touch {
            let exptime = self.clock.realtime(t);
            if (exptime != 0) != (hdr.exptime != 0) {
                // Keep the class's count of items that can expire exact.
                let mut class = self.class(hdr.class);
                class.with_ttl =
                    class.with_ttl + u64::from(exptime != 0) - u64::from(hdr.exptime != 0);
            }
            // SAFETY: the stripe lock is held.
            unsafe { item::update(&self.pages, h, exptime, hdr.cas) };
        }
        self.bump(h, &hdr, true);
        f(ItemRef {
            key,
            value: self.value(h, &hdr),
            flags: hdr.flags,
            cas: self.visible_cas(hdr.cas),
        });
        Lookup::Hit
    }

    fn value(&self, h: Handle, hdr: &Header) -> Value<'_> {
        Value {
            pages: &self.pages,
            // SAFETY: called with the item's stripe lock held.
            first: unsafe { item::slice(&self.pages, h, hdr.value_offset(), self.first_len(hdr)) },
            next: hdr.chain,
            len: hdr.vlen as usize,
            cont_capacity: self.cont_capacity(),
        }
    }

    /// Value bytes held in an item's head chunk (all of them unless LARGE).
    fn first_len(&self, hdr: &Header) -> usize {
        let vlen = hdr.vlen as usize;
        if hdr.bits & LARGE != 0 {
            (self.sizes.chunk_max() - hdr.value_offset()).min(vlen)
        } else {
            vlen
        }
    }

    /// Value bytes one continuation chunk of a LARGE item holds.
    fn cont_capacity(&self) -> usize {
        self.sizes.chunk_max() - CONT_HEADER
    }

    /// Gives a live item a new expiry.
    pub fn touch(&self, key: &[u8], exptime: i64) -> Lookup {
        self.get(key, Some(exptime), |_| {})
    }

    /// Deletes a live item.
    pub fn delete(&self, key: &[u8]) -> Lookup {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        match self.lookup(&mut stripe, hash, key) {
            Ok((h, hdr)) => {
                let mut class = self.class(hdr.class);
                self.remove(&mut stripe, &mut class, hash, h, &hdr, Removal::Normal);
                Lookup::Hit
            }
            Err(miss) => miss,
        }
    }

    /// Stores `data` under `key` according to `mode`; `cas` is compared in
    /// [`StoreMode::Cas`]. On success also returns the new item's CAS.
    pub fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
        cas: u64,
    ) -> (StoreOutcome, u64) {
        debug_assert!(key.len() <= KEY_MAX_LENGTH);
        if !self.item_fits(key.len(), data.len(), flags) {
            if mode == StoreMode::Set {
                // As memcached: a failed set must not leave the old value readable.
                self.delete(key);
            }
            return (StoreOutcome::TooLarge, 0);
        }
        let hash = self.hash(key);
        if matches!(mode, StoreMode::Append | StoreMode::Prepend) {
            return self.concat(mode, key, hash, data);
        }
        let exptime = self.clock.realtime(exptime);
        // Allocate and fill the new item before taking the stripe lock.
        let Some((h, hdr)) = self.allocate(key, flags, exptime, &[data]) else {
            if mode == StoreMode::Set {
                self.delete(key);
            }
            return (StoreOutcome::NoMemory, 0);
        };
        let mut stripe = lock(self.stripe(hash));
        let existing = self.lookup(&mut stripe, hash, key).ok();
        let refuse = match (mode, existing) {
            (StoreMode::Add, Some((old, old_hdr))) => {
                // memcached refreshes an item that an add collided with.
                self.bump(old, &old_hdr, false);
                Some(StoreOutcome::NotStored)
            }
            (StoreMode::Replace, None) => Some(StoreOutcome::NotStored),
            (StoreMode::Cas, None) => Some(StoreOutcome::NotFound),
            (StoreMode::Cas, Some((_, old_hdr))) if self.visible_cas(old_hdr.cas) != cas => {
                Some(StoreOutcome::Exists)
            }
            _ => None,
        };
        if let Some(outcome) = refuse {
            drop(stripe);
            self.discard(h, &hdr);
            return (outcome, 0);
        }
        let cas = self.link(&mut stripe, hash, h, &hdr, existing);
        (StoreOutcome::Stored, self.visible_cas(cas))
    }

    /// append / prepend: the new item is built from the old value and the
    /// data while the stripe lock is held.
    fn concat(&self, mode: StoreMode, key: &[u8], hash: u64, data: &[u8]) -> (StoreOutcome, u64) {
        let mut stripe = lock(self.stripe(hash));
        let Ok((old, old_hdr)) = self.lookup(&mut stripe, hash, key) else {
            return (StoreOutcome::NotStored, 0);
        };
        let total = old_hdr.vlen as usize + data.len();
        if !self.item_fits(key.len(), total, old_hdr.flags) {
            return (StoreOutcome::NotStored, 0);
        }
        let old_value = self.value(old, &old_hdr);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(4);
        if mode == StoreMode::Prepend {
            parts.push(data);
        }
        parts.extend(old_value.pieces());
        if mode == StoreMode::Append {
            parts.push(data);
        }
        let Some((h, hdr)) = self.allocate(key, old_hdr.flags, old_hdr.exptime, &parts) else {
            return (StoreOutcome::NotStored, 0);
        };
        let cas = self.link(&mut stripe, hash, h, &hdr, Some((old, old_hdr)));
        (StoreOutcome::Stored, self.visible_cas(cas))
    }

    /// Links a filled, ALLOCATING item into the index and its class LRU,
    /// first removing the version it replaces, if any; returns its CAS.
    ///
    /// The CAS is taken here, under the stripe lock, not when the item was
    /// allocated: versions of a key get rising CAS values in the order they
    /// are linked, and an item linked after a flush_all has returned is
    /// never below the flush's mark (a set allocated before the flush but
    /// linked after it would otherwise be dead on arrival, and would
    /// replace a newer live value).
    fn link(
        &self,
        stripe: &mut Stripe,
        hash: u64,
        h: Handle,
        hdr: &Header,
        replaces: Option<(Handle, Header)>,
    ) -> u64 {
        let cas = self.new_cas();
        // SAFETY: the stripe lock is held and the item is still this
        // thread's (ALLOCATING).
        unsafe { item::update(&self.pages, h, hdr.exptime, cas) };
        // One class lock hold when the new version is in the old one's class
        // (the usual case): a set takes the class lock twice, not three times.
        let mut class = match replaces {
            Some((old, old_hdr)) => {
                let mut class = self.class(old_hdr.class);
                self.remove(stripe, &mut class, hash, old, &old_hdr, Removal::Normal);
                if old_hdr.class == hdr.class {
                    class
                } else {
                    drop(class);
                    self.class(hdr.class)
                }
            }
            None => self.class(hdr.class),
        };
        stripe
            .table
            // SAFETY: the stripe lock is held; items in the table are linked.
            .insert_unique(Self::table_hash(hash), h, |&c| {
                Self::table_hash(self.hash(unsafe { self.key_of(c) }))
            });
        class.link(&self.pages, h);
        if hdr.bits & LARGE != 0 {
            class.link_chain(&self.pages, hdr.chain);
        }
        class.stats.number += 1;
        class.stats.total_items += 1;
        class.stats.mem_requested += self.item_bytes(hdr) as u64;
        class.with_ttl += u64::from(hdr.exptime != 0);
        self.track_size(hdr, true);
        cas
    }

    /// Frees an allocated item that was never linked.
    fn discard(&self, h: Handle, hdr: &Header) {
        let mut class = self.class(hdr.class);
        self.free_chunks(&mut class, h, hdr);
    }

    /// Applies incr/decr to a live item holding an unsigned decimal.
    pub fn delta(&self, key: &[u8], op: DeltaOp, delta: u64) -> Delta {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        let Ok((h, hdr)) = self.lookup(&mut stripe, hash, key) else {
            return Delta::NotFound;
        };
        let Some(current) = self.value(h, &hdr).as_slice() else {
            return Delta::NonNumeric;
        };
        let Some(value) = parse_counter(current) else {
            return Delta::NonNumeric;
        };
        let value = match op {
            DeltaOp::Incr => value.wrapping_add(delta),
            DeltaOp::Decr => value.saturating_sub(delta),
        };
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(value).as_bytes();
        self.bump(h, &hdr, false);
        if digits.len() <= hdr.vlen as usize {
            // memcached rewrites in place, padding with spaces to the old length.
            // SAFETY: the stripe lock is held; the value is one chunk.
            let v =
                unsafe { item::slice_mut(&self.pages, h, hdr.value_offset(), hdr.vlen as usize) };
            v[..digits.len()].copy_from_slice(digits);
            v[digits.len()..].fill(b' ');
            // SAFETY: the stripe lock is held.
            unsafe { item::update(&self.pages, h, hdr.exptime, self.new_cas()) };
            return Delta::Value(value);
        }
        let Some((new, new_hdr)) = self.allocate(key, hdr.flags, hdr.exptime, &[digits]) else {
            return Delta::NoMemory;
        };
        self.link(&mut stripe, hash, new, &new_hdr, Some((h, hdr)));
        Delta::Value(value)
    }

    /// flush_all: `delay` ≤ 0 invalidates every item now; otherwise at that
    /// expiry time (relative seconds or Unix time, as for exptime).
    pub fn flush_all(&self, delay: i64) {
        if delay > 0 {
            self.pending_flush
                .store(self.clock.realtime(delay).max(1), Ordering::Release);
        } else {
            self.pending_flush.store(0, Ordering::Release);
            self.flush_now();
        }
    }

    fn flush_now(&self) {
        let next = self.next_cas.load(Ordering::Relaxed);
        self.oldest_live_cas.fetch_max(next, Ordering::Relaxed);
        self.crawl_after_flush.store(true, Ordering::Release);
    }

    // ----------------------------------------------------------------- memory

    /// Allocates chunks for an item and writes it (header, key, value parts);
    /// the result is ALLOCATING: owned by the caller until linked. Its CAS
    /// is 0 until [`Store::link`] gives it one.
    fn allocate(
        &self,
        key: &[u8],
        flags: u32,
        exptime: u32,
        parts: &[&[u8]],
    ) -> Option<(Handle, Header)> {
        let vlen: usize = parts.iter().map(|p| p.len()).sum();
        let mut hdr = Header {
            klen: key.len() as u8,
            bits: if flags != 0 { HAS_FLAGS } else { 0 },
            exptime,
            time: self.clock.now(),
            vlen: vlen as u32,
            cas: 0,
            flags,
            chain: NIL,
            class: 0,
        };
        let (head, chain) = match self.sizes.class_for(hdr.value_offset() + vlen) {
            Some(class) => {
                hdr.class = class;
                (self.take_chunk(class)?, Vec::new())
            }
            None => {
                let class = self.sizes.largest();
                hdr.class = class;
                hdr.bits |= LARGE;
                let count = (vlen - self.first_len(&hdr)).div_ceil(self.cont_capacity());
                let head = self.take_chunk(class)?;
                let mut chain = Vec::with_capacity(count);
                for _ in 0..count {
                    match self.take_chunk(class) {
                        Some(c) => chain.push(c),
                        None => {
                            let mut cls = self.class(class);
                            cls.give(&self.pages, head);
                            chain.iter().for_each(|&c| cls.give(&self.pages, c));
                            return None;
                        }
                    }
                }
                hdr.chain = chain.first().copied().unwrap_or(NIL);
                (head, chain)
            }
        };
        // SAFETY: every chunk was just taken (ALLOCATING): this thread owns it.
        unsafe {
            item::init(&self.pages, head, &hdr);
            item::slice_mut(&self.pages, head, hdr.key_offset(), key.len()).copy_from_slice(key);
            for (i, &c) in chain.iter().enumerate() {
                let next = chain.get(i + 1).copied().unwrap_or(NIL);
                item::init_cont(&self.pages, c, hdr.class, head, next);
            }
        }
        self.write_value(head, &hdr, &chain, parts);
        Some((head, hdr))
    }

    /// Copies value parts into an owned item's chunks.
    fn write_value(&self, head: Handle, hdr: &Header, chain: &[Handle], parts: &[&[u8]]) {
        let per = self.cont_capacity();
        // Destinations: (chunk, offset, capacity) in order.
        let mut dests = std::iter::once((head, hdr.value_offset(), self.first_len(hdr)))
            .chain(chain.iter().map(|&c| (c, CONT_HEADER, per)));
        let mut dest: Option<(Handle, usize, usize)> = None;
        for part in parts {
            let mut part: &[u8] = part;
            while !part.is_empty() {
                let (c, off, room) = match dest {
                    Some(d) if d.2 > 0 => d,
                    _ => dests.next().expect("chunks sized for the value"),
                };
                let n = room.min(part.len());
                // SAFETY: the chunks are owned by this thread (ALLOCATING).
                unsafe { item::slice_mut(&self.pages, c, off, n) }.copy_from_slice(&part[..n]);
                part = &part[n..];
                dest = Some((c, off + n, room - n));
            }
        }
    }

    /// One chunk of `class`: a free one, a new one, or one made free by
    /// reclaiming, evicting, or moving a page from another class.
    ///
    /// With evictions on, items and pages that are busy right now (their
    /// stripe locked, chunks being written) are waited for, looking deeper
    /// into the LRU each round, for up to [`BUSY_ROUNDS`] rounds: only an
    /// allocation nothing can be freed for fails at once.
    fn take_chunk(&self, class: u8) -> Option<Handle> {
        let evict = self.evictions.load(Ordering::Relaxed);
        let balance = evict && self.automove.load(Ordering::Relaxed) != 0;
        let mut busy = 0;
        let mut attempts = 0;
        while attempts < ALLOC_ATTEMPTS {
            attempts += 1;
            let mut rebalance = false;
            let mut tail = Freed::No;
            {
                let mut c = self.class(class);
                // Allocation activity, measured in CAS ticks (one per item written).
                c.last_alloc = self.next_cas.load(Ordering::Relaxed);
                if let Some(h) = c.take(&self.pages) {
                    return Some(h);
                }
                if let Some(page) = self.new_page() {
                    c.add_page(&self.pages, page);
                    continue;
                }
                if !c.pages.is_empty() {
                    if balance && c.skip_balance == 0 {
                        // Before evicting, see if an idle class can give a
                        // page (the size mix may have shifted).
                        rebalance = true;
                    } else {
                        let depth = TAIL_SEARCH_DEPTH << busy.min(6);
                        tail = self.free_from_tail(&mut c, evict, depth);
                        if tail == Freed::Yes {
                            c.stats.direct_reclaims += 1;
                            c.skip_balance = c.skip_balance.saturating_sub(1);
                            continue;
                        }
                    }
                }
            }
            if rebalance {
                if !self.move_idle_page_to(class) {
                    // No idle class: evict for a while before looking again.
                    self.class(class).skip_balance = BALANCE_BACKOFF;
                }
                continue;
            }
            let wait = evict && busy < BUSY_ROUNDS;
            // Unless its LRU tail is only busy, this class cannot help
            // itself: take a page from another.
            let freed = if tail == Freed::Busy && wait {
                Freed::Busy
            } else {
                self.move_page_to(class, evict)
            };
            match freed {
                Freed::Yes => {}
                Freed::Busy if wait => {
                    back_off(busy);
                    busy += 1;
                    attempts -= 1; // bounded by BUSY_ROUNDS instead
                }
                _ => break,
            }
        }
        self.class(class).stats.outofmemory += 1;
        None
    }

    /// A page from the pool, or a newly allocated one within the budget.
    fn new_page(&self) -> Option<u32> {
        let mut pool = lock(&self.pool);
        if let Some(p) = pool.free.pop() {
            return Some(p);
        }
        if pool.allocated >= pool.limit {
            return None;
        }
        let id = match pool.released.pop() {
            Some(id) => id,
            None if (pool.next_id as usize) < self.pages.max_pages() => {
                pool.next_id += 1;
                pool.next_id - 1
            }
            None => return None,
        };
        if !self.pages.allocate(id) {
            pool.released.push(id);
            return None;
        }
        pool.allocated += 1;
        Some(id)
    }

    /// Frees one of the `depth` items at the class's LRU tail: a dead one,
    /// or (if `evict`) the least recently used one whose stripe is free to
    /// lock. [`Freed::Busy`]: some were skipped because their stripe was busy.
    fn free_from_tail(&self, class: &mut Class, evict: bool, depth: usize) -> Freed {
        let mut h = class.tail;
        let mut busy = false;
        for _ in 0..depth {
            if h == NIL {
                break;
            }
            let prev = class.prev_of(&self.pages, h);
            // SAFETY: the class lock is held and `h` is LINKED.
            let key = unsafe { self.key_of(h) };
            let hash = self.hash(key);
            let Ok(mut stripe) = self.stripe(hash).try_lock() else {
                class.stats.lrutail_reflocked += 1;
                busy = true;
                h = prev;
                continue;
            };
            // SAFETY: the stripe lock is now held too.
            let hdr = unsafe { item::read(&self.pages, h) };
            if evict || self.dead(&hdr).is_some() {
                self.remove(&mut stripe, class, hash, h, &hdr, Removal::Evict);
                return Freed::Yes;
            }
            h = prev;
        }
        if busy {
            Freed::Busy
        } else {
            Freed::No
        }
    }

    /// The crawler (once a tick): walks each class's LRU from the tail,
    /// freeing expired and flushed items so their memory is reused before
    /// anything live is evicted.
    fn crawl(&self) {
        // After a flush_all every class may hold dead items; otherwise only
        // classes holding items with an expiry time need crawling.
        let flushed = self.crawl_after_flush.swap(false, Ordering::AcqRel);
        for id in self.sizes.ids() {
            {
                let mut c = self.class(id);
                if flushed {
                    c.crawl_all = true;
                }
                if c.with_ttl == 0 && !c.crawl_all {
                    continue;
                }
            }
            let mut budget = CRAWL_PER_TICK;
            while budget > 0 {
                let mut c = self.class(id);
                let mut h = if c.crawl == NIL { c.tail } else { c.crawl };
                let mut n = 0;
                while h != NIL && n < CRAWL_BATCH {
                    n += 1;
                    let prev = c.prev_of(&self.pages, h);
                    c.stats.crawler_items_checked += 1;
                    // SAFETY: the class lock is held and `h` is LINKED.
                    let key = unsafe { self.key_of(h) };
                    let hash = self.hash(key);
                    if let Ok(mut stripe) = self.stripe(hash).try_lock() {
                        // SAFETY: the stripe lock is held.
                        let hdr = unsafe { item::read(&self.pages, h) };
                        if self.dead(&hdr).is_some() {
                            self.remove(&mut stripe, &mut c, hash, h, &hdr, Removal::Crawl);
                        }
                    }
                    h = prev;
                }
                c.crawl = h;
                if h == NIL {
                    // A full pass is done: flushed items are all freed.
                    c.crawl_all = false;
                }
                drop(c);
                budget = budget.saturating_sub(n);
                if h == NIL {
                    break;
                }
                std::thread::yield_now();
            }
        }
    }

    // ------------------------------------------------------------------ stats

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
        out.page_pool = pool.free.len() as u64;
        drop(pool);
        out.slabs_moved = self.slabs_moved.load(Ordering::Relaxed);
        out.limit = self.limit() as u64;
        out.index_bytes = self
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

/// memcached's `ITEM_ntotal` for an item: what `-I` limits.
fn memcached_total(klen: usize, vlen: usize, flags: u32, use_cas: bool) -> usize {
    48 + klen + 1 + vlen + 2 + if flags != 0 { 4 } else { 0 } + if use_cas { 8 } else { 0 }
}

/// Parses a stored counter as memcached's `safe_strtoull` does: optional
/// leading white space, digits, then only white space (the `\r\n` in
/// memcached's buffer) or the end; no minus sign; must fit 64 bits.
fn parse_counter(value: &[u8]) -> Option<u64> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let mut i = value.iter().take_while(|&&b| is_space(b)).count();
    if value.get(i) == Some(&b'+') {
        i += 1;
    }
    let digits = value[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let rest = &value[i + digits..];
    if !rest.is_empty() && !is_space(rest[0]) {
        return None;
    }
    std::str::from_utf8(&value[i..i + digits])
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod liveness_tests;

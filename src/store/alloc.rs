//! Memory for new items: a chunk from the class's free list, a new page
//! under `-m`, or one made free by reclaiming, evicting or moving a page;
//! and writing an item's header, key and value into its chunks.

use super::item::{self, Header, CONT_HEADER, HAS_FLAGS, LARGE};
use super::lock;
use super::lru::{Freed, TAIL_SEARCH_DEPTH};
use super::pages::{Handle, NIL};
use super::Store;
use std::sync::atomic::Ordering;

/// How many rounds an allocation tries (reclaim, evict, move a page)
/// before giving up with "out of memory".
const ALLOC_ATTEMPTS: usize = 64;

/// How many more rounds an allocation that may evict waits, backing off,
/// while the items or pages it could free are busy (about 0.1 s in all).
const BUSY_ROUNDS: usize = 100;

/// Evictions a class makes before it looks for an idle class again.
const BALANCE_BACKOFF: usize = 64;

/// Unassigned pages and the page budget.
#[derive(Debug, Default)]
pub(super) struct PagePool {
    /// Allocated pages owned by no class.
    pub(super) free: Vec<u32>,
    /// Page ids whose memory was released.
    pub(super) released: Vec<u32>,
    /// Next never-used page id.
    pub(super) next_id: u32,
    /// Pages with memory (owned by classes or in `free`).
    pub(super) allocated: usize,
    /// Page budget (`-m` / page size).
    pub(super) limit: usize,
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

impl Store {
    /// Allocates chunks for an item and writes it (header, key, value parts);
    /// the result is ALLOCATING: owned by the caller until linked. Its CAS
    /// is 0 until [`Store::link`] gives it one.
    pub(super) fn allocate(
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
}

//! Slab classes: chunk sizes from `-n` plus the item header, grown by `-f`
//! up to half a page (memcached's `slabs_init`), and per-class state: its
//! pages, free chunks, LRU list and counters, behind the class lock.

use super::item::{self, ALLOCATING, CONT, FREE, LINKED};
use super::pages::{self, Handle, Pages, CHUNK_ALIGN, NIL};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES` (ids 1..=63).
pub const MAX_CLASSES: usize = 63;

/// The chunk size of every class.
#[derive(Debug, Clone)]
pub struct ClassSizes {
    /// `sizes[id]` for ids 1..; `sizes[0]` is unused.
    sizes: Vec<usize>,
}

fn align(n: usize) -> usize {
    n.div_ceil(CHUNK_ALIGN) * CHUNK_ALIGN
}

impl ClassSizes {
    /// Classes for `-n min_size`, `-f factor` and pages of `page_size`.
    pub fn new(min_size: usize, factor: f64, page_size: usize) -> ClassSizes {
        let chunk_max = page_size / 2;
        let mut sizes = vec![0];
        let mut size = align(item::HEADER + min_size);
        while sizes.len() < MAX_CLASSES && (size as f64) < chunk_max as f64 / factor {
            sizes.push(size);
            size = align(((size as f64) * factor) as usize).max(size + CHUNK_ALIGN);
        }
        sizes.push(chunk_max);
        ClassSizes { sizes }
    }

    /// The largest class id (its chunks are `chunk_max` bytes).
    pub fn largest(&self) -> u8 {
        (self.sizes.len() - 1) as u8
    }

    /// Chunk size of class `id`.
    pub fn size(&self, id: u8) -> usize {
        self.sizes[id as usize]
    }

    /// Largest chunk (half a page).
    pub fn chunk_max(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// The smallest class whose chunks hold `bytes`; `None` if the item
    /// must span chunks of the largest class.
    pub fn class_for(&self, bytes: usize) -> Option<u8> {
        let i = self.sizes[1..].partition_point(|&s| s < bytes) + 1;
        (i < self.sizes.len()).then_some(i as u8)
    }

    /// Class ids.
    pub fn ids(&self) -> impl Iterator<Item = u8> {
        1..self.sizes.len() as u8
    }
}

crate::described! {
    /// Counters of one class, named as memcached's `stats items` fields.
    pub struct ClassStats {
        number: Gauge "Items stored now",
        mem_requested: Gauge "Bytes those items use (header, key, value)",
        total_items: Counter "Items ever stored",
        evicted: Counter "Live items evicted to make room",
        evicted_nonzero: Counter "Evicted items that had an expiry",
        evicted_unfetched: Counter "Evicted items that were never read",
        evicted_time: Gauge "Relative time the last evicted item was last accessed",
        reclaimed: Counter "Expired or flushed items whose memory an allocation reused",
        expired_unfetched: Counter "Expired items reclaimed that were never read",
        outofmemory: Counter "Allocations that found no room",
        crawler_reclaimed: Counter "Expired or flushed items freed by the crawler",
        crawler_items_checked: Counter "Items the crawler looked at",
        lrutail_reflocked: Counter "LRU tail items skipped because their lock was busy",
        moves_within_lru: Counter "Items moved to the head of their LRU by a read",
        direct_reclaims: Counter "Chunks freed by an allocation that had to reclaim or evict",
    }
}

/// A slab class behind its lock. Debug builds note which class lock each
/// thread holds ([`pages::note_class_lock`]): accesses to chunks'
/// class-lock bytes are checked against it, and taking a second class
/// lock (which the lock order forbids) panics instead of risking deadlock.
#[derive(Debug)]
pub struct ClassLock {
    id: u8,
    mutex: Mutex<Class>,
}

/// A held class lock.
#[derive(Debug)]
pub struct ClassGuard<'a> {
    guard: MutexGuard<'a, Class>,
}

impl ClassLock {
    /// Class `id`, empty.
    pub fn new(id: u8, size: usize, page_size: usize) -> ClassLock {
        ClassLock {
            id,
            mutex: Mutex::new(Class::new(id, size, page_size)),
        }
    }

    /// Waits for the lock.
    pub fn lock(&self) -> ClassGuard<'_> {
        debug_assert_eq!(pages::held_class(), 0, "a thread takes two class locks");
        let guard = self.mutex.lock().unwrap_or_else(|p| p.into_inner());
        pages::note_class_lock(self.id);
        ClassGuard { guard }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<ClassGuard<'_>> {
        debug_assert_eq!(pages::held_class(), 0, "a thread takes two class locks");
        let guard = match self.mutex.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        pages::note_class_lock(self.id);
        Some(ClassGuard { guard })
    }
}

impl std::ops::Deref for ClassGuard<'_> {
    type Target = Class;
    fn deref(&self) -> &Class {
        &self.guard
    }
}

impl std::ops::DerefMut for ClassGuard<'_> {
    fn deref_mut(&mut self) -> &mut Class {
        &mut self.guard
    }
}

impl Drop for ClassGuard<'_> {
    fn drop(&mut self) {
        // The mutex itself is released right after, with `guard`.
        pages::note_class_lock(0);
    }
}

/// One slab class; always used under its lock ([`ClassLock`]).
#[derive(Debug)]
pub struct Class {
    /// Class id.
    pub id: u8,
    /// Chunk size.
    pub size: usize,
    /// Chunks per page.
    pub per_page: usize,
    /// Pages owned.
    pub pages: Vec<u32>,
    /// Free chunks.
    pub free: Vec<Handle>,
    /// The page being carved and the offset of its next uncarved chunk.
    pub carve: Option<(u32, usize)>,
    /// LRU head (most recent).
    pub head: Handle,
    /// LRU tail (least recent).
    pub tail: Handle,
    /// The crawler's position (walking tail → head).
    pub crawl: Handle,
    /// Counters.
    pub stats: ClassStats,
    /// `stats.evicted` at the last automove check.
    pub evicted_seen: u64,
    /// The store's CAS counter when this class last allocated.
    pub last_alloc: u64,
    /// Evictions left before the class looks for an idle class's page again.
    pub skip_balance: usize,
    /// Linked items that have an expiry time: the crawler skips a class
    /// with none (nothing in it can expire).
    pub with_ttl: u64,
    /// Crawl this class through once even without expiring items (set
    /// after a flush_all).
    pub crawl_all: bool,
}

impl Class {
    /// An empty class.
    fn new(id: u8, size: usize, page_size: usize) -> Class {
        Class {
            id,
            size,
            per_page: page_size / size,
            pages: Vec::new(),
            free: Vec::new(),
            carve: None,
            head: NIL,
            tail: NIL,
            crawl: NIL,
            stats: ClassStats::default(),
            evicted_seen: 0,
            last_alloc: 0,
            skip_balance: 0,
            with_ttl: 0,
            crawl_all: false,
        }
    }

    /// Takes a page for carving. Whatever is left of the page being carved
    /// goes to the free list first, so that every page but the one being
    /// carved consists of initialised chunks (a reused page holds stale bytes).
    pub fn add_page(&mut self, pages: &Pages, page: u32) {
        while let Some(h) = self.carve_one(pages) {
            self.give(pages, h);
        }
        pages.set_owner(page, self.id);
        self.pages.push(page);
        self.carve = Some((page, 0));
    }

    /// Takes a free or never-used chunk, marking it ALLOCATING.
    pub fn take(&mut self, pages: &Pages) -> Option<Handle> {
        let h = match self.free.pop() {
            Some(h) => h,
            None => self.carve_one(pages)?,
        };
        // SAFETY: the class lock is held (`&mut self`).
        unsafe { item::set_state(pages, h, ALLOCATING) };
        Some(h)
    }

    /// The next never-used chunk of the page being carved.
    fn carve_one(&mut self, pages: &Pages) -> Option<Handle> {
        let (page, offset) = self.carve?;
        let next = offset + self.size;
        self.carve = (next + self.size <= pages.page_size()).then_some((page, next));
        Some(pages.handle(page, offset))
    }

    /// Returns a chunk to the free list.
    pub fn give(&mut self, pages: &Pages, h: Handle) {
        // SAFETY: the class lock is held.
        unsafe { item::set_state(pages, h, FREE) };
        self.free.push(h);
    }

    /// Seconds since the LRU tail item was last bumped (`None`: the LRU is
    /// empty). The caller holds this class's lock (`&self` came from it).
    pub fn tail_age(&self, pages: &Pages, now: u32) -> Option<u32> {
        // SAFETY: the class lock is held and the tail is LINKED.
        (self.tail != NIL).then(|| now.saturating_sub(unsafe { item::time(pages, self.tail) }))
    }

    /// Chunks never carved from the current page.
    pub fn uncarved(&self, page_size: usize) -> usize {
        self.carve
            .map_or(0, |(_, off)| (page_size - off) / self.size)
    }

    /// Links an item's head chunk at the LRU head.
    pub fn link(&mut self, pages: &Pages, h: Handle) {
        // SAFETY: the class lock is held.
        unsafe {
            item::set_links(pages, h, NIL, self.head);
            item::set_state(pages, h, LINKED);
            if self.head != NIL {
                let (_, next, _) = item::links(pages, self.head);
                item::set_links(pages, self.head, h, next);
            }
        }
        self.head = h;
        if self.tail == NIL {
            self.tail = h;
        }
    }

    /// Marks the continuation chunks of a large item being linked, from
    /// `first` on, CONT: part of a live item, which a page mover may move
    /// or evict (until then they are ALLOCATING, and movers keep away).
    pub fn link_chain(&mut self, pages: &Pages, first: Handle) {
        let mut c = first;
        while c != NIL {
            // SAFETY: the class lock is held (`&mut self`); the chain was
            // written by the linking thread before it took the lock.
            unsafe {
                item::set_state(pages, c, CONT);
                c = item::cont_next(pages, c);
            }
        }
    }

    /// Takes an item's head chunk out of the LRU (state becomes ALLOCATING:
    /// owned by the caller until given back).
    pub fn unlink(&mut self, pages: &Pages, h: Handle) {
        // SAFETY: the class lock is held.
        unsafe {
            let (prev, next, state) = item::links(pages, h);
            debug_assert_eq!(state, LINKED);
            if self.crawl == h {
                self.crawl = prev;
            }
            self.point_neighbours(pages, prev, next, next, prev);
            item::set_links(pages, h, NIL, NIL);
            item::set_state(pages, h, ALLOCATING);
        }
    }

    /// Makes the LRU neighbours `prev` and `next` of a node point on:
    /// `prev` (or the head) to `after_prev`, `next` (or the tail) to
    /// `before_next`. Unlinking passes `next, prev`; replacing passes the
    /// new node twice.
    fn point_neighbours(
        &mut self,
        pages: &Pages,
        prev: Handle,
        next: Handle,
        after_prev: Handle,
        before_next: Handle,
    ) {
        // SAFETY: the class lock is held (`&mut self`).
        unsafe {
            if prev == NIL {
                self.head = after_prev;
            } else {
                let (pp, _, _) = item::links(pages, prev);
                item::set_links(pages, prev, pp, after_prev);
            }
            if next == NIL {
                self.tail = before_next;
            } else {
                let (_, nn, _) = item::links(pages, next);
                item::set_links(pages, next, before_next, nn);
            }
        }
    }

    /// Puts chunk `to` in `from`'s place in the LRU (`from` becomes
    /// ALLOCATING: the caller gives it back).
    pub fn replace(&mut self, pages: &Pages, from: Handle, to: Handle) {
        // SAFETY: the class lock is held.
        unsafe {
            let (prev, next, _) = item::links(pages, from);
            item::set_links(pages, to, prev, next);
            item::set_state(pages, to, LINKED);
            self.point_neighbours(pages, prev, next, to, to);
            item::set_links(pages, from, NIL, NIL);
            item::set_state(pages, from, ALLOCATING);
        }
        if self.crawl == from {
            self.crawl = to;
        }
    }

    /// Chunks available outside `page`: free ones, and never-carved ones of
    /// another current page (room for the items of a page being emptied).
    pub fn room_outside(&self, pages: &Pages, page: u32) -> usize {
        let free = self
            .free
            .iter()
            .filter(|&&h| pages.page_of(h) != page)
            .count();
        let carvable = match self.carve {
            Some((p, _)) if p != page => self.uncarved(pages.page_size()),
            _ => 0,
        };
        free + carvable
    }

    /// Drops `page` (emptied of items) from the class: its free chunks and
    /// carving position go with it.
    pub fn remove_page(&mut self, pages: &Pages, page: u32) {
        pages.set_owner(page, 0);
        self.free.retain(|&h| pages.page_of(h) != page);
        self.pages.retain(|&p| p != page);
        if matches!(self.carve, Some((p, _)) if p == page) {
            self.carve = None;
        }
    }

    /// Takes a free or never-used chunk outside `page` (for moving an item
    /// out of it).
    pub fn take_outside(&mut self, pages: &Pages, page: u32) -> Option<Handle> {
        let h = match self.free.iter().rposition(|&h| pages.page_of(h) != page) {
            Some(i) => self.free.swap_remove(i),
            None if matches!(self.carve, Some((p, _)) if p != page) => self.carve_one(pages)?,
            None => return None,
        };
        // SAFETY: the class lock is held.
        unsafe { item::set_state(pages, h, ALLOCATING) };
        Some(h)
    }

    /// Moves a linked item to the LRU head.
    pub fn bump(&mut self, pages: &Pages, h: Handle) {
        if self.head != h {
            self.unlink(pages, h);
            self.link(pages, h);
            self.stats.moves_within_lru += 1;
        }
    }

    /// The item just more recent than `h`.
    pub fn prev_of(&self, pages: &Pages, h: Handle) -> Handle {
        // SAFETY: the class lock is held.
        unsafe { item::links(pages, h).0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_memcached_s_rule() {
        let s = ClassSizes::new(48, 1.25, 1 << 20);
        assert_eq!(s.size(1), 80, "header + -n, 8-aligned");
        assert_eq!(s.size(2), 104);
        assert_eq!(s.size(3), 136);
        assert_eq!(s.size(s.largest()), 512 * 1024);
        for id in 2..=s.largest() {
            assert!(s.size(id) > s.size(id - 1));
            assert_eq!(s.size(id) % 8, 0);
        }
        assert!(s.largest() as usize <= MAX_CLASSES);
        assert_eq!(s.class_for(1), Some(1));
        assert_eq!(s.class_for(80), Some(1));
        assert_eq!(s.class_for(81), Some(2));
        assert_eq!(s.class_for(512 * 1024), Some(s.largest()));
        assert_eq!(s.class_for(512 * 1024 + 1), None);
        // A small factor makes many classes, capped at 63.
        let fine = ClassSizes::new(48, 1.01, 1 << 20);
        assert_eq!(fine.largest() as usize, MAX_CLASSES);
    }

    #[test]
    fn carving_free_list_and_lru() {
        let pages = Pages::new(1 << 20);
        assert!(pages.allocate(0));
        let lock = ClassLock::new(1, 1 << 18, 1 << 20);
        let mut c = lock.lock();
        assert_eq!(c.per_page, 4);
        assert!(c.take(&pages).is_none(), "no page yet");
        c.add_page(&pages, 0);
        let hs: Vec<_> = (0..4).map(|_| c.take(&pages).unwrap()).collect();
        assert!(c.take(&pages).is_none(), "page used up");
        for &h in &hs {
            c.link(&pages, h);
        }
        assert_eq!((c.head, c.tail), (hs[3], hs[0]));
        c.bump(&pages, hs[0]);
        assert_eq!((c.head, c.tail), (hs[0], hs[1]));
        c.unlink(&pages, hs[2]);
        assert_eq!(c.prev_of(&pages, hs[1]), hs[3]);
        c.give(&pages, hs[2]);
        assert_eq!(c.take(&pages), Some(hs[2]), "freed chunks are reused");
    }
}

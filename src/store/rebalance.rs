//! Page moves between slab classes: a class that cannot allocate takes a
//! page from the class that allocated least recently, or from one idle for
//! a while; `slabs reassign` and automove move pages on request or once a
//! tick; and shrinking the memory limit empties pages and frees them.
//!
//! Emptying a page means evicting from its class's LRU tail until the
//! class's other chunks can hold the page's live items, then moving those
//! items (copying the bytes, repointing the index and the LRU). Items
//! chained over several chunks of the largest class are evicted instead.
//! A move that meets a stripe busy for too long gives up, with every chunk
//! it emptied back on the free list.

use super::classes::Class;
use super::index::Removal;
use super::item::{self, ALLOCATING, CONT, LARGE, LINKED};
use super::lru::{Freed, TAIL_SEARCH_DEPTH};
use super::pages::Handle;
use super::{lock, Store};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};

/// What `slabs reassign` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reassign {
    /// Moved.
    Ok,
    /// A page could not be emptied now (items in use).
    Busy,
    /// No such class.
    BadClass,
    /// The source class has no page to give.
    NoSpare,
    /// Source and destination are the same.
    Same,
}

/// A class that has not allocated for this many item writes (anywhere in
/// the store) may give pages to a class that is evicting.
const IDLE_ALLOCATIONS: u64 = 10_000;

/// How many times a page move retries a busy stripe before giving up.
const PATIENCE: usize = 1000;

/// `try_lock`, retried [`PATIENCE`] times with a yield in between.
fn try_lock_patiently<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    for _ in 0..PATIENCE {
        match m.try_lock() {
            Ok(guard) => return Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => std::thread::yield_now(),
        }
    }
    None
}

impl Store {
    /// Moves one page to `to` (which has none, or cannot free a chunk)
    /// from the class that has allocated least recently. [`Freed::Busy`]:
    /// a class that might give one was busy (its lock held, or its pages'
    /// items or chunks in use; without `evict`, also: it had no room for
    /// the page's items); [`Freed::No`]: no class can give one.
    pub(super) fn move_page_to(&self, to: u8, evict: bool) -> Freed {
        // Candidates: classes with pages, least recently allocating first.
        let mut candidates: Vec<(u64, u8)> = Vec::new();
        let mut busy = false;
        for id in self.sizes.ids().filter(|&id| id != to) {
            let Some(c) = self.classes[id as usize].try_lock() else {
                busy = true;
                continue;
            };
            if !c.pages.is_empty() {
                candidates.push((c.last_alloc, id));
            }
        }
        candidates.sort_unstable();
        for (_, from) in candidates {
            match self.move_page(from, to, evict) {
                Ok(true) => return Freed::Yes,
                Ok(false) => {}
                Err(()) => busy = true,
            }
        }
        if busy {
            Freed::Busy
        } else {
            Freed::No
        }
    }

    /// Moves a page to `to` from the class that has allocated least recently,
    /// if it has been idle for [`IDLE_ALLOCATIONS`] item writes: after the
    /// size mix shifts, memory follows the new sizes instead of staying with
    /// classes nobody writes to any more.
    pub(super) fn move_idle_page_to(&self, to: u8) -> bool {
        let now = self.next_cas.load(Ordering::Relaxed);
        let mut idlest: Option<(u64, u8)> = None;
        for id in self.sizes.ids().filter(|&id| id != to) {
            let Some(c) = self.classes[id as usize].try_lock() else {
                continue;
            };
            if !c.pages.is_empty()
                && now.saturating_sub(c.last_alloc) > IDLE_ALLOCATIONS
                && idlest.is_none_or(|(t, _)| c.last_alloc < t)
            {
                idlest = Some((c.last_alloc, id));
            }
        }
        let Some((_, from)) = idlest else {
            return false;
        };
        matches!(self.move_page(from, to, true), Ok(true))
    }

    /// Moves one page from class `from` to class `to` ([`Store::take_page_from`]
    /// says how); `Ok(false)`: `from` has no page.
    fn move_page(&self, from: u8, to: u8, evict: bool) -> Result<bool, ()> {
        let Some(page) = self.take_page_from(from, evict)? else {
            return Ok(false);
        };
        self.class(to).add_page(&self.pages, page);
        self.slabs_moved.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Empties one page of class `from` and takes it away from the class.
    /// Its live items move to free chunks elsewhere in the class, after
    /// evicting from the LRU tail (if `evict`) until there is room for them,
    /// so a page move costs the least recently used items, as evicting
    /// would. Items chained over several chunks (larger than half a page)
    /// are evicted instead of moved, as memcached's rebalancer drops them.
    /// `Ok(None)`: the class has no page; `Err(())`: items in use, or no
    /// room without evicting.
    ///
    /// The page is the first with no chunk being written. A move that gives
    /// up part-way leaves every chunk it emptied on the free list, and puts
    /// the page last, so the next move starts with another.
    #[allow(clippy::result_unit_err)]
    fn take_page_from(&self, from: u8, evict: bool) -> Result<Option<u32>, ()> {
        let mut c = self.class(from);
        if c.pages.is_empty() {
            return Ok(None);
        }
        let Some((page, chunks)) = c.pages.iter().find_map(|&page| {
            let chunks = self.chunks_of(&c, page);
            // SAFETY: the class lock is held.
            let writing = |&h: &Handle| unsafe { item::links(&self.pages, h).2 } == ALLOCATING;
            (!chunks.iter().any(writing)).then_some((page, chunks))
        }) else {
            return Err(());
        };
        if self.empty_page(&mut c, page, &chunks, evict).is_err() {
            c.pages.retain(|&p| p != page);
            c.pages.push(page);
            return Err(());
        }
        c.remove_page(&self.pages, page);
        Ok(Some(page))
    }

    /// The carved chunks of one of the class's pages.
    fn chunks_of(&self, c: &Class, page: u32) -> Vec<Handle> {
        let end = match c.carve {
            Some((p, off)) if p == page => off,
            _ => c.per_page * c.size,
        };
        (0..end)
            .step_by(c.size)
            .map(|off| self.pages.handle(page, off))
            .collect()
    }

    /// Frees every chunk of `page` (`chunks`, none of them ALLOCATING), as
    /// [`Store::take_page_from`] describes. The class lock is held
    /// throughout, so only this thread changes the chunks' states.
    fn empty_page(
        &self,
        c: &mut Class,
        page: u32,
        chunks: &[Handle],
        evict: bool,
    ) -> Result<(), ()> {
        // Make room elsewhere in the class for the page's live items that
        // fit one chunk; items chained over several chunks are evicted.
        loop {
            let mut used = 0;
            for &h in chunks {
                // SAFETY: the class lock is held.
                let (_, _, state) = unsafe { item::links(&self.pages, h) };
                debug_assert_ne!(state, ALLOCATING);
                // SAFETY: the class lock is held and `h` is a LINKED head.
                if state == LINKED && !unsafe { item::is_large(&self.pages, h) } {
                    used += 1;
                }
            }
            if used <= c.room_outside(&self.pages, page) {
                break;
            }
            if self.free_from_tail(c, evict, TAIL_SEARCH_DEPTH) != Freed::Yes {
                return Err(());
            }
        }
        for &h in chunks {
            // SAFETY: the class lock is held.
            let (_, _, state) = unsafe { item::links(&self.pages, h) };
            let head = match state {
                LINKED => h,
                // SAFETY: the class lock is held and the chunk is CONT.
                CONT => unsafe { item::cont_head(&self.pages, h) },
                _ => continue, // FREE (or freed with an earlier chain)
            };
            // SAFETY: the head of a CONT or LINKED chunk is LINKED; the class
            // lock is held.
            let key = unsafe { self.key_of(head) };
            let hash = self.hash(key);
            // Stripe locks are held briefly, so keep trying for a while; the
            // holder may also be waiting for this class lock, so never block.
            let Some(mut stripe) = try_lock_patiently(self.stripe(hash)) else {
                return Err(());
            };
            // SAFETY: the stripe lock is held.
            let hdr = unsafe { item::read(&self.pages, head) };
            let dead = self.dead(&hdr).is_some();
            if dead || hdr.bits & LARGE != 0 {
                if !evict && !dead {
                    return Err(());
                }
                self.remove(&mut stripe, c, hash, head, &hdr, Removal::PageMove);
                continue;
            }
            let Some(to) = c.take_outside(&self.pages, page) else {
                return Err(());
            };
            // SAFETY: the stripe lock guards the item's bytes, `to` is owned
            // (ALLOCATING); the class-lock prefix is rewritten by `replace`.
            unsafe { self.pages.copy(head, to, self.item_bytes(&hdr)) };
            match stripe
                .table
                .find_mut(Self::table_hash(hash), |&x| x == head)
            {
                Some(slot) => *slot = to,
                None => unreachable!("a linked item is in its stripe"),
            }
            c.replace(&self.pages, head, to);
            // Free at once: if the move gives up later, the chunk is reused.
            c.give(&self.pages, head);
        }
        Ok(())
    }

    /// `slabs reassign <from> <to>`.
    pub fn reassign(&self, from: u8, to: u8) -> Reassign {
        let valid = |id: u8| (1..=self.sizes.largest()).contains(&id);
        if !valid(from) || !valid(to) {
            return Reassign::BadClass;
        }
        if from == to {
            return Reassign::Same;
        }
        // As memcached: a class keeps its last page; only a second one is
        // spare.
        if self.class(from).pages.len() < 2 {
            return Reassign::NoSpare;
        }
        match self.move_page(from, to, true) {
            Ok(true) => Reassign::Ok,
            Ok(false) => Reassign::NoSpare,
            Err(()) => Reassign::Busy,
        }
    }

    /// `slabs automove <0|1|2>`.
    pub fn set_automove(&self, mode: u8) {
        self.automove.store(mode, Ordering::Relaxed);
    }

    /// Current automove mode.
    pub fn automove_mode(&self) -> u8 {
        self.automove.load(Ordering::Relaxed)
    }

    /// Automove (once a tick): a class that evicted since the last tick
    /// takes a page from the class whose LRU tail is oldest, if that tail is
    /// clearly older (mode 1: twice as old; mode 2: any older).
    pub(super) fn automove(&self) {
        let mode = self.automove.load(Ordering::Relaxed);
        if mode == 0 || !self.evictions.load(Ordering::Relaxed) {
            return;
        }
        let now = self.clock.now();
        let mut evicting: Option<(u32, u8)> = None;
        let mut oldest: Option<(u32, u8)> = None;
        for id in self.sizes.ids() {
            let mut c = self.class(id);
            let evicted = c.stats.evicted - c.evicted_seen;
            c.evicted_seen = c.stats.evicted;
            let Some(age) = c.tail_age(&self.pages, now) else {
                continue;
            };
            if evicted > 0 && evicting.is_none_or(|(a, _)| age < a) {
                evicting = Some((age, id));
            }
            if c.pages.len() > 1 && oldest.is_none_or(|(a, _)| age > a) {
                oldest = Some((age, id));
            }
        }
        let (Some((young_age, to)), Some((old_age, from))) = (evicting, oldest) else {
            return;
        };
        let clearly_older = if mode == 1 {
            old_age > young_age.saturating_mul(2).max(1)
        } else {
            old_age > young_age
        };
        if from != to && clearly_older {
            self.reassign(from, to);
        }
    }

    /// Changes the memory limit. Growing allows more pages; shrinking
    /// evicts down to the new limit at once and returns the pages' memory.
    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
        let page_limit = (bytes / self.pages.page_size()).clamp(1, self.pages.max_pages());
        lock(&self.pool).limit = page_limit;
        let mut stuck = 0;
        loop {
            let mut pool = lock(&self.pool);
            if pool.allocated <= pool.limit {
                return;
            }
            if let Some(page) = pool.free.pop() {
                // SAFETY: pool pages are owned by no class: no chunk of
                // theirs is referenced.
                unsafe { self.pages.release(page) };
                pool.released.push(page);
                pool.allocated -= 1;
                continue;
            }
            drop(pool);
            let mut moved = false;
            for id in self.sizes.ids() {
                if let Ok(Some(page)) = self.take_page_from(id, true) {
                    lock(&self.pool).free.push(page);
                    moved = true;
                    break;
                }
            }
            if !moved {
                stuck += 1;
                if stuck > 100 {
                    return; // items in use everywhere; later allocations stay within the limit
                }
                std::thread::yield_now();
            }
        }
    }

    /// Current memory limit in bytes.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }
}

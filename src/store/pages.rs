//! Page memory: `-m` is spent in fixed-size pages, allocated lazily, each one
//! heap block (never one allocation per item). Items are addressed by a
//! 32-bit [`Handle`]: the page number and the byte offset / 8 within it.
//!
//! This is the only place that turns handles into raw pointers. Who may
//! touch which bytes of a chunk is decided by the locking protocol in
//! `store/mod.rs`; the `unsafe` functions here state what their callers
//! must guarantee.
//!
//! Debug builds check one rule of that protocol on every access: the first
//! [`CLASS_LOCK_BYTES`] of a chunk (its LRU links and state) are touched
//! only by a thread holding the lock of the slab class that owns the page.
//! Each page records its owner ([`Pages::set_owner`]) and each thread the
//! class lock it holds ([`note_class_lock`]); release builds keep neither.

use std::alloc::{alloc_zeroed, dealloc, Layout};
#[cfg(debug_assertions)]
use std::sync::atomic::AtomicU8;
use std::sync::atomic::{AtomicPtr, Ordering};

/// A chunk's address: `page << offset_bits | offset / 8`.
pub type Handle = u32;

/// "No chunk".
pub const NIL: Handle = u32::MAX;

/// Chunks start on 8-byte boundaries.
pub const CHUNK_ALIGN: usize = 8;

/// Bytes at the start of every chunk that belong to the lock of the slab
/// class owning the chunk's page (the LRU links and state, `item.rs`).
pub const CLASS_LOCK_BYTES: usize = 9;

#[cfg(debug_assertions)]
thread_local! {
    /// The slab class whose lock this thread holds (0: none).
    static HELD_CLASS: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Notes that this thread now holds the lock of class `id` (0: it released
/// it), for the debug-build check of class-lock bytes. No-op in release.
pub fn note_class_lock(id: u8) {
    #[cfg(debug_assertions)]
    HELD_CLASS.with(|held| held.set(id));
    #[cfg(not(debug_assertions))]
    let _ = id;
}

/// The class whose lock this thread holds, as noted (debug builds; always
/// 0 in release builds).
pub fn held_class() -> u8 {
    #[cfg(debug_assertions)]
    return HELD_CLASS.with(|held| held.get());
    #[cfg(not(debug_assertions))]
    0
}

/// The page table: a fixed array of lazily allocated pages.
pub struct Pages {
    page_size: usize,
    offset_bits: u32,
    slots: Box<[AtomicPtr<u8>]>,
    /// The slab class owning each page (0: none), for the debug check.
    #[cfg(debug_assertions)]
    owners: Box<[AtomicU8]>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages")
            .field("page_size", &self.page_size)
            .field("max_pages", &self.slots.len())
            .finish()
    }
}

impl Pages {
    /// A page table for pages of `page_size` bytes (a power of two).
    pub fn new(page_size: usize) -> Pages {
        assert!(page_size.is_power_of_two() && page_size >= 1024);
        let offset_bits = (page_size / CHUNK_ALIGN).trailing_zeros();
        // One handle value (all ones) is NIL, so the last page slot is unused.
        let max_pages = (1usize << (32 - offset_bits)) - 1;
        Pages {
            page_size,
            offset_bits,
            slots: (0..max_pages)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            #[cfg(debug_assertions)]
            owners: (0..max_pages).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// Records that slab class `id` owns `page` (0: no class owns it). The
    /// caller holds that class's lock. Only debug builds keep the record.
    pub fn set_owner(&self, page: u32, id: u8) {
        #[cfg(debug_assertions)]
        self.owners[page as usize].store(id, Ordering::Relaxed);
        #[cfg(not(debug_assertions))]
        let _ = (page, id);
    }

    /// Debug builds: panics if bytes from `from` of chunk `h` include
    /// class-lock bytes and this thread does not hold the lock of the class
    /// owning the page (a page no class owns may only be touched holding
    /// no class lock: it is in no one's hands but its holder's).
    #[inline]
    fn check_lock(&self, h: Handle, from: usize) {
        #[cfg(debug_assertions)]
        if from < CLASS_LOCK_BYTES {
            let owner = self.owners[self.page_of(h) as usize].load(Ordering::Relaxed);
            let held = held_class();
            assert_eq!(
                owner, held,
                "chunk {h:#x}: link/state bytes of class {owner} touched holding class lock {held}"
            );
        }
        #[cfg(not(debug_assertions))]
        let _ = (h, from);
    }

    /// Bytes per page.
    pub fn page_size(&self) -> usize {
        self.page_size
    }

    /// How many pages handles can address.
    pub fn max_pages(&self) -> usize {
        self.slots.len()
    }

    fn layout(&self) -> Layout {
        Layout::from_size_align(self.page_size, 4096).expect("page layout")
    }

    /// Allocates page `id` (zeroed; the OS commits it as it is touched).
    /// Returns false when the allocator refuses.
    pub fn allocate(&self, id: u32) -> bool {
        let slot = &self.slots[id as usize];
        debug_assert!(slot.load(Ordering::Relaxed).is_null());
        // SAFETY: the layout has a non-zero size.
        let ptr = unsafe { alloc_zeroed(self.layout()) };
        if ptr.is_null() {
            return false;
        }
        slot.store(ptr, Ordering::Release);
        true
    }

    /// Frees page `id`.
    ///
    /// # Safety
    /// No chunk of the page may be referenced any more (no index entry, no
    /// LRU link, no free-list entry) and no thread may be using one.
    pub unsafe fn release(&self, id: u32) {
        let ptr = self.slots[id as usize].swap(std::ptr::null_mut(), Ordering::AcqRel);
        if !ptr.is_null() {
            // SAFETY: `ptr` came from `alloc_zeroed` with this layout and,
            // per the caller's promise, nothing uses it any more.
            unsafe { dealloc(ptr, self.layout()) };
        }
    }

    /// The handle of the chunk at byte `offset` of page `page`.
    pub fn handle(&self, page: u32, offset: usize) -> Handle {
        debug_assert!(offset.is_multiple_of(CHUNK_ALIGN) && offset < self.page_size);
        (page << self.offset_bits) | (offset / CHUNK_ALIGN) as u32
    }

    /// The page a handle points into.
    pub fn page_of(&self, h: Handle) -> u32 {
        h >> self.offset_bits
    }

    /// The byte offset of a handle within its page.
    pub fn offset_of(&self, h: Handle) -> usize {
        (h & ((1 << self.offset_bits) - 1)) as usize * CHUNK_ALIGN
    }

    #[inline]
    fn ptr(&self, h: Handle, len: usize) -> *mut u8 {
        let base = self.slots[self.page_of(h) as usize].load(Ordering::Acquire);
        let offset = self.offset_of(h);
        assert!(
            !base.is_null() && offset + len <= self.page_size,
            "bad chunk {h:#x}+{len}"
        );
        // SAFETY: `offset + len` is within the page allocation (checked above).
        unsafe { base.add(offset) }
    }

    /// `len` bytes of a chunk from byte `from`.
    ///
    /// # Safety
    /// The caller holds the lock that guards these bytes (see `store/mod.rs`),
    /// so no other thread writes them while the borrow lives, and the page
    /// is not released while it lives.
    #[inline]
    pub unsafe fn bytes_at(&self, h: Handle, from: usize, len: usize) -> &[u8] {
        self.check_lock(h, from);
        let ptr = self.ptr(h, from + len);
        // SAFETY: in bounds (checked by `ptr`); no concurrent writer of this
        // range per the caller's promise.
        unsafe { std::slice::from_raw_parts(ptr.add(from), len) }
    }

    /// `len` bytes of a chunk from byte `from`, writable.
    ///
    /// # Safety
    /// The caller holds the lock that guards these bytes, so no other thread
    /// reads or writes them while the borrow lives, and the page is not
    /// released while it lives.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub unsafe fn bytes_mut_at(&self, h: Handle, from: usize, len: usize) -> &mut [u8] {
        self.check_lock(h, from);
        let ptr = self.ptr(h, from + len);
        // SAFETY: in bounds (checked by `ptr`); exclusive access to this
        // range per the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(ptr.add(from), len) }
    }

    /// Copies `len` bytes from one chunk to another.
    ///
    /// # Safety
    /// The caller holds the locks guarding both ranges (see
    /// [`Pages::bytes_at`] and [`Pages::bytes_mut_at`]), and the chunks are
    /// different.
    pub unsafe fn copy(&self, from: Handle, to: Handle, len: usize) {
        assert_ne!(from, to);
        self.check_lock(from, 0);
        self.check_lock(to, 0);
        let (src, dst) = (self.ptr(from, len), self.ptr(to, len));
        // SAFETY: both ranges are in bounds (checked by `ptr`), distinct
        // chunks never overlap, and the caller holds their locks.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        for id in 0..self.slots.len() {
            // SAFETY: dropping the page table means no chunk is in use.
            unsafe { self.release(id as u32) };
        }
    }
}

// SAFETY: the raw pages are plain bytes; every access goes through the
// unsafe functions above, whose callers serialise access per chunk with
// the store's locks.
unsafe impl Sync for Pages {}
// SAFETY: as above; the allocation is not tied to a thread.
unsafe impl Send for Pages {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_pages_hold_bytes() {
        let pages = Pages::new(1 << 20);
        assert_eq!(pages.max_pages(), (1 << 15) - 1);
        assert!(pages.allocate(3));
        let h = pages.handle(3, 4096);
        assert_eq!(pages.page_of(h), 3);
        assert_eq!(pages.offset_of(h), 4096);
        // SAFETY: single-threaded test; page 3 is allocated and not released.
        unsafe {
            assert!(
                pages.bytes_at(h, 0, 16).iter().all(|&b| b == 0),
                "pages start zeroed"
            );
            pages.bytes_mut_at(h, 0, 5).copy_from_slice(b"hello");
            assert_eq!(pages.bytes_at(h, 0, 5), b"hello");
            let last = pages.handle(3, (1 << 20) - 8);
            pages.bytes_mut_at(last, 0, 8).copy_from_slice(b"12345678");
            assert_eq!(pages.bytes_at(last, 0, 8), b"12345678");
            pages.release(3);
        }
        assert!(pages.allocate(3), "a released page id can be reused");
        let (a, b) = (pages.handle(3, 0), pages.handle(3, 64));
        // SAFETY: single-threaded test; both chunks are in an allocated page.
        unsafe {
            pages.bytes_mut_at(a, 0, 4).copy_from_slice(b"abcd");
            pages.copy(a, b, 4);
            assert_eq!(pages.bytes_at(b, 0, 4), b"abcd");
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    fn class_lock_bytes_need_the_owner_s_lock() {
        let pages = Pages::new(1 << 20);
        assert!(pages.allocate(0));
        pages.set_owner(0, 7);
        let h = pages.handle(0, 64);
        note_class_lock(7);
        // SAFETY: single-threaded test; the page is allocated.
        unsafe { pages.bytes_mut_at(h, 4, 4).fill(1) };
        note_class_lock(0);
        // Bytes from 9 on are not class-lock bytes.
        // SAFETY: as above.
        unsafe { pages.bytes_mut_at(h, 9, 4).fill(1) };
        let without = std::panic::catch_unwind(|| {
            // SAFETY: as above; the check panics before the access.
            unsafe { pages.bytes_at(h, 8, 1)[0] }
        });
        assert!(without.is_err(), "a state byte read without the class lock");
        note_class_lock(3);
        let other = std::panic::catch_unwind(|| {
            // SAFETY: as above.
            unsafe { pages.copy(h, pages.handle(0, 128), 16) }
        });
        note_class_lock(0);
        assert!(other.is_err(), "another class's lock does not do");
    }

    #[test]
    #[should_panic(expected = "bad chunk")]
    fn out_of_page_access_panics() {
        let pages = Pages::new(1 << 20);
        assert!(pages.allocate(0));
        let h = pages.handle(0, (1 << 20) - 8);
        // SAFETY: single-threaded; the access is rejected before any read.
        let _ = unsafe { pages.bytes_at(h, 0, 16) };
    }
}

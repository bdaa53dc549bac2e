//! Page memory: `-m` is spent in fixed-size pages, allocated lazily, each one
//! heap block (never one allocation per item). Items are addressed by a
//! 32-bit [`Handle`]: the page number and the byte offset / 8 within it.
//!
//! This is the only place that turns handles into raw pointers. Who may
//! touch which bytes of a chunk is decided by the locking protocol in
//! `store/mod.rs`; the `unsafe` functions here state what their callers
//! must guarantee.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::sync::atomic::{AtomicPtr, Ordering};

/// A chunk's address: `page << offset_bits | offset / 8`.
pub type Handle = u32;

/// "No chunk".
pub const NIL: Handle = u32::MAX;

/// Chunks start on 8-byte boundaries.
pub const CHUNK_ALIGN: usize = 8;

/// The page table: a fixed array of lazily allocated pages.
pub struct Pages {
    page_size: usize,
    offset_bits: u32,
    slots: Box<[AtomicPtr<u8>]>,
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
        }
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
    pub unsafe fn bytes_at(&self, h: Handle, from: usize, len: usize) -> &[u8] {
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
    pub unsafe fn bytes_mut_at(&self, h: Handle, from: usize, len: usize) -> &mut [u8] {
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
    #[should_panic(expected = "bad chunk")]
    fn out_of_page_access_panics() {
        let pages = Pages::new(1 << 20);
        assert!(pages.allocate(0));
        let h = pages.handle(0, (1 << 20) - 8);
        // SAFETY: single-threaded; the access is rejected before any read.
        let _ = unsafe { pages.bytes_at(h, 0, 16) };
    }
}

//! What a read lends out: a live item's key, value and metadata, borrowed
//! while its stripe lock is held. A value larger than half a page is read
//! piece by piece from its chained chunks.

use super::item::{self, Header, CONT_HEADER, LARGE};
use super::pages::{Handle, Pages, NIL};
use super::Store;

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
    /// The slab class holding it (per-class counters).
    pub class: u8,
}

impl Store {
    #[inline]
    pub(super) fn value(&self, h: Handle, hdr: &Header) -> Value<'_> {
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
    #[inline]
    pub(super) fn first_len(&self, hdr: &Header) -> usize {
        let vlen = hdr.vlen as usize;
        if hdr.bits & LARGE != 0 {
            (self.sizes.chunk_max() - hdr.value_offset()).min(vlen)
        } else {
            vlen
        }
    }

    /// Value bytes one continuation chunk of a LARGE item holds.
    #[inline]
    pub(super) fn cont_capacity(&self) -> usize {
        self.sizes.chunk_max() - CONT_HEADER
    }
}

//! The item layout inside a chunk, and typed access to its fields.
//!
//! ```text
//! byte  0  prev   u32  LRU link            ┐ guarded by the slab-class
//!       4  next   u32  LRU link            │ lock of the chunk's page,
//!       8  state  u8   FREE/ALLOCATING/    │ in every chunk (even one
//!                      LINKED/CONT         ┘ being written)
//!       9  class  u8   slab class          ┐ written once, while the
//!      10  klen   u8   key length          │ chunk is exclusively held
//!      11  bits   u8   HAS_FLAGS LARGE     │ (FETCHED, STALE and
//!      20  vlen   u32  value length        ┘  TOKEN_SENT change later,
//!                                             holding both locks)
//!      12  exptime u32 relative expiry     ┐ guarded by the stripe lock
//!      24  cas    u64                      ┘ of the item's key
//!      16  time   u32  last store / bump   written holding both locks
//!      32  [flags u32]      only when non-zero (HAS_FLAGS)
//!          [chain u32]      first continuation chunk (LARGE)
//!          key, then the value (or its first part)
//! ```
//!
//! A continuation chunk of a large item has the same first 9 bytes (its
//! state is CONT while the item is linked; `prev`/`next` are unused), then
//! `class u8` at byte 9, `head u32` at byte 12, `chain u32` (the following
//! continuation chunk) at byte 16, and value bytes from byte 20. Like the
//! head's `chain`, these are written once by the allocating thread before
//! the item is linked, and never change while it is linked.
//!
//! The allocating thread owns a chunk's bytes from 9 on, but never its
//! first 9: a page mover may read those (under the class lock) at any time.
//!
//! Every accessor is `unsafe`: the caller promises it holds the lock named
//! beside the field (or owns the chunk: ALLOCATING, or being freed with
//! both locks held); the locking protocol itself is described in `store/mod.rs`.
//! Debug builds check every access to the first 9 bytes (see `pages.rs`).

use super::pages::{Handle, Pages};

/// Bytes of the fixed header.
pub const HEADER: usize = 32;

/// Bytes before value data in a continuation chunk.
pub const CONT_HEADER: usize = 20;

/// `state`: on a free list or never used.
pub const FREE: u8 = 0;
/// `state`: taken from the free list, being written, not yet linked.
pub const ALLOCATING: u8 = 1;
/// `state`: a live item's head chunk, in the index and its class LRU.
pub const LINKED: u8 = 2;
/// `state`: a continuation chunk of a large item.
pub const CONT: u8 = 3;

/// `bits`: a get has read the item (set holding both locks).
pub const FETCHED: u8 = 1;
/// `bits`: client flags are stored (they are non-zero).
pub const HAS_FLAGS: u8 = 2;
/// `bits`: the value continues in chained chunks.
pub const LARGE: u8 = 4;
/// `bits`: the item is stale: invalidated, or stored with an older CAS
/// (memcached's ITEM_STALE). Set holding both locks.
pub const STALE: u8 = 8;
/// `bits`: a reader has been sent the win token for this item, so later
/// readers are told it is taken (memcached's ITEM_TOKEN_SENT). Set holding
/// both locks.
pub const TOKEN_SENT: u8 = 16;
/// `bits`: the item was stored by a meta `ms` whose key was given in
/// base64 (memcached's ITEM_KEY_BINARY), so meta replies show the key
/// encoded. Written once, with the header, like HAS_FLAGS.
pub const KEY_BINARY: u8 = 32;

const PREV: usize = 0;
const NEXT: usize = 4;
const STATE: usize = 8;
const CLASS: usize = 9;
const KLEN: usize = 10;
const BITS: usize = 11;
const EXPTIME: usize = 12;
const TIME: usize = 16;
const VLEN: usize = 20;
const CAS: usize = 24;
const CONT_HEAD: usize = 12;
const CONT_CHAIN: usize = 16;

// The class-lock fields are exactly the bytes `Pages` checks in debug builds.
const _: () = assert!(STATE + 1 == super::pages::CLASS_LOCK_BYTES && CLASS == STATE + 1);

/// The fields of a head chunk, copied out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// Slab class.
    pub class: u8,
    /// Key length.
    pub klen: u8,
    /// FETCHED / HAS_FLAGS / LARGE / STALE / TOKEN_SENT / KEY_BINARY.
    pub bits: u8,
    /// Relative expiry (0 = never).
    pub exptime: u32,
    /// Relative time of the last store or LRU bump.
    pub time: u32,
    /// Value length.
    pub vlen: u32,
    /// CAS.
    pub cas: u64,
    /// Client flags.
    pub flags: u32,
    /// First continuation chunk (LARGE only).
    pub chain: Handle,
}

impl Header {
    /// Bytes from the chunk start to the key.
    pub fn key_offset(&self) -> usize {
        let flags = u32::from(self.bits & HAS_FLAGS != 0); // only zero-ness counts
        head_bytes(0, flags, self.bits & LARGE != 0)
    }

    /// Bytes from the chunk start to the value.
    pub fn value_offset(&self) -> usize {
        self.key_offset() + self.klen as usize
    }
}

/// Bytes an item needs before its value data: header, optional fields, key.
pub fn head_bytes(klen: usize, flags: u32, large: bool) -> usize {
    HEADER + if flags != 0 { 4 } else { 0 } + if large { 4 } else { 0 } + klen
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// Reads a head chunk's header.
///
/// # Safety
/// The caller holds the item's stripe lock (or owns the chunk).
pub unsafe fn read(pages: &Pages, h: Handle) -> Header {
    // SAFETY: bytes 9..32 of a head chunk are written only under the lock
    // the caller holds (or once, before the item was linked).
    let b = unsafe { pages.bytes_at(h, CLASS, HEADER - CLASS) };
    let at = |field: usize| field - CLASS;
    let bits = b[at(BITS)];
    let mut extra = HEADER;
    let flags = if bits & HAS_FLAGS != 0 {
        extra += 4;
        // SAFETY: as above; the optional fields follow the header.
        u32_at(unsafe { pages.bytes_at(h, HEADER, 4) }, 0)
    } else {
        0
    };
    let chain = if bits & LARGE != 0 {
        // SAFETY: as above.
        u32_at(unsafe { pages.bytes_at(h, extra, 4) }, 0)
    } else {
        super::pages::NIL
    };
    Header {
        class: b[at(CLASS)],
        klen: b[at(KLEN)],
        bits,
        exptime: u32_at(b, at(EXPTIME)),
        time: u32_at(b, at(TIME)),
        vlen: u32_at(b, at(VLEN)),
        cas: u64::from_le_bytes(b[at(CAS)..at(CAS) + 8].try_into().expect("8 bytes")),
        flags,
        chain,
    }
}

/// Writes a new head chunk's header (all fields but the class-lock ones).
///
/// # Safety
/// The caller owns the chunk (ALLOCATING) and the chunk is large enough.
pub unsafe fn init(pages: &Pages, h: Handle, hdr: &Header) {
    // SAFETY: exclusive ownership per the caller; bytes 9.. are not the
    // class-lock fields (a page mover may read the state byte meanwhile).
    let b = unsafe { pages.bytes_mut_at(h, CLASS, hdr.key_offset() - CLASS) };
    let at = |field: usize| field - CLASS;
    b[at(CLASS)] = hdr.class;
    b[at(KLEN)] = hdr.klen;
    b[at(BITS)] = hdr.bits;
    b[at(EXPTIME)..at(EXPTIME) + 4].copy_from_slice(&hdr.exptime.to_le_bytes());
    b[at(TIME)..at(TIME) + 4].copy_from_slice(&hdr.time.to_le_bytes());
    b[at(VLEN)..at(VLEN) + 4].copy_from_slice(&hdr.vlen.to_le_bytes());
    b[at(CAS)..at(CAS) + 8].copy_from_slice(&hdr.cas.to_le_bytes());
    let mut extra = at(HEADER);
    if hdr.bits & HAS_FLAGS != 0 {
        b[extra..extra + 4].copy_from_slice(&hdr.flags.to_le_bytes());
        extra += 4;
    }
    if hdr.bits & LARGE != 0 {
        b[extra..extra + 4].copy_from_slice(&hdr.chain.to_le_bytes());
    }
}

/// Updates the stripe-guarded fields (expiry and CAS).
///
/// # Safety
/// The caller holds the item's stripe lock.
pub unsafe fn update(pages: &Pages, h: Handle, exptime: u32, cas: u64) {
    // SAFETY: these bytes are guarded by the stripe lock the caller holds.
    unsafe {
        pages
            .bytes_mut_at(h, EXPTIME, 4)
            .copy_from_slice(&exptime.to_le_bytes());
        pages
            .bytes_mut_at(h, CAS, 8)
            .copy_from_slice(&cas.to_le_bytes());
    }
}

/// The last store / bump time.
///
/// # Safety
/// The caller holds the item's stripe lock or its class lock (the field is
/// only written with both held).
pub unsafe fn time(pages: &Pages, h: Handle) -> u32 {
    // SAFETY: per the caller's promise.
    u32_at(unsafe { pages.bytes_at(h, TIME, 4) }, 0)
}

/// Sets the last store / bump time.
///
/// # Safety
/// The caller holds both the item's stripe lock and its class lock.
pub unsafe fn set_time(pages: &Pages, h: Handle, time: u32) {
    // SAFETY: per the caller's promise no one else reads or writes it.
    unsafe {
        pages
            .bytes_mut_at(h, TIME, 4)
            .copy_from_slice(&time.to_le_bytes())
    };
}

/// Where the key is: (offset, length). Reads only fields written once.
///
/// # Safety
/// The caller holds the item's stripe lock or its class lock, and the
/// chunk is a LINKED head.
pub unsafe fn key_range(pages: &Pages, h: Handle) -> (usize, usize) {
    // SAFETY: klen is written once, before the item is linked; bits only
    // holding both locks, one of which the caller holds.
    let b = unsafe { pages.bytes_at(h, KLEN, 2) };
    let hdr = Header {
        klen: b[0],
        bits: b[1],
        ..Header::default()
    };
    (hdr.key_offset(), hdr.klen as usize)
}

/// Whether a head chunk's item continues in chained chunks (LARGE).
///
/// # Safety
/// The caller holds the item's stripe lock or its class lock, and the
/// chunk is a LINKED head.
pub unsafe fn is_large(pages: &Pages, h: Handle) -> bool {
    // SAFETY: LARGE is written once, before the item is linked; the bits
    // byte changes later only holding both locks, one of which the caller holds.
    unsafe { pages.bytes_at(h, BITS, 1)[0] & LARGE != 0 }
}

/// A byte range of a chunk, for keys and values.
///
/// # Safety
/// The caller holds the lock guarding these bytes (stripe lock for a
/// linked item's key and value; a key is also stable under the class lock
/// while the item is LINKED, since it never changes while linked).
pub unsafe fn slice(pages: &Pages, h: Handle, from: usize, len: usize) -> &[u8] {
    // SAFETY: per the caller's promise.
    unsafe { pages.bytes_at(h, from, len) }
}

/// A writable byte range of a chunk.
///
/// # Safety
/// The caller owns the chunk, or holds the stripe lock and writes value bytes.
#[allow(clippy::mut_from_ref)]
pub unsafe fn slice_mut(pages: &Pages, h: Handle, from: usize, len: usize) -> &mut [u8] {
    // SAFETY: per the caller's promise.
    unsafe { pages.bytes_mut_at(h, from, len) }
}

/// The class-lock fields: (prev, next, state).
///
/// # Safety
/// The caller holds the lock of the class the chunk's page belongs to.
pub unsafe fn links(pages: &Pages, h: Handle) -> (Handle, Handle, u8) {
    // SAFETY: bytes 0..9 are guarded by the class lock the caller holds.
    let b = unsafe { pages.bytes_at(h, PREV, STATE + 1) };
    (u32_at(b, PREV), u32_at(b, NEXT), b[STATE])
}

/// Rewrites the `bits` byte (FETCHED, STALE, TOKEN_SENT may change; the
/// caller keeps HAS_FLAGS and LARGE as they are, since they describe the
/// layout).
///
/// # Safety
/// The caller holds both the item's stripe lock and its class lock, or
/// owns the chunk (ALLOCATING): the byte is read under either lock alone.
pub unsafe fn set_bits(pages: &Pages, h: Handle, bits: u8) {
    // SAFETY: the bits byte is only written holding both locks (or owning
    // the chunk), so no reader holding either lock sees it change.
    unsafe { pages.bytes_mut_at(h, BITS, 1)[0] = bits };
}

/// Sets the LRU links.
///
/// # Safety
/// As for [`links`].
pub unsafe fn set_links(pages: &Pages, h: Handle, prev: Handle, next: Handle) {
    // SAFETY: bytes 0..8 are guarded by the class lock the caller holds.
    let b = unsafe { pages.bytes_mut_at(h, PREV, NEXT + 4) };
    b[PREV..PREV + 4].copy_from_slice(&prev.to_le_bytes());
    b[NEXT..NEXT + 4].copy_from_slice(&next.to_le_bytes());
}

/// Sets the `state` byte.
///
/// # Safety
/// As for [`links`].
pub unsafe fn set_state(pages: &Pages, h: Handle, state: u8) {
    // SAFETY: byte 8 is guarded by the class lock the caller holds.
    unsafe { pages.bytes_mut_at(h, STATE, 1)[0] = state };
}

/// A continuation chunk's head handle.
///
/// # Safety
/// The caller holds the class lock and the chunk's state is CONT.
pub unsafe fn cont_head(pages: &Pages, h: Handle) -> Handle {
    // SAFETY: written once while owned, stable while CONT.
    u32_at(unsafe { pages.bytes_at(h, CONT_HEAD, 4) }, 0)
}

/// Initialises a continuation chunk: its class, its head and the next
/// continuation chunk (`NIL` for the last). Touches none of the class-lock
/// bytes, which a page mover may be reading meanwhile.
///
/// # Safety
/// The caller owns the chunk (ALLOCATING).
pub unsafe fn init_cont(pages: &Pages, h: Handle, class: u8, head: Handle, next: Handle) {
    // SAFETY: exclusive ownership of bytes 9.. per the caller.
    unsafe {
        pages.bytes_mut_at(h, CLASS, 1)[0] = class;
        pages
            .bytes_mut_at(h, CONT_HEAD, 4)
            .copy_from_slice(&head.to_le_bytes());
        pages
            .bytes_mut_at(h, CONT_CHAIN, 4)
            .copy_from_slice(&next.to_le_bytes());
    }
}

/// The continuation chunk after `h` (`NIL` after the last).
///
/// # Safety
/// The caller holds the item's stripe lock or its class lock, or owns the
/// chunk (the field is written once, before the item is linked).
pub unsafe fn cont_next(pages: &Pages, h: Handle) -> Handle {
    // SAFETY: per the caller's promise; not a class-lock byte.
    u32_at(unsafe { pages.bytes_at(h, CONT_CHAIN, 4) }, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_32_bytes() {
        // memcached spends 48 (item) + 8 (cas) + 1 (key NUL) + 2 ("\r\n")
        // bytes per item; this fails if ours grows.
        assert_eq!(HEADER, 32);
        assert_eq!(head_bytes(20, 0, false), 52);
        assert_eq!(head_bytes(20, 7, false), 56);
        assert_eq!(head_bytes(20, 7, true), 60);
    }

    #[test]
    fn header_round_trips() {
        let pages = Pages::new(1 << 20);
        assert!(pages.allocate(0));
        let h = pages.handle(0, 64);
        let hdr = Header {
            class: 7,
            klen: 3,
            bits: HAS_FLAGS | LARGE,
            exptime: 11,
            time: 12,
            vlen: 13,
            cas: u64::MAX - 1,
            flags: 0xdead_beef,
            chain: 0x1234,
        };
        // SAFETY: single-threaded test owning every chunk.
        unsafe {
            set_state(&pages, h, ALLOCATING);
            init(&pages, h, &hdr);
            set_links(&pages, h, 5, 6);
            assert_eq!(read(&pages, h), hdr);
            assert_eq!(links(&pages, h), (5, 6, ALLOCATING));
            update(&pages, h, 21, 23);
            set_time(&pages, h, 22);
            let after = read(&pages, h);
            assert_eq!((after.exptime, after.time, after.cas), (21, 22, 23));
            assert_eq!(time(&pages, h), 22);
            assert_eq!(key_range(&pages, h), (40, 3));
            set_bits(&pages, h, hdr.bits | FETCHED | STALE | TOKEN_SENT);
            assert_eq!(
                read(&pages, h).bits,
                HAS_FLAGS | LARGE | FETCHED | STALE | TOKEN_SENT
            );
            assert_eq!(key_range(&pages, h), (40, 3), "layout bits kept");
            set_state(&pages, h, LINKED);
            assert_eq!(links(&pages, h).2, LINKED);
            assert_eq!(hdr.key_offset(), 40);
            let c = pages.handle(0, 4096);
            set_links(&pages, c, 5, 6);
            set_state(&pages, c, ALLOCATING);
            init_cont(&pages, c, 9, h, 77);
            assert_eq!((cont_head(&pages, c), cont_next(&pages, c)), (h, 77));
            assert_eq!(
                links(&pages, c),
                (5, 6, ALLOCATING),
                "class-lock bytes untouched"
            );
        }
    }
}

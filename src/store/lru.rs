//! The LRU of each class: reads bump items (at most once a minute) and
//! mark them fetched, and an allocation with no free chunk frees one from
//! the tail.

use super::classes::Class;
use super::index::Removal;
use super::item::{self, Header, FETCHED};
use super::pages::{Handle, NIL};
use super::Store;

/// A read bumps an item in the LRU at most this often (memcached's
/// ITEM_UPDATE_INTERVAL).
const ITEM_UPDATE_INTERVAL: u32 = 60;

/// How many LRU-tail items an allocation looks at for one it may free
/// (doubling, up to 64 times as many, while it finds them all busy).
pub(super) const TAIL_SEARCH_DEPTH: usize = 5;

/// What an attempt to free memory for an allocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Freed {
    /// Freed a chunk (or moved a page).
    Yes,
    /// Found only items or pages in use by other threads right now.
    Busy,
    /// Found nothing it may free.
    No,
}

impl Store {
    /// Bumps a read item in its LRU (at most once a minute) and marks it
    /// fetched. The caller holds the item's stripe lock.
    pub(super) fn bump(&self, h: Handle, hdr: &Header, fetch: bool) {
        self.note_read(h, hdr, true, if fetch { FETCHED } else { 0 });
    }

    /// Records a read of a linked item: if `bump`, moves it to its LRU head
    /// and sets its last-access time (at most once a minute); and adds
    /// `bits` (FETCHED, TOKEN_SENT) to its header. Takes the class lock
    /// only when something changes. The caller holds the item's stripe lock.
    pub(super) fn note_read(&self, h: Handle, hdr: &Header, bump: bool, bits: u8) {
        let now = self.clock.now();
        let due = bump && hdr.time.saturating_add(ITEM_UPDATE_INTERVAL) <= now;
        let new_bits = hdr.bits | bits;
        if due || new_bits != hdr.bits {
            let mut class = self.class(hdr.class);
            // SAFETY: both the stripe lock (caller) and the class lock are held.
            unsafe {
                if new_bits != hdr.bits {
                    item::set_bits(&self.pages, h, new_bits);
                }
                if due {
                    item::set_time(&self.pages, h, now);
                    class.bump(&self.pages, h);
                }
            }
        }
    }

    /// Frees one of the `depth` items at the class's LRU tail: a dead one,
    /// or (if `evict`) the least recently used one whose stripe is free to
    /// lock. [`Freed::Busy`]: some were skipped because their stripe was busy.
    pub(super) fn free_from_tail(&self, class: &mut Class, evict: bool, depth: usize) -> Freed {
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
}

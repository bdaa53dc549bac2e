//! Removing items: delete (with the options of memcached's meta `md`:
//! compare a CAS, invalidate instead of removing, or empty the value but
//! keep the item), and flush_all (now or delayed).

use super::index::Removal;
use super::item::{STALE, TOKEN_SENT};
use super::{lock, Lookup, Store};
use std::sync::atomic::Ordering;

/// What a delete may do besides removing (memcached's `md` flags; binary
/// delete uses `cas` only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Act only if the item's CAS is this (`C`, or the binary header's);
    /// 0 compares nothing.
    pub cas: u64,
    /// Keep the item but mark it stale (`I`): it gets a new CAS (and the
    /// expiry `ttl`, if given), and its win token is withdrawn, so the
    /// next meta reader wins the right to recompute it while every reader
    /// is told the value is stale.
    pub invalidate: bool,
    /// Replace the value with an empty one but keep the item (`x`). As
    /// memcached does, the emptied item has the client flags `flags` and
    /// the expiry `ttl` (none if not given), and keeps the CAS of the item
    /// it replaces unless `new_cas` is given. With `invalidate`, the
    /// emptied item is then invalidated.
    pub empty: bool,
    /// With `invalidate` or `empty`: the item's new expiry (`T`; protocol
    /// rules, as exptime).
    pub ttl: Option<i64>,
    /// With `empty`: the emptied item's client flags (`F`).
    pub flags: u32,
    /// With `invalidate` or `empty`: the item's CAS, instead of a new one
    /// or the one it had (`E`; ignored under `-C`).
    pub new_cas: Option<u64>,
    /// Compare `cas` even when it is 0 (meta `md C0`: memcached compares,
    /// so an item with a CAS is `Exists`, and under `-C` every item matches).
    pub compare_zero: bool,
}

/// What a delete with options did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// The item was removed.
    Deleted {
        /// The slab class it was in (per-class counters).
        class: u8,
    },
    /// The item was kept, invalidated or emptied; its CAS now.
    Kept {
        /// The kept item's CAS (0 under `-C`).
        cas: u64,
        /// The slab class holding it now.
        class: u8,
    },
    /// The item's CAS differs from the one given; nothing changed.
    Exists,
    /// No live item (why: miss, expired or flushed).
    Missing(Lookup),
    /// No memory for the emptied item; nothing changed.
    NoMemory,
}

impl Store {
    /// Deletes a live item.
    pub fn delete(&self, key: &[u8]) -> Lookup {
        match self.delete_with(key, &DeleteOptions::default()) {
            DeleteOutcome::Deleted { .. } => Lookup::Hit,
            DeleteOutcome::Missing(why) => why,
            other => unreachable!("a plain delete cannot end {other:?}"),
        }
    }

    /// Deletes, invalidates or empties a live item, as `options` say (see
    /// [`DeleteOptions`]), all in one hold of its stripe lock.
    pub fn delete_with(&self, key: &[u8], options: &DeleteOptions) -> DeleteOutcome {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        let (mut h, mut hdr) = match self.lookup(&mut stripe, hash, key) {
            Ok(found) => found,
            Err(why) => return DeleteOutcome::Missing(why),
        };
        let compare = options.cas != 0 || options.compare_zero;
        if compare && options.cas != self.visible_cas(hdr.cas) {
            return DeleteOutcome::Exists;
        }
        if !options.invalidate && !options.empty {
            let mut class = self.class(hdr.class);
            self.remove(&mut stripe, &mut class, hash, h, &hdr, Removal::Normal);
            return DeleteOutcome::Deleted { class: hdr.class };
        }
        let explicit = self.explicit_cas(options.new_cas);
        if options.empty {
            let exptime = self.clock.realtime(options.ttl.unwrap_or(0));
            let Some((new, mut new_hdr)) = self.allocate(key, options.flags, exptime, &[]) else {
                return DeleteOutcome::NoMemory;
            };
            let keep = explicit.unwrap_or(hdr.cas);
            new_hdr.cas = self.link(&mut stripe, hash, new, &new_hdr, Some((h, hdr)), Some(keep));
            (h, hdr) = (new, new_hdr);
        }
        if options.invalidate {
            let exptime = options.ttl.map_or(hdr.exptime, |t| self.clock.realtime(t));
            let cas = explicit.unwrap_or_else(|| self.new_cas());
            let bits = (hdr.bits | STALE) & !TOKEN_SENT;
            self.rewrite(h, &hdr, exptime, cas, bits);
            hdr.cas = cas;
        }
        DeleteOutcome::Kept {
            cas: self.visible_cas(hdr.cas),
            class: hdr.class,
        }
    }

    /// flush_all: `delay` ≤ 0 invalidates every item now; otherwise at that
    /// expiry time (relative seconds or Unix time, as for exptime).
    pub fn flush_all(&self, delay: i64) {
        // As memcached: items last written up to a second before the
        // delay's end are dead from then on, so `flush_all 1` acts at once.
        let due = self.clock.realtime(delay).saturating_sub(1);
        if delay > 0 && due > self.clock.now() {
            self.pending_flush.store(due, Ordering::Release);
        } else {
            self.pending_flush.store(0, Ordering::Release);
            self.flush_now();
        }
    }

    /// Invalidates every item linked so far: their CAS values are all below
    /// the counter's next.
    pub(super) fn flush_now(&self) {
        let next = self.next_cas.load(Ordering::Relaxed);
        self.oldest_live_cas.fetch_max(next, Ordering::Relaxed);
        self.crawl_after_flush.store(true, Ordering::Release);
    }
}

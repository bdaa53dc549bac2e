//! The index: keys hash to lock stripes, each a table of item handles;
//! finding a live item (freeing a dead one met on the way); and linking an
//! item into, or unlinking it from, the index and its class LRU.

use super::classes::{Class, ClassGuard};
use super::item::{self, Header, FETCHED, HAS_FLAGS, LARGE};
use super::pages::{Handle, NIL};
use super::{Lookup, Store};
use crate::watch;
use hashbrown::HashTable;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// One lock stripe of the index.
#[derive(Debug, Default)]
pub(super) struct Stripe {
    pub(super) table: HashTable<Handle>,
}

/// Why an item is not live.
#[derive(Debug, Clone, Copy)]
pub(super) enum Dead {
    Expired,
    Flushed,
}

/// Why an item is being removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Removal {
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

impl Store {
    /// The key's hash (the process's random seed): picks its stripe.
    pub(super) fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The hash a stripe's table uses. The stripe is picked by the hash's
    /// top bits, which hashbrown also uses for its 7-bit tags: folding the
    /// low half into the high half gives the tags back their spread.
    pub(super) fn table_hash(hash: u64) -> u64 {
        hash ^ (hash << 32)
    }

    /// Locks slab class `id`.
    pub(super) fn class(&self, id: u8) -> ClassGuard<'_> {
        self.classes[id as usize].lock()
    }

    /// The lock stripe a key with this hash belongs to.
    pub(super) fn stripe(&self, hash: u64) -> &Mutex<Stripe> {
        &self.stripes[(hash >> self.stripe_shift) as usize]
    }

    /// Whether an item is dead: expired, or older than the last flush_all.
    pub(super) fn dead(&self, hdr: &Header) -> Option<Dead> {
        if self.clock.is_expired(hdr.exptime) {
            Some(Dead::Expired)
        } else if hdr.cas < self.oldest_live_cas.load(Ordering::Relaxed) {
            Some(Dead::Flushed)
        } else {
            None
        }
    }

    /// An `eviction` line for `watch evictions`, if the item at `h` is live
    /// (an expired or flushed one is reclaimed, not evicted). Called with
    /// its stripe lock held, before it is unlinked.
    #[cold]
    fn watch_eviction(&self, h: Handle, hdr: &Header) {
        if self.dead(hdr).is_some() {
            return;
        }
        let now = self.clock.now();
        // SAFETY: the caller holds the item's stripe lock (it is removing
        // it) and the item is still linked.
        let key = unsafe { self.key_of(h) };
        self.watch.eviction(&watch::Eviction {
            key,
            fetched: hdr.bits & FETCHED != 0,
            ttl: match hdr.exptime {
                0 => -1,
                e => i64::from(e) - i64::from(now),
            },
            last_access: now.saturating_sub(hdr.time),
            class: hdr.class,
            size: hdr.vlen as usize,
        });
    }

    /// The key of a linked item.
    ///
    /// # Safety
    /// The caller holds the item's stripe lock, or its class lock while the
    /// item is LINKED (keys never change while linked).
    pub(super) unsafe fn key_of(&self, h: Handle) -> &[u8] {
        // SAFETY: per the caller's promise; the key and its length are
        // written once before the item is linked.
        unsafe {
            let (offset, len) = item::key_range(&self.pages, h);
            item::slice(&self.pages, h, offset, len)
        }
    }

    pub(super) fn find(&self, stripe: &Stripe, hash: u64, key: &[u8]) -> Option<Handle> {
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
    pub(super) fn lookup(
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

    /// Links a filled, ALLOCATING item into the index and its class LRU,
    /// first removing the version it replaces, if any; returns its CAS.
    /// The expiry and state bits written are `hdr`'s (a caller may have
    /// changed them since allocating, e.g. to link a stale item).
    ///
    /// The CAS is taken here, under the stripe lock, not when the item was
    /// allocated: versions of a key get rising CAS values in the order they
    /// are linked, and an item linked after a flush_all has returned is
    /// never below the flush's mark (a set allocated before the flush but
    /// linked after it would otherwise be dead on arrival, and would
    /// replace a newer live value). `cas` overrides it with a value the
    /// client asked for (`E`, see [`Store::explicit_cas`]) or the CAS of the
    /// version being emptied; the counter ticks either way, as it also
    /// measures allocation activity (`rebalance.rs`).
    pub(super) fn link(
        &self,
        stripe: &mut Stripe,
        hash: u64,
        h: Handle,
        hdr: &Header,
        replaces: Option<(Handle, Header)>,
        cas: Option<u64>,
    ) -> u64 {
        let next = self.new_cas();
        let cas = cas.unwrap_or(next);
        // SAFETY: the stripe lock is held and the item is still this
        // thread's (ALLOCATING).
        unsafe {
            item::update(&self.pages, h, hdr.exptime, cas);
            item::set_bits(&self.pages, h, hdr.bits);
        }
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

    /// Rewrites a linked item's expiry, CAS and state bits in place
    /// (`bits` keeps HAS_FLAGS and LARGE as they are), keeping its class's
    /// count of items that can expire exact. Takes the class lock only if
    /// the bits or that count change. The caller holds the item's stripe
    /// lock.
    pub(super) fn rewrite(&self, h: Handle, hdr: &Header, exptime: u32, cas: u64, bits: u8) {
        debug_assert_eq!(bits & (HAS_FLAGS | LARGE), hdr.bits & (HAS_FLAGS | LARGE));
        // SAFETY: the stripe lock is held (caller); these fields are its.
        unsafe { item::update(&self.pages, h, exptime, cas) };
        let expiring_changed = (exptime != 0) != (hdr.exptime != 0);
        if expiring_changed || bits != hdr.bits {
            let mut class = self.class(hdr.class);
            class.with_ttl = class.with_ttl + u64::from(exptime != 0) - u64::from(hdr.exptime != 0);
            if bits != hdr.bits {
                // SAFETY: both the stripe lock (caller) and the class lock are held.
                unsafe { item::set_bits(&self.pages, h, bits) };
            }
        }
    }

    /// Unlinks an item from the index and its LRU and frees its chunks
    /// (into the class's free list, except for a page move).
    pub(super) fn remove(
        &self,
        stripe: &mut Stripe,
        class: &mut Class,
        hash: u64,
        h: Handle,
        hdr: &Header,
        why: Removal,
    ) {
        if matches!(why, Removal::Evict) && self.watch.wants(watch::EVICTIONS) {
            self.watch_eviction(h, hdr);
        }
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
                    st.evicted_time = u64::from(hdr.time);
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
    pub(super) fn free_chunks(&self, class: &mut Class, h: Handle, hdr: &Header) {
        let mut next = hdr.chain;
        class.give(&self.pages, h);
        while hdr.bits & LARGE != 0 && next != NIL {
            // SAFETY: the class lock is held and the chunk is CONT.
            let after = unsafe { item::cont_next(&self.pages, next) };
            class.give(&self.pages, next);
            next = after;
        }
    }

    /// Frees an allocated item that was never linked.
    pub(super) fn discard(&self, h: Handle, hdr: &Header) {
        let mut class = self.class(hdr.class);
        self.free_chunks(&mut class, h, hdr);
    }

    /// Bytes an item occupies in its chunks (header, key, value).
    pub(super) fn item_bytes(&self, hdr: &Header) -> usize {
        hdr.value_offset() + hdr.vlen as usize
    }
}

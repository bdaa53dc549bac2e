//! Removing items: delete, and flush_all (now or delayed).

use super::index::Removal;
use super::{lock, Lookup, Store};
use std::sync::atomic::Ordering;

impl Store {
    /// Deletes a live item.
    pub fn delete(&self, key: &[u8]) -> Lookup {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        match self.lookup(&mut stripe, hash, key) {
            Ok((h, hdr)) => {
                let mut class = self.class(hdr.class);
                self.remove(&mut stripe, &mut class, hash, h, &hdr, Removal::Normal);
                Lookup::Hit
            }
            Err(miss) => miss,
        }
    }

    /// flush_all: `delay` ≤ 0 invalidates every item now; otherwise at that
    /// expiry time (relative seconds or Unix time, as for exptime).
    pub fn flush_all(&self, delay: i64) {
        if delay > 0 {
            self.pending_flush
                .store(self.clock.realtime(delay).max(1), Ordering::Release);
        } else {
            self.pending_flush.store(0, Ordering::Release);
            self.flush_now();
        }
    }

    pub(super) fn flush_now(&self) {
        let next = self.next_cas.load(Ordering::Relaxed);
        self.oldest_live_cas.fetch_max(next, Ordering::Relaxed);
        self.crawl_after_flush.store(true, Ordering::Release);
    }
}

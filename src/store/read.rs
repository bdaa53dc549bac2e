//! Reads: get (optionally touching the item), and touch.

use super::item;
use super::{lock, ItemRef, Lookup, Store};

impl Store {
    /// Looks `key` up; on a hit calls `f` with the item (stripe locked) and
    /// bumps it. `touch` gives the item a new expiry first (gat).
    pub fn get<F: FnOnce(ItemRef<'_>)>(&self, key: &[u8], touch: Option<i64>, f: F) -> Lookup {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        let (h, hdr) = match self.lookup(&mut stripe, hash, key) {
            Ok(found) => found,
            Err(miss) => return miss,
        };
        if let Some(t) = touch {
            let exptime = self.clock.realtime(t);
            if (exptime != 0) != (hdr.exptime != 0) {
                // Keep the class's count of items that can expire exact.
                let mut class = self.class(hdr.class);
                class.with_ttl =
                    class.with_ttl + u64::from(exptime != 0) - u64::from(hdr.exptime != 0);
            }
            // SAFETY: the stripe lock is held.
            unsafe { item::update(&self.pages, h, exptime, hdr.cas) };
        }
        self.bump(h, &hdr, true);
        f(ItemRef {
            key,
            value: self.value(h, &hdr),
            flags: hdr.flags,
            cas: self.visible_cas(hdr.cas),
        });
        Lookup::Hit
    }

    /// Gives a live item a new expiry.
    pub fn touch(&self, key: &[u8], exptime: i64) -> Lookup {
        self.get(key, Some(exptime), |_| {})
    }
}

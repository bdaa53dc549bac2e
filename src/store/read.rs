//! Reads: get (optionally touching the item), and touch.

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
            self.rewrite(h, &hdr, exptime, hdr.cas, hdr.bits);
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

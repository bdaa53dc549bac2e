//! Listing what the store holds, for memcached's dump commands (`stats
//! cachedump`, `lru_crawler metadump` / `mgdump`): each call copies a
//! bounded batch of live items out under one lock hold and returns it, so
//! a caller writes to its client with no store lock held.
//!
//! - [`Store::dump_stripe`]: the live items of one index stripe (a few
//!   thousand at most for millions of items); walking the stripes in order
//!   lists every item once, and the stripe number is the cursor between
//!   batches.
//! - [`Store::class_dump`]: up to a number of items of one class, from the
//!   most recently used, as `stats cachedump` lists them (keys collected
//!   under the class lock, their metadata read under each stripe lock).

use super::item::{self, FETCHED, KEY_BINARY};
use super::pages::NIL;
use super::{lock, Store};

/// One live item as a dump shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dumped {
    /// The key.
    pub key: Vec<u8>,
    /// Its slab class.
    pub class: u8,
    /// Value length in bytes.
    pub value_len: usize,
    /// Bytes the item takes (header, key, value).
    pub size: usize,
    /// Unix time it expires, 0 if never.
    pub expires: i64,
    /// Unix time it was last stored or bumped by a read.
    pub last_access: i64,
    /// Its CAS (0 under `-C`).
    pub cas: u64,
    /// Whether it was read since it was stored.
    pub fetched: bool,
    /// Its key was stored base64-decoded (meta `b`): binary bytes that a
    /// dump line must show encoded.
    pub binary_key: bool,
}

impl Store {
    /// The live items of index stripe `i` (below [`Store::stripe_count`]),
    /// copied out in one hold of its lock; dead items are skipped (the
    /// crawler frees them).
    pub fn dump_stripe(&self, i: usize) -> Vec<Dumped> {
        let Some(stripe) = self.stripes.get(i) else {
            return Vec::new();
        };
        let stripe = lock(stripe);
        stripe
            .table
            .iter()
            .filter_map(|&h| {
                // SAFETY: the stripe lock is held.
                let hdr = unsafe { item::read(&self.pages, h) };
                if self.dead(&hdr).is_some() {
                    return None;
                }
                // SAFETY: as above.
                let key = unsafe { self.key_of(h) }.to_vec();
                Some(self.dumped(key, &hdr))
            })
            .collect()
    }

    /// Up to `limit` live items of class `id` (0: no limit) from the most
    /// recently used, stopping once their keys and values would pass
    /// `max_bytes` of output as `stats cachedump` counts it. The keys are
    /// copied under the class lock (one hold); each item's metadata is then
    /// read under its stripe lock, and an item gone by then is left out.
    pub fn class_dump(&self, id: u8, limit: usize, max_bytes: usize) -> Vec<Dumped> {
        if id == 0 || id > self.sizes.largest() {
            return Vec::new();
        }
        let mut keys = Vec::new();
        {
            let c = self.class(id);
            let mut h = c.head;
            let mut bytes = 0;
            while h != NIL && (limit == 0 || keys.len() < limit) {
                // SAFETY: the class lock is held and `h` is linked.
                let key = unsafe { self.key_of(h) };
                // "ITEM <key> [<n> b; <t> s]\r\n": the key and ~30 bytes.
                bytes += key.len() + 30;
                if bytes > max_bytes {
                    break;
                }
                keys.push(key.to_vec());
                // SAFETY: the class lock is held (the LRU links are its).
                h = unsafe { item::links(&self.pages, h).1 };
            }
        }
        keys.into_iter()
            .filter_map(|key| {
                let hash = self.hash(&key);
                let stripe = lock(self.stripe(hash));
                let h = self.find(&stripe, hash, &key)?;
                // SAFETY: the stripe lock is held.
                let hdr = unsafe { item::read(&self.pages, h) };
                (self.dead(&hdr).is_none()).then(|| self.dumped(key, &hdr))
            })
            .collect()
    }

    fn dumped(&self, key: Vec<u8>, hdr: &item::Header) -> Dumped {
        let started = self.clock.unix_now() - i64::from(self.clock.now());
        Dumped {
            class: hdr.class,
            value_len: hdr.vlen as usize,
            size: self.item_bytes(hdr),
            expires: if hdr.exptime == 0 {
                0
            } else {
                started + i64::from(hdr.exptime)
            },
            last_access: started + i64::from(hdr.time),
            cas: self.visible_cas(hdr.cas),
            fetched: hdr.bits & FETCHED != 0,
            binary_key: hdr.bits & KEY_BINARY != 0,
            key,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::store::testing::store;
    use crate::store::StoreMode;

    #[test]
    fn stripes_list_every_live_item_once() {
        let s = store();
        for i in 0..300 {
            let key = format!("k{i}");
            s.store(StoreMode::Set, key.as_bytes(), 0, 0, b"v", 0);
        }
        s.store(StoreMode::Set, b"gone", 0, -1, b"v", 0); // already expired
        let mut keys: Vec<Vec<u8>> = (0..s.stripe_count())
            .flat_map(|i| s.dump_stripe(i))
            .map(|d| d.key)
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 300);
        assert!(!keys.contains(&b"gone".to_vec()));
        assert!(s.dump_stripe(s.stripe_count()).is_empty());
    }

    #[test]
    fn class_dump_lists_most_recent_first_and_stops_at_its_bounds() {
        let s = store();
        s.store(StoreMode::Set, b"a", 0, 0, b"1", 0);
        s.store(StoreMode::Set, b"b", 5, 100, b"22", 0);
        let id = s.class_of(1, 1, 0);
        let all = s.class_dump(id, 0, 1 << 20);
        let keys: Vec<&[u8]> = all.iter().map(|d| d.key.as_slice()).collect();
        assert_eq!(keys, [&b"b"[..], b"a"]);
        assert_eq!(all[0].value_len, 2);
        assert!(all[0].expires > 0);
        assert_eq!(all[1].expires, 0);
        assert!(!all[1].fetched);
        assert_eq!(s.class_dump(id, 1, 1 << 20).len(), 1);
        assert_eq!(s.class_dump(id, 0, 40).len(), 1, "bounded by bytes");
        assert!(s.class_dump(0, 0, 1 << 20).is_empty());
        assert!(s.class_dump(62, 0, 1 << 20).is_empty());
    }
}

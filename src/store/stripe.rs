//! One lock stripe: a hash table of item handles over a slab of entries,
//! with the stripe's LRU list threaded through the entries as 32-bit indices.
//!
//! A `Stripe` is only ever touched with its mutex held; nothing here locks.

use super::item::{Entry, NIL};
use hashbrown::HashTable;
use slab::Slab;

/// Counters kept per stripe, under the stripe lock, summed for `stats`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StripeStats {
    /// Items linked now (live or not yet reclaimed).
    pub curr_items: u64,
    /// Sum of memcached-style item sizes of linked items.
    pub bytes: u64,
    /// Items ever stored.
    pub total_items: u64,
    /// Live items evicted to make room.
    pub evictions: u64,
    /// Evicted items that were never fetched.
    pub evicted_unfetched: u64,
    /// Expired or flushed items whose memory was reused.
    pub reclaimed: u64,
    /// Reclaimed expired items that were never fetched.
    pub expired_unfetched: u64,
}

/// A stripe of the index.
#[derive(Debug)]
pub struct Stripe {
    table: HashTable<u32>,
    entries: Slab<Entry>,
    head: u32,
    tail: u32,
    /// This stripe's counters.
    pub stats: StripeStats,
}

impl Default for Stripe {
    fn default() -> Self {
        Stripe {
            table: HashTable::new(),
            entries: Slab::new(),
            head: NIL,
            tail: NIL,
            stats: StripeStats::default(),
        }
    }
}

impl Stripe {
    /// Finds the entry for `key`, dead or alive.
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        let entries = &self.entries;
        self.table
            .find(hash, |&i| entries[i as usize].key() == key)
            .copied()
    }

    /// The entry at `idx`.
    #[inline]
    pub fn entry(&self, idx: u32) -> &Entry {
        &self.entries[idx as usize]
    }

    /// The entry at `idx`, mutably.
    #[inline]
    pub fn entry_mut(&mut self, idx: u32) -> &mut Entry {
        &mut self.entries[idx as usize]
    }

    /// Links a new entry at the LRU head and indexes it; the key must not be present.
    pub fn link(&mut self, entry: Entry, bytes: u64) -> u32 {
        let hash = entry.hash;
        let idx = self.entries.insert(entry) as u32;
        let entries = &self.entries;
        self.table
            .insert_unique(hash, idx, |&i| entries[i as usize].hash);
        self.push_head(idx);
        self.stats.curr_items += 1;
        self.stats.total_items += 1;
        self.stats.bytes += bytes;
        idx
    }

    /// Removes the entry from the index and the LRU and returns it.
    pub fn unlink(&mut self, idx: u32, bytes: u64) -> Entry {
        self.detach(idx);
        let hash = self.entries[idx as usize].hash;
        match self.table.find_entry(hash, |&i| i == idx) {
            Ok(slot) => {
                slot.remove();
            }
            Err(_) => unreachable!("linked entry {idx} missing from its table"),
        }
        self.stats.curr_items -= 1;
        self.stats.bytes -= bytes;
        self.entries.remove(idx as usize)
    }

    /// Moves the entry to the LRU head.
    pub fn bump(&mut self, idx: u32) {
        if self.head != idx {
            self.detach(idx);
            self.push_head(idx);
        }
    }

    /// The least recently used entry, if any.
    pub fn tail(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// The entry just more recent than `idx` in the LRU.
    pub fn towards_head(&self, idx: u32) -> Option<u32> {
        let prev = self.entries[idx as usize].prev;
        (prev != NIL).then_some(prev)
    }

    /// Bytes held by the table and the entry slots.
    pub fn index_bytes(&self) -> usize {
        self.table.capacity() * std::mem::size_of::<u32>()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
    }

    /// Number of linked entries.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entries are linked.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry indices from the LRU head (most recent) to the tail.
    #[cfg(test)]
    pub fn lru_order(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len());
        let mut cur = self.head;
        while cur != NIL {
            out.push(cur);
            cur = self.entries[cur as usize].next;
        }
        out
    }

    fn detach(&mut self, idx: u32) {
        let (prev, next) = {
            let e = &self.entries[idx as usize];
            (e.prev, e.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        let e = &mut self.entries[idx as usize];
        e.prev = NIL;
        e.next = NIL;
    }

    fn push_head(&mut self, idx: u32) {
        let old = self.head;
        {
            let e = &mut self.entries[idx as usize];
            e.prev = NIL;
            e.next = old;
        }
        if old == NIL {
            self.tail = idx;
        } else {
            self.entries[old as usize].prev = idx;
        }
        self.head = idx;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &[u8], hash: u64) -> Entry {
        Entry {
            hash,
            kv: key.into(),
            klen: key.len() as u8,
            flags: 0,
            exptime: 0,
            time: 0,
            cas: 0,
            seq: 0,
            fetched: false,
            prev: NIL,
            next: NIL,
        }
    }

    #[test]
    fn lru_links_stay_consistent() {
        let mut s = Stripe::default();
        let a = s.link(entry(b"a", 1), 1);
        let b = s.link(entry(b"b", 1), 1);
        let c = s.link(entry(b"c", 2), 1);
        assert_eq!(s.lru_order(), vec![c, b, a]);
        assert_eq!(s.tail(), Some(a));
        s.bump(a);
        assert_eq!(s.lru_order(), vec![a, c, b]);
        assert_eq!(s.find(1, b"b"), Some(b));
        assert_eq!(s.find(1, b"zz"), None);
        let removed = s.unlink(c, 1);
        assert_eq!(removed.key(), b"c");
        assert_eq!(s.lru_order(), vec![a, b]);
        assert_eq!(s.find(2, b"c"), None);
        s.unlink(a, 1);
        s.unlink(b, 1);
        assert!(s.is_empty());
        assert_eq!(s.tail(), None);
        assert_eq!(s.stats.curr_items, 0);
        assert_eq!(s.stats.total_items, 3);
    }
}

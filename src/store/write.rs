//! Storing: set, add, replace, cas, append and prepend.

use super::{lock, Store, KEY_MAX_LENGTH};

/// How to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// Store unconditionally.
    Set,
    /// Store only if absent.
    Add,
    /// Store only if present.
    Replace,
    /// Add the data after the existing value.
    Append,
    /// Add the data before the existing value.
    Prepend,
    /// Store only if the CAS matches.
    Cas,
}

/// What a store did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// Stored.
    Stored,
    /// The mode's condition failed.
    NotStored,
    /// CAS mismatch.
    Exists,
    /// CAS on a missing key.
    NotFound,
    /// Larger than `-I`.
    TooLarge,
    /// No room and nothing could be evicted (or `-M`).
    NoMemory,
}

impl Store {
    /// Stores `data` under `key` according to `mode`; `cas` is compared in
    /// [`StoreMode::Cas`]. On success also returns the new item's CAS.
    pub fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
        cas: u64,
    ) -> (StoreOutcome, u64) {
        debug_assert!(key.len() <= KEY_MAX_LENGTH);
        if !self.item_fits(key.len(), data.len(), flags) {
            if mode == StoreMode::Set {
                // As memcached: a failed set must not leave the old value readable.
                self.delete(key);
            }
            return (StoreOutcome::TooLarge, 0);
        }
        let hash = self.hash(key);
        if matches!(mode, StoreMode::Append | StoreMode::Prepend) {
            return self.concat(mode, key, hash, data);
        }
        let exptime = self.clock.realtime(exptime);
        // Allocate and fill the new item before taking the stripe lock.
        let Some((h, hdr)) = self.allocate(key, flags, exptime, &[data]) else {
            if mode == StoreMode::Set {
                self.delete(key);
            }
            return (StoreOutcome::NoMemory, 0);
        };
        let mut stripe = lock(self.stripe(hash));
        let existing = self.lookup(&mut stripe, hash, key).ok();
        let refuse = match (mode, existing) {
            (StoreMode::Add, Some((old, old_hdr))) => {
                // memcached refreshes an item that an add collided with.
                self.bump(old, &old_hdr, false);
                Some(StoreOutcome::NotStored)
            }
            (StoreMode::Replace, None) => Some(StoreOutcome::NotStored),
            (StoreMode::Cas, None) => Some(StoreOutcome::NotFound),
            (StoreMode::Cas, Some((_, old_hdr))) if self.visible_cas(old_hdr.cas) != cas => {
                Some(StoreOutcome::Exists)
            }
            _ => None,
        };
        if let Some(outcome) = refuse {
            drop(stripe);
            self.discard(h, &hdr);
            return (outcome, 0);
        }
        let cas = self.link(&mut stripe, hash, h, &hdr, existing, None);
        (StoreOutcome::Stored, self.visible_cas(cas))
    }

    /// append / prepend: the new item is built from the old value and the
    /// data while the stripe lock is held.
    fn concat(&self, mode: StoreMode, key: &[u8], hash: u64, data: &[u8]) -> (StoreOutcome, u64) {
        let mut stripe = lock(self.stripe(hash));
        let Ok((old, old_hdr)) = self.lookup(&mut stripe, hash, key) else {
            return (StoreOutcome::NotStored, 0);
        };
        let total = old_hdr.vlen as usize + data.len();
        if !self.item_fits(key.len(), total, old_hdr.flags) {
            return (StoreOutcome::NotStored, 0);
        }
        let old_value = self.value(old, &old_hdr);
        let mut parts: Vec<&[u8]> = Vec::with_capacity(4);
        if mode == StoreMode::Prepend {
            parts.push(data);
        }
        parts.extend(old_value.pieces());
        if mode == StoreMode::Append {
            parts.push(data);
        }
        let Some((h, hdr)) = self.allocate(key, old_hdr.flags, old_hdr.exptime, &parts) else {
            return (StoreOutcome::NotStored, 0);
        };
        let cas = self.link(&mut stripe, hash, h, &hdr, Some((old, old_hdr)), None);
        (StoreOutcome::Stored, self.visible_cas(cas))
    }
}

//! Storing: set, add, replace, cas, append and prepend, with the options
//! of memcached's meta `ms`: an explicit new CAS, storing a stale value
//! under an older CAS, and creating a missing item on append / prepend.

use super::item::{KEY_BINARY, STALE, TOKEN_SENT};
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

/// What a store may do besides storing (memcached's `ms` flags; binary
/// commands use `cas` only).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// The CAS to compare (`C`, or the binary header's). In
    /// [`StoreMode::Cas`] the item must have exactly this CAS (0 too, which
    /// no item has, as memcached); in append and prepend a non-zero value
    /// must match, else [`StoreOutcome::Exists`]. Set, add and replace
    /// ignore it: a caller that wants set or replace to compare uses
    /// [`StoreMode::Cas`], as memcached turns them into cas.
    pub cas: u64,
    /// In [`StoreMode::Cas`]: a non-zero `cas` *older* than the item's
    /// stores anyway, but the new item is stale, keeps the old item's
    /// expiry, and keeps its win token if one was sent (`ms I`), so
    /// readers see a stale value and one of them may recompute it.
    pub invalidate: bool,
    /// In append and prepend: on a miss, store the data as a new item with
    /// the flags given and this expiry (`N`), instead of not storing.
    pub vivify: Option<i64>,
    /// The new item's CAS, instead of the counter's next value (`E`;
    /// ignored under `-C`).
    pub new_cas: Option<u64>,
    /// The key was given base64-encoded (meta `ms b`): the item stored
    /// from this request's data remembers it (memcached's
    /// ITEM_KEY_BINARY), so meta replies show its key encoded. The result
    /// of an append or prepend to an existing item is a new item that does
    /// not, as in memcached.
    pub binary_key: bool,
}

impl Store {
    /// Stores `data` under `key` according to `mode`; `cas` is compared in
    /// [`StoreMode::Cas`] (and ignored otherwise). On success also returns
    /// the new item's CAS.
    pub fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
        cas: u64,
    ) -> (StoreOutcome, u64) {
        let options = StoreOptions {
            cas: if mode == StoreMode::Cas { cas } else { 0 },
            ..StoreOptions::default()
        };
        self.store_with(mode, key, flags, exptime, data, &options)
    }

    /// Stores `data` under `key` according to `mode` and `options` (see
    /// [`StoreOptions`]); on success also returns the new item's CAS.
    ///
    /// Data too large for `-I` is refused; a failed set (too large, or no
    /// memory) also removes the old value, as memcached's set does.
    pub fn store_with(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
        options: &StoreOptions,
    ) -> (StoreOutcome, u64) {
        let (outcome, cas, _) = self.store_sized(mode, key, flags, exptime, data, options);
        (outcome, cas)
    }

    /// [`Store::store_with`], also returning the stored value's length:
    /// after an append or prepend, the whole value's (meta `ms s`); the
    /// data's otherwise.
    pub fn store_sized(
        &self,
        mode: StoreMode,
        key: &[u8],
        flags: u32,
        exptime: i64,
        data: &[u8],
        options: &StoreOptions,
    ) -> (StoreOutcome, u64, usize) {
        debug_assert!(key.len() <= KEY_MAX_LENGTH);
        if !self.item_fits(key.len(), data.len(), flags) {
            if mode == StoreMode::Set {
                // As memcached: a failed set must not leave the old value readable.
                self.delete(key);
            }
            return (StoreOutcome::TooLarge, 0, data.len());
        }
        let hash = self.hash(key);
        if matches!(mode, StoreMode::Append | StoreMode::Prepend) {
            return self.concat(mode, key, hash, flags, data, options);
        }
        let exptime = self.clock.realtime(exptime);
        // Allocate and fill the new item before taking the stripe lock.
        let Some((h, mut hdr)) = self.allocate(key, flags, exptime, &[data]) else {
            if mode == StoreMode::Set {
                self.delete(key);
            }
            return (StoreOutcome::NoMemory, 0, data.len());
        };
        if options.binary_key {
            hdr.bits |= KEY_BINARY;
        }
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
            (StoreMode::Cas, Some((_, old_hdr))) => {
                let current = self.visible_cas(old_hdr.cas);
                if options.cas == current {
                    None
                } else if options.invalidate && options.cas != 0 && options.cas < current {
                    // An older version, stored as stale: readers see it
                    // and the token state carries over.
                    hdr.exptime = old_hdr.exptime;
                    hdr.bits |= STALE | (old_hdr.bits & TOKEN_SENT);
                    None
                } else {
                    Some(StoreOutcome::Exists)
                }
            }
            _ => None,
        };
        if let Some(outcome) = refuse {
            drop(stripe);
            self.discard(h, &hdr);
            return (outcome, 0, data.len());
        }
        let explicit = self.explicit_cas(options.new_cas);
        let cas = self.link(&mut stripe, hash, h, &hdr, existing, explicit);
        (StoreOutcome::Stored, self.visible_cas(cas), data.len())
    }

    /// append / prepend: the new item is built from the old value and the
    /// data while the stripe lock is held. The old item's flags and expiry
    /// carry over; `flags` only serves an item created on a miss.
    fn concat(
        &self,
        mode: StoreMode,
        key: &[u8],
        hash: u64,
        flags: u32,
        data: &[u8],
        options: &StoreOptions,
    ) -> (StoreOutcome, u64, usize) {
        let mut stripe = lock(self.stripe(hash));
        let explicit = self.explicit_cas(options.new_cas);
        let Ok((old, old_hdr)) = self.lookup(&mut stripe, hash, key) else {
            let Some(exptime) = options.vivify else {
                return (StoreOutcome::NotStored, 0, data.len());
            };
            let exptime = self.clock.realtime(exptime);
            let Some((h, mut hdr)) = self.allocate(key, flags, exptime, &[data]) else {
                return (StoreOutcome::NoMemory, 0, data.len());
            };
            if options.binary_key {
                hdr.bits |= KEY_BINARY;
            }
            let cas = self.link(&mut stripe, hash, h, &hdr, None, explicit);
            return (StoreOutcome::Stored, self.visible_cas(cas), data.len());
        };
        if options.cas != 0 && options.cas != self.visible_cas(old_hdr.cas) {
            return (StoreOutcome::Exists, 0, data.len());
        }
        let total = old_hdr.vlen as usize + data.len();
        if !self.item_fits(key.len(), total, old_hdr.flags) {
            return (StoreOutcome::NotStored, 0, data.len());
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
            return (StoreOutcome::NotStored, 0, data.len());
        };
        let cas = self.link(&mut stripe, hash, h, &hdr, Some((old, old_hdr)), explicit);
        (StoreOutcome::Stored, self.visible_cas(cas), total)
    }
}

//! Helpers shared by the store's unit tests.

use super::item;
use super::{Store, StoreConfig, StoreMode, StoreOutcome};

/// A store of `max_bytes` for one thread, automove off.
pub(super) fn config(max_bytes: usize, evictions: bool) -> StoreConfig {
    StoreConfig {
        max_bytes,
        evictions,
        threads: 1,
        automove: 0,
        ..StoreConfig::default()
    }
}

pub(super) fn store_with(max_bytes: usize, evictions: bool) -> Store {
    Store::new(config(max_bytes, evictions))
}

/// A store of 64 MiB that evicts.
pub(super) fn store() -> Store {
    store_with(64 << 20, true)
}

/// A hit's (value, flags, CAS), read the way `get` reads.
pub(super) fn get(s: &Store, key: &[u8]) -> Option<(Vec<u8>, u32, u64)> {
    let mut out = None;
    s.get(key, None, |i| {
        out = Some((i.value.to_vec(), i.flags, i.cas))
    });
    out
}

pub(super) fn set(s: &Store, key: &[u8], value: &[u8]) -> StoreOutcome {
    s.store(StoreMode::Set, key, 0, 0, value, 0).0
}

/// How many items of this shape fit in `bytes` of pages.
pub(super) fn capacity(s: &Store, bytes: usize, klen: usize, vlen: usize) -> usize {
    let sizes = s.class_sizes();
    let chunk = sizes.size(
        sizes
            .class_for(item::head_bytes(klen, 0, false) + vlen)
            .unwrap(),
    );
    (bytes / (1 << 20)) * ((1 << 20) / chunk)
}

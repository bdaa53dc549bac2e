//! What workers count per request, each counter described where it is
//! declared. Each worker owns a [`Counters`] that only it writes (plain
//! load + store, no locked instruction on the hot path); `stats` sums every
//! worker's [`Snapshot`] on demand.

use std::sync::atomic::{AtomicU64, Ordering};

/// A counter written by one thread and read by any.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one. Only the owning worker calls this.
    #[inline]
    pub fn incr(&self) {
        self.add(1);
    }

    /// Adds `n`. Only the owning worker calls this (single writer, so a
    /// relaxed load + store is exact and avoids a locked instruction).
    #[inline]
    pub fn add(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

macro_rules! worker_counters {
    ($($name:ident: $kind:ident $help:literal,)*) => {
        /// One worker's counters, named as memcached's `stats` fields.
        #[derive(Debug, Default)]
        pub struct Counters {
            $(
                #[doc = $help]
                pub $name: Counter,
            )*
            /// Request latency histograms (recorded once enabled).
            pub latency: super::latency::Latency,
            /// Sampled hot-key sketches (recorded once enabled).
            pub hot: super::hotkeys::HotKeys,
            /// Operations counted per slab class (`stats slabs`).
            pub classes: super::classes::ClassCounters,
        }

        crate::described! {
            /// A point-in-time copy of [`Counters`] (or a sum of them).
            pub struct Snapshot {
                $($name: $kind $help,)*
            }
        }

        impl Counters {
            /// Copies the current values.
            pub fn snapshot(&self) -> Snapshot {
                Snapshot { $($name: self.$name.get(),)* }
            }
        }

        impl Snapshot {
            /// Field-wise sum.
            pub fn plus(self, o: Snapshot) -> Snapshot {
                Snapshot { $($name: self.$name.wrapping_add(o.$name),)* }
            }

            /// Field-wise difference.
            pub fn minus(self, o: Snapshot) -> Snapshot {
                Snapshot { $($name: self.$name.wrapping_sub(o.$name),)* }
            }
        }
    };
}

worker_counters! {
    cmd_get: Counter "Keys looked up by get, gets and their meta and binary forms",
    cmd_set: Counter "Storage requests whose data arrived (set, add, replace, append, prepend, cas)",
    cmd_flush: Counter "flush_all requests",
    cmd_touch: Counter "Touch requests, and keys looked up by gat and gats",
    cmd_meta: Counter "Meta me requests (the only meta command memcached counts here)",
    get_hits: Counter "Keys looked up and found",
    get_misses: Counter "Keys looked up and not found",
    get_expired: Counter "Keys looked up and found expired",
    get_flushed: Counter "Keys looked up and found invalidated by flush_all",
    delete_misses: Counter "Deletes of keys that were not there",
    delete_hits: Counter "Deletes that removed an item",
    incr_misses: Counter "Increments of keys that were not there",
    incr_hits: Counter "Increments that changed an item",
    decr_misses: Counter "Decrements of keys that were not there",
    decr_hits: Counter "Decrements that changed an item",
    cas_misses: Counter "CAS stores of keys that were not there",
    cas_hits: Counter "CAS stores that matched and stored",
    cas_badval: Counter "CAS stores refused because the CAS did not match",
    touch_hits: Counter "Touches (and gat hits) that found the item",
    touch_misses: Counter "Touches (and gat misses) that found nothing",
    store_too_large: Counter "Stores refused because the item was larger than -I",
    store_no_memory: Counter "Stores refused for want of memory (-M, or nothing evictable)",
    auth_cmds: Counter "Authentication attempts (a user and password checked)",
    auth_errors: Counter "Failed authentication attempts",
    idle_kicks: Counter "Connections closed by -o idle_timeout",
    bytes_read: Counter "Bytes read from clients",
    bytes_written: Counter "Bytes written to clients",
    conn_yields: Counter "Times a connection yielded after -R requests with more buffered",
    total_connections: Counter "Client connections accepted since start",
}

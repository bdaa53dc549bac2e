//! `watch`: memcached's live log stream. A connection that sends `watch
//! fetchers mutations evictions` stops taking commands and receives one
//! line per read, write or eviction, from every worker, until it closes.
//!
//! A leaf: it imports nothing else in the crate. [`Watch`] is the
//! server's hub: a bit mask of what anyone watches (one relaxed load on
//! the hot path while nobody does), the watchers, and the global line id
//! (`gid`). An event is formatted once, on the thread where it happens,
//! and appended to each interested watcher's [`Watcher`] queue; the worker
//! that owns the watching connection moves the queue to its socket. A
//! queue holds at most [`QUEUE_BYTES`]: lines that do not fit are counted
//! and announced as `skipped=N` before the next line that does (as
//! memcached's logger does), so a watcher that stops reading costs a
//! bounded amount of memory and never slows the workers down.

mod lines;

pub use lines::{uri_encode, Eviction, Fetched, ItemGet, ItemStore};

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

/// Reads: `item_get` lines.
pub const FETCHERS: u8 = 1;
/// Writes: `item_store` lines.
pub const MUTATIONS: u8 = 2;
/// Evictions: `eviction` lines.
pub const EVICTIONS: u8 = 4;

/// memcached's `WATCHER_LIMIT`: watchers at once.
pub const WATCHER_LIMIT: usize = 20;

/// memcached's `LOGGER_WATCHER_BUF_SIZE`: bytes a watcher's queue holds.
pub const QUEUE_BYTES: usize = 256 * 1024;

/// The server's watchers.
#[derive(Debug, Default)]
pub struct Watch {
    /// The union of every watcher's kinds.
    mask: AtomicU8,
    /// The id of the last line formatted.
    gid: AtomicU64,
    watchers: Mutex<Vec<Arc<Watcher>>>,
    /// Lines queued and lines skipped, over all watchers
    /// (`log_watcher_sent`, `log_watcher_skipped`).
    sent: AtomicU64,
    skipped: AtomicU64,
}

/// One watching connection's queue.
#[derive(Debug)]
pub struct Watcher {
    kinds: u8,
    queue: Mutex<Queue>,
}

/// Watchers are told apart by identity.
impl PartialEq for Watcher {
    fn eq(&self, other: &Watcher) -> bool {
        std::ptr::eq(self, other)
    }
}

#[derive(Debug, Default)]
struct Queue {
    bytes: Vec<u8>,
    /// Lines dropped since the last one queued.
    skipped: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Watch {
    /// Whether anyone watches `kind` (one of [`FETCHERS`], [`MUTATIONS`],
    /// [`EVICTIONS`]).
    #[inline]
    pub fn wants(&self, kind: u8) -> bool {
        self.mask.load(Ordering::Relaxed) & kind != 0
    }

    /// A new watcher of `kinds`; `None` when [`WATCHER_LIMIT`] watch
    /// already.
    pub fn add(&self, kinds: u8) -> Option<Arc<Watcher>> {
        let mut watchers = lock(&self.watchers);
        if watchers.len() >= WATCHER_LIMIT {
            return None;
        }
        let watcher = Arc::new(Watcher {
            kinds,
            queue: Mutex::new(Queue::default()),
        });
        watchers.push(watcher.clone());
        self.update_mask(&watchers);
        // memcached's logger takes a line id for each new watcher.
        self.gid.fetch_add(1, Ordering::Relaxed);
        Some(watcher)
    }

    /// Stops feeding `watcher` (its connection closed).
    pub fn remove(&self, watcher: &Arc<Watcher>) {
        let mut watchers = lock(&self.watchers);
        watchers.retain(|w| !Arc::ptr_eq(w, watcher));
        self.update_mask(&watchers);
    }

    fn update_mask(&self, watchers: &[Arc<Watcher>]) {
        let mask = watchers.iter().fold(0, |m, w| m | w.kinds);
        self.mask.store(mask, Ordering::Relaxed);
    }

    /// How many connections watch (`log_watchers`).
    pub fn count(&self) -> usize {
        lock(&self.watchers).len()
    }

    /// Lines queued for watchers, and lines dropped because a watcher's
    /// queue was full (`log_watcher_sent`, `log_watcher_skipped`).
    pub fn totals(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.skipped.load(Ordering::Relaxed),
        )
    }

    /// An `item_get` line, for those who watch fetchers.
    pub fn item_get(&self, event: &ItemGet<'_>) {
        self.publish(FETCHERS, |out| event.write(out));
    }

    /// An `item_store` line, for those who watch mutations.
    pub fn item_store(&self, event: &ItemStore<'_>) {
        self.publish(MUTATIONS, |out| event.write(out));
    }

    /// An `eviction` line, for those who watch evictions.
    pub fn eviction(&self, event: &Eviction<'_>) {
        self.publish(EVICTIONS, |out| event.write(out));
    }

    #[cold]
    fn publish(&self, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
        let watchers: Vec<Arc<Watcher>> = lock(&self.watchers)
            .iter()
            .filter(|w| w.kinds & kind != 0)
            .cloned()
            .collect();
        if watchers.is_empty() {
            return;
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let gid = self.gid.fetch_add(1, Ordering::Relaxed) + 1;
        let mut line = Vec::with_capacity(160);
        lines::prefix(&mut line, now.as_secs(), now.subsec_micros(), gid);
        body(&mut line);
        for w in watchers {
            if w.offer(&line) {
                self.sent.fetch_add(1, Ordering::Relaxed);
            } else {
                self.skipped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Watcher {
    /// Queues `line`, after a `skipped=N` line if earlier ones were
    /// dropped; false (and counted as skipped) when the queue is full.
    fn offer(&self, line: &[u8]) -> bool {
        let mut q = lock(&self.queue);
        // Room for the line and a `skipped=` line before it.
        if q.bytes.len() + line.len() + 32 > QUEUE_BYTES {
            q.skipped += 1;
            return false;
        }
        if q.skipped > 0 {
            let skipped = std::mem::take(&mut q.skipped);
            q.bytes
                .extend_from_slice(format!("skipped={skipped}\n").as_bytes());
        }
        q.bytes.extend_from_slice(line);
        true
    }

    /// Moves the queued lines to the end of `out`.
    pub fn drain_into(&self, out: &mut Vec<u8>) {
        let mut q = lock(&self.queue);
        if out.is_empty() {
            // Hand the queue's buffer over instead of copying it.
            std::mem::swap(out, &mut q.bytes);
        } else {
            out.append(&mut q.bytes);
        }
        q.bytes.shrink_to(4096);
    }

    /// Bytes queued now.
    pub fn queued(&self) -> usize {
        lock(&self.queue).bytes.len()
    }
}

#[cfg(test)]
mod tests;

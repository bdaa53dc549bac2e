//! Hot keys: each worker offers the keys of one request in [`SAMPLE`]
//! (reads and writes apart) to a Space-Saving sketch of its own (Metwally et al.: a bounded
//! table of counters; an unseen key takes over the smallest counter, so
//! any key counted more often than `samples / capacity` is in the table
//! and no count is underestimated). Readers merge every worker's sketches.
//!
//! Rates come from two windows of [`WINDOW`] seconds: the one being
//! filled and the one before, so an estimate covers between one and two
//! windows of the recent past and a key that cooled off leaves the list.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// The keys of one request in this many are offered to the sketch. The
/// choice is made before anything else is read (the clock, the keys), so
/// the other requests pay one counter update.
pub const SAMPLE: u64 = 64;

/// Seconds per window.
pub const WINDOW: u32 = 10;

/// Counters per sketch for `n` tracked keys: a margin over `n` keeps the
/// top `n` accurate when many keys are about as warm as the last of them.
fn capacity(n: usize) -> usize {
    (n * 4).max(64)
}

/// Whether a key was read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// get, gat, touch.
    Read,
    /// set and the other stores, delete, incr, decr.
    Write,
}

/// A Space-Saving sketch: at most `capacity` keys with their counts.
#[derive(Debug, Default)]
struct SpaceSaving {
    index: HashMap<Box<[u8]>, usize, ahash::RandomState>,
    counts: Vec<(Box<[u8]>, u64)>,
}

impl SpaceSaving {
    fn offer(&mut self, key: &[u8], capacity: usize) {
        if let Some(&i) = self.index.get(key) {
            self.counts[i].1 += 1;
            return;
        }
        if self.counts.len() < capacity {
            self.index.insert(key.into(), self.counts.len());
            self.counts.push((key.into(), 1));
            return;
        }
        // Replace the smallest counter; the newcomer inherits its count.
        let Some((i, _)) = self.counts.iter().enumerate().min_by_key(|(_, e)| e.1) else {
            return;
        };
        let old = std::mem::replace(&mut self.counts[i].0, key.into());
        self.index.remove(&old);
        self.index.insert(key.into(), i);
        self.counts[i].1 += 1;
    }

    fn clear(&mut self) {
        self.index.clear();
        self.counts.clear();
    }
}

/// A window's sketches.
#[derive(Debug, Default)]
struct Window {
    start: u32,
    reads: SpaceSaving,
    writes: SpaceSaving,
}

impl Window {
    fn sketch(&mut self, access: Access) -> &mut SpaceSaving {
        match access {
            Access::Read => &mut self.reads,
            Access::Write => &mut self.writes,
        }
    }
}

#[derive(Debug, Default)]
struct Windows {
    current: Window,
    previous: Window,
}

impl Windows {
    /// Moves to the window holding `now`.
    fn roll(&mut self, now: u32) {
        let elapsed = now.saturating_sub(self.current.start);
        if elapsed < WINDOW {
            return;
        }
        std::mem::swap(&mut self.current, &mut self.previous);
        self.current.reads.clear();
        self.current.writes.clear();
        if elapsed >= 2 * WINDOW {
            // Nothing arrived for a whole window: the old one is stale too.
            self.previous.reads.clear();
            self.previous.writes.clear();
            self.current.start = now;
        } else {
            self.current.start = self.previous.start + WINDOW;
        }
        self.previous.start = self.current.start.saturating_sub(WINDOW);
    }
}

/// One worker's hot-key sketches.
#[derive(Debug, Default)]
pub struct HotKeys {
    /// Keys tracked; 0 is off.
    tracked: AtomicUsize,
    /// Requests seen, to pick one in [`SAMPLE`]. Only the owning worker
    /// writes.
    seen: AtomicU64,
    windows: Mutex<Windows>,
}

impl HotKeys {
    /// Tracks the `n` hottest keys (0 turns tracking off).
    pub fn enable(&self, n: usize) {
        self.tracked.store(n, Ordering::Relaxed);
    }

    /// Keys tracked (0: off).
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }

    /// Whether keys should be offered.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.tracked.load(Ordering::Relaxed) > 0
    }

    /// Counts a request; true for one in [`SAMPLE`], whose keys the caller
    /// then [`record`](Self::record)s. Only the owning worker calls this.
    #[inline]
    pub fn sampled(&self) -> bool {
        let seen = self.seen.load(Ordering::Relaxed).wrapping_add(1);
        self.seen.store(seen, Ordering::Relaxed);
        seen.is_multiple_of(SAMPLE)
    }

    /// Counts an access to `key` at relative time `now` as one request of
    /// one key: [`sampled`](Self::sampled), then [`record`](Self::record).
    #[inline]
    pub fn offer(&self, key: &[u8], access: Access, now: u32) {
        if self.sampled() {
            self.record(key, access, now);
        }
    }

    /// Puts an access to `key` of a sampled request in the sketch.
    pub fn record(&self, key: &[u8], access: Access, now: u32) {
        let capacity = capacity(self.tracked.load(Ordering::Relaxed));
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        w.roll(now);
        w.current.sketch(access).offer(key, capacity);
    }

    /// Adds this worker's estimated accesses per key (both windows) into
    /// `reads` and `writes`, and returns the seconds they cover.
    fn merge_into(&self, now: u32, reads: &mut Tally, writes: &mut Tally) -> u32 {
        let mut w = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        w.roll(now);
        for window in [&w.previous, &w.current] {
            for (key, n) in &window.reads.counts {
                *reads.entry(key.clone()).or_default() += n * SAMPLE;
            }
            for (key, n) in &window.writes.counts {
                *writes.entry(key.clone()).or_default() += n * SAMPLE;
            }
        }
        now.saturating_sub(w.previous.start)
    }
}

type Tally = HashMap<Box<[u8]>, u64>;

/// A key's estimated rate.
#[derive(Debug, Clone, PartialEq)]
pub struct HotKey {
    /// The key.
    pub key: Box<[u8]>,
    /// Estimated accesses per second.
    pub per_second: f64,
}

/// The merged estimates of every worker.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct HotKeysReport {
    /// The hottest keys read, hottest first.
    pub reads: Vec<HotKey>,
    /// The hottest keys written, hottest first.
    pub writes: Vec<HotKey>,
    /// The hottest keys read or written (rates added), hottest first.
    pub all: Vec<HotKey>,
}

/// Merges `workers`' sketches at relative time `now` into the `n` hottest
/// keys read, written and either. Locks each worker's sketch briefly.
pub fn report<'a>(workers: impl Iterator<Item = &'a HotKeys>, n: usize, now: u32) -> HotKeysReport {
    let (mut reads, mut writes) = (Tally::default(), Tally::default());
    let mut span = 1;
    for w in workers {
        span = span.max(w.merge_into(now, &mut reads, &mut writes));
    }
    let mut all = reads.clone();
    for (k, v) in &writes {
        *all.entry(k.clone()).or_default() += v;
    }
    let top = |tally: Tally| {
        let mut v: Vec<(Box<[u8]>, u64)> = tally.into_iter().collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v.into_iter()
            .map(|(key, count)| HotKey {
                key,
                per_second: count as f64 / f64::from(span),
            })
            .collect()
    };
    HotKeysReport {
        reads: top(reads),
        writes: top(writes),
        all: top(all),
    }
}

/// A key as it can be shown on a `STAT` line or in a label: printable
/// ASCII other than space, `%` and `"` as is, any other byte as `%XX`.
pub fn printable(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len());
    for &b in key {
        if b.is_ascii_graphic() && b != b'%' && b != b'"' && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_n(h: &HotKeys, key: &[u8], access: Access, n: u64, now: u32) {
        for _ in 0..n {
            h.offer(key, access, now);
        }
    }

    #[test]
    fn space_saving_keeps_the_heavy_hitters_in_a_bounded_table() {
        let mut s = SpaceSaving::default();
        for i in 0..10_000u32 {
            s.offer(format!("cold{i}").as_bytes(), 8);
            if i % 4 == 0 {
                s.offer(b"hot", 8);
            }
        }
        assert_eq!(s.counts.len(), 8);
        assert_eq!(s.index.len(), 8);
        let top = s.counts.iter().max_by_key(|e| e.1).unwrap();
        assert_eq!(&*top.0, b"hot");
        assert!(top.1 >= 2500, "never underestimated: {}", top.1);
    }

    #[test]
    fn workers_merge_and_rank_reads_and_writes_apart() {
        let (a, b) = (HotKeys::default(), HotKeys::default());
        a.enable(2);
        b.enable(2);
        offer_n(&a, b"r1", Access::Read, 10 * SAMPLE, 5);
        offer_n(&b, b"r1", Access::Read, 10 * SAMPLE, 5);
        offer_n(&a, b"r2", Access::Read, 2 * SAMPLE, 5);
        offer_n(&b, b"w1", Access::Write, 4 * SAMPLE, 5);
        offer_n(&b, b"r3", Access::Read, SAMPLE, 5);
        let r = report([&a, &b].into_iter(), 2, 10);
        let keys = |v: &[HotKey]| v.iter().map(|h| h.key.to_vec()).collect::<Vec<_>>();
        assert_eq!(keys(&r.reads), [b"r1".to_vec(), b"r2".to_vec()]);
        assert_eq!(keys(&r.writes), [b"w1".to_vec()]);
        assert_eq!(keys(&r.all), [b"r1".to_vec(), b"w1".to_vec()]);
        // 20 * SAMPLE reads of r1 over the 10 s since the previous window began.
        assert_eq!(r.reads[0].per_second, (2 * SAMPLE) as f64);
    }

    #[test]
    fn a_key_that_cools_off_leaves_after_two_windows() {
        let h = HotKeys::default();
        h.enable(4);
        offer_n(&h, b"old", Access::Read, 64, 1);
        assert_eq!(report([&h].into_iter(), 4, 1 + WINDOW).reads.len(), 1);
        assert!(report([&h].into_iter(), 4, 1 + 2 * WINDOW).reads.is_empty());
        offer_n(&h, b"new", Access::Write, 64, 100);
        let r = report([&h].into_iter(), 4, 101);
        assert!(r.reads.is_empty());
        assert_eq!(&*r.writes[0].key, b"new");
    }

    #[test]
    fn off_until_enabled() {
        let h = HotKeys::default();
        assert!(!h.is_on());
        h.enable(3);
        assert!(h.is_on());
    }

    #[test]
    fn keys_are_shown_printable() {
        assert_eq!(printable(b"user:1"), "user:1");
        assert_eq!(printable(b"a b\r\n%\""), "a%20b%0D%0A%25%22");
    }
}

//! Request latency histograms per command kind, kept by each worker for
//! itself (single-writer counters, no locked instruction) and summed when
//! read. Buckets are powers of two of microseconds, from 1 µs to about one
//! second, plus one for anything slower. Recording is off until
//! [`Latency::enable`]: then each request costs two clock reads.

use super::counters::Counter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What a request was, for its latency histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// get, gets, gat, gats and their binary and meta forms.
    Get,
    /// Every storage command (set, add, replace, append, prepend, cas).
    Set,
    /// delete.
    Delete,
    /// incr and decr.
    Incr,
    /// touch.
    Touch,
    /// Everything else (stats, version, flush_all, …).
    Other,
}

impl CommandKind {
    /// Every kind, in [`CommandKind::index`] order.
    pub const ALL: [CommandKind; KINDS] = [
        CommandKind::Get,
        CommandKind::Set,
        CommandKind::Delete,
        CommandKind::Incr,
        CommandKind::Touch,
        CommandKind::Other,
    ];

    /// The `command` label value.
    pub fn name(self) -> &'static str {
        match self {
            CommandKind::Get => "get",
            CommandKind::Set => "set",
            CommandKind::Delete => "delete",
            CommandKind::Incr => "incr_decr",
            CommandKind::Touch => "touch",
            CommandKind::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many command kinds there are.
pub const KINDS: usize = 6;

/// Finite buckets: upper bounds 2^0 .. 2^20 microseconds.
pub const FINITE_BUCKETS: usize = 21;

/// Buckets including the last, unbounded one.
pub const BUCKETS: usize = FINITE_BUCKETS + 1;

/// The upper bound of finite bucket `i`, in seconds.
pub fn upper_bound_seconds(i: usize) -> f64 {
    (1u64 << i) as f64 * 1e-6
}

/// The bucket a duration falls in: the first whose bound it does not exceed.
fn bucket(d: Duration) -> usize {
    // u64 arithmetic: u128 division is a library call on the hot path.
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let micros = nanos.div_ceil(1000);
    if micros <= 1 {
        return 0;
    }
    let i = (u64::BITS - (micros - 1).leading_zeros()) as usize;
    i.min(BUCKETS - 1)
}

/// One worker's histograms.
#[derive(Debug, Default)]
pub struct Latency {
    on: AtomicBool,
    counts: [[Counter; BUCKETS]; KINDS],
    sum_nanos: [Counter; KINDS],
}

impl Latency {
    /// Starts recording.
    pub fn enable(&self) {
        self.on.store(true, Ordering::Relaxed);
    }

    /// Whether requests should be timed.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Records one request. Only the owning worker calls this.
    #[inline]
    pub fn record(&self, kind: CommandKind, took: Duration) {
        let k = kind.index();
        self.counts[k][bucket(took)].incr();
        self.sum_nanos[k].add(took.as_nanos() as u64);
    }

    /// Copies the current values.
    pub fn snapshot(&self) -> LatencySnapshot {
        let mut s = LatencySnapshot::default();
        for k in 0..KINDS {
            for b in 0..BUCKETS {
                s.counts[k][b] = self.counts[k][b].get();
            }
            s.sum_nanos[k] = self.sum_nanos[k].get();
        }
        s
    }
}

/// A copy of [`Latency`] (or a sum of them).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LatencySnapshot {
    /// Requests per kind per bucket (not cumulative).
    pub counts: [[u64; BUCKETS]; KINDS],
    /// Total time per kind, in nanoseconds.
    pub sum_nanos: [u64; KINDS],
}

impl LatencySnapshot {
    /// Field-wise sum.
    pub fn plus(mut self, o: &LatencySnapshot) -> LatencySnapshot {
        for k in 0..KINDS {
            for b in 0..BUCKETS {
                self.counts[k][b] = self.counts[k][b].wrapping_add(o.counts[k][b]);
            }
            self.sum_nanos[k] = self.sum_nanos[k].wrapping_add(o.sum_nanos[k]);
        }
        self
    }

    /// Requests of `kind` recorded.
    pub fn count(&self, kind: CommandKind) -> u64 {
        self.counts[kind.index()].iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_of_microseconds() {
        let us = Duration::from_micros;
        assert_eq!(bucket(Duration::ZERO), 0);
        assert_eq!(bucket(us(1)), 0);
        assert_eq!(bucket(Duration::from_nanos(1001)), 1);
        assert_eq!(bucket(us(2)), 1);
        assert_eq!(bucket(us(3)), 2);
        assert_eq!(bucket(us(4)), 2);
        assert_eq!(bucket(us(5)), 3);
        assert_eq!(bucket(us(1 << 20)), 20);
        assert_eq!(bucket(us((1 << 20) + 1)), BUCKETS - 1);
        assert_eq!(bucket(Duration::from_secs(3600)), BUCKETS - 1);
        assert_eq!(upper_bound_seconds(20), 1.048576);
    }

    #[test]
    fn snapshots_add_up() {
        let a = Latency::default();
        let b = Latency::default();
        a.record(CommandKind::Get, Duration::from_micros(3));
        a.record(CommandKind::Get, Duration::from_micros(3));
        b.record(CommandKind::Get, Duration::from_micros(100));
        b.record(CommandKind::Set, Duration::from_micros(1));
        let s = a.snapshot().plus(&b.snapshot());
        assert_eq!(s.count(CommandKind::Get), 3);
        assert_eq!(s.count(CommandKind::Set), 1);
        assert_eq!(s.count(CommandKind::Delete), 0);
        assert_eq!(s.counts[0][2], 2);
        assert_eq!(s.counts[0][7], 1, "100 µs is in (64, 128]");
        assert_eq!(s.sum_nanos[0], 106_000);
        assert!(!a.is_on(), "off until enabled");
    }
}

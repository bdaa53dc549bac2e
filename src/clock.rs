//! A coarse server clock, as memcached keeps one: seconds since start-up,
//! advanced by a timer thread so the hot path reads one atomic instead of
//! calling `time()`.
//!
//! Times inside the store are *relative* `u32` seconds. Relative time starts
//! at 2, so that 0 can mean "never expires" and 1 "already expired".

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Expiry times up to this many seconds are relative; larger ones are Unix times.
pub const REALTIME_MAXDELTA: i64 = 60 * 60 * 24 * 30;

/// Relative time of the first tick.
const START: u32 = 2;

/// Relative time an already-expired item gets.
pub const EXPIRED: u32 = 1;

/// The coarse clock.
#[derive(Debug)]
pub struct Clock {
    started: Instant,
    /// Unix time at which relative time was 0.
    process_started: i64,
    now: AtomicU32,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    /// A clock reading relative time 2 now.
    pub fn new() -> Clock {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Clock {
            started: Instant::now(),
            process_started: unix - START as i64,
            now: AtomicU32::new(START),
        }
    }

    /// Current relative time in seconds.
    #[inline]
    pub fn now(&self) -> u32 {
        self.now.load(Ordering::Relaxed)
    }

    /// Re-reads the monotonic clock; called by the timer thread.
    pub fn tick(&self) {
        let secs = self
            .started
            .elapsed()
            .as_secs()
            .min(u32::MAX as u64 - START as u64) as u32;
        self.now.fetch_max(secs + START, Ordering::Relaxed);
    }

    /// Moves the clock forward (tests only need this).
    pub fn advance(&self, secs: u32) {
        self.now.fetch_add(secs, Ordering::Relaxed);
    }

    /// Current Unix time as the server sees it.
    pub fn unix_now(&self) -> i64 {
        self.process_started + self.now() as i64
    }

    /// Seconds the server has been up.
    pub fn uptime(&self) -> u32 {
        self.now() - START
    }

    /// Converts a protocol expiry (0 = never, ≤ 30 days = relative seconds,
    /// larger = Unix time, negative = already expired) to relative time,
    /// exactly as memcached's `realtime()` does.
    pub fn realtime(&self, exptime: i64) -> u32 {
        if exptime == 0 {
            0
        } else if exptime < 0 {
            EXPIRED
        } else if exptime > REALTIME_MAXDELTA {
            if exptime <= self.process_started {
                EXPIRED
            } else {
                (exptime - self.process_started).min(u32::MAX as i64) as u32
            }
        } else {
            (exptime + self.now() as i64).min(u32::MAX as i64) as u32
        }
    }

    /// Whether an item with relative expiry `exptime` has expired.
    #[inline]
    pub fn is_expired(&self, exptime: u32) -> bool {
        exptime != 0 && exptime <= self.now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_rules() {
        let c = Clock::new();
        assert_eq!(c.realtime(0), 0);
        assert_eq!(c.realtime(-1), EXPIRED);
        assert_eq!(c.realtime(10), c.now() + 10);
        assert_eq!(
            c.realtime(REALTIME_MAXDELTA),
            c.now() + REALTIME_MAXDELTA as u32
        );
        // An absolute time in the past is already expired.
        assert_eq!(c.realtime(REALTIME_MAXDELTA + 1), EXPIRED);
        let in_a_minute = c.unix_now() + 60;
        assert_eq!(c.realtime(in_a_minute), c.now() + 60);
        assert!(c.is_expired(EXPIRED));
        assert!(!c.is_expired(0));
    }

    #[test]
    fn advance_expires() {
        let c = Clock::new();
        let t = c.realtime(5);
        assert!(!c.is_expired(t));
        c.advance(5);
        assert!(c.is_expired(t));
    }
}

//! Turning on and reading the optional per-worker instruments (latency
//! histograms, hot-key sketches) across all workers.

use super::hotkeys::{self, HotKeysReport};
use super::latency::LatencySnapshot;
use super::server::ServerStats;

impl ServerStats {
    /// Turns on latency histograms (`latency`) and hot-key tracking of
    /// `hotkeys` keys (0: off) in every worker.
    pub fn observe(&self, latency: bool, hotkeys: usize) {
        for w in self.workers() {
            if latency {
                w.latency.enable();
            }
            w.hot.enable(hotkeys);
        }
    }

    /// Whether latency histograms are recorded.
    pub fn latency_on(&self) -> bool {
        self.workers().any(|w| w.latency.is_on())
    }

    /// Every worker's latency histograms summed.
    pub fn latency(&self) -> LatencySnapshot {
        self.workers().fold(LatencySnapshot::default(), |acc, w| {
            acc.plus(&w.latency.snapshot())
        })
    }

    /// The hottest keys at relative time `now`, or `None` when hot-key
    /// tracking is off.
    pub fn hot_keys(&self, now: u32) -> Option<HotKeysReport> {
        let n = self.workers().map(|w| w.hot.tracked()).max().unwrap_or(0);
        (n > 0).then(|| hotkeys::report(self.workers().map(|w| &w.hot), n, now))
    }
}

#[cfg(test)]
mod tests {
    use crate::metrics::{Access, CommandKind, ServerStats};
    use std::time::Duration;

    #[test]
    fn instruments_are_off_until_observed_and_summed_over_workers() {
        let s = ServerStats::new(2, 0);
        assert!(!s.latency_on());
        assert!(s.hot_keys(0).is_none());
        s.observe(true, 5);
        assert!(s.latency_on());
        s.worker(0)
            .latency
            .record(CommandKind::Get, Duration::from_micros(2));
        s.worker(1)
            .latency
            .record(CommandKind::Get, Duration::from_micros(2));
        assert_eq!(s.latency().count(CommandKind::Get), 2);
        for _ in 0..crate::metrics::hotkeys::SAMPLE {
            s.worker(1).hot.offer(b"k", Access::Read, 3);
        }
        let r = s.hot_keys(3).expect("on");
        assert_eq!(&*r.all[0].key, b"k");
    }
}

//! memcached's per-prefix statistics (`stats detail on|off|dump`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// What `stats detail` records about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// A read, and whether it hit.
    Get(bool),
    /// A storage command.
    Set,
    /// A delete.
    Delete,
}

/// memcached's per-prefix statistics (`stats detail on|off|dump`): counts
/// per key prefix (up to the first delimiter, `-D`), kept only while enabled.
#[derive(Debug)]
pub struct PrefixStats {
    enabled: AtomicBool,
    delimiter: u8,
    /// prefix → [gets, hits, sets, deletes]
    counts: Mutex<BTreeMap<Vec<u8>, [u64; 4]>>,
}

/// memcached's default `stat_key_prefix` delimiter.
const PREFIX_DELIMITER: u8 = b':';

impl Default for PrefixStats {
    fn default() -> Self {
        PrefixStats::new(PREFIX_DELIMITER, false)
    }
}

impl PrefixStats {
    /// Prefixes end at `delimiter`; recording starts on if `enabled`.
    pub fn new(delimiter: u8, enabled: bool) -> PrefixStats {
        PrefixStats {
            enabled: AtomicBool::new(enabled),
            delimiter,
            counts: Mutex::default(),
        }
    }

    /// Turns recording on or off (recorded counts are kept).
    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// Whether recording is on.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Records an operation on `key`; keys without a prefix are not counted.
    #[inline]
    pub fn record(&self, key: &[u8], what: Detail) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        let Some(end) = key.iter().position(|&b| b == self.delimiter) else {
            return;
        };
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let c = counts.entry(key[..end].to_vec()).or_default();
        match what {
            Detail::Get(hit) => {
                c[0] += 1;
                c[1] += u64::from(hit);
            }
            Detail::Set => c[2] += 1,
            Detail::Delete => c[3] += 1,
        }
    }

    /// Forgets every prefix (`stats reset`, as memcached's
    /// `stats_prefix_clear`); recording stays on or off as it was.
    pub fn clear(&self) {
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The `PREFIX ...` lines of `stats detail dump` (sorted by prefix).
    pub fn dump(&self) -> Vec<String> {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .iter()
            .map(|(p, c)| {
                format!(
                    "PREFIX {} get {} hit {} set {} del {}",
                    String::from_utf8_lossy(p),
                    c[0],
                    c[1],
                    c[2],
                    c[3]
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_forgets_prefixes_and_keeps_recording() {
        let p = PrefixStats::new(b':', true);
        p.record(b"a:1", Detail::Set);
        assert_eq!(p.dump().len(), 1);
        p.clear();
        assert!(p.dump().is_empty());
        assert!(p.is_enabled());
        p.record(b"b:1", Detail::Delete);
        assert_eq!(p.dump(), ["PREFIX b get 0 hit 0 set 0 del 1"]);
    }

    #[test]
    fn detail_counts_by_prefix_while_enabled() {
        let d = PrefixStats::default();
        d.record(b"a:1", Detail::Set);
        assert!(d.dump().is_empty(), "off by default");
        d.set_enabled(true);
        d.record(b"a:1", Detail::Get(true));
        d.record(b"a:2", Detail::Get(false));
        d.record(b"a:2", Detail::Delete);
        d.record(b"noprefix", Detail::Set);
        assert_eq!(
            d.dump(),
            vec!["PREFIX a get 2 hit 1 set 0 del 1".to_string()]
        );
    }

    #[test]
    fn detail_prefix_ends_at_the_configured_delimiter() {
        let d = PrefixStats::new(b'#', true);
        d.record(b"a#1", Detail::Set);
        d.record(b"b:1", Detail::Set);
        assert_eq!(
            d.dump(),
            vec!["PREFIX a get 0 hit 0 set 1 del 0".to_string()]
        );
    }
}

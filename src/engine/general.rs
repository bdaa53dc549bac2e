//! The general `stats` listing: every field memcached 1.6 prints, in its
//! order, each value read with its description from where it is counted
//! (the workers' counters, the connection figures, the store's totals), or
//! from the process and settings here. Fields for machinery ferrocache does
//! not have are described as such and read 0.

use super::context::Context;
use crate::metrics::{Kind, Metric};
use std::fmt;

/// memcached 1.6's `stats` fields, in its order.
const GENERAL: &[&str] = &[
    "pid",
    "uptime",
    "time",
    "version",
    "libevent",
    "pointer_size",
    "rusage_user",
    "rusage_system",
    "max_connections",
    "curr_connections",
    "total_connections",
    "rejected_connections",
    "connection_structures",
    "response_obj_oom",
    "response_obj_count",
    "response_obj_bytes",
    "read_buf_count",
    "read_buf_bytes",
    "read_buf_bytes_free",
    "read_buf_oom",
    "reserved_fds",
    "cmd_get",
    "cmd_set",
    "cmd_flush",
    "cmd_touch",
    "cmd_meta",
    "get_hits",
    "get_misses",
    "get_expired",
    "get_flushed",
    "delete_misses",
    "delete_hits",
    "incr_misses",
    "incr_hits",
    "decr_misses",
    "decr_hits",
    "cas_misses",
    "cas_hits",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "store_too_large",
    "store_no_memory",
    "auth_cmds",
    "auth_errors",
    "idle_kicks",
    "bytes_read",
    "bytes_written",
    "limit_maxbytes",
    "accepting_conns",
    "listen_disabled_num",
    "time_in_listen_disabled_us",
    "threads",
    "conn_yields",
    "hash_power_level",
    "hash_bytes",
    "hash_is_expanding",
    "slab_reassign_rescues",
    "slab_reassign_chunk_rescues",
    "slab_reassign_evictions_nomem",
    "slab_reassign_inline_reclaim",
    "slab_reassign_busy_items",
    "slab_reassign_busy_deletes",
    "slab_reassign_running",
    "slabs_moved",
    "lru_crawler_running",
    "lru_crawler_starts",
    "lru_maintainer_juggles",
    "malloc_fails",
    "log_worker_dropped",
    "log_worker_written",
    "log_watcher_skipped",
    "log_watcher_sent",
    "log_watchers",
    "unexpected_napi_ids",
    "round_robin_fallback",
    "bytes",
    "curr_items",
    "total_items",
    "slab_global_page_pool",
    "expired_unfetched",
    "evicted_unfetched",
    "evicted_active",
    "evictions",
    "reclaimed",
    "crawler_reclaimed",
    "crawler_items_checked",
    "lrutail_reflocked",
    "moves_to_cold",
    "moves_to_warm",
    "moves_within_lru",
    "direct_reclaims",
    "lru_bumps_dropped",
];

const fn info(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Info,
        help,
    }
}

const fn gauge(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        help,
    }
}

const fn counter(name: &'static str, help: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        help,
    }
}

/// Figures about the process and its settings, read here.
const PROCESS: [Metric; 12] = [
    info("pid", "Process id"),
    gauge("uptime", "Seconds since the server started"),
    gauge("time", "The server's clock, as a Unix time"),
    info("version", "The memcached version whose protocol is served"),
    info("libevent", "The event library (mio here)"),
    info("pointer_size", "Bits in a pointer"),
    counter("rusage_user", "Seconds of user CPU time used"),
    counter("rusage_system", "Seconds of system CPU time used"),
    info("max_connections", "The connection limit (-c)"),
    gauge("accepting_conns", "1 while new connections are accepted"),
    info("threads", "Worker threads (-t)"),
    info(
        "hash_power_level",
        "log2 of the number of index lock stripes",
    ),
];

/// memcached figures for machinery ferrocache does not have (a response
/// object pool, read buffer caches, listen back-off, the segmented LRU, the
/// LRU maintainer and the slab rebalancer thread, the logger, NAPI ids) or
/// does not serve yet (meta commands): always 0.
const ABSENT: [Metric; 29] = [
    gauge("response_obj_oom", "Always 0: no response object pool"),
    gauge("response_obj_count", "Always 0: no response object pool"),
    gauge("response_obj_bytes", "Always 0: no response object pool"),
    gauge(
        "read_buf_count",
        "Always 0: read buffers are per-worker pools",
    ),
    gauge(
        "read_buf_bytes",
        "Always 0: read buffers are per-worker pools",
    ),
    gauge(
        "read_buf_bytes_free",
        "Always 0: read buffers are per-worker pools",
    ),
    counter(
        "read_buf_oom",
        "Always 0: read buffers are per-worker pools",
    ),
    gauge("reserved_fds", "Always 0: no descriptors are reserved"),
    counter("listen_disabled_num", "Always 0: listening never pauses"),
    counter(
        "time_in_listen_disabled_us",
        "Always 0: listening never pauses",
    ),
    gauge("hash_is_expanding", "Always 0: the index grows per stripe"),
    counter("slab_reassign_rescues", "Always 0: no rebalancer thread"),
    counter(
        "slab_reassign_chunk_rescues",
        "Always 0: no rebalancer thread",
    ),
    counter(
        "slab_reassign_evictions_nomem",
        "Always 0: no rebalancer thread",
    ),
    counter(
        "slab_reassign_inline_reclaim",
        "Always 0: no rebalancer thread",
    ),
    counter("slab_reassign_busy_items", "Always 0: no rebalancer thread"),
    counter(
        "slab_reassign_busy_deletes",
        "Always 0: no rebalancer thread",
    ),
    gauge("slab_reassign_running", "Always 0: no rebalancer thread"),
    gauge("lru_crawler_running", "Always 0: the crawler runs in ticks"),
    counter("lru_crawler_starts", "Always 0: the crawler runs in ticks"),
    counter("lru_maintainer_juggles", "Always 0: no LRU maintainer"),
    counter("malloc_fails", "Always 0: item memory is pages under -m"),
    counter(
        "log_worker_dropped",
        "Always 0: lines go straight to the watchers' queues",
    ),
    counter(
        "log_worker_written",
        "Always 0: lines go straight to the watchers' queues",
    ),
    counter("unexpected_napi_ids", "Always 0: no NAPI ids"),
    counter("round_robin_fallback", "Always 0: no NAPI ids"),
    counter("evicted_active", "Always 0: one flat LRU per class"),
    counter("moves_to_cold", "Always 0: one flat LRU per class"),
    counter("moves_to_warm", "Always 0: one flat LRU per class"),
];

/// What memcached prints under `-Z`, after `log_watchers`
/// (`ssl_new_sessions` only with `ssl_session_cache`).
const TLS: [Metric; 3] = [
    counter(
        "ssl_new_sessions",
        "TLS sessions stored for resumption (ssl_session_cache)",
    ),
    counter("ssl_handshake_errors", "TLS handshakes that failed"),
    gauge(
        "time_since_server_cert_refresh",
        "Seconds since the certificates were (re)loaded",
    ),
];

/// The `watch` figures.
const WATCH: [Metric; 3] = [
    counter(
        "log_watcher_skipped",
        "Log lines dropped because a watcher's queue was full",
    ),
    counter("log_watcher_sent", "Log lines queued for watchers"),
    gauge("log_watchers", "Connections watching (watch)"),
];

/// `lru_bumps_dropped` sits after the store's figures in memcached's order.
const BUMPS_DROPPED: Metric = counter("lru_bumps_dropped", "Always 0: bumps are never queued");

/// A statistic's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// A number.
    Number(u64),
    /// Text (a version, CPU seconds as memcached prints them).
    Text(String),
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reading::Number(n) => write!(f, "{n}"),
            Reading::Text(t) => f.write_str(t),
        }
    }
}

/// Every figure of the general listing with its description, from every
/// source, in no particular order.
pub fn readings(ctx: &Context<'_>) -> Vec<(&'static Metric, Reading)> {
    let clock = ctx.store.clock();
    let (user, system) = rusage();
    let process = [
        Reading::Number(u64::from(std::process::id())),
        Reading::Number(u64::from(clock.uptime())),
        Reading::Number(clock.unix_now().max(0) as u64),
        Reading::Text(crate::MEMCACHED_VERSION.into()),
        Reading::Text("mio".into()),
        Reading::Number(u64::from(usize::BITS)),
        Reading::Text(user),
        Reading::Text(system),
        Reading::Number(ctx.settings.max_conns as u64),
        Reading::Number(1),
        Reading::Number(ctx.settings.threads as u64),
        Reading::Number(u64::from(ctx.store.stripe_count().trailing_zeros())),
    ];
    let number = |(m, v): (&'static Metric, u64)| (m, Reading::Number(v));
    let mut all: Vec<(&'static Metric, Reading)> = PROCESS.iter().zip(process).collect();
    all.extend(ctx.stats.readings().map(number));
    all.extend(ctx.stats.totals().readings().map(number));
    all.extend(ctx.store.stats().readings().map(number));
    all.extend(ABSENT.iter().map(|m| (m, Reading::Number(0))));
    all.push((&BUMPS_DROPPED, Reading::Number(0)));
    let (sent, skipped) = ctx.watch.totals();
    let watchers = ctx.watch.count() as u64;
    all.extend(WATCH.iter().zip([skipped, sent, watchers]).map(number));
    if let Some(tls) = ctx.tls {
        if let Some(n) = tls.new_sessions() {
            all.push((&TLS[0], Reading::Number(n)));
        }
        all.push((&TLS[1], Reading::Number(tls.handshake_errors())));
        all.push((&TLS[2], Reading::Number(tls.since_refresh())));
    }
    all
}

/// The `stats` lines, as (name, value) in memcached's order.
pub fn listing(ctx: &Context<'_>) -> Vec<(&'static str, Reading)> {
    let mut all = readings(ctx);
    let mut take = |name: &'static str| {
        let at = all.iter().position(|(m, _)| m.name == name);
        at.map(|i| (name, all.swap_remove(i).1))
    };
    let mut out = Vec::with_capacity(GENERAL.len() + TLS.len());
    for name in GENERAL {
        let reading = take(name);
        debug_assert!(reading.is_some(), "no source describes {name}");
        out.extend(reading);
        if *name == "log_watchers" {
            out.extend(TLS.iter().filter_map(|m| take(m.name)));
        }
    }
    out
}

/// CPU time used by this process (user, system) as memcached prints it.
fn rusage() -> (String, String) {
    // /proc/self/stat fields 14 and 15 are utime and stime in clock ticks,
    // which Linux always reports at USER_HZ = 100 per second.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fmt = |t: u64| format!("{}.{:06}", t / 100, (t % 100) * 10_000);
    (fmt(ticks(11)), fmt(ticks(12)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::metrics::{Counters, ServerStats};
    use crate::store::{Store, StoreConfig};

    /// Every field memcached prints has exactly one description, and
    /// every description the listing reads is printed: nothing is shown
    /// undescribed or described unshown, whichever file declares it.
    #[test]
    fn every_field_is_described_once_and_every_description_is_listed() {
        let store = Store::new(StoreConfig::default());
        let settings = Settings::default();
        let stats = ServerStats::new(1, 0);
        let counters = Counters::default();
        let ctx = Context {
            store: &store,
            settings: &settings,
            stats: &stats,
            cluster: None,
            counters: &counters,
            tls: None,
            watch: &Default::default(),
            client: 0,
        };
        let all = readings(&ctx);
        for name in GENERAL {
            let n = all.iter().filter(|(m, _)| m.name == *name).count();
            assert_eq!(n, 1, "{name} is described {n} times");
        }
        let extra: Vec<&str> = all
            .iter()
            .map(|(m, _)| m.name)
            .filter(|name| !GENERAL.contains(name))
            .collect();
        // The store's slab totals belong to `stats slabs`.
        assert_eq!(extra, ["total_malloced", "active_slabs"]);
        assert_eq!(listing(&ctx).len(), GENERAL.len());
        assert!(all.iter().all(|(m, _)| !m.help.is_empty()));
    }
}

//! `-o`: memcached 1.6's extended options, every key its 1.6.18 build
//! accepts (with TLS and extstore compiled in, as Debian ships it), plus
//! ferrocache's own `slab_page_size` and the `cluster_` keys
//! (auto-discovery's node sources, `docs/autodiscovery.md`).
//!
//! Each key is one of three kinds:
//! - it works here (`idle_timeout`, `slab_automove`, `track_sizes`, …);
//! - what it asks for is already how ferrocache behaves (`modern`,
//!   `maxconns_fast`, …): accepted, with one info line;
//! - ferrocache has nothing it could act on (`hashpower`, `ext_*`, …): accepted, with one warning at start-up, so a memcached command line
//!   still starts and the operator learns what is not in effect.
//!
//! The `ssl_*` keys are read in `ssl.rs`.
//!
//! Values are checked as memcached checks them (a `hashpower` memcached
//! refuses is refused here too); an unknown key is an error.

use super::{parse_size, Settings};

/// A line to log once the logger is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// `Warn` for what has no effect, `Info` for what is already so.
    pub level: log::Level,
    /// The line.
    pub text: String,
}

impl Notice {
    /// A warning line.
    pub fn warn(text: impl Into<String>) -> Notice {
        Notice {
            level: log::Level::Warn,
            text: text.into(),
        }
    }

    /// An info line.
    pub fn info(text: impl Into<String>) -> Notice {
        Notice {
            level: log::Level::Info,
            text: text.into(),
        }
    }
}

/// What an option's value must look like.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// No value needed (one given is ignored, as memcached's getsubopt does).
    Flag,
    /// A whole number in `min..=max`.
    Int(u64, u64),
    /// A number `x` with `lo < x <= hi`.
    Float(f64, f64),
    /// Any non-empty text.
    Text,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Sizes joined by `-` (`slab_sizes=96-192-384`).
    SizeList,
}

const U32: Check = Check::Int(0, u32::MAX as u64);

const LRU: &str =
    "the LRU is one queue per slab class (no hot/warm/cold segments, no LRU maintainer thread)";
const HASH: &str = "the index is a lock-striped ahash table that grows by itself";
const MOVER: &str = "slab automove's thresholds are fixed (ratio 0.80, window 30)";
const CRAWLER: &str = "the LRU crawler's pace is fixed";
const CHUNKS: &str =
    "slab classes come from -n and -f, and larger items are chunked at the largest class";
const LOGS: &str = "each watcher's queue holds 256 KiB and workers keep no log buffers";
const BUFFERS: &str = "read and write buffers are pooled per worker without a global limit";
const EXTSTORE: &str =
    "external storage (extstore) is not implemented: items live in -m memory only";

/// Keys accepted without effect: name, value check, why nothing changes.
const NO_EFFECT: &[(&str, Check, &str)] = &[
    ("no_maxconns_fast", Check::Flag, "a connection over -c is always told `ERROR Too many open connections` and closed at once (maxconns_fast)"),
    ("hashpower", Check::Int(12, 32), HASH),
    ("no_hashexpand", Check::Flag, HASH),
    ("slab_automove_ratio", Check::Float(0.0, 1.0), MOVER),
    ("slab_automove_window", Check::Int(3, u32::MAX as u64), MOVER),
    ("tail_repair_time", Check::Int(10, u32::MAX as u64), "items are never pinned, so the LRU tail never needs repair"),
    ("hash_algorithm", Check::OneOf(&["jenkins", "murmur3", "xxh3"]), HASH),
    ("lru_crawler_sleep", Check::Int(0, 1_000_000), CRAWLER),
    ("lru_crawler_tocrawl", U32, CRAWLER),
    ("lru_maintainer", Check::Flag, LRU),
    ("hot_lru_pct", Check::Int(1, 79), LRU),
    ("warm_lru_pct", Check::Int(1, 79), LRU),
    ("hot_max_factor", Check::Float(0.0, f64::MAX), LRU),
    ("warm_max_factor", Check::Float(0.0, f64::MAX), LRU),
    ("temporary_ttl", U32, LRU),
    ("watcher_logbuf_size", U32, LOGS),
    ("worker_logbuf_size", U32, LOGS),
    ("slab_sizes", Check::SizeList, CHUNKS),
    ("slab_chunk_max", U32, CHUNKS),
    ("no_chunked_items", Check::Flag, CHUNKS),
    ("inline_ascii_resp", Check::Flag, "memcached 1.6 ignores it too"),
    ("drop_privileges", Check::Flag, "there is no seccomp sandbox; use -u and the systemd hardening in docs/operations.md"),
    ("no_drop_privileges", Check::Flag, "there is no seccomp sandbox to turn off"),
    ("resp_obj_mem_limit", Check::Flag, "memcached 1.6 deprecated it (see read_buf_mem_limit)"),
    ("read_buf_mem_limit", U32, BUFFERS),
    ("sock_cookie_id", U32, "listening sockets get no SO_MARK; firewall on the address and port instead"),
    ("ext_page_size", U32, EXTSTORE),
    ("ext_wbuf_size", U32, EXTSTORE),
    ("ext_threads", U32, EXTSTORE),
    ("ext_io_depth", U32, EXTSTORE),
    ("ext_path", Check::Text, EXTSTORE),
    ("ext_item_size", U32, EXTSTORE),
    ("ext_item_age", U32, EXTSTORE),
    ("ext_low_ttl", U32, EXTSTORE),
    ("ext_recache_rate", U32, EXTSTORE),
    ("ext_compact_under", U32, EXTSTORE),
    ("ext_drop_under", U32, EXTSTORE),
    ("ext_max_sleep", U32, EXTSTORE),
    ("ext_max_frag", Check::Float(f64::MIN, f64::MAX), EXTSTORE),
    ("ext_drop_unread", Check::Flag, EXTSTORE),
    ("slab_automove_freeratio", Check::Float(f64::MIN, f64::MAX), EXTSTORE),
];

/// Keys whose request is already how ferrocache works: name and why.
const ALREADY: &[(&str, &str)] = &[
    ("modern", "memcached 1.6's defaults are ferrocache's"),
    (
        "maxconns_fast",
        "a connection over -c is told `ERROR Too many open connections` and closed at once",
    ),
    ("slab_reassign", "the slab page mover is always available"),
    (
        "no_lru_maintainer",
        "the LRU is one queue per slab class, without a maintainer thread",
    ),
    (
        "no_inline_ascii_resp",
        "replies are never stored inside items",
    ),
];

/// The TLS keys (`ssl.rs`).
const SSL: [&str; 10] = [
    "ssl_chain_cert",
    "ssl_key",
    "ssl_verify_mode",
    "ssl_keyformat",
    "ssl_ciphers",
    "ssl_ca_cert",
    "ssl_wbuf_size",
    "ssl_session_cache",
    "ssl_kernel_tls",
    "ssl_min_version",
];

/// Every `-o` key accepted, for `--help`-style listings and tests.
pub fn known_keys() -> impl Iterator<Item = &'static str> {
    const OWN: [&str; 15] = [
        "idle_timeout",
        "slab_page_size",
        "slab_automove",
        "no_slab_automove",
        "no_slab_reassign",
        "track_sizes",
        "lru_crawler",
        "no_lru_crawler",
        "no_modern",
        "cluster_nodes",
        "cluster_dns",
        "cluster_dns_server",
        "cluster_dns_interval",
        "cluster_admin",
        "cluster_state",
    ];
    OWN.into_iter()
        .chain(SSL.iter().copied())
        .chain(ALREADY.iter().map(|(k, _)| *k))
        .chain(NO_EFFECT.iter().map(|(k, _, _)| *k))
}

/// Applies one `-o key[=value]`.
pub(super) fn apply(s: &mut Settings, option: &str) -> Result<(), String> {
    let (key, value) = match option.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (option, None),
    };
    if super::observe::apply(s, key, value)? {
        return Ok(());
    }
    match key {
        "" => {}
        "idle_timeout" => s.idle_timeout = int(key, value, 0, u32::MAX as u64)? as u32,
        "slab_page_size" => {
            let size = parse_size(required(key, value)?)? as usize;
            if !size.is_power_of_two() || !(64 * 1024..=256 << 20).contains(&size) {
                return Err(format!(
                    "slab_page_size {value:?}: give a power of two from 64k to 256m"
                ));
            }
            s.slab_page_size = size;
        }
        // memcached: a bare `slab_automove` means mode 1.
        "slab_automove" => s.slab_automove = int(key, value.or(Some("1")), 0, 2)? as u8,
        "no_slab_automove" => s.slab_automove = 0,
        "track_sizes" => s.track_sizes = true,
        "lru_crawler" => s.lru_crawler = true,
        "no_lru_crawler" => s.lru_crawler = false,
        "cluster_nodes" => s.cluster_nodes = Some(required(key, value)?.into()),
        "cluster_dns" => s.cluster_dns = Some(required(key, value)?.into()),
        "cluster_dns_server" => {
            let addr = required(key, value)?;
            s.cluster_dns_server = Some(addr.parse().map_err(|_| {
                format!("cluster_dns_server {addr:?}: give ADDR:PORT, e.g. 10.96.0.10:53 or [fd00::a]:53")
            })?);
        }
        "cluster_dns_interval" => s.cluster_dns_interval = int(key, value, 1, 86_400)? as u32,
        "cluster_admin" => s.cluster_admin = true,
        "cluster_state" => s.cluster_state = Some(required(key, value)?.into()),
        "no_slab_reassign" => {
            s.slab_automove = 0;
            notice(s, log::Level::Warn, option, "slab automove is off, but a slab class with no page still takes one from the pool and `slabs reassign` still works");
        }
        "no_modern" => {
            s.slab_automove = 0;
            s.lru_crawler = false;
            notice(s, log::Level::Warn, option, "slab automove and the LRU crawler are off; the rest of memcached 1.4's defaults (no maxconns_fast, jenkins hash, unsegmented LRU) do not apply or are already so");
        }
        _ if key.starts_with("ssl_") => {
            match super::ssl::apply(&mut s.ssl, &mut s.notices, key, value) {
                Some(result) => result?,
                None => {
                    return Err(format!(
                        "Illegal suboption \"{option}\" (docs/operations.md lists the -o keys)"
                    ))
                }
            }
        }
        _ => {
            if let Some((_, why)) = ALREADY.iter().find(|(k, _)| *k == key) {
                notice(s, log::Level::Info, option, &format!("already so: {why}"));
            } else if let Some((_, check, why)) = NO_EFFECT.iter().find(|(k, _, _)| *k == key) {
                validate(key, value, *check)?;
                notice(
                    s,
                    log::Level::Warn,
                    option,
                    &format!("no effect here: {why}"),
                );
            } else {
                return Err(format!(
                    "Illegal suboption \"{option}\" (docs/operations.md lists the -o keys)"
                ));
            }
        }
    }
    Ok(())
}

fn notice(s: &mut Settings, level: log::Level, option: &str, text: &str) {
    s.notices.push(Notice {
        level,
        text: format!("-o {option}: {text}"),
    });
}

fn required<'a>(key: &str, value: Option<&'a str>) -> Result<&'a str, String> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("Missing {key} argument: give {key}=VALUE"))
}

fn int(key: &str, value: Option<&str>, min: u64, max: u64) -> Result<u64, String> {
    let v = required(key, value)?;
    v.parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{key}={v}: give a whole number from {min} to {max}"))
}

fn validate(key: &str, value: Option<&str>, check: Check) -> Result<(), String> {
    match check {
        Check::Flag => {}
        Check::Int(min, max) => {
            int(key, value, min, max)?;
        }
        Check::Float(lo, hi) => {
            let v = required(key, value)?;
            match v.parse::<f64>().ok().filter(|x| x.is_finite()) {
                Some(x) if x > lo && x <= hi => {}
                Some(_) if hi == 1.0 => return Err(format!("{key}={v}: must be > 0 and <= 1")),
                Some(_) => return Err(format!("{key}={v}: must be > {lo}")),
                None => return Err(format!("could not parse argument to {key}: {v:?}")),
            }
        }
        Check::Text => {
            required(key, value)?;
        }
        Check::OneOf(words) => {
            let v = required(key, value)?;
            if !words.contains(&v) {
                return Err(format!("{key}={v}: give one of {}", words.join(", ")));
            }
        }
        Check::SizeList => {
            let v = required(key, value)?;
            if v.split('-')
                .any(|n| n.parse::<u32>().map_or(true, |n| n == 0))
            {
                return Err(format!(
                    "{key}={v}: give chunk sizes joined by '-' (slab_sizes=96-192-384)"
                ));
            }
        }
    }
    Ok(())
}

//! Executes a parsed [`Request`] against the [`Store`], producing
//! [`Response`]s. Shared by every protocol; knows no bytes and no sockets.

use crate::config::Settings;
use crate::protocol::{Payload, Reply, Request, Response, StatsGroup};
use crate::stats::{Counters, Detail, ServerStats};
use crate::store::{
    Delta, DeltaOp, Lookup, Reassign, Store, StoreMode, StoreOutcome, KEY_MAX_LENGTH,
};
use std::sync::atomic::Ordering;

/// Everything a request may touch.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The item store.
    pub store: &'a Store,
    /// Start-up settings.
    pub settings: &'a Settings,
    /// Server-wide statistics.
    pub stats: &'a ServerStats,
    /// The executing worker's counters.
    pub counters: &'a Counters,
}

/// What the connection must do after the replies are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Carry on.
    None,
    /// Close this connection once its replies are written (`quit`).
    Close,
    /// Close this connection and shut the server down (`shutdown`).
    Shutdown,
    /// A multi-get stopped because the reply sink is full: this many bytes
    /// of its key list were answered; run it again for the rest.
    Paused(usize),
}

/// memcached's `MAX_VERBOSITY_LEVEL`.
const MAX_VERBOSITY: u32 = 2;

/// Executes one request.
pub fn execute(req: &Request<'_>, ctx: &Context<'_>, out: &mut dyn Reply) -> Effect {
    let c = ctx.counters;
    match *req {
        Request::Get { keys, cas, touch } => {
            // memcached reads the keys before a too-long one (counting and
            // touching them) but then sends only the error.
            let too_long = if keys.byte_len() <= KEY_MAX_LENGTH {
                None // a short list cannot hold a long key: skip the scan
            } else {
                keys.iter().position(|k| k.len() > KEY_MAX_LENGTH)
            };
            if let Some(bad) = too_long {
                // memcached reads the keys before a too-long one (counting
                // and touching them) but then sends only the error.
                for key in keys.iter().take(bad) {
                    read_key(ctx, key, touch, |_| {});
                }
                out.reply(Response::ClientError("bad command line format"));
                return Effect::None;
            }
            for (i, key) in keys.iter().enumerate() {
                if i > 0 && !out.has_room() {
                    // Bounded memory: let the client read before going on.
                    return Effect::Paused(keys.offset_of(key));
                }
                let found = read_key(ctx, key, touch, |item| {
                    out.reply(Response::Value {
                        key: item.key,
                        flags: item.flags,
                        data: item.value,
                        cas: cas.then_some(item.cas),
                    })
                });
                if found != Lookup::Hit {
                    out.reply(Response::Miss { key });
                }
            }
            out.reply(Response::End);
        }
        Request::Store {
            mode,
            key,
            flags,
            exptime,
            cas,
            payload,
            ..
        } => {
            ctx.stats.detail.record(key, Detail::Set);
            let (data, terminated) = match payload {
                Payload::Data { data, terminated } => (data, terminated),
                Payload::Oversize => (&[][..], false),
            };
            let too_large = matches!(payload, Payload::Oversize)
                || !ctx.store.item_fits(key.len(), data.len(), flags);
            let outcome = if too_large {
                // Refused before the data counts as read (no cmd_set).
                if mode == StoreMode::Set {
                    // A failed set must not leave the old value readable.
                    ctx.store.delete(key);
                }
                StoreOutcome::TooLarge
            } else {
                // memcached counts a set once its data block has been read.
                c.cmd_set.incr();
                if !terminated {
                    out.reply(Response::ClientError("bad data chunk"));
                    return Effect::None;
                }
                ctx.store.store(mode, key, flags, exptime, data, cas).0
            };
            out.reply(match outcome {
                StoreOutcome::Stored => {
                    if mode == StoreMode::Cas {
                        c.cas_hits.incr();
                    }
                    Response::Stored
                }
                StoreOutcome::NotStored => Response::NotStored,
                StoreOutcome::Exists => {
                    c.cas_badval.incr();
                    Response::Exists
                }
                StoreOutcome::NotFound => {
                    c.cas_misses.incr();
                    Response::NotFound
                }
                StoreOutcome::TooLarge => {
                    c.store_too_large.incr();
                    Response::ServerError("object too large for cache")
                }
                StoreOutcome::NoMemory => {
                    c.store_no_memory.incr();
                    Response::ServerError("out of memory storing object")
                }
            });
        }
        Request::Delete { key, .. } => {
            ctx.stats.detail.record(key, Detail::Delete);
            if ctx.store.delete(key) == Lookup::Hit {
                c.delete_hits.incr();
                out.reply(Response::Deleted);
            } else {
                c.delete_misses.incr();
                out.reply(Response::NotFound);
            }
        }
        Request::Delta { key, op, delta, .. } => {
            let (hits, misses) = match op {
                DeltaOp::Incr => (&c.incr_hits, &c.incr_misses),
                DeltaOp::Decr => (&c.decr_hits, &c.decr_misses),
            };
            out.reply(match ctx.store.delta(key, op, delta) {
                Delta::Value(v) => {
                    hits.incr();
                    Response::Number(v)
                }
                Delta::NotFound => {
                    misses.incr();
                    Response::NotFound
                }
                Delta::NonNumeric => {
                    Response::ClientError("cannot increment or decrement non-numeric value")
                }
                Delta::NoMemory => Response::ServerError("out of memory"),
            });
        }
        Request::Touch { key, exptime, .. } => {
            c.cmd_touch.incr();
            if ctx.store.touch(key, exptime) == Lookup::Hit {
                c.touch_hits.incr();
                out.reply(Response::Touched);
            } else {
                c.touch_misses.incr();
                out.reply(Response::NotFound);
            }
        }
        Request::FlushAll { delay, .. } => {
            c.cmd_flush.incr();
            if !ctx.settings.flush_enabled {
                out.reply(Response::ClientError("flush_all not allowed"));
            } else {
                ctx.store.flush_all(delay);
                out.reply(Response::Ok);
            }
        }
        Request::Version => out.reply(Response::Version(crate::MEMCACHED_VERSION)),
        Request::Verbosity { level, .. } => {
            let level = level.min(MAX_VERBOSITY);
            ctx.stats.verbosity.store(level, Ordering::Relaxed);
            log::set_max_level(crate::log_level(level));
            out.reply(Response::Ok);
        }
        Request::CacheMemlimit { megabytes, .. } => {
            out.reply(if megabytes < 8 {
                Response::Line("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m")
            } else if megabytes > 1_000_000_000 {
                Response::Line("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes")
            } else {
                ctx.store.set_limit(megabytes as usize * 1024 * 1024);
                Response::Ok
            });
        }
        Request::Shutdown { valid, .. } => {
            if !ctx.settings.shutdown_command {
                out.reply(Response::Line("ERROR: shutdown not enabled"));
            } else if !valid {
                out.reply(Response::ClientError("invalid shutdown mode"));
            } else {
                return Effect::Shutdown;
            }
        }
        Request::Stats(group) => return stats(group, ctx, out),
        Request::SlabsReassign { src, dst } => {
            let id = |v: i32| u8::try_from(v).unwrap_or(0);
            out.reply(Response::Line(match ctx.store.reassign(id(src), id(dst)) {
                Reassign::Ok => "OK",
                Reassign::Busy => "BUSY currently processing reassign request",
                Reassign::BadClass => "BADCLASS invalid src or dst class id",
                Reassign::NoSpare => "NOSPARE source class has no spare pages",
                Reassign::Same => "SAME src and dst class are identical",
            }));
        }
        Request::SlabsAutomove { mode, .. } => {
            if mode > 2 {
                out.reply(Response::Error);
            } else {
                ctx.store.set_automove(mode as u8);
                out.reply(Response::Ok);
            }
        }
        Request::Quit => return Effect::Close,
    }
    Effect::None
}

/// Looks one key of a read up (`f` sees a hit's item), counting it as a get
/// (or a touch, for gat) and in `stats detail`.
fn read_key(
    ctx: &Context<'_>,
    key: &[u8],
    touch: Option<i64>,
    f: impl FnOnce(crate::store::ItemRef<'_>),
) -> Lookup {
    let found = ctx.store.get(key, touch, f);
    count_get(ctx.counters, touch.is_some(), found);
    ctx.stats
        .detail
        .record(key, Detail::Get(found == Lookup::Hit));
    found
}

fn count_get(c: &Counters, touch: bool, found: Lookup) {
    if touch {
        c.cmd_touch.incr();
        if found == Lookup::Hit {
            c.touch_hits.incr();
        } else {
            c.touch_misses.incr();
        }
    } else {
        c.cmd_get.incr();
        if found == Lookup::Hit {
            c.get_hits.incr();
        } else {
            c.get_misses.incr();
        }
    }
    match found {
        Lookup::Expired => c.get_expired.incr(),
        Lookup::Flushed => c.get_flushed.incr(),
        _ => {}
    }
}

fn stats(group: StatsGroup<'_>, ctx: &Context<'_>, out: &mut dyn Reply) -> Effect {
    match group {
        StatsGroup::General => crate::stats_report::general(ctx, out),
        StatsGroup::Settings => crate::stats_report::settings(ctx, out),
        StatsGroup::Items => crate::stats_report::items(ctx, out),
        StatsGroup::Slabs => crate::stats_report::slabs(ctx, out),
        StatsGroup::Sizes => match ctx.store.size_histogram() {
            Some(buckets) => {
                for (size, count) in buckets {
                    out.reply(Response::Stat(&size.to_string(), &count));
                }
            }
            None => out.reply(Response::Stat("sizes_status", &"disabled")),
        },
        StatsGroup::Conns => {
            for (name, value) in ctx.stats.conn_rows(ctx.store.clock().now()) {
                out.reply(Response::Stat(&name, &value));
            }
        }
        StatsGroup::Reset => {
            ctx.stats.reset();
            ctx.store.reset_stats();
            out.reply(Response::Reset);
            return Effect::None;
        }
        StatsGroup::Detail(arg) => {
            match arg {
                Some(b"on") => {
                    ctx.stats.detail.set_enabled(true);
                    out.reply(Response::Ok);
                }
                Some(b"off") => {
                    ctx.stats.detail.set_enabled(false);
                    out.reply(Response::Ok);
                }
                Some(b"dump") => {
                    for line in ctx.stats.detail.dump() {
                        out.reply(Response::Line(&line));
                    }
                    out.reply(Response::End);
                }
                _ => out.reply(Response::ClientError("usage: stats detail on|off|dump")),
            }
            return Effect::None;
        }
        StatsGroup::Unknown(_) => {
            out.reply(Response::Error);
            return Effect::None;
        }
    }
    out.reply(Response::End);
    Effect::None
}

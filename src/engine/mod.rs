//! The engine: executes a model [`Request`] against the store with
//! memcached's semantics and emits model [`Response`]s into a [`Reply`]
//! sink. Shared by every protocol; knows no bytes and no sockets.

mod context;
pub mod general;
mod listing;

pub use context::Context;

use crate::metrics::{Counters, Detail};
use crate::model::{
    Command, DeltaMode, Error, Item, Payload, Pieces, Reply, Request, Response, StoreMode, Value,
    KEY_MAX_LENGTH,
};
use crate::store::{self, Delta, DeltaOp, Lookup, Reassign, StoreOutcome};
use std::sync::atomic::Ordering;

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

/// The chunks after the first of a value lent by the store.
impl Pieces for store::Value<'_> {
    fn for_each_after_first(&self, f: &mut dyn FnMut(&[u8])) {
        self.pieces().skip(1).for_each(f)
    }
}

/// Executes one request.
pub fn execute(req: &Request<'_>, ctx: &Context<'_>, out: &mut dyn Reply) -> Effect {
    let c = ctx.counters;
    match req.command {
        Command::Get { keys, touch } => {
            // memcached reads the keys before a too-long one (counting and
            // touching them) but then sends only the error.
            let too_long = if keys.byte_len() <= KEY_MAX_LENGTH {
                None // a short list cannot hold a long key: skip the scan
            } else {
                keys.iter().position(|k| k.len() > KEY_MAX_LENGTH)
            };
            if let Some(bad) = too_long {
                for key in keys.iter().take(bad) {
                    read_key(ctx, key, touch, |_| {});
                }
                out.reply(Response::Error(Error::Client("bad command line format")));
                return Effect::None;
            }
            for (i, key) in keys.iter().enumerate() {
                if i > 0 && !out.has_room() {
                    // Bounded memory: let the client read before going on.
                    return Effect::Paused(keys.offset_of(key));
                }
                let found = read_key(ctx, key, touch, |item| {
                    let value = &item.value;
                    out.reply(Response::Value(Item {
                        key: item.key,
                        flags: item.flags,
                        cas: item.cas,
                        value: Value::chained(value.len(), value.first(), value),
                    }))
                });
                if found != Lookup::Hit {
                    out.reply(Response::Miss { key });
                }
            }
            out.reply(Response::End);
        }
        Command::Store {
            mode,
            key,
            flags,
            exptime,
            cas,
            payload,
        } => {
            ctx.stats.detail.record(key, Detail::Set);
            let (data, terminated) = match payload {
                Payload::Data { data, terminated } => (data, terminated),
                Payload::Oversize => (&[][..], false),
            };
            let mode = store_mode(mode);
            let too_large = matches!(payload, Payload::Oversize)
                || !ctx.store.item_fits(key.len(), data.len(), flags);
            let (outcome, new_cas) = if too_large {
                // Refused before the data counts as read (no cmd_set).
                if mode == store::StoreMode::Set {
                    // A failed set must not leave the old value readable.
                    ctx.store.delete(key);
                }
                (StoreOutcome::TooLarge, 0)
            } else {
                // memcached counts a set once its data block has been read.
                c.cmd_set.incr();
                if !terminated {
                    out.reply(Response::Error(Error::BadDataChunk));
                    return Effect::None;
                }
                ctx.store.store(mode, key, flags, exptime, data, cas)
            };
            out.reply(store_response(c, mode, outcome, new_cas));
        }
        Command::Delete { key, .. } => {
            ctx.stats.detail.record(key, Detail::Delete);
            if ctx.store.delete(key) == Lookup::Hit {
                c.delete_hits.incr();
                out.reply(Response::Deleted);
            } else {
                c.delete_misses.incr();
                out.reply(Response::NotFound);
            }
        }
        Command::Delta {
            key, mode, delta, ..
        } => {
            let (op, hits, misses) = match mode {
                DeltaMode::Incr => (DeltaOp::Incr, &c.incr_hits, &c.incr_misses),
                DeltaMode::Decr => (DeltaOp::Decr, &c.decr_hits, &c.decr_misses),
            };
            out.reply(match ctx.store.delta(key, op, delta) {
                Delta::Value(value) => {
                    hits.incr();
                    Response::Number { value, cas: 0 }
                }
                Delta::NotFound => {
                    misses.incr();
                    Response::NotFound
                }
                Delta::NonNumeric => Response::Error(Error::NonNumeric),
                Delta::NoMemory => Response::Error(Error::Server("out of memory")),
            });
        }
        Command::Touch { key, exptime } => {
            c.cmd_touch.incr();
            if ctx.store.touch(key, exptime) == Lookup::Hit {
                c.touch_hits.incr();
                out.reply(Response::Touched);
            } else {
                c.touch_misses.incr();
                out.reply(Response::NotFound);
            }
        }
        Command::FlushAll { delay } => {
            c.cmd_flush.incr();
            if !ctx.settings.flush_enabled {
                out.reply(Response::Error(Error::Client("flush_all not allowed")));
            } else {
                ctx.store.flush_all(delay);
                out.reply(Response::Ok);
            }
        }
        Command::Version => out.reply(Response::Version(crate::MEMCACHED_VERSION)),
        Command::Verbosity { level } => {
            let level = level.min(MAX_VERBOSITY);
            ctx.stats.verbosity.store(level, Ordering::Relaxed);
            log::set_max_level(crate::log_level(level));
            out.reply(Response::Ok);
        }
        Command::CacheMemlimit { megabytes } => {
            out.reply(if megabytes < 8 {
                Response::Line("MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m")
            } else if megabytes > 1_000_000_000 {
                Response::Line("MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes")
            } else {
                ctx.store.set_limit(megabytes as usize * 1024 * 1024);
                Response::Ok
            });
        }
        Command::Shutdown { valid, .. } => {
            if !ctx.settings.shutdown_command {
                out.reply(Response::Line("ERROR: shutdown not enabled"));
            } else if !valid {
                out.reply(Response::Error(Error::Client("invalid shutdown mode")));
            } else {
                return Effect::Shutdown;
            }
        }
        Command::Stats(group) => listing::stats(group, ctx, out),
        Command::SlabsReassign { src, dst } => {
            let id = |v: i32| u8::try_from(v).unwrap_or(0);
            out.reply(Response::Line(match ctx.store.reassign(id(src), id(dst)) {
                Reassign::Ok => "OK",
                Reassign::Busy => "BUSY currently processing reassign request",
                Reassign::BadClass => "BADCLASS invalid src or dst class id",
                Reassign::NoSpare => "NOSPARE source class has no spare pages",
                Reassign::Same => "SAME src and dst class are identical",
            }));
        }
        Command::SlabsAutomove { mode } => {
            if mode > 2 {
                out.reply(Response::Error(Error::UnknownCommand));
            } else {
                ctx.store.set_automove(mode as u8);
                out.reply(Response::Ok);
            }
        }
        Command::Noop => out.reply(Response::Ok),
        Command::Quit => return Effect::Close,
    }
    Effect::None
}

fn store_mode(mode: StoreMode) -> store::StoreMode {
    match mode {
        StoreMode::Set => store::StoreMode::Set,
        StoreMode::Add => store::StoreMode::Add,
        StoreMode::Replace => store::StoreMode::Replace,
        StoreMode::Append => store::StoreMode::Append,
        StoreMode::Prepend => store::StoreMode::Prepend,
        StoreMode::Cas => store::StoreMode::Cas,
    }
}

/// The reply to a store's outcome, counted.
fn store_response(
    c: &Counters,
    mode: store::StoreMode,
    outcome: StoreOutcome,
    cas: u64,
) -> Response<'static> {
    match outcome {
        StoreOutcome::Stored => {
            if mode == store::StoreMode::Cas {
                c.cas_hits.incr();
            }
            Response::Stored { cas }
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
            Response::Error(Error::TooLarge)
        }
        StoreOutcome::NoMemory => {
            c.store_no_memory.incr();
            Response::Error(Error::NoMemory)
        }
    }
}

/// Looks one key of a read up (`f` sees a hit's item), counting it as a get
/// (or a touch, for gat) and in `stats detail`.
fn read_key(
    ctx: &Context<'_>,
    key: &[u8],
    touch: Option<i64>,
    f: impl FnOnce(store::ItemRef<'_>),
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

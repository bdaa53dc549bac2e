//! The engine: executes a model [`Request`] against the store with
//! memcached's semantics and emits model [`Response`]s into a [`Reply`]
//! sink. Shared by every protocol; knows no bytes and no sockets.

mod context;
mod data;
mod discovery;
mod dump;
pub mod general;
mod listing;
mod observe;
mod watching;

pub use context::Context;

use crate::model::{Command, Error, Reply, Request, Response};
use crate::store::Reassign;
use std::sync::atomic::Ordering;

/// What the connection must do after the replies are written.
#[derive(Debug, Clone, PartialEq)]
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
    /// The connection now watches (`watch`): it takes no more commands and
    /// is sent what the watcher is fed.
    Watch(std::sync::Arc<crate::watch::Watcher>),
}

/// memcached's `MAX_VERBOSITY_LEVEL`.
const MAX_VERBOSITY: u32 = 2;

/// Executes one request, timing it and offering its keys to the hot-key
/// sketch when those instruments are on.
#[inline]
pub fn execute(req: &Request<'_>, ctx: &Context<'_>, out: &mut dyn Reply) -> Effect {
    let c = ctx.counters;
    if c.hot.is_on() {
        observe::offer_keys(req, ctx);
    }
    if !c.latency.is_on() {
        return run(req, ctx, out);
    }
    let start = std::time::Instant::now();
    let effect = run(req, ctx, out);
    c.latency
        .record(observe::kind(&req.command), start.elapsed());
    effect
}

fn run(req: &Request<'_>, ctx: &Context<'_>, out: &mut dyn Reply) -> Effect {
    let c = ctx.counters;
    match req.command {
        Command::Get { keys, touch, read } => return data::get(ctx, out, keys, touch, &read),
        Command::Store {
            mode,
            key,
            flags,
            exptime,
            cas,
            payload,
            write,
        } => data::store(
            ctx,
            out,
            &data::Store {
                mode,
                key,
                flags,
                exptime,
                cas,
                payload,
                write,
            },
        ),
        Command::Delete { key, cas, keep } => data::delete(ctx, out, key, cas, &keep),
        Command::Delta {
            key,
            mode,
            delta,
            create,
            cas,
            exptime,
            new_cas,
            order,
        } => data::delta(
            ctx,
            out,
            &data::Delta {
                key,
                mode,
                delta,
                create,
                cas,
                exptime,
                new_cas,
                order,
            },
        ),
        Command::Touch { key, exptime } => data::touch(ctx, out, key, exptime),
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
        Command::RefreshCerts => match ctx.tls {
            // memcached's words; its errors show even with noreply.
            None => out.reply(Response::Line("Error TLS not enabled")),
            Some(tls) => match tls.refresh() {
                Ok(()) => {
                    log::info!("refresh_certs: certificates reloaded");
                    out.reply(Response::Ok)
                }
                Err(line) => {
                    log::error!("refresh_certs: {line}");
                    out.reply(Response::Line(&line))
                }
            },
        },
        Command::ConfigGet { key } => discovery::config_get(ctx, out, key),
        Command::Dump(ref dump) => return dump::lru_dump(dump, ctx, out),
        Command::ConfigSet { key, payload, .. } => discovery::config_set(ctx, out, key, payload),
        Command::ConfigDelete { key } => discovery::config_delete(ctx, out, key),
        Command::Noop => out.reply(Response::Ok),
        Command::Inspect { key } => data::inspect(ctx, out, key),
        Command::Watch(args) => return watching::watch(args, ctx, out),
        Command::Quit => return Effect::Close,
    }
    Effect::None
}

#[cfg(test)]
mod tests;

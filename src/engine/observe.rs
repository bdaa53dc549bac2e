//! The optional instruments around [`super::execute`]: the latency of each
//! request by command kind, and the keys it reads or writes offered to the
//! worker's hot-key sketch. Each costs one relaxed load while off.

use super::context::Context;
use crate::metrics::{Access, CommandKind};
use crate::model::{Command, Request};

/// The latency histogram a command is counted in.
pub fn kind(command: &Command<'_>) -> CommandKind {
    match command {
        Command::Get { .. } => CommandKind::Get,
        Command::Store { .. } => CommandKind::Set,
        Command::Delete { .. } => CommandKind::Delete,
        Command::Delta { .. } => CommandKind::Incr,
        Command::Touch { .. } => CommandKind::Touch,
        _ => CommandKind::Other,
    }
}

/// Offers the keys `req` reads or writes to the worker's hot-key sketch,
/// when the sketch samples this request: the other requests read neither
/// the clock nor their keys.
#[inline]
pub fn offer_keys(req: &Request<'_>, ctx: &Context<'_>) {
    let hot = &ctx.counters.hot;
    if !hot.sampled() {
        return;
    }
    let now = ctx.store.clock().now();
    match req.command {
        Command::Get { keys, .. } => keys.iter().for_each(|k| hot.record(k, Access::Read, now)),
        Command::Touch { key, .. } => hot.record(key, Access::Read, now),
        Command::Store { key, .. } | Command::Delete { key, .. } | Command::Delta { key, .. } => {
            hot.record(key, Access::Write, now)
        }
        _ => {}
    }
}

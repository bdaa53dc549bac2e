//! `watch`: turns the connection into a log watcher, and the lines the
//! data commands offer to watchers (memcached's `item_get` for every read
//! and touch, `item_store` for every store). Each costs one relaxed load
//! while nobody watches.

use super::context::Context;
use super::Effect;
use crate::model::{Error, Reply, Response, WatchArgs};
use crate::store::{Lookup, StoreMode, StoreOutcome};
use crate::watch::{self, Fetched, ItemGet, ItemStore};

/// `watch [kinds]`: `OK` and [`Effect::Watch`], or memcached's refusals.
pub fn watch(args: WatchArgs, ctx: &Context<'_>, out: &mut dyn Reply) -> Effect {
    if !ctx.settings.watch_enabled {
        out.reply(Response::Error(Error::Client("watch commands not allowed")));
        return Effect::None;
    }
    let kinds = match args {
        WatchArgs::Unknown => {
            out.reply(Response::Error(Error::UnknownCommand));
            return Effect::None;
        }
        WatchArgs::Unsupported => {
            out.reply(Response::Error(Error::Client(
                "watch streams fetchers, mutations and evictions only",
            )));
            return Effect::None;
        }
        WatchArgs::Kinds {
            fetchers,
            mutations,
            evictions,
        } => [
            (fetchers, watch::FETCHERS),
            (mutations, watch::MUTATIONS),
            (evictions, watch::EVICTIONS),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |kinds, (_, kind)| kinds | kind),
    };
    match ctx.watch.add(kinds) {
        Some(watcher) => {
            out.reply(Response::Ok);
            Effect::Watch(watcher)
        }
        None => {
            out.reply(Response::Line("WATCHER_TOO_MANY log watcher limit reached"));
            Effect::None
        }
    }
}

/// An `item_get` line for a read or touch of `key` that found `found`
/// (`class` and `size` of the item, when there was one).
#[inline]
pub fn fetched(ctx: &Context<'_>, key: &[u8], found: Lookup, class: u8, size: usize) {
    if !ctx.watch.wants(watch::FETCHERS) {
        return;
    }
    let hit = found == Lookup::Hit;
    ctx.watch.item_get(&ItemGet {
        key,
        status: match found {
            Lookup::Hit => Fetched::Found,
            Lookup::Miss => Fetched::NotFound,
            Lookup::Expired => Fetched::Expired,
            Lookup::Flushed => Fetched::Flushed,
        },
        class: if hit { class } else { 0 },
        client: ctx.client,
        size: if hit { size } else { 0 },
    });
}

/// One store's fields for its `item_store` line.
pub struct Stored<'a> {
    /// The key.
    pub key: &'a [u8],
    /// The command.
    pub mode: StoreMode,
    /// What it did.
    pub outcome: StoreOutcome,
    /// The expiry the client gave.
    pub exptime: i64,
    /// The client flags (they take room in the item).
    pub flags: u32,
    /// The value's length after it (the whole value after an append).
    pub size: usize,
}

/// An `item_store` line for a store.
#[inline]
pub fn stored(ctx: &Context<'_>, s: &Stored<'_>) {
    if !ctx.watch.wants(watch::MUTATIONS) {
        return;
    }
    let clock = ctx.store.clock();
    let ttl = match s.exptime {
        0 => 0,
        e => clock.realtime(e).wrapping_sub(clock.now()),
    };
    ctx.watch.item_store(&ItemStore {
        key: s.key,
        status: match s.outcome {
            StoreOutcome::Stored => "stored",
            StoreOutcome::NotStored => "not_stored",
            StoreOutcome::Exists => "exists",
            StoreOutcome::NotFound => "not_found",
            StoreOutcome::TooLarge => "too_large",
            StoreOutcome::NoMemory => "no_memory",
        },
        command: match s.mode {
            StoreMode::Set => "set",
            StoreMode::Add => "add",
            StoreMode::Replace => "replace",
            StoreMode::Append => "append",
            StoreMode::Prepend => "prepend",
            StoreMode::Cas => "cas",
        },
        ttl,
        class: match s.outcome {
            StoreOutcome::TooLarge => 0,
            _ => ctx.store.class_of(s.key.len(), s.size, s.flags),
        },
        client: ctx.client,
        size: s.size,
    });
}

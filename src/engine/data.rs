//! The data commands (reads, stores, deletes, increments, touches) against
//! the store, with memcached's counting: each maps the model's options
//! onto the store's and the store's outcome onto responses.

use super::context::Context;
use super::watching::{self, Stored};
use super::Effect;
use crate::metrics::{ClassOp, Counters, Detail};
use crate::model::{
    Create, DeltaMode, Error, FlagOrder, Item, ItemMeta, KeepOptions, Keys, Lease, Payload, Pieces,
    ReadOptions, Reply, Response, StoreMode, Value, WriteOptions, KEY_MAX_LENGTH,
};
use crate::store::{
    self, DeleteOptions, DeleteOutcome, DeltaOp, DeltaOptions, DeltaOutcome, ExpiryOrder, ItemRef,
    Lookup, ReadMeta, StoreOptions, StoreOutcome, Token,
};

/// The chunks after the first of a value lent by the store.
impl Pieces for store::Value<'_> {
    fn for_each_after_first(&self, f: &mut dyn FnMut(&[u8])) {
        self.pieces().skip(1).for_each(f)
    }
}

/// A hit as the model lends it.
fn item<'a>(item: &'a ItemRef<'a>, meta: Option<ItemMeta>) -> Item<'a> {
    let value = &item.value;
    Item {
        key: item.key,
        flags: item.flags,
        cas: item.cas,
        value: Value::chained(value.len(), value.first(), value),
        meta,
    }
}

/// What a leased read reports, in the model's terms.
fn item_meta(meta: &ReadMeta) -> ItemMeta {
    ItemMeta {
        ttl: meta.ttl,
        last_access: meta.last_access,
        fetched: meta.fetched,
        stale: meta.stale,
        lease: match meta.token {
            Token::NotSent => Lease::None,
            Token::Won => Lease::Won,
            Token::AlreadySent => Lease::Taken,
        },
        binary_key: meta.binary_key,
        class: meta.class,
        size: meta.size,
    }
}

/// A meta command's flag order, in the store's terms.
fn expiry_order(order: FlagOrder) -> ExpiryOrder {
    ExpiryOrder {
        touch: order.touch,
        vivify: order.vivify,
        recache: order.recache,
        ttl: order.ttl,
    }
}

/// get / gets / gat / gats, binary gets, meta `mg`.
#[inline]
pub fn get(
    ctx: &Context<'_>,
    out: &mut dyn Reply,
    keys: Keys<'_>,
    touch: Option<i64>,
    read: &ReadOptions,
) -> Effect {
    // memcached reads the keys before a too-long one (counting and
    // touching them) but then sends only the error.
    let too_long = if keys.byte_len() <= KEY_MAX_LENGTH {
        None // a short list cannot hold a long key: skip the scan
    } else {
        keys.iter().position(|k| k.len() > KEY_MAX_LENGTH)
    };
    if let Some(bad) = too_long {
        for key in keys.iter().take(bad) {
            read_key(ctx, key, touch, read, |_| {});
        }
        out.reply(Response::Error(Error::Client("bad command line format")));
        return Effect::None;
    }
    for (i, key) in keys.iter().enumerate() {
        if i > 0 && !out.has_room() {
            // Bounded memory: let the client read before going on.
            return Effect::Paused(keys.offset_of(key));
        }
        if super::discovery::legacy_get(ctx, out, key) {
            continue;
        }
        let mut lent = false;
        read_key(ctx, key, touch, read, |hit| {
            lent = true;
            out.reply(Response::Value(hit))
        });
        if !lent {
            out.reply(Response::Miss { key });
        }
    }
    out.reply(Response::End);
    Effect::None
}

/// Looks one key of a read up (`f` sees what is lent: a hit, or an item
/// the read created), counting it as a get (or a touch, for gat) and in
/// `stats detail`.
fn read_key(
    ctx: &Context<'_>,
    key: &[u8],
    touch: Option<i64>,
    read: &ReadOptions,
    f: impl FnOnce(Item<'_>),
) -> Lookup {
    let (mut class, mut size) = (0, 0);
    // An item mg N created counts as a hit, in its class too.
    let mut created = false;
    let found = if read.leases {
        let options = store::ReadOptions {
            touch,
            no_bump: read.no_bump,
            vivify: read.vivify,
            recache: read.recache,
            new_cas: read.new_cas,
            order: expiry_order(read.order),
        };
        let found = ctx.store.read(key, &options, |hit, meta| {
            created = meta.created;
            (class, size) = (hit.class, hit.value.len());
            f(item(&hit, Some(item_meta(&meta))))
        });
        count_meta_get(ctx.counters, touch.is_some(), found, created);
        found
    } else {
        debug_assert_eq!(*read, ReadOptions::default(), "options need leases");
        let found = ctx.store.get(key, touch, |hit| {
            (class, size) = (hit.class, hit.value.len());
            f(item(&hit, None))
        });
        count_get(ctx.counters, touch.is_some(), found);
        found
    };
    if found == Lookup::Hit || created {
        let op = if touch.is_some() {
            ClassOp::TouchHit
        } else {
            ClassOp::GetHit
        };
        ctx.counters.classes.incr(class, op);
    }
    ctx.stats
        .detail
        .record(key, Detail::Get(found == Lookup::Hit));
    watching::fetched(ctx, key, found, class, size);
    found
}

/// How memcached counts a meta read (`mg`): an item it lends, found or
/// created by `N`, is a hit, a touch hit with `T`; no item is a get miss,
/// `T` or not.
fn count_meta_get(c: &Counters, touch: bool, found: Lookup, created: bool) {
    if found == Lookup::Hit || created {
        count_get(c, touch, Lookup::Hit);
        // The lookup that found the key expired or flushed still counts so.
        match found {
            Lookup::Expired => c.get_expired.incr(),
            Lookup::Flushed => c.get_flushed.incr(),
            _ => {}
        }
    } else {
        count_get(c, false, found);
    }
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

/// One store request's fields.
pub struct Store<'a> {
    /// How to store.
    pub mode: StoreMode,
    /// The key.
    pub key: &'a [u8],
    /// Client flags.
    pub flags: u32,
    /// Expiry as given.
    pub exptime: i64,
    /// CAS to compare.
    pub cas: u64,
    /// The value.
    pub payload: Payload<'a>,
    /// What else the store does.
    pub write: WriteOptions,
}

/// set / add / replace / append / prepend / cas, binary and meta stores.
#[inline]
pub fn store(ctx: &Context<'_>, out: &mut dyn Reply, s: &Store<'_>) {
    let c = ctx.counters;
    ctx.stats.detail.record(s.key, Detail::Set);
    let (data, terminated) = match s.payload {
        Payload::Data { data, terminated } => (data, terminated),
        Payload::Oversize => (&[][..], false),
    };
    let mode = store_mode(s.mode);
    let too_large = matches!(s.payload, Payload::Oversize)
        || !ctx.store.item_fits(s.key.len(), data.len(), s.flags);
    let (outcome, new_cas, len) = if too_large {
        // Refused before the data counts as read (no cmd_set).
        if mode == store::StoreMode::Set {
            // A failed set must not leave the old value readable.
            ctx.store.delete(s.key);
        }
        (StoreOutcome::TooLarge, 0, data.len())
    } else {
        // memcached counts a set once its data block has been read, per
        // class by the item the data was read into.
        c.cmd_set.incr();
        let class = ctx.store.class_of(s.key.len(), data.len(), s.flags);
        c.classes.incr(class, ClassOp::Set);
        if !terminated {
            out.reply(Response::Error(Error::BadDataChunk));
            return;
        }
        let options = StoreOptions {
            cas: s.cas,
            invalidate: s.write.invalidate,
            vivify: s.write.vivify,
            new_cas: s.write.new_cas,
            binary_key: s.write.binary_key,
        };
        let done = ctx
            .store
            .store_sized(mode, s.key, s.flags, s.exptime, data, &options);
        match done.0 {
            StoreOutcome::Stored if mode == store::StoreMode::Cas => {
                c.classes.incr(class, ClassOp::CasHit)
            }
            StoreOutcome::Exists => c.classes.incr(class, ClassOp::CasBadval),
            _ => {}
        }
        done
    };
    let failed = matches!(outcome, StoreOutcome::TooLarge | StoreOutcome::NoMemory);
    if failed && s.write.remove_on_failure && mode != store::StoreMode::Set {
        // meta ms removes the old value whatever the mode (set did already).
        ctx.store.delete(s.key);
    }
    watching::stored(
        ctx,
        &Stored {
            key: s.key,
            mode,
            outcome,
            exptime: s.exptime,
            flags: s.flags,
            size: len,
        },
    );
    out.reply(store_response(c, mode, outcome, new_cas, len));
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
    len: usize,
) -> Response<'static> {
    match outcome {
        StoreOutcome::Stored => {
            if mode == store::StoreMode::Cas {
                c.cas_hits.incr();
            }
            Response::Stored { cas, len }
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

/// delete, binary delete (with its CAS), meta `md`.
#[inline]
pub fn delete(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8], cas: u64, keep: &KeepOptions) {
    let c = ctx.counters;
    ctx.stats.detail.record(key, Detail::Delete);
    let options = DeleteOptions {
        cas,
        invalidate: keep.invalidate,
        empty: keep.empty,
        ttl: keep.exptime,
        flags: keep.flags,
        new_cas: keep.new_cas,
        compare_zero: keep.compare_zero,
    };
    out.reply(match ctx.store.delete_with(key, &options) {
        DeleteOutcome::Deleted { class } | DeleteOutcome::Kept { class, .. } => {
            if !(keep.meta_counts && keep.invalidate) {
                c.delete_hits.incr();
                c.classes.incr(class, ClassOp::DeleteHit);
            }
            Response::Deleted
        }
        DeleteOutcome::Exists => {
            if keep.meta_counts {
                c.delete_misses.incr();
            }
            Response::Exists
        }
        DeleteOutcome::Missing(_) => {
            c.delete_misses.incr();
            Response::NotFound
        }
        DeleteOutcome::NoMemory => Response::Error(Error::NoMemory),
    });
}

/// One increment or decrement's fields.
pub struct Delta<'a> {
    /// The key.
    pub key: &'a [u8],
    /// Up or down.
    pub mode: DeltaMode,
    /// By how much.
    pub delta: u64,
    /// Create a missing item.
    pub create: Option<Create>,
    /// CAS to compare.
    pub cas: u64,
    /// A new expiry once counted.
    pub exptime: Option<i64>,
    /// The item's CAS afterwards.
    pub new_cas: Option<u64>,
    /// Where `T`, `N` and `t` stood on an `ma` line.
    pub order: FlagOrder,
}

/// incr / decr, binary increment / decrement, meta `ma`.
#[inline]
pub fn delta(ctx: &Context<'_>, out: &mut dyn Reply, d: &Delta<'_>) {
    let c = ctx.counters;
    let (op, hits, misses, class_op) = match d.mode {
        DeltaMode::Incr => (
            DeltaOp::Incr,
            &c.incr_hits,
            &c.incr_misses,
            ClassOp::IncrHit,
        ),
        DeltaMode::Decr => (
            DeltaOp::Decr,
            &c.decr_hits,
            &c.decr_misses,
            ClassOp::DecrHit,
        ),
    };
    let options = DeltaOptions {
        cas: d.cas,
        vivify: d.create.map(|create| create.exptime),
        initial: d.create.map_or(0, |create| create.initial),
        ttl: d.exptime,
        new_cas: d.new_cas,
        order: expiry_order(d.order),
    };
    out.reply(match ctx.store.delta_with(d.key, op, d.delta, &options) {
        DeltaOutcome::Value(counted) => {
            // memcached counts a counter it creates (binary initial value,
            // meta N) as neither a hit nor a miss.
            if !counted.created {
                hits.incr();
                c.classes.incr(counted.class, class_op);
            }
            Response::Number {
                value: counted.value,
                cas: counted.cas,
                ttl: counted.ttl,
                created: counted.created,
            }
        }
        DeltaOutcome::NotFound => {
            misses.incr();
            Response::NotFound
        }
        DeltaOutcome::Exists => Response::Exists,
        DeltaOutcome::NonNumeric => Response::Error(Error::NonNumeric),
        DeltaOutcome::NoMemory => Response::Error(Error::Server("out of memory")),
    });
}

/// touch, binary touch.
#[inline]
pub fn touch(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8], exptime: i64) {
    let c = ctx.counters;
    c.cmd_touch.incr();
    let (mut class, mut size) = (0, 0);
    let found = ctx.store.get(key, Some(exptime), |hit| {
        (class, size) = (hit.class, hit.value.len())
    });
    watching::fetched(ctx, key, found, class, size);
    if found == Lookup::Hit {
        c.touch_hits.incr();
        c.classes.incr(class, ClassOp::TouchHit);
        out.reply(Response::Touched);
    } else {
        c.touch_misses.incr();
        out.reply(Response::NotFound);
    }
}

/// meta `me`: an item's metadata, lent without touching the item
/// (memcached counts it in `cmd_meta` only).
pub fn inspect(ctx: &Context<'_>, out: &mut dyn Reply, key: &[u8]) {
    ctx.counters.cmd_meta.incr();
    let mut lent = false;
    ctx.store.peek(key, |hit, meta| {
        lent = true;
        out.reply(Response::Value(item(&hit, Some(item_meta(&meta)))));
    });
    if !lent {
        out.reply(Response::Miss { key });
    }
}

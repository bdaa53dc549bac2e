//! memcached's dump commands: `stats cachedump <class> <limit>` and
//! `lru_crawler metadump|mgdump <all|hash|classes>`, refused under `-X`
//! as memcached refuses them.
//!
//! The store hands out one bounded batch at a time (one index stripe, or
//! one class's keys up to 2 MiB of output), copied out under one lock
//! hold; the lines are formatted after the lock is released. A metadump
//! or mgdump of a large cache pauses when the reply buffer is full and
//! resumes at the next stripe once the client has read (the same pause
//! as a long multi-get), so a dump costs at most about one buffer's worth
//! of memory however many items there are.

use super::context::Context;
use super::Effect;
use crate::model::{CacheDumpArgs, Dump, DumpFormat, DumpScope, Error, Reply, Response};
use crate::store::Dumped;
use crate::watch::uri_encode;
use std::io::Write;

/// memcached caps a cachedump's reply at 2 MiB.
const CACHEDUMP_MAX_BYTES: usize = 2 * 1024 * 1024;

/// memcached's `MAX_NUMBER_OF_SLAB_CLASSES`: larger ids are refused.
const MAX_CLASSES: u32 = 64;

/// `stats cachedump <class> <limit>`: `ITEM <key> [<bytes> b; <expiry> s]`
/// lines from the most recently used item (memcached lists its cold LRU;
/// every item here is in one flat LRU), then `END`.
pub fn cache_dump(args: CacheDumpArgs, ctx: &Context<'_>, out: &mut dyn Reply) {
    if !ctx.settings.dump_enabled {
        return out.reply(Response::Error(Error::Client(
            "stats cachedump not allowed",
        )));
    }
    let (class, limit) = match args {
        CacheDumpArgs::Given { class, limit } => (class, limit),
        CacheDumpArgs::Missing => {
            return out.reply(Response::Error(Error::Client("bad command line")))
        }
        CacheDumpArgs::BadNumber => {
            return out.reply(Response::Error(Error::Client("bad command line format")))
        }
    };
    if class >= MAX_CLASSES {
        return out.reply(Response::Error(Error::Client("Illegal slab id")));
    }
    let items = ctx
        .store
        .class_dump(class as u8, limit as usize, CACHEDUMP_MAX_BYTES);
    let mut lines = Vec::with_capacity(items.len() * 40);
    for d in &items {
        lines.extend_from_slice(b"ITEM ");
        key_text(&mut lines, d);
        // Writing into a Vec cannot fail.
        let _ = write!(lines, " [{} b; {} s]\r\n", d.value_len, d.expires);
    }
    out.reply(Response::Raw(&lines));
    out.reply(Response::End);
}

/// `lru_crawler metadump|mgdump`: one line per live item, then `END`
/// (metadump) or `EN` (mgdump). Pauses between stripes when the reply
/// buffer is full; `dump.resume` says how many stripes earlier slices
/// listed.
pub fn lru_dump(dump: &Dump, ctx: &Context<'_>, out: &mut dyn Reply) -> Effect {
    let s = ctx.settings;
    if dump.format == DumpFormat::Meta && !s.lru_crawler {
        out.reply(Response::Error(Error::Client("lru crawler disabled")));
        return Effect::None;
    }
    if !s.dump_enabled {
        out.reply(Response::Line(match dump.format {
            DumpFormat::Meta => "ERROR metadump not allowed",
            DumpFormat::Mg => "ERROR key dump not allowed",
        }));
        return Effect::None;
    }
    let wanted = match dump.scope {
        DumpScope::BadClass => {
            out.reply(Response::Line("BADCLASS invalid class id"));
            return Effect::None;
        }
        DumpScope::All | DumpScope::Hash => u64::MAX,
        DumpScope::Classes(bits) => bits,
    };
    let stripes = ctx.store.stripe_count();
    let mut lines = Vec::new();
    for i in dump.resume..stripes {
        if i > dump.resume && !out.has_room() {
            // Bounded memory: let the client read before going on.
            return Effect::Paused(i - dump.resume);
        }
        lines.clear();
        for d in ctx.store.dump_stripe(i) {
            if wanted & (1 << d.class) != 0 {
                line(&mut lines, dump.format, &d);
            }
        }
        out.reply(Response::Raw(&lines));
    }
    match dump.format {
        DumpFormat::Meta => out.reply(Response::End),
        DumpFormat::Mg => out.reply(Response::Raw(b"EN\r\n")),
    }
    Effect::None
}

/// A key as a dump line shows it: as stored, or base64-encoded for a key
/// stored through meta's `b` (its bytes may be spaces, `\r\n`, anything),
/// as memcached shows it.
fn key_text(out: &mut Vec<u8>, d: &Dumped) {
    if d.binary_key {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&d.key);
        out.extend_from_slice(encoded.as_bytes());
    } else {
        out.extend_from_slice(&d.key);
    }
}

/// One item's line.
fn line(out: &mut Vec<u8>, format: DumpFormat, d: &Dumped) {
    match format {
        DumpFormat::Mg => {
            out.extend_from_slice(b"mg ");
            key_text(out, d);
            if d.binary_key {
                out.extend_from_slice(b" b");
            }
            out.extend_from_slice(b"\r\n");
        }
        DumpFormat::Meta => {
            out.extend_from_slice(b"key=");
            uri_encode(out, &d.key);
            let exp = if d.expires == 0 { -1 } else { d.expires };
            let fetch = if d.fetched { "yes" } else { "no" };
            // Writing into a Vec cannot fail.
            let _ = write!(
                out,
                " exp={exp} la={} cas={} fetch={fetch} cls={} size={}\r\n",
                d.last_access, d.cas, d.class, d.size
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dumped(key: &[u8], expires: i64) -> Dumped {
        Dumped {
            key: key.to_vec(),
            class: 2,
            value_len: 3,
            size: 40,
            expires,
            last_access: 1_700_000_000,
            cas: 9,
            fetched: true,
            binary_key: false,
        }
    }

    #[test]
    fn lines_in_memcached_format() {
        let mut out = Vec::new();
        line(&mut out, DumpFormat::Meta, &dumped(b"k:1", 0));
        line(&mut out, DumpFormat::Meta, &dumped(b"k", 1_800_000_000));
        line(&mut out, DumpFormat::Mg, &dumped(b"k:1", 0));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "key=k%3A1 exp=-1 la=1700000000 cas=9 fetch=yes cls=2 size=40\r\n\
             key=k exp=1800000000 la=1700000000 cas=9 fetch=yes cls=2 size=40\r\n\
             mg k:1\r\n"
        );
    }

    /// A key stored through meta's `b` may hold `\r\n` or spaces: mgdump
    /// and cachedump show it base64-encoded (mgdump with `b`), so a line
    /// can neither end early nor be split.
    #[test]
    fn binary_keys_are_shown_encoded() {
        let mut out = Vec::new();
        let key = dumped(b"x\nEN", 0);
        line(
            &mut out,
            DumpFormat::Mg,
            &Dumped {
                binary_key: true,
                ..key
            },
        );
        assert_eq!(out, b"mg eApFTg== b\r\n");
    }
}

//! incr / decr on values holding an unsigned decimal, with the options of
//! binary incr/decr and memcached's meta `ma`: compare a CAS, create a
//! missing counter, set a new TTL or an explicit CAS, and report the
//! item's new CAS.

use super::item;
use super::read::{ExpiryOrder, ReadOptions};
use super::{lock, Store};

/// Result of incr/decr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delta {
    /// The new value.
    Value(u64),
    /// No such item.
    NotFound,
    /// The stored value is not an unsigned decimal.
    NonNumeric,
    /// No memory for the longer value.
    NoMemory,
}

/// Increment or decrement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOp {
    /// Add, wrapping at 2^64.
    Incr,
    /// Subtract, stopping at 0.
    Decr,
}

/// What incr/decr may do besides counting (memcached's `ma` flags, and
/// binary incr/decr's CAS, initial value and expiry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaOptions {
    /// Count only if the item's CAS is this (`C`, or the binary header's);
    /// 0 compares nothing.
    pub cas: u64,
    /// On a miss, create the counter holding `initial`, with this expiry
    /// (`N`, or binary's expiry when it is not `0xffffffff`), and return
    /// `initial` as the value (the delta is not applied).
    pub vivify: Option<i64>,
    /// The value a counter created by `vivify` holds (`J`, binary's
    /// initial value).
    pub initial: u64,
    /// Give the counter this expiry once counted or created (`T`).
    pub ttl: Option<i64>,
    /// The counter's CAS after this change, instead of the counter's next
    /// value (`E`; ignored under `-C`).
    pub new_cas: Option<u64>,
    /// The order in which `ttl` and `vivify`'s expiry apply and when
    /// [`Counted::ttl`] is taken (`T`, `N`, `t` on an `ma` line; recache
    /// plays no part).
    pub order: ExpiryOrder,
}

/// A counter after a successful incr/decr (or its creation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Its value now.
    pub value: u64,
    /// Its CAS now (0 under `-C`): binary returns it in its header, meta in `c`.
    pub cas: u64,
    /// Seconds it had left to live when `t`'s turn came
    /// ([`DeltaOptions::order`]), -1 if it never expires (meta `t`).
    pub ttl: i64,
    /// Whether this call created it ([`DeltaOptions::vivify`]).
    pub created: bool,
    /// The slab class holding it now (per-class counters).
    pub class: u8,
}

/// What incr/decr with options did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaOutcome {
    /// Counted (or created).
    Value(Counted),
    /// No such item, and none was to be created.
    NotFound,
    /// The item's CAS differs from the one given; nothing changed.
    Exists,
    /// The stored value is not an unsigned decimal.
    NonNumeric,
    /// No memory for the longer value, or for the created counter.
    NoMemory,
}

impl Store {
    /// Applies incr/decr to a live item holding an unsigned decimal.
    pub fn delta(&self, key: &[u8], op: DeltaOp, delta: u64) -> Delta {
        match self.delta_with(key, op, delta, &DeltaOptions::default()) {
            DeltaOutcome::Value(counted) => Delta::Value(counted.value),
            DeltaOutcome::NotFound => Delta::NotFound,
            DeltaOutcome::NonNumeric => Delta::NonNumeric,
            DeltaOutcome::NoMemory => Delta::NoMemory,
            DeltaOutcome::Exists => unreachable!("no CAS was given to compare"),
        }
    }

    /// Applies incr/decr to a live item holding an unsigned decimal, as
    /// `options` say (see [`DeltaOptions`]), in one hold of its stripe
    /// lock; returns the new value and the item's new CAS.
    ///
    /// As memcached: a result no longer than the stored value is written in
    /// place, padded with spaces, keeping the item (and its stale and token
    /// state); a longer one replaces the item with a new one.
    pub fn delta_with(
        &self,
        key: &[u8],
        op: DeltaOp,
        delta: u64,
        options: &DeltaOptions,
    ) -> DeltaOutcome {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        let explicit = self.explicit_cas(options.new_cas);
        let mut buf = itoa::Buffer::new();
        let Ok((h, hdr)) = self.lookup(&mut stripe, hash, key) else {
            let Some(vivify) = options.vivify else {
                return DeltaOutcome::NotFound;
            };
            let expiry = self.expiry(0, true, options.ttl, Some(vivify), &steps(options));
            let digits = buf.format(options.initial).as_bytes();
            let Some((new, new_hdr)) = self.allocate(key, 0, expiry.exptime, &[digits]) else {
                return DeltaOutcome::NoMemory;
            };
            let cas = self.link(&mut stripe, hash, new, &new_hdr, None, explicit);
            return DeltaOutcome::Value(Counted {
                value: options.initial,
                cas: self.visible_cas(cas),
                ttl: expiry.ttl,
                created: true,
                class: new_hdr.class,
            });
        };
        // As memcached: an empty or chained value is refused before the
        // CAS is compared, a value that is not a number after.
        let Some(current) = self.value(h, &hdr).as_slice().filter(|v| !v.is_empty()) else {
            return DeltaOutcome::NonNumeric;
        };
        if options.cas != 0 && options.cas != self.visible_cas(hdr.cas) {
            return DeltaOutcome::Exists;
        }
        let Some(value) = parse_counter(current) else {
            return DeltaOutcome::NonNumeric;
        };
        let value = match op {
            DeltaOp::Incr => value.wrapping_add(delta),
            DeltaOp::Decr => value.saturating_sub(delta),
        };
        let digits = buf.format(value).as_bytes();
        let expiry = self.expiry(hdr.exptime, false, options.ttl, None, &steps(options));
        let exptime = expiry.exptime;
        self.bump(h, &hdr, false);
        let cas = if digits.len() <= hdr.vlen as usize {
            // memcached rewrites in place, padding with spaces to the old length.
            // SAFETY: the stripe lock is held; the value is one chunk.
            let v =
                unsafe { item::slice_mut(&self.pages, h, hdr.value_offset(), hdr.vlen as usize) };
            v[..digits.len()].copy_from_slice(digits);
            v[digits.len()..].fill(b' ');
            let cas = explicit.unwrap_or_else(|| self.new_cas());
            self.rewrite(h, &hdr, exptime, cas, hdr.bits);
            cas
        } else {
            let Some((new, new_hdr)) = self.allocate(key, hdr.flags, exptime, &[digits]) else {
                return DeltaOutcome::NoMemory;
            };
            self.link(&mut stripe, hash, new, &new_hdr, Some((h, hdr)), explicit)
        };
        DeltaOutcome::Value(Counted {
            value,
            cas: self.visible_cas(cas),
            ttl: expiry.ttl,
            created: false,
            // The item it found, as memcached counts incr_hits.
            class: hdr.class,
        })
    }
}

/// The expiry steps of a delta, as a read's (no recache).
fn steps(options: &DeltaOptions) -> ReadOptions {
    ReadOptions {
        order: options.order,
        ..ReadOptions::default()
    }
}

/// Parses a stored counter as memcached's `safe_strtoull` does (the
/// value's own `\r\n` counts as the white space that may end it).
pub(super) fn parse_counter(value: &[u8]) -> Option<u64> {
    crate::cnum::c_strtoull(value)
}

//! incr / decr on values holding an unsigned decimal.

use super::item;
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

impl Store {
    /// Applies incr/decr to a live item holding an unsigned decimal.
    pub fn delta(&self, key: &[u8], op: DeltaOp, delta: u64) -> Delta {
        let hash = self.hash(key);
        let mut stripe = lock(self.stripe(hash));
        let Ok((h, hdr)) = self.lookup(&mut stripe, hash, key) else {
            return Delta::NotFound;
        };
        let Some(current) = self.value(h, &hdr).as_slice() else {
            return Delta::NonNumeric;
        };
        let Some(value) = parse_counter(current) else {
            return Delta::NonNumeric;
        };
        let value = match op {
            DeltaOp::Incr => value.wrapping_add(delta),
            DeltaOp::Decr => value.saturating_sub(delta),
        };
        let mut buf = itoa::Buffer::new();
        let digits = buf.format(value).as_bytes();
        self.bump(h, &hdr, false);
        if digits.len() <= hdr.vlen as usize {
            // memcached rewrites in place, padding with spaces to the old length.
            // SAFETY: the stripe lock is held; the value is one chunk.
            let v =
                unsafe { item::slice_mut(&self.pages, h, hdr.value_offset(), hdr.vlen as usize) };
            v[..digits.len()].copy_from_slice(digits);
            v[digits.len()..].fill(b' ');
            // SAFETY: the stripe lock is held.
            unsafe { item::update(&self.pages, h, hdr.exptime, self.new_cas()) };
            return Delta::Value(value);
        }
        let Some((new, new_hdr)) = self.allocate(key, hdr.flags, hdr.exptime, &[digits]) else {
            return Delta::NoMemory;
        };
        self.link(&mut stripe, hash, new, &new_hdr, Some((h, hdr)), None);
        Delta::Value(value)
    }
}

/// Parses a stored counter as memcached's `safe_strtoull` does: optional
/// leading white space, digits, then only white space (the `\r\n` in
/// memcached's buffer) or the end; no minus sign; must fit 64 bits.
pub(super) fn parse_counter(value: &[u8]) -> Option<u64> {
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let mut i = value.iter().take_while(|&&b| is_space(b)).count();
    if value.get(i) == Some(&b'+') {
        i += 1;
    }
    let digits = value[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let rest = &value[i + digits..];
    if !rest.is_empty() && !is_space(rest[0]) {
        return None;
    }
    std::str::from_utf8(&value[i..i + digits])
        .ok()?
        .parse()
        .ok()
}

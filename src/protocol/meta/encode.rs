//! Meta replies: a two-letter status (`VA <len>`, `HD`, `EN`, `NF`, `NS`,
//! `EX`, `MN`, `ME …`), then the return flags the request asked for, in
//! the order it asked for them, then for `VA` the value block.
//!
//! Which flags a status carries is memcached's: an `mg` hit answers `s t c
//! f l h O k` then `Z X W`; a miss only `O k`; `ms` answers `O k c s`
//! whatever its status (`c0` when nothing was stored); `md` and `ma`
//! without a value `O k`, `ma` with one `c t O k`. `k` shows the key
//! base64-encoded, followed by ` b`, when memcached would: for a hit, when
//! the item was stored with a base64 key; otherwise when the request gave
//! one. Errors are written even under `q`.

use super::decode::{Kind, Plan};
use super::flags::OPAQUE_TOO_LONG;
use super::key;
use crate::model::{Error, Item, Lease, Reply, ReplyPolicy, Request, Response};

/// Encodes [`Response`]s to one meta request into a buffer.
#[derive(Debug)]
pub struct MetaReply<'a, 'p> {
    out: &'a mut Vec<u8>,
    plan: &'p Plan<'p>,
    policy: ReplyPolicy,
}

impl<'a, 'p> MetaReply<'a, 'p> {
    /// A writer appending the replies to `request`, shaped by `plan`, to
    /// `out`.
    pub fn new(out: &'a mut Vec<u8>, request: &Request<'_>, plan: &'p Plan<'p>) -> Self {
        MetaReply {
            out,
            plan,
            policy: request.policy,
        }
    }
}

fn number(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// ` <flag><number>`
fn flag_number(out: &mut Vec<u8>, flag: u8, n: impl itoa::Integer) {
    out.push(b' ');
    out.push(flag);
    number(out, n);
}

/// ` k<key>`, or ` k<base64 key> b`.
fn flag_key(out: &mut Vec<u8>, k: &[u8], base64: bool) {
    out.extend_from_slice(b" k");
    if base64 {
        key::encode_into(k, out);
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(k);
    }
}

fn line(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl MetaReply<'_, '_> {
    /// ` O…` and ` k…`, in request order (the flags every status carries).
    fn opaque_and_key(&mut self, base64: bool) {
        for token in self.plan.tokens() {
            match token[0] {
                b'O' => {
                    self.out.push(b' ');
                    self.out.extend_from_slice(token);
                }
                b'k' => flag_key(self.out, self.plan.key, base64),
                _ => {}
            }
        }
    }

    /// A status line carrying only ` O…` and ` k…`.
    fn status(&mut self, status: &[u8]) {
        self.out.extend_from_slice(status);
        self.opaque_and_key(self.plan.base64);
        self.out.extend_from_slice(b"\r\n");
    }

    /// An `mg` hit.
    fn hit(&mut self, item: &Item<'_>) {
        // memcached 1.6.40: mg with C returns the value only when the
        // item's CAS differs from the token (the client's copy is current
        // otherwise).
        let current = self.plan.current_cas == Some(item.cas);
        let value = self.plan.value && !current;
        let out = &mut *self.out;
        let len = item.value.len();
        if value {
            out.extend_from_slice(b"VA ");
            number(out, len);
        } else {
            out.extend_from_slice(b"HD");
        }
        let meta = item.meta;
        for token in self.plan.tokens() {
            match token[0] {
                b's' => flag_number(out, b's', len),
                b't' => flag_number(out, b't', meta.map_or(-1, |m| m.ttl)),
                b'c' => flag_number(out, b'c', item.cas),
                b'f' => flag_number(out, b'f', item.flags),
                b'l' => flag_number(out, b'l', meta.map_or(0, |m| m.last_access)),
                b'h' => flag_number(out, b'h', u8::from(meta.is_some_and(|m| m.fetched))),
                b'O' => {
                    out.push(b' ');
                    out.extend_from_slice(token);
                }
                b'k' => flag_key(out, item.key, meta.is_some_and(|m| m.binary_key)),
                _ => {}
            }
        }
        if let Some(meta) = meta {
            if meta.lease == Lease::Taken {
                out.extend_from_slice(b" Z");
            }
            if meta.stale {
                out.extend_from_slice(b" X");
            }
            if meta.lease == Lease::Won {
                out.extend_from_slice(b" W");
            }
        }
        out.extend_from_slice(b"\r\n");
        if value {
            out.reserve(len + 2);
            item.value.for_each_piece(|p| out.extend_from_slice(p));
            out.extend_from_slice(b"\r\n");
        }
    }

    /// An `ms` outcome: ` O… k… c… s…` in request order.
    fn stored(&mut self, status: &[u8], cas: u64, len: usize) {
        self.out.extend_from_slice(status);
        for token in self.plan.tokens() {
            match token[0] {
                b'O' => {
                    self.out.push(b' ');
                    self.out.extend_from_slice(token);
                }
                b'k' => flag_key(self.out, self.plan.key, self.plan.base64),
                b'c' => flag_number(self.out, b'c', cas),
                b's' => flag_number(self.out, b's', len),
                _ => {}
            }
        }
        self.out.extend_from_slice(b"\r\n");
    }

    /// An `ma` result.
    fn counted(&mut self, value: u64, cas: u64, ttl: i64) {
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(value).as_bytes();
        let out = &mut *self.out;
        if self.plan.value {
            out.extend_from_slice(b"VA ");
            number(out, digits.len());
        } else {
            out.extend_from_slice(b"HD");
        }
        for token in self.plan.tokens() {
            match token[0] {
                b'c' => flag_number(out, b'c', cas),
                b't' => flag_number(out, b't', ttl),
                b'O' => {
                    out.push(b' ');
                    out.extend_from_slice(token);
                }
                b'k' => flag_key(out, self.plan.key, self.plan.base64),
                _ => {}
            }
        }
        out.extend_from_slice(b"\r\n");
        if self.plan.value {
            out.extend_from_slice(digits);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// `me`: `ME <key> exp= la= cas= fetch= cls= size=`.
    fn debug(&mut self, item: &Item<'_>) {
        let out = &mut *self.out;
        let Some(meta) = item.meta else {
            return;
        };
        out.extend_from_slice(b"ME ");
        if meta.binary_key {
            key::encode_into(item.key, out);
        } else {
            out.extend_from_slice(item.key);
        }
        out.extend_from_slice(b" exp=");
        number(out, meta.ttl);
        out.extend_from_slice(b" la=");
        number(out, meta.last_access);
        out.extend_from_slice(b" cas=");
        number(out, item.cas);
        out.extend_from_slice(if meta.fetched {
            &b" fetch=yes"[..]
        } else {
            b" fetch=no"
        });
        out.extend_from_slice(b" cls=");
        number(out, meta.class);
        out.extend_from_slice(b" size=");
        number(out, meta.size);
        out.extend_from_slice(b"\r\n");
    }

    /// An error, worded for this command as memcached words it.
    fn error(&mut self, error: Error<'_>) {
        let text = match (error, self.plan.kind) {
            (Error::UnknownCommand, _) => "ERROR",
            (Error::TooLarge, _) => "SERVER_ERROR object too large for cache",
            (Error::NoMemory, Kind::Set) => "SERVER_ERROR out of memory storing object",
            (Error::NoMemory, _) => "SERVER_ERROR out of memory",
            (Error::NonNumeric, _) => {
                "CLIENT_ERROR cannot increment or decrement non-numeric value"
            }
            (Error::BadDataChunk, _) => "CLIENT_ERROR bad data chunk",
            (Error::Client(m), _) => {
                self.out.extend_from_slice(b"CLIENT_ERROR ");
                return line(self.out, m);
            }
            (Error::Server(m), _) => {
                self.out.extend_from_slice(b"SERVER_ERROR ");
                return line(self.out, m);
            }
        };
        line(self.out, text);
    }
}

impl Reply for MetaReply<'_, '_> {
    fn reply(&mut self, response: Response<'_>) {
        if let Response::Error(e) = response {
            return self.error(e); // errors ignore q
        }
        if matches!(response, Response::End) {
            return; // a read of one key ends with its hit or miss
        }
        if self.plan.opaque_too_long {
            // memcached finds the opaque too long as it writes the reply,
            // after the command has run, and sends the error instead.
            return line(self.out, OPAQUE_TOO_LONG);
        }
        if !self.policy.allows(&response) {
            return;
        }
        match (self.plan.kind, response) {
            (Kind::Debug, Response::Value(item)) => self.debug(&item),
            (Kind::Debug, Response::Miss { .. }) => line(self.out, "EN"),
            (_, Response::Value(item)) => self.hit(&item),
            (_, Response::Miss { .. }) => self.status(b"EN"),
            (_, Response::Stored { cas, len }) => self.stored(b"HD", cas, len),
            (Kind::Set, Response::NotStored) => self.stored(b"NS", 0, self.plan.data_len),
            (Kind::Set, Response::Exists) => self.stored(b"EX", 0, self.plan.data_len),
            (Kind::Set, Response::NotFound) => self.stored(b"NF", 0, self.plan.data_len),
            (_, Response::NotStored) => self.status(b"NS"),
            (_, Response::Exists) => self.status(b"EX"),
            (_, Response::NotFound) => self.status(b"NF"),
            (_, Response::Deleted | Response::Touched) => self.status(b"HD"),
            (
                _,
                Response::Number {
                    value, cas, ttl, ..
                },
            ) => self.counted(value, cas, ttl),
            (Kind::Noop, Response::Ok) => line(self.out, "MN"),
            (_, Response::Ok | Response::Reset) => line(self.out, "HD"),
            (_, Response::Version(v)) => {
                self.out.extend_from_slice(b"VERSION ");
                line(self.out, v);
            }
            (
                _,
                Response::Stat(..)
                | Response::Line(_)
                | Response::Raw(_)
                | Response::Config(_)
                | Response::End,
            ) => {}
            (_, Response::Error(_)) => unreachable!("errors are written above"),
        }
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;

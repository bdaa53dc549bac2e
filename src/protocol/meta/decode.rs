//! Meta commands decoded from a line (and, for `ms`, its data block) into a
//! model [`Request`] and the [`Plan`] its reply follows.
//!
//! Like the text codec's [`parse`](crate::protocol::text::parse), [`parse`]
//! looks at the front of a read buffer and finds one whole request, asks
//! for more bytes, or reports an error line as memcached words it; it never
//! consumes part of a request. A line ends at `\n` (a `\r` before it is
//! dropped) or at a NUL, and a line of more than 2048 bytes with no
//! newline yet closes the connection, as for every text command.
//!
//! Where memcached 1.6.18 and the newest memcached differ, this follows the
//! newest; `docs/compatibility.md` lists each difference.

use super::flags::{self, tokens, Flags, BAD_FORMAT, MAX_TOKENS, OPAQUE_TOO_LONG, TOO_MANY};
use super::key::{self, KeyBuf};
use crate::cnum::c_strtol32;
use crate::model::{
    Command, Create, DeltaMode, KeepOptions, Keys, Limits, Opaque, Payload, ReadOptions,
    ReplyPolicy, Request, StoreMode, WriteOptions, KEY_MAX_LENGTH,
};
use memchr::{memchr, memchr2};

/// Bytes without a newline after which the connection is closed (as for
/// every text-protocol line).
pub const MAX_LINE_WITHOUT_NEWLINE: usize = 2048;

/// Largest `ms` data length memcached parses (`INT_MAX - 2`).
const MAX_VLEN: i64 = i32::MAX as i64 - 2;

/// How `md` and `ma` word any flag error: memcached does not pass its flag
/// parser's own message on for them.
const FLAG_ERROR: &str = "CLIENT_ERROR invalid or duplicate flag";
const MS_MODE: &str = "CLIENT_ERROR invalid mode for ms M token";
const MA_MODE: &str = "CLIENT_ERROR invalid mode for ma M token";

/// The six meta commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `mg`
    Get,
    /// `ms`
    Set,
    /// `md`
    Delete,
    /// `ma`
    Arithmetic,
    /// `mn`
    Noop,
    /// `me`
    Debug,
}

/// What a meta reply is built from besides the engine's responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan<'a> {
    /// The command.
    pub kind: Kind,
    /// The flag tokens as given: return flags come back in this order.
    pub flags: &'a [u8],
    /// The key acted on (decoded, for `b`).
    pub key: &'a [u8],
    /// `b`: keys are returned base64-encoded, followed by ` b`.
    pub base64: bool,
    /// `v`: a value block follows the reply line.
    pub value: bool,
    /// The `O` token is too long: memcached answers with an error once the
    /// command has run (`mg`, `ma`).
    pub opaque_too_long: bool,
    /// `ms`: the data length given.
    pub data_len: usize,
    /// `mg`'s `C` token: a hit whose CAS equals it is answered without its
    /// value (memcached 1.6.40).
    pub current_cas: Option<u64>,
}

impl Plan<'_> {
    /// Each return-flag token, in request order.
    pub fn tokens(&self) -> impl Iterator<Item = &[u8]> {
        tokens(self.flags)
    }
}

/// The outcome of looking at the front of a read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not enough bytes for a whole request yet.
    Incomplete,
    /// A request that used `consumed` bytes; then `swallow` more bytes of
    /// the stream (an `ms` data block too large to take) must be discarded
    /// unread.
    Request {
        /// The request.
        request: Request<'a>,
        /// How to word its replies.
        plan: Plan<'a>,
        /// Bytes of the buffer it used.
        consumed: usize,
        /// Bytes after those to discard as they arrive.
        swallow: usize,
    },
    /// A malformed request: send `reply` (one line, without `\r\n`; meta
    /// errors are sent even under `q`), drop `consumed` bytes, then discard
    /// `swallow` more (the data block of an `ms` refused before reading it).
    Error {
        /// The error line.
        reply: &'static str,
        /// Bytes of the buffer it used.
        consumed: usize,
        /// Bytes after those to discard as they arrive.
        swallow: usize,
    },
    /// Close the connection without a reply (a junk line).
    Close,
}

/// Whether the buffer starts with a meta command (`mg ms md ma mn me`,
/// after any spaces, followed by a space or the line's end). A buffer too
/// short to tell is not one yet: the text codec answers it (it waits for
/// the newline either way).
pub fn is_meta(buf: &[u8]) -> bool {
    let start = buf.iter().take_while(|&&b| b == b' ').count();
    match &buf[start..] {
        [b'm', cmd, end, ..] => {
            matches!(cmd, b'g' | b's' | b'd' | b'a' | b'n' | b'e')
                && matches!(end, b' ' | b'\r' | b'\n' | 0)
        }
        _ => false,
    }
}

/// Parses one meta request from the front of `buf`; a base64 key is
/// decoded into `keys`, which the request then borrows.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits, keys: &'a mut KeyBuf) -> Parsed<'a> {
    let (newline, nul) = match memchr2(b'\n', 0, buf) {
        Some(i) if buf[i] == b'\n' => (Some(i), None),
        Some(i) => (memchr(b'\n', &buf[i..]).map(|j| i + j), Some(i)),
        None => (None, None),
    };
    let Some(newline) = newline else {
        return if buf.len() > MAX_LINE_WITHOUT_NEWLINE {
            Parsed::Close
        } else {
            Parsed::Incomplete
        };
    };
    let consumed = newline + 1;
    let line = match nul {
        Some(nul) => &buf[..nul],
        None if newline > 1 && buf[newline - 1] == b'\r' => &buf[..newline - 1],
        None => &buf[..newline],
    };
    let line = Line::new(line, consumed);
    match line.command {
        b"mg" => line.get(keys),
        b"ms" => line.set(buf, limits, keys),
        b"md" => line.delete(keys),
        b"ma" => line.arithmetic(keys),
        b"mn" => line.request(Command::Noop, Kind::Noop, &[], &[], ReplyPolicy::Always),
        b"me" => line.debug(keys),
        _ => line.error("ERROR", 0),
    }
}

/// One meta command line, split.
struct Line<'a> {
    command: &'a [u8],
    /// The key token, if any.
    key: Option<&'a [u8]>,
    /// Everything after the key.
    rest: &'a [u8],
    /// Tokens on the line, command included.
    count: usize,
    /// Bytes of the buffer the line used.
    consumed: usize,
}

/// The first token of `s` and what follows it.
fn split_token(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let start = s.iter().position(|&b| b != b' ')?;
    let s = &s[start..];
    let end = s.iter().position(|&b| b == b' ').unwrap_or(s.len());
    Some(s.split_at(end))
}

impl<'a> Line<'a> {
    fn new(line: &'a [u8], consumed: usize) -> Line<'a> {
        let (command, after) = split_token(line).unwrap_or((&[], &[]));
        let (key, rest) = match split_token(after) {
            Some((key, rest)) => (Some(key), rest),
            None => (None, &[][..]),
        };
        // Tokens on the line: the command, the key and the flags (only
        // the flags are counted one by one: the rest is known).
        let count = match key {
            Some(_) => 2 + tokens(rest).count(),
            None => usize::from(!command.is_empty()),
        };
        Line {
            command,
            key,
            rest,
            count,
            consumed,
        }
    }

    fn error(&self, reply: &'static str, swallow: usize) -> Parsed<'a> {
        Parsed::Error {
            reply,
            consumed: self.consumed,
            swallow,
        }
    }

    fn request(
        &self,
        command: Command<'a>,
        kind: Kind,
        flag_tokens: &'a [u8],
        key: &'a [u8],
        policy: ReplyPolicy,
    ) -> Parsed<'a> {
        Parsed::Request {
            request: Request::new(command).with_policy(policy),
            plan: Plan {
                kind,
                flags: flag_tokens,
                key,
                base64: false,
                value: false,
                opaque_too_long: false,
                data_len: 0,
                current_cas: None,
            },
            consumed: self.consumed,
            swallow: 0,
        }
    }

    /// The key and flags of `mg`, `md` and `ma` (`flag_tokens` follow the
    /// key, and for `ms` its length), checked as memcached checks them:
    /// the key's length as written, then the token count, then each flag.
    fn flags(
        &self,
        key: &'a [u8],
        flag_tokens: &'a [u8],
        keys: &'a mut KeyBuf,
    ) -> Result<Flags<'a>, &'static str> {
        if key.len() > KEY_MAX_LENGTH {
            return Err(BAD_FORMAT);
        }
        if self.count > MAX_TOKENS {
            return Err(TOO_MANY);
        }
        flags::parse(key, flag_tokens, keys)
    }

    /// [`Self::flags`] for `md` and `ma`: the key and token count checked
    /// as for every meta command, any flag error worded alike.
    fn flags_worded_alike(
        &self,
        key: &'a [u8],
        keys: &'a mut KeyBuf,
    ) -> Result<Flags<'a>, &'static str> {
        if key.len() > KEY_MAX_LENGTH {
            return Err(BAD_FORMAT);
        }
        if self.count > MAX_TOKENS {
            return Err(TOO_MANY);
        }
        flags::parse(key, self.rest, keys).map_err(|_| FLAG_ERROR)
    }

    /// A request built from parsed flags.
    fn flagged(
        &self,
        command: Command<'a>,
        kind: Kind,
        flag_tokens: &'a [u8],
        f: &Flags<'a>,
    ) -> Parsed<'a> {
        let opaque = match f.opaque {
            Some(token) => Opaque::Token(&token[1..]),
            None => Opaque::None,
        };
        let policy = if f.quiet {
            ReplyPolicy::Quiet
        } else {
            ReplyPolicy::Always
        };
        Parsed::Request {
            request: Request {
                command,
                policy,
                opaque,
                want: f.want,
            },
            plan: Plan {
                kind,
                flags: flag_tokens,
                key: f.key,
                base64: f.base64,
                value: f.value,
                opaque_too_long: f.opaque_too_long(),
                data_len: 0,
                current_cas: if kind == Kind::Get {
                    f.compare_cas
                } else {
                    None
                },
            },
            consumed: self.consumed,
            swallow: 0,
        }
    }

    /// `mg <key> <flags>*`
    fn get(self, keys: &'a mut KeyBuf) -> Parsed<'a> {
        let Some(key) = self.key else {
            return self.error(BAD_FORMAT, 0);
        };
        let f = match self.flags(key, self.rest, keys) {
            Ok(f) => f,
            Err(message) => return self.error(message, 0),
        };
        let command = Command::Get {
            keys: Keys::One(f.key),
            touch: f.touch,
            read: ReadOptions {
                leases: true,
                no_bump: f.no_bump,
                vivify: f.vivify,
                recache: f.recache,
                new_cas: f.new_cas,
                order: f.order,
            },
        };
        self.flagged(command, Kind::Get, self.rest, &f)
    }

    /// `md <key> <flags>*`
    fn delete(self, keys: &'a mut KeyBuf) -> Parsed<'a> {
        let Some(key) = self.key else {
            return self.error(BAD_FORMAT, 0);
        };
        let f = match self.flags_worded_alike(key, keys) {
            Ok(f) => f,
            Err(message) => return self.error(message, 0),
        };
        // memcached checks the opaque before it looks the key up.
        if f.opaque_too_long() {
            return self.error(OPAQUE_TOO_LONG, 0);
        }
        let command = Command::Delete {
            key: f.key,
            cas: f.compare_cas.unwrap_or(0),
            keep: KeepOptions {
                invalidate: f.invalidate,
                empty: f.remove_value,
                exptime: f.touch,
                flags: f.client_flags,
                new_cas: f.new_cas,
                compare_zero: f.compare_cas == Some(0),
                meta_counts: true,
            },
        };
        self.flagged(command, Kind::Delete, self.rest, &f)
    }

    /// `ma <key> <flags>*`
    fn arithmetic(self, keys: &'a mut KeyBuf) -> Parsed<'a> {
        let Some(key) = self.key else {
            return self.error(BAD_FORMAT, 0);
        };
        let f = match self.flags_worded_alike(key, keys) {
            Ok(f) => f,
            Err(message) => return self.error(message, 0),
        };
        let mode = match f.mode {
            0 | b'I' | b'+' => DeltaMode::Incr,
            b'D' | b'-' => DeltaMode::Decr,
            _ => return self.error(MA_MODE, 0),
        };
        let command = Command::Delta {
            key: f.key,
            mode,
            delta: f.delta,
            create: f.vivify.map(|exptime| Create {
                initial: f.initial,
                exptime,
            }),
            cas: f.compare_cas.unwrap_or(0),
            exptime: f.touch,
            new_cas: f.new_cas,
            order: f.order,
        };
        self.flagged(command, Kind::Arithmetic, self.rest, &f)
    }

    /// `me <key> [b]`: no flags are read but a `b` right after the key.
    fn debug(self, keys: &'a mut KeyBuf) -> Parsed<'a> {
        let Some(mut key) = self.key else {
            return self.error(BAD_FORMAT, 0);
        };
        if key.len() > KEY_MAX_LENGTH {
            return self.error(BAD_FORMAT, 0);
        }
        let base64 = split_token(self.rest).is_some_and(|(flag, _)| flag == b"b");
        if base64 {
            match key::decode(key, keys) {
                Some(decoded) => key = decoded,
                None => return self.error(BAD_FORMAT, 0),
            }
        }
        let mut parsed = self.request(
            Command::Inspect { key },
            Kind::Debug,
            &[],
            key,
            ReplyPolicy::Always,
        );
        if let Parsed::Request { plan, .. } = &mut parsed {
            plan.base64 = base64;
        }
        parsed
    }

    /// `ms <key> <datalen> <flags>*\r\n<data>\r\n`
    fn set(self, buf: &'a [u8], limits: &Limits, keys: &'a mut KeyBuf) -> Parsed<'a> {
        let (Some(key), Some((len, flag_tokens))) = (self.key, split_token(self.rest)) else {
            return self.error(BAD_FORMAT, 0);
        };
        let vlen = match c_strtol32(len).map(i64::from) {
            Some(vlen) if (0..=MAX_VLEN).contains(&vlen) => vlen as usize,
            _ => return self.error(BAD_FORMAT, 0),
        };
        // From here on an error also discards the data block.
        let swallow = vlen + 2;
        let f = match self.flags(key, flag_tokens, keys) {
            Ok(f) => f,
            Err(message) => return self.error(message, swallow),
        };
        let mut mode = match f.mode {
            0 | b'S' => StoreMode::Set,
            b'E' => StoreMode::Add,
            b'A' => StoreMode::Append,
            b'P' => StoreMode::Prepend,
            b'R' => StoreMode::Replace,
            _ => return self.error(MS_MODE, swallow),
        };
        if f.compare_cas.is_some() && matches!(mode, StoreMode::Set | StoreMode::Replace) {
            mode = StoreMode::Cas;
        }
        let concat = matches!(mode, StoreMode::Append | StoreMode::Prepend);
        let oversize = vlen > limits.max_value_len;
        if !oversize && f.opaque_too_long() {
            return self.error(OPAQUE_TOO_LONG, swallow);
        }
        let (payload, consumed, swallow) = if oversize {
            (Payload::Oversize, self.consumed, swallow)
        } else {
            let end = self.consumed + swallow;
            if buf.len() < end {
                return Parsed::Incomplete;
            }
            let payload = Payload::Data {
                data: &buf[self.consumed..end - 2],
                terminated: &buf[end - 2..end] == b"\r\n",
            };
            (payload, end, 0)
        };
        let command = Command::Store {
            mode,
            key: f.key,
            flags: f.client_flags,
            exptime: f.touch.unwrap_or(0),
            cas: f.compare_cas.unwrap_or(0),
            payload,
            write: WriteOptions {
                invalidate: f.invalidate && mode == StoreMode::Cas,
                vivify: f.vivify.filter(|_| concat),
                new_cas: f.new_cas,
                binary_key: f.base64,
                remove_on_failure: true,
            },
        };
        match self.flagged(command, Kind::Set, flag_tokens, &f) {
            Parsed::Request {
                request, mut plan, ..
            } => {
                plan.data_len = vlen;
                Parsed::Request {
                    request,
                    plan,
                    consumed,
                    swallow,
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;

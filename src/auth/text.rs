//! memcached's ascii authentication (`-Y authfile`): until a connection
//! has logged in, the only thing it may send is
//!
//! ```text
//! set <anykey> <flags> <ttl> <n>\r\n<user> <pass>\r\n
//! ```
//!
//! This module decides what such bytes mean, as pure functions over what a
//! connection has buffered: [`parse`] finds the command line and the data
//! block and splits it into user and password; [`authenticate`] also checks
//! them against [`Credentials`] and names the reply. The session sends the
//! reply line ([`Reply::line`]), drops `consumed` bytes, closes when told,
//! and once [`Reply::Stored`] came back treats the rest of the stream as
//! ordinary commands. Nothing is stored.
//!
//! The rules are Debian's memcached 1.6.18's, observed byte for byte
//! (`scripts/auth-probe.py`, the table in `docs/auth.md`), with its
//! crashes replaced by the limit later memcached versions added:
//!
//! - fewer than 2 bytes buffered: wait (a lone `\n` waits);
//! - no `\n` in the buffer: wait, or close once more than 2048 bytes came;
//! - the line is cut at a NUL and split on spaces (only spaces: a tab is
//!   part of a token); it must have at least 5 tokens, the first exactly
//!   `set` and the fifth a number as C's `strtoul` reads it (leading
//!   whitespace and a sign allowed, a `\r` or other whitespace may follow);
//!   otherwise the reply is `CLIENT_ERROR unauthenticated` and only the
//!   line is consumed (its data block, if any, is then read as lines,
//!   each answered the same way). Key, flags and ttl are not looked at;
//! - a size over [`MAX_AUTH_REQ_LEN`] is `CLIENT_ERROR auth token too long`
//!   and the connection closes (memcached 1.6.18 waits for a block it can
//!   never buffer, or crashes from 2147483646 on: its `size + 2` overflows);
//! - the block must end in `\r\n`, else `CLIENT_ERROR bad command line
//!   termination`;
//! - the block, cut at a NUL, is split on runs of spaces: the first token
//!   is the user, the second the password, any more are ignored; fewer than
//!   two is `CLIENT_ERROR bad authentication token format` (so no empty
//!   user or password, and no password with a space);
//! - then `STORED` if the authfile has that user and password, else
//!   `CLIENT_ERROR authentication failure`; either way the connection stays
//!   open and may try again.
//!
//! For `stats`, memcached counts `STORED` and `authentication failure` in
//! `auth_cmds`, and the failures again in `auth_errors`
//! ([`Reply::is_attempt`], [`Reply::authenticated`]).

use super::credentials::Credentials;
use crate::cnum::c_strtoull;

/// The largest data block (`<n>`) an auth `set` may declare.
pub const MAX_AUTH_REQ_LEN: usize = 16384;

/// A connection that buffered more than this without a `\n` is closed.
pub const MAX_LINE_WITHOUT_NEWLINE: usize = 2048;

/// Nothing is decided with fewer bytes than this buffered.
pub const MIN_BUFFERED: usize = 2;

/// A reply of the text login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Logged in.
    Stored,
    /// The user and password are not in the authfile.
    AuthenticationFailure,
    /// Anything but an auth `set` before logging in.
    Unauthenticated,
    /// The declared block is over [`MAX_AUTH_REQ_LEN`].
    TokenTooLong,
    /// The block is not two space-separated tokens.
    BadTokenFormat,
    /// The block does not end in `\r\n`.
    BadTermination,
}

/// `STORED`
pub const STORED: &str = "STORED";
/// `CLIENT_ERROR authentication failure`
pub const AUTHENTICATION_FAILURE: &str = "CLIENT_ERROR authentication failure";
/// `CLIENT_ERROR unauthenticated`
pub const UNAUTHENTICATED: &str = "CLIENT_ERROR unauthenticated";
/// `CLIENT_ERROR auth token too long`
pub const TOKEN_TOO_LONG: &str = "CLIENT_ERROR auth token too long";
/// `CLIENT_ERROR bad authentication token format`
pub const BAD_TOKEN_FORMAT: &str = "CLIENT_ERROR bad authentication token format";
/// `CLIENT_ERROR bad command line termination`
pub const BAD_TERMINATION: &str = "CLIENT_ERROR bad command line termination";

impl Reply {
    /// The reply line, without its `\r\n`.
    pub const fn line(self) -> &'static str {
        match self {
            Reply::Stored => STORED,
            Reply::AuthenticationFailure => AUTHENTICATION_FAILURE,
            Reply::Unauthenticated => UNAUTHENTICATED,
            Reply::TokenTooLong => TOKEN_TOO_LONG,
            Reply::BadTokenFormat => BAD_TOKEN_FORMAT,
            Reply::BadTermination => BAD_TERMINATION,
        }
    }

    /// Whether the connection is now logged in.
    pub const fn authenticated(self) -> bool {
        matches!(self, Reply::Stored)
    }

    /// Whether memcached counts this reply in `auth_cmds` (a user and
    /// password were checked); a failed one also counts in `auth_errors`.
    pub const fn is_attempt(self) -> bool {
        matches!(self, Reply::Stored | Reply::AuthenticationFailure)
    }
}

/// What the buffered bytes are, before any credential is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not enough bytes to decide: read more. Nothing is consumed.
    Incomplete,
    /// Close the connection without a reply (no `\n` in 2048 bytes).
    Close,
    /// Send `reply`, consume `consumed` bytes, then close if `close`.
    Reply {
        /// Bytes used.
        consumed: usize,
        /// What to answer.
        reply: Reply,
        /// Whether to close once the reply is written.
        close: bool,
    },
    /// A login attempt: check these, then consume `consumed` bytes.
    Token {
        /// Bytes used (the line and the block with its `\r\n`).
        consumed: usize,
        /// The user (non-empty, no space, no NUL).
        user: &'a [u8],
        /// The password (non-empty, no space, no NUL).
        password: &'a [u8],
    },
}

/// What to do with the buffered bytes, credentials checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read more; nothing is consumed.
    Wait,
    /// Close the connection without a reply.
    Close,
    /// Send `reply`, consume `consumed` bytes, then close if `close`.
    Reply {
        /// Bytes used.
        consumed: usize,
        /// What to answer ([`Reply::Stored`]: logged in).
        reply: Reply,
        /// Whether to close once the reply is written.
        close: bool,
    },
}

/// Decides what the bytes at the front of `buf` are (see the module
/// documentation for the rules).
pub fn parse(buf: &[u8]) -> Parsed<'_> {
    if buf.len() < MIN_BUFFERED {
        return Parsed::Incomplete;
    }
    let Some(newline) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > MAX_LINE_WITHOUT_NEWLINE {
            Parsed::Close
        } else {
            Parsed::Incomplete
        };
    };
    let line_len = newline + 1;
    let refuse = |reply, consumed, close| Parsed::Reply {
        consumed,
        reply,
        close,
    };
    let mut words = tokens(until_nul(&buf[..newline]));
    let (Some(cmd), Some(_key), Some(_flags), Some(_ttl), Some(size)) = (
        words.next(),
        words.next(),
        words.next(),
        words.next(),
        words.next(),
    ) else {
        return refuse(Reply::Unauthenticated, line_len, false);
    };
    if cmd != b"set" {
        return refuse(Reply::Unauthenticated, line_len, false);
    }
    let Some(size) = c_strtoull(size) else {
        return refuse(Reply::Unauthenticated, line_len, false);
    };
    if size > MAX_AUTH_REQ_LEN as u64 {
        return refuse(Reply::TokenTooLong, line_len, true);
    }
    let size = size as usize; // at most MAX_AUTH_REQ_LEN
    let total = line_len + size + 2;
    if buf.len() < total {
        return Parsed::Incomplete;
    }
    let block = &buf[line_len..total];
    if &block[size..] != b"\r\n" {
        return refuse(Reply::BadTermination, total, false);
    }
    let mut words = tokens(until_nul(&block[..size]));
    match (words.next(), words.next()) {
        (Some(user), Some(password)) => Parsed::Token {
            consumed: total,
            user,
            password,
        },
        _ => refuse(Reply::BadTokenFormat, total, false),
    }
}

/// [`parse`], with a login attempt checked against `credentials` (in
/// constant time: see [`Credentials::check`]).
pub fn authenticate(buf: &[u8], credentials: &Credentials) -> Action {
    match parse(buf) {
        Parsed::Incomplete => Action::Wait,
        Parsed::Close => Action::Close,
        Parsed::Reply {
            consumed,
            reply,
            close,
        } => Action::Reply {
            consumed,
            reply,
            close,
        },
        Parsed::Token {
            consumed,
            user,
            password,
        } => Action::Reply {
            consumed,
            reply: if credentials.check(user, password) {
                Reply::Stored
            } else {
                Reply::AuthenticationFailure
            },
            close: false,
        },
    }
}

/// The bytes before the first NUL: memcached reads the line and the block
/// as C strings.
fn until_nul(bytes: &[u8]) -> &[u8] {
    match memchr::memchr(0, bytes) {
        Some(i) => &bytes[..i],
        None => bytes,
    }
}

/// memcached's tokenizer: split on spaces, runs of them counting as one.
fn tokens(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

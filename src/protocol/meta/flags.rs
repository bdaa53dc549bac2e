//! A meta command's flags, read as memcached's `_meta_flag_preparse` reads
//! them: every command accepts every flag the parser knows (a flag that
//! means nothing to the command is ignored, but its token is still
//! checked), a flag is its token's first byte, and a byte seen twice is a
//! duplicate.
//!
//! Errors, in memcached's order: a duplicate or unknown flag stops at once;
//! a flag whose token does not parse (or a key that does not decode) is
//! noted and the walk goes on, the last such message being the one sent
//! (`F` sets no message of its own, so it keeps the one before, or `bad
//! command line format`).

use super::key::{self, KeyBuf};
use crate::cnum::{c_strtol32, c_strtoul32, c_strtoull};
use crate::model::{FlagOrder, Want};

/// memcached's `MFLAG_MAX_OPT_LENGTH`: at most this many tokens on a meta
/// line, command and key (and `ms`'s length) included.
pub const MAX_TOKENS: usize = 20;

/// memcached's `MFLAG_MAX_OPAQUE_LENGTH`: an `O` token, `O` included, of
/// at most this many bytes.
pub const MAX_OPAQUE: usize = 32;

pub const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";
pub const DUPLICATE: &str = "CLIENT_ERROR duplicate flag";
pub const INVALID: &str = "CLIENT_ERROR invalid flag";
pub const BAD_TOKEN: &str = "CLIENT_ERROR bad token in command line format";
pub const BAD_KEY: &str = "CLIENT_ERROR error decoding key";
pub const TOO_MANY: &str = "CLIENT_ERROR options flags are too long";
pub const BAD_INITIAL: &str = "CLIENT_ERROR invalid numeric initial value";
pub const BAD_DELTA: &str = "CLIENT_ERROR invalid numeric delta value";
pub const OPAQUE_TOO_LONG: &str = "CLIENT_ERROR opaque token too long";

/// The space-separated tokens of a line (empty runs skipped).
pub fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

/// What a meta command's flags ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags<'a> {
    /// The key to act on: as given, or decoded from base64 (`b`).
    pub key: &'a [u8],
    /// `b`: the key was base64.
    pub base64: bool,
    /// `q`
    pub quiet: bool,
    /// `v`
    pub value: bool,
    /// `u`
    pub no_bump: bool,
    /// `I`
    pub invalidate: bool,
    /// `x`
    pub remove_value: bool,
    /// `T`
    pub touch: Option<i64>,
    /// `N`
    pub vivify: Option<i64>,
    /// `R`
    pub recache: Option<i64>,
    /// `F` (0 when absent)
    pub client_flags: u32,
    /// `C`
    pub compare_cas: Option<u64>,
    /// `E`
    pub new_cas: Option<u64>,
    /// `M`: the byte after `M` (0: no `M`; a lone `M` reads as the line's
    /// end, as memcached reads the byte after it, which no mode matches).
    pub mode: u8,
    /// `J` (0 when absent)
    pub initial: u64,
    /// `D` (1 when absent)
    pub delta: u64,
    /// `O`'s whole token (`O` included), if given.
    pub opaque: Option<&'a [u8]>,
    /// The return flags asked for.
    pub want: Want,
    /// Where `T`, `N`, `R` and `t` stood.
    pub order: FlagOrder,
}

impl Flags<'_> {
    /// Whether the `O` token is longer than memcached echoes.
    pub fn opaque_too_long(&self) -> bool {
        self.opaque.is_some_and(|o| o.len() > MAX_OPAQUE)
    }
}

/// Reads the flag tokens `flags` of a command whose key token is `key`
/// (at most 250 bytes; decoded into `buf` for `b`).
pub fn parse<'a>(
    key: &'a [u8],
    flags: &'a [u8],
    buf: &'a mut KeyBuf,
) -> Result<Flags<'a>, &'static str> {
    let mut f = Flags {
        key,
        base64: false,
        quiet: false,
        value: false,
        no_bump: false,
        invalidate: false,
        remove_value: false,
        touch: None,
        vivify: None,
        recache: None,
        client_flags: 0,
        compare_cas: None,
        new_cas: None,
        mode: 0,
        initial: 0,
        delta: 1,
        opaque: None,
        want: Want::NONE,
        order: FlagOrder::default(),
    };
    let mut seen: u128 = 0; // one bit per flag letter
    let mut error: Option<&'static str> = None;
    let mut failed = false;
    let mut buf = Some(buf); // taken by the one `b`
    for (at, token) in tokens(flags).enumerate() {
        let at = at as u8; // at most MAX_TOKENS
        let flag = token[0];
        if flag >= 127 || seen & (1 << flag) != 0 {
            return Err(DUPLICATE);
        }
        seen |= 1 << flag;
        let arg = &token[1..];
        let mut bad = |message: Option<&'static str>| {
            failed = true;
            if message.is_some() {
                error = message;
            }
        };
        let exptime = |bad: &mut dyn FnMut(Option<&'static str>)| {
            let t = c_strtol32(arg).map(i64::from);
            if t.is_none() {
                bad(Some(BAD_TOKEN));
            }
            t
        };
        match flag {
            b'b' => {
                f.base64 = true;
                match buf.take().and_then(|buf| key::decode(key, buf)) {
                    Some(decoded) => f.key = decoded,
                    None => bad(Some(BAD_KEY)),
                }
            }
            b'N' => {
                f.vivify = exptime(&mut bad);
                f.order.vivify = at;
            }
            b'T' => {
                f.touch = exptime(&mut bad);
                f.order.touch = at;
            }
            b'R' => {
                f.recache = exptime(&mut bad);
                f.order.recache = at;
            }
            b'l' => f.want = f.want.with(Want::LAST_ACCESS),
            b'O' => f.opaque = Some(token),
            b'P' | b'L' => {} // proxy hints
            b'k' => f.want = f.want.with(Want::KEY),
            b's' => f.want = f.want.with(Want::SIZE),
            b't' => {
                f.want = f.want.with(Want::TTL);
                f.order.ttl = at;
            }
            b'c' => f.want = f.want.with(Want::CAS),
            b'f' => f.want = f.want.with(Want::FLAGS),
            b'v' => {
                f.value = true;
                f.want = f.want.with(Want::VALUE);
            }
            b'h' => f.want = f.want.with(Want::HIT_BEFORE),
            b'u' => f.no_bump = true,
            b'q' => f.quiet = true,
            b'x' => f.remove_value = true,
            b'F' => match c_strtoul32(arg) {
                Some(v) => f.client_flags = v,
                None => bad(None),
            },
            b'C' => match c_strtoull(arg) {
                Some(v) => f.compare_cas = Some(v),
                None => bad(Some(BAD_TOKEN)),
            },
            b'E' => match c_strtoull(arg) {
                Some(v) => f.new_cas = Some(v),
                None => bad(Some(BAD_TOKEN)),
            },
            b'M' => f.mode = arg.first().copied().unwrap_or(b'\n'),
            b'J' => match c_strtoull(arg) {
                Some(v) => f.initial = v,
                None => bad(Some(BAD_INITIAL)),
            },
            b'D' => match c_strtoull(arg) {
                Some(v) => f.delta = v,
                None => bad(Some(BAD_DELTA)),
            },
            b'I' => f.invalidate = true,
            _ => return Err(INVALID),
        }
    }
    match (failed, error) {
        (false, _) => Ok(f),
        (true, message) => Err(message.unwrap_or(BAD_FORMAT)),
    }
}

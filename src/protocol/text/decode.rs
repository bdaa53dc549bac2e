//! memcached's classic text protocol: request decoding.
//!
//! [`parse`] looks at the front of a read buffer and either finds one whole
//! request (and says how many bytes it used), asks for more bytes, or reports
//! a protocol error exactly as memcached 1.6 words it. It never consumes part
//! of a request: every proper prefix of a request is [`Parsed::Incomplete`],
//! with memcached's one exception: a prefix that is a line of more than 2048
//! bytes with no newline yet, and not a `get`/`gets`, is [`Parsed::Close`].
//! So a long `gat`, `bget` or space-padded line is served when it arrives
//! whole and closes the connection when its first 2048 bytes arrive alone,
//! in ferrocache as in memcached. `contract` checks these rules on any bytes.

use crate::cnum::{c_strtol32, c_strtoul32, c_strtoull};
use crate::model::{
    Command, DeltaMode, FlagOrder, KeepOptions, Keys, Limits, Payload, ReadOptions, ReplyPolicy,
    Request, StatsGroup, StoreMode, Want, WriteOptions, KEY_MAX_LENGTH,
};
use memchr::{memchr, memchr2};

/// memcached tokenises at most this many tokens (the last one holding the rest).
const MAX_TOKENS: usize = 24;

/// Bytes without a newline after which a line that is not a multi-get is
/// junk and the connection is closed (memcached's rule).
pub const MAX_LINE_WITHOUT_NEWLINE: usize = 2048;

/// A multi-get line may be long, but not unboundedly: past this many bytes
/// without a newline the connection is closed. (memcached has no bound here,
/// which is how its RSS ran away in issues #895 and #1046.)
pub const MAX_GET_LINE: usize = 2 * 1024 * 1024;

/// Largest value length memcached parses (`INT_MAX - 2`).
const MAX_VLEN: i64 = i32::MAX as i64 - 2;

/// The outcome of looking at the front of a read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not enough bytes for a whole request yet.
    Incomplete,
    /// A request that used `consumed` bytes; then `swallow` more bytes of
    /// the stream (an oversized data block) must be discarded unread.
    Request {
        /// The request.
        request: Request<'a>,
        /// Bytes of the buffer it used.
        consumed: usize,
        /// Bytes after those to discard as they arrive.
        swallow: usize,
    },
    /// A malformed request: send `reply` (a whole line without `\r\n`; `None`
    /// when noreply hides it) and drop `consumed` bytes.
    Error {
        /// The error line, if it is to be sent.
        reply: Option<&'static str>,
        /// Bytes of the buffer it used.
        consumed: usize,
    },
    /// Close the connection without a reply (junk, or an HTTP request).
    Close,
}

impl<'a> Parsed<'a> {
    /// A request that used `consumed` bytes, with nothing to swallow.
    fn request(command: Command<'a>, consumed: usize) -> Parsed<'a> {
        Parsed::quiet_request(command, false, consumed)
    }

    /// A request answered only without `noreply`.
    fn quiet_request(command: Command<'a>, noreply: bool, consumed: usize) -> Parsed<'a> {
        Parsed::Request {
            request: text_request(command, noreply),
            consumed,
            swallow: 0,
        }
    }

    /// An error line for a request of `consumed` bytes, hidden by `noreply`.
    fn error(reply: &'static str, noreply: bool, consumed: usize) -> Parsed<'a> {
        Parsed::Error {
            reply: (!noreply).then_some(reply),
            consumed,
        }
    }
}

/// A text request: `noreply` silences every reply; reads return the key,
/// flags and value (and the CAS for `gets`/`gats`).
fn text_request(command: Command<'_>, noreply: bool) -> Request<'_> {
    let request = Request::new(command);
    if noreply {
        request.with_policy(ReplyPolicy::Never)
    } else {
        request
    }
}

/// What a text read returns for each hit.
fn read_want(cas: bool) -> Want {
    let want = Want::KEY.with(Want::FLAGS).with(Want::VALUE);
    if cas {
        want.with(Want::CAS)
    } else {
        want
    }
}

const ERROR: &str = "ERROR";
const BAD_FORMAT: &str = "CLIENT_ERROR bad command line format";
const BAD_EXPTIME: &str = "CLIENT_ERROR invalid exptime argument";
const BAD_DELTA: &str = "CLIENT_ERROR invalid numeric delta argument";
const BAD_DELETE: &str = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]";

/// The tokens of one command line, split on spaces as memcached does.
struct Tokens<'a> {
    line: &'a [u8],
    toks: [&'a [u8]; MAX_TOKENS],
    n: usize,
}

impl<'a> Tokens<'a> {
    fn new(line: &'a [u8]) -> Tokens<'a> {
        let mut t = Tokens {
            line,
            toks: [&[]; MAX_TOKENS],
            n: 0,
        };
        let mut rest = line;
        loop {
            let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
            rest = &rest[start..];
            if rest.is_empty() {
                break;
            }
            if t.n == MAX_TOKENS - 1 {
                // memcached keeps the unscanned remainder as a final token.
                t.toks[t.n] = rest;
                t.n += 1;
                break;
            }
            // Tokens are short: a plain loop beats memchr's setup here.
            let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
            t.toks[t.n] = &rest[..end];
            t.n += 1;
            rest = &rest[end..];
        }
        t
    }

    fn get(&self, i: usize) -> &'a [u8] {
        self.toks[i]
    }

    /// The line from token `i` to its end.
    fn from(&self, i: usize) -> &'a [u8] {
        if i >= self.n {
            return &[];
        }
        let offset = self.toks[i].as_ptr() as usize - self.line.as_ptr() as usize;
        &self.line[offset..]
    }

    /// memcached's `set_noreply_maybe`: the last token is `noreply`.
    fn noreply(&self) -> bool {
        self.n > 0 && self.toks[self.n - 1] == b"noreply"
    }
}

/// Parses one request from the front of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    // One scan finds the newline, or a NUL before it: memcached works on C
    // strings, so a NUL ends the line.
    let (newline, nul) = match memchr2(b'\n', 0, buf) {
        Some(i) if buf[i] == b'\n' => (Some(i), None),
        Some(i) => (memchr(b'\n', &buf[i..]).map(|j| i + j), Some(i)),
        None => (None, None),
    };
    let Some(newline) = newline else {
        return if buf.len() > MAX_LINE_WITHOUT_NEWLINE && !is_long_get(buf) {
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
    let err = |reply, noreply| Parsed::error(reply, noreply, consumed);
    let ok = |command| Parsed::request(command, consumed);
    let ok_quiet = |command, noreply| Parsed::quiet_request(command, noreply, consumed);
    // The hot path: a read needs only its first token split off; the keys
    // stay as one list (memcached, too, hands the rest of a long get line
    // to its key loop untokenised).
    let (cmd, args) = first_token(line);
    if let b"get" | b"gets" | b"bget" = cmd {
        if args.iter().all(|&b| b == b' ') {
            return err(ERROR, false);
        }
        let read = Command::Get {
            keys: Keys::space_separated(args),
            touch: None,
            read: ReadOptions::default(),
        };
        return Parsed::Request {
            request: Request::new(read).with_want(read_want(cmd == b"gets")),
            consumed,
            swallow: 0,
        };
    }
    let t = Tokens::new(line);
    // memcached counts a terminal token too; `n` here is the real tokens.
    let n = t.n;
    if n == 0 || t.get(0).len() < 2 {
        return err(ERROR, false);
    }
    let cmd = t.get(0);
    match cmd[0] {
        b'g' => {
            if n < 2 {
                return err(ERROR, false);
            }
            match cmd {
                b"gat" | b"gats" => match c_strtol32(t.get(1)) {
                    Some(exptime) => Parsed::Request {
                        request: gat(&t, cmd == b"gats", exptime as i64),
                        consumed,
                        swallow: 0,
                    },
                    None => err(BAD_EXPTIME, false),
                },
                _ => err(ERROR, false),
            }
        }
        b's' => match cmd {
            b"set" => storage(&t, StoreMode::Set, buf, consumed, limits),
            b"stats" => ok(Command::Stats(stats_group(&t))),
            b"slabs" => slabs(&t, consumed),
            b"shutdown" => ok(Command::Shutdown {
                graceful: n == 2 && t.get(1) == b"graceful",
                valid: n == 1 || (n == 2 && t.get(1) == b"graceful"),
            }),
            _ => err(ERROR, false),
        },
        b'a' => match cmd {
            b"add" => storage(&t, StoreMode::Add, buf, consumed, limits),
            b"append" => storage(&t, StoreMode::Append, buf, consumed, limits),
            _ => err(ERROR, false),
        },
        b'c' => match cmd {
            b"cas" => storage(&t, StoreMode::Cas, buf, consumed, limits),
            // ElastiCache's `config get <key>` (auto-discovery).
            b"config" if n == 3 && t.get(1) == b"get" => ok(Command::ConfigGet { key: t.get(2) }),
            // Its write path: `config set <key> <flags> <bytes>` and a data
            // block (read whole even when refused), `config delete <key>`.
            b"config" if n == 5 && t.get(1) == b"set" => config_set(&t, buf, consumed, limits),
            b"config" if n == 3 && t.get(1) == b"delete" => {
                ok(Command::ConfigDelete { key: t.get(2) })
            }
            b"cache_memlimit" if n == 2 || n == 3 => {
                let noreply = t.noreply();
                match c_strtoul32(t.get(1)) {
                    Some(megabytes) => ok_quiet(Command::CacheMemlimit { megabytes }, noreply),
                    None => err(ERROR, noreply),
                }
            }
            _ => err(ERROR, false),
        },
        b'i' => match cmd {
            b"incr" => delta(&t, DeltaMode::Incr, consumed),
            _ => err(ERROR, false),
        },
        b'd' => match cmd {
            b"delete" => delete(&t, consumed),
            b"decr" => delta(&t, DeltaMode::Decr, consumed),
            _ => err(ERROR, false),
        },
        b't' => match cmd {
            b"touch" => touch(&t, consumed),
            _ => err(ERROR, false),
        },
        _ => match cmd {
            b"replace" => storage(&t, StoreMode::Replace, buf, consumed, limits),
            b"prepend" => storage(&t, StoreMode::Prepend, buf, consumed, limits),
            b"flush_all" if n <= 3 => flush_all(&t, consumed),
            b"version" => ok(Command::Version),
            b"lru_crawler" if n == 3 => match super::dump::lru_dump(t.get(1), t.get(2)) {
                Some(dump) => ok(Command::Dump(dump)),
                None => err(ERROR, false),
            },
            b"quit" => ok(Command::Quit),
            b"watch" => ok(Command::Watch(super::dump::watch(&t.toks[1..t.n]))),
            b"refresh_certs" if n <= 2 => {
                // noreply hides the OK; an error shows, as in memcached.
                let policy = if t.noreply() {
                    ReplyPolicy::ErrorsOnly
                } else {
                    ReplyPolicy::Always
                };
                Parsed::Request {
                    request: Request::new(Command::RefreshCerts).with_policy(policy),
                    consumed,
                    swallow: 0,
                }
            }
            b"verbosity" if n == 2 || n == 3 => {
                let noreply = t.noreply();
                match c_strtoul32(t.get(1)) {
                    Some(level) => ok_quiet(Command::Verbosity { level }, noreply),
                    None => err(BAD_FORMAT, noreply),
                }
            }
            b"flush_all" | b"verbosity" => err(ERROR, false),
            _ if t.get(n - 1).starts_with(b"HTTP/") => Parsed::Close,
            _ => err(ERROR, false),
        },
    }
}

/// memcached keeps reading a newline-less line only if it is a multi-get.
fn is_long_get(buf: &[u8]) -> bool {
    let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    let rest = &buf[spaces..];
    spaces <= 100
        && (rest.starts_with(b"get ") || rest.starts_with(b"gets "))
        && buf.len() <= MAX_GET_LINE
}

/// The first space-separated token of `line`, and what follows it.
fn first_token(line: &[u8]) -> (&[u8], &[u8]) {
    let start = line.iter().position(|&b| b != b' ').unwrap_or(line.len());
    let rest = &line[start..];
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    rest.split_at(end)
}

fn gat<'a>(t: &Tokens<'a>, cas: bool, exptime: i64) -> Request<'a> {
    Request::new(Command::Get {
        keys: Keys::space_separated(t.from(2)),
        touch: Some(exptime),
        read: ReadOptions::default(),
    })
    .with_want(read_want(cas))
}

fn stats_group<'a>(t: &Tokens<'a>) -> StatsGroup<'a> {
    if t.n == 1 {
        return StatsGroup::General;
    }
    match t.get(1) {
        b"reset" => StatsGroup::Reset,
        b"settings" => StatsGroup::Settings,
        b"items" => StatsGroup::Items,
        b"slabs" => StatsGroup::Slabs,
        b"sizes" => StatsGroup::Sizes,
        b"conns" => StatsGroup::Conns,
        b"hotkeys" => StatsGroup::HotKeys,
        b"detail" => StatsGroup::Detail((t.n > 2).then(|| t.get(2))),
        b"cachedump" => StatsGroup::CacheDump(super::dump::cache_dump(
            (t.n > 2).then(|| t.get(2)),
            (t.n > 3).then(|| t.get(3)),
        )),
        other => StatsGroup::Unknown(other),
    }
}

fn storage<'a>(
    t: &Tokens<'a>,
    mode: StoreMode,
    buf: &'a [u8],
    consumed: usize,
    limits: &Limits,
) -> Parsed<'a> {
    let want = if mode == StoreMode::Cas { 6 } else { 5 };
    if t.n != want && t.n != want + 1 {
        return Parsed::error(ERROR, false, consumed);
    }
    let noreply = t.noreply();
    let bad = Parsed::error(BAD_FORMAT, noreply, consumed);
    let key = t.get(1);
    if key.len() > KEY_MAX_LENGTH {
        return bad;
    }
    let (Some(flags), Some(exptime), Some(vlen)) = (
        c_strtoul32(t.get(2)),
        c_strtol32(t.get(3)),
        c_strtol32(t.get(4)),
    ) else {
        return bad;
    };
    let cas = if mode == StoreMode::Cas {
        match c_strtoull(t.get(5)) {
            Some(cas) => cas,
            None => return bad,
        }
    } else {
        0
    };
    let vlen = vlen as i64;
    if !(0..=MAX_VLEN).contains(&vlen) {
        return bad;
    }
    let vlen = vlen as usize;
    let request = |payload| {
        let command = Command::Store {
            mode,
            key,
            flags,
            exptime: exptime as i64,
            cas,
            payload,
            write: WriteOptions::default(),
        };
        text_request(command, noreply)
    };
    data_block(buf, consumed, vlen, limits, request)
}

/// `config set <key> <flags> <bytes>\r\n<data>\r\n`, read as a storage
/// command's data block is.
fn config_set<'a>(t: &Tokens<'a>, buf: &'a [u8], consumed: usize, limits: &Limits) -> Parsed<'a> {
    let key = t.get(2);
    let (Some(flags), Some(vlen)) = (c_strtoul32(t.get(3)), c_strtol32(t.get(4))) else {
        return Parsed::error(BAD_FORMAT, false, consumed);
    };
    let vlen = vlen as i64;
    if key.len() > KEY_MAX_LENGTH || !(0..=MAX_VLEN).contains(&vlen) {
        return Parsed::error(BAD_FORMAT, false, consumed);
    }
    let vlen = vlen as usize;
    let request = |payload| {
        text_request(
            Command::ConfigSet {
                key,
                flags,
                payload,
            },
            false,
        )
    };
    data_block(buf, consumed, vlen, limits, request)
}

/// The data block of `vlen` bytes after a command line of `consumed`
/// bytes, as a storage command (and `config set`) reads it: over the item
/// limit it is swallowed, otherwise buffered whole with its `\r\n` checked.
fn data_block<'a>(
    buf: &'a [u8],
    consumed: usize,
    vlen: usize,
    limits: &Limits,
    request: impl Fn(Payload<'a>) -> Request<'a>,
) -> Parsed<'a> {
    if vlen > limits.max_value_len {
        return Parsed::Request {
            request: request(Payload::Oversize),
            consumed,
            swallow: vlen + 2,
        };
    }
    let end = consumed + vlen + 2;
    if buf.len() < end {
        return Parsed::Incomplete;
    }
    Parsed::Request {
        request: request(Payload::Data {
            data: &buf[consumed..consumed + vlen],
            terminated: &buf[end - 2..end] == b"\r\n",
        }),
        consumed: end,
        swallow: 0,
    }
}

fn slabs<'a>(t: &Tokens<'a>, consumed: usize) -> Parsed<'a> {
    let error = |reply, noreply| Parsed::error(reply, noreply, consumed);
    match t.get(1) {
        b"reassign" if t.n == 4 => match (c_strtol32(t.get(2)), c_strtol32(t.get(3))) {
            (Some(src), Some(dst)) => {
                Parsed::request(Command::SlabsReassign { src, dst }, consumed)
            }
            _ => error(BAD_FORMAT, false),
        },
        b"automove" if t.n >= 3 => {
            let noreply = t.noreply();
            match c_strtoul32(t.get(2)) {
                Some(mode) => {
                    Parsed::quiet_request(Command::SlabsAutomove { mode }, noreply, consumed)
                }
                None => error(BAD_FORMAT, noreply),
            }
        }
        _ => error(ERROR, false),
    }
}

fn delete<'a>(t: &Tokens<'a>, consumed: usize) -> Parsed<'a> {
    if !(2..=4).contains(&t.n) {
        return Parsed::error(ERROR, false, consumed);
    }
    let mut noreply = false;
    if t.n > 2 {
        let zero = t.get(2) == b"0";
        noreply = t.noreply();
        let valid = (t.n == 3 && (zero || noreply)) || (t.n == 4 && zero && noreply);
        if !valid {
            return Parsed::error(BAD_DELETE, noreply, consumed);
        }
    }
    let key = t.get(1);
    if key.len() > KEY_MAX_LENGTH {
        return Parsed::error(BAD_FORMAT, noreply, consumed);
    }
    let delete = Command::Delete {
        key,
        cas: 0,
        keep: KeepOptions::default(),
    };
    Parsed::quiet_request(delete, noreply, consumed)
}

fn delta<'a>(t: &Tokens<'a>, mode: DeltaMode, consumed: usize) -> Parsed<'a> {
    key_and_number(t, consumed, c_strtoull, BAD_DELTA, |key, delta| {
        Command::Delta {
            key,
            mode,
            delta,
            create: None,
            cas: 0,
            exptime: None,
            new_cas: None,
            order: FlagOrder::default(),
        }
    })
}

fn touch<'a>(t: &Tokens<'a>, consumed: usize) -> Parsed<'a> {
    key_and_number(t, consumed, c_strtol32, BAD_EXPTIME, |key, exptime| {
        Command::Touch {
            key,
            exptime: exptime as i64,
        }
    })
}

/// `<cmd> <key> <number> [noreply]` (incr, decr, touch), with memcached's
/// error order: token count, key length, then the number.
fn key_and_number<'a, N>(
    t: &Tokens<'a>,
    consumed: usize,
    number: fn(&[u8]) -> Option<N>,
    bad_number: &'static str,
    command: impl FnOnce(&'a [u8], N) -> Command<'a>,
) -> Parsed<'a> {
    if t.n != 3 && t.n != 4 {
        return Parsed::error(ERROR, false, consumed);
    }
    let noreply = t.noreply();
    let key = t.get(1);
    let reply = if key.len() > KEY_MAX_LENGTH {
        BAD_FORMAT
    } else if let Some(n) = number(t.get(2)) {
        return Parsed::quiet_request(command(key, n), noreply, consumed);
    } else {
        bad_number
    };
    Parsed::error(reply, noreply, consumed)
}

fn flush_all<'a>(t: &Tokens<'a>, consumed: usize) -> Parsed<'a> {
    let noreply = t.noreply();
    let delay = if t.n != if noreply { 2 } else { 1 } {
        match c_strtol32(t.get(1)) {
            Some(d) => d as i64,
            None => return Parsed::error(BAD_EXPTIME, noreply, consumed),
        }
    } else {
        0
    };
    Parsed::quiet_request(Command::FlushAll { delay }, noreply, consumed)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;

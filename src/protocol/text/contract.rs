//! The text parser's contract, checked on arbitrary bytes.
//!
//! [`check`] is what the coverage-guided fuzz target (`fuzz/fuzz_targets/text.rs`)
//! asserts on every input it generates, and what the unit tests assert on
//! every file of the seed corpus (`fuzz/corpus/text/`). It panics, naming the
//! broken rule and the bytes, when [`parse`] breaks one of these rules:
//!
//! - a result's `consumed` is never more than the buffer, and never zero;
//! - a request or error ends at the first `\n`, or, for a storage command
//!   whose data block is buffered, exactly after its data and two more bytes;
//! - nothing is consumed from a proper prefix of a request: every proper
//!   prefix is [`Parsed::Incomplete`] (or [`Parsed::Close`] once it is a
//!   newline-less line past memcached's 2048 bytes, which memcached does too);
//! - bytes after a request change nothing: the same request, the same
//!   `consumed`, whatever follows;
//! - [`Parsed::Incomplete`] is never a dead end: a newline and enough bytes
//!   for the largest data block the limits allow always complete it;
//! - error replies are one line (`ERROR`, `CLIENT_ERROR …`, `SERVER_ERROR …`),
//!   hidden only when the line ends in `noreply`;
//! - keys are non-empty, free of spaces, newlines and NULs, inside the line,
//!   and no longer than 250 bytes where the parser checks the length; only
//!   `gat`/`gats` may list no key at all;
//! - a data block larger than the limit is swallowed, never buffered, and
//!   otherwise both limits give the same answer.

use super::{parse, Limits, Parsed, MAX_LINE_WITHOUT_NEWLINE};
use crate::model::KEY_MAX_LENGTH;
use crate::model::{Command, Payload, ReplyPolicy, Request, StoreMode};

/// The limits [`check`] parses with first: a megabyte, as the server's default.
pub const LARGE: Limits = Limits {
    max_value_len: 1024 * 1024,
};

/// Limits small enough that short inputs reach the oversized-block path.
pub const SMALL: Limits = Limits { max_value_len: 64 };

/// A parser with [`parse`]'s signature.
pub type ParseFn = for<'a> fn(&'a [u8], &Limits) -> Parsed<'a>;

/// Parses `input` as one connection's byte stream (request after request,
/// skipping swallowed data blocks) and checks every step against the
/// contract; panics on the first rule broken.
pub fn check(input: &[u8]) {
    check_parser(parse, input);
}

/// [`check`] for another parser (the unit tests show that a parser breaking
/// a rule is caught).
pub fn check_parser(parse: ParseFn, input: &[u8]) {
    let c = Checker { parse };
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        let large = c.check_one(rest, &LARGE);
        let small = c.check_one(rest, &SMALL);
        compare_limits(rest, &large, &small);
        pos += match large {
            Parsed::Request {
                consumed, swallow, ..
            } => consumed + swallow,
            Parsed::Error { consumed, .. } => consumed,
            Parsed::Incomplete | Parsed::Close => break,
        };
    }
}

/// The checks, over the parser under test.
struct Checker {
    parse: ParseFn,
}

impl Checker {
    /// Checks one parse of the front of `buf`; returns its result.
    fn check_one<'a>(&self, buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
        let parsed = (self.parse)(buf, limits);
        let newline = buf.iter().position(|&b| b == b'\n');
        match &parsed {
            Parsed::Incomplete => self.check_incomplete(buf, limits),
            Parsed::Close => {
                let line = &buf[..newline.unwrap_or(buf.len())];
                let too_long = newline.is_none() && buf.len() > MAX_LINE_WITHOUT_NEWLINE;
                let http = contains(line, b"HTTP/");
                ensure(
                    too_long || http,
                    buf,
                    "Close for a line that is neither junk nor HTTP",
                );
            }
            Parsed::Error { reply, consumed } => {
                let consumed = *consumed;
                ensure(
                    newline.map(|n| n + 1) == Some(consumed),
                    buf,
                    "an error consumes exactly its line",
                );
                let line = &buf[..consumed];
                match reply {
                    Some(reply) => ensure(
                        is_error_line(reply),
                        buf,
                        "an error reply is one ERROR / CLIENT_ERROR / SERVER_ERROR line",
                    ),
                    None => ensure(
                        ends_in_noreply(line),
                        buf,
                        "an error is hidden only by noreply",
                    ),
                }
            }
            Parsed::Request {
                request,
                consumed,
                swallow,
            } => {
                let consumed = *consumed;
                ensure(consumed > 0, buf, "a request consumes something");
                ensure(consumed <= buf.len(), buf, "consumed within the buffer");
                let Some(newline) = newline else {
                    fail(buf, "a request without a newline");
                };
                let line_end = newline + 1;
                check_request(buf, request, line_end, consumed, *swallow, limits);
            }
        }
        if let Parsed::Request { consumed, .. } | Parsed::Error { consumed, .. } = parsed {
            self.check_prefixes(buf, consumed, limits);
            self.check_extensions(buf, &parsed, consumed, limits);
        }
        parsed
    }

    /// Every proper prefix of a request (or error) of `consumed` bytes asks for
    /// more bytes. For long inputs a sample of cut points is tried: all cuts
    /// near the start, the first newline and the end, and evenly spaced ones.
    fn check_prefixes(&self, buf: &[u8], consumed: usize, limits: &Limits) {
        let mut check_cut = |cut: usize| {
            let prefix = &buf[..cut];
            match (self.parse)(prefix, limits) {
                Parsed::Incomplete => {}
                // memcached closes a newline-less line past 2048 bytes that is
                // not a multi-get, however it was going to end.
                Parsed::Close
                    if prefix.len() > MAX_LINE_WITHOUT_NEWLINE && !prefix.contains(&b'\n') => {}
                other => fail(
                    buf,
                    &format!("the {cut}-byte prefix of a {consumed}-byte request gave {other:?}"),
                ),
            }
        };
        if consumed <= 96 {
            (0..consumed).for_each(&mut check_cut);
            return;
        }
        let newline = buf.iter().position(|&b| b == b'\n').unwrap_or(0);
        (0..16).for_each(&mut check_cut);
        (consumed - 16..consumed).for_each(&mut check_cut);
        (newline.saturating_sub(2)..(newline + 3).min(consumed)).for_each(&mut check_cut);
        (1..16).for_each(|i| check_cut(consumed * i / 16));
    }

    /// Bytes after a request change nothing: the request alone, and the request
    /// followed by other bytes than the input's, parse as the whole input did.
    fn check_extensions(&self, buf: &[u8], parsed: &Parsed<'_>, consumed: usize, limits: &Limits) {
        let alone = (self.parse)(&buf[..consumed], limits);
        ensure(&alone == parsed, buf, "the request alone parses the same");
        let mut longer = buf[..consumed].to_vec();
        longer.extend_from_slice(b"\r\n\0get k\r\nset k 0 0 1\r\n");
        let again = (self.parse)(&longer, limits);
        ensure(&again == parsed, buf, "appended bytes change the request");
    }

    /// An incomplete buffer is completed by a newline and room for the largest
    /// block the limits buffer: a connection is never stuck waiting forever.
    fn check_incomplete(&self, buf: &[u8], limits: &Limits) {
        if limits.max_value_len > SMALL.max_value_len {
            return; // (a megabyte of padding per input would be too slow)
        }
        let mut longer = buf.to_vec();
        longer.push(b'\n');
        longer.resize(longer.len() + limits.max_value_len + 2, b'x');
        if (self.parse)(&longer, limits) == Parsed::Incomplete {
            fail(
                buf,
                "Incomplete even with a newline and a whole data block more",
            );
        }
    }
}

/// What a request's fields must satisfy.
fn check_request(
    buf: &[u8],
    request: &Request<'_>,
    line_end: usize,
    consumed: usize,
    swallow: usize,
    limits: &Limits,
) {
    // The command line without its newline: every key and token lies in it.
    let line = &buf[..line_end - 1];
    if request.policy == ReplyPolicy::Never {
        ensure(
            ends_in_noreply(line),
            buf,
            "noreply only when the line says so",
        );
    }
    let in_line = |key: &[u8]| {
        let start = (key.as_ptr() as usize).checked_sub(buf.as_ptr() as usize);
        start.is_some_and(|start| start + key.len() <= line.len())
    };
    let check_key = |key: &[u8], bounded: bool| {
        ensure(!key.is_empty(), buf, "a key is not empty");
        ensure(
            !key.iter().any(|&b| matches!(b, b' ' | b'\n' | 0)),
            buf,
            "a key has no space, newline or NUL",
        );
        ensure(in_line(key), buf, "a key lies inside its command line");
        if bounded {
            ensure(
                key.len() <= KEY_MAX_LENGTH,
                buf,
                "a key is at most 250 bytes",
            );
        }
    };
    match &request.command {
        Command::Store {
            key,
            payload,
            cas,
            mode,
            ..
        } => {
            check_key(key, true);
            if *mode != StoreMode::Cas {
                ensure(*cas == 0, buf, "only cas carries a CAS value");
            }
            match payload {
                Payload::Data { data, terminated } => {
                    ensure(swallow == 0, buf, "a buffered block swallows nothing");
                    ensure(
                        data.len() <= limits.max_value_len,
                        buf,
                        "a buffered block is within the limit",
                    );
                    ensure(
                        consumed == line_end + data.len() + 2,
                        buf,
                        "a store consumes its line, its data and two bytes",
                    );
                    ensure(
                        *data == &buf[line_end..line_end + data.len()],
                        buf,
                        "the data is the bytes after the line",
                    );
                    ensure(
                        *terminated == (&buf[consumed - 2..consumed] == b"\r\n"),
                        buf,
                        "terminated tells whether \\r\\n follows the data",
                    );
                }
                Payload::Oversize => {
                    ensure(
                        consumed == line_end,
                        buf,
                        "an oversized store consumes its line",
                    );
                    ensure(
                        swallow > limits.max_value_len + 2,
                        buf,
                        "only a block over the limit is swallowed",
                    );
                }
            }
            return;
        }
        Command::Get { keys, touch, .. } => {
            let mut any = false;
            for key in keys.iter() {
                check_key(key, false);
                any = true;
            }
            // `gat 10` without keys is memcached's empty read (END); a
            // get, gets or bget without keys is an ERROR.
            ensure(
                any || touch.is_some(),
                buf,
                "a get, gets or bget has at least one key",
            );
        }
        Command::Delete { key, .. } | Command::Delta { key, .. } | Command::Touch { key, .. } => {
            check_key(key, true)
        }
        _ => {}
    }
    ensure(
        consumed == line_end,
        buf,
        "a request without data consumes its line",
    );
    ensure(swallow == 0, buf, "a request without data swallows nothing");
}

/// The two limits agree, except that a store whose block is over the small
/// limit is swallowed there while the large limit buffers it.
fn compare_limits(buf: &[u8], large: &Parsed<'_>, small: &Parsed<'_>) {
    if large == small {
        return;
    }
    let Parsed::Request {
        request:
            Request {
                command:
                    Command::Store {
                        payload: Payload::Oversize,
                        ..
                    },
                ..
            },
        swallow,
        ..
    } = small
    else {
        fail(buf, &format!("limits disagree: {large:?} vs {small:?}"));
    };
    let vlen = swallow - 2;
    let agrees = match large {
        Parsed::Incomplete => true,
        Parsed::Request {
            request:
                Request {
                    command: Command::Store { payload, .. },
                    ..
                },
            ..
        } => match payload {
            Payload::Data { data, .. } => data.len() == vlen,
            Payload::Oversize => large == small,
        },
        _ => false,
    };
    ensure(
        agrees && vlen > SMALL.max_value_len,
        buf,
        &format!("limits disagree beyond the block size: {large:?} vs {small:?}"),
    );
}

/// Whether the last space-separated token of `line` is `noreply` (the line
/// may still end in `\r`, which memcached strips, or hold a NUL, which ends it).
fn ends_in_noreply(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = &line[..line.iter().position(|&b| b == 0).unwrap_or(line.len())];
    line.split(|&b| b == b' ')
        .rfind(|t| !t.is_empty())
        .is_some_and(|t| t == b"noreply")
}

/// Whether `reply` is one protocol error line.
fn is_error_line(reply: &str) -> bool {
    !reply.contains(['\r', '\n', '\0'])
        && (reply == "ERROR"
            || ["CLIENT_ERROR ", "SERVER_ERROR "]
                .iter()
                .any(|p| reply.len() > p.len() && reply.starts_with(p)))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn ensure(ok: bool, buf: &[u8], rule: &str) {
    if !ok {
        fail(buf, rule);
    }
}

fn fail(buf: &[u8], rule: &str) -> ! {
    let shown = &buf[..buf.len().min(512)];
    panic!(
        "text parser contract broken: {rule}\n  input ({} bytes): {:?}",
        buf.len(),
        String::from_utf8_lossy(shown)
    );
}

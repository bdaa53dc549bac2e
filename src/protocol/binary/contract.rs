//! The binary parser's contract, checked on arbitrary bytes.
//!
//! [`check`] is what the coverage-guided fuzz target
//! (`fuzz/fuzz_targets/binary.rs`) asserts on every input it generates,
//! and what the unit tests assert on every file of the seed corpus
//! (`fuzz/corpus/binary/`). It reads the input as one connection's byte
//! stream, packet after packet, and panics, naming the broken rule and the
//! bytes, when [`parse`] breaks one of these rules:
//!
//! - `consumed` is never more than the buffer, and at least a header;
//! - never a desync: a request, a SASL step or an error that goes on
//!   accounts for exactly the packet's `24 + bodylen` bytes (`consumed`
//!   plus what it says to swallow), so the next packet starts right after;
//!   only an error that closes, or a bad magic byte, may end the stream;
//! - nothing is consumed from a proper prefix of a packet: every proper
//!   prefix of what a result consumed is [`Parsed::Incomplete`];
//! - bytes after a packet change nothing: the same result, whatever
//!   follows (swallowed bytes included);
//! - [`Parsed::Incomplete`] is never a dead end: the rest of the declared
//!   packet always completes it;
//! - a request's fields come from its header: the opaque echoed, quiet
//!   opcodes and only they `ErrorsOnly`, keys of 1 to 250 bytes at the
//!   key's place in the packet, a value exactly the packet's value bytes,
//!   an oversized one swallowed and never buffered; the same input under a
//!   64-byte and a 1 MiB limit parses the same otherwise;
//! - an error's status is one memcached sends for a refused packet, and
//!   [`Parsed::without_sasl`] keeps the accounting;
//! - the `-vv` trace renders any input without panicking.

use super::header::{Header, Status, HEADER_LEN, REQUEST_MAGIC};
use super::{parse, trace, Limits, Parsed, Then};
use crate::model::{Command, Keys, Opaque, Payload, ReplyPolicy, Request, KEY_MAX_LENGTH};

/// The limits [`check`] parses with first: a megabyte, as the server's default.
pub const LARGE: Limits = Limits {
    max_value_len: 1024 * 1024,
};

/// Limits small enough that short inputs reach the oversized-value path.
pub const SMALL: Limits = Limits { max_value_len: 64 };

/// A parser with [`parse`]'s signature.
pub type ParseFn = for<'a> fn(&'a [u8], &Limits) -> Parsed<'a>;

/// Parses `input` as one connection's byte stream and checks every step
/// against the contract; panics on the first rule broken.
pub fn check(input: &[u8]) {
    check_parser(parse, input);
}

/// [`check`] for another parser (the unit tests show that a parser breaking
/// a rule is caught).
pub fn check_parser(parse: ParseFn, input: &[u8]) {
    let _ = trace::request_line(input);
    let _ = trace::reply_lines(input);
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
            Parsed::Sasl { consumed, .. } => consumed,
            Parsed::Error {
                consumed,
                then: Then::Continue,
                ..
            } => consumed,
            Parsed::Error {
                consumed,
                then: Then::Swallow(n),
                ..
            } => consumed + n,
            Parsed::Error { .. } | Parsed::Incomplete | Parsed::Close => break,
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
        let consumed = match &parsed {
            Parsed::Incomplete => {
                self.check_incomplete(buf, limits);
                return parsed;
            }
            Parsed::Close => {
                ensure(
                    buf.len() >= HEADER_LEN && buf[0] != REQUEST_MAGIC,
                    buf,
                    "Close only for a whole header without the request magic",
                );
                return parsed;
            }
            Parsed::Request {
                request,
                header,
                consumed,
                swallow,
            } => {
                let header = self.header(buf, header, *consumed);
                ensure(
                    consumed + swallow == header.packet_len(),
                    buf,
                    "a request accounts for exactly its packet",
                );
                check_request(buf, request, &header, *consumed, *swallow, limits);
                *consumed
            }
            Parsed::Sasl {
                mechanism,
                data,
                header,
                consumed,
                ..
            } => {
                let header = self.header(buf, header, *consumed);
                ensure(
                    *consumed == header.packet_len(),
                    buf,
                    "a SASL step consumes its packet",
                );
                ensure(
                    *mechanism == key_of(buf, &header)
                        && *data == &buf[header.head_len()..*consumed],
                    buf,
                    "a SASL step's mechanism and data are its key and value",
                );
                *consumed
            }
            Parsed::Error {
                header,
                status,
                consumed,
                then,
                ..
            } => {
                let header = self.header(buf, header, *consumed);
                ensure(
                    !matches!(status, Status::Success | Status::AuthContinue),
                    buf,
                    "an error's status is an error",
                );
                let accounted = match then {
                    Then::Continue => *consumed == header.packet_len(),
                    Then::Swallow(n) => *n > 0 && consumed + n == header.packet_len(),
                    Then::Close => true,
                };
                ensure(
                    accounted,
                    buf,
                    "an error that goes on accounts for its packet",
                );
                *consumed
            }
        };
        check_without_sasl(buf, &parsed);
        self.check_prefixes(buf, consumed, limits);
        self.check_extensions(buf, &parsed, consumed, limits);
        parsed
    }

    /// A result's header is the buffer's, and it consumed at least that.
    fn header(&self, buf: &[u8], header: &Header, consumed: usize) -> Header {
        ensure(
            buf.len() >= HEADER_LEN,
            buf,
            "a result needs a whole header",
        );
        ensure(
            *header == Header::decode(buf),
            buf,
            "the header is the packet's",
        );
        ensure(
            (HEADER_LEN..=buf.len()).contains(&consumed),
            buf,
            "consumed is at least a header and within the buffer",
        );
        *header
    }

    /// Every proper prefix of what a result consumed asks for more bytes.
    /// For long packets a sample of cut points is tried: all cuts near the
    /// start and the end, and evenly spaced ones.
    fn check_prefixes(&self, buf: &[u8], consumed: usize, limits: &Limits) {
        let check_cut = |cut: usize| match (self.parse)(&buf[..cut], limits) {
            Parsed::Incomplete => {}
            other => fail(
                buf,
                &format!("the {cut}-byte prefix of a {consumed}-byte packet gave {other:?}"),
            ),
        };
        if consumed <= 96 {
            (0..consumed).for_each(check_cut);
            return;
        }
        (0..32).for_each(check_cut);
        (consumed - 16..consumed).for_each(check_cut);
        (1..16).for_each(|i| check_cut(consumed * i / 16));
    }

    /// Bytes after a packet change nothing.
    fn check_extensions(&self, buf: &[u8], parsed: &Parsed<'_>, consumed: usize, limits: &Limits) {
        let alone = (self.parse)(&buf[..consumed], limits);
        ensure(&alone == parsed, buf, "the packet alone parses the same");
        let mut longer = buf[..consumed].to_vec();
        longer.extend_from_slice(&[0x80, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]);
        let again = (self.parse)(&longer, limits);
        ensure(&again == parsed, buf, "appended bytes change the result");
    }

    /// An incomplete buffer is completed by the rest of its packet (zeros
    /// for the header, then the declared body): never stuck for ever.
    fn check_incomplete(&self, buf: &[u8], limits: &Limits) {
        if limits.max_value_len > SMALL.max_value_len {
            return; // (a megabyte of padding per input would be too slow)
        }
        let mut longer = buf.to_vec();
        if longer.len() < HEADER_LEN {
            longer.resize(HEADER_LEN, 0);
        }
        let header = Header::decode(&longer);
        if header.magic == REQUEST_MAGIC {
            // The head always; the whole body when a small one is declared.
            let want = header.head_len().max(
                header
                    .packet_len()
                    .min(header.head_len() + limits.max_value_len),
            );
            longer.resize(longer.len().max(want), 0);
        }
        if (self.parse)(&longer, limits) == Parsed::Incomplete {
            fail(buf, "Incomplete even with the rest of the packet");
        }
    }
}

/// The key's bytes in a whole-head packet.
fn key_of<'a>(buf: &'a [u8], header: &Header) -> &'a [u8] {
    let start = HEADER_LEN + header.extlen as usize;
    &buf[start..start + header.keylen as usize]
}

/// What a request's fields must satisfy.
fn check_request(
    buf: &[u8],
    request: &Request<'_>,
    header: &Header,
    consumed: usize,
    swallow: usize,
    limits: &Limits,
) {
    ensure(
        request.opaque == Opaque::Number(header.opaque),
        buf,
        "the opaque is the header's",
    );
    let quiet = request.policy == ReplyPolicy::ErrorsOnly;
    ensure(
        quiet == header.is_quiet()
            && matches!(
                request.policy,
                ReplyPolicy::Always | ReplyPolicy::ErrorsOnly
            ),
        buf,
        "quiet opcodes, and only they, answer errors only",
    );
    let key = key_of(buf, header);
    let check_key = |k: &[u8]| {
        ensure(
            k == key && std::ptr::eq(k.as_ptr(), key.as_ptr()),
            buf,
            "the key is the packet's key",
        );
        ensure(
            (1..=KEY_MAX_LENGTH).contains(&k.len()),
            buf,
            "a key has 1 to 250 bytes",
        );
    };
    let value = header.packet_len() - header.head_len();
    match &request.command {
        // Stores, and ElastiCache's config set (0x64): a key and a value.
        Command::Store { key, payload, .. } | Command::ConfigSet { key, payload, .. } => {
            check_key(key);
            match payload {
                Payload::Data { data, terminated } => {
                    ensure(*terminated, buf, "binary values are always terminated");
                    ensure(
                        data.len() <= limits.max_value_len && swallow == 0,
                        buf,
                        "a buffered value is within the limit and swallows nothing",
                    );
                    ensure(
                        *data == &buf[header.head_len()..consumed] && data.len() == value,
                        buf,
                        "the data is the packet's value",
                    );
                }
                Payload::Oversize => ensure(
                    swallow == value && value > limits.max_value_len,
                    buf,
                    "only a value over the limit is swallowed",
                ),
            }
            return;
        }
        Command::Get { keys, .. } => match keys {
            Keys::One(k) => check_key(k),
            Keys::Spaced(_) => fail(buf, "binary reads have one key"),
        },
        Command::Delete { key, .. } | Command::Delta { key, .. } | Command::Touch { key, .. } => {
            check_key(key)
        }
        Command::Stats(_) => {}
        // ElastiCache's config get and delete (0x60, 0x66): the key names
        // the setting.
        Command::ConfigGet { key: k } | Command::ConfigDelete { key: k } => check_key(k),
        Command::FlushAll { .. } | Command::Noop | Command::Version | Command::Quit => {
            ensure(key.is_empty(), buf, "no key for this opcode")
        }
        other => fail(buf, &format!("not a binary command: {other:?}")),
    }
    ensure(
        consumed == header.head_len(),
        buf,
        "a request without a value consumes its head",
    );
}

/// `without_sasl` keeps every result's accounting, turns a SASL step
/// into UNKNOWN_COMMAND, and leaves other opcodes' results alone.
fn check_without_sasl(buf: &[u8], parsed: &Parsed<'_>) {
    let refused = parsed.clone().without_sasl();
    let sasl = matches!(buf[1], 0x20..=0x22);
    match (parsed, &refused) {
        (
            Parsed::Sasl { consumed, .. },
            Parsed::Error {
                status,
                consumed: c,
                then,
                ..
            },
        ) => ensure(
            *status == Status::UnknownCommand && c == consumed && *then == Then::Continue,
            buf,
            "without SASL, a SASL step is UNKNOWN_COMMAND",
        ),
        (
            Parsed::Error { consumed, then, .. },
            Parsed::Error {
                consumed: c,
                then: t,
                status,
                ..
            },
        ) => ensure(
            c == consumed
                && t == then
                && (!sasl || *then == Then::Close || *status == Status::UnknownCommand),
            buf,
            "without SASL, a refused SASL packet is UNKNOWN_COMMAND, accounted alike",
        ),
        _ => ensure(
            &refused == parsed && !sasl,
            buf,
            "without_sasl changes only SASL results",
        ),
    }
}

/// The two limits agree, except where a value over the small limit is
/// swallowed (a store or a config set) or refused (a SASL step) there while the large
/// limit buffers it or waits for it.
fn compare_limits(buf: &[u8], large: &Parsed<'_>, small: &Parsed<'_>) {
    if large == small {
        return;
    }
    let value = |h: &Header| h.packet_len() - h.head_len();
    let agrees = match small {
        Parsed::Request {
            request:
                Request {
                    command:
                        Command::Store {
                            payload: Payload::Oversize,
                            ..
                        }
                        | Command::ConfigSet {
                            payload: Payload::Oversize,
                            ..
                        },
                    ..
                },
            header,
            ..
        } => {
            value(header) > SMALL.max_value_len
                && match large {
                    Parsed::Incomplete => true,
                    Parsed::Request {
                        request:
                            Request {
                                command:
                                    Command::Store { payload, .. } | Command::ConfigSet { payload, .. },
                                ..
                            },
                        ..
                    } => matches!(payload, Payload::Data { .. }),
                    _ => false,
                }
        }
        Parsed::Error {
            status: Status::OutOfMemory,
            header,
            ..
        } => {
            value(header) > SMALL.max_value_len
                && matches!(large, Parsed::Incomplete | Parsed::Sasl { .. })
        }
        _ => false,
    };
    ensure(
        agrees,
        buf,
        &format!("limits disagree: {large:?} vs {small:?}"),
    );
}

fn ensure(ok: bool, buf: &[u8], rule: &str) {
    if !ok {
        fail(buf, rule);
    }
}

fn fail(buf: &[u8], rule: &str) -> ! {
    let shown = &buf[..buf.len().min(256)];
    panic!(
        "binary parser contract broken: {rule}\n  input ({} bytes): {shown:02x?}",
        buf.len()
    );
}

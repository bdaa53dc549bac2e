//! The meta codec's contract, checked on arbitrary bytes.
//!
//! [`check`] is what the coverage-guided fuzz target
//! (`fuzz/fuzz_targets/meta.rs`) asserts on every input it generates, and
//! what the unit tests assert on every file of the seed corpus
//! (`fuzz/corpus/meta/`). The input is one connection's byte stream, read
//! as the text session reads it: a meta line goes to [`parse`], anything
//! else is skipped to its newline. It panics, naming the broken rule and
//! the bytes, when:
//!
//! - a result's `consumed` is zero or more than the buffer;
//! - a request or error does not end at the first `\n`, or, for an `ms`
//!   whose data block is buffered, exactly after its data and two bytes;
//! - part of a request is consumed: every proper prefix is
//!   [`Parsed::Incomplete`] (or [`Parsed::Close`] once it is a newline-less
//!   line past 2048 bytes);
//! - bytes after a request change it;
//! - [`Parsed::Incomplete`] is a dead end: a newline and room for the
//!   largest data block the limits buffer always complete it;
//! - an error is not one `ERROR` / `CLIENT_ERROR …` / `SERVER_ERROR …` line,
//!   or one that swallows bytes is not an `ms` error;
//! - a key is empty or longer than 250 bytes (187 for a base64 key), or a
//!   key not given in base64 is not a space-free part of its line;
//! - a data block over the limit is buffered, or one within it swallowed,
//!   or the two limits disagree otherwise;
//! - the encoder, given any response to a request, writes anything but
//!   whole `\r\n`-ended lines (and for `VA <n>` the `n` bytes announced),
//!   or anything at all for a success or miss under `q`.

use super::{is_meta, parse, KeyBuf, MetaReply, Parsed, MAX_LINE_WITHOUT_NEWLINE};
use crate::model::{
    Command, Error, Item, ItemMeta, Lease, Limits, Payload, Reply, ReplyPolicy, Response, Value,
    KEY_MAX_LENGTH,
};

/// The limits [`check`] parses with first: a megabyte, as the server's default.
pub const LARGE: Limits = Limits {
    max_value_len: 1024 * 1024,
};

/// Limits small enough that short inputs reach the oversized-block path.
pub const SMALL: Limits = Limits { max_value_len: 64 };

/// Checks every meta request of the stream `input` against the contract;
/// panics on the first rule broken.
pub fn check(input: &[u8]) {
    let mut pos = 0;
    while pos < input.len() {
        let rest = &input[pos..];
        if !is_meta(rest) {
            // Not ours: the text codec answers it; go to the next line.
            match rest.iter().position(|&b| b == b'\n') {
                Some(n) => pos += n + 1,
                None => break,
            }
            continue;
        }
        let mut keys = KeyBuf::default();
        let mut small_keys = KeyBuf::default();
        let large = check_one(rest, &LARGE, &mut keys);
        let small = parse(rest, &SMALL, &mut small_keys);
        compare_limits(rest, &large, &small);
        pos += match large {
            Parsed::Request {
                consumed, swallow, ..
            }
            | Parsed::Error {
                consumed, swallow, ..
            } => consumed + swallow,
            Parsed::Incomplete | Parsed::Close => break,
        };
    }
}

/// Checks one parse of the front of `buf`; returns its result.
fn check_one<'a>(buf: &'a [u8], limits: &Limits, keys: &'a mut KeyBuf) -> Parsed<'a> {
    let newline = buf.iter().position(|&b| b == b'\n');
    let parsed = parse(buf, limits, keys);
    match &parsed {
        Parsed::Incomplete => check_incomplete(buf, limits),
        Parsed::Close => ensure(
            newline.is_none() && buf.len() > MAX_LINE_WITHOUT_NEWLINE,
            buf,
            "Close only for a newline-less line past 2048 bytes",
        ),
        Parsed::Error {
            reply,
            consumed,
            swallow,
        } => {
            ensure(
                newline.map(|n| n + 1) == Some(*consumed),
                buf,
                "an error consumes exactly its line",
            );
            ensure(is_error_line(reply), buf, "an error is one error line");
            if *swallow > 0 {
                ensure(
                    first_token(buf) == b"ms",
                    buf,
                    "only ms errors swallow a data block",
                );
            }
        }
        Parsed::Request {
            request,
            plan,
            consumed,
            swallow,
        } => {
            let Some(newline) = newline else {
                fail(buf, "a request without a newline");
            };
            let line_end = newline + 1;
            ensure(*consumed <= buf.len(), buf, "consumed within the buffer");
            check_request(
                buf,
                request,
                plan.base64,
                line_end,
                *consumed,
                *swallow,
                limits,
            );
            check_replies(buf, request, plan);
        }
    }
    if let Parsed::Request { consumed, .. } | Parsed::Error { consumed, .. } = parsed {
        check_prefixes(buf, consumed, limits);
        check_extension(buf, &parsed, consumed, limits);
    }
    parsed
}

/// Every proper prefix of a request of `consumed` bytes asks for more (a
/// sample of cut points for long ones).
fn check_prefixes(buf: &[u8], consumed: usize, limits: &Limits) {
    let check_cut = |cut: usize| {
        let prefix = &buf[..cut];
        match parse(prefix, limits, &mut KeyBuf::default()) {
            Parsed::Incomplete => {}
            Parsed::Close
                if prefix.len() > MAX_LINE_WITHOUT_NEWLINE && !prefix.contains(&b'\n') => {}
            other => fail(
                buf,
                &format!("the {cut}-byte prefix of a {consumed}-byte request gave {other:?}"),
            ),
        }
    };
    if consumed <= 96 {
        (0..consumed).for_each(check_cut);
        return;
    }
    (0..16).for_each(check_cut);
    (consumed - 16..consumed).for_each(check_cut);
    (1..16).for_each(|i| check_cut(consumed * i / 16));
}

/// Bytes after a request change nothing.
fn check_extension(buf: &[u8], parsed: &Parsed<'_>, consumed: usize, limits: &Limits) {
    let mut keys = KeyBuf::default();
    let alone = parse(&buf[..consumed], limits, &mut keys);
    ensure(&alone == parsed, buf, "the request alone parses the same");
    let mut longer = buf[..consumed].to_vec();
    longer.extend_from_slice(b"\r\n\0mg k v\r\nms k 1\r\n");
    let mut keys = KeyBuf::default();
    let again = parse(&longer, limits, &mut keys);
    ensure(&again == parsed, buf, "appended bytes change the request");
}

/// An incomplete buffer is completed by a newline and a whole block more.
fn check_incomplete(buf: &[u8], limits: &Limits) {
    if limits.max_value_len > SMALL.max_value_len {
        return; // (a megabyte of padding per input would be too slow)
    }
    let mut longer = buf.to_vec();
    longer.push(b'\n');
    longer.resize(longer.len() + limits.max_value_len + 2, b'x');
    if parse(&longer, limits, &mut KeyBuf::default()) == Parsed::Incomplete {
        fail(
            buf,
            "Incomplete even with a newline and a whole data block more",
        );
    }
}

/// What a request's fields must satisfy.
fn check_request(
    buf: &[u8],
    request: &crate::model::Request<'_>,
    base64: bool,
    line_end: usize,
    consumed: usize,
    swallow: usize,
    limits: &Limits,
) {
    let line = &buf[..line_end - 1];
    let check_key = |key: &[u8]| {
        ensure(!key.is_empty(), buf, "a key is not empty");
        if base64 {
            ensure(
                key.len() <= 187,
                buf,
                "a base64 key decodes to 187 bytes at most",
            );
        } else {
            ensure(
                key.len() <= KEY_MAX_LENGTH,
                buf,
                "a key is at most 250 bytes",
            );
            ensure(!key.contains(&b' '), buf, "a key has no space");
            let start = (key.as_ptr() as usize).checked_sub(buf.as_ptr() as usize);
            ensure(
                start.is_some_and(|s| s + key.len() <= line.len()),
                buf,
                "a key lies inside its command line",
            );
        }
    };
    match &request.command {
        Command::Store { key, payload, .. } => {
            check_key(key);
            match payload {
                Payload::Data { data, terminated } => {
                    ensure(swallow == 0, buf, "a buffered block swallows nothing");
                    ensure(
                        data.len() <= limits.max_value_len,
                        buf,
                        "block within the limit",
                    );
                    ensure(
                        consumed == line_end + data.len() + 2,
                        buf,
                        "an ms consumes its line, its data and two bytes",
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
                        "an oversized ms consumes its line",
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
        Command::Get { keys, .. } => keys.iter().for_each(check_key),
        Command::Delete { key, .. } | Command::Delta { key, .. } | Command::Inspect { key } => {
            check_key(key)
        }
        Command::Noop => {}
        other => fail(buf, &format!("not a meta command: {other:?}")),
    }
    ensure(
        consumed == line_end,
        buf,
        "a request without data consumes its line",
    );
    ensure(swallow == 0, buf, "a request without data swallows nothing");
}

/// Encodes every kind of response to `request` and checks the bytes.
fn check_replies(buf: &[u8], request: &crate::model::Request<'_>, plan: &super::Plan<'_>) {
    let meta = ItemMeta {
        ttl: 30,
        last_access: 2,
        fetched: true,
        stale: true,
        lease: Lease::Won,
        binary_key: plan.base64,
        class: 3,
        size: 99,
    };
    let hit = Response::Value(Item {
        key: plan.key,
        flags: 7,
        cas: 12,
        value: Value::whole(b"a\r\nvalue"),
        meta: Some(meta),
    });
    let responses = [
        hit,
        Response::Miss { key: plan.key },
        Response::End,
        Response::Stored { cas: 9, len: 3 },
        Response::NotStored,
        Response::Exists,
        Response::NotFound,
        Response::Deleted,
        Response::Ok,
        Response::Number {
            value: u64::MAX,
            cas: 1,
            ttl: -1,
            created: false,
        },
        Response::Error(Error::TooLarge),
        Response::Error(Error::NoMemory),
        Response::Error(Error::NonNumeric),
        Response::Error(Error::BadDataChunk),
    ];
    for response in responses {
        let mut out = Vec::new();
        MetaReply::new(&mut out, request, plan).reply(response);
        check_reply_bytes(buf, &out);
        let quiet_success = request.policy == ReplyPolicy::Quiet
            && !plan.opaque_too_long
            && matches!(
                response,
                Response::Miss { .. }
                    | Response::Stored { .. }
                    | Response::Deleted
                    | Response::Number { .. }
            );
        if quiet_success {
            ensure(out.is_empty(), buf, "q hides successes and misses");
        }
    }
}

/// Whole `\r\n` lines; a `VA <n>` line followed by `n` bytes and `\r\n`.
fn check_reply_bytes(buf: &[u8], mut out: &[u8]) {
    while !out.is_empty() {
        let Some(end) = out.windows(2).position(|w| w == b"\r\n") else {
            fail(
                buf,
                &format!(
                    "a reply line without \\r\\n: {:?}",
                    String::from_utf8_lossy(out)
                ),
            );
        };
        let line = &out[..end];
        out = &out[end + 2..];
        if let Some(header) = line.strip_prefix(b"VA ") {
            let len: usize =
                std::str::from_utf8(header.split(|&b| b == b' ').next().unwrap_or(b""))
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| fail(buf, "a VA line without a length"));
            ensure(
                out.len() >= len + 2 && &out[len..len + 2] == b"\r\n",
                buf,
                "a VA line is followed by its value and \\r\\n",
            );
            out = &out[len + 2..];
        }
    }
}

/// The two limits agree, except that a block over the small limit is
/// swallowed there.
fn compare_limits(buf: &[u8], large: &Parsed<'_>, small: &Parsed<'_>) {
    if large == small {
        return;
    }
    let oversize_small = matches!(
        small,
        Parsed::Request { request, .. }
            if matches!(request.command, Command::Store { payload: Payload::Oversize, .. })
    );
    let stored_large = match large {
        Parsed::Incomplete => true,
        Parsed::Request { request, .. } => {
            matches!(request.command, Command::Store { .. })
        }
        // A too-long opaque is reported where the block is taken, not where
        // it is swallowed as too large.
        Parsed::Error { reply, .. } => reply.contains("opaque"),
        Parsed::Close => false,
    };
    ensure(
        oversize_small && stored_large,
        buf,
        &format!("limits disagree beyond the block size: {large:?} vs {small:?}"),
    );
}

fn first_token(buf: &[u8]) -> &[u8] {
    let start = buf.iter().position(|&b| b != b' ').unwrap_or(buf.len());
    let rest = &buf[start..];
    &rest[..rest
        .iter()
        .position(|&b| b == b' ' || b == b'\r' || b == b'\n')
        .unwrap_or(rest.len())]
}

fn is_error_line(reply: &str) -> bool {
    !reply.contains(['\r', '\n', '\0'])
        && (reply == "ERROR"
            || ["CLIENT_ERROR ", "SERVER_ERROR "]
                .iter()
                .any(|p| reply.len() > p.len() && reply.starts_with(p)))
}

fn ensure(ok: bool, buf: &[u8], rule: &str) {
    if !ok {
        fail(buf, rule);
    }
}

fn fail(buf: &[u8], rule: &str) -> ! {
    let shown = &buf[..buf.len().min(512)];
    panic!(
        "meta codec contract broken: {rule}\n  input ({} bytes): {:?}",
        buf.len(),
        String::from_utf8_lossy(shown)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the fuzz target's seed corpus keeps the contract.
    #[test]
    fn the_seed_corpus_keeps_the_contract() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/meta");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("the seed corpus") {
            check(&std::fs::read(entry.expect("entry").path()).expect("read"));
            n += 1;
        }
        assert!(n >= 20, "only {n} seeds");
    }

    #[test]
    fn streams_keep_the_contract() {
        check(b"mg k v\r\nms k 2 T0\r\nhi\r\nmd k q\r\nma k N0 v\r\nmn\r\nme k\r\n");
        check(b"get k\r\nmg k b\r\nms k 100\r\n");
        check(b"ms k 2 zz\r\nhi\r\nmn\r\n");
        check(&[b"mg ".as_slice(), &[b'v'; 3000]].concat());
    }

    #[test]
    #[should_panic(expected = "contract broken")]
    fn a_broken_rule_is_caught() {
        // A reply with no line end breaks the reply rule.
        check_reply_bytes(b"x", b"HD");
    }
}

//! docs/binary.md's tables, row by row (the row names are the doc's and
//! `scripts/binary-probe.py`'s). A row served by the engine is parsed, the
//! model checked, the responses our engine emits for that situation
//! encoded, and the replies compared with what memcached 1.6.18 sent: the
//! status, extras, key and value byte for byte, the CAS zero or not, the
//! opcode and opaque echoed. A row memcached refuses is parsed to the same
//! status and the same fate of the connection. Where ferrocache differs
//! on purpose (memcached 1.6.18 loses sync), the row says so.

mod admin;
mod counters;
mod packets;
mod reads;
mod stores;

use super::{replies, Packet, LIMITS};
use crate::model::{Item, Reply as _, Request, Response, Value};
use crate::protocol::binary::{parse, BinaryReply, Header, Parsed, Status, Then};

/// One reply memcached sent: status, extras, key, value, whether the CAS
/// was non-zero.
type Expect<'a> = (u16, &'a [u8], &'a [u8], &'a [u8], bool);

/// The probe item's flags, as extras.
const CAFE: &[u8] = &[0, 0, 0xca, 0xfe];
const NONE: &[u8] = b"";
const NOT_FOUND: Expect<'static> = (1, NONE, NONE, b"Not found", false);
const EXISTS: Expect<'static> = (2, NONE, NONE, b"Data exists for key.", false);
const STORED: Expect<'static> = (0, NONE, NONE, NONE, true);
const NOT_STORED: Expect<'static> = (5, NONE, NONE, b"Not stored.", false);
const TOO_LARGE: Expect<'static> = (3, NONE, NONE, b"Too large.", false);

/// The hit our engine lends for the probe's item: key `k`, flags 0xcafe,
/// value `hello`.
fn hit() -> Response<'static> {
    Response::Value(Item {
        key: b"k",
        flags: 0xcafe,
        cas: 77,
        value: Value::whole(b"hello"),
        meta: None,
    })
}

/// A row the engine serves: `packet` parses to a request accepted by
/// `model` that swallows `swallow` bytes; `engine`'s responses encode to
/// `expect`.
fn served(
    row: &str,
    packet: &Packet,
    model: impl Fn(&Request<'_>) -> bool,
    swallow: usize,
    engine: &[Response<'_>],
    expect: &[Expect<'_>],
) {
    let bytes = packet.bytes();
    let (request, header) = match parse(&bytes, &LIMITS) {
        Parsed::Request {
            request,
            header,
            consumed,
            swallow: s,
        } => {
            assert_eq!(
                (consumed + s, s),
                (header.packet_len(), swallow),
                "{row}: consumed and swallowed"
            );
            (request, header)
        }
        other => panic!("{row}: {other:?}"),
    };
    assert!(model(&request), "{row}: model {request:?}");
    let mut out = Vec::new();
    let mut reply = BinaryReply::new(&mut out, &header, &request);
    for r in engine {
        reply.reply(*r);
    }
    check_replies(row, &header, &out, expect);
}

/// Compares the packets in `out` with memcached's.
fn check_replies(row: &str, header: &Header, out: &[u8], expect: &[Expect<'_>]) {
    let got = replies(out);
    let shown: Vec<Expect<'_>> = got
        .iter()
        .map(|r| {
            assert_eq!(r.opcode, header.opcode, "{row}: opcode echoed");
            assert_eq!(r.opaque, header.opaque, "{row}: opaque echoed");
            (
                r.status,
                &r.extras[..],
                &r.key[..],
                &r.value[..],
                r.cas != 0,
            )
        })
        .collect();
    assert_eq!(shown, expect, "{row}: replies");
}

/// A row memcached refuses: `status` (with its text), then `then`.
fn refused(row: &str, packet: &Packet, status: Status, then: Then, before_auth: bool) {
    refused_bytes(row, &packet.bytes(), status, then, before_auth);
}

fn refused_bytes(row: &str, bytes: &[u8], status: Status, then: Then, before_auth: bool) {
    match parse(bytes, &LIMITS) {
        Parsed::Error {
            header,
            status: s,
            consumed,
            then: t,
            before_auth: b,
        } => {
            assert_eq!((s, t, b), (status, then, before_auth), "{row}");
            assert!(consumed <= bytes.len(), "{row}: consumed");
            let mut out = Vec::new();
            crate::protocol::binary::error_reply(&mut out, &header, s);
            let text = status.text().as_bytes();
            check_replies(
                row,
                &header,
                &out,
                &[(status.code(), b"", b"", text, false)],
            );
        }
        other => panic!("{row}: {other:?}"),
    }
}

/// memcached's INVALID_ARGUMENTS and close, after the auth check.
fn invalid(row: &str, packet: &Packet) {
    refused(row, packet, Status::InvalidArguments, Then::Close, false);
}

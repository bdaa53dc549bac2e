//! One named test per memcached bug of the binary protocol's framing: what
//! went wrong there, and that the codec refuses the packet without
//! wrapping arithmetic and without losing the packet boundary.

use super::{packet, set_extras, LIMITS};
use crate::protocol::binary::{contract, parse, Opcode, Parsed, Status, Then};

/// Parses `bytes`; expects a refusal with `status` and `then`.
fn refused(bytes: &[u8], status: Status, then: Then) {
    match parse(bytes, &LIMITS) {
        Parsed::Error {
            status: s, then: t, ..
        } => assert_eq!((s, t), (status, then)),
        other => panic!("{other:?}"),
    }
    contract::check(bytes);
}

/// CVE-2016-8704 (memcached 1.4.33): `process_bin_append_prepend`
/// computed `vlen = bodylen - keylen` without checking, so a body shorter
/// than its key gave a huge length and a heap overflow.
#[test]
fn regression_cve_2016_8704_append_body_shorter_than_key() {
    let bytes = packet(Opcode::APPEND).key(b"0123456789").bodylen(5).bytes();
    refused(&bytes, Status::UnknownCommand, Then::Close);
    let bytes = packet(Opcode::PREPENDQ).key(b"k").bodylen(0).bytes();
    refused(&bytes, Status::UnknownCommand, Then::Close);
}

/// CVE-2016-8705 (1.4.33): `process_bin_update` computed
/// `vlen = bodylen - (keylen + extlen)` the same way for SET/ADD/REPLACE.
#[test]
fn regression_cve_2016_8705_update_body_shorter_than_key_and_extras() {
    for op in [Opcode::SET, Opcode::ADDQ, Opcode::REPLACE] {
        for bodylen in [0, 1, 8, 12] {
            let bytes = packet(op)
                .key(b"key01")
                .extras(&set_extras(0, 0))
                .bodylen(bodylen)
                .bytes();
            refused(&bytes, Status::UnknownCommand, Then::Close);
        }
    }
}

/// CVE-2016-8706 (1.4.33): `process_bin_sasl_auth` computed
/// `vlen = bodylen - keylen` for the SASL data.
#[test]
fn regression_cve_2016_8706_sasl_body_shorter_than_mechanism() {
    for op in [Opcode::SASL_AUTH, Opcode::SASL_STEP] {
        let bytes = packet(op).key(b"PLAIN").bodylen(2).bytes();
        refused(&bytes, Status::UnknownCommand, Then::Close);
        let refused_without = parse(&bytes, &LIMITS).without_sasl();
        assert!(matches!(
            refused_without,
            Parsed::Error {
                then: Then::Close,
                ..
            }
        ));
    }
}

/// CVE-2017-9951 (1.4.39): the fix of 8705 compared a signed length with
/// an unsigned one, and a SET declaring a body near 4 GiB crashed a worker
/// reading past its buffer. Here any body over 1 GiB is refused before
/// anything is read.
#[test]
fn regression_cve_2017_9951_set_with_a_huge_body() {
    for bodylen in [u32::MAX, u32::MAX - 8, 0x8000_0000, (1 << 30) + 1] {
        let bytes = packet(Opcode::SET)
            .key(b"k")
            .extras(&set_extras(0, 0))
            .bodylen(bodylen)
            .bytes();
        refused(&bytes, Status::InvalidArguments, Then::Close);
    }
}

/// memcached 1.6.42 (commit 229cf41be, PR #1290): `int vlen = bodylen -
/// ...` went negative for a body over `INT_MAX`, the negative swallow
/// count was ignored, and the body's bytes were parsed as commands (1.6.18
/// answers TOO_LARGE and reads on: the probe's `bodylen-max-set` row).
/// Every opcode refuses such a body and closes.
#[test]
fn regression_bodylen_over_int_max_never_desyncs() {
    let lies = [
        packet(Opcode::SET).key(b"k").extras(&set_extras(0, 0)),
        packet(Opcode::APPEND).key(b"k"),
        packet(Opcode::SASL_AUTH).key(b"PLAIN"),
        packet(Opcode(0x50)),
        packet(Opcode::STAT),
        packet(Opcode::GAT).key(b"k").extras(&[0; 4]),
    ];
    for p in lies {
        let mut bytes = p.bodylen(0xffff_ff00).bytes();
        // What a desynced server would read as the next command.
        bytes.extend_from_slice(&packet(Opcode::FLUSH).bytes());
        refused(&bytes, Status::InvalidArguments, Then::Close);
    }
}

/// memcached 1.6.18 answers an unknown opcode (VERBOSITY included) and
/// then swallows `bodylen` bytes counted from *after* the extras and key,
/// eating that many bytes of the next packet (the probe's
/// `unknown-key-extras` row: desync +7). The codec swallows exactly the
/// rest of the packet.
#[test]
fn regression_unknown_opcode_swallows_exactly_its_body() {
    let p = packet(Opcode(0x50))
        .key(b"key")
        .extras(&[0; 4])
        .value(b"val");
    let mut stream = p.bytes();
    stream.extend_from_slice(&packet(Opcode::NOOP).bytes());
    refused(&stream, Status::UnknownCommand, Then::Swallow(3));
    let next = &stream[p.bytes().len()..];
    assert!(matches!(parse(next, &LIMITS), Parsed::Request { .. }));
}

/// memcached 1.6.18 checks no body length for STAT, GAT and TOUCH: it
/// answers, then parses the unused body bytes as the next packet (the
/// probe's `stat-body`, `gat-body` and `touch-body` rows: desync -3). The
/// codec answers the request and swallows them.
#[test]
fn regression_unused_body_is_swallowed() {
    for p in [
        packet(Opcode::STAT).key(b"items"),
        packet(Opcode::GAT).key(b"k").extras(&[0; 4]),
        packet(Opcode::TOUCH).key(b"k").extras(&[0; 4]),
    ] {
        let bytes = p.value(b"\x80\x0a\0").bytes();
        match parse(&bytes, &LIMITS) {
            Parsed::Request {
                consumed, swallow, ..
            } => assert_eq!((consumed + 3, swallow), (bytes.len(), 3)),
            other => panic!("{other:?}"),
        }
        contract::check(&bytes);
    }
}

/// memcached issue #629 (1.6.0/1.6.1): extras were copied into a fixed
/// buffer by their declared length, so a large `extlen` overflowed it.
/// The codec slices the extras from the packet and checks each opcode's
/// exact length.
#[test]
fn regression_issue_629_large_extras() {
    for op in [Opcode::GET, Opcode::SET, Opcode::INCREMENT, Opcode::FLUSH] {
        let bytes = packet(op).key(b"k").extras(&[0xee; 255]).bytes();
        refused(&bytes, Status::InvalidArguments, Then::Close);
    }
    let bytes = packet(Opcode(0x50)).extras(&[0xee; 255]).bytes();
    refused(&bytes, Status::UnknownCommand, Then::Continue);
}

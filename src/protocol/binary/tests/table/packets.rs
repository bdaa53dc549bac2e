//! The rows of the bad-packet table: opcodes memcached does not serve,
//! lengths that do not add up, bad magic, huge bodies, SASL with and
//! without `-S`, and what comes before authentication.

use super::super::{packet, set_extras, Packet, LIMITS};
use super::{invalid, refused, refused_bytes};
use crate::protocol::binary::{
    error_reply, parse, sasl_authenticated, sasl_continue, sasl_failed, sasl_mechanisms, Header,
    Opcode, Parsed, SaslOp, Status, Then,
};

const UNKNOWN: Status = Status::UnknownCommand;

#[test]
fn unknown_opcode_rows() {
    // VERBOSITY: memcached 1.6 no longer serves it.
    let verbosity = packet(Opcode::VERBOSITY);
    refused(
        "verbosity-no-extras",
        &verbosity,
        UNKNOWN,
        Then::Continue,
        false,
    );
    // memcached swallows `bodylen` bytes *after* the extras and key, so
    // 4 bytes of the next packet (desync +4); ferrocache takes the packet.
    let with_level = verbosity.extras(&1u32.to_be_bytes());
    refused("verbosity", &with_level, UNKNOWN, Then::Continue, false);
    for code in [0x1f, 0x25, 0x30, 0x3d, 0x60, 0x64, 0xff] {
        let row = format!("unknown-0x{code:02x}");
        refused(&row, &packet(Opcode(code)), UNKNOWN, Then::Continue, false);
    }
    // memcached over-swallows by the extras and key (desync +7).
    let p = packet(Opcode(0x50))
        .key(b"key")
        .extras(&[0; 4])
        .value(b"val");
    refused("unknown-key-extras", &p, UNKNOWN, Then::Swallow(3), false);
    let p = packet(Opcode(0x50)).value(b"abcdef");
    refused("unknown-body", &p, UNKNOWN, Then::Swallow(6), false);
    invalid("unknown-key-251", &packet(Opcode(0x50)).key(&[b'a'; 251]));
}

#[test]
fn header_rows() {
    for (row, magic) in [
        ("bad-magic-after-noop", 0x81),
        ("bad-magic-zero-after-noop", 0x00),
    ] {
        let bytes = packet(Opcode::NOOP).magic(magic).bytes();
        assert_eq!(parse(&bytes, &LIMITS), Parsed::Close, "{row}");
        // Up to the whole header memcached waits, whatever the first byte.
        assert_eq!(parse(&bytes[..23], &LIMITS), Parsed::Incomplete, "{row}");
    }
    let lie = |p: Packet| refused(&format!("{p:?}"), &p, UNKNOWN, Then::Close, true);
    lie(packet(Opcode::GET).key(b"abc").bodylen(2)); // keylen-over-bodylen
    lie(packet(Opcode::SET)
        .key(b"k")
        .extras(&set_extras(0, 0))
        .bodylen(8)); // keylen-extlen-over-bodylen
    lie(packet(Opcode(0x50)).key(b"abc").bodylen(2)); // keylen-over-bodylen-unknown
                                                      // keylen-over-bodylen-waits: memcached reads the declared key first.
    let header = packet(Opcode::GET).keylen(10).bodylen(5).bytes();
    assert_eq!(parse(&header, &LIMITS), Parsed::Incomplete);
    let mut whole = header.clone();
    whole.extend_from_slice(b"0123456789");
    refused_bytes(
        "keylen-over-bodylen-waits",
        &whole,
        UNKNOWN,
        Then::Close,
        true,
    );
    // header-split: nothing until the key is in.
    let get = packet(Opcode::GET).key(b"k").bytes();
    for cut in [20, 24] {
        assert_eq!(
            parse(&get[..cut], &LIMITS),
            Parsed::Incomplete,
            "header-split {cut}"
        );
    }
    assert!(
        matches!(parse(&get, &LIMITS), Parsed::Request { .. }),
        "header-split"
    );
}

#[test]
fn huge_bodylen_rows() {
    // memcached 1.6.18 computes a negative value length from these and
    // then swallows nothing (or swallows up to 2 GiB): ferrocache refuses
    // any body over 1 GiB and closes, as memcached 1.6.42+ does.
    let ext = set_extras(0, 0);
    for (row, p) in [
        (
            "bodylen-max-set",
            packet(Opcode::SET).key(b"k").extras(&ext).bodylen(u32::MAX),
        ),
        (
            "bodylen-int-max-set",
            packet(Opcode::SET)
                .key(b"k")
                .extras(&ext)
                .bodylen(i32::MAX as u32),
        ),
        (
            "bodylen-over-1g-set",
            packet(Opcode::SET)
                .key(b"k")
                .extras(&ext)
                .bodylen((1 << 30) + 10),
        ),
        (
            "bodylen-max-append",
            packet(Opcode::APPEND).key(b"k").bodylen(u32::MAX),
        ),
        (
            "bodylen-max-get",
            packet(Opcode::GET).key(b"k").bodylen(u32::MAX),
        ),
        (
            "bodylen-max-unknown",
            packet(Opcode(0x50)).bodylen(u32::MAX),
        ),
        (
            "bodylen-max-sasl-auth",
            packet(Opcode::SASL_AUTH).key(b"PLAIN").bodylen(u32::MAX),
        ),
    ] {
        refused(row, &p, Status::InvalidArguments, Then::Close, true);
    }
}

/// The SASL step `p` parses to.
fn sasl_step(row: &str, p: &Packet) -> (SaslOp, Vec<u8>, Vec<u8>, Header) {
    let bytes = p.bytes();
    match parse(&bytes, &LIMITS) {
        Parsed::Sasl {
            op,
            mechanism,
            data,
            header,
            consumed,
        } => {
            assert_eq!(consumed, bytes.len(), "{row}");
            (op, mechanism.to_vec(), data.to_vec(), header)
        }
        other => panic!("{row}: {other:?}"),
    }
}

const PLAIN: &[u8] = b"\0user\0pass";

#[test]
fn sasl_rows_without_sasl() {
    // Without -S, memcached answers UNKNOWN_COMMAND and goes on.
    for (row, p) in [
        ("sasl-list-mechs-off", packet(Opcode::SASL_LIST_MECHS)),
        (
            "sasl-auth-off",
            packet(Opcode::SASL_AUTH).key(b"PLAIN").value(PLAIN),
        ),
        (
            "sasl-step-off",
            packet(Opcode::SASL_STEP).key(b"PLAIN").value(PLAIN),
        ),
    ] {
        let bytes = p.bytes();
        match parse(&bytes, &LIMITS).without_sasl() {
            Parsed::Error {
                status,
                consumed,
                then,
                ..
            } => assert_eq!(
                (status, consumed, then),
                (UNKNOWN, bytes.len(), Then::Continue),
                "{row}"
            ),
            other => panic!("{row}: {other:?}"),
        }
    }
    // Malformed ones are INVALID_ARGUMENTS and a close, SASL or not.
    for (row, p) in [
        (
            "sasl-list-mechs-body-off",
            packet(Opcode::SASL_LIST_MECHS).value(b"x"),
        ),
        (
            "sasl-auth-no-key-off",
            packet(Opcode::SASL_AUTH).value(PLAIN),
        ),
        (
            "sasl-auth-extras-off",
            packet(Opcode::SASL_AUTH)
                .key(b"PLAIN")
                .extras(&[0; 4])
                .value(PLAIN),
        ),
    ] {
        invalid(row, &p);
        let bytes = p.bytes();
        assert_eq!(
            parse(&bytes, &LIMITS).without_sasl(),
            parse(&bytes, &LIMITS),
            "{row}"
        );
    }
    // A value too big for an item, or a long mechanism: UNKNOWN_COMMAND
    // too, the value swallowed.
    let big = packet(Opcode::SASL_AUTH)
        .key(b"PLAIN")
        .value(&vec![b'x'; 1024 * 1024 + 1]);
    let long = packet(Opcode::SASL_AUTH).key(&[b'A'; 33]).value(PLAIN);
    for (p, n) in [(big, 1024 * 1024 + 1), (long, PLAIN.len())] {
        match parse(&p.bytes(), &LIMITS).without_sasl() {
            Parsed::Error { status, then, .. } => {
                assert_eq!((status, then), (UNKNOWN, Then::Swallow(n)))
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn sasl_rows_with_sasl() {
    let reply = |f: &dyn Fn(&mut Vec<u8>, &Header), header: &Header| {
        let mut out = Vec::new();
        f(&mut out, header);
        let r = &super::super::replies(&out)[0];
        assert_eq!(
            (r.opcode, r.opaque, r.cas),
            (header.opcode, header.opaque, 0)
        );
        (r.status, r.value.clone())
    };
    let (op, mech, data, h) = sasl_step("sasl-list-mechs", &packet(Opcode::SASL_LIST_MECHS));
    assert_eq!(
        (op, &mech[..], &data[..]),
        (SaslOp::ListMechs, &b""[..], &b""[..])
    );
    let listed = reply(&|out, h| sasl_mechanisms(out, h, b"PLAIN"), &h);
    assert_eq!(listed, (0, b"PLAIN".to_vec()), "sasl-list-mechs");
    let auth = packet(Opcode::SASL_AUTH).key(b"PLAIN").value(PLAIN);
    let (op, mech, data, h) = sasl_step("sasl-auth-ok", &auth);
    assert_eq!(
        (op, &mech[..], &data[..]),
        (SaslOp::Auth, &b"PLAIN"[..], PLAIN)
    );
    let ok = reply(&|out, h| sasl_authenticated(out, h), &h);
    assert_eq!(ok, (0, b"Authenticated".to_vec()), "sasl-auth-ok");
    // sasl-auth-bad, sasl-auth-bad-mech, sasl-step-not-started: the
    // mechanism refuses; the connection goes on.
    let failed = reply(&|out, h| sasl_failed(out, h), &h);
    assert_eq!(failed, (0x20, b"Auth failure.".to_vec()), "sasl-auth-bad");
    let step = packet(Opcode::SASL_STEP).key(b"PLAIN").value(PLAIN);
    assert_eq!(sasl_step("sasl-step-not-started", &step).0, SaslOp::Step);
    // sasl-auth-no-data: PLAIN asks for its data with AUTH_CONTINUE.
    let bare = packet(Opcode::SASL_AUTH).key(b"PLAIN");
    let (_, _, data, h) = sasl_step("sasl-auth-no-data", &bare);
    assert!(data.is_empty());
    let more = reply(&|out, h| sasl_continue(out, h, b""), &h);
    assert_eq!(more, (0x21, Vec::new()), "sasl-auth-no-data");
    // A mechanism name over 32 bytes, a value over the item size: the
    // value is swallowed and the connection goes on.
    let long = packet(Opcode::SASL_AUTH).key(&[b'A'; 33]).value(PLAIN);
    refused(
        "sasl-auth-mech-33",
        &long,
        Status::InvalidArguments,
        Then::Swallow(10),
        false,
    );
    let big = vec![b'x'; 1024 * 1024 + 1];
    let p = packet(Opcode::SASL_AUTH).key(b"PLAIN").value(&big);
    refused(
        "sasl-auth-too-large",
        &p,
        Status::OutOfMemory,
        Then::Swallow(big.len()),
        false,
    );
}

#[test]
fn rows_before_authentication() {
    // What the session needs to answer as memcached -S does before the
    // client authenticates: AUTH_ERROR and a close for anything but the
    // SASL opcodes and VERSION, except for a packet whose lengths do not
    // add up (UNKNOWN_COMMAND and a close, found first).
    let first = |p: &Packet| {
        let bytes = p.bytes();
        match parse(&bytes, &LIMITS) {
            Parsed::Request { header, .. } | Parsed::Sasl { header, .. } => {
                (header.allowed_before_auth(), None)
            }
            Parsed::Error {
                header,
                before_auth,
                status,
                ..
            } => (header.allowed_before_auth(), Some((before_auth, status))),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        first(&packet(Opcode::GET).key(b"k")),
        (false, None),
        "sasl-unauth-get"
    );
    assert_eq!(
        first(&packet(Opcode::NOOP)),
        (false, None),
        "sasl-unauth-noop"
    );
    assert_eq!(
        first(&packet(Opcode::QUIT)),
        (false, None),
        "sasl-unauth-quit"
    );
    assert_eq!(
        first(&packet(Opcode::VERSION)),
        (true, None),
        "sasl-unauth-version"
    );
    let bad = |s| Some((false, s));
    assert_eq!(
        first(&packet(Opcode(0x50))),
        (false, bad(UNKNOWN)),
        "sasl-unauth-unknown"
    );
    let long = packet(Opcode::GET).key(&[b'a'; 251]);
    assert_eq!(
        first(&long),
        (false, bad(Status::InvalidArguments)),
        "sasl-unauth-key-251"
    );
    let bare = packet(Opcode::GET);
    assert_eq!(
        first(&bare),
        (false, bad(Status::InvalidArguments)),
        "sasl-unauth-bad-layout"
    );
    let lie = packet(Opcode::GET).key(b"abc").bodylen(2);
    assert_eq!(
        first(&lie),
        (false, Some((true, UNKNOWN))),
        "sasl-unauth-keylen-over-bodylen"
    );
    let mut out = Vec::new();
    error_reply(
        &mut out,
        &Header::decode(&packet(Opcode::GET).bytes()),
        Status::AuthError,
    );
    assert_eq!(&out[HEADER..], b"Auth failure.");
}

const HEADER: usize = crate::protocol::binary::HEADER_LEN;

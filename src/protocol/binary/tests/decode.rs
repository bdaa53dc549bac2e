//! Decoding: prefixes, appended bytes, pipelines, and the fields each
//! opcode carries into the model.

use super::{incr_extras, packet, set_extras, Packet, LIMITS};
use crate::model::{Command, Keys, Limits, Opaque, Payload, ReplyPolicy, StoreMode};
use crate::protocol::binary::{parse, Opcode, Parsed, SaslOp, MAX_BODY_LEN};

/// One valid packet of each kind the codec serves.
fn valid_packets() -> Vec<Packet> {
    let set = set_extras(3, 60);
    let gat = 100u32.to_be_bytes();
    vec![
        packet(Opcode::GET).key(b"k"),
        packet(Opcode::GETKQ).key(b"key"),
        packet(Opcode::GAT).key(b"k").extras(&gat),
        packet(Opcode::TOUCH).key(b"k").extras(&gat),
        packet(Opcode::SET).key(b"k").extras(&set).value(b"hello"),
        packet(Opcode::ADDQ).key(b"k").extras(&set).value(b""),
        packet(Opcode::REPLACE)
            .key(b"k")
            .extras(&set)
            .value(b"v")
            .cas(9),
        packet(Opcode::APPEND).key(b"k").value(b"tail"),
        packet(Opcode::PREPENDQ).key(b"k").value(b"head"),
        packet(Opcode::DELETE).key(b"k").cas(4),
        packet(Opcode::INCREMENT)
            .key(b"n")
            .extras(&incr_extras(1, 2, 3)),
        packet(Opcode::DECREMENTQ)
            .key(b"n")
            .extras(&incr_extras(1, 2, u32::MAX)),
        packet(Opcode::FLUSH),
        packet(Opcode::FLUSHQ).extras(&5u32.to_be_bytes()),
        packet(Opcode::NOOP),
        packet(Opcode::VERSION),
        packet(Opcode::QUIT),
        packet(Opcode::QUITQ),
        packet(Opcode::STAT),
        packet(Opcode::STAT).key(b"settings"),
        packet(Opcode::SASL_LIST_MECHS),
        packet(Opcode::SASL_AUTH).key(b"PLAIN").value(b"\0u\0p"),
        packet(Opcode::SASL_STEP).key(b"PLAIN"),
    ]
}

/// Bytes the result accounts for (consumed plus swallowed).
fn accounted(parsed: &Parsed<'_>) -> Option<usize> {
    match *parsed {
        Parsed::Request {
            consumed, swallow, ..
        } => Some(consumed + swallow),
        Parsed::Sasl { consumed, .. } => Some(consumed),
        _ => None,
    }
}

#[test]
fn every_proper_prefix_is_incomplete() {
    for p in valid_packets() {
        let bytes = p.bytes();
        for cut in 0..bytes.len() {
            assert_eq!(
                parse(&bytes[..cut], &LIMITS),
                Parsed::Incomplete,
                "{:?} cut at {cut}",
                p.opcode
            );
        }
        assert_eq!(
            accounted(&parse(&bytes, &LIMITS)),
            Some(bytes.len()),
            "{p:?}"
        );
    }
}

#[test]
fn bytes_after_a_packet_change_nothing() {
    let all: Vec<Vec<u8>> = valid_packets().iter().map(Packet::bytes).collect();
    for (i, bytes) in all.iter().enumerate() {
        let alone = parse(bytes, &LIMITS);
        for tail in [&all[(i + 1) % all.len()][..], b"\x80", b"\0\0\0", b"junk"] {
            let longer = [&bytes[..], tail].concat();
            assert_eq!(parse(&longer, &LIMITS), alone, "{bytes:02x?} + {tail:02x?}");
        }
    }
}

#[test]
fn a_pipeline_parses_packet_after_packet() {
    let packets = valid_packets();
    let stream: Vec<u8> = packets.iter().flat_map(Packet::bytes).collect();
    let mut pos = 0;
    for p in &packets {
        let parsed = parse(&stream[pos..], &LIMITS);
        let n = accounted(&parsed).unwrap_or_else(|| panic!("{p:?}: {parsed:?}"));
        assert_eq!(n, p.bytes().len());
        pos += n;
    }
    assert_eq!(pos, stream.len());
}

#[test]
fn opaque_cas_and_quiet_come_from_the_header() {
    let bytes = packet(Opcode::DELETEQ)
        .key(b"k")
        .cas(0x0102_0304_0506_0708)
        .opaque(0xfeed_f00d)
        .bytes();
    let Parsed::Request {
        request, header, ..
    } = parse(&bytes, &LIMITS)
    else {
        panic!()
    };
    assert_eq!(request.opaque, Opaque::Number(0xfeed_f00d));
    assert_eq!(request.policy, ReplyPolicy::ErrorsOnly);
    assert!(header.is_quiet() && !header.is_quit() && !header.is_noop());
    assert_eq!(
        request.command,
        Command::Delete {
            key: b"k",
            cas: 0x0102_0304_0506_0708,
            keep: Default::default()
        }
    );
}

#[test]
fn a_store_carries_flags_expiry_and_value() {
    let bytes = packet(Opcode::SETQ)
        .key(b"key")
        .extras(&set_extras(0xdead_beef, 0xffff_fff0))
        .value(b"value")
        .bytes();
    let Parsed::Request { request, .. } = parse(&bytes, &LIMITS) else {
        panic!()
    };
    match request.command {
        Command::Store {
            mode,
            key,
            flags,
            exptime,
            cas,
            payload,
            ..
        } => {
            assert_eq!(
                (mode, key, flags, cas),
                (StoreMode::Set, &b"key"[..], 0xdead_beef, 0)
            );
            // Unsigned on the wire: never a negative (already expired) time.
            assert_eq!(exptime, 0xffff_fff0);
            assert_eq!(
                payload,
                Payload::Data {
                    data: b"value",
                    terminated: true
                }
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_value_at_the_limit_is_buffered_one_over_is_swallowed() {
    let limits = Limits { max_value_len: 10 };
    let at = packet(Opcode::APPEND).key(b"k").value(&[b'x'; 10]).bytes();
    match parse(&at, &limits) {
        Parsed::Request {
            request,
            consumed,
            swallow,
            ..
        } => {
            assert!(matches!(
                request.command,
                Command::Store {
                    payload: Payload::Data { .. },
                    ..
                }
            ));
            assert_eq!((consumed, swallow), (at.len(), 0));
        }
        other => panic!("{other:?}"),
    }
    let over = packet(Opcode::APPEND).key(b"k").value(&[b'x'; 11]).bytes();
    // Decided on the head alone: the value need not be buffered.
    let head = &over[..25];
    match parse(head, &limits) {
        Parsed::Request {
            request,
            consumed,
            swallow,
            ..
        } => {
            assert!(matches!(
                request.command,
                Command::Store {
                    payload: Payload::Oversize,
                    ..
                }
            ));
            assert_eq!((consumed, swallow), (25, 11));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_gibibyte_body_is_still_a_packet() {
    // The largest body accepted: a SET whose value is over any -I.
    let bytes = packet(Opcode::SET)
        .key(b"k")
        .extras(&set_extras(0, 0))
        .bodylen(MAX_BODY_LEN)
        .bytes();
    match parse(&bytes, &LIMITS) {
        Parsed::Request {
            consumed, swallow, ..
        } => assert_eq!((consumed, swallow), (33, MAX_BODY_LEN as usize - 9)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reads_have_one_key_that_may_hold_any_byte() {
    let key = b"a b\r\n\0\xff";
    let bytes = packet(Opcode::GETK).key(key).bytes();
    let Parsed::Request { request, .. } = parse(&bytes, &LIMITS) else {
        panic!()
    };
    assert!(
        matches!(request.command, Command::Get { keys: Keys::One(k), touch: None, .. } if k == key)
    );
}

#[test]
fn sasl_steps_carry_mechanism_and_data() {
    let bytes = packet(Opcode::SASL_STEP)
        .key(b"CRAM-MD5")
        .value(b"resp")
        .bytes();
    assert_eq!(
        parse(&bytes, &LIMITS),
        Parsed::Sasl {
            op: SaslOp::Step,
            mechanism: b"CRAM-MD5",
            data: b"resp",
            header: crate::protocol::binary::Header::decode(&bytes),
            consumed: bytes.len(),
        }
    );
    // A SASL value is buffered whole before the session sees it.
    assert_eq!(
        parse(&bytes[..bytes.len() - 1], &LIMITS),
        Parsed::Incomplete
    );
}

//! The meta decoder: every command, every flag and every error, with the
//! lines memcached answers them for (measured against memcached 1.6.18;
//! where the newest memcached differs, its behaviour, as noted).

use super::*;
use crate::model::{FlagOrder, Want};

const LIMITS: Limits = Limits {
    max_value_len: 1024,
};

/// Parses `input` with a fresh key buffer and hands the result to `check`.
fn with<R>(input: &[u8], check: impl FnOnce(Parsed<'_>) -> R) -> R {
    let mut keys = KeyBuf::default();
    check(parse(input, &LIMITS, &mut keys))
}

/// The error line `input` is answered with, and the bytes swallowed after it.
fn error(input: &[u8]) -> (&'static str, usize) {
    with(input, |p| match p {
        Parsed::Error {
            reply,
            consumed,
            swallow,
        } => {
            assert_eq!(
                consumed,
                input.iter().position(|&b| b == b'\n').unwrap() + 1
            );
            (reply, swallow)
        }
        other => panic!(
            "{:?}: not an error: {other:?}",
            String::from_utf8_lossy(input)
        ),
    })
}

fn err(input: &[u8]) -> &'static str {
    let (reply, swallow) = error(input);
    assert_eq!(swallow, 0, "{:?}", String::from_utf8_lossy(input));
    reply
}

/// The request `input` decodes to (owned parts only), its plan's kind,
/// base64 flag and value flag, and the bytes it used.
fn request<R>(input: &[u8], check: impl FnOnce(&Request<'_>, &Plan<'_>, usize) -> R) -> R {
    with(input, |p| match p {
        Parsed::Request {
            request,
            plan,
            consumed,
            swallow,
        } => {
            assert_eq!(swallow, 0);
            check(&request, &plan, consumed)
        }
        other => panic!(
            "{:?}: not a request: {other:?}",
            String::from_utf8_lossy(input)
        ),
    })
}

#[test]
fn routes_only_the_six_meta_commands() {
    for yes in [
        &b"mg k\r\n"[..],
        b"ms k 1\r\n",
        b"md k\r\n",
        b"ma k\r\n",
        b"mn\r\n",
        b"mn\n",
        b"me k\r\n",
        b"  mg k\r\n",
        b"mg\0",
    ] {
        assert!(is_meta(yes), "{:?}", String::from_utf8_lossy(yes));
    }
    for no in [
        &b"m"[..],
        b"mg",
        b"mx k\r\n",
        b"mget k\r\n",
        b"mg\tk\r\n",
        b"get k\r\n",
        b"",
    ] {
        assert!(!is_meta(no), "{:?}", String::from_utf8_lossy(no));
    }
}

#[test]
fn lines_end_as_text_lines_do() {
    assert!(with(b"mg k v", |p| p == Parsed::Incomplete));
    assert!(with(b"mg k v\r", |p| p == Parsed::Incomplete));
    let long = [b"mg k ".as_slice(), &[b'v'; 2100]].concat();
    assert!(with(&long, |p| p == Parsed::Close));
    request(b"mg k v\n", |_, _, used| assert_eq!(used, 7));
    request(b"mg k v\r\nmn\r\n", |_, _, used| assert_eq!(used, 8));
    // A NUL ends the line (memcached reads C strings); the rest up to the
    // newline is used with it.
    request(b"mg k\0 zz\r\n", |r, _, used| {
        assert_eq!(used, 10);
        assert!(matches!(
            r.command,
            Command::Get {
                keys: Keys::One(b"k"),
                ..
            }
        ));
    });
}

#[test]
fn mg_options_and_returns() {
    let line = b"mg a2V5 b s v t c f h l k u O123 q N30 R20 T10 E99 P L\r\n";
    request(line, |r, plan, _| {
        let Command::Get { keys, touch, read } = r.command else {
            panic!("{r:?}")
        };
        assert_eq!(keys, Keys::One(b"key"));
        assert_eq!(touch, Some(10));
        assert_eq!(
            read,
            ReadOptions {
                leases: true,
                no_bump: true,
                vivify: Some(30),
                recache: Some(20),
                new_cas: Some(99),
                order: FlagOrder {
                    ttl: 3,
                    vivify: 12,
                    recache: 13,
                    touch: 14,
                },
            }
        );
        assert_eq!(r.policy, ReplyPolicy::Quiet);
        assert_eq!(r.opaque, Opaque::Token(b"123"));
        for w in [
            Want::KEY,
            Want::VALUE,
            Want::FLAGS,
            Want::CAS,
            Want::TTL,
            Want::SIZE,
            Want::LAST_ACCESS,
            Want::HIT_BEFORE,
        ] {
            assert!(r.want.contains(w));
        }
        assert_eq!(plan.kind, Kind::Get);
        assert_eq!(plan.key, b"key");
        assert!(plan.base64 && plan.value && !plan.opaque_too_long);
        assert_eq!(plan.tokens().count(), 20 - 2);
    });
    request(b"mg k\r\n", |r, plan, _| {
        assert_eq!(r.policy, ReplyPolicy::Always);
        assert_eq!(r.opaque, Opaque::None);
        assert_eq!(r.want, Want::NONE);
        assert!(!plan.value && !plan.base64);
    });
    // Flags that mean nothing to mg are accepted (their tokens checked).
    request(b"mg k I x F5 C7 J1 D2 MZ\r\n", |_, _, _| {});
    // A flag is its token's first byte: `vv` is `v`.
    request(b"mg k vv\r\n", |_, plan, _| assert!(plan.value));
    // An opaque too long is answered once the read has run.
    request(
        b"mg k O1234567890123456789012345678901x\r\n",
        |_, plan, _| assert!(plan.opaque_too_long),
    );
    request(
        b"mg k O1234567890123456789012345678901\r\n",
        |_, plan, _| assert!(!plan.opaque_too_long),
    );
}

#[test]
fn flag_errors_are_memcacheds() {
    assert_eq!(err(b"mg\r\n"), "CLIENT_ERROR bad command line format");
    assert_eq!(err(b"mg k zz\r\n"), "CLIENT_ERROR invalid flag");
    assert_eq!(err(b"mg k S1\r\n"), "CLIENT_ERROR invalid flag");
    assert_eq!(err(b"mg k v v\r\n"), "CLIENT_ERROR duplicate flag");
    assert_eq!(err(b"mg k P Px\r\n"), "CLIENT_ERROR duplicate flag");
    assert_eq!(err(b"mg k \x7f\r\n"), "CLIENT_ERROR duplicate flag");
    assert_eq!(err(b"mg k \xc3\r\n"), "CLIENT_ERROR duplicate flag");
    for bad in [
        &b"T"[..],
        b"Tx",
        b"N",
        b"N1x",
        b"R",
        b"C",
        b"C-1",
        b"E",
        b"Ex",
    ] {
        let line = [b"mg k ", bad, b"\r\n"].concat();
        assert_eq!(err(&line), "CLIENT_ERROR bad token in command line format");
    }
    assert_eq!(err(b"mg k Fx\r\n"), "CLIENT_ERROR bad command line format");
    assert_eq!(err(b"mg k F-1\r\n"), "CLIENT_ERROR bad command line format");
    assert_eq!(
        err(b"mg k J\r\n"),
        "CLIENT_ERROR invalid numeric initial value"
    );
    assert_eq!(
        err(b"mg k D-1\r\n"),
        "CLIENT_ERROR invalid numeric delta value"
    );
    assert_eq!(err(b"mg k b\r\n"), "CLIENT_ERROR error decoding key");
    // The last message set wins; F sets none; invalid and duplicate stop.
    assert_eq!(
        err(b"mg k Tx Fx\r\n"),
        "CLIENT_ERROR bad token in command line format"
    );
    assert_eq!(
        err(b"mg k Jx Dx\r\n"),
        "CLIENT_ERROR invalid numeric delta value"
    );
    assert_eq!(err(b"mg k Tx zz\r\n"), "CLIENT_ERROR invalid flag");
    assert_eq!(err(b"mg k Tx b\r\n"), "CLIENT_ERROR error decoding key");
    assert_eq!(
        err(b"mg k b Tx\r\n"),
        "CLIENT_ERROR bad token in command line format"
    );
    // Key length (as written), then the token count, then flags.
    let long = [b"mg ".as_slice(), &[b'a'; 251], b" zz\r\n"].concat();
    assert_eq!(err(&long), "CLIENT_ERROR bad command line format");
    let ok = [b"mg ".as_slice(), &[b'a'; 250], b"\r\n"].concat();
    request(&ok, |_, _, _| {});
    // 20 tokens at most, command and key included.
    request(
        b"mg k v s t c f h l k u O1 P L I N1 R1 T1 E1 x\r\n",
        |_, _, _| {},
    );
    let flags19 = b"mg k v s t c f h l k u O1 P L I N1 R1 T1 E1 x C1\r\n";
    assert_eq!(err(flags19), "CLIENT_ERROR options flags are too long");
    assert_eq!(
        err(b"mg k a b c d e f g h i j k l m n o p q r\r\n"),
        "CLIENT_ERROR invalid flag"
    );
}

#[test]
fn base64_keys_limit_the_encoded_length() {
    // 248 characters decode to 186 bytes; 252 are refused before decoding.
    let key = [b'A'; 248];
    let line = [b"mg ".as_slice(), &key, b" b\r\n"].concat();
    request(&line, |r, plan, _| {
        assert!(matches!(r.command, Command::Get { keys: Keys::One(k), .. } if k == [0u8; 186]));
        assert!(plan.base64);
    });
    let line = [b"mg ".as_slice(), &[b'A'; 252], b" b\r\n"].concat();
    assert_eq!(err(&line), "CLIENT_ERROR bad command line format");
    // Binary bytes, spaces and newlines included, come through.
    request(b"mg AAog/w== b\r\n", |r, _, _| {
        assert!(matches!(
            r.command,
            Command::Get {
                keys: Keys::One(b"\0\n \xff"),
                ..
            }
        ));
    });
}

#[test]
fn ms_maps_modes_and_flags() {
    let store = |line: &[u8]| {
        request(line, |r, plan, used| {
            let Command::Store {
                mode,
                key,
                flags,
                exptime,
                cas,
                payload,
                write,
            } = r.command
            else {
                panic!("{r:?}")
            };
            assert_eq!(used, line.len());
            assert_eq!(plan.kind, Kind::Set);
            assert_eq!(plan.data_len, 2);
            (
                mode,
                key.to_vec(),
                flags,
                exptime,
                cas,
                payload
                    == Payload::Data {
                        data: b"hi",
                        terminated: true,
                    },
                write,
            )
        })
    };
    let (mode, key, flags, exptime, cas, data, write) = store(b"ms k 2\r\nhi\r\n");
    assert_eq!(
        (mode, &key[..], flags, exptime, cas, data),
        (StoreMode::Set, &b"k"[..], 0, 0, 0, true)
    );
    assert_eq!(
        write,
        WriteOptions {
            remove_on_failure: true,
            ..WriteOptions::default()
        }
    );
    for (m, want) in [
        ("S", StoreMode::Set),
        ("E", StoreMode::Add),
        ("A", StoreMode::Append),
        ("P", StoreMode::Prepend),
        ("R", StoreMode::Replace),
        ("SS", StoreMode::Set), // newest memcached reads the byte after M
    ] {
        let line = format!("ms k 2 M{m}\r\nhi\r\n");
        assert_eq!(store(line.as_bytes()).0, want, "M{m}");
    }
    // C turns set and replace into cas; add ignores it, append compares.
    assert_eq!(store(b"ms k 2 C5\r\nhi\r\n").0, StoreMode::Cas);
    assert_eq!(store(b"ms k 2 MR C5\r\nhi\r\n").0, StoreMode::Cas);
    assert_eq!(store(b"ms k 2 ME C5\r\nhi\r\n").0, StoreMode::Add);
    let (mode, _, _, _, cas, _, _) = store(b"ms k 2 MA C5\r\nhi\r\n");
    assert_eq!((mode, cas), (StoreMode::Append, 5));
    // I only with a CAS compare; N only with append and prepend.
    assert!(store(b"ms k 2 C5 I\r\nhi\r\n").6.invalidate);
    assert!(!store(b"ms k 2 I\r\nhi\r\n").6.invalidate);
    assert_eq!(store(b"ms k 2 MP N30\r\nhi\r\n").6.vivify, Some(30));
    assert_eq!(store(b"ms k 2 N30\r\nhi\r\n").6.vivify, None);
    let (_, key, flags, exptime, _, _, write) =
        store(b"ms YQ== 2 b F7 T60 E42 k c s O9 q\r\nhi\r\n");
    assert_eq!((&key[..], flags, exptime), (&b"a"[..], 7, 60));
    assert_eq!(write.new_cas, Some(42));
    assert!(write.binary_key);
    request(b"ms k 2 q O9\r\nhi\r\n", |r, _, _| {
        assert_eq!(r.policy, ReplyPolicy::Quiet);
        assert_eq!(r.opaque, Opaque::Token(b"9"));
    });
}

#[test]
fn ms_data_blocks() {
    assert!(with(b"ms k 2\r\nh", |p| p == Parsed::Incomplete));
    assert!(with(b"ms k 2\r\nhi\r", |p| p == Parsed::Incomplete));
    request(b"ms k 2\r\nhiX\r\n", |r, _, used| {
        assert_eq!(used, 12, "the block's length and two more bytes");
        assert!(matches!(
            r.command,
            Command::Store {
                payload: Payload::Data {
                    data: b"hi",
                    terminated: false
                },
                ..
            }
        ));
    });
    // Larger than the limit: swallowed, never buffered.
    with(b"ms k 2000 T5\r\n", |p| match p {
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
            assert_eq!((consumed, swallow), (14, 2002));
        }
        other => panic!("{other:?}"),
    });
}

#[test]
fn ms_errors_swallow_the_block_once_its_length_is_known() {
    for (line, reply) in [
        (&b"ms\r\n"[..], "CLIENT_ERROR bad command line format"),
        (b"ms k\r\n", "CLIENT_ERROR bad command line format"),
        (b"ms k x\r\n", "CLIENT_ERROR bad command line format"),
        (b"ms k -1\r\n", "CLIENT_ERROR bad command line format"),
        (
            b"ms k 2147483646\r\n",
            "CLIENT_ERROR bad command line format",
        ),
    ] {
        assert_eq!(
            error(line),
            (reply, 0),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    for (line, reply) in [
        (&b"ms k 2 zz\r\n"[..], "CLIENT_ERROR invalid flag"),
        (b"ms k 2 T1 T2\r\n", "CLIENT_ERROR duplicate flag"),
        (b"ms k 2 MZ\r\n", "CLIENT_ERROR invalid mode for ms M token"),
        (b"ms k 2 M\r\n", "CLIENT_ERROR invalid mode for ms M token"),
        (
            b"ms k 2 MZ q\r\n",
            "CLIENT_ERROR invalid mode for ms M token",
        ),
        (b"ms k 2 Fx\r\n", "CLIENT_ERROR bad command line format"),
        (b"ms k 2 b\r\n", "CLIENT_ERROR error decoding key"),
        (
            b"ms k 2 O123456789012345678901234567890123\r\n",
            "CLIENT_ERROR opaque token too long",
        ),
        (
            b"ms k 2 v s t c f h l k u O1 P L I N1 R1 T1 E1 x\r\n",
            "CLIENT_ERROR options flags are too long",
        ),
    ] {
        assert_eq!(
            error(line),
            (reply, 4),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    // The key's length too (1.6.18 did not swallow here; the newest does).
    let long = [b"ms ".as_slice(), &[b'a'; 251], b" 2\r\n"].concat();
    assert_eq!(error(&long), ("CLIENT_ERROR bad command line format", 4));
    // Too large comes before a too-long opaque, as in memcached.
    with(b"ms k 2000 O123456789012345678901234567890123\r\n", |p| {
        assert!(matches!(p, Parsed::Request { swallow: 2002, .. }), "{p:?}")
    });
}

#[test]
fn md_maps_its_flags() {
    request(b"md a2V5 b C5 I x T30 F3 E9 q k O1\r\n", |r, plan, _| {
        assert_eq!(
            r.command,
            Command::Delete {
                key: b"key",
                cas: 5,
                keep: KeepOptions {
                    invalidate: true,
                    empty: true,
                    exptime: Some(30),
                    flags: 3,
                    new_cas: Some(9),
                    compare_zero: false,
                    meta_counts: true,
                },
            }
        );
        assert_eq!(r.policy, ReplyPolicy::Quiet);
        assert_eq!(plan.kind, Kind::Delete);
    });
    request(b"md k C0\r\n", |r, _, _| {
        assert!(matches!(
            r.command,
            Command::Delete {
                cas: 0,
                keep: KeepOptions {
                    compare_zero: true,
                    ..
                },
                ..
            }
        ))
    });
    assert_eq!(err(b"md\r\n"), "CLIENT_ERROR bad command line format");
    // md words every flag error alike, as memcached does.
    for line in [
        &b"md k zz\r\n"[..],
        b"md k q q\r\n",
        b"md k Cx\r\n",
        b"md a*b b\r\n",
    ] {
        assert_eq!(err(line), "CLIENT_ERROR invalid or duplicate flag");
    }
    let long = [b"md ".as_slice(), &[b'a'; 251], b"\r\n"].concat();
    assert_eq!(err(&long), "CLIENT_ERROR bad command line format");
    // md checks the opaque before it looks the key up.
    assert_eq!(
        err(b"md k O123456789012345678901234567890123\r\n"),
        "CLIENT_ERROR opaque token too long"
    );
}

#[test]
fn ma_maps_its_flags() {
    request(
        b"ma a2V5 b N30 J5 D7 T60 C3 E9 MD q v t c k O1\r\n",
        |r, plan, _| {
            assert_eq!(
                r.command,
                Command::Delta {
                    key: b"key",
                    mode: DeltaMode::Decr,
                    delta: 7,
                    create: Some(Create {
                        initial: 5,
                        exptime: 30
                    }),
                    cas: 3,
                    exptime: Some(60),
                    new_cas: Some(9),
                    order: FlagOrder {
                        vivify: 1,
                        touch: 4,
                        recache: 2, // absent: never looked at
                        ttl: 10,
                    },
                }
            );
            assert_eq!(r.policy, ReplyPolicy::Quiet);
            assert!(plan.value);
        },
    );
    request(b"ma k\r\n", |r, _, _| {
        assert!(matches!(
            r.command,
            Command::Delta {
                mode: DeltaMode::Incr,
                delta: 1,
                create: None,
                cas: 0,
                exptime: None,
                ..
            }
        ));
    });
    for (m, mode) in [
        ("I", DeltaMode::Incr),
        ("+", DeltaMode::Incr),
        ("D", DeltaMode::Decr),
        ("-", DeltaMode::Decr),
        ("DD", DeltaMode::Decr),
    ] {
        let line = format!("ma k M{m}\r\n");
        request(line.as_bytes(), |r, _, _| {
            assert!(
                matches!(r.command, Command::Delta { mode: m, .. } if m == mode),
                "M{m}"
            )
        });
    }
    // J without N creates nothing.
    request(b"ma k J5\r\n", |r, _, _| {
        assert!(matches!(r.command, Command::Delta { create: None, .. }))
    });
    // ma words every flag error alike, the key's length included.
    for line in [
        &b"ma k zz\r\n"[..],
        b"ma k D\r\n",
        b"ma k Dx\r\n",
        b"ma k q q\r\n",
        b"ma k b\r\n",
    ] {
        assert_eq!(err(line), "CLIENT_ERROR invalid or duplicate flag");
    }
    // A key too long is refused before the flags are read.
    let long = [b"ma ".as_slice(), &[b'a'; 251], b"\r\n"].concat();
    assert_eq!(err(&long), "CLIENT_ERROR bad command line format");
    assert_eq!(
        err(b"ma k MX\r\n"),
        "CLIENT_ERROR invalid mode for ma M token"
    );
    assert_eq!(
        err(b"ma k M\r\n"),
        "CLIENT_ERROR invalid mode for ma M token"
    );
    assert_eq!(err(b"ma\r\n"), "CLIENT_ERROR bad command line format");
}

#[test]
fn mn_and_me() {
    for line in [&b"mn\r\n"[..], b"mn anything at all\r\n"] {
        request(line, |r, plan, _| {
            assert_eq!(r.command, Command::Noop);
            assert_eq!(plan.kind, Kind::Noop);
        });
    }
    request(b"me k\r\n", |r, plan, _| {
        assert_eq!(r.command, Command::Inspect { key: b"k" });
        assert_eq!(plan.kind, Kind::Debug);
    });
    // Only a `b` right after the key is read; anything else is ignored.
    request(b"me YQ== b\r\n", |r, _, _| {
        assert_eq!(r.command, Command::Inspect { key: b"a" })
    });
    request(b"me k zz q q\r\n", |r, _, _| {
        assert_eq!(r.command, Command::Inspect { key: b"k" })
    });
    assert_eq!(err(b"me\r\n"), "CLIENT_ERROR bad command line format");
    assert_eq!(err(b"me k b\r\n"), "CLIENT_ERROR bad command line format");
    let long = [b"me ".as_slice(), &[b'a'; 251], b"\r\n"].concat();
    assert_eq!(err(&long), "CLIENT_ERROR bad command line format");
}

//! Parser unit tests.

use super::*;
use crate::model::{Command, ReplyPolicy};
use crate::protocol::text::contract;

const LIMITS: Limits = Limits {
    max_value_len: 1024 * 1024,
};

fn p(buf: &[u8]) -> Parsed<'_> {
    parse(buf, &LIMITS)
}

fn reply(buf: &[u8]) -> Option<&'static str> {
    match p(buf) {
        Parsed::Error { reply, consumed } => {
            assert_eq!(consumed, buf.len());
            reply
        }
        other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(buf)),
    }
}

#[test]
fn every_proper_prefix_is_incomplete() {
    let requests: &[&[u8]] = &[
        b"get a b c\r\n",
        b"set k 1 2 5\r\nhello\r\n",
        b"cas k 1 2 5 99 noreply\r\nhello\r\n",
        b"incr n 5\r\n",
        b"delete k 0 noreply\r\n",
        b"stats settings\r\n",
    ];
    for req in requests {
        for cut in 0..req.len() {
            assert_eq!(p(&req[..cut]), Parsed::Incomplete, "{:?}", &req[..cut]);
        }
        match p(req) {
            Parsed::Request { consumed, .. } => assert_eq!(consumed, req.len()),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn storage_commands() {
    match p(b"set k 7 -1 3 noreply\r\nabc\r\nget k\r\n") {
        Parsed::Request {
            request:
                Request {
                    command:
                        Command::Store {
                            mode,
                            key,
                            flags,
                            exptime,
                            payload,
                            ..
                        },
                    policy,
                    ..
                },
            consumed,
            swallow,
        } => {
            let noreply = policy == ReplyPolicy::Never;
            assert_eq!(mode, StoreMode::Set);
            assert_eq!(key, b"k");
            assert_eq!((flags, exptime, noreply), (7, -1, true));
            assert_eq!(
                payload,
                Payload::Data {
                    data: b"abc",
                    terminated: true
                }
            );
            assert_eq!((consumed, swallow), (27, 0));
        }
        other => panic!("{other:?}"),
    }
    match p(b"set k 0 0 3\r\nabcde") {
        Parsed::Request {
            request:
                Request {
                    command: Command::Store { payload, .. },
                    ..
                },
            ..
        } => assert_eq!(
            payload,
            Payload::Data {
                data: b"abc",
                terminated: false
            }
        ),
        other => panic!("{other:?}"),
    }
    match p(b"set k 0 0 2000000\r\n") {
        Parsed::Request {
            request:
                Request {
                    command:
                        Command::Store {
                            payload: Payload::Oversize,
                            ..
                        },
                    ..
                },
            consumed: 19,
            swallow: 2000002,
        } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn storage_errors() {
    assert_eq!(reply(b"set k 0 0\r\n"), Some("ERROR"));
    assert_eq!(reply(b"set k x 0 1\r\n"), Some(BAD_FORMAT));
    assert_eq!(reply(b"set k 0 0 -1\r\n"), Some(BAD_FORMAT));
    assert_eq!(reply(b"set k 0 0 x noreply\r\n"), None);
    let long = format!("set {} 0 0 1\r\n", "k".repeat(251));
    assert_eq!(reply(long.as_bytes()), Some(BAD_FORMAT));
    assert_eq!(reply(b"cas k 0 0 1\r\n"), Some("ERROR"));
    assert_eq!(reply(b"cas k 0 0 1 x\r\n"), Some(BAD_FORMAT));
}

#[test]
fn line_rules() {
    assert_eq!(reply(b"\r\n"), Some("ERROR"));
    assert_eq!(reply(b"\n"), Some("ERROR"));
    assert_eq!(reply(b"x\r\n"), Some("ERROR"));
    assert_eq!(reply(b"bogus command\r\n"), Some("ERROR"));
    assert_eq!(p(b"GET / HTTP/1.1\r\n"), Parsed::Close);
    // Bare \n ends a line too.
    assert!(matches!(
        p(b"version\n"),
        Parsed::Request {
            request: Request {
                command: Command::Version,
                ..
            },
            consumed: 8,
            ..
        }
    ));
    // Junk without a newline closes after 2048 bytes, unless it is a multi-get.
    assert_eq!(p(&[b'x'; 2049]), Parsed::Close);
    let mut get = b"get ".to_vec();
    get.resize(4000, b'k');
    assert_eq!(p(&get), Parsed::Incomplete);
}

#[test]
fn get_keys() {
    match p(b"gats 100  a  b c\r\n") {
        Parsed::Request {
            request:
                Request {
                    command: Command::Get { keys, touch, .. },
                    want,
                    ..
                },
            ..
        } => {
            assert!(want.contains(Want::CAS));
            assert_eq!(touch, Some(100));
            assert_eq!(keys.iter().collect::<Vec<_>>(), vec![&b"a"[..], b"b", b"c"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reply(b"get\r\n"), Some("ERROR"));
    assert_eq!(reply(b"gat x k\r\n"), Some(BAD_EXPTIME));
}

#[test]
fn delete_forms() {
    assert!(matches!(
        p(b"delete k 0\r\n"),
        Parsed::Request {
            request: Request {
                command: Command::Delete { .. },
                policy: ReplyPolicy::Always,
                ..
            },
            ..
        }
    ));
    assert!(matches!(
        p(b"delete k noreply\r\n"),
        Parsed::Request {
            request: Request {
                command: Command::Delete { .. },
                policy: ReplyPolicy::Never,
                ..
            },
            ..
        }
    ));
    assert!(matches!(
        p(b"delete k 0 noreply\r\n"),
        Parsed::Request {
            request: Request {
                command: Command::Delete { .. },
                policy: ReplyPolicy::Never,
                ..
            },
            ..
        }
    ));
    assert_eq!(reply(b"delete k 1\r\n"), Some(BAD_DELETE));
    assert_eq!(reply(b"delete k 1 noreply\r\n"), None);
    assert_eq!(reply(b"delete\r\n"), Some("ERROR"));
}

#[test]
fn arithmetic_and_touch() {
    assert_eq!(reply(b"incr k x\r\n"), Some(BAD_DELTA));
    assert_eq!(reply(b"incr k -1\r\n"), Some(BAD_DELTA));
    assert_eq!(reply(b"touch k x\r\n"), Some(BAD_EXPTIME));
    assert!(matches!(
        p(b"decr k 18446744073709551615\r\n"),
        Parsed::Request {
            request: Request {
                command: Command::Delta {
                    delta: u64::MAX,
                    mode: DeltaMode::Decr,
                    ..
                },
                ..
            },
            ..
        }
    ));
}

/// The keys and CAS flag of a parsed read, or a panic.
fn read_keys(buf: &[u8]) -> (Vec<Vec<u8>>, bool, usize) {
    match p(buf) {
        Parsed::Request {
            request:
                Request {
                    command: Command::Get { keys, touch, .. },
                    want,
                    ..
                },
            consumed,
            ..
        } => {
            assert_eq!(touch, None);
            let cas = want.contains(Want::CAS);
            (keys.iter().map(<[u8]>::to_vec).collect(), cas, consumed)
        }
        other => panic!("{:?} -> {other:?}", String::from_utf8_lossy(buf)),
    }
}

#[test]
fn reads_take_the_rest_of_the_line_as_keys() {
    let keys = |list: &[&str]| {
        list.iter()
            .map(|k| k.as_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(read_keys(b"get a\r\n"), (keys(&["a"]), false, 7));
    assert_eq!(read_keys(b"gets a  b\r\n"), (keys(&["a", "b"]), true, 11));
    assert_eq!(read_keys(b"bget a b\n"), (keys(&["a", "b"]), false, 9));
    assert_eq!(read_keys(b"   get   a   \r\n"), (keys(&["a"]), false, 15));
    // Tabs and a \r inside the line are key bytes, as in memcached.
    assert_eq!(
        read_keys(b"get a\tb c\rd\r\n"),
        (keys(&["a\tb", "c\rd"]), false, 13)
    );
    // More than memcached's 24 tokens: one list all the same.
    let many: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
    let line = format!("get {}\r\n", many.join(" "));
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(read_keys(line.as_bytes()).0, keys(&refs));
}

#[test]
fn reads_without_keys_are_errors() {
    for line in [&b"get\r\n"[..], b"gets   \r\n", b"bget\r\n", b"get\0 k\r\n"] {
        assert_eq!(reply(line), Some("ERROR"), "{line:?}");
    }
}

#[test]
fn a_nul_ends_the_line() {
    // Before the \r: the key stops at the NUL; after it: the \r is a key byte.
    assert_eq!(read_keys(b"get k\0junk\r\n").0, vec![b"k".to_vec()]);
    assert_eq!(read_keys(b"get k\r\0\n").0, vec![b"k\r".to_vec()]);
    // The whole line is consumed either way.
    assert_eq!(read_keys(b"get k\0junk\r\n").2, 12);
    // A NUL with no newline yet is still an incomplete line.
    assert_eq!(p(b"get k\0"), Parsed::Incomplete);
    // A lone \r is not stripped: "\r" is an unknown command.
    assert_eq!(reply(b"\r\n"), Some("ERROR"));
    assert_eq!(reply(b"\r\r\n"), Some("ERROR"));
}

/// Every file of the fuzz target's seed corpus keeps the parser's contract
/// (the checks the fuzz target runs, here on stable and on every test run).
#[test]
fn the_seed_corpus_keeps_the_contract() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/text");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("the seed corpus") {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| contract::check(&bytes));
        assert!(
            outcome.is_ok(),
            "seed {} breaks the contract",
            path.display()
        );
        seen += 1;
    }
    assert!(seen >= 50, "only {seen} seeds in {dir}");
}

/// The rule a parser broke on `input`, from the contract check's panic.
fn broken_rule(parser: contract::ParseFn, input: &[u8]) -> String {
    let outcome = std::panic::catch_unwind(|| contract::check_parser(parser, input));
    let payload = outcome.expect_err("the contract check passed a broken parser");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

/// The contract check is not vacuous: parsers that each break one rule
/// are caught, with the rule named.
#[test]
fn the_contract_catches_a_parser_that_breaks_it() {
    fn eager<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
        match parse(buf, limits) {
            Parsed::Incomplete if !buf.is_empty() => Parsed::Error {
                reply: Some(ERROR),
                consumed: buf.len(),
            },
            other => other,
        }
    }
    fn greedy<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
        match parse(buf, limits) {
            Parsed::Request {
                request, consumed, ..
            } => Parsed::Request {
                request,
                consumed: consumed + 1,
                swallow: 0,
            },
            other => other,
        }
    }
    fn two_lines<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
        match parse(buf, limits) {
            Parsed::Error { consumed, .. } => Parsed::Error {
                reply: Some("ERROR\r\nERROR"),
                consumed,
            },
            other => other,
        }
    }
    fn silent<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
        match parse(buf, limits) {
            Parsed::Error { consumed, .. } => Parsed::Error {
                reply: None,
                consumed,
            },
            other => other,
        }
    }
    fn stuck<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
        if buf.starts_with(b"set") {
            return Parsed::Incomplete;
        }
        parse(buf, limits)
    }
    let cases: [(contract::ParseFn, &[u8], &str); 5] = [
        (eager, b"get k\r\n", "prefix"),
        (greedy, b"version\r\n", "consumed within the buffer"),
        (two_lines, b"bogus\r\n", "one ERROR"),
        (silent, b"bogus\r\n", "hidden only by noreply"),
        (stuck, b"set k 0 0 1\r\nx\r\n", "Incomplete even with"),
    ];
    for (parser, input, rule) in cases {
        let message = broken_rule(parser, input);
        assert!(message.contains(rule), "{rule:?} not in {message:?}");
    }
    // The real parser passes the same inputs.
    for (_, input, _) in cases {
        contract::check(input);
    }
}

/// Found by the fuzz target (a NUL cut `gat 10` short): `gat`/`gats` with
/// an exptime and no key is a read of nothing, which memcached 1.6.18
/// answers `END`, while `get` with no key is an `ERROR`. The contract
/// check had assumed every read names a key.
#[test]
fn gat_without_keys_is_an_empty_read() {
    for line in [
        &b"gat 10\r\n"[..],
        b"gats 5   \r\n",
        b"gat 10\0\0 0\0\x03a b\r\n",
    ] {
        match p(line) {
            Parsed::Request {
                request:
                    Request {
                        command: Command::Get { keys, touch, .. },
                        ..
                    },
                consumed,
                ..
            } => {
                assert_eq!(keys.iter().count(), 0, "{line:?}");
                assert!(touch.is_some());
                assert_eq!(consumed, line.len());
            }
            other => panic!("{line:?} -> {other:?}"),
        }
        contract::check(line);
    }
}

/// The one exception to "every proper prefix is Incomplete" (the fuzz
/// target's prefix rule allows exactly this): a newline-less line past 2048
/// bytes that is not a get/gets closes, as memcached closes it, though the
/// whole line is a valid request.
#[test]
fn a_long_line_that_is_not_a_get_closes_when_cut_before_its_newline() {
    let keys: Vec<String> = (0..400).map(|i| format!("key{i:04}")).collect();
    for command in ["gat 0", "gats 0", "bget"] {
        let line = format!("{command} {}\r\n", keys.join(" "));
        let line = line.as_bytes();
        assert!(line.len() > 3000);
        assert!(matches!(p(line), Parsed::Request { consumed, .. } if consumed == line.len()));
        assert_eq!(p(&line[..2048]), Parsed::Incomplete);
        assert_eq!(p(&line[..2049]), Parsed::Close, "{command}");
        contract::check(line);
    }
    // get and gets wait for their newline.
    let line = format!("gets {}\r\n", keys.join(" "));
    assert_eq!(p(&line.as_bytes()[..3000]), Parsed::Incomplete);
}

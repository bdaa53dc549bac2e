//! The fuzz target's contract (`crate::auth::contract`) on every file of
//! its seed corpus, and on parsers that break it.

use crate::auth::contract;
use crate::auth::text::{self, Parsed, Reply};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/auth");
    let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("fuzz/corpus/auth")
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    seeds.sort();
    seeds
}

#[test]
fn the_contract_holds_on_every_seed() {
    let seeds = seeds();
    assert!(seeds.len() >= 50, "{} seeds", seeds.len());
    for (name, data) in &seeds {
        if catch_unwind(|| contract::check(data)).is_err() {
            panic!("seed {name} breaks the contract");
        }
    }
}

fn caught(parse: contract::ParseFn, input: &[u8]) -> bool {
    catch_unwind(AssertUnwindSafe(|| contract::check_text_with(parse, input))).is_err()
}

#[test]
fn the_contract_catches_broken_parsers() {
    // Answers a `set` line without waiting for its block: a proper prefix
    // of a request decided.
    fn eager(buf: &[u8]) -> Parsed<'_> {
        match text::parse(buf) {
            Parsed::Incomplete if buf.starts_with(b"set ") && buf.contains(&b'\n') => {
                Parsed::Reply {
                    consumed: memchr::memchr(b'\n', buf).unwrap() + 1,
                    reply: Reply::BadTokenFormat,
                    close: false,
                }
            }
            other => other,
        }
    }
    assert!(caught(eager, b"set k 0 0 9\r\nuser pass\r\n"));

    // Keeps the connection open after a token too long.
    fn stays_open(buf: &[u8]) -> Parsed<'_> {
        match text::parse(buf) {
            Parsed::Reply {
                consumed, reply, ..
            } => Parsed::Reply {
                consumed,
                reply,
                close: false,
            },
            other => other,
        }
    }
    assert!(caught(stays_open, b"set k 0 0 99999\r\n"));
    assert!(!caught(stays_open, b"get k\r\n"), "no close expected there");

    // Splits at the first space only, so a password may hold spaces (and
    // an empty user comes out of a leading space).
    fn first_space(buf: &[u8]) -> Parsed<'_> {
        match text::parse(buf) {
            Parsed::Token { consumed, .. } => {
                let line = memchr::memchr(b'\n', buf).unwrap() + 1;
                let block = &buf[line..consumed - 2];
                let at = memchr::memchr(b' ', block).unwrap();
                Parsed::Token {
                    consumed,
                    user: &block[..at],
                    password: &block[at + 1..],
                }
            }
            other => other,
        }
    }
    assert!(caught(first_space, b"set k 0 0 10\r\n user pass\r\n"));
    assert!(!caught(first_space, b"set k 0 0 9\r\nuser pass\r\n"));

    // Waits forever on a long line instead of closing.
    fn never_closes(buf: &[u8]) -> Parsed<'_> {
        match text::parse(buf) {
            Parsed::Close => Parsed::Incomplete,
            other => other,
        }
    }
    assert!(caught(never_closes, &[b'x'; 3000]));

    // The real parser passes all of these.
    for input in [
        &b"set k 0 0 9\r\nuser pass\r\n"[..],
        b"set k 0 0 99999\r\n",
        b"set k 0 0 10\r\n user pass\r\n",
        &[b'x'; 3000],
    ] {
        assert!(!caught(text::parse, input));
    }
}

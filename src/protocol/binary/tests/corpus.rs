//! The fuzz target's seeds keep the contract, and parsers that break it
//! are caught.

use super::{packet, set_extras};
use crate::protocol::binary::{contract, parse, Limits, Opcode, Parsed, Then};

/// Every file of the fuzz target's seed corpus keeps the parser's contract,
/// alone and all of them in one stream.
#[test]
fn the_seed_corpus_keeps_the_contract() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/binary");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .expect("the seed corpus")
        .map(|e| e.expect("a seed").path())
        .collect();
    names.sort();
    assert!(names.len() > 100, "one seed per opcode and per bad packet");
    let mut stream = Vec::new();
    for path in names {
        let bytes = std::fs::read(&path).expect("a seed");
        contract::check(&bytes);
        stream.extend_from_slice(&bytes);
    }
    contract::check(&stream);
}

/// Whether `parse` breaks the contract somewhere in `input`.
fn caught(parse: contract::ParseFn, input: &[u8]) -> bool {
    std::panic::catch_unwind(|| contract::check_parser(parse, input)).is_err()
}

fn consumes_one_byte_less<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    match parse(buf, limits) {
        Parsed::Request {
            request,
            header,
            consumed,
            swallow,
        } if consumed > 24 => Parsed::Request {
            request,
            header,
            consumed: consumed - 1,
            swallow,
        },
        other => other,
    }
}

fn forgets_to_swallow<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    match parse(buf, limits) {
        Parsed::Error {
            header,
            status,
            consumed,
            then: Then::Swallow(_),
            before_auth,
        } => Parsed::Error {
            header,
            status,
            consumed,
            then: Then::Continue,
            before_auth,
        },
        other => other,
    }
}

fn answers_before_the_value<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    match parse(buf, limits) {
        // As if there were no room for a value: a request from a prefix.
        Parsed::Incomplete if buf.len() >= 33 && buf[1] == 0x01 => {
            parse(buf, &Limits { max_value_len: 0 })
        }
        other => other,
    }
}

fn waits_for_ever<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    match parse(buf, limits) {
        Parsed::Request { header, .. } if header.is_noop() => Parsed::Incomplete,
        other => other,
    }
}

fn closes_on_good_magic<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    match parse(buf, limits) {
        Parsed::Request { header, .. } if header.opcode == Opcode::VERSION => Parsed::Close,
        other => other,
    }
}

#[test]
fn parsers_breaking_the_contract_are_caught() {
    let set = packet(Opcode::SET)
        .key(b"k")
        .extras(&set_extras(0, 0))
        .value(b"hello")
        .bytes();
    let unknown = packet(Opcode(0x50)).value(b"abc").bytes();
    let noop = packet(Opcode::NOOP).bytes();
    let version = packet(Opcode::VERSION).bytes();
    contract::check(&[&set[..], &unknown, &noop, &version].concat());
    assert!(caught(consumes_one_byte_less, &set));
    assert!(caught(forgets_to_swallow, &unknown));
    assert!(caught(answers_before_the_value, &set));
    assert!(caught(waits_for_ever, &noop));
    assert!(caught(closes_on_good_magic, &version));
}

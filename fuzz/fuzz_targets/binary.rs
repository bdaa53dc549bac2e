//! Fuzz target: the binary protocol parser (`ferrocache::protocol::binary::parse`).
//!
//! Each input is one connection's byte stream. The checks, in
//! `src/protocol/binary/contract.rs`, parse it packet by packet and panic
//! when the parser breaks its contract (a prefix of a packet consumed, a
//! result that loses the packet boundary, bytes after a packet changing
//! it, …), not only when it panics by itself. Seeds: `fuzz/corpus/binary/`
//! (one per row of docs/binary.md, written by `scripts/binary-probe.py
//! --seeds`); dictionary: `fuzz/binary.dict`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocache::protocol::binary::contract::check(data);
});

//! Fuzz target: the text protocol parser (`ferrocache::protocol::text::parse`).
//!
//! Each input is one connection's byte stream. The checks, in
//! `src/protocol/text/contract.rs`, parse it request by request and panic
//! when the parser breaks its contract (a prefix of a request consumed, bytes
//! after a request changing it, a reply of two lines, …), not only when it
//! panics by itself. Seeds: `fuzz/corpus/text/`; dictionary: `fuzz/text.dict`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocache::protocol::text::contract::check(data);
});

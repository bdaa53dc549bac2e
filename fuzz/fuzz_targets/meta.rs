//! Fuzz target: the meta protocol codec (`ferrocache::protocol::meta`).
//!
//! Each input is one connection's byte stream. The checks, in
//! `src/protocol/meta/contract.rs`, parse its meta lines request by request,
//! encode every kind of reply to each, and panic when the codec breaks its
//! contract (a prefix of a request consumed, a key out of bounds, a reply
//! that is not whole lines, …), not only when it panics by itself. Seeds:
//! `fuzz/corpus/meta/`; dictionary: `fuzz/meta.dict`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocache::protocol::meta::contract::check(data);
});

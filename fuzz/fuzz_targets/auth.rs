//! Fuzz target: the authentication library (`ferrocache::auth`).
//!
//! Each input is read three ways by `src/auth/contract.rs`: as a
//! credentials file in both formats, as one connection's bytes before a
//! text login (`auth::text::parse`, request after request), and as binary
//! SASL frames (operation byte, 16-bit length, data) driving one SASL
//! exchange. The checks panic when a rule breaks (a prefix of a request
//! decided, a user with a space, a success for nobody, a STEP after the
//! end not failing, …), not only on a panic of the library's own.
//! Seeds: `fuzz/corpus/auth/`; dictionary: `fuzz/auth.dict`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ferrocache::auth::contract::check(data);
});

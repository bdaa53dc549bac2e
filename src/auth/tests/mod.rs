//! Unit tests of the auth library: one file per module, and the fuzz
//! target's contract run over its seed corpus.

mod contract;
mod credentials;
mod sasl;
mod sasl_memcached;
mod text;

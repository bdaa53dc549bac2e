//! memcached's binary protocol: request packets decoded onto the model
//! ([`parse`]), replies encoded as response packets ([`BinaryReply`] and
//! the session's own replies), and the `-vv` trace of both ([`trace`]).
//!
//! `docs/binary.md` gives the opcode table (what each maps to), the
//! bad-packet table (what memcached 1.6.18 answers to each malformed
//! packet and whether the connection goes on, swallows or closes, as
//! measured by `scripts/binary-probe.py`), and the status codes with their
//! texts. The unit tests follow those tables row by row; `contract` holds
//! the rules the fuzz target (`fuzz/fuzz_targets/binary.rs`) checks.

#[cfg(any(test, feature = "fuzzing"))]
pub mod contract;
mod decode;
mod encode;
mod header;
pub mod trace;

pub use crate::model::Limits;
pub use decode::{parse, Parsed, SaslOp, Then};
pub use encode::{
    error_reply, quit_reply, sasl_authenticated, sasl_continue, sasl_failed, sasl_mechanisms,
    BinaryReply,
};
pub use header::{
    Header, Opcode, Status, HEADER_LEN, MAX_BODY_LEN, MAX_SASL_MECH_LEN, REQUEST_MAGIC,
    RESPONSE_MAGIC,
};

#[cfg(test)]
mod tests;

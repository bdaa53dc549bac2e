//! memcached's classic text protocol: requests decoded from lines and data
//! blocks ([`parse`]), replies encoded as lines ([`TextReply`]), and the
//! `-vv` trace of both ([`trace`]).

#[cfg(any(test, feature = "fuzzing"))]
pub mod contract;
mod decode;
mod dump;
mod encode;
pub mod trace;

pub use crate::model::Limits;
pub use decode::{parse, Parsed, MAX_GET_LINE, MAX_LINE_WITHOUT_NEWLINE};
pub use encode::TextReply;

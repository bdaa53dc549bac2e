//! memcached's meta protocol (`mg ms md ma mn me`), spoken on the text
//! connection beside the classic commands: a line (and for `ms` a data
//! block) decoded into a model [`Request`](crate::model::Request) and the
//! [`Plan`] of its reply ([`parse`]), and the replies encoded with their
//! return flags in request order ([`MetaReply`]). Base64 keys (`b`) are
//! decoded into a [`KeyBuf`] the caller lends, so no request allocates.
//! `docs/meta.md` describes every command and flag.

#[cfg(any(test, feature = "fuzzing"))]
pub mod contract;
mod decode;
mod encode;
mod flags;
mod key;

pub use decode::{is_meta, parse, Kind, Parsed, Plan, MAX_LINE_WITHOUT_NEWLINE};
pub use encode::MetaReply;
pub use flags::{MAX_OPAQUE, MAX_TOKENS};
pub use key::KeyBuf;

//! Authentication: the credentials files (`-Y`'s authfile and the SASL
//! password database), the binary protocol's SASL exchange, and the text
//! protocol's `set`-based login. A library for sessions: it knows no
//! socket, store, engine or session, and imports nothing from the rest of
//! the crate.
//!
//! - [`credentials`]: loading a `user:password` file as memcached does,
//!   checking a password in constant time, and the shared handle that a
//!   SIGHUP reload swaps atomically; [`file`]: the two file formats, line
//!   by line;
//! - [`sasl`]: SASL_LIST_MECHS / SASL_AUTH / SASL_STEP, PLAIN and
//!   SCRAM-SHA-256 through the `rsasl` crate;
//! - [`text`]: memcached's ascii auth (`-Y`), as pure functions over the
//!   bytes a connection has buffered, and its reply lines.
//!
//! `docs/auth.md` has the file formats, the mechanisms, what is constant
//! time and why, the table of memcached's text-auth replies, and the
//! memcached bugs the `regression_` tests guard against.

#[cfg(any(test, feature = "fuzzing"))]
pub mod contract;
pub mod credentials;
pub mod file;
pub mod sasl;
pub mod text;

#[cfg(test)]
mod tests;

pub use credentials::{Credentials, LoadError, ScramSecret, SharedCredentials};
pub use file::Format;
pub use sasl::{Exchange, Mechanism, SaslServer, Step};

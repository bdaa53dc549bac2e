//! Statistics, each described once where it is counted: its memcached
//! `stats` name, whether it only rises (a counter) or moves both ways (a
//! gauge), and what it means. The `stats` listings print the values in
//! memcached's order; anything else that exposes them (a Prometheus
//! endpoint) reads the same descriptions.
//!
//! - [`counters`]: what workers count per request (hits, misses, bytes),
//!   one set per worker, summed on demand;
//! - [`classes`]: per-slab-class operation counts (`stats slabs`), one
//!   set per worker like [`counters`];
//! - [`server`]: connection accounting and `stats conns`;
//! - [`detail`]: `stats detail` per-prefix counts;
//! - [`latency`]: request latency histograms per command kind;
//! - [`hotkeys`]: the sampled hot-key sketches.
//!
//! The store describes its own figures the same way (`store::StoreStats`),
//! with the leaf module [`crate::described`].

pub mod classes;
pub mod counters;
pub mod detail;
pub mod hotkeys;
pub mod latency;
mod observe;
pub mod server;

pub use classes::{ClassOp, ClassOps};
pub use counters::{Counter, Counters, Snapshot};
pub use detail::{Detail, PrefixStats};
pub use hotkeys::{Access, HotKeysReport};
pub use latency::{CommandKind, LatencySnapshot};
pub use server::{ConnInfo, ConnState, ServerStats};

pub use crate::described::{Kind, Metric};

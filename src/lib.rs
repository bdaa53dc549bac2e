//! ferrocache: a memcached-compatible, multi-threaded cache daemon.
//!
//! Layers, each knowing only the one below it:
//!
//! ```text
//! server (mio event loops, sockets) ─► protocol (bytes ⇄ Request/Response)
//!                                  └─► command (Request ─► Store ─► Response)
//!                                                            store (items, LRU, memory)
//! ```
//!
//! See `docs/architecture.md` for the threads and the data flow.

pub mod clock;
pub mod config;
pub mod store;

/// The memcached version whose behaviour ferrocache reproduces and reports.
pub const MEMCACHED_VERSION: &str = "1.6.18";

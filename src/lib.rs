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

pub mod auth;
pub mod clock;
pub mod cluster;
pub mod cnum;
pub mod config;
pub mod daemon;
pub mod described;
pub mod engine;
pub mod exposition;
pub mod metrics;
pub mod model;
pub mod privileges;
pub mod protocol;
pub mod server;
pub mod session;
pub mod store;
pub mod tls;
pub mod watch;

/// The `log` level for a memcached verbosity (`-v` count): warnings and
/// errors by default; `-v` adds info (start-up, connections, signals);
/// `-vv` debug (each command and reply); `-vvv` trace (everything else).
pub fn log_level(verbosity: u32) -> log::LevelFilter {
    match verbosity {
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

/// The memcached version whose behaviour ferrocache reproduces and reports.
pub const MEMCACHED_VERSION: &str = "1.6.18";

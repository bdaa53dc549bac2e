//! What a request may touch while it executes: the store, the settings,
//! the server-wide statistics, the executing worker's counters and the
//! TLS state.

use crate::cluster::Cluster;
use crate::config::Settings;
use crate::metrics::{Counters, ServerStats};
use crate::store::Store;
use crate::tls::Tls;
use crate::watch::Watch;

/// Everything a request may touch.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The item store.
    pub store: &'a Store,
    /// Start-up settings.
    pub settings: &'a Settings,
    /// Server-wide statistics.
    pub stats: &'a ServerStats,
    /// The executing worker's counters.
    pub counters: &'a Counters,
    /// TLS, under `-Z` (`refresh_certs`, the `ssl_*` statistics).
    pub tls: Option<&'a Tls>,
    /// The node list of auto-discovery, when the server has one.
    pub cluster: Option<&'a Cluster>,
    /// The log watchers (`watch`).
    pub watch: &'a Watch,
    /// The executing connection's id (`cfd` in `watch` lines).
    pub client: u64,
}

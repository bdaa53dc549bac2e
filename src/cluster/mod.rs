//! Auto-discovery: the node list a ferrocache cluster hands to clients
//! through `config get cluster` (and the legacy `AmazonElastiCache:cluster`
//! key), in ElastiCache's format.
//!
//! A leaf: it imports nothing else in the crate. [`Nodes`] is one version
//! of the list with its reply payload rendered once; [`Cluster`] holds the
//! current one behind a lock that workers take only to clone an `Arc`, and
//! follows its source: the node file (re-read on SIGHUP and when it
//! changes), a DNS name (re-resolved on an interval), and `config set` /
//! `config delete cluster` when enabled, and keeps its version (and a set
//! list) across restarts in a state file when one is named.
//! `docs/autodiscovery.md` describes
//! the sources, the version and the clients.

mod dns;
mod file;
mod shared;
mod state;

pub use dns::{system_server, Target};
pub use file::{parse, parse_payload};
pub use shared::{next_version, Admin, Cluster, Refused, Reload, Stamp};

use std::fmt::Write;
use std::net::IpAddr;

/// The key `config get` answers with the node list.
pub const CONFIG_KEY: &[u8] = b"cluster";

/// The read-only key clients older than ElastiCache's engine 1.4.14 read
/// the node list from with a plain `get`.
pub const LEGACY_KEY: &[u8] = b"AmazonElastiCache:cluster";

/// One cache node, as clients are told about it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    /// Its DNS name (always present).
    pub host: String,
    /// Its address, IPv4 or IPv6; `None` when unknown (sent as `host||port`).
    pub ip: Option<IpAddr>,
    /// Its TCP port.
    pub port: u16,
}

/// One version of the node list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nodes {
    version: u64,
    nodes: Vec<Node>,
    payload: Vec<u8>,
}

impl Nodes {
    /// The list `nodes` (sorted here by hostname, then address and port)
    /// at `version`.
    pub fn new(version: u64, mut nodes: Vec<Node>) -> Nodes {
        nodes.sort();
        let payload = render(version, &nodes).into_bytes();
        Nodes {
            version,
            nodes,
            payload,
        }
    }

    /// The config version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The nodes, sorted by hostname.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// What `config get cluster` sends between its `CONFIG` line and the
    /// `\r\nEND\r\n`: the version and a newline, the nodes separated by
    /// spaces and a newline. Its length is the `CONFIG` line's byte count.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// `<version>\n<host>|<ip>|<port> ...\n`
fn render(version: u64, nodes: &[Node]) -> String {
    let mut s = format!("{version}\n");
    for (i, node) in nodes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let ip = node.ip.map(|ip| ip.to_string()).unwrap_or_default();
        // Writing into a String cannot fail.
        let _ = write!(s, "{}|{}|{}", node.host, ip, node.port);
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod restart_tests;
#[cfg(test)]
mod tests;

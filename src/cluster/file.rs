//! The node file named by `-o cluster_nodes=PATH`: one node per line as
//! `hostname|ip|port`, the IP left empty when unknown, `#` starting a
//! comment, blank lines ignored; and the payload of `config set cluster`,
//! which is what `config get cluster` answers: `<version>\n` then the
//! nodes separated by spaces.

use super::Node;
use std::net::IpAddr;

/// The nodes of a node file's text, in file order. `Err` is one line for
/// the operator naming the first bad line; a file with no node is bad too
/// (discovery clients refuse an empty list).
pub fn parse(text: &str) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let node = parse_node(line).map_err(|why| format!("line {}: {line:?}: {why}", i + 1))?;
        if nodes.contains(&node) {
            return Err(format!("line {}: {line:?}: listed twice", i + 1));
        }
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err("no node listed (give lines of hostname|ip|port)".into());
    }
    Ok(nodes)
}

/// The highest version `config set cluster` accepts: far above any time in
/// seconds, far below the top of the range, so later versions can still
/// rise above it.
pub const MAX_SET_VERSION: u64 = 1 << 53;

/// The version and nodes of a `config set cluster` payload:
/// `<version>\n<host>|<ip>|<port> ...` and an optional final newline.
/// `Err` is one line saying what is wrong.
pub fn parse_payload(payload: &[u8]) -> Result<(u64, Vec<Node>), String> {
    let text = std::str::from_utf8(payload).map_err(|_| "the list is not UTF-8".to_string())?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    let (version, list) = text
        .split_once('\n')
        .ok_or_else(|| "give <version>\\n<host>|<ip>|<port> ...".to_string())?;
    let version = version
        .parse::<u64>()
        .ok()
        .filter(|&v| v > 0 && v <= MAX_SET_VERSION)
        .ok_or_else(|| {
            format!("{version:?} is not a version (a positive integer up to {MAX_SET_VERSION})")
        })?;
    let mut nodes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for word in list.split(' ').filter(|w| !w.is_empty()) {
        let node = parse_node(word).map_err(|why| format!("{word:?}: {why}"))?;
        if !seen.insert(node.clone()) {
            return Err(format!("{word:?}: listed twice"));
        }
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err("no node listed".into());
    }
    Ok((version, nodes))
}

pub(super) fn parse_node(line: &str) -> Result<Node, String> {
    let fields: Vec<&str> = line.split('|').collect();
    let [host, ip, port] = fields[..] else {
        return Err("give hostname|ip|port".into());
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("the hostname must be one word".into());
    }
    let ip = match ip {
        "" => None,
        // Brackets are how IPv6 addresses are often written next to a
        // port; the reply carries the bare address.
        ip => Some(
            ip.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_err(|_| format!("{ip:?} is not an IPv4 or IPv6 address"))?,
        ),
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("{port:?} is not a port (1 to 65535)"))?;
    Ok(Node {
        host: host.to_string(),
        ip,
        port,
    })
}

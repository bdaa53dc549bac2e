//! DNS as a node source (`-o cluster_dns=NAME[:PORT]`): the name's A and
//! AAAA records with one port, or, for a service name (`_memcache._tcp.…`,
//! what a Kubernetes headless service publishes), its SRV records, each
//! target resolved to its addresses.
//!
//! Queries are plain DNS over UDP (TCP when the answer is truncated) to
//! one server, with `hickory-proto` for the wire format and std sockets
//! for the transport: blocking, bounded by a timeout, and run only on the
//! cluster thread, so no async runtime is needed.

use super::Node;
use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

/// How long one query waits for its answer.
const TIMEOUT: Duration = Duration::from_secs(2);

/// What to resolve, and where to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The name, without a trailing dot.
    pub name: String,
    /// The port A/AAAA nodes get (SRV records carry their own; unused).
    pub port: u16,
    /// The DNS server asked.
    pub server: SocketAddr,
}

impl Target {
    /// `NAME[:PORT]` (the port defaulting to `default_port`, the server's
    /// own `-p`), asked of `server`. `Err` is one line for the operator.
    pub fn parse(spec: &str, default_port: u16, server: SocketAddr) -> Result<Target, String> {
        let (name, port) = match spec.rsplit_once(':') {
            Some((name, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| format!("{port:?} is not a port (1 to 65535)"))?;
                (name, port)
            }
            // SRV records carry their own ports.
            None if default_port > 0 || spec.starts_with('_') => (spec, default_port),
            None => return Err(format!("{spec:?}: give NAME:PORT (-p is 0)")),
        };
        let name = name.trim_end_matches('.');
        if name.is_empty() || Name::from_ascii(name).is_err() {
            return Err(format!("{name:?} is not a DNS name"));
        }
        Ok(Target {
            name: name.to_string(),
            port,
            server,
        })
    }

    /// Whether the name is an SRV service name (`_service._proto.…`).
    pub fn is_srv(&self) -> bool {
        self.name.starts_with('_')
    }

    /// The nodes the name resolves to now. `Err` (one line) when the
    /// server cannot be reached, answers an error, or lists no node: the
    /// caller keeps the list it has.
    pub fn resolve(&self) -> Result<Vec<Node>, String> {
        let mut nodes = if self.is_srv() {
            self.resolve_srv()?
        } else {
            let ips = self.addresses(&self.name)?;
            ips.into_iter()
                .map(|ip| Node {
                    host: self.name.clone(),
                    ip: Some(ip),
                    port: self.port,
                })
                .collect()
        };
        nodes.sort();
        nodes.dedup();
        if nodes.is_empty() {
            return Err(format!("{}: no record", self.name));
        }
        Ok(nodes)
    }

    /// SRV records, each target with its addresses (one node per address;
    /// `target||port` when it has none).
    fn resolve_srv(&self) -> Result<Vec<Node>, String> {
        let answer = query(self.server, &self.name, RecordType::SRV)?;
        let mut nodes = Vec::new();
        for record in &answer.answers {
            let RData::SRV(srv) = &record.data else {
                continue;
            };
            let host = srv.target.to_ascii();
            let host = host.trim_end_matches('.');
            if host.is_empty() {
                continue;
            }
            let ips = self.addresses(host)?;
            if ips.is_empty() {
                nodes.push(Node {
                    host: host.to_string(),
                    ip: None,
                    port: srv.port,
                });
            }
            nodes.extend(ips.into_iter().map(|ip| Node {
                host: host.to_string(),
                ip: Some(ip),
                port: srv.port,
            }));
        }
        Ok(nodes)
    }

    /// The A and AAAA addresses of `host` (none when it has none). One of
    /// the two queries failing is forgiven when the other found addresses
    /// (some servers refuse the AAAA query of a name they only have an A
    /// record for).
    fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let mut ips = Vec::new();
        let mut failed = None;
        for rtype in [RecordType::A, RecordType::AAAA] {
            let answer = match query(self.server, host, rtype) {
                Ok(answer) => answer,
                Err(e) => {
                    failed = Some(e);
                    continue;
                }
            };
            for record in &answer.answers {
                match &record.data {
                    RData::A(a) => ips.push(IpAddr::V4(a.0)),
                    RData::AAAA(a) => ips.push(IpAddr::V6(a.0)),
                    _ => {}
                }
            }
        }
        match failed {
            Some(e) if ips.is_empty() => Err(e),
            _ => Ok(ips),
        }
    }
}

/// One query of `name` for `rtype`: the answer message, NXDOMAIN being
/// an answer with no record.
fn query(server: SocketAddr, name: &str, rtype: RecordType) -> Result<Message, String> {
    let why = |e: &dyn std::fmt::Display| format!("{name} {rtype} from {server}: {e}");
    let mut fqdn = Name::from_ascii(name).map_err(|e| why(&e))?;
    fqdn.set_fqdn(true);
    let mut request = Message::query();
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(fqdn, rtype));
    let bytes = request.to_vec().map_err(|e| why(&e))?;
    let id = request.metadata.id;
    let mut answer = udp(server, &bytes, id).map_err(|e| why(&e))?;
    if answer.metadata.truncation {
        answer = tcp(server, &bytes, id).map_err(|e| why(&e))?;
    }
    match answer.metadata.response_code {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(answer),
        code => Err(why(&code)),
    }
}

fn udp(server: SocketAddr, bytes: &[u8], id: u16) -> std::io::Result<Message> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(TIMEOUT))?;
    socket.send(bytes)?;
    let mut buf = [0u8; 4096];
    // One deadline for the query: stray datagrams do not extend it.
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(timed_out(std::io::ErrorKind::TimedOut.into()));
        }
        socket.set_read_timeout(Some(left))?;
        let n = socket.recv(&mut buf).map_err(timed_out)?;
        // A stray datagram (a late answer to an earlier query) is skipped.
        if let Ok(answer) = Message::from_vec(&buf[..n]) {
            if answer.metadata.id == id {
                return Ok(answer);
            }
        }
    }
}

fn tcp(server: SocketAddr, bytes: &[u8], id: u16) -> std::io::Result<Message> {
    let mut stream = TcpStream::connect_timeout(&server, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let len = u16::try_from(bytes.len()).map_err(std::io::Error::other)?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    stream.write_all(&framed)?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).map_err(timed_out)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).map_err(timed_out)?;
    let answer = Message::from_vec(&buf).map_err(std::io::Error::other)?;
    if answer.metadata.id != id {
        return Err(std::io::Error::other("an answer to another query"));
    }
    Ok(answer)
}

/// A read timeout says so (its own error text is "Resource temporarily
/// unavailable").
fn timed_out(e: std::io::Error) -> std::io::Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer within 2 s")
        }
        _ => e,
    }
}

/// The first `nameserver` of resolv.conf-formatted `text`, port 53.
pub fn system_server(text: &str) -> Option<SocketAddr> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some("nameserver"))
            .then(|| words.next())
            .flatten()
            // A link-local IPv6 server may carry a zone (`%eth0`): not
            // supported, skipped.
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

//! Binding the listening sockets memcached's way (`-l`, `-p`, `-s`, `-a`, `-b`).

use super::transport::Stream;
use crate::config::{Listen, ListenAddr, Settings};
use mio::event::Source;
use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Registry, Token};
use nix::sys::stat::{umask, Mode};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

/// A bound listening socket.
#[derive(Debug)]
pub enum Listener {
    /// TCP, and whether it speaks TLS (`-Z` without `notls:`).
    Tcp(TcpListener, bool),
    /// UNIX domain, with its path (removed on drop).
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// The bound TCP address, if TCP.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(l, _) => l.local_addr().ok(),
            Listener::Unix(..) => None,
        }
    }

    /// Whether its connections speak TLS.
    pub fn speaks_tls(&self) -> bool {
        matches!(self, Listener::Tcp(_, true))
    }

    /// The address as `stats conns` shows it.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l, _) => l
                .local_addr()
                .map_or_else(|_| "unknown".into(), |a| a.to_string()),
            Listener::Unix(_, path) => path.display().to_string(),
        }
    }

    /// The socket's fd (its id in `stats conns`).
    pub fn fd(&self) -> u64 {
        match self {
            Listener::Tcp(l, _) => l.as_raw_fd() as u64,
            Listener::Unix(l, _) => l.as_raw_fd() as u64,
        }
    }

    /// Accepts one connection.
    pub fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l, _) => {
                let (s, _) = l.accept()?;
                // Replies must not wait for Nagle.
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Listener::Unix(l, _) => Ok(Stream::Unix(l.accept()?.0)),
        }
    }

    /// Registers with an event loop.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        match self {
            Listener::Tcp(l, _) => l.register(registry, token, Interest::READABLE),
            Listener::Unix(l, _) => l.register(registry, token, Interest::READABLE),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds every listener the settings ask for.
pub fn bind_all(settings: &Settings) -> io::Result<Vec<Listener>> {
    match &settings.listen {
        Listen::Unix(path, mask) => {
            // A stale socket file from an earlier run would make bind fail.
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                let _ = std::fs::remove_file(path);
            }
            // The mask applies as the socket file is created, as memcached
            // does it (a chmod afterwards would follow whatever link was
            // put at the path in between). No other thread runs yet, so the
            // process-wide umask is ours to set for a moment.
            let keep = Mode::from_bits_truncate(!*mask & 0o777);
            let old = umask(keep);
            let bound = UnixListener::bind(path);
            umask(old);
            Ok(vec![Listener::Unix(bound?, path.clone())])
        }
        Listen::Tcp(addrs) => {
            let mut out = Vec::new();
            for addr in addrs {
                let tls = settings.ssl.enabled && addr.tls;
                for resolved in resolve(addr)? {
                    out.push(Listener::Tcp(bind_tcp(resolved, settings.backlog)?, tls));
                }
            }
            Ok(out)
        }
    }
}

/// The socket addresses of one `-l` entry: a name may resolve to several
/// (as memcached binds every address getaddrinfo gives); `*` is IPv4's and,
/// where the machine has IPv6, IPv6's wildcard.
fn resolve(addr: &ListenAddr) -> io::Result<Vec<SocketAddr>> {
    match &addr.host {
        Some(host) => Ok((host.as_str(), addr.port)
            .to_socket_addrs()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot resolve -l {addr}: {e}")))?
            .collect()),
        None => {
            let mut all = vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, addr.port))];
            if Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP)).is_ok() {
                all.push(SocketAddr::from((Ipv6Addr::UNSPECIFIED, addr.port)));
            }
            Ok(all)
        }
    }
}

fn bind_tcp(addr: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into()).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("failed to listen on TCP port {}: {e}", addr),
        )
    })?;
    socket.listen(backlog)?;
    socket.set_nonblocking(true)?;
    Ok(TcpListener::from_std(socket.into()))
}

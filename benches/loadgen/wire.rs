//! The load generator's connection: plaintext TCP, or TLS with a rustls
//! client (`--tls`), both non-blocking under the thread's mio loop. The
//! TLS handshake is done, blocking, when the connection is opened, so
//! the measured run sees only records of requests and replies.

use mio::event::Source;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::sync::Arc;
use std::time::Duration;

/// A connection to the server.
pub enum Wire {
    /// Plaintext.
    Plain(TcpStream),
    /// TLS, handshake done.
    Tls(Box<(TcpStream, ClientConnection)>),
}

/// A rustls client configuration trusting the CA certificates in `ca`.
pub fn client_config(ca: &str) -> Result<Arc<ClientConfig>, String> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca)
        .map_err(|e| format!("--tls-ca {ca}: {e}"))?
    {
        roots
            .add(cert.map_err(|e| format!("--tls-ca {ca}: {e}"))?)
            .map_err(|e| format!("--tls-ca {ca}: {e}"))?;
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

impl Wire {
    /// Connects (and, with `tls`, completes the handshake).
    pub fn connect(addr: &SocketAddr, tls: Option<&Arc<ClientConfig>>) -> io::Result<Wire> {
        let mut s = StdTcpStream::connect_timeout(addr, Duration::from_secs(5))?;
        s.set_nodelay(true)?;
        let wire = match tls {
            None => {
                s.set_nonblocking(true)?;
                Wire::Plain(TcpStream::from_std(s))
            }
            Some(config) => {
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                let name = ServerName::from(addr.ip());
                let mut conn =
                    ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
                while conn.is_handshaking() {
                    conn.complete_io(&mut s)?;
                }
                s.set_nonblocking(true)?;
                Wire::Tls(Box::new((TcpStream::from_std(s), conn)))
            }
        };
        Ok(wire)
    }

    /// Writes the TLS records waiting for room; `WouldBlock` if some remain.
    pub fn push_pending(&mut self) -> io::Result<()> {
        match self {
            Wire::Plain(_) => Ok(()),
            Wire::Tls(t) => {
                let (sock, conn) = &mut **t;
                push(sock, conn)
            }
        }
    }

    /// Whether TLS records wait for room in the socket.
    pub fn has_pending(&self) -> bool {
        match self {
            Wire::Plain(_) => false,
            Wire::Tls(t) => t.1.wants_write(),
        }
    }
}

/// Writes the records rustls holds; `WouldBlock` if some remain.
fn push(sock: &mut TcpStream, conn: &mut ClientConnection) -> io::Result<()> {
    while conn.wants_write() {
        conn.write_tls(sock)?;
    }
    Ok(())
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(t) => {
                let (sock, conn) = &mut **t;
                push(sock, conn)?;
                let n = conn.writer().write(buf)?;
                match push(sock, conn) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => Ok(n),
                    Err(e) => Err(e),
                    Ok(()) if n == 0 => Err(io::ErrorKind::WouldBlock.into()),
                    Ok(()) => Ok(n),
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(t) => {
                let (sock, conn) = &mut **t;
                loop {
                    match conn.reader().read(buf) {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                    if conn.read_tls(sock)? == 0 {
                        return Ok(0);
                    }
                    conn.process_new_packets().map_err(io::Error::other)?;
                }
            }
        }
    }
}

impl Source for Wire {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.register(r, t, i),
            Wire::Tls(b) => b.0.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.reregister(r, t, i),
            Wire::Tls(b) => b.0.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Wire::Plain(s) => s.deregister(r),
            Wire::Tls(b) => b.0.deregister(r),
        }
    }
}

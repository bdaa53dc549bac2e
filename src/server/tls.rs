//! The TLS side of the transport: a rustls `ServerConnection` driven by
//! the worker's readiness events, never blocking. Records are read from
//! the socket only when no decrypted byte is left (rustls bounds what it
//! holds), handshake and alert records are written as soon as rustls has
//! them, and the socket counts as drained only once a read of it would
//! block, since a short plaintext read says nothing about the socket.

use super::transport::{Received, Stream};
use crate::tls::Tls;
use rustls::ServerConnection;
use std::io::{self, Read, Write};
use std::sync::Arc;

/// memcached's first words on any connection are ASCII or the binary
/// magic; a TLS record starts with this content type (handshake).
pub const HANDSHAKE_RECORD: u8 = 0x16;

/// A fatal `unexpected_message` alert in a TLS 1.0 record header: what a
/// plaintext listener answers a TLS ClientHello with, so the client fails
/// at once instead of waiting for a ServerHello.
pub const PLAINTEXT_PORT_ALERT: &[u8] = &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x0a];

/// What a TLS listener answers a plaintext client with before closing.
const TLS_REQUIRED: &[u8] = b"CLIENT_ERROR this port requires TLS\r\n";

/// One connection's TLS state.
#[derive(Debug)]
pub struct TlsSession {
    conn: ServerConnection,
    tls: Arc<Tls>,
    fd: u64,
    /// Decrypted bytes rustls holds.
    plaintext: usize,
    /// A read of the socket would block: wait for a readiness event.
    socket_drained: bool,
    /// The peer sent close_notify or closed the socket.
    eof: bool,
    /// The handshake finished (and was logged).
    established: bool,
    /// The first byte the client sent, to tell a plaintext client.
    first_byte: Option<u8>,
}

impl TlsSession {
    /// A server session with the configuration new connections get now.
    pub fn new(tls: Arc<Tls>, fd: u64) -> io::Result<TlsSession> {
        let conn = ServerConnection::new(tls.config()).map_err(io::Error::other)?;
        Ok(TlsSession {
            conn,
            tls,
            fd,
            plaintext: 0,
            socket_drained: false,
            eof: false,
            established: false,
            first_byte: None,
        })
    }

    /// A readiness event came: the socket may have bytes.
    pub fn on_readable(&mut self) {
        self.socket_drained = false;
    }

    /// Whether a read would find nothing until the next readiness event.
    pub fn drained(&self) -> bool {
        self.plaintext == 0 && self.socket_drained && !self.eof
    }

    /// Whether rustls has records to send.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Reads decrypted bytes into `buf`.
    pub fn read(&mut self, stream: &mut Stream, buf: &mut [u8]) -> io::Result<Received> {
        loop {
            if self.plaintext > 0 {
                match self.conn.reader().read(buf) {
                    Ok(n) if n > 0 => {
                        self.plaintext = self.plaintext.saturating_sub(n);
                        return Ok(Received::Data(n));
                    }
                    _ => self.plaintext = 0,
                }
            }
            if self.eof {
                return Ok(Received::Eof);
            }
            if self.socket_drained {
                return Ok(Received::WouldBlock);
            }
            let mut source = FirstByte {
                stream,
                first: &mut self.first_byte,
            };
            match self.conn.read_tls(&mut source) {
                Ok(0) => {
                    self.eof = true;
                    continue;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.socket_drained = true;
                    return Ok(Received::WouldBlock);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    self.plaintext = state.plaintext_bytes_to_read();
                    self.eof |= state.peer_has_closed();
                }
                Err(e) => return Err(self.failed(stream, e)),
            }
            if !self.established && !self.conn.is_handshaking() {
                self.established();
            }
            // Handshake records (and alerts) go out now: no reply will
            // carry them.
            self.push(stream)?;
        }
    }

    /// Encrypts what rustls takes of `buf` and writes what the socket
    /// takes; `Ok(0)` means both are full (wait for writability).
    pub fn write(&mut self, stream: &mut Stream, buf: &[u8]) -> io::Result<usize> {
        // A second try only when rustls's buffer was full and the socket
        // then took all of it: room again, and no writable edge would come.
        for _ in 0..2 {
            let n = self.conn.writer().write(buf)?;
            let all_out = self.push(stream)?;
            if n > 0 || !all_out {
                return Ok(n);
            }
        }
        Ok(0)
    }

    /// Writes the records rustls has; true once none is left.
    pub fn push(&mut self, stream: &mut Stream) -> io::Result<bool> {
        while self.conn.wants_write() {
            match self.conn.write_tls(stream) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Queues close_notify after everything written so far.
    pub fn close_notify(&mut self) {
        self.conn.send_close_notify();
    }

    /// The handshake is done: log the connection's parameters and the
    /// client certificate's subject (mutual TLS).
    fn established(&mut self) {
        self.established = true;
        if !log::log_enabled!(log::Level::Info) {
            return;
        }
        let version = self
            .conn
            .protocol_version()
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let suite = self
            .conn
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str())
            .unwrap_or("?");
        match self.conn.peer_certificates().and_then(|c| c.first()) {
            Some(cert) => log::info!(
                "<{} TLS {version} {suite}, client certificate subject: {}",
                self.fd,
                crate::tls::subject(cert).unwrap_or_else(|| "(unreadable)".into())
            ),
            None => log::info!("<{} TLS {version} {suite}", self.fd),
        }
    }

    /// A record or handshake error: counted and logged; a plaintext
    /// client is told in plaintext, a TLS client gets rustls's alert.
    fn failed(&mut self, stream: &mut Stream, e: rustls::Error) -> io::Error {
        if !self.established {
            self.tls.handshake_failed();
        }
        let plaintext_client = !self.established
            && self
                .first_byte
                .is_some_and(|b| b != HANDSHAKE_RECORD && b != 0x15 && b != 0x17);
        if plaintext_client {
            log::info!("<{} plaintext client on a TLS port: {e}", self.fd);
            let _ = stream.write(TLS_REQUIRED);
        } else {
            log::info!("<{} TLS error: {e}", self.fd);
            let _ = self.push(stream);
        }
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// The socket as rustls reads it, noting the first byte received.
struct FirstByte<'a> {
    stream: &'a mut Stream,
    first: &'a mut Option<u8>,
}

impl Read for FirstByte<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        if self.first.is_none() && n > 0 {
            *self.first = Some(buf[0]);
        }
        Ok(n)
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;

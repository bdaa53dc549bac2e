//! The transport seam: how a connection's bytes cross its socket. A
//! [`Transport`] reads and writes a TCP or UNIX stream and says
//! explicitly whether the socket is drained (nothing to read until the
//! next readiness event) and whether it has bytes of its own to write, so
//! the worker never infers either from the size of a read. The TLS
//! transport (`tls.rs`) fits the same seam: its short plaintext reads say
//! nothing about the socket, and its handshake and close_notify need
//! write interest with no reply pending.

use super::tls::TlsSession;
use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};

/// A connected client socket.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// UNIX domain.
    Unix(UnixStream),
}

impl Stream {
    /// The peer, as `stats conns` shows it.
    pub fn peer(&self) -> String {
        match self {
            Stream::Tcp(s) => s
                .peer_addr()
                .map_or_else(|_| "unknown".into(), |a| a.to_string()),
            Stream::Unix(_) => "unix".into(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
        }
    }
}

/// What a readiness event said about a connection's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    /// Bytes, an EOF or an error may be waiting to be read.
    pub readable: bool,
    /// The peer closed its side or the socket failed (epoll's RDHUP, HUP
    /// or ERR): the EOF or error must be read even after a short read.
    pub hangup: bool,
}

/// What one read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// This many bytes.
    Data(usize),
    /// The peer closed its side.
    Eof,
    /// Nothing now; wait for the next readiness event.
    WouldBlock,
}

/// A plaintext or TLS transport over a TCP or UNIX stream.
#[derive(Debug)]
pub struct Transport {
    stream: Stream,
    /// TLS, boxed so that a plaintext connection stays small.
    tls: Option<Box<TlsSession>>,
    /// The last read was short and no readiness event came since: the
    /// socket is known to be empty, so reading again would only return
    /// WouldBlock (the kernel signals an edge for any data that arrives).
    drained: bool,
    /// A readiness event reported the peer's close (or a socket error).
    /// From then on a short read proves nothing: the FIN may sit behind the
    /// bytes just read, and no further event will announce it, so the
    /// transport reads until EOF or an error.
    hangup: bool,
}

impl Transport {
    /// Wraps an accepted socket.
    pub fn new(stream: Stream) -> Transport {
        Transport {
            stream,
            tls: None,
            drained: false,
            hangup: false,
        }
    }

    /// Wraps an accepted socket whose bytes are TLS records.
    pub fn with_tls(stream: Stream, session: TlsSession) -> Transport {
        Transport {
            tls: Some(Box::new(session)),
            ..Transport::new(stream)
        }
    }

    /// Whether the connection speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The socket, to register with the event loop.
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Takes note of a readiness event.
    #[inline]
    pub fn on_readiness(&mut self, ready: Readiness) {
        if ready.readable || ready.hangup {
            self.drained = false;
            if let Some(tls) = &mut self.tls {
                tls.on_readable();
            }
        }
        self.hangup |= ready.hangup;
    }

    /// Whether a read now would find nothing: wait for a readiness event.
    #[inline]
    pub fn drained(&self) -> bool {
        match &self.tls {
            Some(tls) => tls.drained(),
            None => self.drained,
        }
    }

    /// Reads once into `buf`.
    #[inline]
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<Received> {
        if let Some(tls) = &mut self.tls {
            return tls.read(&mut self.stream, buf);
        }
        loop {
            return match self.stream.read(buf) {
                Ok(0) => Ok(Received::Eof),
                Ok(n) => {
                    self.drained = n < buf.len() && !self.hangup;
                    Ok(Received::Data(n))
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.drained = true;
                    Ok(Received::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Writes from `buf`; `Ok(0)` means the socket would block.
    #[inline]
    pub fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(tls) = &mut self.tls {
            return tls.write(&mut self.stream, buf);
        }
        loop {
            return match self.stream.write(buf) {
                Ok(0) => Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    /// Whether the transport has bytes of its own to send (none in
    /// plaintext; TLS records of a handshake, a reply or close_notify):
    /// the worker keeps write interest while this or a reply is pending.
    #[inline]
    pub fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Writes the transport's own pending bytes (TLS records) as far as
    /// the socket takes them.
    #[inline]
    pub fn push(&mut self) -> io::Result<()> {
        match &mut self.tls {
            Some(tls) => tls.push(&mut self.stream).map(|_| ()),
            None => Ok(()),
        }
    }

    /// The connection is closing with every reply handed over: a TLS
    /// transport queues close_notify behind them.
    pub fn close_notify(&mut self) {
        if let Some(tls) = &mut self.tls {
            tls.close_notify();
        }
    }
}

//! One client connection: its buffers and the read → handle → write
//! cycle. Protocol decisions belong to the session, bytes on the wire to
//! the transport; this file only moves bytes between them and enforces
//! the bounds.

use super::buffer::{Pools, ReadBuf};
use super::tls::{HANDSHAKE_RECORD, PLAINTEXT_PORT_ALERT};
use super::transport::{Readiness, Received, Stream, Transport};
use super::Shared;
use crate::engine::Context;
use crate::metrics::{ConnInfo, ConnState, Counters};
use crate::session::{Session, Step};
use crate::watch::Watcher;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Once this many reply bytes wait unsent, the connection stops reading
/// requests until the client drains them (a slow reader cannot eat memory).
const WRITE_HIGH_WATER: usize = 1024 * 1024;

/// What a connection needs next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for readiness.
    Idle,
    /// Request budget used up with requests still buffered: serve again soon.
    Yielded,
    /// Close it.
    Close,
    /// Close it and stop the server.
    Shutdown,
    /// It has just become a log watcher (`watch`): the worker feeds it
    /// from now on ([`Connection::pump_watch`]).
    Watching,
}

/// A client connection.
#[derive(Debug)]
pub struct Connection {
    transport: Transport,
    session: Session,
    fd: u64,
    info: Arc<ConnInfo>,
    rbuf: ReadBuf,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Close once the replies are written.
    closing: bool,
    /// Stop the server once the replies are written.
    shutdown: bool,
    /// The peer closed its side.
    eof: bool,
    /// Registered for writable events (only while there is something to
    /// write).
    pub watching_writes: bool,
    /// When bytes last arrived (relative clock).
    active_at: u32,
    /// Nothing was read yet (a TLS ClientHello on a plaintext port is
    /// told so at once).
    fresh: bool,
    /// The log lines it is sent, once it sent `watch`.
    watcher: Option<Arc<Watcher>>,
}

impl Connection {
    /// Wraps an accepted socket's transport.
    pub fn new(transport: Transport, fd: u64, info: Arc<ConnInfo>) -> Connection {
        let connected_at = info.last_cmd.load(Ordering::Relaxed);
        Connection {
            transport,
            session: Session::new(fd),
            fd,
            info,
            rbuf: ReadBuf::default(),
            wbuf: Vec::new(),
            wpos: 0,
            closing: false,
            shutdown: false,
            eof: false,
            watching_writes: false,
            active_at: connected_at,
            fresh: true,
            watcher: None,
        }
    }

    /// The socket.
    pub fn stream_mut(&mut self) -> &mut Stream {
        self.transport.stream_mut()
    }

    /// Its id in `stats conns`.
    pub fn fd(&self) -> u64 {
        self.fd
    }

    /// Relative time bytes last arrived from the client (or it connected):
    /// `-o idle_timeout` measures from here, so a client sending a large
    /// value slowly, or lines the server answers with errors, is not idle.
    pub fn last_active(&self) -> u32 {
        self.active_at
    }

    /// Returns buffers to the pool.
    pub fn release(&mut self, pools: &mut Pools) {
        self.rbuf.consume(self.rbuf.data().len());
        self.rbuf.release_if_empty(&mut pools.read);
        pools.write.give(std::mem::take(&mut self.wbuf));
    }

    /// Reads, executes and writes until the socket would block, the request
    /// budget is spent, or the connection must close. `ready` is what the
    /// readiness event that woke it said (nothing, when it is served again
    /// from the worker's ready list).
    pub fn serve(
        &mut self,
        shared: &Shared,
        counters: &Counters,
        pools: &mut Pools,
        ready: Readiness,
    ) -> Status {
        self.transport.on_readiness(ready);
        if self.watcher.is_some() {
            return self.serve_watcher(counters, pools);
        }
        let budget = shared.settings.reqs_per_event;
        let ctx = Context {
            store: &shared.store,
            settings: &shared.settings,
            stats: &shared.stats,
            counters,
            tls: shared.tls.as_deref(),
            cluster: shared.cluster.as_ref(),
            watch: &shared.watch,
            client: self.fd,
        };
        if self.wbuf.capacity() == 0 {
            self.wbuf = pools.write.take();
            self.wbuf.clear();
        }
        let mut done = 0;
        // Replies accumulate while requests are buffered and are written
        // when the connection must wait (for bytes, for the client to read,
        // or for its turn) or close: a pipeline gets as few writes as possible.
        let status = loop {
            if self.closing {
                if self.flush(counters).is_err() {
                    break Status::Close;
                }
                if self.unsent() == 0 {
                    // Every reply is with the transport: TLS says goodbye
                    // after them (rustls sends close_notify once).
                    self.transport.close_notify();
                    if self.transport.push().is_err() {
                        break Status::Close;
                    }
                }
                break if self.wants_write() {
                    Status::Idle
                } else if self.shutdown {
                    Status::Shutdown
                } else {
                    Status::Close
                };
            }
            if self.unsent() >= WRITE_HIGH_WATER {
                if self.flush(counters).is_err() {
                    break Status::Close;
                }
                if self.unsent() >= WRITE_HIGH_WATER {
                    // Wait for the writable edge before taking more requests.
                    self.info.set_state(ConnState::Mwrite);
                    break Status::Idle;
                }
            }
            if done >= budget {
                if self.flush(counters).is_err() {
                    break Status::Close;
                }
                break Status::Yielded;
            }
            // A read of many keys pauses once this much is queued unsent.
            let room = self.wpos + WRITE_HIGH_WATER;
            match self.session.handle(
                self.rbuf.data(),
                &mut self.wbuf,
                room,
                &ctx,
                &self.info,
                &shared.gate,
            ) {
                Step::Handled(used) => {
                    self.rbuf.consume(used);
                    done += 1;
                }
                Step::Paused => done += 1,
                Step::Close(used) => {
                    self.rbuf.consume(used);
                    self.closing = true;
                }
                Step::Shutdown => {
                    self.shutdown = true;
                    self.closing = true;
                }
                Step::Watch(used, watcher) => {
                    // Commands pipelined after `watch` are dropped, as
                    // memcached drops them.
                    self.rbuf.consume(self.rbuf.data().len().max(used));
                    self.watcher = Some(watcher);
                    if self.flush(counters).is_err() {
                        break Status::Close;
                    }
                    break Status::Watching;
                }
                Step::NeedMore => {
                    // Nothing whole is buffered: read more. Replies wait: the
                    // worker writes them after serving every ready connection
                    // (`flush_deferred`), so clients it wakes do not preempt
                    // it in the middle of a batch.
                    if self.eof {
                        self.closing = true;
                        continue;
                    }
                    if self.transport.drained() {
                        break Status::Idle;
                    }
                    let space = self.rbuf.spare(&mut pools.read);
                    match self.transport.read(space) {
                        Ok(Received::Data(n)) => {
                            self.rbuf.filled(n);
                            counters.bytes_read.add(n as u64);
                            self.active_at = shared.store.clock().now();
                            if std::mem::take(&mut self.fresh) {
                                self.refuse_tls_on_plaintext_port();
                            }
                        }
                        Ok(Received::Eof) => self.eof = true,
                        Ok(Received::WouldBlock) => break Status::Idle,
                        Err(_) => break Status::Close,
                    }
                }
            }
        };
        if status == Status::Idle && self.unsent() == 0 {
            self.info.set_state(ConnState::Waiting);
        }
        if status == Status::Idle {
            self.rbuf.park(&mut pools.read);
        }
        self.release_wbuf_if_sent(pools);
        status
    }

    /// A watching connection's turn (a readable event, or the worker's
    /// periodic pump): what the client sends is read and dropped (a watcher
    /// takes no commands), its end closes the connection, and queued lines
    /// go out. Reading on every turn, not only on readable events, finds a
    /// client that closed right after `watch` (its FIN arrived with the
    /// command, so no further edge comes), as memcached's logger polls its
    /// watchers for a closed peer.
    pub fn serve_watcher(&mut self, counters: &Counters, pools: &mut Pools) -> Status {
        loop {
            let space = self.rbuf.spare(&mut pools.read);
            match self.transport.read(space) {
                Ok(Received::Data(n)) => {
                    self.rbuf.filled(n);
                    counters.bytes_read.add(n as u64);
                    self.rbuf.consume(n);
                }
                Ok(Received::WouldBlock) => break,
                Ok(Received::Eof) | Err(_) => return Status::Close,
            }
        }
        self.rbuf.park(&mut pools.read);
        match self.pump_watch(counters, pools) {
            Ok(()) => Status::Idle,
            Err(_) => Status::Close,
        }
    }

    /// The watcher this connection feeds on, if it sent `watch`.
    pub fn watcher(&self) -> Option<&Arc<Watcher>> {
        self.watcher.as_ref()
    }

    /// Moves the lines queued for a watching connection to its socket, as
    /// far as the socket takes them; the rest waits in the write buffer
    /// (the queue takes no more than its bound meanwhile, so memory stays
    /// bounded whatever the client does). `Err`: the connection broke.
    fn pump_watch(&mut self, counters: &Counters, pools: &mut Pools) -> io::Result<()> {
        let Some(watcher) = &self.watcher else {
            return Ok(());
        };
        if self.unsent() == 0 && watcher.queued() > 0 {
            if self.wbuf.capacity() == 0 {
                self.wbuf = pools.write.take();
            }
            self.wbuf.clear();
            self.wpos = 0;
            watcher.drain_into(&mut self.wbuf);
        }
        self.flush(counters)?;
        self.release_wbuf_if_sent(pools);
        Ok(())
    }

    /// A TLS ClientHello on a plaintext port: no memcached command starts
    /// with its first byte, so answer with a TLS alert the client reports
    /// at once (instead of waiting for a ServerHello that never comes) and
    /// close.
    fn refuse_tls_on_plaintext_port(&mut self) {
        if self.transport.is_tls() || self.rbuf.data().first() != Some(&HANDSHAKE_RECORD) {
            return;
        }
        log::info!("<{} TLS client on a plaintext port", self.fd);
        self.rbuf.consume(self.rbuf.data().len());
        self.wbuf.extend_from_slice(PLAINTEXT_PORT_ALERT);
        self.closing = true;
    }

    /// Gives the write buffer back to the pool once every reply is written.
    fn release_wbuf_if_sent(&mut self, pools: &mut Pools) {
        // (A TLS transport keeps its own copy of what it has not sent.)
        if self.unsent() == 0 && self.wbuf.capacity() > 0 {
            self.wpos = 0;
            pools.write.give(std::mem::take(&mut self.wbuf));
        }
    }

    /// Reply bytes not yet written.
    pub fn unsent(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Whether there is something to write: replies, or bytes of the
    /// transport's own. The worker asks for writable events exactly then.
    pub fn wants_write(&self) -> bool {
        self.unsent() > 0 || self.transport.wants_write()
    }

    /// Whether the connection waits for its client with no reply unsent:
    /// the state in which `-o idle_timeout` may close it, once no byte has
    /// arrived for that long ([`Connection::last_active`]). A partial
    /// request (a line without its newline, a data block cut short, an
    /// oversized block being discarded) is a client that stopped sending,
    /// and counts as idle too; a connection whose replies wait for the
    /// client to read does not.
    pub fn is_idle(&self) -> bool {
        // A watcher waits for lines, not for its client.
        self.watcher.is_none() && !self.wants_write()
    }

    /// Whether the connection must be served again once its replies are
    /// written, whatever readiness events come: requests wait in the read
    /// buffer (a multi-get paused for its client to read, a pipeline
    /// stopped at the write bound), or it is closing (`quit`, `shutdown`, a
    /// junk line) and only waited for its replies to go out.
    pub fn resumes_once_flushed(&self) -> bool {
        self.closing || !self.rbuf.is_empty()
    }

    /// Writes pending replies until done or the socket would block.
    fn flush(&mut self, counters: &Counters) -> io::Result<()> {
        while self.wpos < self.wbuf.len() {
            let n = self.transport.write(&self.wbuf[self.wpos..])?;
            if n == 0 {
                return Ok(()); // would block: the writable edge resumes it
            }
            self.wpos += n;
            counters.bytes_written.add(n as u64);
        }
        self.wbuf.clear();
        self.wpos = 0;
        // TLS records rustls kept because the socket was full.
        self.transport.push()
    }

    /// Writes replies that `serve` left for the end of the batch; false if
    /// the connection broke. Returns the write buffer to the pool once empty.
    pub fn flush_deferred(&mut self, counters: &Counters, pools: &mut Pools) -> bool {
        if self.flush(counters).is_err() {
            return false;
        }
        if self.unsent() == 0 {
            self.info.set_state(ConnState::Waiting);
        }
        self.release_wbuf_if_sent(pools);
        true
    }

    /// At shutdown: writes what the socket takes now; true when nothing
    /// is left unsent (or the connection broke).
    pub fn flush_on_shutdown(&mut self, counters: &Counters) -> bool {
        if self.flush(counters).is_err() {
            return true;
        }
        if self.unsent() == 0 {
            self.transport.close_notify();
            if self.transport.push().is_err() {
                return true;
            }
        }
        !self.wants_write()
    }
}

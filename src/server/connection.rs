//! One client connection: its buffers and the read → parse → execute →
//! write cycle. Protocol decisions belong to `protocol`, store decisions to
//! `command`; this file only moves bytes and enforces the bounds.

use super::buffer::{Pools, ReadBuf};
use super::stream::Stream;
use super::trace;
use super::Shared;
use crate::command::{execute, Context, Effect};
use crate::protocol::text::{self, Limits, Parsed};
use crate::protocol::text_reply::TextReply;
use crate::protocol::Request;
use crate::stats::{ConnInfo, ConnState, Counters};
use std::io::{self, Write};
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
}

/// A client connection.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    fd: u64,
    info: Arc<ConnInfo>,
    rbuf: ReadBuf,
    wbuf: Vec<u8>,
    wpos: usize,
    /// Bytes of an oversized data block still to discard.
    swallow: usize,
    /// Bytes of a paused multi-get's key list already answered.
    get_resume: usize,
    /// Close once the replies are written.
    closing: bool,
    /// Stop the server once the replies are written.
    shutdown: bool,
    /// The peer closed its side.
    eof: bool,
    /// Registered for writable events (only while replies wait unsent).
    pub watching_writes: bool,
    /// The last read was short, and no readiness event came since: the
    /// socket is known to be empty, so reading again would only return
    /// WouldBlock (the kernel signals an edge for any data that arrives).
    drained: bool,
    /// A readiness event reported the peer's close (or a socket error).
    /// From then on a short read proves nothing: the FIN may sit behind the
    /// bytes just read, and no further event will announce it, so the
    /// connection reads until EOF or an error.
    hangup: bool,
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

impl Connection {
    /// Wraps an accepted socket.
    pub fn new(stream: Stream, fd: u64, info: Arc<ConnInfo>) -> Connection {
        Connection {
            stream,
            fd,
            info,
            rbuf: ReadBuf::default(),
            wbuf: Vec::new(),
            wpos: 0,
            swallow: 0,
            get_resume: 0,
            closing: false,
            shutdown: false,
            eof: false,
            drained: false,
            hangup: false,
            watching_writes: false,
        }
    }

    /// The socket.
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Its id in `stats conns`.
    pub fn fd(&self) -> u64 {
        self.fd
    }

    /// Relative time of the last request.
    pub fn last_active(&self) -> u32 {
        self.info.last_cmd.load(Ordering::Relaxed)
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
        if ready.readable || ready.hangup {
            self.drained = false;
        }
        self.hangup |= ready.hangup;
        let budget = shared.settings.reqs_per_event;
        let limits = Limits {
            max_value_len: shared.settings.item_size_max,
        };
        let ctx = Context {
            store: &shared.store,
            settings: &shared.settings,
            stats: &shared.stats,
            counters,
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
                break if self.unsent() > 0 {
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
            match self.run_one(&ctx, &limits) {
                Some(true) => done += 1,
                Some(false) => {
                    self.closing = true;
                }
                None => {
                    // Nothing whole is buffered: read more. Replies wait: the
                    // worker writes them after serving every ready connection
                    // (`flush_deferred`), so clients it wakes do not preempt
                    // it in the middle of a batch.
                    if self.eof {
                        self.closing = true;
                        continue;
                    }
                    if self.drained {
                        break Status::Idle;
                    }
                    match self.rbuf.read_from(&mut self.stream, &mut pools.read) {
                        Ok((0, _)) => self.eof = true,
                        Ok((n, short)) => {
                            counters.bytes_read.add(n as u64);
                            self.drained = short && !self.hangup;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            break Status::Idle;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
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

    /// Gives the write buffer back to the pool once every reply is written.
    fn release_wbuf_if_sent(&mut self, pools: &mut Pools) {
        if self.unsent() == 0 && self.wbuf.capacity() > 0 {
            self.wpos = 0;
            pools.write.give(std::mem::take(&mut self.wbuf));
        }
    }

    /// Reply bytes not yet written.
    pub fn unsent(&self) -> usize {
        self.wbuf.len() - self.wpos
    }

    /// Whether the connection waits for its client with no reply unsent:
    /// the state in which `-o idle_timeout` may close it. A partial request
    /// (a line without its newline, a data block cut short, an oversized
    /// block being discarded) is a client that stopped sending, and counts
    /// as idle too; a connection whose replies wait for the client to read
    /// does not.
    pub fn is_idle(&self) -> bool {
        self.unsent() == 0
    }

    /// Requests may wait in the read buffer (a multi-get paused for its
    /// client to read, or a pipeline stopped at the write bound): once its
    /// replies are written, it must be served again whatever readiness
    /// events come.
    pub fn has_buffered_input(&self) -> bool {
        !self.rbuf.is_empty()
    }

    /// Handles the next buffered request: `Some(true)` handled one,
    /// `Some(false)` the connection must close, `None` need more bytes.
    fn run_one(&mut self, ctx: &Context<'_>, limits: &Limits) -> Option<bool> {
        if self.rbuf.is_empty() {
            return None; // the usual case after the last request of a read
        }
        if self.swallow > 0 {
            let n = self.swallow.min(self.rbuf.data().len());
            if n == 0 {
                return None;
            }
            self.rbuf.consume(n);
            self.swallow -= n;
            self.info.set_state(ConnState::Swallow);
            return Some(true);
        }
        let Connection {
            rbuf, wbuf, info, ..
        } = self;
        let tracing = trace::enabled();
        let replies_from = wbuf.len();
        match text::parse(rbuf.data(), limits) {
            Parsed::Incomplete => {
                // (run_one returned early if nothing at all is buffered)
                info.set_state(ConnState::Nread);
                None
            }
            Parsed::Close => {
                if tracing {
                    trace::request(self.fd, rbuf.data());
                    log::debug!(">{} closing the connection", self.fd);
                }
                Some(false)
            }
            Parsed::Error { reply, consumed } => {
                if let Some(line) = reply {
                    wbuf.extend_from_slice(line.as_bytes());
                    wbuf.extend_from_slice(b"\r\n");
                }
                if tracing {
                    trace::request(self.fd, rbuf.data());
                    trace::replies(self.fd, &wbuf[replies_from..]);
                }
                rbuf.consume(consumed);
                Some(true)
            }
            Parsed::Request {
                mut request,
                consumed,
                swallow,
            } => {
                info.set_state(ConnState::ParseCmd);
                info.last_cmd
                    .store(ctx.store.clock().now(), Ordering::Relaxed);
                if tracing && self.get_resume == 0 {
                    trace::request(self.fd, rbuf.data());
                }
                if let Request::Get { keys, .. } = &mut request {
                    // Continue a multi-get that paused for the client to read.
                    *keys = keys.skip_bytes(self.get_resume);
                }
                let noreply = request.noreply();
                // A multi-get pauses once this much is queued unsent.
                let room = self.wpos + WRITE_HIGH_WATER;
                let mut reply = TextReply::new(wbuf, noreply).limit(room);
                let effect = execute(&request, ctx, &mut reply);
                if tracing {
                    trace::replies(self.fd, &wbuf[replies_from..]);
                }
                if let Effect::Paused(keys_done) = effect {
                    // The request stays buffered and resumes once the
                    // replies so far have been written.
                    self.get_resume += keys_done;
                    return Some(true);
                }
                self.get_resume = 0;
                rbuf.consume(consumed);
                self.swallow = swallow;
                match effect {
                    Effect::None | Effect::Paused(_) => Some(true),
                    Effect::Close => Some(false),
                    Effect::Shutdown => {
                        self.shutdown = true;
                        Some(false)
                    }
                }
            }
        }
    }

    /// Writes pending replies until done or the socket would block.
    fn flush(&mut self, counters: &Counters) -> io::Result<()> {
        while self.wpos < self.wbuf.len() {
            match self.stream.write(&self.wbuf[self.wpos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.wpos += n;
                    counters.bytes_written.add(n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Ok(())
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
        self.flush(counters).is_err() || self.unsent() == 0
    }
}

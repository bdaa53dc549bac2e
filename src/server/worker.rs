//! A worker thread: one mio event loop owning a `Slab` of connections.
//!
//! New sockets arrive from the acceptor over a crossbeam channel followed
//! by a wake-up of the loop's `Waker`. A connection that used up its request
//! budget (`-R`) while it still has buffered requests goes on the `ready`
//! list and is served again after the other connections, without waiting
//! for a readiness event (mio is edge-triggered, so none would come).

use super::buffer::Pools;
use super::connection::{Connection, Status};
use super::tls::TlsSession;
use super::transport::{Readiness, Stream, Transport};
use super::Shared;
use crossbeam_channel::{Receiver, Sender};
use mio::{Events, Interest, Poll, Token, Waker};
use slab::Slab;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Token of the worker's waker; connections use their slab key.
const WAKER: Token = Token(usize::MAX);

/// Readiness events taken per poll.
const EVENTS_CAPACITY: usize = 1024;

/// Connections whose replies may wait for the end of a batch at once: each
/// holds a write buffer meanwhile, so a batch of thousands of events (10,000
/// clients saying `version`) flushes in slices instead of holding thousands.
const MAX_UNFLUSHED: usize = 32;

/// How often a worker with watching connections moves their lines to them.
const WATCH_INTERVAL: Duration = Duration::from_millis(20);

/// How long a stopping worker keeps writing pending replies to slow readers.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A socket the acceptor hands over: the socket, its listener's address
/// as `stats conns` shows it, and whether the listener speaks TLS.
pub type Accepted = (Stream, String, bool);

/// The acceptor's side of a worker.
#[derive(Debug)]
pub struct WorkerHandle {
    sender: Sender<Accepted>,
    waker: Arc<Waker>,
}

impl WorkerHandle {
    /// Hands a new connection to the worker; false if the worker is gone
    /// (then the connection is dropped here).
    pub fn hand_over(&self, stream: Stream, listen_addr: String, tls: bool) -> bool {
        if self.sender.send((stream, listen_addr, tls)).is_err() {
            return false;
        }
        if let Err(e) = self.waker.wake() {
            // The connection is queued; the worker adopts it on its next wake-up.
            log::warn!("cannot wake a worker: {e}");
        }
        true
    }
}

/// Starts worker `id`.
pub fn spawn(id: usize, shared: Arc<Shared>) -> io::Result<(WorkerHandle, JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    shared.shutdown.add_waker(waker.clone());
    let (sender, receiver) = crossbeam_channel::unbounded();
    let thread = std::thread::Builder::new()
        .name(format!("worker-{id}"))
        .spawn(move || {
            let mut worker = Worker {
                id,
                counters: shared.stats.worker(id),
                shared,
                poll,
                conns: Slab::new(),
                receiver,
                pools: Pools::default(),
                ready: Vec::new(),
                unflushed: Vec::new(),
                watching: Vec::new(),
            };
            if let Err(e) = worker.run() {
                log::error!("worker {id} stopped: {e}");
            }
        })?;
    Ok((WorkerHandle { sender, waker }, thread))
}

struct Worker {
    id: usize,
    shared: Arc<Shared>,
    counters: Arc<crate::metrics::Counters>,
    poll: Poll,
    conns: Slab<Connection>,
    receiver: Receiver<Accepted>,
    pools: Pools,
    /// Connections with buffered requests left after their budget ran out.
    ready: Vec<usize>,
    /// Connections whose replies wait for the end of the batch.
    unflushed: Vec<usize>,
    /// Connections that sent `watch`.
    watching: Vec<usize>,
}

impl Worker {
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let idle_timeout = self.shared.settings.idle_timeout;
        loop {
            let timeout = if !self.ready.is_empty() {
                Some(Duration::ZERO)
            } else if !self.watching.is_empty() {
                Some(WATCH_INTERVAL)
            } else if idle_timeout > 0 {
                Some(Duration::from_secs(1))
            } else {
                None
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if self.shared.shutdown.is_triggered() {
                self.close_all();
                return Ok(());
            }
            for event in events.iter() {
                if event.token() == WAKER {
                    self.adopt_new()?;
                } else {
                    let ready = Readiness {
                        readable: event.is_readable(),
                        hangup: event.is_read_closed() || event.is_error(),
                    };
                    self.serve(event.token().0, ready);
                }
            }
            let mut batch = std::mem::take(&mut self.ready);
            for key in batch.drain(..) {
                self.serve(key, Readiness::default());
            }
            if self.ready.is_empty() {
                self.ready = batch; // keep the allocation for the next turn
            }
            self.flush_deferred();
            if !self.watching.is_empty() {
                self.pump_watchers();
            }
            if idle_timeout > 0 {
                self.kick_idle(idle_timeout);
            }
        }
    }

    /// Registers connections handed over by the acceptor.
    fn adopt_new(&mut self) -> io::Result<()> {
        while let Ok((mut stream, listen_addr, tls)) = self.receiver.try_recv() {
            let entry = self.conns.vacant_entry();
            let token = Token(entry.key());
            if let Err(e) = self
                .poll
                .registry()
                .register(&mut stream, token, Interest::READABLE)
            {
                log::warn!("worker {}: cannot register connection: {e}", self.id);
                self.shared.stats.conn_gone();
                continue;
            }
            let fd = stream.as_raw_fd() as u64;
            let now = self.shared.store.clock().now();
            let info = self
                .shared
                .stats
                .register_conn(fd, stream.peer(), listen_addr, now);
            self.counters.total_connections.incr();
            let transport = match (&self.shared.tls, tls) {
                (Some(config), true) => match TlsSession::new(config.clone(), fd) {
                    Ok(session) => Transport::with_tls(stream, session),
                    Err(e) => {
                        log::warn!("<{fd} cannot start TLS: {e}");
                        let _ = self.poll.registry().deregister(&mut stream);
                        self.shared.stats.unregister_conn(fd);
                        self.shared.stats.conn_gone();
                        continue;
                    }
                },
                _ => Transport::new(stream),
            };
            log::info!("<{fd} new client connection");
            entry.insert(Connection::new(transport, fd, info));
        }
        Ok(())
    }

    /// Runs a connection until it has nothing more to do now; replies it
    /// leaves unsent are written by [`Worker::flush_deferred`].
    fn serve(&mut self, key: usize, ready: Readiness) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let status = conn.serve(&self.shared, &self.counters, &mut self.pools, ready);
        match status {
            Status::Idle | Status::Watching => {
                if status == Status::Watching {
                    self.watching.push(key);
                }
                if conn.wants_write() {
                    self.unflushed.push(key);
                    if self.unflushed.len() >= MAX_UNFLUSHED {
                        self.flush_deferred();
                    }
                } else if conn.watching_writes {
                    // Everything went out inside `serve`: stop asking for
                    // writable events.
                    self.watch_writes(key);
                }
            }
            Status::Yielded => {
                self.counters.conn_yields.incr();
                self.ready.push(key);
            }
            Status::Close => self.close(key),
            Status::Shutdown => {
                self.close(key);
                self.shared.shutdown.trigger();
            }
        }
    }

    /// Writes the replies of the batch just served, then asks for
    /// writability only where replies still wait (with it always on, every
    /// ACK that frees send space would wake the loop).
    fn flush_deferred(&mut self) {
        let mut batch = std::mem::take(&mut self.unflushed);
        for key in batch.drain(..) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if !conn.flush_deferred(&self.counters, &mut self.pools) {
                self.close(key);
                continue;
            }
            if !conn.wants_write() && conn.resumes_once_flushed() {
                // Everything went out, so no writable event will come: serve
                // what is buffered (a paused multi-get, a pipeline stopped at
                // the write bound), or finish closing, on the next turn of
                // the loop.
                self.ready.push(key);
            }
            self.watch_writes(key);
        }
        if self.unflushed.is_empty() {
            self.unflushed = batch; // keep the allocation for the next batch
        }
    }

    /// Registers a connection for writable events exactly while it has
    /// something to write.
    fn watch_writes(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let blocked = conn.wants_write();
        if blocked != conn.watching_writes {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if self
                .poll
                .registry()
                .reregister(conn.stream_mut(), Token(key), interest)
                .is_err()
            {
                self.close(key);
                return;
            }
            conn.watching_writes = blocked;
        }
    }

    /// Moves each watching connection's queued lines to its socket, and
    /// closes those whose client has gone.
    fn pump_watchers(&mut self) {
        for i in (0..self.watching.len()).rev() {
            let key = self.watching[i];
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            match conn.serve_watcher(&self.counters, &mut self.pools) {
                Status::Close => self.close(key),
                _ => self.watch_writes(key),
            }
        }
    }

    fn close(&mut self, key: usize) {
        let mut conn = self.conns.remove(key);
        if let Some(watcher) = conn.watcher() {
            self.shared.watch.remove(watcher);
            self.watching.retain(|&k| k != key);
        }
        let _ = self.poll.registry().deregister(conn.stream_mut());
        self.shared.stats.unregister_conn(conn.fd());
        self.shared.stats.conn_gone();
        conn.release(&mut self.pools);
        log::info!("<{} connection closed", conn.fd());
    }

    /// Closes connections idle longer than `-o idle_timeout`.
    fn kick_idle(&mut self, idle_timeout: u32) {
        let now = self.shared.store.clock().now();
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_idle() && now.saturating_sub(c.last_active()) > idle_timeout)
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            self.counters.idle_kicks.incr();
            self.close(key);
        }
    }

    /// Shutdown: take no more requests, write what is pending (waiting up
    /// to [`SHUTDOWN_GRACE`] for slow readers), then close everything.
    fn close_all(&mut self) {
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        loop {
            let mut done = Vec::new();
            for (key, conn) in self.conns.iter_mut() {
                if conn.flush_on_shutdown(&self.counters) {
                    done.push(key);
                }
            }
            for key in done {
                self.close(key);
            }
            let now = Instant::now();
            if self.conns.is_empty() || now >= deadline {
                break;
            }
            // Wait for sockets to become writable again.
            let _ = self.poll.poll(
                &mut events,
                Some((deadline - now).min(Duration::from_millis(50))),
            );
        }
        let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.close(key);
        }
    }
}

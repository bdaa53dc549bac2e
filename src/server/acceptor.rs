//! The acceptor: accepts connections on every listener, enforces `-c`, and
//! hands each socket to a worker over its channel, waking the worker's loop.

use super::listener::Listener;
use super::transport::Stream;
use super::worker::WorkerHandle;
use super::Shared;
use mio::{Events, Poll, Token, Waker};
use std::io::{self, Write};
use std::sync::Arc;

/// Token of the acceptor's waker (listeners use their index).
const WAKER: Token = Token(usize::MAX);

/// After an accept error (out of file descriptors), how soon to try again:
/// the listener is edge-triggered, so queued clients would otherwise wait
/// for the next new connection.
const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// memcached's reply to a connection over the `-c` limit.
const TOO_MANY: &[u8] = b"ERROR Too many open connections\r\n";

/// The accepting thread's state.
#[derive(Debug)]
pub struct Acceptor {
    shared: Arc<Shared>,
    poll: Poll,
    listeners: Vec<Listener>,
    /// Each listener's address as `stats conns` shows it (worked out once).
    names: Vec<String>,
    workers: Vec<WorkerHandle>,
    next: usize,
    /// An accept failed: retry every listener after [`ACCEPT_RETRY`].
    retry: bool,
}

impl Acceptor {
    /// Registers the listeners with a new event loop.
    pub fn new(
        shared: Arc<Shared>,
        mut listeners: Vec<Listener>,
        workers: Vec<WorkerHandle>,
    ) -> io::Result<Acceptor> {
        let poll = Poll::new()?;
        let mut names = Vec::with_capacity(listeners.len());
        for (i, l) in listeners.iter_mut().enumerate() {
            l.register(poll.registry(), Token(i))?;
            let name = l.describe();
            shared.stats.register_listener(l.fd(), name.clone());
            names.push(name);
        }
        shared
            .shutdown
            .add_waker(Arc::new(Waker::new(poll.registry(), WAKER)?));
        Ok(Acceptor {
            shared,
            poll,
            listeners,
            names,
            workers,
            next: 0,
            retry: false,
        })
    }

    /// Accepts until shutdown.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(64);
        while !self.shared.shutdown.is_triggered() {
            let timeout = self.retry.then_some(ACCEPT_RETRY);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if std::mem::take(&mut self.retry) {
                for i in 0..self.listeners.len() {
                    self.accept_all(i);
                }
            }
            for event in events.iter() {
                if event.token() != WAKER {
                    self.accept_all(event.token().0);
                }
            }
        }
        Ok(())
    }

    /// Drains one listener's accept queue (edge-triggered).
    fn accept_all(&mut self, index: usize) {
        loop {
            let stream = match self.listeners[index].accept() {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of file descriptors (EMFILE, ENFILE) and the like.
                    log::warn!("accept failed: {e}");
                    self.retry = true;
                    return;
                }
            };
            let stats = &self.shared.stats;
            if !stats.admit_conn(self.shared.settings.max_conns as u64) {
                reject(stream);
                continue;
            }
            let listen_addr = self.names[index].clone();
            let worker = &self.workers[self.next % self.workers.len()];
            self.next = self.next.wrapping_add(1);
            let tls = self.listeners[index].speaks_tls();
            if !worker.hand_over(stream, listen_addr, tls) {
                stats.conn_gone();
            }
        }
    }
}

/// Tells a connection over the limit why, then closes it.
fn reject(mut stream: Stream) {
    // Best effort: a fresh socket's send buffer takes these few bytes.
    let _ = stream.write(TOO_MANY);
    log::info!(
        "rejected connection from {}: too many open connections",
        stream.peer()
    );
}

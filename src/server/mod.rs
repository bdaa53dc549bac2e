//! The network server: one acceptor thread hands accepted sockets to `-t`
//! worker threads, each running its own mio event loop over a `Slab` of
//! connections. See `docs/architecture.md` for the picture.

mod acceptor;
mod buffer;
mod connection;
mod listener;
mod scrape;
mod shutdown;
mod transport;
mod worker;

pub use shutdown::Shutdown;

use crate::config::Settings;
use crate::metrics::{PrefixStats, ServerStats};
use crate::session::Gate;
use crate::store::{Store, StoreConfig};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// State shared by every thread of one server.
#[derive(Debug)]
pub struct Shared {
    /// The item store.
    pub store: Store,
    /// Start-up settings.
    pub settings: Settings,
    /// Statistics.
    pub stats: ServerStats,
    /// The stop signal.
    pub shutdown: Shutdown,
    /// Which protocols clients may speak, and their credentials.
    pub gate: Gate,
}

/// A started server.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    tcp_addrs: Vec<SocketAddr>,
    acceptor: Option<acceptor::Acceptor>,
}

/// A server whose listeners are bound but whose threads have not started:
/// the moment to write the pidfile and give up root, before any thread
/// exists.
#[derive(Debug)]
pub struct Bound {
    shared: Arc<Shared>,
    listeners: Vec<listener::Listener>,
    tcp_addrs: Vec<SocketAddr>,
    metrics: Option<std::net::TcpListener>,
}

impl Bound {
    /// The TCP addresses bound (ephemeral ports resolved).
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    /// Starts the worker and timer threads; the acceptor runs when
    /// [`Server::run`] is called.
    pub fn start(self) -> io::Result<Server> {
        let Bound {
            shared,
            listeners,
            tcp_addrs,
            metrics,
        } = self;
        let mut threads = Vec::new();
        let mut handles = Vec::new();
        for id in 0..shared.settings.threads {
            let (handle, thread) = worker::spawn(id, shared.clone())?;
            handles.push(handle);
            threads.push(thread);
        }
        threads.push(spawn_clock(shared.clone())?);
        if let Some(listener) = metrics {
            threads.push(scrape::spawn(listener, shared.clone())?);
        }
        let acceptor = acceptor::Acceptor::new(shared.clone(), listeners, handles)?;
        Ok(Server {
            shared,
            threads,
            tcp_addrs,
            acceptor: Some(acceptor),
        })
    }
}

impl Server {
    /// Sets up the store and binds the listeners, starting no thread.
    pub fn bind(settings: Settings, gate: Gate) -> io::Result<Bound> {
        let store = Store::new(StoreConfig {
            max_bytes: settings.max_bytes,
            item_size_max: settings.item_size_max,
            use_cas: settings.use_cas,
            evictions: !settings.disable_evictions,
            threads: settings.threads,
            chunk_size: settings.chunk_size,
            growth_factor: settings.growth_factor,
            page_size: settings.slab_page_size,
            automove: settings.slab_automove,
            track_sizes: settings.track_sizes,
            crawler: settings.lru_crawler,
        });
        let mut stats = ServerStats::new(settings.threads, settings.verbose as u32);
        stats.detail = PrefixStats::new(settings.prefix_delimiter, settings.detail_enabled);
        stats.observe(settings.metrics_listen.is_some(), settings.hotkeys);
        let metrics = settings.metrics_listen.map(scrape::bind).transpose()?;
        let shared = Arc::new(Shared {
            store,
            settings,
            stats,
            shutdown: Shutdown::default(),
            gate,
        });
        let listeners = listener::bind_all(&shared.settings)?;
        let tcp_addrs = listeners.iter().filter_map(|l| l.tcp_addr()).collect();
        Ok(Bound {
            shared,
            listeners,
            tcp_addrs,
            metrics,
        })
    }

    /// Binds the listeners and starts the worker and timer threads; the
    /// acceptor runs when [`Server::run`] is called.
    pub fn start(settings: Settings, gate: Gate) -> io::Result<Server> {
        Server::bind(settings, gate)?.start()
    }

    /// The TCP addresses actually bound (ephemeral ports resolved).
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    /// The stop handle (signals and `shutdown` trigger it).
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Accepts connections until shut down, then waits for every thread.
    pub fn run(mut self) -> io::Result<()> {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.run()?;
        }
        self.shared.shutdown.trigger();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        Ok(())
    }
}

/// The timer thread: advances the coarse clock once a second.
fn spawn_clock(shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("clock".into())
        .spawn(move || {
            let start = Instant::now();
            let mut tick = 1u64;
            while !shared.shutdown.is_triggered() {
                let next = start + Duration::from_secs(tick);
                let now = Instant::now();
                if next > now {
                    // Wake early if the server stops.
                    shared.shutdown.wait_timeout(next - now);
                    continue;
                }
                shared.store.tick();
                tick += 1;
            }
        })
}

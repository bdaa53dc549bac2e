//! The network server: one acceptor thread hands accepted sockets to `-t`
//! worker threads, each running its own mio event loop over a `Slab` of
//! connections. See `docs/architecture.md` for the picture.

mod acceptor;
mod buffer;
mod connection;
mod listener;
mod scrape;
mod shutdown;
mod tls;
mod transport;
mod worker;

pub use shutdown::Shutdown;

use crate::cluster::{Cluster, Reload};
use crate::config::Settings;
use crate::metrics::{PrefixStats, ServerStats};
use crate::session::Gate;
use crate::store::{Store, StoreConfig};
use crate::tls::Tls;
use crate::watch::Watch;
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
    /// TLS (`-Z`): the configuration new connections get.
    pub tls: Option<Arc<Tls>>,
    /// The node list of auto-discovery (`-o cluster_nodes`, `cluster_dns`,
    /// `cluster_admin`).
    pub cluster: Option<Cluster>,
    /// The log watchers (`watch`), fed by workers and the store.
    pub watch: Arc<Watch>,
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
    /// The node list of auto-discovery, if the server has one.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.shared.cluster.as_ref()
    }

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
        if shared.cluster.is_some() {
            threads.push(spawn_cluster_watcher(shared.clone())?);
        }
        if let Some(listener) = metrics {
            // Not joined at shutdown: a scraper that stops reading could
            // hold the thread in a blocking write, and nothing it holds
            // needs an orderly end.
            drop(scrape::spawn(listener, shared.clone())?);
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
    /// Sets up the store and binds the listeners, starting no thread;
    /// reads the TLS certificates `-Z` names. `cluster` is the node list
    /// auto-discovery serves, already read.
    pub fn bind(settings: Settings, gate: Gate, cluster: Option<Cluster>) -> io::Result<Bound> {
        let tls = Tls::load(&settings.ssl)
            .map_err(|line| io::Error::new(io::ErrorKind::InvalidInput, line))?;
        Server::bind_with(settings, gate, tls, cluster)
    }

    /// [`Server::bind`] with the TLS state already loaded (the daemon reads
    /// the certificates before it forks, so an error reaches its terminal).
    pub fn bind_with(
        settings: Settings,
        gate: Gate,
        tls: Option<Arc<Tls>>,
        cluster: Option<Cluster>,
    ) -> io::Result<Bound> {
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
        let watch = Arc::new(Watch::default());
        let store = store.with_watch(watch.clone());
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
            tls,
            cluster,
            watch,
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
    pub fn start(settings: Settings, gate: Gate, cluster: Option<Cluster>) -> io::Result<Server> {
        Server::bind(settings, gate, cluster)?.start()
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

/// The cluster thread: once a second, asks the node list to follow its
/// source ([`Cluster::poll`]): the node file is read again when its stamp
/// (mtime, size, inode) differs from the one last read; a DNS name is
/// resolved again when its interval has passed. A thread of its own, not
/// the clock's and never a worker: a read may block on a slow filesystem
/// and a DNS query waits up to its timeout, and neither the clock's ticks
/// (expiry, delayed flushes) nor any client may wait on them. Polling
/// rather than inotify: no dependency, and it sees every way a file is
/// replaced (in place, by rename, by a Kubernetes ConfigMap's symlink
/// swap).
fn spawn_cluster_watcher(shared: Arc<Shared>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("cluster".into())
        .spawn(move || {
            while !shared.shutdown.is_triggered() {
                if let Some(cluster) = &shared.cluster {
                    if let Some(result) = cluster.poll() {
                        log_reload("node source changed", cluster, result);
                    }
                }
                shared.shutdown.wait_timeout(Duration::from_secs(1));
            }
        })
}

/// Logs what a reload of the node list's source did, in one line.
pub fn log_reload(why: &str, cluster: &Cluster, result: Result<Reload, String>) {
    let source = cluster.describe();
    match result {
        Ok(Reload::Changed { from, to, nodes }) => {
            log::info!("{why}: {source}: {nodes} nodes, config version {from} -> {to}")
        }
        Ok(Reload::Unchanged { version, nodes }) => {
            log::info!("{why}: {source}: the same {nodes} nodes, config version {version} stays")
        }
        Err(e) => log::error!("{why}: {e}; the node list in force stays"),
    }
}

//! Server-wide statistics: the workers' counters summed (`stats reset`
//! records a baseline instead of writing counters other threads own),
//! connection accounting, and what `stats conns` lists.

use super::classes::ClassOps;
use super::counters::{Counters, Snapshot};
use super::detail::PrefixStats;
use super::{Kind, Metric};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// What a connection is doing, for `stats conns` (memcached's state names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    /// Idle, waiting for a request.
    Waiting = 0,
    /// Executing a request.
    ParseCmd = 1,
    /// Reading a data block.
    Nread = 2,
    /// Discarding an oversized data block.
    Swallow = 3,
    /// Replies waiting to be written.
    Mwrite = 4,
}

impl ConnState {
    fn name(v: u8) -> &'static str {
        match v {
            1 => "conn_parse_cmd",
            2 => "conn_nread",
            3 => "conn_swallow",
            4 => "conn_mwrite",
            _ => "conn_waiting",
        }
    }
}

/// What `stats conns` shows of one connection; the worker updates it.
#[derive(Debug)]
pub struct ConnInfo {
    /// Peer address (or socket path).
    pub addr: String,
    /// Address of the listener it came in on.
    pub listen_addr: String,
    /// Relative time of the last command.
    pub last_cmd: AtomicU32,
    /// A [`ConnState`] as u8.
    pub state: AtomicU8,
}

impl ConnInfo {
    /// Records the connection's state.
    pub fn set_state(&self, s: ConnState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }
}

/// What [`ServerStats::readings`] reports.
pub const CONNECTION_METRICS: [Metric; 3] = [
    Metric {
        name: "curr_connections",
        kind: Kind::Gauge,
        help: "Client connections open now",
    },
    Metric {
        name: "rejected_connections",
        kind: Kind::Counter,
        help: "Connections refused because -c were open",
    },
    Metric {
        name: "connection_structures",
        kind: Kind::Gauge,
        help: "Connection states allocated (one per open connection here)",
    },
];

/// Server-wide statistics and connection accounting.
#[derive(Debug)]
pub struct ServerStats {
    workers: Vec<Arc<Counters>>,
    baseline: Mutex<Snapshot>,
    class_baseline: Mutex<Vec<ClassOps>>,
    /// Client connections open now.
    pub curr_connections: AtomicU64,
    /// Connections refused by `-c`.
    pub rejected_connections: AtomicU64,
    /// Current verbosity (`-v`, `verbosity`).
    pub verbosity: AtomicU32,
    /// `stats detail` per-prefix counts.
    pub detail: PrefixStats,
    conns: Mutex<BTreeMap<u64, Arc<ConnInfo>>>,
    listeners: Mutex<Vec<(u64, String)>>,
}

impl ServerStats {
    /// Stats for `threads` workers.
    pub fn new(threads: usize, verbosity: u32) -> ServerStats {
        ServerStats {
            workers: (0..threads).map(|_| Arc::default()).collect(),
            baseline: Mutex::default(),
            class_baseline: Mutex::default(),
            curr_connections: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            verbosity: AtomicU32::new(verbosity),
            detail: PrefixStats::default(),
            conns: Mutex::default(),
            listeners: Mutex::default(),
        }
    }

    /// The connection figures, described by [`CONNECTION_METRICS`].
    pub fn readings(&self) -> impl Iterator<Item = (&'static Metric, u64)> {
        let open = self.curr_connections.load(Ordering::Relaxed);
        let rejected = self.rejected_connections.load(Ordering::Relaxed);
        CONNECTION_METRICS.iter().zip([open, rejected, open])
    }

    /// Worker `i`'s counters.
    pub fn worker(&self, i: usize) -> Arc<Counters> {
        self.workers[i].clone()
    }

    /// Every worker's counters.
    pub fn workers(&self) -> impl Iterator<Item = &Counters> {
        self.workers.iter().map(|w| &**w)
    }

    /// All workers' counters summed.
    fn sum(&self) -> Snapshot {
        self.workers
            .iter()
            .fold(Snapshot::default(), |acc, w| acc.plus(w.snapshot()))
    }

    /// All workers' counters summed, less the last `stats reset`.
    pub fn totals(&self) -> Snapshot {
        self.sum()
            .minus(*self.baseline.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Every worker's per-class counts summed, indexed by class id.
    fn class_sum(&self) -> Vec<ClassOps> {
        let mut sum = Vec::new();
        for w in &self.workers {
            super::classes::add_into(&mut sum, &w.classes.snapshot());
        }
        sum
    }

    /// Per-class operation counts (`stats slabs`), indexed by class id,
    /// less the last `stats reset`.
    pub fn class_ops(&self) -> Vec<ClassOps> {
        let base = self
            .class_baseline
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let mut sum = self.class_sum();
        for (s, b) in sum.iter_mut().zip(base.iter()) {
            *s = s.minus(*b);
        }
        sum
    }

    /// `stats reset`: counters read as zero from now on.
    pub fn reset(&self) {
        *self.baseline.lock().unwrap_or_else(|p| p.into_inner()) = self.sum();
        *self
            .class_baseline
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = self.class_sum();
        self.detail.clear();
        self.rejected_connections.store(0, Ordering::Relaxed);
    }

    /// Counts a new client connection unless `max` are open already (then
    /// counts it as rejected); true if it may stay.
    pub fn admit_conn(&self, max: u64) -> bool {
        if self.curr_connections.fetch_add(1, Ordering::AcqRel) >= max {
            self.curr_connections.fetch_sub(1, Ordering::AcqRel);
            self.rejected_connections.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Uncounts a connection that [`ServerStats::admit_conn`] let in.
    pub fn conn_gone(&self) {
        self.curr_connections.fetch_sub(1, Ordering::AcqRel);
    }

    /// Registers a connection for `stats conns` under the id `fd`.
    pub fn register_conn(
        &self,
        fd: u64,
        addr: String,
        listen_addr: String,
        now: u32,
    ) -> Arc<ConnInfo> {
        let info = Arc::new(ConnInfo {
            addr,
            listen_addr,
            last_cmd: AtomicU32::new(now),
            state: AtomicU8::new(ConnState::Waiting as u8),
        });
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(fd, info.clone());
        info
    }

    /// Forgets a closed connection.
    pub fn unregister_conn(&self, fd: u64) {
        self.conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&fd);
    }

    /// Records a listening socket for `stats conns`.
    pub fn register_listener(&self, fd: u64, addr: String) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((fd, addr));
    }

    /// Rows of `stats conns`: (`<fd>:<field>`, value).
    pub fn conn_rows(&self, now: u32) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        for (fd, addr) in self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            rows.push((format!("{fd}:addr"), addr.clone()));
            rows.push((format!("{fd}:state"), "conn_listening".into()));
        }
        for (fd, c) in self.conns.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            rows.push((format!("{fd}:addr"), c.addr.clone()));
            rows.push((format!("{fd}:listen_addr"), c.listen_addr.clone()));
            rows.push((
                format!("{fd}:state"),
                ConnState::name(c.state.load(Ordering::Relaxed)).into(),
            ));
            let last = c.last_cmd.load(Ordering::Relaxed);
            rows.push((
                format!("{fd}:secs_since_last_cmd"),
                now.saturating_sub(last).to_string(),
            ));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_workers_and_reset_is_a_baseline() {
        let s = ServerStats::new(2, 0);
        s.worker(0).get_hits.add(3);
        s.worker(1).get_hits.incr();
        assert_eq!(s.totals().get_hits, 4);
        s.reset();
        assert_eq!(s.totals().get_hits, 0);
        s.worker(1).get_hits.incr();
        assert_eq!(s.totals().get_hits, 1);
    }

    #[test]
    fn conns_are_listed() {
        let s = ServerStats::new(1, 0);
        s.register_listener(3, "127.0.0.1:11211".into());
        let c = s.register_conn(7, "127.0.0.1:5000".into(), "127.0.0.1:11211".into(), 10);
        c.set_state(ConnState::ParseCmd);
        let rows = s.conn_rows(12);
        assert!(rows.contains(&("7:state".into(), "conn_parse_cmd".into())));
        assert!(rows.contains(&("7:secs_since_last_cmd".into(), "2".into())));
        assert!(rows.contains(&("3:state".into(), "conn_listening".into())));
        s.unregister_conn(7);
        assert_eq!(s.conn_rows(12).len(), 2);
    }
}

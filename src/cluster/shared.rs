//! The node list a server shares between its workers, and where it comes
//! from: the node file, a DNS name, or `config set cluster` alone.
//!
//! Workers read it only for `config get cluster` and the legacy key, so a
//! `RwLock<Option<Arc<Nodes>>>` is enough: a reader holds the read lock
//! only to clone the `Arc`, and a change builds the new list (payload
//! rendered) before it takes the write lock to swap the pointer. No worker
//! ever waits on file or network I/O.
//!
//! Every change goes through one function, [`Cluster::install`], which
//! holds the version rule: a list whose membership differs from the one in
//! force gets `next_version(current, floor)`, the floor being the node
//! file's modification time, the time of a DNS answer, or the version a
//! `config set` names; the same membership keeps the version. See
//! `docs/autodiscovery.md` for why.

use super::state::{self, Saved};
use super::{dns, file, Node, Nodes};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// What a node file looked like when it was read: a change to any of
/// these makes the watcher read it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Modification time, seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// Size in bytes.
    pub len: u64,
    /// Device and inode (a file replaced by a rename or a symlink swap,
    /// as Kubernetes updates a mounted ConfigMap, has a new inode).
    pub inode: (u64, u64),
}

impl Stamp {
    /// The stamp of the file at `path` (following symlinks).
    pub fn of(path: &Path) -> std::io::Result<Stamp> {
        let m = std::fs::metadata(path)?;
        Ok(Stamp {
            mtime: (m.mtime(), m.mtime_nsec()),
            len: m.len(),
            inode: (m.dev(), m.ino()),
        })
    }

    /// The modification time in whole Unix seconds (0 before the epoch).
    pub fn seconds(&self) -> u64 {
        self.mtime.0.max(0) as u64
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The file lists the same nodes: the version stays.
    Unchanged {
        /// The version in force.
        version: u64,
        /// How many nodes are listed.
        nodes: usize,
    },
    /// The membership changed: a new version is served.
    Changed {
        /// The version before.
        from: u64,
        /// The version now.
        to: u64,
        /// How many nodes are listed now.
        nodes: usize,
    },
}

/// The version a changed list gets: never lower than the file's
/// modification time, always above the version before.
pub fn next_version(current: u64, mtime_seconds: u64) -> u64 {
    mtime_seconds.max(current.saturating_add(1))
}

/// Where a server's node list comes from.
#[derive(Debug)]
enum Source {
    /// The node file, and its stamp when it was last read, well or badly
    /// (the watcher reads it again only when it differs, so a bad file is
    /// logged once).
    File { path: PathBuf, seen: Mutex<Stamp> },
    /// A DNS name, resolved every `interval`.
    Dns {
        target: dns::Target,
        interval: Duration,
        /// When it is next due (`None`: now).
        due: Mutex<Option<Instant>>,
    },
    /// None: only `config set cluster` gives a list.
    Admin,
}

/// Why a `config set cluster` changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The payload is not a node list (the reason, one line).
    BadList(String),
    /// The state file could not be written (the reason, one line).
    NotKept(String),
}

/// What a `config set cluster` or `config delete cluster` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admin {
    /// The list given (or the source's, after a delete) is in force.
    Done(Reload),
    /// A delete with no set list in force.
    NotFound,
    /// The change could not be written to the state file: nothing
    /// changed (the reason, one line).
    NotKept(String),
}

/// The writers' side: the version and what the source said last.
#[derive(Debug, Default, Clone)]
struct State {
    /// The version last served (kept when the list is dropped, so a later
    /// list cannot go below it).
    version: u64,
    /// The source's nodes when it last answered well (sorted).
    source: Option<Vec<Node>>,
    /// Whether a `config set` list is in force instead of the source's.
    overridden: bool,
    /// The DNS failure last logged, so each is logged once.
    failing: Option<String>,
}

/// A server's node list and where it comes from.
#[derive(Debug)]
pub struct Cluster {
    source: Source,
    admin: bool,
    /// The state file (`-o cluster_state`), rewritten on every change.
    kept: Option<PathBuf>,
    state: Mutex<State>,
    current: RwLock<Option<Arc<Nodes>>>,
}

impl Cluster {
    fn with(source: Source) -> Cluster {
        Cluster {
            source,
            admin: false,
            kept: None,
            state: Mutex::new(State::default()),
            current: RwLock::new(None),
        }
    }

    /// Reads the node file at `path`. `Err` is one line for the operator.
    pub fn open(path: &Path) -> Result<Cluster, String> {
        let (stamp, nodes) = read(path)?;
        let cluster = Cluster::with(Source::File {
            path: path.to_path_buf(),
            seen: Mutex::new(stamp),
        });
        cluster.source_answered(nodes, stamp.seconds().max(1));
        Ok(cluster)
    }

    /// Resolves `target` every `interval`, first when the cluster thread
    /// starts (until then there is no list).
    pub fn dns(target: dns::Target, interval: Duration) -> Cluster {
        Cluster::with(Source::Dns {
            target,
            interval,
            due: Mutex::new(None),
        })
    }

    /// No source: the list is what `config set cluster` gives.
    pub fn admin_only() -> Cluster {
        Cluster::with(Source::Admin).with_admin(true)
    }

    /// Whether `config set cluster` and `config delete cluster` are
    /// served (`-o cluster_admin`).
    pub fn with_admin(mut self, admin: bool) -> Cluster {
        self.admin = admin;
        self
    }

    /// Keeps the state in the file at `path` (`-o cluster_state`): what it
    /// holds is in force again (the version, a set list), then the node
    /// file is read again, so a list changed while the server was down
    /// gets a version above the one kept. [`Cluster::save_state`] writes
    /// it the first time. `Err` is one line for the operator.
    pub fn kept_in(mut self, path: &Path) -> Result<Cluster, String> {
        let shown = path.display();
        let saved = state::load(path).map_err(|e| format!("{shown}: {e}"))?;
        self.kept = Some(path.to_path_buf());
        if let Some(saved) = saved {
            let mut state = self.state();
            state.version = saved.version;
            state.source = saved.source.clone();
            state.overridden = saved.set.is_some();
            let list = saved.set.or(saved.source);
            *self.current.write().unwrap_or_else(|e| e.into_inner()) =
                list.map(|nodes| Arc::new(Nodes::new(saved.version, nodes)));
        }
        if let Source::File { .. } = self.source {
            self.reload()?;
        }
        Ok(self)
    }

    /// Writes the state file now, as the user the server runs as (after
    /// `-u`), so a file or directory that user cannot write is refused at
    /// start-up rather than found out at the first change. `Err` is one
    /// line for the operator.
    pub fn save_state(&self) -> Result<(), String> {
        let Some(path) = &self.kept else {
            return Ok(());
        };
        let state = self.state();
        let set = state
            .overridden
            .then(|| self.current().map(|n| n.nodes().to_vec()))
            .flatten();
        let saved = Saved {
            version: state.version,
            source: state.source.clone(),
            set,
        };
        state::save(path, &saved).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Whether `config set cluster` and `config delete cluster` are
    /// served.
    pub fn admin(&self) -> bool {
        self.admin
    }

    /// The source, as logs name it.
    pub fn describe(&self) -> String {
        match &self.source {
            Source::File { path, .. } => path.display().to_string(),
            Source::Dns { target, .. } => format!("DNS {} via {}", target.name, target.server),
            Source::Admin => "config set cluster".into(),
        }
    }

    /// The node file, if that is the source.
    pub fn path(&self) -> Option<&Path> {
        match &self.source {
            Source::File { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The list in force; `None` before the first (a DNS name not yet
    /// resolved, no `config set` yet, or a set list deleted).
    pub fn current(&self) -> Option<Arc<Nodes>> {
        // A poisoned lock still holds a whole list: the writer only swaps
        // an Arc.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The one place the list in force changes: `nodes` (`None`: no list)
    /// replaces it, at `next_version(current, floor)` if the membership
    /// differs, and `next` (the writers' state as the caller changed it)
    /// becomes the state. With a state file the new state is written
    /// before anyone is served the new list, so a version clients saw is
    /// never lost by a restart. `strict` (`config set`/`delete`): a failed
    /// write changes nothing and is the `Err`; otherwise it is logged and
    /// the change goes ahead (a source's list is the truth whatever the
    /// disk says).
    fn change(
        &self,
        state: &mut State,
        mut next: State,
        nodes: Option<Vec<Node>>,
        floor: u64,
        strict: bool,
    ) -> Result<Reload, String> {
        let old = self.current();
        let fresh = nodes.map(|n| Nodes::new(0, n));
        let count = fresh.as_ref().map_or(0, |n| n.nodes().len());
        let (reload, swap) = if fresh.as_ref().map(|n| n.nodes()) == old.as_ref().map(|n| n.nodes())
        {
            let unchanged = Reload::Unchanged {
                version: next.version,
                nodes: count,
            };
            (unchanged, None)
        } else {
            let from = next.version;
            let to = next_version(from, floor);
            next.version = to;
            let new = fresh.map(|n| Arc::new(Nodes::new(to, n.nodes().to_vec())));
            let changed = Reload::Changed {
                from,
                to,
                nodes: count,
            };
            (changed, Some(new))
        };
        if let Some(path) = &self.kept {
            let list = swap.clone().unwrap_or(old);
            let set = next
                .overridden
                .then(|| list.map(|n| n.nodes().to_vec()))
                .flatten();
            let saved = Saved {
                version: next.version,
                source: next.source.clone(),
                set,
            };
            if let Err(e) = state::save(path, &saved) {
                let line = format!("-o cluster_state: {}: {e}", path.display());
                if strict {
                    log::error!("{line}; the change is refused");
                    return Err(line);
                }
                log::error!("{line}; the node list in force is not kept across a restart");
            }
        }
        *state = next;
        if let Some(new) = swap {
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = new;
        }
        Ok(reload)
    }

    /// The source answered `nodes`: if they differ from its last answer,
    /// they replace the list in force (a set list too); if not, nothing
    /// changes.
    fn source_answered(&self, mut nodes: Vec<Node>, floor: u64) -> Reload {
        nodes.sort();
        let mut state = self.state();
        if state.source.as_ref() == Some(&nodes) {
            let current = self.current();
            return Reload::Unchanged {
                version: state.version,
                nodes: current.map_or(0, |n| n.nodes().len()),
            };
        }
        let mut next = state.clone();
        next.source = Some(nodes.clone());
        next.overridden = false;
        match self.change(&mut state, next, Some(nodes), floor, false) {
            Ok(reload) => reload,
            // Not strict: a failed write was logged and the change made.
            Err(_) => unreachable!("a source's change is never refused"),
        }
    }

    /// Reads the source again now: the node file (SIGHUP), or the DNS
    /// name. A bad file or a failed lookup keeps the list in force; `Err`
    /// says why, in one line.
    pub fn reload(&self) -> Result<Reload, String> {
        match &self.source {
            Source::File { path, seen } => {
                let read = read(path);
                {
                    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if let Ok((stamp, _)) = &read {
                        *seen = *stamp;
                    } else if let Ok(stamp) = Stamp::of(path) {
                        *seen = stamp;
                    }
                }
                let (stamp, nodes) = read?;
                Ok(self.source_answered(nodes, stamp.seconds()))
            }
            Source::Dns { target, .. } => {
                let nodes = target.resolve()?;
                Ok(self.source_answered(nodes, unix_now()))
            }
            Source::Admin => {
                let state = self.state();
                Ok(Reload::Unchanged {
                    version: state.version,
                    nodes: self.current().map_or(0, |n| n.nodes().len()),
                })
            }
        }
    }

    /// SIGHUP: the node file is read again now (`Some`); a DNS name is
    /// resolved by the cluster thread within a second (`None`), so the
    /// signal thread never waits on the network.
    pub fn hangup(&self) -> Option<Result<Reload, String>> {
        match &self.source {
            Source::Dns { due, .. } => {
                *due.lock().unwrap_or_else(|e| e.into_inner()) = None;
                None
            }
            Source::File { .. } => Some(self.reload()),
            Source::Admin => None,
        }
    }

    /// What the cluster thread calls once a second: reads the node file
    /// again if it changed since it was last read, resolves the DNS name
    /// when it is due. `Some` is worth a log line: a change, a first
    /// failure (not its repeats), a recovery; `None` otherwise.
    pub fn poll(&self) -> Option<Result<Reload, String>> {
        match &self.source {
            Source::File { path, seen } => {
                let now = Stamp::of(path).ok();
                let last = *seen.lock().unwrap_or_else(|e| e.into_inner());
                match now {
                    Some(now) if now == last => None,
                    // A missing file is reported once, when it disappears.
                    None if last.len == u64::MAX => None,
                    None => {
                        seen.lock().unwrap_or_else(|e| e.into_inner()).len = u64::MAX;
                        Some(Err(format!(
                            "{}: cannot read it; the node list in force stays",
                            path.display()
                        )))
                    }
                    Some(_) => Some(self.reload()),
                }
            }
            Source::Dns { interval, due, .. } => {
                let now = Instant::now();
                {
                    let mut due = due.lock().unwrap_or_else(|e| e.into_inner());
                    if due.is_some_and(|at| now < at) {
                        return None;
                    }
                    *due = Some(now + *interval);
                }
                let result = self.reload();
                let mut state = self.state();
                match result {
                    Err(e) if state.failing.as_ref() == Some(&e) => None,
                    Err(e) => {
                        state.failing = Some(e.clone());
                        Some(Err(e))
                    }
                    Ok(reload) => {
                        let recovered = state.failing.take().is_some();
                        let changed = matches!(reload, Reload::Changed { .. });
                        (recovered || changed).then_some(Ok(reload))
                    }
                }
            }
            Source::Admin => None,
        }
    }

    /// `config set cluster`: `payload` is `<version>\n<node> <node>...\n`,
    /// nodes as `host|ip|port`. The list is in force until the source's
    /// next change or a `config delete cluster`; its version is
    /// `next_version(current, the version given)`, so never lower than the
    /// one served before. `Err` (one line) leaves everything as it was.
    pub fn admin_set(&self, payload: &[u8]) -> Result<Reload, Refused> {
        let nodes = file::parse_payload(payload).map_err(Refused::BadList)?;
        let (given, nodes) = nodes;
        let mut state = self.state();
        let mut next = state.clone();
        next.overridden = true;
        self.change(&mut state, next, Some(nodes), given, true)
            .map_err(Refused::NotKept)
    }

    /// `config delete cluster`: drops a set list; the source's list (none
    /// without a source) is in force again, with a new version if that
    /// changes the membership.
    pub fn admin_delete(&self) -> Admin {
        let mut state = self.state();
        if !state.overridden {
            return Admin::NotFound;
        }
        let mut next = state.clone();
        next.overridden = false;
        let nodes = state.source.clone();
        match self.change(&mut state, next, nodes, unix_now(), true) {
            Ok(reload) => Admin::Done(reload),
            Err(e) => Admin::NotKept(e),
        }
    }
}

/// Now, in Unix seconds.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The file's stamp (taken first, so a write during the read is seen by
/// the next poll) and its nodes.
fn read(path: &Path) -> Result<(Stamp, Vec<super::Node>), String> {
    let shown = path.display();
    let stamp = Stamp::of(path).map_err(|e| format!("{shown}: {e}"))?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let nodes = file::parse(&text).map_err(|e| format!("{shown}: {e}"))?;
    Ok((stamp, nodes))
}

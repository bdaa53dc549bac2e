//! The node list a server shares between its workers, reloaded from the
//! node file.
//!
//! Workers read it only for `config get cluster` and the legacy key, so a
//! `RwLock<Arc<Nodes>>` is enough: a reader holds the read lock only to
//! clone the `Arc`, and a reload builds the new list (payload rendered)
//! before it takes the write lock to swap the pointer. No worker ever
//! waits on file I/O.
//!
//! The version: the first list gets the file's modification time in Unix
//! seconds; a reload whose membership differs gets the larger of the
//! file's modification time and the current version plus one; a reload
//! that finds the same membership keeps the version. See
//! `docs/autodiscovery.md` for why.

use super::{file, Nodes};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

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
    mtime_seconds.max(current + 1)
}

/// A server's node list and where it comes from.
#[derive(Debug)]
pub struct Cluster {
    path: PathBuf,
    current: RwLock<Arc<Nodes>>,
    /// The file's stamp when it was last read, well or badly; the watcher
    /// reads it again only when it differs, so a bad file is logged once.
    seen: Mutex<Stamp>,
}

impl Cluster {
    /// Reads the node file at `path`. `Err` is one line for the operator.
    pub fn open(path: &Path) -> Result<Cluster, String> {
        let (stamp, nodes) = read(path)?;
        Ok(Cluster {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(Nodes::new(stamp.seconds().max(1), nodes))),
            seen: Mutex::new(stamp),
        })
    }

    /// The node file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The list in force.
    pub fn current(&self) -> Arc<Nodes> {
        // A poisoned lock still holds a whole list: the writer only swaps
        // an Arc.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the node file again (SIGHUP). A bad or unreadable file keeps
    /// the list in force; `Err` says why, in one line.
    pub fn reload(&self) -> Result<Reload, String> {
        let read = read(&self.path);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok((stamp, _)) = &read {
            *seen = *stamp;
        } else if let Ok(stamp) = Stamp::of(&self.path) {
            *seen = stamp;
        }
        let (stamp, nodes) = read?;
        let old = self.current();
        let fresh = Nodes::new(0, nodes);
        if fresh.nodes() == old.nodes() {
            return Ok(Reload::Unchanged {
                version: old.version(),
                nodes: old.nodes().len(),
            });
        }
        let to = next_version(old.version(), stamp.seconds());
        let count = fresh.nodes().len();
        let new = Arc::new(Nodes::new(to, fresh.nodes().to_vec()));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = new;
        Ok(Reload::Changed {
            from: old.version(),
            to,
            nodes: count,
        })
    }

    /// Reads the node file again if it changed since it was last read
    /// (the watcher calls this once a second); `None` when it did not.
    pub fn poll(&self) -> Option<Result<Reload, String>> {
        let now = Stamp::of(&self.path).ok();
        let seen = *self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match now {
            Some(now) if now == seen => None,
            // A missing file is reported once, when it disappears.
            None if seen.len == u64::MAX => None,
            None => {
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                seen.len = u64::MAX;
                Some(Err(format!(
                    "{}: cannot read it; the node list in force stays",
                    self.path.display()
                )))
            }
            Some(_) => Some(self.reload()),
        }
    }
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

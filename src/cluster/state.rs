//! The cluster state file (`-o cluster_state=PATH`): the version last
//! served, the source's last list and a `config set` list in force, kept
//! across restarts so that the version never goes backwards and a set list
//! survives. Rewritten whole on every change (a temporary file, synced,
//! then renamed over the old one), read once at start-up.
//!
//! ```text
//! # ferrocache cluster state ...
//! version 1796177099
//! source a.example|10.0.0.1|11211 b.example||11211
//! set a.example|10.0.0.1|11211 c.example|10.0.0.3|11211
//! ```
//!
//! `source` is left out before the source first answers, `set` when no set
//! list is in force.

use super::file::parse_node;
use super::Node;
use std::io::Write;
use std::path::Path;

/// What the state file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    /// The version of the list in force, or of the last one when none is.
    pub version: u64,
    /// The source's nodes when it last answered.
    pub source: Option<Vec<Node>>,
    /// The `config set` list in force instead of the source's.
    pub set: Option<Vec<Node>>,
}

const HEADER: &str = "# ferrocache cluster state: the node list's version, the source's last \
list and a `config set` list in force.\n# Rewritten on every change and read at start-up; \
edit it only while ferrocache is stopped.\n";

/// The file's text.
fn render(saved: &Saved) -> String {
    let mut text = format!("{HEADER}version {}\n", saved.version);
    for (name, nodes) in [("source", &saved.source), ("set", &saved.set)] {
        if let Some(nodes) = nodes {
            text.push_str(name);
            for n in nodes {
                let ip = n.ip.map(|ip| ip.to_string()).unwrap_or_default();
                text.push_str(&format!(" {}|{}|{}", n.host, ip, n.port));
            }
            text.push('\n');
        }
    }
    text
}

/// The state in `text`; `Err` is one line naming what is wrong.
fn parse(text: &str) -> Result<Saved, String> {
    let mut version = None;
    let (mut source, mut set) = (None, None);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split(' ').filter(|w| !w.is_empty());
        let at = |why: String| format!("line {}: {why}", i + 1);
        match words.next() {
            Some("version") => {
                let v = words.next().and_then(|v| v.parse::<u64>().ok());
                version = Some(v.ok_or_else(|| at("give version <number>".into()))?);
            }
            Some(name @ ("source" | "set")) => {
                let nodes = words
                    .map(|w| parse_node(w).map_err(|why| at(format!("{w:?}: {why}"))))
                    .collect::<Result<Vec<_>, _>>()?;
                *if name == "set" { &mut set } else { &mut source } = Some(nodes);
            }
            _ => return Err(at(format!("{line:?}: not version, source or set"))),
        }
    }
    let version = version.ok_or("no version line")?;
    Ok(Saved {
        version,
        source,
        set,
    })
}

/// The state kept at `path`; `None` when there is no file yet (or an
/// empty one, as `install -o memcache /dev/null PATH` prepares it).
pub fn load(path: &Path) -> Result<Option<Saved>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes `saved` to `path` so that a crash or a power cut at any moment
/// leaves either the old file or the new one whole: a temporary file of
/// this process's own (created exclusively, so a symlink planted at its
/// name is refused, not followed), synced, renamed over `path`, and the
/// directory synced so the rename lasts.
pub fn save(path: &Path, saved: &Saved) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    // A leftover of an earlier process with this pid (never followed).
    let _ = std::fs::remove_file(&tmp);
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut file| {
            file.write_all(render(saved).as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, ip: &str, port: u16) -> Node {
        Node {
            host: host.into(),
            ip: (!ip.is_empty()).then(|| ip.parse().unwrap()),
            port,
        }
    }

    #[test]
    fn a_state_reads_back_as_written() {
        let saved = Saved {
            version: 1_796_177_099,
            source: Some(vec![node("a", "10.0.0.1", 11211), node("b", "", 11212)]),
            set: Some(vec![node("c", "fd00::3", 11213)]),
        };
        let text = render(&saved);
        assert_eq!(
            text.lines().skip(2).collect::<Vec<_>>(),
            [
                "version 1796177099",
                "source a|10.0.0.1|11211 b||11212",
                "set c|fd00::3|11213"
            ]
        );
        assert_eq!(parse(&text), Ok(saved));
        let bare = Saved {
            version: 7,
            source: None,
            set: None,
        };
        assert_eq!(parse(&render(&bare)), Ok(bare));
    }

    #[test]
    fn a_bad_state_is_refused_with_its_line() {
        assert_eq!(parse("source a||1\n"), Err("no version line".into()));
        assert!(parse("version x\n").unwrap_err().starts_with("line 1:"));
        assert!(parse("version 3\nset a|nope|1\n")
            .unwrap_err()
            .starts_with("line 2:"));
        assert!(parse("version 3\nnodes a||1\n").is_err());
    }

    #[test]
    fn save_replaces_the_file_whole_and_load_finds_none_before_the_first() {
        let dir = std::env::temp_dir().join(format!("ferrocache-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let _ = std::fs::remove_file(&path);
        assert_eq!(load(&path), Ok(None));
        for version in [5, 6] {
            let saved = Saved {
                version,
                source: Some(vec![node("a", "", 1)]),
                set: None,
            };
            save(&path, &saved).unwrap();
            assert_eq!(load(&path), Ok(Some(saved)));
        }
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file left");
        std::fs::write(&path, "\n").unwrap();
        assert_eq!(load(&path), Ok(None), "an empty file is no state");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A symlink planted at the temporary file's name is replaced, never
    /// written through.
    #[test]
    fn a_planted_symlink_is_not_followed() {
        let dir = std::env::temp_dir().join(format!("ferrocache-plant-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (path, victim) = (dir.join("state"), dir.join("victim"));
        std::fs::write(&victim, "precious").unwrap();
        let tmp = dir.join(format!("state.tmp.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        let saved = Saved {
            version: 9,
            source: None,
            set: None,
        };
        save(&path, &saved).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(load(&path), Ok(Some(saved)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

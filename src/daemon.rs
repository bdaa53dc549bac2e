//! The process's life as a service: going into the background (`-d`),
//! telling whoever started it that it is ready, and the pidfile (`-P`).
//!
//! `-d` forks as memcached does (fork, setsid, chdir /, stdin from
//! /dev/null), with one difference an operator can count on: the command
//! that ran `ferrocache -d` returns only once the daemon listens and its
//! pidfile is written, with status 0, or with the daemon's own exit status
//! and its error on stderr when start-up failed. (memcached's parent
//! returns at once, before the port is open.) That is what systemd's
//! `Type=forking` expects.

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The byte the daemon sends its parent once it serves.
const READY: u8 = b'R';

/// How to report readiness: in the foreground, the `ferrocache listening
/// on` line goes to stdout; as a daemon, it goes to the waiting parent,
/// which prints it and exits.
#[derive(Debug)]
pub struct Startup {
    /// The daemon's end of the pipe to its parent.
    parent: Option<OwnedFd>,
    /// `-v` with `-d`: keep stderr (memcached keeps its stdio when verbose).
    keep_stderr: bool,
}

impl Startup {
    /// Not a daemon: nobody waits.
    pub fn foreground() -> Startup {
        Startup {
            parent: None,
            keep_stderr: true,
        }
    }

    /// Start-up is over: prints `announce` (the listening line, if any)
    /// where the starter reads it, and, as a daemon, lets the parent exit
    /// and lets go of the terminal.
    pub fn ready(self, announce: Option<String>) -> io::Result<()> {
        let Some(pipe) = self.parent else {
            if let Some(line) = announce {
                let mut out = io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()?;
            }
            return Ok(());
        };
        let null = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")?;
        nix::unistd::dup2_stdout(&null)?;
        if !self.keep_stderr {
            nix::unistd::dup2_stderr(&null)?;
        }
        let mut message = vec![READY];
        if let Some(line) = announce {
            message.extend_from_slice(line.as_bytes());
            message.push(b'\n');
        }
        File::from(pipe).write_all(&message)
    }
}

/// Forks into the background. Only the daemon returns; the parent waits for
/// [`Startup::ready`] (or the daemon's exit) and exits. Must be called
/// while the process has one thread: fork copies only the caller.
///
/// `chdir_root` is false with `-r`, so that a core dump lands in the
/// directory ferrocache was started from (as memcached does).
pub fn daemonize(keep_stderr: bool, chdir_root: bool) -> io::Result<Startup> {
    let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
    if threads > 1 {
        return Err(io::Error::other(format!(
            "cannot daemonize: {threads} threads already run (fork keeps only one)"
        )));
    }
    let (read, write) = nix::unistd::pipe()?;
    // SAFETY: the process has a single thread (checked above), so the child
    // gets a consistent copy of every lock and allocator state.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => {
            drop(write);
            std::process::exit(wait_for_daemon(read, child))
        }
        ForkResult::Child => {
            drop(read);
            nix::unistd::setsid()?;
            if chdir_root {
                nix::unistd::chdir("/")?;
            }
            let null = File::open("/dev/null")?;
            nix::unistd::dup2_stdin(&null)?;
            Ok(Startup {
                parent: Some(write),
                keep_stderr,
            })
        }
    }
}

/// The parent's side: the daemon's listening line, then exit 0; or, if the
/// daemon exits first (its error already on the shared stderr), its status.
fn wait_for_daemon(read: OwnedFd, child: Pid) -> i32 {
    let mut message = Vec::new();
    let _ = File::from(read).read_to_end(&mut message);
    if message.first() == Some(&READY) {
        let mut out = io::stdout().lock();
        let _ = out.write_all(&message[1..]);
        let _ = out.flush();
        return 0;
    }
    match waitpid(child, None) {
        Ok(WaitStatus::Exited(_, code)) if code != 0 => code,
        Ok(WaitStatus::Signaled(_, signal, _)) => 128 + signal as i32,
        _ => {
            eprintln!("ferrocache: the daemon stopped during start-up");
            71 // EX_OSERR
        }
    }
}

/// The pidfile (`-P`): written once the sockets are bound, removed when the
/// process ends (also on a start-up error after it was written).
///
/// It is written while still root, in a directory the `-u` user may write
/// to (so that it can remove the file on exit): the file is created anew,
/// never through a link someone put at its path, and handed to that user
/// through the open file, not the path.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: File,
}

impl PidFile {
    /// Writes this process's id. Like memcached, warns when the file names
    /// another process that still runs (a second instance, or a stale file
    /// whose pid was reused), then overwrites it.
    pub fn write(path: &Path) -> io::Result<PidFile> {
        let me = std::process::id();
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|pid| *pid > 0 && *pid as u32 != me)
        {
            if nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok() {
                log::warn!(
                    "the pidfile {} names process {pid}, which is running; overwriting it",
                    path.display()
                );
            }
        }
        let fail = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!("cannot write the pidfile {}: {e}", path.display()),
            )
        };
        // Whatever is at the path (an old pidfile, or a link planted by
        // whoever may write to the directory) goes; the new file must not
        // exist (O_EXCL, which also refuses to follow a link).
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(e)),
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
            .map_err(fail)?;
        file.write_all(format!("{me}\n").as_bytes()).map_err(fail)?;
        Ok(PidFile {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Gives the file to the user ferrocache is about to become, so that
    /// it can remove the file on exit (memcached, which drops root before
    /// writing it, leaves it owned by that user too).
    pub fn give_to(&self, user: &nix::unistd::User) -> io::Result<()> {
        nix::unistd::fchown(&self.file, Some(user.uid), Some(user.gid))?;
        Ok(())
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!(
                "cannot remove the pidfile {}: {e} (the -u user needs write access to its directory)",
                self.path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_holds_our_pid_and_goes_away() {
        let path = std::env::temp_dir().join(format!("ferrocache-unit-{}.pid", std::process::id()));
        {
            let pid = PidFile::write(&path).unwrap();
            assert_eq!(pid.path(), path);
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text, format!("{}\n", std::process::id()));
        }
        assert!(!path.exists());
    }

    /// The pidfile was written and chowned through whatever was at its
    /// path: the `-u` user, who may write to the pidfile's directory, could
    /// plant a link there to a root-only file and have it truncated and
    /// given to them. Now the link itself is replaced.
    #[test]
    fn regression_pidfile_never_writes_through_a_link() {
        let dir = std::env::temp_dir().join(format!("ferrocache-pidlink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        std::fs::write(&victim, "root-only secret").unwrap();
        let path = dir.join("x.pid");
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        {
            let _pid = PidFile::write(&path).unwrap();
            assert!(!std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink());
            assert_eq!(
                std::fs::read_to_string(&victim).unwrap(),
                "root-only secret"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn pidfile_in_a_missing_directory_is_one_clear_error() {
        let err = PidFile::write(Path::new("/nonexistent-dir/x.pid")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir/x.pid"), "{err}");
    }
}

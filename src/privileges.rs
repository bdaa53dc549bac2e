//! What ferrocache asks of the operating system as root, memcached's way:
//! giving up root for `-u`, locking memory for `-k`, core dumps for `-r`.

use nix::unistd::{Gid, Uid, User};

/// A start-up failure: the exit status (sysexits.h, as memcached uses
/// them) and one line for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fatal {
    /// Exit status.
    pub code: u8,
    /// What went wrong.
    pub message: String,
}

/// EX_USAGE.
pub const EX_USAGE: u8 = 64;
/// EX_NOUSER.
pub const EX_NOUSER: u8 = 67;
/// EX_OSERR.
pub const EX_OSERR: u8 = 71;

impl Fatal {
    fn new(code: u8, message: impl Into<String>) -> Fatal {
        Fatal {
            code,
            message: message.into(),
        }
    }
}

impl From<std::io::Error> for Fatal {
    fn from(e: std::io::Error) -> Fatal {
        Fatal::new(EX_OSERR, e.to_string())
    }
}

/// Whether the process runs as root (real or effective), as memcached asks.
pub fn is_root() -> bool {
    Uid::current().is_root() || Uid::effective().is_root()
}

/// memcached's rule for `-u`, checked before anything is bound: as root it
/// is required (and the user must exist); otherwise it is ignored.
pub fn user_to_become(name: Option<&str>, root: bool) -> Result<Option<User>, Fatal> {
    match (root, name) {
        (true, None) | (true, Some("")) => Err(Fatal::new(
            EX_USAGE,
            "can't run as root without the -u switch",
        )),
        (true, Some(name)) => match User::from_name(name) {
            Ok(Some(user)) => Ok(Some(user)),
            Ok(None) => Err(Fatal::new(
                EX_NOUSER,
                format!("can't find the user {name} to switch to"),
            )),
            Err(e) => Err(Fatal::new(
                EX_OSERR,
                format!("can't look up the user {name}: {e}"),
            )),
        },
        (false, Some(name)) => {
            log::info!("-u {name}: ignored, not running as root");
            Ok(None)
        }
        (false, None) => Ok(None),
    }
}

/// Becomes `user`: no supplementary groups, then its group, then its uid
/// (in that order: each step needs the privilege the next one gives up).
pub fn become_user(user: &User) -> Result<(), Fatal> {
    let fail = |what: &str, e: nix::Error| {
        Fatal::new(
            EX_OSERR,
            format!(
                "failed to assume identity of user {}: {what}: {e}",
                user.name
            ),
        )
    };
    nix::unistd::setgroups(&[]).map_err(|e| fail("setgroups", e))?;
    nix::unistd::setgid(user.gid).map_err(|e| fail("setgid", e))?;
    nix::unistd::setuid(user.uid).map_err(|e| fail("setuid", e))?;
    if !user.uid.is_root() && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(Fatal::new(
            EX_OSERR,
            format!("became {} but could get root back", user.name),
        ));
    }
    log::info!(
        "running as user {} (uid {}, gid {})",
        user.name,
        user.uid,
        Gid::current()
    );
    Ok(())
}

/// Address space that locking counts per thread beyond `-m`: glibc's
/// allocator reserves a 64 MiB arena for each thread that allocates, and
/// the locked-memory limit applies to mapped size, not to what is used
/// (measured: 213 MiB locked at `-t 1`, 416 at `-t 4`, 687 at `-t 8`, with
/// a few MiB of items).
const LOCK_PER_THREAD: u64 = 64 << 20;

/// `-k`: locks current and future memory (mlockall). Like memcached, a
/// failure is a warning and ferrocache goes on unlocked. Unlike memcached,
/// it first checks the locked-memory limit: with MCL_FUTURE, an allocation
/// past the limit would fail later, mid-request, so a limit too small for
/// `-m` means not locking at all. The limit does not bind a process that
/// holds CAP_IPC_LOCK and keeps it (`keeps_capabilities`: no switch to
/// another user follows).
pub fn lock_memory(max_bytes: u64, threads: u64, keeps_capabilities: bool) {
    use rlimit::{Resource, INFINITY};
    // Root may lift the limit, which then also holds after `-u`.
    let _ = Resource::MEMLOCK.set(INFINITY, INFINITY);
    // Workers plus acceptor, clock and signal threads, plus one for the rest.
    let need = max_bytes + (threads + 4) * LOCK_PER_THREAD;
    let exempt = keeps_capabilities && has_capability(CAP_IPC_LOCK);
    match Resource::MEMLOCK.get() {
        Ok((soft, _)) if !exempt && soft != INFINITY && soft < need => {
            log::warn!(
                "-k: memory not locked: the locked-memory limit (ulimit -l) is {} KiB, below the {} MiB that -m and -t need locked; raise it (systemd: LimitMEMLOCK=infinity)",
                soft >> 10,
                need >> 20
            );
            return;
        }
        Ok(_) => {}
        Err(e) => log::warn!("-k: cannot read the locked-memory limit: {e}"),
    }
    use nix::sys::mman::{mlockall, MlockAllFlags};
    match mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
        Ok(()) => log::info!("-k: all memory is locked in RAM"),
        Err(e) => log::warn!("warning: -k invalid, mlockall() failed: {e}"),
    }
}

/// linux/capability.h: lock memory beyond RLIMIT_MEMLOCK.
const CAP_IPC_LOCK: u32 = 14;

/// Whether the process's effective capabilities include `cap`
/// (`CapEff` in /proc/self/status).
fn has_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|bits| bits & (1 << cap) != 0)
}

/// `-r`: raises the core file size limit (to unlimited, else to the hard
/// limit); an error if core files stay off, as in memcached.
pub fn enable_core_dumps() -> Result<(), Fatal> {
    use rlimit::{Resource, INFINITY};
    if Resource::CORE.set(INFINITY, INFINITY).is_err() {
        if let Ok((_, hard)) = Resource::CORE.get() {
            let _ = Resource::CORE.set(hard, hard);
        }
    }
    match Resource::CORE.get() {
        Ok((soft, _)) if soft > 0 => Ok(()),
        _ => Err(Fatal::new(EX_OSERR, "failed to ensure corefile creation")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_needs_dash_u() {
        let err = user_to_become(None, true).unwrap_err();
        assert_eq!(err.code, EX_USAGE);
        assert_eq!(err.message, "can't run as root without the -u switch");
        assert_eq!(user_to_become(Some(""), true).unwrap_err().code, EX_USAGE);
    }

    #[test]
    fn root_with_a_missing_user_is_ex_nouser() {
        let err = user_to_become(Some("no-such-user-ferrocache"), true).unwrap_err();
        assert_eq!(err.code, EX_NOUSER);
        assert!(err.message.contains("no-such-user-ferrocache"));
    }

    #[test]
    fn root_with_a_real_user_resolves_it() {
        let user = user_to_become(Some("root"), true).unwrap().unwrap();
        assert!(user.uid.is_root());
    }

    #[test]
    fn capabilities_are_read_from_proc() {
        let eff = std::fs::read_to_string("/proc/self/status").unwrap();
        let has_lock = eff.lines().any(|l| {
            l.starts_with("CapEff:") && l.trim_end().ends_with(|c: char| c.is_ascii_hexdigit())
        });
        assert!(has_lock, "CapEff is there to read");
        let _ = has_capability(CAP_IPC_LOCK);
        assert!(!has_capability(63), "no such capability");
    }

    #[test]
    fn not_root_ignores_dash_u() {
        assert_eq!(
            user_to_become(Some("nobody"), false)
                .unwrap()
                .map(|u| u.uid),
            None
        );
        assert!(user_to_become(None, false).unwrap().is_none());
    }
}

//! The command line an operator brings from memcached, on the real binary:
//! `-d` (daemonize, pidfile), `-u` (giving up root), `-l` address forms,
//! and what the log looks like at `-vv`.
//!
//! The `-u` tests need root; run as another user they print that they are
//! skipped and pass.

mod common;

use common::{is_root, parse_listening_line, user_args, Client, Server};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrocache");

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("ferrocache-{name}-{}", std::process::id()))
}

/// A line of `/proc/PID/status` (`Uid:`, `Gid:`, `Groups:` …), split.
fn proc_status(pid: u32, field: &str) -> Vec<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn connect(addr: SocketAddr) -> Client {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    Client { stream }
}

/// Waits (bounded) until process `pid` is gone (or a zombie).
fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit_once(") ")
                    .is_some_and(|(_, r)| r.starts_with('Z')) =>
            {
                return true
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}

/// Kills a daemon the test started if the test fails before stopping it.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status()
        .expect("run kill(1)")
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

#[test]
fn daemon_mode_detaches_writes_its_pid_serves_and_stops_on_sigterm() {
    let pidfile = temp_path("daemon.pid");
    // `ferrocache -d` returns once the daemon serves; the listening line
    // (for -p 0) comes out of the parent's stdout.
    let out = Command::new(BIN)
        .args(["-d", "-p", "0", "-l", "127.0.0.1", "-t", "1", "-P"])
        .arg(&pidfile)
        .args(user_args())
        .output()
        .expect("run ferrocache -d");
    assert!(out.status.success(), "{out:?}");
    let addr = parse_listening_line(&String::from_utf8(out.stdout).unwrap());
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("pidfile written before the parent returns")
        .trim()
        .parse()
        .unwrap();
    let reap = Reap(pid);
    // The daemon is its own session leader, in /, with stdin from /dev/null.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!(fields[3], pid.to_string(), "session id is its pid: {stat}");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        Path::new("/")
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap(),
        Path::new("/dev/null")
    );
    let mut c = connect(addr);
    assert_eq!(c.call(b"set d 0 0 2\r\nok\r\n"), b"STORED\r\n");
    let stats = String::from_utf8(c.call(b"stats\r\n")).unwrap();
    assert!(stats.contains(&format!("STAT pid {pid}\r\n")), "{stats}");
    kill(pid, "TERM");
    assert!(wait_gone(pid, Duration::from_secs(10)), "daemon stops");
    std::mem::forget(reap); // gone: its pid may belong to someone else now
    assert!(!pidfile.exists(), "pidfile removed on exit");
}

#[test]
fn daemon_start_up_errors_reach_the_terminal_with_the_status() {
    // The port is taken: the daemon cannot bind, and `ferrocache -d` says so.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = Command::new(BIN)
        .args(["-d", "-p", &port, "-l", "127.0.0.1", "-t", "1"])
        .args(user_args())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(71), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("failed to listen on TCP port"), "{err}");
}

#[test]
fn root_without_dash_u_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root (ferrocache ignores -u otherwise)");
        return;
    }
    let out = Command::new(BIN)
        .args(["-p", "0", "-l", "127.0.0.1", "-t", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "ferrocache: can't run as root without the -u switch\n"
    );
    let out = Command::new(BIN)
        .args(["-p", "0", "-u", "no-such-user-here"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(67), "EX_NOUSER: {out:?}");
}

#[test]
fn dash_u_nobody_drops_root_after_binding() {
    if !is_root() {
        eprintln!("skipped: needs root (ferrocache ignores -u otherwise)");
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody")
        .unwrap()
        .expect("a nobody user");
    let pidfile = temp_path("nobody.pid");
    let mut cmd = Command::new(BIN);
    cmd.args([
        "-p",
        "0",
        "-l",
        "127.0.0.1",
        "-t",
        "2",
        "-u",
        "nobody",
        "-P",
    ])
    .arg(&pidfile);
    let server = Server::from_command(cmd);
    let (uid, gid) = (nobody.uid.to_string(), nobody.gid.to_string());
    assert_eq!(proc_status(server.pid(), "Uid"), [&*uid, &uid, &uid, &uid]);
    assert_eq!(proc_status(server.pid(), "Gid"), [&*gid, &gid, &gid, &gid]);
    assert!(
        proc_status(server.pid(), "Groups").is_empty(),
        "no supplementary groups"
    );
    // Every thread, not just the main one.
    for task in std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap() {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert!(status.contains(&format!("Uid:\t{uid}\t")), "{status}");
    }
    let mut c = server.connect();
    assert_eq!(
        c.call(b"set u 0 0 1\r\nx\r\nget u\r\n"),
        b"STORED\r\nVALUE u 0 1\r\nx\r\nEND\r\n"
    );
    assert!(server.terminate().success());
    assert!(
        !pidfile.exists(),
        "nobody could remove the pidfile (it was handed over)"
    );
}

#[test]
fn lock_memory_locks_or_says_why_not_and_serves() {
    // A small locked-memory limit: unless ferrocache may lift it (root with
    // CAP_SYS_RESOURCE), it must warn and not lock rather than fail later.
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        &format!(
            "ulimit -S -l 1024 && exec {BIN} -p 0 -l 127.0.0.1 -t 1 -k -v {}",
            if is_root() { "-u nobody" } else { "" }
        ),
    ])
    .env_remove("RUST_LOG");
    let (server, stderr) = Server::with_stderr(cmd);
    let mut c = server.connect();
    assert_eq!(c.call(b"set k 0 0 1\r\nx\r\n"), b"STORED\r\n");
    let locked_kb: u64 = proc_status(server.pid(), "VmLck")[0].parse().unwrap();
    // The log line is read by a background thread: wait for it.
    let wanted = if locked_kb == 0 {
        "-k: memory not locked"
    } else {
        "-k: all memory is locked"
    };
    assert!(
        stderr.wait_for(wanted, Duration::from_secs(10)),
        "no {wanted:?} in {:?}",
        stderr.lines()
    );
    assert!(server.terminate().success());
}

#[test]
fn listen_address_with_its_own_port_overrides_dash_p() {
    // -p 11 would need root and is never bound: the :0 in -l wins.
    let mut cmd = Command::new(BIN);
    cmd.args(["-p", "11", "-l", "127.0.0.1:0", "-t", "1"])
        .args(user_args());
    let server = Server::from_command(cmd);
    assert!(server.addr.ip().is_loopback() && server.addr.port() != 11);
    let mut c = server.connect();
    let settings = String::from_utf8(c.call(b"stats settings\r\n")).unwrap();
    assert!(settings.contains("STAT tcpport 11\r\n"), "{settings}");
    assert!(
        settings.contains("STAT inter 127.0.0.1:0\r\n"),
        "{settings}"
    );
}

#[test]
fn listen_on_an_os_handed_port() {
    // A port the OS just handed out may be taken by a parallel test before
    // we bind it: then ferrocache exits (status 71) and we try another.
    for _ in 0..10 {
        let port = common::free_port();
        let mut child = Command::new(BIN)
            .args(["-l", &format!("127.0.0.1:{port}"), "-t", "1"])
            .args(user_args())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut up = None;
        while up.is_none() && Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            up = TcpStream::connect(("127.0.0.1", port)).ok();
            std::thread::sleep(Duration::from_millis(10));
        }
        let Some(stream) = up else { continue };
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut c = Client { stream };
        let stats = String::from_utf8(c.call(b"stats\r\n")).unwrap();
        let ours = stats.contains(&format!("STAT pid {}\r\n", child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        if ours {
            return;
        }
    }
    panic!("could not start on an OS-handed port (port races?)");
}

#[test]
fn listen_on_ipv6_loopback_in_brackets() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("skipped: this machine has no ::1");
        return;
    }
    let mut cmd = Command::new(BIN);
    cmd.args(["-p", "0", "-l", "[::1]:0,127.0.0.1", "-t", "1"])
        .args(user_args());
    let server = Server::from_command(cmd);
    assert_eq!(server.addr.ip(), "::1".parse::<std::net::IpAddr>().unwrap());
    let mut c = server.connect();
    assert_eq!(c.call(b"set six 0 0 1\r\n6\r\n"), b"STORED\r\n");
    let conns = String::from_utf8(c.call(b"stats conns\r\n")).unwrap();
    assert!(conns.contains("[::1]"), "{conns}");
}

#[test]
fn very_verbose_log_lines_carry_a_timestamp_and_level_only() {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "-p",
        "0",
        "-l",
        "127.0.0.1",
        "-t",
        "1",
        "-vv",
        "-o",
        "modern,hashpower=16",
    ])
    .args(user_args())
    .env_remove("RUST_LOG");
    let (server, stderr) = Server::with_stderr(cmd);
    let mut c = server.connect();
    assert_eq!(
        c.call(b"set k 0 0 1\r\na\r\nget k\r\n"),
        b"STORED\r\nVALUE k 0 1\r\na\r\nEND\r\n"
    );
    drop(c);
    assert!(server.terminate().success());
    let lines = stderr.all_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" WARN ") && l.contains("-o hashpower=16: no effect here")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains(" INFO ") && l.contains("SIGTERM: shutting down")),
        "{lines:?}"
    );
    for line in &lines {
        // [2026-01-31T12:34:56.789Z INFO ] message
        let b = line.as_bytes();
        let stamp_ok = b.len() > 26
            && b[0] == b'['
            && b[5] == b'-'
            && b[8] == b'-'
            && b[11] == b'T'
            && b[14] == b':'
            && b[17] == b':'
            && b[20] == b'.'
            && b[24] == b'Z'
            && b[1..5].iter().all(u8::is_ascii_digit);
        assert!(stamp_ok, "no RFC 3339 timestamp: {line:?}");
        let level = line[26..].split_whitespace().next().unwrap_or("");
        assert!(
            ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&level.trim_end_matches(']')),
            "no level: {line:?}"
        );
        assert!(!line.contains("ferrocache::"), "module path in {line:?}");
    }
}

/// The `verbosity` command used to raise only the global `log` maximum
/// while env_logger's own filter stayed at the start-up level, so `verbosity
/// 1` on a server started without -v logged nothing more. The logger now
/// lets every level through and the maximum alone decides.
#[test]
fn regression_verbosity_command_raises_the_log_level() {
    let mut cmd = Command::new(BIN);
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "1"])
        .args(user_args())
        .env_remove("RUST_LOG");
    let (server, stderr) = Server::with_stderr(cmd);
    let mut c = server.connect();
    assert_eq!(c.call(b"verbosity 1\r\n"), b"OK\r\n");
    assert!(server.terminate().success());
    let lines = stderr.all_lines();
    assert!(
        lines.iter().any(|l| l.contains("SIGTERM: shutting down")),
        "info line after `verbosity 1`: {lines:?}"
    );
}

#[test]
fn rust_log_overrides_the_verbosity() {
    // No -v (warnings only), but RUST_LOG asks for info: the info line shows.
    let mut cmd = Command::new(BIN);
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "1", "-o", "modern"])
        .args(user_args())
        .env("RUST_LOG", "info");
    let (server, stderr) = Server::with_stderr(cmd);
    assert!(server.terminate().success());
    let lines = stderr.all_lines();
    assert!(
        lines.iter().any(|l| l.contains("-o modern: already so")),
        "{lines:?}"
    );
}

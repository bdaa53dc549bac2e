//! Signals an operator sends to the real binary: SIGHUP is logged and the
//! server goes on; SIGTERM still stops it cleanly; a client that hangs up
//! mid-reply (EPIPE, which raises SIGPIPE unless ignored) never kills it.

mod common;

use common::{user_args, Server};
use std::io::Read;
use std::process::Command;
use std::time::Duration;

fn ferrocache(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "1"])
        .args(user_args())
        .args(args);
    cmd
}

/// SIGHUP used to kill the server with the default action (exit status
/// 129), skipping the shutdown path, so the pidfile was left behind. It is
/// now caught, logged at -v, and the server keeps serving; SIGTERM after it
/// still exits 0 and removes the pidfile.
#[test]
fn regression_sighup_keeps_serving_and_the_pidfile() {
    let pidfile = std::env::temp_dir().join(format!("ferrocache-hup-{}.pid", std::process::id()));
    let (server, stderr) =
        Server::with_stderr(ferrocache(&["-v", "-P", pidfile.to_str().unwrap()]));
    let mut c = server.connect();
    assert_eq!(c.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");
    server.signal("HUP");
    assert!(
        stderr.wait_for("SIGHUP: nothing to reload", Duration::from_secs(10)),
        "SIGHUP is logged: {:?}",
        stderr.lines()
    );
    server.signal("HUP");
    assert_eq!(c.call(b"get k\r\n"), b"VALUE k 0 1\r\na\r\nEND\r\n");
    let mut fresh = server.connect();
    assert_eq!(fresh.call(b"get k\r\n"), b"VALUE k 0 1\r\na\r\nEND\r\n");
    let pid = std::fs::read_to_string(&pidfile).expect("pidfile still there");
    assert_eq!(pid.trim(), server.pid().to_string());
    let status = server.terminate();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    assert!(!pidfile.exists(), "pidfile removed on exit");
    let lines = stderr.all_lines();
    assert!(
        lines.iter().any(|l| l.contains("SIGTERM: shutting down")),
        "{lines:?}"
    );
}

#[test]
fn sigint_and_sigusr1_stop_gracefully_too() {
    for sig in ["INT", "USR1"] {
        let server = Server::from_command(ferrocache(&[]));
        let mut c = server.connect();
        assert_eq!(c.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");
        server.signal(sig);
        assert!(server.wait().success(), "SIG{sig} exits 0");
        assert!(c.read_to_close().is_empty());
    }
}

/// Rust ignores SIGPIPE in its binaries (writes then fail with EPIPE); this
/// checks it stays so: clients that vanish while a large reply is being
/// written must not take the server down.
#[test]
fn a_client_closing_during_a_large_reply_does_not_kill_the_server() {
    let server = Server::from_command(ferrocache(&["-m", "64"]));
    let mut c = server.connect();
    let value = vec![b'v'; 512 * 1024];
    c.send(format!("set big 0 0 {}\r\n", value.len()).as_bytes());
    c.send(&value);
    c.send(b"\r\n");
    let mut line = [0u8; 8];
    c.stream.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"STORED\r\n");
    for _ in 0..20 {
        let mut hog = server.connect();
        hog.send(&b"get big\r\n".repeat(40));
        // Wait until the reply is flowing, then vanish with a reset.
        let mut some = [0u8; 4096];
        assert!(hog.stream.read(&mut some).unwrap() > 0);
        socket2::SockRef::from(&hog.stream)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(hog);
    }
    let mut after = server.connect();
    assert_eq!(after.call(b"get nothing\r\n"), b"END\r\n");
    let status = server.terminate();
    assert!(
        status.success(),
        "still running, then a clean stop: {status:?}"
    );
}

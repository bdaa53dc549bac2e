//! PLAIN against Debian's memcached: the same AUTH/STEP sequences sent to
//! `memcached -S` (Cyrus SASL, users in a sasldb made with `saslpasswd2`)
//! and to an [`Exchange`](crate::auth::Exchange), statuses compared.
//! Ignored by default: it needs `/usr/bin/memcached` and Debian's
//! `sasl2-bin`. Run it with
//!
//! ```sh
//! cargo test --lib auth::tests::sasl_memcached -- --ignored
//! ```
//!
//! Debian's memcached is built without `--enable-sasl-pwdb`, so it cannot
//! read `MEMCACHED_SASL_PWDB`; the users go into Cyrus's sasldb instead.

use crate::auth::sasl::{Mechanism, SaslServer, Step};
use crate::auth::{Credentials, Format, SharedCredentials};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USERS: [(&str, &str); 2] = [("user", "pass"), ("alice", "pa ss")];

/// (AUTH or STEP, mechanism, data) frames, one connection per case.
type Case = (&'static str, &'static [(u8, &'static [u8], &'static [u8])]);

const AUTH: u8 = 0x21;
const STEP: u8 = 0x22;

const CASES: &[Case] = &[
    ("ok", &[(AUTH, b"PLAIN", b"\0user\0pass")]),
    ("space in password", &[(AUTH, b"PLAIN", b"\0alice\0pa ss")]),
    ("authzid same", &[(AUTH, b"PLAIN", b"user\0user\0pass")]),
    ("authzid other", &[(AUTH, b"PLAIN", b"alice\0user\0pass")]),
    ("wrong password", &[(AUTH, b"PLAIN", b"\0user\0pasS")]),
    ("unknown user", &[(AUTH, b"PLAIN", b"\0nobody\0pass")]),
    ("empty password", &[(AUTH, b"PLAIN", b"\0user\0")]),
    ("empty user", &[(AUTH, b"PLAIN", b"\0\0pass")]),
    ("one NUL", &[(AUTH, b"PLAIN", b"user\0pass")]),
    ("three NULs", &[(AUTH, b"PLAIN", b"\0user\0pass\0")]),
    ("lowercase", &[(AUTH, b"plain", b"\0user\0pass")]),
    ("unknown mechanism", &[(AUTH, b"FOO", b"\0user\0pass")]),
    (
        "32-byte mechanism",
        &[(AUTH, b"XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", b"")],
    ),
    (
        "no initial response",
        &[(AUTH, b"PLAIN", b""), (STEP, b"PLAIN", b"\0user\0pass")],
    ),
    (
        "fail then ok",
        &[
            (AUTH, b"PLAIN", b"\0user\0x"),
            (AUTH, b"PLAIN", b"\0user\0pass"),
        ],
    ),
    (
        "ok then step",
        &[
            (AUTH, b"PLAIN", b"\0user\0pass"),
            (STEP, b"PLAIN", b"\0user\0pass"),
        ],
    ),
    ("step first", &[(STEP, b"PLAIN", b"\0user\0pass")]),
];

struct Memcached {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Memcached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_memcached() -> Memcached {
    let dir = std::env::temp_dir().join(format!("ferrocache-sasl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("sasldb2");
    for (user, password) in USERS {
        let mut p = Command::new("saslpasswd2")
            .args(["-p", "-a", "memcached", "-c", "-f"])
            .arg(&db)
            .arg(user)
            .stdin(Stdio::piped())
            .spawn()
            .expect("saslpasswd2 (Debian's sasl2-bin)");
        p.stdin
            .take()
            .unwrap()
            .write_all(password.as_bytes())
            .unwrap();
        assert!(p.wait().unwrap().success());
    }
    std::fs::write(
        dir.join("memcached.conf"),
        format!("mech_list: plain\nsasldb_path: {}\n", db.display()),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new("/usr/bin/memcached");
    cmd.args(["-S", "-U", "0", "-l", "127.0.0.1", "-p", &port.to_string()])
        .env("SASL_CONF_PATH", &dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if nix::unistd::geteuid().is_root() {
        cmd.args(["-u", "root"]);
    }
    let child = cmd.spawn().expect("/usr/bin/memcached");
    let m = Memcached { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "memcached did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    m
}

/// Sends one binary request, returns the response's status.
fn request(s: &mut TcpStream, opcode: u8, key: &[u8], value: &[u8]) -> u16 {
    let mut frame = vec![0x80, opcode];
    frame.extend_from_slice(&(key.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(&((key.len() + value.len()) as u32).to_be_bytes());
    frame.extend_from_slice(&[0; 12]);
    frame.extend_from_slice(key);
    frame.extend_from_slice(value);
    s.write_all(&frame).unwrap();
    let mut header = [0u8; 24];
    s.read_exact(&mut header).unwrap();
    let body = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
    let mut skip = vec![0u8; body];
    s.read_exact(&mut skip).unwrap();
    u16::from_be_bytes([header[6], header[7]])
}

#[test]
#[ignore = "needs Debian's memcached and saslpasswd2 (sasl2-bin)"]
fn plain_matches_debian_memcached_with_cyrus() {
    let m = start_memcached();
    let pwdb: String = USERS.iter().map(|(u, p)| format!("{u}:{p}\n")).collect();
    let creds = Credentials::parse(pwdb.as_bytes(), Format::SaslPwdb).unwrap();
    let server = SaslServer::new(SharedCredentials::new(creds), &[Mechanism::Plain]);
    let mut differences = Vec::new();
    for (name, frames) in CASES {
        let mut s = TcpStream::connect(("127.0.0.1", m.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut ex = server.exchange();
        for (opcode, mech, data) in frames.iter() {
            let theirs = request(&mut s, *opcode, mech, data);
            let ours = match *opcode {
                AUTH => ex.start(mech, data),
                _ => ex.step(data),
            };
            if ours.status() != theirs {
                differences.push(format!(
                    "{name}: memcached 0x{theirs:02x}, ours 0x{:02x}",
                    ours.status()
                ));
            }
            if ours == Step::Failure && theirs != 0x20 {
                break;
            }
        }
    }
    assert!(differences.is_empty(), "{differences:#?}");
}

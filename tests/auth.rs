//! The authentication gate against the release binary: what a client may
//! do before it has logged in under `-S` (SASL, binary) and `-Y` (ascii
//! auth, text), what it gets for trying anything else, the `auth_cmds` /
//! `auth_errors` figures, and credentials reloaded on SIGHUP.

mod common;

use common::{eventually, rss_kib, user_args, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_ferrocache");

/// A credentials file in the temporary directory, removed on drop.
struct CredentialsFile(std::path::PathBuf);

impl CredentialsFile {
    fn new(name: &str, lines: &str) -> CredentialsFile {
        let path = std::env::temp_dir().join(format!("ferrocache-{name}-{}", std::process::id()));
        std::fs::write(&path, lines).unwrap();
        CredentialsFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for CredentialsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn sasl_server(pwdb: &CredentialsFile, extra: &[&str]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "2", "-S"])
        .args(extra)
        .args(user_args())
        .env("MEMCACHED_SASL_PWDB", pwdb.path());
    Server::from_command(cmd)
}

fn ascii_auth_server(file: &CredentialsFile) -> Server {
    Server::ferrocache(&["-t", "2", "-Y", file.path()])
}

/// A binary request packet.
fn packet(opcode: u8, key: &[u8], extras: &[u8], value: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.push(extras.len() as u8);
    p.extend_from_slice(&[0, 0, 0]);
    let body = (extras.len() + key.len() + value.len()) as u32;
    p.extend_from_slice(&body.to_be_bytes());
    p.extend_from_slice(&[0; 12]); // opaque, CAS
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    p
}

/// Reads one binary response packet: (opcode, status, body).
fn response(s: &mut TcpStream) -> (u8, u16, Vec<u8>) {
    let mut header = [0u8; 24];
    s.read_exact(&mut header).expect("a response header");
    assert_eq!(header[0], 0x81, "response magic");
    let status = u16::from_be_bytes([header[6], header[7]]);
    let body_len = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
    let mut body = vec![0; body_len];
    s.read_exact(&mut body).expect("a response body");
    (header[1], status, body)
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

fn plain(user: &str, password: &str) -> Vec<u8> {
    packet(
        0x21,
        b"PLAIN",
        &[],
        format!("\0{user}\0{password}").as_bytes(),
    )
}

fn get(key: &[u8]) -> Vec<u8> {
    packet(0x00, key, &[], &[])
}

fn set(key: &[u8], value: &[u8]) -> Vec<u8> {
    packet(0x01, key, &[0; 8], value)
}

const AUTH_ERROR: u16 = 0x20;
const AUTH_CONTINUE: u16 = 0x21;

#[test]
fn sasl_login_lets_commands_through_and_a_wrong_one_does_not() {
    let pwdb = CredentialsFile::new("pwdb", "alice:secret\n");
    let server = sasl_server(&pwdb, &[]);
    let mut c = connect(&server);
    c.write_all(&plain("alice", "wrong")).unwrap();
    assert_eq!(response(&mut c).1, AUTH_ERROR, "a wrong password fails");
    c.write_all(&plain("alice", "secret")).unwrap();
    assert_eq!(response(&mut c), (0x21, 0, b"Authenticated".to_vec()));
    c.write_all(&set(b"k", b"v")).unwrap();
    assert_eq!(response(&mut c).1, 0);
    c.write_all(&get(b"k")).unwrap();
    let (_, status, body) = response(&mut c);
    assert_eq!((status, &body[4..]), (0, &b"v"[..]));
}

/// memcached answers AUTH_ERROR before it reads a request's value; a
/// client that had not logged in could make the server buffer up to `-I`
/// bytes per connection (three connections sending 100 MiB SET values to
/// `-S -I 128m` took RSS from 3 to 388 MiB before any reply).
#[test]
fn regression_a_request_before_login_is_refused_before_its_body() {
    let pwdb = CredentialsFile::new("pwdb-early", "alice:secret\n");
    let server = sasl_server(&pwdb, &["-I", "128m", "-m", "512"]);
    let before = rss_kib(server.pid());
    let mut c = connect(&server);
    // The header and key of a 100 MiB SET, and only the first MiB of it.
    let value_len = 100 << 20;
    let mut head = set(b"k", b"");
    let body = (8 + 1 + value_len) as u32;
    head[8..12].copy_from_slice(&body.to_be_bytes());
    c.write_all(&head).unwrap();
    let _ = c.write_all(&vec![b'v'; 1 << 20]);
    let (_, status, _) = response(&mut c);
    assert_eq!(status, AUTH_ERROR, "refused without waiting for the value");
    let grown = rss_kib(server.pid()).saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "RSS grew {grown} KiB for a refused request"
    );
    // SASL data over the bound is refused (and discarded) unbuffered too.
    let mut c = connect(&server);
    let mut auth = plain("alice", "secret");
    let body = (5 + value_len) as u32;
    auth[8..12].copy_from_slice(&body.to_be_bytes());
    auth.truncate(24 + 5);
    c.write_all(&auth).unwrap();
    let (_, status, _) = response(&mut c);
    assert_eq!(status, 0x82, "OUT_OF_MEMORY for SASL data over the bound");
}

/// A SASL exchange that continues counts in neither `auth_cmds` nor
/// `auth_errors`, as in memcached (each step used to count).
#[test]
fn regression_auth_cmds_count_logins_not_exchange_steps() {
    let pwdb = CredentialsFile::new("pwdb-count", "alice:secret\n");
    let server = sasl_server(&pwdb, &[]);
    let mut c = connect(&server);
    c.write_all(&packet(0x21, b"PLAIN", &[], b"")).unwrap();
    assert_eq!(response(&mut c).1, AUTH_CONTINUE);
    c.write_all(&packet(0x22, b"PLAIN", &[], b"\0alice\0secret"))
        .unwrap();
    assert_eq!(response(&mut c).1, 0);
    c.write_all(&plain("alice", "wrong")).unwrap();
    assert_eq!(response(&mut c).1, AUTH_ERROR);
    c.write_all(&packet(0x10, b"", &[], b"")).unwrap();
    let mut stats = std::collections::HashMap::new();
    loop {
        let mut header = [0u8; 24];
        c.read_exact(&mut header).unwrap();
        let key_len = u16::from_be_bytes([header[2], header[3]]) as usize;
        let body_len = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
        let mut body = vec![0; body_len];
        c.read_exact(&mut body).unwrap();
        if key_len == 0 {
            break;
        }
        let (k, v) = body.split_at(key_len);
        stats.insert(
            String::from_utf8_lossy(k).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        );
    }
    assert_eq!(stats["auth_cmds"], "2");
    assert_eq!(stats["auth_errors"], "1");
}

#[test]
fn before_sasl_login_only_version_and_sasl_are_served() {
    let pwdb = CredentialsFile::new("pwdb-gate", "alice:secret\n");
    let server = sasl_server(&pwdb, &[]);
    let mut c = connect(&server);
    c.write_all(&packet(0x0b, b"", &[], b"")).unwrap();
    assert_eq!(response(&mut c).1, 0, "VERSION before login");
    c.write_all(&packet(0x20, b"", &[], b"")).unwrap();
    let (_, status, mechanisms) = response(&mut c);
    assert_eq!((status, &mechanisms[..]), (0, &b"PLAIN SCRAM-SHA-256"[..]));
    for refused in [
        get(b"k"),
        packet(0x09, b"k", &[], &[]),
        packet(0x0a, b"", &[], b""),
    ] {
        let mut c = connect(&server);
        c.write_all(&refused).unwrap();
        assert_eq!(response(&mut c).1, AUTH_ERROR);
        let mut rest = Vec::new();
        assert_eq!(c.read_to_end(&mut rest).ok(), Some(0), "then closed");
    }
    // A text client is told and closed at once.
    let mut t = connect(&server);
    t.write_all(b"get k\r\n").unwrap();
    let mut reply = Vec::new();
    t.read_to_end(&mut reply).unwrap();
    assert_eq!(
        reply,
        b"CLIENT_ERROR this server speaks only the binary protocol\r\n"
    );
}

/// memcached 1.6.43 closed ways around ascii auth (a binary client on a
/// negotiating listener); here `-Y` serves text only, and every command
/// (a get, a meta command, `quit`) is refused until the login `set`.
#[test]
fn ascii_auth_gates_every_text_command_and_refuses_binary() {
    let file = CredentialsFile::new("authfile", "alice:secret\n");
    let server = ascii_auth_server(&file);
    let mut c = connect(&server);
    c.write_all(b"get k\r\nmg k v\r\nversion\r\nset x 0 0 12\r\nalice wrong!\r\n")
        .unwrap();
    let expected: &[u8] = b"CLIENT_ERROR unauthenticated\r\n\
        CLIENT_ERROR unauthenticated\r\n\
        CLIENT_ERROR unauthenticated\r\n\
        CLIENT_ERROR authentication failure\r\n";
    let mut replies = vec![0u8; expected.len()];
    c.read_exact(&mut replies).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&replies),
        String::from_utf8_lossy(expected)
    );
    let mut c = server.connect();
    assert_eq!(
        c.call(b"set x 0 0 12\r\nalice secret\r\nset k 0 0 1\r\nv\r\nget k\r\n"),
        b"STORED\r\nSTORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n"
    );
    let mut b = connect(&server);
    b.write_all(&get(b"k")).unwrap();
    assert_eq!(response(&mut b).1, 0x81, "a binary client is refused");
    let mut rest = Vec::new();
    assert_eq!(b.read_to_end(&mut rest).ok(), Some(0), "then closed");
    let stats = String::from_utf8(c.call(b"stats\r\n")).unwrap();
    assert!(stats.contains("STAT auth_cmds 2\r\n"), "{stats}");
    assert!(stats.contains("STAT auth_errors 1\r\n"), "{stats}");
}

#[test]
fn sighup_reloads_credentials_and_keeps_them_when_the_file_is_bad() {
    let pwdb = CredentialsFile::new("pwdb-hup", "alice:old\n");
    let server = sasl_server(&pwdb, &[]);
    let login = |password: &str| {
        let mut c = connect(&server);
        c.write_all(&plain("alice", password)).unwrap();
        response(&mut c).1
    };
    assert_eq!(login("old"), 0);
    std::fs::write(&pwdb.0, "alice:new\n").unwrap();
    server.signal("HUP");
    assert!(
        eventually(Duration::from_secs(10), || login("new") == 0),
        "the new password works after SIGHUP"
    );
    assert_eq!(login("old"), AUTH_ERROR, "and the old one no longer");
    std::fs::remove_file(&pwdb.0).unwrap();
    server.signal("HUP");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(login("new"), 0, "a reload that fails keeps the credentials");
}

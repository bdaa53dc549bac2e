//! Auto-discovery against the real binary: `config get cluster` and the
//! legacy key byte for byte (every length computed here from the expected
//! text, not by the server's code), binary opcode 0x60, a server without a
//! node list answering as memcached, and the version across reloads
//! (SIGHUP and the file watcher) and restarts.

mod common;

use common::{user_args, Server, Stderr};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// A node file in a directory of the test's own, removed afterwards.
struct NodeFile {
    dir: PathBuf,
    path: PathBuf,
}

impl NodeFile {
    fn new(name: &str) -> NodeFile {
        let dir = std::env::temp_dir().join(format!("ferrocache-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nodes");
        NodeFile { dir, path }
    }

    /// Writes `text` and sets the file's modification time to `mtime`.
    fn write(&self, text: &str, mtime: u64) {
        // Written to a temporary name and renamed, as an operator's tool
        // would, so the server never reads half a file.
        let tmp = self.dir.join("nodes.tmp");
        std::fs::write(&tmp, text).unwrap();
        let f = std::fs::File::options().write(true).open(&tmp).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
            .unwrap();
        drop(f);
        std::fs::rename(&tmp, &self.path).unwrap();
    }

    fn option(&self) -> String {
        format!("cluster_nodes={}", self.path.display())
    }
}

impl Drop for NodeFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ferrocache(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "2", "-v"])
        .args(user_args())
        .args(args);
    cmd
}

fn start(file: &NodeFile) -> (Server, Stderr) {
    Server::with_stderr(ferrocache(&["-o", &file.option()]))
}

/// What `config get cluster` must answer for `payload`.
fn config_reply(payload: &str) -> Vec<u8> {
    format!("CONFIG cluster 0 {}\r\n{payload}\r\nEND\r\n", payload.len()).into_bytes()
}

const THREE: &str = "# three nodes, one without a known address, one IPv6\n\
                     node-c.example|10.0.0.3|11213\n\
                     node-a.example||11211\n\
                     node-b.example|2001:db8::2|11212\n";
const THREE_PAYLOAD: &str =
    "1700000000\nnode-a.example||11211 node-b.example|2001:db8::2|11212 node-c.example|10.0.0.3|11213\n";

#[test]
fn config_get_cluster_is_byte_exact_and_arrives_whole() {
    let file = NodeFile::new("exact");
    file.write(THREE, 1_700_000_000);
    let (server, _log) = start(&file);
    // 96 bytes of payload, counted by hand field by field.
    assert_eq!(THREE_PAYLOAD.len(), 11 + 21 + 1 + 32 + 1 + 29 + 1);
    let expected = config_reply(THREE_PAYLOAD);
    assert!(expected.starts_with(b"CONFIG cluster 0 96\r\n1700000000\n"));

    // Alone on a fresh connection, the reply comes in one read: it was
    // written at once (loopback delivers one write as one segment).
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"config get cluster\r\n").unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&buf[..n]),
        String::from_utf8_lossy(&expected)
    );

    let mut c = server.connect();
    // Pipelined with other commands, and repeated.
    let mut want = b"STORED\r\n".to_vec();
    want.extend_from_slice(&expected);
    want.extend_from_slice(&expected);
    assert_eq!(
        c.call(b"set k 0 0 1\r\nv\r\nconfig get cluster\r\nconfig get cluster\r\n"),
        want
    );
}

#[test]
fn other_config_forms() {
    let file = NodeFile::new("forms");
    file.write(THREE, 1_700_000_000);
    let (server, _log) = start(&file);
    let mut c = server.connect();
    // An unknown key: nothing found, as a read of a missing key.
    assert_eq!(c.call(b"config get nosuchkey\r\n"), b"END\r\n");
    // Malformed config lines are unknown commands.
    assert_eq!(c.call(b"config\r\n"), b"ERROR\r\n");
    assert_eq!(c.call(b"config get\r\n"), b"ERROR\r\n");
    assert_eq!(c.call(b"config get cluster extra\r\n"), b"ERROR\r\n");
    assert_eq!(c.call(b"config list cluster\r\n"), b"ERROR\r\n");
    // `version` stays memcached's dotted number (discovery clients parse
    // it to choose between `config get` and the legacy key).
    assert_eq!(c.call(b"version\r\n"), b"VERSION 1.6.18\r\n");
    let stats = String::from_utf8(c.call(b"stats\r\n")).unwrap();
    assert!(stats.contains("STAT version 1.6.18\r\n"), "{stats}");
    assert!(
        stats.contains("STAT libevent mio\r\n"),
        "how ferrocache is told apart: {stats}"
    );
}

#[test]
fn legacy_key_is_a_read_only_item() {
    let file = NodeFile::new("legacy");
    file.write(THREE, 1_700_000_000);
    let (server, _log) = start(&file);
    let mut c = server.connect();
    let item = format!(
        "VALUE AmazonElastiCache:cluster 0 {}\r\n{THREE_PAYLOAD}\r\n",
        THREE_PAYLOAD.len()
    );
    assert_eq!(
        String::from_utf8(c.call(b"get AmazonElastiCache:cluster\r\n")).unwrap(),
        format!("{item}END\r\n")
    );
    // Among other keys of a multi-get; gets shows CAS 0.
    assert_eq!(c.call(b"set k 0 0 1\r\nv\r\n"), b"STORED\r\n");
    assert_eq!(
        String::from_utf8(c.call(b"get k AmazonElastiCache:cluster nope\r\n")).unwrap(),
        format!("VALUE k 0 1\r\nv\r\n{item}END\r\n")
    );
    let gets = String::from_utf8(c.call(b"gets AmazonElastiCache:cluster\r\n")).unwrap();
    assert!(
        gets.starts_with(&format!(
            "VALUE AmazonElastiCache:cluster 0 {} 0\r\n",
            THREE_PAYLOAD.len()
        )),
        "{gets}"
    );
    // A write does not change what is served.
    let _ = c.call(b"set AmazonElastiCache:cluster 0 0 1\r\nx\r\n");
    assert_eq!(
        String::from_utf8(c.call(b"get AmazonElastiCache:cluster\r\n")).unwrap(),
        format!("{item}END\r\n")
    );
}

#[test]
fn without_a_node_list_config_is_unknown_as_in_memcached() {
    let server = Server::from_command(ferrocache(&[]));
    let mut c = server.connect();
    assert_eq!(c.call(b"config get cluster\r\n"), b"ERROR\r\n");
    assert_eq!(c.call(b"get AmazonElastiCache:cluster\r\n"), b"END\r\n");
    let reply = binary_call(&server, 0x60, b"cluster");
    assert_eq!(status(&reply), 0x0081);
    assert_eq!(&reply[24..], b"Unknown command");
}

/// One binary request with `key` and no extras or value; the reply packet.
fn binary_call(server: &Server, opcode: u8, key: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]); // extlen, datatype, vbucket
    p.extend_from_slice(&(key.len() as u32).to_be_bytes());
    p.extend_from_slice(&0xdead_beef_u32.to_be_bytes()); // opaque
    p.extend_from_slice(&[0; 8]); // cas
    p.extend_from_slice(key);
    let mut s = std::net::TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&p).unwrap();
    let mut head = [0u8; 24];
    s.read_exact(&mut head).unwrap();
    let body = u32::from_be_bytes([head[8], head[9], head[10], head[11]]) as usize;
    let mut reply = head.to_vec();
    reply.resize(24 + body, 0);
    s.read_exact(&mut reply[24..]).unwrap();
    assert_eq!(reply[0], 0x81, "response magic");
    assert_eq!(reply[1], opcode, "opcode echoed");
    assert_eq!(&reply[12..16], &0xdead_beef_u32.to_be_bytes(), "opaque");
    reply
}

fn status(reply: &[u8]) -> u16 {
    u16::from_be_bytes([reply[6], reply[7]])
}

#[test]
fn binary_config_get() {
    let file = NodeFile::new("binary");
    file.write(THREE, 1_700_000_000);
    let (server, _log) = start(&file);
    let reply = binary_call(&server, 0x60, b"cluster");
    assert_eq!(status(&reply), 0);
    assert_eq!(reply[4], 4, "extras: the 4-byte flags");
    assert_eq!(&reply[2..4], &[0, 0], "no key");
    let bodylen = u32::from_be_bytes([reply[8], reply[9], reply[10], reply[11]]);
    assert_eq!(bodylen as usize, 4 + THREE_PAYLOAD.len());
    assert_eq!(&reply[24..28], &[0, 0, 0, 0], "flags 0");
    assert_eq!(&reply[28..], THREE_PAYLOAD.as_bytes());

    let missing = binary_call(&server, 0x60, b"nosuchkey");
    assert_eq!(status(&missing), 0x0001);
    assert_eq!(&missing[24..], b"Not found");
    // The legacy key through a binary GET.
    let legacy = binary_call(&server, 0x00, b"AmazonElastiCache:cluster");
    assert_eq!(status(&legacy), 0);
    assert_eq!(&legacy[28..], THREE_PAYLOAD.as_bytes());
}

/// The payload's version line, from `config get cluster`.
fn version_of(server: &Server) -> (u64, String) {
    let reply = common::try_call(server.addr, b"config get cluster\r\n").unwrap();
    let text = String::from_utf8(reply).unwrap();
    let mut lines = text.split("\r\n").nth(1).unwrap().split('\n');
    let version = lines.next().unwrap().parse().unwrap();
    (version, lines.next().unwrap().to_string())
}

fn wait_version(server: &Server, at_least: u64) -> (u64, String) {
    let mut seen = version_of(server);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.0 < at_least && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        seen = version_of(server);
    }
    seen
}

#[test]
fn version_rises_with_membership_on_sighup_and_on_change() {
    let file = NodeFile::new("reload");
    file.write("a|10.0.0.1|11211\nb|10.0.0.2|11211\n", 1_700_000_000);
    let (server, log) = start(&file);
    assert_eq!(version_of(&server).0, 1_700_000_000);

    // Same membership, other order, new mtime: SIGHUP keeps the version.
    file.write("b|10.0.0.2|11211\na|10.0.0.1|11211\n", 1_700_000_100);
    server.signal("HUP");
    assert!(log.wait_for("config version 1700000000 stays", Duration::from_secs(10)));
    assert_eq!(version_of(&server).0, 1_700_000_000);

    // A node added, seen by SIGHUP: the file's time.
    file.write(
        "a|10.0.0.1|11211\nb|10.0.0.2|11211\nc||11211\n",
        1_700_000_200,
    );
    server.signal("HUP");
    assert!(log.wait_for("1700000000 -> 1700000200", Duration::from_secs(10)));
    assert_eq!(
        version_of(&server),
        (
            1_700_000_200,
            "a|10.0.0.1|11211 b|10.0.0.2|11211 c||11211".into()
        )
    );

    // A node removed, with no signal: the watcher sees it. The mtime is
    // set back, and the version still rises, by one.
    file.write("a|10.0.0.1|11211\nc||11211\n", 1_600_000_000);
    assert_eq!(
        wait_version(&server, 1_700_000_201),
        (1_700_000_201, "a|10.0.0.1|11211 c||11211".into())
    );

    // A bad file: one line in the log, the list in force stays.
    file.write("a|10.0.0.1|11211\nbroken line\n", 1_700_000_300);
    assert!(log.wait_for("line 2", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(2500));
    let complaints = log
        .lines()
        .iter()
        .filter(|l| l.contains("broken line"))
        .count();
    assert_eq!(complaints, 1, "{:?}", log.lines());
    assert_eq!(version_of(&server).0, 1_700_000_201);
}

#[test]
fn version_never_goes_back_across_a_restart() {
    let file = NodeFile::new("restart");
    file.write("a||1\nb||2\n", 1_700_000_000);
    let (first, _log) = start(&file);
    assert_eq!(version_of(&first).0, 1_700_000_000);
    file.write("a||1\nb||2\nc||3\n", 1_700_000_060);
    let before = wait_version(&first, 1_700_000_060);
    assert_eq!(before.0, 1_700_000_060);
    assert!(first.terminate().success());
    // The same file after a restart: the same version and list.
    let (second, _log) = start(&file);
    assert_eq!(version_of(&second), before);
    // A second node reading the same file at another moment agrees.
    let (other, _log) = start(&file);
    assert_eq!(version_of(&other), before);
}

#[test]
fn a_bad_node_file_stops_the_start() {
    let file = NodeFile::new("bad");
    file.write("nonsense\n", 1_700_000_000);
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["-p", "0", "-l", "127.0.0.1"])
        .args(user_args())
        .args(["-o", &file.option()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "EX_USAGE");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cluster_nodes") && err.contains("line 1"),
        "{err}"
    );
    let missing = Path::new("/nonexistent/ferrocache-nodes");
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["-p", "0", "-l", "127.0.0.1"])
        .args(user_args())
        .args(["-o", &format!("cluster_nodes={}", missing.display())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}

//! `config set cluster` / `config delete cluster` against the real binary,
//! byte for byte, in text and binary (0x64, 0x66): refused without
//! `-o cluster_admin`, the source of the list with it alone, a list that
//! stays until the node file changes, and behind `-Y` authentication.

mod common;

use common::{user_args, Server, Stderr};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, SystemTime};

fn ferrocache(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "2", "-v"])
        .args(user_args())
        .args(args);
    cmd
}

/// `config set cluster 0 <len>\r\n<payload>\r\n`, the length counted here.
fn set_request(payload: &str) -> Vec<u8> {
    format!("config set cluster 0 {}\r\n{payload}\r\n", payload.len()).into_bytes()
}

/// What `config get cluster` must answer for `payload`.
fn config_reply(payload: &str) -> Vec<u8> {
    format!("CONFIG cluster 0 {}\r\n{payload}\r\nEND\r\n", payload.len()).into_bytes()
}

/// One binary request; the reply packet.
fn binary(server: &Server, opcode: u8, key: &[u8], extras: &[u8], value: &[u8]) -> Vec<u8> {
    let body = extras.len() + key.len() + value.len();
    let mut p = vec![0x80, opcode];
    p.extend_from_slice(&(key.len() as u16).to_be_bytes());
    p.extend_from_slice(&[extras.len() as u8, 0, 0, 0]);
    p.extend_from_slice(&(body as u32).to_be_bytes());
    p.extend_from_slice(&0x0102_0304_u32.to_be_bytes());
    p.extend_from_slice(&[0; 8]);
    p.extend_from_slice(extras);
    p.extend_from_slice(key);
    p.extend_from_slice(value);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&p).unwrap();
    let mut reply = vec![0u8; 24];
    s.read_exact(&mut reply).unwrap();
    let len = u32::from_be_bytes([reply[8], reply[9], reply[10], reply[11]]) as usize;
    reply.resize(24 + len, 0);
    s.read_exact(&mut reply[24..]).unwrap();
    assert_eq!((reply[0], reply[1]), (0x81, opcode));
    assert_eq!(&reply[12..16], &0x0102_0304_u32.to_be_bytes(), "opaque");
    reply
}

fn status(reply: &[u8]) -> u16 {
    u16::from_be_bytes([reply[6], reply[7]])
}

#[test]
fn refused_without_cluster_admin() {
    let dir = std::env::temp_dir().join(format!("ferrocache-admin-off-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nodes");
    std::fs::write(&path, "a||11211\n").unwrap();
    let option = format!("cluster_nodes={}", path.display());
    for args in [&[][..], &["-o", option.as_str()][..]] {
        let server = Server::from_command(ferrocache(args));
        let mut c = server.connect();
        // The data block is read with its command: one ERROR for both.
        assert_eq!(c.call(&set_request("9\nz||1\n")), b"ERROR\r\n", "{args:?}");
        assert_eq!(c.call(b"config delete cluster\r\n"), b"ERROR\r\n");
        let set = binary(&server, 0x64, b"cluster", &[0; 4], b"9\nz||1\n");
        assert_eq!(status(&set), 0x0081);
        assert_eq!(&set[24..], b"Unknown command");
        let delete = binary(&server, 0x66, b"cluster", &[], &[]);
        assert_eq!(status(&delete), 0x0081);
        if !args.is_empty() {
            let get = c.call(b"config get cluster\r\n");
            let payload = String::from_utf8(get).unwrap();
            assert!(payload.ends_with("\na||11211\n\r\nEND\r\n"), "{payload}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn text_set_and_delete_with_no_other_source() {
    let server = Server::from_command(ferrocache(&["-o", "cluster_admin"]));
    let mut c = server.connect();
    assert_eq!(c.call(b"config get cluster\r\n"), b"END\r\n", "no list yet");
    assert_eq!(c.call(b"get AmazonElastiCache:cluster\r\n"), b"END\r\n");
    assert_eq!(c.call(b"config delete cluster\r\n"), b"NOT_FOUND\r\n");

    let payload = "12\nnode-b|10.0.0.2|11212 node-a||11211\n";
    assert_eq!(c.call(&set_request(payload)), b"STORED\r\n");
    let sorted = "12\nnode-a||11211 node-b|10.0.0.2|11212\n";
    assert_eq!(c.call(b"config get cluster\r\n"), config_reply(sorted));
    let legacy = format!(
        "VALUE AmazonElastiCache:cluster 0 {}\r\n{sorted}\r\nEND\r\n",
        sorted.len()
    );
    assert_eq!(
        c.call(b"get AmazonElastiCache:cluster\r\n"),
        legacy.as_bytes()
    );

    // A lower version for a new list: one above the one served.
    assert_eq!(c.call(&set_request("3\nnode-a||11211\n")), b"STORED\r\n");
    assert_eq!(
        c.call(b"config get cluster\r\n"),
        config_reply("13\nnode-a||11211\n")
    );

    // Refusals, each byte for byte, and nothing changed by them.
    assert_eq!(
        c.call(&set_request("x\nnode-a||11211\n")),
        b"CLIENT_ERROR bad cluster config\r\n"
    );
    assert_eq!(
        c.call(b"config set cluster 0 3\r\nabcde\r\n"),
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    );
    assert_eq!(
        c.call(b"config set other 0 7\r\n1\na||1\n\r\n"),
        b"NOT_STORED\r\n"
    );
    assert_eq!(c.call(b"config delete other\r\n"), b"NOT_FOUND\r\n");
    assert_eq!(
        c.call(b"config set cluster 0\r\n"),
        b"ERROR\r\n",
        "a set without its length"
    );
    assert_eq!(
        c.call(b"config set cluster x 5\r\n"),
        b"CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        c.call(b"config get cluster\r\n"),
        config_reply("13\nnode-a||11211\n")
    );

    assert_eq!(c.call(b"config delete cluster\r\n"), b"DELETED\r\n");
    assert_eq!(c.call(b"config get cluster\r\n"), b"END\r\n");
    assert_eq!(c.call(b"config delete cluster\r\n"), b"NOT_FOUND\r\n");
}

#[test]
fn binary_set_and_delete() {
    let server = Server::from_command(ferrocache(&["-o", "cluster_admin"]));
    let payload = b"40\nn1|10.0.0.1|11211\n";
    let set = binary(&server, 0x64, b"cluster", &7u32.to_be_bytes(), payload);
    assert_eq!(status(&set), 0, "{set:?}");
    assert_eq!(&set[8..12], &[0, 0, 0, 0], "no body");
    let get = binary(&server, 0x60, b"cluster", &[], &[]);
    assert_eq!(status(&get), 0);
    assert_eq!(&get[24..28], &[0, 0, 0, 0], "flags 0");
    assert_eq!(&get[28..], payload);
    let bad = binary(&server, 0x64, b"cluster", &[0; 4], b"nonsense");
    assert_eq!(status(&bad), 0x0004, "invalid arguments");
    let delete = binary(&server, 0x66, b"cluster", &[], &[]);
    assert_eq!(status(&delete), 0);
    assert_eq!(&delete[8..12], &[0, 0, 0, 0], "no body");
    let again = binary(&server, 0x66, b"cluster", &[], &[]);
    assert_eq!(status(&again), 0x0001);
    assert_eq!(&again[24..], b"Not found");
    let get = binary(&server, 0x60, b"cluster", &[], &[]);
    assert_eq!(status(&get), 0x0001, "no list: not found");
}

#[test]
fn a_set_list_stays_until_the_node_file_changes() {
    let dir = std::env::temp_dir().join(format!("ferrocache-admin-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nodes");
    let write = |text: &str, mtime: u64| {
        let tmp = dir.join("nodes.tmp");
        std::fs::write(&tmp, text).unwrap();
        let f = std::fs::File::options().write(true).open(&tmp).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime))
            .unwrap();
        drop(f);
        std::fs::rename(&tmp, &path).unwrap();
    };
    write("a||1\n", 1_700_000_000);
    let option = format!("cluster_nodes={},cluster_admin", path.display());
    let (server, log): (Server, Stderr) = Server::with_stderr(ferrocache(&["-o", option.as_str()]));
    let mut c = server.connect();
    assert_eq!(c.call(&set_request("5\nz||9\n")), b"STORED\r\n");
    assert_eq!(
        c.call(b"config get cluster\r\n"),
        config_reply("1700000001\nz||9\n")
    );
    // The file read again with the same nodes: the set list stays.
    write("# the same\na||1\n", 1_700_000_050);
    server.signal("HUP");
    assert!(log.wait_for("config version 1700000001 stays", Duration::from_secs(10)));
    assert_eq!(
        c.call(b"config get cluster\r\n"),
        config_reply("1700000001\nz||9\n")
    );
    // Its membership changes: the file wins, at its time.
    write("a||1\nb||2\n", 1_700_000_100);
    server.signal("HUP");
    assert!(log.wait_for("1700000001 -> 1700000100", Duration::from_secs(10)));
    assert_eq!(
        c.call(b"config get cluster\r\n"),
        config_reply("1700000100\na||1 b||2\n")
    );
    assert_eq!(c.call(b"config delete cluster\r\n"), b"NOT_FOUND\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn behind_ascii_authentication() {
    let dir = std::env::temp_dir().join(format!("ferrocache-admin-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let auth = dir.join("authfile");
    std::fs::write(&auth, "alice:secret\n").unwrap();
    std::fs::set_permissions(&auth, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let server = Server::from_command(ferrocache(&[
        "-Y",
        auth.to_str().unwrap(),
        "-o",
        "cluster_admin",
    ]));
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"config delete cluster\r\nconfig get cluster\r\n")
        .unwrap();
    let expected: &[u8] = b"CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR unauthenticated\r\n";
    let mut got = vec![0u8; expected.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
    // Logged in, the same connection may.
    let mut c = server.connect();
    assert_eq!(
        c.call(b"set x 0 0 12\r\nalice secret\r\nconfig delete cluster\r\n"),
        b"STORED\r\nNOT_FOUND\r\n"
    );
    assert_eq!(c.call(&set_request("2\na||1\n")), b"STORED\r\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `-o cluster_state`: a node restarted (SIGTERM, then started again)
/// serves the list it was given by `config set` at the same version, and a
/// later change goes above it; `-o cluster_state` alone is refused.
#[test]
fn a_set_list_and_its_version_survive_a_restart_with_cluster_state() {
    let dir = std::env::temp_dir().join(format!("ferrocache-admin-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("cluster.state");
    let _ = std::fs::remove_file(&state);
    let option = format!("cluster_admin,cluster_state={}", state.display());
    let payload = "9000000000\nnode-a||11211 node-b|10.0.0.2|11212\n";
    {
        let server = Server::from_command(ferrocache(&["-o", &option]));
        let mut c = server.connect();
        assert_eq!(c.call(&set_request(payload)), b"STORED\r\n");
        assert_eq!(server.terminate().code(), Some(0));
    }
    let server = Server::from_command(ferrocache(&["-o", &option]));
    let mut c = server.connect();
    assert_eq!(c.call(b"config get cluster\r\n"), config_reply(payload));
    assert_eq!(c.call(&set_request("4\nnode-a||11211\n")), b"STORED\r\n");
    assert_eq!(
        c.call(b"config get cluster\r\n"),
        config_reply("9000000001\nnode-a||11211\n")
    );
    drop(server);

    let out = ferrocache(&["-o", &format!("cluster_state={}", state.display())])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "EX_USAGE");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("-o cluster_state: give a node source"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

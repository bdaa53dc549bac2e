//! End-to-end tests of the ferrocache binary: byte-exact request/reply
//! tables (with 1 and 4 worker threads), the connection limit, back-pressure,
//! shutdown, the UNIX socket and command-line errors.

mod common;

use common::{rss_kib, Client, Server};
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

/// (request bytes, exact reply bytes), run in order on one connection.
const WIRE_TABLE: &[(&str, &str)] = &[
    ("set k 5 0 3\r\nabc\r\n", "STORED\r\n"),
    ("get k\r\n", "VALUE k 5 3\r\nabc\r\nEND\r\n"),
    (
        "get k missing k\r\n",
        "VALUE k 5 3\r\nabc\r\nVALUE k 5 3\r\nabc\r\nEND\r\n",
    ),
    ("add k 0 0 1\r\nx\r\n", "NOT_STORED\r\n"),
    ("replace nope 0 0 1\r\nx\r\n", "NOT_STORED\r\n"),
    ("append k 0 0 2\r\nde\r\n", "STORED\r\n"),
    ("prepend k 0 0 2\r\nzz\r\n", "STORED\r\n"),
    ("get k\r\n", "VALUE k 5 7\r\nzzabcde\r\nEND\r\n"),
    ("cas nope 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n"),
    ("set n 0 0 2\r\n10\r\n", "STORED\r\n"),
    ("incr n 5\r\n", "15\r\n"),
    ("decr n 100\r\n", "0\r\n"),
    ("get n\r\n", "VALUE n 0 2\r\n0 \r\nEND\r\n"),
    (
        "incr n 18446744073709551615\r\n",
        "18446744073709551615\r\n",
    ),
    ("incr n 2\r\n", "1\r\n"),
    (
        "incr k 1\r\n",
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    ),
    ("incr nope 1\r\n", "NOT_FOUND\r\n"),
    (
        "incr n abc\r\n",
        "CLIENT_ERROR invalid numeric delta argument\r\n",
    ),
    ("touch k 100\r\n", "TOUCHED\r\n"),
    ("touch nope 100\r\n", "NOT_FOUND\r\n"),
    ("gat 100 k\r\n", "VALUE k 5 7\r\nzzabcde\r\nEND\r\n"),
    ("delete k\r\n", "DELETED\r\n"),
    ("delete k\r\n", "NOT_FOUND\r\n"),
    ("delete k 0\r\n", "NOT_FOUND\r\n"),
    (
        "delete k 5\r\n",
        "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
    ),
    ("set q 0 0 1 noreply\r\nq\r\n", ""),
    ("get q\r\n", "VALUE q 0 1\r\nq\r\nEND\r\n"),
    ("set neg 0 -1 1\r\nx\r\n", "STORED\r\n"),
    ("get neg\r\n", "END\r\n"),
    (
        "set bad 0 0 3\r\nabcde\r\n",
        "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
    ),
    (
        "set bad 0 0 x\r\n",
        "CLIENT_ERROR bad command line format\r\n",
    ),
    ("set bad 0 0\r\n", "ERROR\r\n"),
    ("bogus\r\n", "ERROR\r\n"),
    ("\r\n", "ERROR\r\n"),
    ("get k\n", "END\r\n"),
    ("verbosity 1\r\n", "OK\r\n"),
    (
        "cache_memlimit 4\r\n",
        "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n",
    ),
    ("cache_memlimit 64\r\n", "OK\r\n"),
    ("shutdown\r\n", "ERROR: shutdown not enabled\r\n"),
    ("stats bogus\r\n", "ERROR\r\n"),
    ("stats reset\r\n", "RESET\r\n"),
    ("flush_all\r\n", "OK\r\n"),
    ("get q\r\n", "END\r\n"),
    ("flush_all 0 noreply\r\n", ""),
];

fn run_wire_table(threads: &str) {
    let server = Server::ferrocache(&["-t", threads]);
    let mut c = server.connect();
    for (request, reply) in WIRE_TABLE {
        let got = c.call(request.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&got),
            *reply,
            "request {request:?} with -t {threads}"
        );
    }
    // The same table pipelined in one write gives the same bytes.
    let server = Server::ferrocache(&["-t", threads]);
    let mut c = server.connect();
    let all: String = WIRE_TABLE.iter().map(|(q, _)| *q).collect();
    let expected: String = WIRE_TABLE.iter().map(|(_, r)| *r).collect();
    assert_eq!(String::from_utf8_lossy(&c.call(all.as_bytes())), expected);
}

#[test]
fn wire_table_one_thread() {
    run_wire_table("1");
}

#[test]
fn wire_table_four_threads() {
    run_wire_table("4");
}

#[test]
fn gets_and_cas_round_trip() {
    let server = Server::ferrocache(&["-t", "2"]);
    let mut c = server.connect();
    assert_eq!(c.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");
    let reply = String::from_utf8(c.call(b"gets k\r\n")).unwrap();
    let cas: u64 = reply
        .lines()
        .next()
        .unwrap()
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let stale = format!("cas k 0 0 1 {}\r\nb\r\n", cas + 1);
    assert_eq!(c.call(stale.as_bytes()), b"EXISTS\r\n");
    let good = format!("cas k 0 0 1 {cas}\r\nc\r\n");
    assert_eq!(c.call(good.as_bytes()), b"STORED\r\n");
    assert_eq!(c.call(good.as_bytes()), b"EXISTS\r\n");
    assert_eq!(c.call(b"get k\r\n"), b"VALUE k 0 1\r\nc\r\nEND\r\n");
}

#[test]
fn oversized_value_is_swallowed_and_connection_stays_in_sync() {
    let server = Server::ferrocache(&["-t", "1", "-I", "1k", "-m", "8"]);
    let mut c = server.connect();
    assert_eq!(c.call(b"set big 0 0 1\r\nx\r\n"), b"STORED\r\n");
    let mut req = b"set big 0 0 5000\r\n".to_vec();
    req.extend(std::iter::repeat_n(b'v', 5000));
    req.extend_from_slice(b"\r\nget big\r\n");
    assert_eq!(
        String::from_utf8_lossy(&c.call(&req)),
        "SERVER_ERROR object too large for cache\r\nEND\r\n",
        "a failed set also removes the old value"
    );
}

#[test]
fn many_keys_and_values_near_the_limit() {
    let server = Server::ferrocache(&["-t", "2"]);
    let mut c = server.connect();
    let value = vec![b'x'; 1024 * 1024 - 48 - 8 - 3 - 1 - 2];
    let mut req = format!("set big 0 0 {}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    assert_eq!(c.call(&req), b"STORED\r\n");
    let got = c.call(b"get big\r\n");
    assert_eq!(
        got.len(),
        value.len() + "VALUE big 0 1048520\r\n\r\nEND\r\n".len()
    );
    let keys: Vec<String> = (0..500).map(|i| format!("key{i}")).collect();
    let mut req = Vec::new();
    for k in &keys {
        req.extend_from_slice(format!("set {k} 0 0 {}\r\n{k}\r\n", k.len()).as_bytes());
    }
    assert_eq!(c.call(&req), "STORED\r\n".repeat(500).as_bytes());
    let got = String::from_utf8(c.call(format!("get {}\r\n", keys.join(" ")).as_bytes())).unwrap();
    let expected: String = keys
        .iter()
        .map(|k| format!("VALUE {k} 0 {}\r\n{k}\r\n", k.len()))
        .collect::<String>()
        + "END\r\n";
    assert_eq!(got, expected);
}

#[test]
fn connection_limit_rejects_only_the_extra_client() {
    let server = Server::ferrocache(&["-t", "2", "-c", "2"]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");
    assert_eq!(b.call(b"get k\r\n"), b"VALUE k 0 1\r\na\r\nEND\r\n");
    let mut extra = server.connect();
    assert_eq!(
        extra.read_to_close(),
        b"ERROR Too many open connections\r\n"
    );
    // Everyone else keeps working, and a freed slot is reusable.
    assert_eq!(a.call(b"get k\r\n"), b"VALUE k 0 1\r\na\r\nEND\r\n");
    drop(b);
    let mut retry = (0..100)
        .find_map(|_| {
            let mut c = server.connect();
            c.send(b"version\r\n");
            let mut buf = [0u8; 64];
            let n = c.stream.read(&mut buf).unwrap_or(0);
            buf[..n].starts_with(b"VERSION").then_some(c)
        })
        .expect("a slot frees up after a client leaves");
    assert_eq!(retry.call(b"get k\r\n"), b"VALUE k 0 1\r\na\r\nEND\r\n");
    let stats = String::from_utf8(a.call(b"stats\r\n")).unwrap();
    assert!(stats.contains("STAT rejected_connections "), "{stats}");
    assert!(
        !stats.contains("STAT rejected_connections 0\r\n"),
        "{stats}"
    );
}

/// Stores a value of `len` bytes of `v` under `key`.
fn store_value(c: &mut Client, key: &str, len: usize) {
    let mut req = format!("set {key} 0 0 {len}\r\n").into_bytes();
    req.extend(std::iter::repeat_n(b'v', len));
    req.extend_from_slice(b"\r\n");
    assert_eq!(c.call(&req), b"STORED\r\n");
}

#[test]
fn a_client_that_does_not_read_cannot_eat_memory() {
    let server = Server::ferrocache(&["-t", "1", "-m", "64"]);
    let mut setup = server.connect();
    store_value(&mut setup, "big", 512 * 1024);
    let before = rss_kib(server.pid());
    // 400 gets of 512 KiB = 200 MiB of replies the client never reads.
    let mut hog = server.connect();
    hog.stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let burst = b"get big\r\n".repeat(400);
    let _ = hog.stream.write_all(&burst);
    // Another client is still served while the hog sits there.
    assert_eq!(setup.call(b"set small 0 0 1\r\nx\r\n"), b"STORED\r\n");
    let grown = rss_kib(server.pid()).saturating_sub(before);
    assert!(
        grown < 48 * 1024,
        "RSS grew by {grown} KiB for an unread pipeline"
    );
    // Nothing was lost: the hog can still read every reply in order.
    hog.stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let one = "VALUE big 0 524288\r\n".len() + 524288 + 2 + 5;
    let (total, _) = hog.read_at_least(one * 400);
    assert_eq!(total, one * 400);
}

#[test]
fn sigterm_exits_zero_after_replying() {
    let server = Server::ferrocache(&["-t", "2"]);
    let mut c = server.connect();
    assert_eq!(c.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(c.read_to_close().is_empty());
}

#[test]
fn shutdown_command_with_dash_a() {
    let mut server = Server::ferrocache(&["-t", "1", "-A"]);
    let mut c = server.connect();
    assert_eq!(
        c.call(b"shutdown bogus\r\n"),
        b"CLIENT_ERROR invalid shutdown mode\r\n"
    );
    c.send(b"shutdown\r\n");
    assert!(c.read_to_close().is_empty());
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert!(status.success());
}

#[test]
fn quit_flushes_earlier_replies_then_closes() {
    let server = Server::ferrocache(&["-t", "1"]);
    let mut c = server.connect();
    c.send(b"set k 0 0 1\r\na\r\nget k\r\nquit\r\nget k\r\n");
    assert_eq!(c.read_to_close(), b"STORED\r\nVALUE k 0 1\r\na\r\nEND\r\n");
}

#[test]
fn http_request_and_junk_lines_close_the_connection() {
    let server = Server::ferrocache(&["-t", "1"]);
    let mut c = server.connect();
    c.send(b"GET / HTTP/1.1\r\n");
    assert!(c.read_to_close().is_empty());
    let mut c = server.connect();
    c.send(&[b'x'; 3000]);
    assert!(c.read_to_close().is_empty());
    // A long multi-get line is read whole.
    let mut c = server.connect();
    let keys: Vec<String> = (0..1000).map(|i| format!("k{i}")).collect();
    assert_eq!(
        c.call(format!("get {}\r\n", keys.join(" ")).as_bytes()),
        b"END\r\n"
    );
}

#[test]
fn unix_socket() {
    use std::os::unix::net::UnixStream;
    let dir = std::env::temp_dir().join(format!("ferrocache-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fc.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["-s", path.to_str().unwrap(), "-a", "0770", "-t", "1"])
        .spawn()
        .unwrap();
    let mut stream = (0..500)
        .find_map(|_| {
            UnixStream::connect(&path).ok().or_else(|| {
                std::thread::sleep(Duration::from_millis(10));
                None
            })
        })
        .expect("unix socket comes up");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o770);
    stream
        .write_all(b"set u 0 0 1\r\nx\r\nget u\r\nquit\r\n")
        .unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"STORED\r\nVALUE u 0 1\r\nx\r\nEND\r\n");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_command_lines_exit_nonzero_with_one_line() {
    for args in [
        &["-m", "abc"][..],
        &["-t", "0"],
        &["-f", "1.0"],
        &["-I", "100"],
        &["-o", "nonsense=1"],
        &["-U", "11211"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("ferrocache: "), "{err}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8(help.stdout)
        .unwrap()
        .contains("[default: 1024]"));
}

#[test]
fn stats_report_activity() {
    let server = Server::ferrocache(&["-t", "4"]);
    let mut c = server.connect();
    c.call(b"set a 0 0 1\r\n1\r\nget a\r\nget b\r\ndelete a\r\n");
    let stats = String::from_utf8(c.call(b"stats\r\n")).unwrap();
    for line in [
        "STAT cmd_get 2\r\n",
        "STAT get_hits 1\r\n",
        "STAT get_misses 1\r\n",
        "STAT cmd_set 1\r\n",
        "STAT delete_hits 1\r\n",
        "STAT curr_items 0\r\n",
        "STAT total_items 1\r\n",
        "STAT threads 4\r\n",
        "STAT limit_maxbytes 67108864\r\n",
    ] {
        assert!(stats.contains(line), "missing {line:?} in\n{stats}");
    }
    assert!(stats.ends_with("END\r\n"));
    let conns = String::from_utf8(c.call(b"stats conns\r\n")).unwrap();
    assert!(conns.contains(":state conn_parse_cmd\r\n"), "{conns}");
    assert!(conns.contains(":state conn_listening\r\n"), "{conns}");
    let settings = String::from_utf8(c.call(b"stats settings\r\n")).unwrap();
    assert!(settings.contains("STAT maxconns 1024\r\n"), "{settings}");
    assert!(
        settings.contains("STAT item_size_max 1048576\r\n"),
        "{settings}"
    );
}

#[test]
fn concurrent_clients_see_consistent_data() {
    let server = Server::ferrocache(&["-t", "4"]);
    let mut c = server.connect();
    assert_eq!(c.call(b"set counter 0 0 1\r\n0\r\n"), b"STORED\r\n");
    std::thread::scope(|scope| {
        for t in 0..8 {
            let server = &server;
            scope.spawn(move || {
                let mut c = server.connect();
                for i in 0..300 {
                    let k = format!("t{t}-{i}");
                    let set = format!("set {k} {t} 0 {}\r\n{k}\r\n", k.len());
                    assert_eq!(c.call(set.as_bytes()), b"STORED\r\n");
                    let got = c.call(format!("get {k}\r\n").as_bytes());
                    assert_eq!(
                        got,
                        format!("VALUE {k} {t} {}\r\n{k}\r\nEND\r\n", k.len()).as_bytes()
                    );
                    let n = String::from_utf8(c.call(b"incr counter 1\r\n")).unwrap();
                    assert!(n.trim().parse::<u64>().is_ok(), "{n}");
                }
            });
        }
    });
    let got = String::from_utf8(c.call(b"get counter\r\n")).unwrap();
    let value: u64 = got.lines().nth(1).unwrap().trim().parse().unwrap();
    assert_eq!(value, 8 * 300, "every increment counted once: {got}");
}

#[test]
fn disable_evictions_answers_out_of_memory_and_keeps_old_items() {
    let server = Server::ferrocache(&["-t", "2", "-m", "8", "-M"]);
    let mut c = server.connect();
    let value = "v".repeat(10_000);
    let mut failed_at = None;
    for i in 0..2000 {
        let reply = c.call(format!("set key{i} 0 0 {}\r\n{value}\r\n", value.len()).as_bytes());
        if reply != b"STORED\r\n" {
            assert_eq!(
                String::from_utf8_lossy(&reply),
                "SERVER_ERROR out of memory storing object\r\n"
            );
            failed_at = Some(i);
            break;
        }
    }
    let failed_at = failed_at.expect("8 MB cannot hold 20 MB");
    assert!(
        failed_at > 500,
        "stored only {failed_at} items of 10 kB in 8 MB"
    );
    let first = c.call(b"get key0\r\n");
    assert!(
        first.starts_with(b"VALUE key0 0 10000\r\n"),
        "-M never evicts"
    );
    let stats = String::from_utf8(c.call(b"stats\r\n")).unwrap();
    assert!(stats.contains("STAT evictions 0\r\n"), "{stats}");
    assert!(!stats.contains("STAT store_no_memory 0\r\n"), "{stats}");
}

#[test]
fn evictions_keep_memory_under_the_limit() {
    let server = Server::ferrocache(&["-t", "2", "-m", "8"]);
    let mut c = server.connect();
    let value = "v".repeat(10_000);
    for i in 0..3000 {
        let reply = c.call(format!("set key{i} 0 0 {}\r\n{value}\r\n", value.len()).as_bytes());
        assert_eq!(reply, b"STORED\r\n", "set {i}");
    }
    assert!(c.call(b"get key2999\r\n").starts_with(b"VALUE key2999 "));
    assert_eq!(
        c.call(b"get key0\r\n"),
        b"END\r\n",
        "the oldest item was evicted"
    );
    let stats = String::from_utf8(c.call(b"stats\r\n")).unwrap();
    let field = |name: &str| -> u64 {
        let prefix = format!("STAT {name} ");
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(field("evictions") > 1000);
    assert!(field("bytes") <= 8 << 20);
}

#[test]
fn idle_timeout_closes_idle_connections() {
    let server = Server::ferrocache(&["-t", "1", "-o", "idle_timeout=1"]);
    let mut idle = server.connect();
    assert_eq!(idle.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");
    // Closed by the server within a few seconds (read timeout is 10 s).
    assert!(idle.read_to_close().is_empty());
    let mut c = server.connect();
    let stats = String::from_utf8(c.call(b"stats\r\n")).unwrap();
    assert!(stats.contains("STAT idle_kicks 1\r\n"), "{stats}");
}

#[test]
fn pidfile_is_written_and_removed() {
    let path = std::env::temp_dir().join(format!("ferrocache-pid-{}", std::process::id()));
    let server = Server::ferrocache(&["-t", "1", "-P", path.to_str().unwrap()]);
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written.trim(), server.pid().to_string());
    assert!(server.terminate().success());
    assert!(!path.exists(), "pidfile removed on exit");
}

#[test]
fn disabled_flush_and_cas() {
    let server = Server::ferrocache(&["-t", "1", "-F", "-C"]);
    let mut c = server.connect();
    assert_eq!(c.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");
    assert_eq!(
        c.call(b"flush_all\r\n"),
        b"CLIENT_ERROR flush_all not allowed\r\n"
    );
    assert_eq!(c.call(b"gets k\r\n"), b"VALUE k 0 1 0\r\na\r\nEND\r\n");
    let stats = String::from_utf8(c.call(b"stats settings\r\n")).unwrap();
    assert!(stats.contains("STAT flush_enabled no\r\n"), "{stats}");
    assert!(stats.contains("STAT cas_enabled no\r\n"), "{stats}");
}

#[test]
fn delayed_flush_all_takes_effect_later() {
    let server = Server::ferrocache(&["-t", "1"]);
    let mut c = server.connect();
    assert_eq!(c.call(b"set k 0 0 1\r\na\r\n"), b"STORED\r\n");
    assert_eq!(c.call(b"flush_all 2\r\n"), b"OK\r\n");
    assert_eq!(c.call(b"get k\r\n"), b"VALUE k 0 1\r\na\r\nEND\r\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.call(b"get k\r\n") != b"END\r\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "the delayed flush never happened"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(c.call(b"set k 0 0 1\r\nb\r\n"), b"STORED\r\n");
    assert_eq!(c.call(b"get k\r\n"), b"VALUE k 0 1\r\nb\r\nEND\r\n");
}

// Regression tests for the first code review's findings (post-mortems in
// the comments).

/// A multi-get of many 1 MB hits from a client that does not read used to
/// copy every hit into the write buffer at once (2.6 GB RSS for a 6 KB
/// request). It now pauses once 1 MiB is queued and resumes as the client reads.
#[test]
fn regression_multiget_from_a_slow_reader_is_bounded() {
    let server = Server::ferrocache(&["-t", "1", "-m", "64"]);
    let mut setup = server.connect();
    store_value(&mut setup, "a", 1000 * 1000);
    let before = rss_kib(server.pid());
    let mut hog = server.connect();
    let keys = vec!["a"; 3000].join(" ");
    hog.send(format!("get {keys}\r\n").as_bytes());
    // Others are served meanwhile, and memory stays bounded.
    assert_eq!(setup.call(b"get nothing\r\n"), b"END\r\n");
    let grown = rss_kib(server.pid()).saturating_sub(before);
    assert!(grown < 48 * 1024, "RSS grew by {grown} KiB");
    // The hog still gets all 3000 values, in order, then END.
    hog.stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let one = "VALUE a 0 1000000\r\n".len() + 1000 * 1000 + 2;
    let (total, tail) = hog.read_at_least(one * 3000 + 5);
    assert_eq!(total, one * 3000 + 5);
    assert!(tail.ends_with(b"\r\nEND\r\n"));
}

/// SIGTERM used to make one write attempt and close, cutting a slow
/// reader's replies mid-value; pending replies are now written (bounded grace).
#[test]
fn regression_sigterm_finishes_pending_replies() {
    let server = Server::ferrocache(&["-t", "1"]);
    let mut c = server.connect();
    store_value(&mut c, "a", 500 * 1000);
    // 10 gets = 5 MB of replies, more than the socket buffers hold.
    c.send(&b"get a\r\n".repeat(10));
    // The first bytes of the replies mean the server is writing them.
    let mut first = vec![0u8; 64 * 1024];
    let started = c.stream.read(&mut first).unwrap();
    assert!(started > 0);
    let reader = std::thread::spawn(move || c.read_to_close());
    server.signal("TERM");
    let got = reader.join().unwrap();
    let one = "VALUE a 0 500000\r\n".len() + 500 * 1000 + 2 + 5;
    assert_eq!(
        started + got.len(),
        one * 10,
        "every pending reply arrived before the close"
    );
    assert!(server.wait().success());
}

/// `-o idle_timeout` used to close connections whose replies were still
/// being written to a slow reader; only idle ones are closed now.
#[test]
fn regression_idle_timeout_spares_connections_with_pending_replies() {
    let server = Server::ferrocache(&["-t", "1", "-o", "idle_timeout=1"]);
    let mut c = server.connect();
    store_value(&mut c, "a", 500 * 1000);
    c.send(&b"get a\r\n".repeat(20));
    std::thread::sleep(Duration::from_secs(3));
    let one = "VALUE a 0 500000\r\n".len() + 500 * 1000 + 2 + 5;
    let (total, _) = c.read_at_least(one * 20);
    assert_eq!(total, one * 20);
}

/// Out of file descriptors, the acceptor used to stop draining its
/// (edge-triggered) listener until another client arrived; it now retries.
#[test]
fn regression_accept_recovers_after_running_out_of_fds() {
    // `exec` keeps the pid, so the Server still owns (and kills) it.
    let mut bash = Command::new("bash");
    bash.args([
        "-c",
        &format!(
            "ulimit -n 40 && exec {} -p 0 -l 127.0.0.1 -t 1",
            env!("CARGO_BIN_EXE_ferrocache")
        ),
    ]);
    let server = Server::from_command(bash);
    let addr = server.addr;
    let mut clients: Vec<std::net::TcpStream> = (0..60)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    // Free descriptors (most of them were queued in the backlog, unaccepted):
    // the 20 clients left must now all be served.
    clients.drain(..40);
    std::thread::sleep(Duration::from_millis(300));
    let mut served = 0;
    for s in clients.iter_mut() {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 64];
        if s.write_all(b"version\r\n").is_ok()
            && matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"VERSION"))
        {
            served += 1;
        }
    }
    drop(server);
    assert_eq!(
        served, 20,
        "queued clients were served once descriptors freed up"
    );
}

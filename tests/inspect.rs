//! The inspection commands against the release binary: the per-class
//! operation counters of `stats slabs` (and `hits_to_cold`), `stats reset`
//! clearing them and `stats detail`, `stats cachedump`, `lru_crawler
//! metadump` / `mgdump`, `-X`; compared with Debian's memcached 1.6.18
//! where it answers the same thing (times, item sizes and the order of
//! dump lines masked or sorted: they differ by design).

mod common;

use common::{Client, Server};
use std::io::{Read, Write};

/// Sends `request` alone (memcached refuses anything pipelined before a
/// metadump) and reads until the reply ends with `end`.
fn until(c: &mut Client, request: &str, end: &str) -> String {
    c.send(request.as_bytes());
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while !out.ends_with(end.as_bytes()) {
        let n = c.stream.read(&mut buf).expect("read");
        assert!(n > 0, "closed; got {:?}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(out).expect("utf-8")
}

/// [`until`] on a new connection, again while memcached answers `BUSY`
/// (its crawler may still be finishing the previous dump).
fn dump(server: &Server, request: &str, end: &str) -> String {
    for _ in 0..100 {
        let reply = until(&mut server.connect(), request, end);
        if !reply.starts_with("BUSY") {
            return reply;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{request:?}: still busy");
}

fn call(c: &mut Client, request: &str) -> String {
    String::from_utf8(c.call(request.as_bytes())).expect("utf-8")
}

/// `STAT <prefix><name> <value>` lines of a listing whose name starts with
/// `prefix`, as (name, value).
fn stats_with(listing: &str, prefix: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|l| l.strip_prefix("STAT "))
        .filter_map(|l| l.split_once(' '))
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The same small workload on a fresh server; every item is in class 1 on
/// both servers. Returns the per-class operation fields of class 1.
fn class_ops_after_workload(server: &Server) -> Vec<(String, String)> {
    let mut c = server.connect();
    call(&mut c, "set a 0 0 1\r\nx\r\nget a b\r\ngets a\r\n");
    let gets = call(&mut c, "gets a\r\n");
    let cas: u64 = gets.split_whitespace().nth(4).unwrap().parse().unwrap();
    let workload = format!(
        "cas a 0 0 1 {}\r\ny\r\ncas a 0 0 1 {cas}\r\ny\r\ncas zz 0 0 1 1\r\ny\r\n\
         set n 0 0 1\r\n5\r\nincr n 1\r\ndecr n 1\r\nincr q 1\r\n\
         touch a 10\r\ntouch q 10\r\ndelete n\r\ndelete q\r\ngat 10 a\r\n\
         add a 0 0 1\r\nz\r\n",
        cas + 100
    );
    call(&mut c, &workload);
    let slabs = call(&mut c, "stats slabs\r\n");
    let names = [
        "get_hits",
        "cmd_set",
        "delete_hits",
        "incr_hits",
        "decr_hits",
        "cas_hits",
        "cas_badval",
        "touch_hits",
    ];
    stats_with(&slabs, "1:")
        .into_iter()
        .filter(|(n, _)| names.contains(&&n[2..]))
        .collect()
}

#[test]
fn per_class_counters_match_memcached() {
    let ours = Server::ferrocache(&[]);
    let theirs = Server::memcached(&[]);
    let got = class_ops_after_workload(&ours);
    let want = class_ops_after_workload(&theirs);
    assert_eq!(got, want, "stats slabs per-class counters");
    // In memcached's order, with the values the workload implies.
    let expected = [
        ("1:get_hits", "3"),
        ("1:cmd_set", "6"),
        ("1:delete_hits", "1"),
        ("1:incr_hits", "1"),
        ("1:decr_hits", "1"),
        ("1:cas_hits", "1"),
        ("1:cas_badval", "1"),
        ("1:touch_hits", "2"),
    ];
    let got: Vec<(&str, &str)> = got.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    assert_eq!(got, expected);
    // Every item is cold here: the class's hits are its hits_to_cold.
    let mut c = ours.connect();
    let items = call(&mut c, "stats items\r\n");
    let hits = stats_with(&items, "items:1:hits_to_");
    assert_eq!(
        hits,
        [
            ("items:1:hits_to_hot".to_string(), "0".to_string()),
            ("items:1:hits_to_warm".into(), "0".into()),
            ("items:1:hits_to_cold".into(), "3".into()),
            ("items:1:hits_to_temp".into(), "0".into()),
        ]
    );
}

#[test]
fn stats_reset_clears_class_counters_and_detail() {
    let server = Server::ferrocache(&[]);
    let mut c = server.connect();
    call(
        &mut c,
        "stats detail on\r\nset p:1 0 0 1\r\nx\r\nget p:1\r\n",
    );
    let before = call(&mut c, "stats slabs\r\nstats detail dump\r\n");
    assert!(before.contains("STAT 1:get_hits 1\r\n"), "{before}");
    assert!(
        before.contains("PREFIX p get 1 hit 1 set 1 del 0\r\n"),
        "{before}"
    );
    assert_eq!(call(&mut c, "stats reset\r\n"), "RESET\r\n");
    let after = call(&mut c, "stats slabs\r\nstats detail dump\r\n");
    assert!(after.contains("STAT 1:get_hits 0\r\n"), "{after}");
    assert!(after.contains("STAT 1:cmd_set 0\r\n"), "{after}");
    assert!(
        after.ends_with("STAT total_malloced 1048576\r\nEND\r\nEND\r\n"),
        "{after}"
    );
    // Still on after the reset, as in memcached.
    call(&mut c, "get p:1\r\n");
    let again = call(&mut c, "stats detail dump\r\n");
    assert_eq!(again, "PREFIX p get 1 hit 1 set 0 del 0\r\nEND\r\n");
}

/// Sets the same keys on a server: ones URL-encoding must change, one
/// with an expiry, one that is read.
fn fill(server: &Server) {
    let mut c = server.connect();
    call(
        &mut c,
        "set a:1 0 0 1\r\nx\r\nset b%c 3 0 2\r\nxy\r\nset t~_.- 0 1000 1\r\nx\r\nget a:1\r\n",
    );
}

/// A metadump's lines with `la`, `exp` (times) and `size` (item sizes
/// differ by design) masked, sorted (memcached interleaves classes).
fn masked(dump: &str) -> Vec<String> {
    let mut lines: Vec<String> = dump
        .lines()
        .map(|l| {
            l.split(' ')
                .map(|w| match w.split_once('=') {
                    Some(("la" | "size", _)) => format!("{}=*", &w[..2]),
                    Some(("exp", v)) if v != "-1" => "exp=*".to_string(),
                    _ => w.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn metadump_matches_memcached() {
    let ours = Server::ferrocache(&[]);
    let theirs = Server::memcached(&[]);
    fill(&ours);
    fill(&theirs);
    for scope in ["all", "1", "1,2", "hash"] {
        let request = format!("lru_crawler metadump {scope}\r\n");
        let got = dump(&ours, &request, "END\r\n");
        let want = dump(&theirs, &request, "END\r\n");
        assert_eq!(masked(&got), masked(&want), "metadump {scope}");
        assert!(got.contains("key=a%3A1 exp=-1 "), "{got}");
        assert!(got.contains("key=b%25c exp=-1 "), "{got}");
        assert!(got.contains("key=t~_.- exp=1"), "{got}");
    }
    let ours_line = until(
        &mut ours.connect(),
        "lru_crawler metadump all\r\n",
        "END\r\n",
    );
    assert!(
        ours_line.contains(" cas=1 fetch=yes cls=1 size=36\r\n"),
        "{ours_line}"
    );
    for request in [
        "lru_crawler metadump 0\r\n",
        "lru_crawler metadump 64\r\n",
        "lru_crawler metadump x\r\n",
        "lru_crawler metadump\r\n",
        "lru_crawler metadump 5\r\n",
    ] {
        let end = if request.ends_with(" 5\r\n") {
            "END\r\n"
        } else {
            "\r\n"
        };
        let got = dump(&ours, request, end);
        let want = dump(&theirs, request, end);
        assert_eq!(got, want, "{request:?}");
    }
}

#[test]
fn cachedump_lists_a_class() {
    let ours = Server::ferrocache(&[]);
    let theirs = Server::memcached(&[]);
    fill(&ours);
    let mut c = ours.connect();
    let dump = call(&mut c, "stats cachedump 1 0\r\n");
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 4, "{dump}");
    // Most recently used first; the expiry as a Unix time.
    assert!(lines[0].starts_with("ITEM t~_.- [1 b; 1"), "{dump}");
    assert!(lines[0].ends_with(" s]"), "{dump}");
    assert_eq!(
        &lines[1..],
        ["ITEM b%c [2 b; 0 s]", "ITEM a:1 [1 b; 0 s]", "END"]
    );
    assert_eq!(
        call(&mut c, "stats cachedump 1 1\r\n").lines().count(),
        2,
        "the limit"
    );
    // What memcached answers the same (its own items are listed from its
    // cold LRU only, so the lists themselves are not compared).
    let mut m = theirs.connect();
    for request in [
        "stats cachedump 2 0\r\n",
        "stats cachedump 64 0\r\n",
        "stats cachedump 1\r\n",
        "stats cachedump x 1\r\n",
    ] {
        assert_eq!(call(&mut c, request), call(&mut m, request), "{request:?}");
    }
}

#[test]
fn mgdump_lists_keys_and_ends_with_en() {
    let server = Server::ferrocache(&[]);
    fill(&server);
    let dump = until(
        &mut server.connect(),
        "lru_crawler mgdump all\r\n",
        "EN\r\n",
    );
    let mut lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.pop(), Some("EN"));
    lines.sort();
    assert_eq!(lines, ["mg a:1", "mg b%c", "mg t~_.-"]);
    let none = until(&mut server.connect(), "lru_crawler mgdump 9\r\n", "EN\r\n");
    assert_eq!(none, "EN\r\n");
}

#[test]
fn dash_x_refuses_dumps_as_memcached() {
    let ours = Server::ferrocache(&["-X"]);
    let theirs = Server::memcached(&["-X"]);
    for request in [
        "stats cachedump 1 0\r\n",
        "stats cachedump 1\r\n",
        "lru_crawler metadump all\r\n",
        "lru_crawler metadump 99\r\n",
    ] {
        let got = until(&mut ours.connect(), request, "\r\n");
        let want = until(&mut theirs.connect(), request, "\r\n");
        assert_eq!(got, want, "{request:?}");
    }
    let got = until(&mut ours.connect(), "lru_crawler mgdump all\r\n", "\r\n");
    assert_eq!(got, "ERROR key dump not allowed\r\n");
}

/// A dump larger than the reply buffer pauses and resumes: every item is
/// listed once, and the server keeps serving the connection afterwards.
#[test]
fn large_metadump_pages_through_the_reply_buffer() {
    let server = Server::ferrocache(&["-m", "64"]);
    let mut c = server.connect();
    const N: usize = 40_000;
    let mut sets = Vec::new();
    for i in 0..N {
        write!(sets, "set key:{i:06} 0 0 10 noreply\r\n0123456789\r\n").unwrap();
    }
    c.send(&sets);
    assert_eq!(call(&mut c, "get key:000000\r\n").lines().count(), 3);
    let dump = until(&mut c, "lru_crawler metadump all\r\n", "END\r\n");
    assert!(
        dump.len() > 2 << 20,
        "{} bytes: larger than the buffer",
        dump.len()
    );
    let mut keys: Vec<&str> = dump
        .lines()
        .filter_map(|l| l.strip_prefix("key="))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(keys.len(), N);
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), N, "each item once");
    assert_eq!(call(&mut c, "get nothing\r\n"), "END\r\n");
}

/// A client that asks for a dump and never reads costs the server about
/// one reply buffer, not the dump's size.
#[test]
fn a_dump_nobody_reads_stays_bounded() {
    let server = Server::ferrocache(&["-m", "256"]);
    let mut c = server.connect();
    const N: usize = 300_000;
    let mut sets = Vec::new();
    for i in 0..N {
        write!(sets, "set key:{i:07} 0 0 10 noreply\r\n0123456789\r\n").unwrap();
    }
    c.send(&sets);
    assert_eq!(call(&mut c, "get key:0000000\r\n").lines().count(), 3);
    let before = common::rss_kib(server.pid());
    // About 23 MB of metadump lines, three times over, never read.
    let mut idle = server.connect();
    idle.send(b"lru_crawler metadump all\r\n".repeat(3).as_slice());
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let grown = common::rss_kib(server.pid()).saturating_sub(before);
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB");
    // The server still serves others.
    assert_eq!(call(&mut c, "get nothing\r\n"), "END\r\n");
}

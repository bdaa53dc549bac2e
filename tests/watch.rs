//! `watch fetchers mutations evictions` against the release binary,
//! compared line for line with Debian's memcached 1.6.18 (times, line ids
//! and connection ids masked), a watcher that never reads (memory stays
//! bounded, the lines it missed are announced as `skipped=N`), and the
//! refusals.

mod common;

use common::{rss_kib, stat, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A connection that sent `watch <kinds>` and got `OK`.
fn watcher(server: &Server, kinds: &str) -> TcpStream {
    let mut s = server.connect().stream;
    s.write_all(format!("watch {kinds}\r\n").as_bytes())
        .unwrap();
    let mut ok = [0u8; 4];
    s.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"OK\r\n");
    s
}

/// Reads `n` lines from a watcher (within 10 s).
fn lines(s: &mut TcpStream, n: usize) -> Vec<String> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut text = String::new();
    let mut buf = vec![0u8; 1 << 16];
    while text.matches('\n').count() < n {
        let got = s.read(&mut buf).expect("lines within 10 s");
        assert!(got > 0, "watcher closed after {text:?}");
        text.push_str(std::str::from_utf8(&buf[..got]).unwrap());
    }
    text.lines().map(str::to_string).collect()
}

/// `ts=`, `gid=` and `cfd=` masked; the gids checked to rise.
fn masked(lines: &[String]) -> Vec<String> {
    let mut last_gid = 0;
    lines
        .iter()
        .map(|line| {
            let fields: Vec<String> = line
                .split(' ')
                .map(|f| match f.split_once('=') {
                    Some(("ts", v)) => {
                        let (s, us) = v.split_once('.').expect("ts=<s>.<us>");
                        assert!(s.parse::<u64>().is_ok() && us.parse::<u32>().unwrap() < 1_000_000);
                        "ts=*".into()
                    }
                    Some(("gid", v)) => {
                        let gid: u64 = v.parse().unwrap();
                        assert!(gid > last_gid, "gids rise: {gid} after {last_gid}");
                        last_gid = gid;
                        "gid=*".into()
                    }
                    Some(("cfd", _)) => "cfd=*".into(),
                    _ => f.to_string(),
                })
                .collect();
            fields.join(" ")
        })
        .collect()
}

/// The same requests to both servers while each has a watcher of `kinds`;
/// the `expect` lines each streams, masked.
fn watched(
    args: &[&str],
    setup: &[&[u8]],
    kinds: &str,
    requests: &[&[u8]],
    expect: usize,
) -> (Vec<String>, Vec<String>) {
    let run = |server: Server| {
        let mut c = server.connect();
        for r in setup {
            c.call(r);
        }
        let mut w = watcher(&server, kinds);
        for r in requests {
            c.call(r);
        }
        let got = lines(&mut w, expect);
        masked(&got)
    };
    (run(Server::ferrocache(args)), run(Server::memcached(args)))
}

#[test]
fn fetchers_match_memcached() {
    let mut big = b"set big 0 0 5000\r\n".to_vec();
    big.extend_from_slice(&[b'x'; 5000]);
    big.extend_from_slice(b"\r\n");
    let setup: [&[u8]; 3] = [
        b"set a 0 0 3\r\nabc\r\n",
        b"set k\x01:% 5 0 2\r\nhi\r\n",
        &big,
    ];
    let requests: &[&[u8]] = &[
        b"get a\r\n",
        b"get missing\r\n",
        b"gets a missing big\r\n",
        b"gat 100 a\r\n",
        b"touch a 0\r\n",
        b"touch missing 0\r\n",
        b"get k\x01:%\r\n",
        b"mg a v\r\n",
        b"mg missing v\r\n",
    ];
    let (ours, theirs) = watched(&[], &setup, "fetchers", requests, 11);
    assert_eq!(ours, theirs);
    assert_eq!(
        ours[0],
        "ts=* gid=* type=item_get key=a status=found clsid=1 cfd=* size=3"
    );
    assert!(
        ours.iter().any(|l| l.contains(" key=k%01%3A%25 ")),
        "{ours:?}"
    );
}

#[test]
fn mutations_match_memcached() {
    let requests: &[&[u8]] = &[
        b"set a 0 0 1\r\n1\r\n",
        b"add a 0 0 1\r\n2\r\n",
        b"add b 0 100 1\r\n2\r\n",
        b"replace missing 0 0 1\r\n3\r\n",
        b"replace a 0 0 2\r\n33\r\n",
        b"append a 0 0 2\r\n44\r\n",
        b"prepend a 0 0 1\r\n5\r\n",
        b"prepend missing 0 0 1\r\n5\r\n",
        b"cas a 0 0 1 999999\r\n6\r\n",
        b"cas missing 0 0 1 1\r\n6\r\n",
        b"set k\xff 7 0 3\r\nabc\r\n",
        b"ms m 2\r\nhi\r\n",
        b"ms m 2 MA\r\nho\r\n",
    ];
    let (ours, theirs) = watched(&[], &[], "mutations", requests, 13);
    assert_eq!(ours, theirs);
    assert_eq!(
        ours[5],
        "ts=* gid=* type=item_store key=a status=stored cmd=append ttl=0 clsid=1 cfd=* size=4"
    );
}

/// Both servers evict under `-m 2`; every eviction line has memcached's
/// fields, and the first evicted keys are the oldest stored.
#[test]
fn evictions_are_streamed_as_memcached_streams_them() {
    let args = ["-m", "2", "-I", "512k"];
    let value = vec![b'v'; 500];
    let fill = |server: &Server| {
        let mut c = server.connect();
        let mut batch = Vec::new();
        for i in 0..8000 {
            batch.extend_from_slice(format!("set key{i} 0 0 500 noreply\r\n").as_bytes());
            batch.extend_from_slice(&value);
            batch.extend_from_slice(b"\r\n");
        }
        c.call(&batch);
    };
    for server in [Server::ferrocache(&args), Server::memcached(&args)] {
        let mut w = watcher(&server, "evictions");
        fill(&server);
        let got = masked(&lines(&mut w, 100));
        for line in &got[..100] {
            let fields: Vec<&str> = line.split(' ').collect();
            assert_eq!(fields[..3], ["ts=*", "gid=*", "type=eviction"], "{line}");
            let names: Vec<&str> = fields[3..]
                .iter()
                .map(|f| f.split('=').next().unwrap())
                .collect();
            assert_eq!(
                names,
                ["key", "fetch", "ttl", "la", "clsid", "size"],
                "{line}"
            );
            assert!(line.contains(" fetch=no ttl=-1 "), "{line}");
            assert!(line.ends_with(" size=500"), "{line}");
        }
        assert!(
            got[0].contains(" key=key0 "),
            "the oldest goes first: {}",
            got[0]
        );
    }
}

/// A watcher that never reads: the server keeps at most its queue's
/// bound for it, tells it how many lines it missed, and serves everyone
/// else meanwhile.
#[test]
fn a_watcher_that_never_reads_stays_bounded() {
    let server = Server::ferrocache(&["-m", "64"]);
    let mut idle = watcher(&server, "fetchers mutations");
    let before = rss_kib(server.pid());
    let mut c = server.connect();
    let key = "k".repeat(200);
    let mut batch = Vec::new();
    for _ in 0..1000 {
        batch
            .extend_from_slice(format!("set {key} 0 0 1 noreply\r\nx\r\nget {key}\r\n").as_bytes());
    }
    let started = Instant::now();
    for _ in 0..100 {
        // 200,000 lines of ~300 bytes: 60 MB if nothing were dropped.
        let reply = c.call(&batch);
        assert_eq!(
            reply.len(),
            1000 * (b"VALUE  0 1\r\nx\r\nEND\r\n".len() + 200)
        );
    }
    let grown = rss_kib(server.pid()).saturating_sub(before);
    assert!(
        grown < 8 * 1024,
        "RSS grew {grown} KiB for a watcher that never reads"
    );
    let skipped: u64 = stat(&server, "log_watcher_skipped").parse().unwrap();
    let sent: u64 = stat(&server, "log_watcher_sent").parse().unwrap();
    assert_eq!(sent + skipped, 200_000, "every line queued or counted");
    assert!(skipped > 100_000, "{skipped} skipped");
    assert_eq!(stat(&server, "log_watchers"), "1");
    // Now it reads: the queued lines, then `skipped=N` before the next
    // line that fits (a `get marker` sent while the queue is still full is
    // skipped too, so one is sent on every turn until one comes through).
    let mut text = Vec::new();
    idle.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 16];
    while !contains_marker(&text) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no marker line"
        );
        c.call(b"get marker\r\n");
        loop {
            match idle.read(&mut buf) {
                Ok(0) => panic!("the watcher was closed"),
                Ok(n) => text.extend_from_slice(&buf[..n]),
                Err(_) => break, // nothing more for now
            }
        }
    }
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("\nskipped="), "the gap is announced");
    drop(idle);
    assert!(common::eventually(Duration::from_secs(5), || stat(
        &server,
        "log_watchers"
    ) == "0"));
}

/// Regression: a client that sends `watch` and closes in the same burst
/// (`printf 'watch evictions\r\n' | nc -q0`) left its connection and its
/// watcher slot behind, since its FIN came with the command and no later
/// readiness edge ever came; with no evictions nothing was written to it
/// either. 25 of them (more than the 20 watcher slots) must all go.
#[test]
fn a_watcher_that_closes_right_after_watch_is_closed() {
    let server = Server::ferrocache(&[]);
    let baseline = common::curr_connections(&server);
    for _ in 0..25 {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.write_all(b"watch evictions\r\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"OK\r\n");
    }
    assert!(common::eventually(Duration::from_secs(5), || {
        stat(&server, "log_watchers") == "0" && common::curr_connections(&server) == baseline
    }));
    // The slots are free again.
    drop(watcher(&server, "fetchers"));
    assert!(common::eventually(Duration::from_secs(5), || {
        common::close_wait_count(server.addr.port()) == 0
    }));
}

fn contains_marker(text: &[u8]) -> bool {
    String::from_utf8_lossy(text).contains("key=marker status=not_found")
}

#[test]
fn refusals_and_the_watcher_limit_as_memcached() {
    for server in [Server::ferrocache(&[]), Server::memcached(&[])] {
        let mut c = server.connect();
        assert_eq!(c.call(b"watch nonsense\r\n"), b"ERROR\r\n");
        // The connection is still usable after a refusal.
        assert_eq!(c.call(b"get a\r\n"), b"END\r\n");
        let watchers: Vec<TcpStream> = (0..20).map(|_| watcher(&server, "fetchers")).collect();
        let mut one_more = server.connect();
        assert_eq!(
            one_more.call(b"watch\r\n"),
            b"WATCHER_TOO_MANY log watcher limit reached\r\n"
        );
        drop(watchers);
        assert!(common::eventually(Duration::from_secs(5), || {
            let mut s = server.connect().stream;
            s.write_all(b"watch mutations\r\n").unwrap();
            let mut ok = [0u8; 4];
            s.read_exact(&mut ok).is_ok() && &ok == b"OK\r\n"
        }));
    }
    let server = Server::ferrocache(&[]);
    let mut c = server.connect();
    assert_eq!(
        c.call(b"watch rawcmds\r\n"),
        b"CLIENT_ERROR watch streams fetchers, mutations and evictions only\r\n"
    );
    // What follows `watch` in the same write is dropped, as memcached
    // drops it: the watcher gets OK and then lines only.
    let mut w = server.connect().stream;
    w.write_all(b"watch fetchers\r\nset x 0 0 1\r\ny\r\n")
        .unwrap();
    let mut ok = [0u8; 4];
    w.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"OK\r\n");
    assert_eq!(
        c.call(b"get x\r\n"),
        b"END\r\n",
        "the pipelined set was dropped"
    );
    let got = lines(&mut w, 1);
    assert!(
        got[0].contains(" type=item_get key=x status=not_found clsid=0 "),
        "{got:?}"
    );
}

//! Runs libmemcached's protocol checker, `memccapable -a` (its 27 ASCII
//! protocol tests) and `memccapable -b` (its 27 binary protocol tests),
//! against ferrocache with one and with four worker threads, and against
//! Debian's memcached to prove that the harness itself reads the output
//! right. Every test must pass.
//!
//! memccapable prints one line per test, `<name padded to 40> [pass]` (a
//! failing test prints `[FAIL]` on stderr, sometimes after the server's
//! unexpected reply in brackets), then `All tests passed` or
//! `N of M tests failed`. stdout and stderr go to one file so the two stay in
//! order.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::Server;

const MEMCCAPABLE: &str = "/usr/bin/memccapable";
/// How many tests memccapable (libmemcached-tools 1.1) runs per protocol.
const EXPECTED_TESTS: usize = 27;

/// Which of memccapable's test sets to run.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Ascii,
    Binary,
}

impl Protocol {
    fn flag(self) -> &'static str {
        match self {
            Protocol::Ascii => "-a",
            Protocol::Binary => "-b",
        }
    }
}
/// The whole run is killed after this long.
const RUN_LIMIT: Duration = Duration::from_secs(120);
/// Per I/O operation timeout handed to memccapable (`-t`), so that a server
/// that does not answer fails that one test instead of stalling the run.
const IO_TIMEOUT_SECS: &str = "5";

/// The outcome of one memccapable test.
#[derive(Debug, PartialEq)]
enum Verdict {
    Pass,
    Fail,
    Skip,
    /// No verdict printed (memccapable died or was killed mid-test).
    Unknown,
}

#[derive(Debug)]
struct TestResult {
    name: String,
    verdict: Verdict,
    /// Everything memccapable printed for this test after its name.
    detail: String,
}

/// Runs memccapable with `args` plus `-h 127.0.0.1 -p PORT`, bounded by
/// `limit`; returns its combined stdout+stderr and its exit status (None if
/// it had to be killed).
fn run_memccapable(
    addr: std::net::SocketAddr,
    args: &[&str],
    limit: Duration,
) -> (String, Option<ExitStatus>) {
    assert!(
        Path::new(MEMCCAPABLE).exists(),
        "{MEMCCAPABLE} is missing: apt-get install -y libmemcached-tools"
    );
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let out_path = std::env::temp_dir().join(format!(
        "ferrocache-memccapable-{}-{}-{nanos}.out",
        std::process::id(),
        addr.port()
    ));
    let out = File::create(&out_path).expect("create memccapable output file");
    let mut child = Command::new(MEMCCAPABLE)
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().expect("dup output file")))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {MEMCCAPABLE}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait memccapable") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let bytes = std::fs::read(&out_path).expect("read memccapable output");
    let _ = std::fs::remove_file(&out_path);
    (String::from_utf8_lossy(&bytes).into_owned(), status)
}

/// Splits memccapable's output into per-test results. A test starts on a line
/// beginning with `ascii ` or `binary `; its name is the first 40 columns.
fn parse(output: &str) -> (Vec<TestResult>, Vec<String>) {
    let mut results: Vec<TestResult> = Vec::new();
    let mut summary = Vec::new();
    for line in output.split('\n') {
        let line = line.trim_end_matches('\r');
        if line.starts_with("ascii ") || line.starts_with("binary ") {
            let split = line.char_indices().nth(40).map_or(line.len(), |(i, _)| i);
            results.push(TestResult {
                name: line[..split].trim().to_string(),
                verdict: Verdict::Unknown,
                detail: line[split..].to_string(),
            });
        } else if line.contains("tests passed") || line.contains("tests failed") {
            summary.push(line.trim().to_string());
        } else if let Some(last) = results.last_mut() {
            last.detail.push('\n');
            last.detail.push_str(line);
        }
    }
    for r in &mut results {
        // The verdict is the first one printed after the test name.
        let verdicts = [
            ("[pass]", Verdict::Pass),
            ("[FAIL]", Verdict::Fail),
            ("[skip]", Verdict::Skip),
        ];
        r.verdict = verdicts
            .into_iter()
            .filter_map(|(tag, v)| r.detail.find(tag).map(|at| (at, v)))
            .min_by_key(|(at, _)| *at)
            .map_or(Verdict::Unknown, |(_, v)| v);
    }
    (results, summary)
}

/// Runs `memccapable -a` or `-b` against the server at `addr` and fails
/// with a per-test report unless all 27 tests passed.
fn check(addr: std::net::SocketAddr, protocol: Protocol, what: &str) {
    let started = Instant::now();
    let flag = protocol.flag();
    let (output, status) = run_memccapable(addr, &[flag, "-t", IO_TIMEOUT_SECS], RUN_LIMIT);
    let (results, summary) = parse(&output);
    let passed = results
        .iter()
        .filter(|r| r.verdict == Verdict::Pass)
        .count();
    let bad: Vec<&TestResult> = results
        .iter()
        .filter(|r| r.verdict != Verdict::Pass)
        .collect();

    let ok = status.is_some_and(|s| s.success())
        && bad.is_empty()
        && passed == EXPECTED_TESTS
        && results.len() == EXPECTED_TESTS
        && summary.iter().any(|s| s == "All tests passed");
    if ok {
        eprintln!(
            "memccapable {flag} against {what}: {passed}/{EXPECTED_TESTS} passed in {:?}",
            started.elapsed()
        );
        return;
    }

    // Re-run each failing test alone with -v for memccapable's assertion text.
    let mut report = String::new();
    for r in &bad {
        report.push_str(&format!(
            "\n--- {} [{:?}] output: {:?}",
            r.name,
            r.verdict,
            r.detail.trim()
        ));
        if r.verdict == Verdict::Fail && started.elapsed() < RUN_LIMIT {
            let (verbose, _) = run_memccapable(
                addr,
                &[flag, "-v", "-t", IO_TIMEOUT_SECS, "-T", &r.name],
                Duration::from_secs(30),
            );
            let asserts: Vec<&str> = verbose
                .lines()
                .filter(|l| l.contains("memcapable.cc:"))
                .collect();
            report.push_str(&format!("\n    alone with -v: {}", asserts.join(" | ")));
        }
    }
    panic!(
        "memccapable {flag} against {what}: {passed} of {EXPECTED_TESTS} expected tests passed \
         ({} test lines parsed, exit status {}, summary {:?}); not passing:{report}\n\
         full output:\n{output}",
        results.len(),
        status.map_or("none: killed after 120 s".to_string(), |s| s.to_string()),
        summary,
    );
}

#[test]
fn memccapable_ascii_ferrocache_one_thread() {
    let server = Server::ferrocache(&["-t", "1"]);
    check(server.addr, Protocol::Ascii, "ferrocache -t 1");
}

#[test]
fn memccapable_ascii_ferrocache_four_threads() {
    let server = Server::ferrocache(&["-t", "4"]);
    check(server.addr, Protocol::Ascii, "ferrocache -t 4");
}

/// The same run against the reference server: if this fails, the harness
/// (or the installed memccapable) is at fault, not ferrocache.
#[test]
fn memccapable_ascii_reference_memcached() {
    let server = Server::memcached(&["-t", "4"]);
    check(server.addr, Protocol::Ascii, "memcached (reference)");
}

#[test]
fn memccapable_binary_ferrocache_one_thread() {
    let server = Server::ferrocache(&["-t", "1"]);
    check(server.addr, Protocol::Binary, "ferrocache -t 1");
}

#[test]
fn memccapable_binary_ferrocache_four_threads() {
    let server = Server::ferrocache(&["-t", "4"]);
    check(server.addr, Protocol::Binary, "ferrocache -t 4");
}

/// A binary-only server (`-B binary`) passes them too.
#[test]
fn memccapable_binary_ferrocache_binary_only() {
    let server = Server::ferrocache(&["-t", "2", "-B", "binary"]);
    check(server.addr, Protocol::Binary, "ferrocache -B binary");
}

#[test]
fn memccapable_binary_reference_memcached() {
    let server = Server::memcached(&["-t", "4"]);
    check(server.addr, Protocol::Binary, "memcached (reference)");
}

#[test]
fn parser_reads_failures_and_server_replies() {
    let out = "ascii version                           [pass]\n\
               ascii set                               [ERROR\r\n]\n\n[FAIL]\n\
               ascii stat                              \n[FAIL]\n\
               2 of 3 tests failed\n";
    let (results, summary) = parse(out);
    let got: Vec<(&str, &Verdict)> = results
        .iter()
        .map(|r| (r.name.as_str(), &r.verdict))
        .collect();
    assert_eq!(
        got,
        vec![
            ("ascii version", &Verdict::Pass),
            ("ascii set", &Verdict::Fail),
            ("ascii stat", &Verdict::Fail)
        ]
    );
    assert!(results[1].detail.contains("[ERROR"));
    assert_eq!(summary, vec!["2 of 3 tests failed".to_string()]);
}

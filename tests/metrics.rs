//! The metrics endpoint (`-o metrics_listen`) and hot keys (`-o hotkeys`)
//! against the release binary: scraped with curl, the exposition parsed by
//! the Python `prometheus_client` OpenMetrics parser, scraped again by a
//! real Prometheus server (Debian's `prometheus`) whose query API must
//! agree with `stats`; and `stats hotkeys` under a skewed load.
//!
//! Needs curl, /usr/bin/prometheus and `.venv` with prometheus_client
//! (scripts/test.sh installs all three); a missing one fails the test.

mod common;

use common::{free_port, stat, Server};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// ferrocache with its metrics endpoint on a free port, and that port.
fn with_endpoint(extra: &[&str]) -> (Server, u16) {
    let port = free_port();
    let option = format!("metrics_listen=127.0.0.1:{port}");
    let mut args = vec!["-o", &option];
    args.extend_from_slice(extra);
    (Server::ferrocache(&args), port)
}

/// GET `url` with curl; the body, or `None` when nothing answered.
fn curl(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "10", url])
        .output()
        .expect("run curl (apt-get install curl)");
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).expect("utf-8"))
}

fn scrape(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    let mut body = None;
    assert!(
        common::eventually(Duration::from_secs(10), || {
            body = curl(&url);
            body.is_some()
        }),
        "{url} does not answer"
    );
    body.unwrap()
}

/// One parsed sample: family, type, help, sample name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    family: String,
    kind: String,
    help: String,
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parses an exposition with `prometheus_client`'s OpenMetrics parser
/// (strict: it refuses a family twice, a sample outside its family, a
/// missing `# EOF`), one tab-separated line per sample.
fn parse(text: &str) -> Vec<Sample> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test.sh creates it from tests/python/requirements.txt",
        python.display()
    );
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        print("\t".join([f.name, f.type, f.documentation, s.name, labels, repr(float(s.value))]))
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the parser refused the exposition");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Sample {
                family: f[0].into(),
                kind: f[1].into(),
                help: f[2].into(),
                name: f[3].into(),
                labels: f[4]
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap();
                        (k.to_string(), v.to_string())
                    })
                    .collect(),
                value: f[5].parse().unwrap(),
            }
        })
        .collect()
}

/// The value of the sample `name` with exactly `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: HashMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
        .value
}

fn number(server: &Server, name: &str) -> f64 {
    stat(server, name).parse().unwrap()
}

/// A small workload: sets, hits, misses, a delete, an incr.
fn workload(server: &Server) {
    let mut c = server.connect();
    for i in 0..50 {
        c.call(format!("set k{i} 0 0 5\r\nvalue\r\n").as_bytes());
    }
    for i in 0..80 {
        c.call(format!("get k{i}\r\n").as_bytes());
    }
    c.call(b"delete k1\r\nset n 0 0 1\r\n1\r\nincr n 5\r\n");
}

#[test]
fn the_exposition_parses_and_agrees_with_stats() {
    let (server, port) = with_endpoint(&[]);
    workload(&server);
    let first = parse(&scrape(port));
    // Every family has a description and a type (the parser saw them).
    let families: HashMap<&str, &Sample> = first.iter().map(|s| (s.family.as_str(), s)).collect();
    for (name, s) in &families {
        assert!(!s.help.is_empty(), "{name} has no HELP");
        assert!(
            ["counter", "gauge", "histogram"].contains(&s.kind.as_str()),
            "{name} is {}",
            s.kind
        );
    }
    // memcached_exporter's names, agreeing with `stats`.
    let commands = "memcached_commands_total";
    assert_eq!(
        value(&first, commands, &[("command", "get"), ("status", "hit")]),
        50.0
    );
    assert_eq!(
        value(&first, commands, &[("command", "get"), ("status", "miss")]),
        30.0
    );
    assert_eq!(
        value(
            &first,
            commands,
            &[("command", "delete"), ("status", "hit")]
        ),
        1.0
    );
    assert_eq!(
        value(&first, commands, &[("command", "incr"), ("status", "hit")]),
        1.0
    );
    assert_eq!(
        value(&first, commands, &[("command", "set"), ("status", "hit")]),
        51.0
    );
    assert_eq!(
        value(&first, "memcached_current_items", &[]),
        number(&server, "curr_items")
    );
    assert_eq!(
        value(&first, "memcached_current_bytes", &[]),
        number(&server, "bytes")
    );
    assert_eq!(
        value(&first, "memcached_limit_bytes", &[]),
        number(&server, "limit_maxbytes")
    );
    assert_eq!(
        value(&first, "memcached_version", &[("version", "1.6.18")]),
        1.0
    );
    assert!(value(&first, "memcached_slab_current_items", &[("slab", "1")]) > 0.0);
    assert!(value(&first, "memcached_slab_chunk_size_bytes", &[("slab", "1")]) > 0.0);
    // The latency histogram counted every get, each in some bucket.
    let get = [("command", "get")];
    assert_eq!(
        value(&first, "memcached_request_duration_seconds_count", &get),
        80.0
    );
    let inf = [("command", "get"), ("le", "+Inf")];
    assert_eq!(
        value(&first, "memcached_request_duration_seconds_bucket", &inf),
        80.0
    );
    // Counters only rise between scrapes.
    workload(&server);
    let second = parse(&scrape(port));
    let mut compared = 0;
    for s in first.iter().filter(|s| s.kind == "counter") {
        let later = second
            .iter()
            .find(|t| t.name == s.name && t.labels == s.labels)
            .unwrap_or_else(|| panic!("{} went away", s.name));
        assert!(
            later.value >= s.value,
            "{} fell: {} -> {}",
            s.name,
            s.value,
            later.value
        );
        compared += 1;
    }
    assert!(compared > 40, "only {compared} counters");
    // Anything but /metrics is not found.
    assert!(curl(&format!("http://127.0.0.1:{port}/")).is_none());
}

#[test]
fn stats_hotkeys_says_when_tracking_is_off() {
    let server = Server::ferrocache(&[]);
    let reply = String::from_utf8(server.connect().call(b"stats hotkeys\r\n")).unwrap();
    assert_eq!(reply, "STAT hotkeys_status disabled\r\nEND\r\n");
}

/// A Prometheus server of our own, killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    fn scraping(target_port: u16) -> Prometheus {
        let bin = "/usr/bin/prometheus";
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: apt-get install prometheus"
        );
        let dir = std::env::temp_dir().join(format!(
            "ferrocache-prom-{}-{target_port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ferrocache\n    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            child,
            port,
            _dir: TempDir(dir),
        }
    }

    /// The value of the instant query `q`, if it has one series.
    fn query(&self, q: &str) -> Option<f64> {
        let url = format!(
            "http://127.0.0.1:{}/api/v1/query?query={}",
            self.port,
            q.replace('{', "%7B")
                .replace('}', "%7D")
                .replace('"', "%22")
                .replace(',', "%2C")
                .replace('=', "%3D")
        );
        let body = curl(&url)?;
        // {"status":"success","data":{"resultType":"vector","result":[{"metric":{...},"value":[<time>,"<v>"]}]}}
        if body.matches("\"value\":[").count() != 1 {
            return None;
        }
        let after = body.split("\"value\":[").nth(1)?;
        let v = after.split(",\"").nth(1)?.split('"').next()?;
        v.parse().ok()
    }
}

#[test]
fn a_real_prometheus_scrapes_what_stats_says() {
    let (server, port) = with_endpoint(&["-m", "8"]);
    let prom = Prometheus::scraping(port);
    workload(&server);
    // Evict: 8 MB of 100 KB values is about 80 of them.
    let mut c = server.connect();
    let big = vec![b'x'; 100_000];
    for i in 0..200 {
        let mut req = format!("set big{i} 0 0 {}\r\n", big.len()).into_bytes();
        req.extend_from_slice(&big);
        req.extend_from_slice(b"\r\n");
        c.call(&req);
    }
    let checks = [
        (
            "memcached_commands_total{command=\"get\",status=\"hit\"}",
            "get_hits",
        ),
        (
            "memcached_commands_total{command=\"get\",status=\"miss\"}",
            "get_misses",
        ),
        ("memcached_items_evicted_total", "evictions"),
        ("memcached_current_items", "curr_items"),
        ("memcached_current_bytes", "bytes"),
        ("memcached_current_connections", "curr_connections"),
    ];
    assert!(number(&server, "evictions") > 0.0);
    drop(c);
    for (query, field) in checks {
        // `stats` is read over a connection of its own, which it counts.
        let own = if field == "curr_connections" {
            1.0
        } else {
            0.0
        };
        let (mut got, mut want) = (None, 0.0);
        let agreed = common::eventually(Duration::from_secs(60), || {
            want = number(&server, field) - own;
            got = prom.query(query);
            let ok = got == Some(want);
            if !ok {
                std::thread::sleep(Duration::from_millis(250));
            }
            ok
        });
        assert!(
            agreed,
            "Prometheus has {query} = {got:?}, stats {field} = {want}"
        );
    }
}

#[test]
fn stats_hotkeys_names_the_hottest_keys_first() {
    let server = Server::ferrocache(&["-o", "hotkeys=10", "-t", "1"]);
    let mut c = server.connect();
    // hot0 .. hot9 read 4800 / (i + 1) times, among 6000 reads of cold
    // keys read once each, in a seeded random order.
    let mut keys: Vec<String> = Vec::new();
    for i in 0..10 {
        keys.extend(std::iter::repeat_n(format!("hot{i}"), 4800 / (i + 1)));
    }
    keys.extend((0..6000).map(|i| format!("cold{i}")));
    let mut rng = fastrand::Rng::with_seed(7);
    rng.shuffle(&mut keys);
    for chunk in keys.chunks(100) {
        let req: String = chunk.iter().map(|k| format!("get {k}\r\n")).collect();
        c.call(req.as_bytes());
    }
    let reply = String::from_utf8(c.call(b"stats hotkeys\r\n")).unwrap();
    let lines: Vec<(String, f64)> = reply
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("STAT ")?.split(' ');
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect();
    assert!(reply.ends_with("END\r\n"), "{reply}");
    assert_eq!(lines.len(), 10, "{reply}");
    let names: Vec<&str> = lines.iter().map(|(k, _)| k.as_str()).collect();
    let mut top: Vec<&str> = names.clone();
    top.sort_unstable();
    let mut want: Vec<String> = (0..10).map(|i| format!("hot{i}")).collect();
    want.sort_unstable();
    assert_eq!(top, want, "{reply}");
    assert_eq!(&names[..2], ["hot0", "hot1"], "{reply}");
    assert!(
        lines.windows(2).all(|w| w[0].1 >= w[1].1),
        "hottest first: {reply}"
    );
    assert!(
        lines[0].1 > lines[9].1 * 5.0,
        "an order of magnitude apart: {reply}"
    );
}

//! DNS as the node source, against a real DNS server: Debian's dnsmasq on
//! a loopback port serving A and SRV records, changed while ferrocache
//! runs (the hosts file rewritten and dnsmasq sent SIGHUP; dnsmasq
//! restarted with other SRV records, or stopped), and `config get
//! cluster` following with a higher version, or keeping its list.

mod common;

use common::{free_port, user_args, Server, Stderr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A dnsmasq serving `hosts` (an addn-hosts file) and `srv` records
/// (`--srv-host` values) on 127.0.0.1:`port`.
struct Dnsmasq {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Dnsmasq {
    fn start(name: &str, hosts: &str, srv: &[&str]) -> Dnsmasq {
        let dir =
            std::env::temp_dir().join(format!("ferrocache-dns-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut dns = Dnsmasq {
            child: Command::new("true").spawn().unwrap(),
            dir,
            port: free_port(),
        };
        dns.write_hosts(hosts);
        dns.restart(srv);
        dns
    }

    fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    /// Rewrites the hosts file (by a rename) and has dnsmasq re-read it.
    fn write_hosts(&self, text: &str) {
        let tmp = self.dir.join("hosts.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.hosts()).unwrap();
        let _ = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status();
    }

    /// Stops dnsmasq and starts it again on the same port with `srv`.
    fn restart(&mut self, srv: &[&str]) {
        self.stop();
        let mut cmd = Command::new("dnsmasq");
        cmd.args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            // Authoritative for .test: NXDOMAIN or no data, never a
            // refused forward.
            "--local=/test/",
            "--pid-file=",
            "--user=root",
            "--group=root",
        ])
        .arg(format!("--port={}", self.port))
        .arg(format!("--addn-hosts={}", self.hosts().display()));
        for s in srv {
            cmd.arg(format!("--srv-host={s}"));
        }
        self.child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (Debian's dnsmasq package) is needed by this test");
        // Ready when its TCP socket takes connections (it opens UDP first).
        let addr = self.server().parse().unwrap();
        assert!(
            common::eventually(Duration::from_secs(10), || {
                std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            }),
            "dnsmasq did not start on {addr}"
        );
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ferrocache(dns: &Dnsmasq, name: &str) -> (Server, Stderr) {
    let option = format!(
        "cluster_dns={name},cluster_dns_server={},cluster_dns_interval=1",
        dns.server()
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
    cmd.args(["-p", "0", "-l", "127.0.0.1", "-t", "2", "-v"])
        .args(user_args())
        .args(["-o", &option]);
    Server::with_stderr(cmd)
}

/// `config get cluster`'s version and node line; `None` while there is
/// no list. The reply is checked byte for byte against its own length.
fn config(server: &Server) -> Option<(u64, String)> {
    let reply = common::try_call(server.addr, b"config get cluster\r\n").unwrap();
    if reply == b"END\r\n" {
        return None;
    }
    let text = String::from_utf8(reply).unwrap();
    let (head, rest) = text.split_once("\r\n").unwrap();
    let payload = rest.strip_suffix("\r\nEND\r\n").unwrap();
    assert_eq!(head, format!("CONFIG cluster 0 {}", payload.len()));
    let (version, nodes) = payload.split_once('\n').unwrap();
    Some((
        version.parse().unwrap(),
        nodes.strip_suffix('\n').unwrap().to_string(),
    ))
}

/// Waits (at most 20 s) until the node line is `nodes`; what was seen.
fn wait_nodes(server: &Server, nodes: &str) -> Option<(u64, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = config(server);
        if seen.as_ref().is_some_and(|(_, n)| n == nodes) || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_records_followed_through_changes() {
    let dns = Dnsmasq::start("a", "127.0.0.12 cache.test\n127.0.0.11 cache.test\n", &[]);
    let (server, log) = ferrocache(&dns, "cache.test:11311");
    let two = "cache.test|127.0.0.11|11311 cache.test|127.0.0.12|11311";
    let (first, nodes) = wait_nodes(&server, two).expect("a list");
    assert_eq!(nodes, two);

    // A record added: the list follows, at a higher version.
    dns.write_hosts("127.0.0.11 cache.test\n127.0.0.12 cache.test\n::1 cache.test\n");
    let three = "cache.test|127.0.0.11|11311 cache.test|127.0.0.12|11311 cache.test|::1|11311";
    let (second, nodes) = wait_nodes(&server, three).unwrap();
    assert_eq!(nodes, three);
    assert!(second > first, "{first} -> {second}");

    // The same records, re-read: several intervals pass, no bump.
    dns.write_hosts("::1 cache.test\n127.0.0.12 cache.test\n127.0.0.11 cache.test\n");
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(config(&server), Some((second, three.to_string())));

    // A record removed.
    dns.write_hosts("127.0.0.12 cache.test\n");
    let (third, nodes) = wait_nodes(&server, "cache.test|127.0.0.12|11311").unwrap();
    assert_eq!(nodes, "cache.test|127.0.0.12|11311");
    assert!(third > second, "{second} -> {third}");

    // No record at all: a failure; the last good list stays, logged once.
    dns.write_hosts("127.0.0.99 other.test\n");
    assert!(log.wait_for("cache.test: no record", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(3000));
    assert_eq!(
        config(&server),
        Some((third, "cache.test|127.0.0.12|11311".to_string()))
    );
    let complaints = log
        .lines()
        .iter()
        .filter(|l| l.contains("no record"))
        .count();
    assert_eq!(complaints, 1, "{:?}", log.lines());
}

#[test]
fn srv_records_give_target_address_and_port() {
    let hosts = "127.0.0.21 node-a.cache.test\n127.0.0.22 node-b.cache.test\n";
    let mut dns = Dnsmasq::start(
        "srv",
        hosts,
        &[
            "_memcache._tcp.cache.test,node-b.cache.test,11212",
            "_memcache._tcp.cache.test,node-a.cache.test,11211",
        ],
    );
    let (server, log) = ferrocache(&dns, "_memcache._tcp.cache.test");
    let two = "node-a.cache.test|127.0.0.21|11211 node-b.cache.test|127.0.0.22|11212";
    let (first, nodes) = wait_nodes(&server, two).expect("a list");
    assert_eq!(nodes, two);

    // The DNS server goes away: the list stays, one error logged.
    dns.stop();
    assert!(log.wait_for("_memcache._tcp.cache.test SRV", Duration::from_secs(15)));
    assert_eq!(config(&server), Some((first, two.to_string())));

    // It comes back with a third target (no address: `host||port`).
    dns.restart(&[
        "_memcache._tcp.cache.test,node-a.cache.test,11211",
        "_memcache._tcp.cache.test,node-b.cache.test,11212",
        "_memcache._tcp.cache.test,node-c.cache.test,11213",
    ]);
    let three = "node-a.cache.test|127.0.0.21|11211 node-b.cache.test|127.0.0.22|11212 node-c.cache.test||11213";
    let (second, nodes) = wait_nodes(&server, three).unwrap();
    assert_eq!(nodes, three);
    assert!(second > first, "{first} -> {second}");
    let errors = log.lines().iter().filter(|l| l.contains("ERROR")).count();
    assert_eq!(errors, 1, "one failure, logged once: {:?}", log.lines());
}

#[test]
fn two_sources_are_refused_at_start() {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["-p", "0", "-l", "127.0.0.1"])
        .args(user_args())
        .args([
            "-o",
            "cluster_nodes=/etc/hostname,cluster_dns=cache.test,cluster_dns_server=127.0.0.1:53",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64), "EX_USAGE");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("give one node source, not both"), "{err}");
}

//! Shared helpers for the integration tests: start the real `ferrocache`
//! binary (or Debian's `memcached`) on a free 127.0.0.1 port and talk to it.
//!
//! ferrocache is started with `-p 0`: it binds an ephemeral port and prints
//! `ferrocache listening on <addr>` on stdout once it accepts connections, so
//! tests never guess a port and never sleep waiting for start-up. memcached
//! cannot do that, so it gets a port the OS just handed out and the test polls
//! `connect()` (bounded) until the server answers.
//!
//! As root (CI), both are started with `-u root`: like memcached, ferrocache
//! refuses to run as root without `-u`.
#![allow(dead_code)]

pub mod diff;
pub mod tls;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Path of Debian's memcached, the reference the differential tests compare against.
pub const MEMCACHED_BIN: &str = "/usr/bin/memcached";

/// A server process that is killed when dropped.
pub struct Server {
    child: Child,
    /// Where the server listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Starts ferrocache on an ephemeral 127.0.0.1 port with extra `args`.
    pub fn ferrocache(args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferrocache"));
        cmd.args(["-p", "0", "-l", "127.0.0.1"])
            .args(user_args())
            .args(args);
        Server::from_command(cmd)
    }

    /// Runs `cmd`, which must start ferrocache with `-p 0` (or `exec` it),
    /// and reads the address from its `ferrocache listening on` line.
    pub fn from_command(cmd: Command) -> Server {
        Server::spawn(cmd, Stdio::inherit()).0
    }

    /// As [`Server::from_command`], with the server's stderr read in the
    /// background (so that a chatty server never blocks on a full pipe).
    pub fn with_stderr(cmd: Command) -> (Server, Stderr) {
        let (server, stderr) = Server::spawn(cmd, Stdio::piped());
        (server, Stderr::read(stderr.expect("piped stderr")))
    }

    fn spawn(mut cmd: Command, stderr: Stdio) -> (Server, Option<ChildStderr>) {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn ferrocache");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read listening line");
        let addr = parse_listening_line(&line);
        let stderr = child.stderr.take();
        (Server { child, addr }, stderr)
    }

    /// Starts Debian's memcached on a free 127.0.0.1 port with extra `args`.
    /// Panics (fails the test) when memcached is not installed.
    ///
    /// The port is picked before memcached binds it, so a test running in
    /// parallel may take it first: then our memcached exits, or the port
    /// answers with someone else's pid. Either way, try another port.
    pub fn memcached(args: &[&str]) -> Server {
        assert!(
            std::path::Path::new(MEMCACHED_BIN).exists(),
            "{MEMCACHED_BIN} is missing: apt-get install -y memcached"
        );
        for _ in 0..10 {
            if let Some(server) = Self::try_memcached(args) {
                return server;
            }
        }
        panic!("could not start a memcached of our own (port races?)");
    }

    fn try_memcached(args: &[&str]) -> Option<Server> {
        let port = free_port();
        let mut cmd = Command::new(MEMCACHED_BIN);
        cmd.args(["-p", &port.to_string(), "-l", "127.0.0.1", "-U", "0"]);
        // memcached refuses to run as root without -u.
        cmd.args(user_args());
        let child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn memcached");
        let mut server = Server {
            child,
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if server.child.try_wait().expect("try_wait").is_some() {
                return None;
            }
            if TcpStream::connect(server.addr).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "memcached did not start on {}",
                server.addr
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let stats = server.stats_if_it_answers()?;
        let ours = format!("STAT pid {}\r\n", server.pid());
        stats.contains(&ours).then_some(server)
    }

    /// `stats` from whatever listens on the port, or `None` when it does
    /// not answer it: a server of another test that took the port first may
    /// close or reset a text client (a binary-only or TLS listener does).
    fn stats_if_it_answers(&self) -> Option<String> {
        let mut stream = TcpStream::connect(self.addr).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream.write_all(b"stats\r\n").ok()?;
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !out.ends_with(b"END\r\n") {
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => out.extend_from_slice(&buf[..n]),
                _ => return None,
            }
        }
        String::from_utf8(out).ok()
    }

    /// Opens a client connection.
    pub fn connect(&self) -> Client {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client { stream }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends signal `sig` (a name such as "TERM") with kill(1).
    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait()
    }

    /// Waits for the process to exit (after a signal).
    pub fn wait(mut self) -> std::process::ExitStatus {
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }

    /// Whether the process is still running (it has not exited or been reaped).
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `-u root` when running as root (both servers refuse root without `-u`),
/// nothing otherwise.
pub fn user_args() -> &'static [&'static str] {
    if is_root() {
        &["-u", "root"]
    } else {
        &[]
    }
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
}

/// The address in ferrocache's `ferrocache listening on ADDR` line.
pub fn parse_listening_line(line: &str) -> SocketAddr {
    line.trim()
        .strip_prefix("ferrocache listening on ")
        .unwrap_or_else(|| panic!("unexpected start-up line {line:?}"))
        .parse()
        .expect("listening address")
}

/// A server's stderr, collected line by line by a background thread.
pub struct Stderr {
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Stderr {
    fn read(stderr: ChildStderr) -> Stderr {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        Stderr {
            lines,
            reader: Some(reader),
        }
    }

    /// Waits (bounded) for a line containing `needle`.
    pub fn wait_for(&self, needle: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.lines().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every line, once the server has closed its stderr (it has exited).
    pub fn all_lines(mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        self.lines()
    }
}

/// A port the OS just handed out (for servers that cannot bind port 0 themselves).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A blocking test client over one TCP connection.
pub struct Client {
    /// The connection.
    pub stream: TcpStream,
}

impl Client {
    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends `request` and returns exactly the reply, using a trailing
    /// `version` command as a fence (its `VERSION ...\r\n` line is stripped).
    pub fn call(&mut self, request: &[u8]) -> Vec<u8> {
        let mut bytes = request.to_vec();
        bytes.extend_from_slice(b"version\r\n");
        self.send(&bytes);
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            if let Some(pos) = fence_position(&out) {
                out.truncate(pos);
                return out;
            }
            let n = self.stream.read(&mut buf).unwrap_or_else(|e| {
                panic!(
                    "read from {:?} after sending {:?}: {e}; got so far {:?}",
                    self.stream.peer_addr(),
                    String::from_utf8_lossy(request),
                    String::from_utf8_lossy(&out)
                )
            });
            assert!(
                n > 0,
                "connection closed; got so far {:?}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads until at least `n` bytes have arrived (panics if the server
    /// closes first); returns how many arrived and the last 16 of them.
    pub fn read_at_least(&mut self, n: usize) -> (usize, Vec<u8>) {
        let mut buf = vec![0u8; 1 << 20];
        let (mut total, mut tail) = (0, Vec::new());
        while total < n {
            let got = self.stream.read(&mut buf).expect("read");
            assert!(got > 0, "closed after {total} of {n} bytes");
            total += got;
            tail.extend_from_slice(&buf[..got]);
            tail.drain(..tail.len().saturating_sub(16));
        }
        (total, tail)
    }

    /// Reads everything until the server closes the connection.
    pub fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = self.stream.read_to_end(&mut out);
        out
    }
}

/// Where a trailing `VERSION x\r\n` line starts, if `out` ends with one.
fn fence_position(out: &[u8]) -> Option<usize> {
    if !out.ends_with(b"\r\n") {
        return None;
    }
    let body = &out[..out.len() - 2];
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    body[start..].starts_with(b"VERSION ").then_some(start)
}

/// The server's `curr_connections` statistic, asked on a new connection
/// (which the figure includes; memcached also counts its listening socket).
pub fn curr_connections(server: &Server) -> u64 {
    try_curr_connections(server).unwrap_or_else(|e| panic!("curr_connections: {e}"))
}

/// [`curr_connections`], or what went wrong asking (the server refused the
/// connection, closed it, did not answer in 10 s, …).
pub fn try_curr_connections(server: &Server) -> Result<u64, String> {
    let value = try_stat(server, "curr_connections")?;
    value
        .parse()
        .map_err(|_| format!("curr_connections {value:?}"))
}

/// One `STAT <name> <value>` of the general `stats` listing, asked on a new
/// connection; panics if the server does not answer or the listing lacks it.
pub fn stat(server: &Server, name: &str) -> String {
    try_stat(server, name).unwrap_or_else(|e| panic!("stats: {e}"))
}

/// [`stat`], or what went wrong.
pub fn try_stat(server: &Server, name: &str) -> Result<String, String> {
    let listing = try_call(server.addr, b"stats\r\n")?;
    let listing = String::from_utf8_lossy(&listing);
    let prefix = format!("STAT {name} ");
    listing
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(str::to_string)
        .ok_or_else(|| format!("no {name} in {listing:?}"))
}

/// Sends `request` on a new connection and returns exactly its reply (up
/// to a `version` fence, as [`Client::call`]), or, instead of panicking,
/// what went wrong: connect refused, the connection closed or reset, no
/// reply within 10 s.
pub fn try_call(addr: SocketAddr, request: &[u8]) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut bytes = request.to_vec();
    bytes.extend_from_slice(b"version\r\n");
    stream
        .write_all(&bytes)
        .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        if let Some(pos) = fence_position(&out) {
            out.truncate(pos);
            return Ok(out);
        }
        match stream.read(&mut buf) {
            Ok(0) => return Err(format!("closed after {:?}", String::from_utf8_lossy(&out))),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                return Err(format!(
                    "read: {e} after {:?}",
                    String::from_utf8_lossy(&out)
                ))
            }
        }
    }
}

/// How many TCP sockets bound to local port `port` (on any address, v4 or
/// v6) are in CLOSE-WAIT: the peer has closed, the owner of the socket not.
pub fn close_wait_count(port: u16) -> usize {
    const CLOSE_WAIT: &str = "08";
    let mut count = 0;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue; // (no IPv6 in this kernel)
        };
        for row in text.lines().skip(1) {
            // "sl local_address rem_address st ...", addresses as HEXADDR:HEXPORT.
            let cols: Vec<&str> = row.split_whitespace().collect();
            let local_port = cols
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && cols.get(3) == Some(&CLOSE_WAIT) {
                count += 1;
            }
        }
    }
    count
}

/// Open file descriptors of process `pid`.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .count()
}

/// Resident set size of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Polls `probe` every 20 ms until it returns true or `within` has passed;
/// returns whether it did.
pub fn eventually(within: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

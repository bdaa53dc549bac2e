//! Closed-loop load generator for memcached's text, binary and meta protocols.
//!
//! `cargo bench --bench loadgen -- --server 127.0.0.1:11211 --duration 5`
//! (or `target/release/deps/loadgen-* ARGS`; `--help` lists the options).
//!
//! Every connection sends `--pipeline` requests in one write, reads and
//! parses all their replies (`STORED`, `VALUE … END` framed by the byte
//! count of each `VALUE` line, error lines; under `--protocol meta`, `HD`,
//! `VA <len> f<flags>` and `EN`, a multi-get's replies closed by `MN`),
//! records the batch's latency once
//! per request, and starts the next batch, until `--duration` is over.
//! Connections are spread over `--threads` threads, each running one `mio`
//! event loop; only the first `--active` connections send, the rest are
//! opened and held idle. The report gives ops/s (one op = one command: a
//! multi-get of 100 keys is one op), p50/p99/p99.9 latency, the get hit ratio
//! (keys found / keys asked) and the error count, as text or one JSON object.
//! With `--tls --tls-ca CA.pem` every connection speaks TLS (rustls), its
//! handshake done before the run.

#[path = "loadgen/wire.rs"]
mod wire;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use mio::{Events, Interest, Poll, Registry, Token};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// How keys are picked from the key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum KeyDistribution {
    /// Every key equally likely.
    Uniform,
    /// Key of rank r (key r-1) with probability proportional to 1/r^s.
    Zipf,
}

/// Which protocol requests are sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Protocol {
    /// Classic text commands.
    Text,
    /// memcached's binary protocol (GET, SET, VERSION; one key per get).
    Binary,
    /// Meta commands: `mg <key> v f` (one per key; a multi-get ends with
    /// `mn`) and `ms <key> <len> F0 T0`.
    Meta,
}

/// Command line.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "loadgen",
    args_override_self = true,
    about = "Closed-loop memcached load generator (text, binary or meta protocol)"
)]
struct Args {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:11211")]
    server: String,
    /// Connections in total (active and idle).
    #[arg(long, default_value_t = 50)]
    connections: usize,
    /// Client threads (each runs an event loop over its share of connections).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Seconds of measurement (0: only connect, prefill and exit).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Key length in bytes ("k" then the key number, zero-padded).
    #[arg(long, default_value_t = 20)]
    key_size: usize,
    /// Value length in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// SET:GET mix, e.g. 1:10, 0:1 (gets only) or 1:0 (sets only).
    #[arg(long, default_value = "1:10", value_parser = parse_ratio)]
    ratio: (u32, u32),
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// Request protocol (binary: one key per get; meta: a multi-get is one
    /// `mg` per key, then `mn`).
    #[arg(long, value_enum, default_value_t = Protocol::Text)]
    protocol: Protocol,
    /// Key popularity.
    #[arg(long, value_enum, default_value_t = KeyDistribution::Uniform)]
    distribution: KeyDistribution,
    /// Zipf exponent (with --distribution zipf).
    #[arg(long, default_value_t = 0.99)]
    zipf_s: f64,
    /// Requests in flight per connection, sent in one write.
    #[arg(long, default_value_t = 1)]
    pipeline: usize,
    /// Keys per get (`get k1 k2 ...`; meta: `mg k1 v f` … `mn`).
    #[arg(long, default_value_t = 1)]
    multiget: usize,
    /// Connections that send (default: all); the rest stay open and idle.
    #[arg(long)]
    active: Option<usize>,
    /// Idle connections each send one `version` and read its reply before
    /// the measurement (so the server has served them once), then stay idle.
    #[arg(long)]
    touch_idle: bool,
    /// Set every key once (pipelined) before measuring.
    #[arg(long)]
    prefill: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Speak TLS (rustls client; the handshakes are done before measuring).
    #[arg(long, requires = "tls_ca")]
    tls: bool,
    /// PEM file of the CA the server's certificate must chain to (--tls).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<String>,
    /// Random seed (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds to wait for a reply before counting the connection as failed.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Check the reply parser and exit.
    #[arg(long, hide = true)]
    self_test: bool,
    /// Accepted and ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

fn parse_ratio(s: &str) -> Result<(u32, u32), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("ratio {s:?} is not SET:GET"))?;
    let a: u32 = a.trim().parse().map_err(|e| format!("ratio {s:?}: {e}"))?;
    let b: u32 = b.trim().parse().map_err(|e| format!("ratio {s:?}: {e}"))?;
    if a == 0 && b == 0 {
        return Err("ratio 0:0 sends nothing".into());
    }
    Ok((a, b))
}

/// The reply a request waits for.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// `STORED`.
    Stored,
    /// `VALUE …` blocks then `END`, for a get of this many keys.
    Values(u32),
    /// `VERSION …`.
    Version,
}

/// Outcome of parsing one reply at the front of the input.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// Not all of it has arrived yet.
    Incomplete,
    /// A whole reply of `len` bytes: `hits` values, `error` for an error line.
    Done { len: usize, hits: u32, error: bool },
}

/// A reply that can't be framed: the connection is out of step and is dropped.
#[derive(Debug)]
struct ProtocolError(String);

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn is_error_line(line: &[u8]) -> bool {
    line == b"ERROR" || line.starts_with(b"CLIENT_ERROR") || line.starts_with(b"SERVER_ERROR")
}

/// Binary protocol: response magic, header size, and the statuses used here.
const BIN_RESPONSE: u8 = 0x81;
const BIN_HEADER: usize = 24;
const BIN_KEY_NOT_FOUND: u16 = 0x0001;

/// Parses one binary-protocol response to `expect` at the start of `buf`.
fn parse_binary_reply(buf: &[u8], expect: Expect) -> Result<Parsed, ProtocolError> {
    // Check the magic at the first byte: a server answering in text
    // (`ERROR\r\n`) would otherwise wait out the reply timeout.
    match buf.first() {
        None => return Ok(Parsed::Incomplete),
        Some(&BIN_RESPONSE) => {}
        Some(&magic) => return Err(ProtocolError(format!("response magic {magic:#04x}"))),
    }
    if buf.len() < BIN_HEADER {
        return Ok(Parsed::Incomplete);
    }
    let status = u16::from_be_bytes([buf[6], buf[7]]);
    let body = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize;
    let len = BIN_HEADER + body;
    if buf.len() < len {
        return Ok(Parsed::Incomplete);
    }
    let (hits, error) = match (expect, status) {
        (Expect::Values(_), 0) => (1, false),
        (Expect::Values(_), BIN_KEY_NOT_FOUND) => (0, false),
        (_, status) => (0, status != 0),
    };
    Ok(Parsed::Done { len, hits, error })
}

/// A meta reply line longer than this (without its `\r\n`) is garbage, not
/// a line still arriving.
const META_MAX_LINE: usize = 8192;

/// Digits only (no sign, no space), as a number.
fn parse_digits(s: &[u8]) -> Option<usize> {
    if s.is_empty() || s.len() > 12 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The data length of `VA <len> f<flags>` (the flags `mg <key> v f` asks for).
fn meta_value_len(line: &[u8]) -> Option<usize> {
    let mut fields = line.split(|&b| b == b' ');
    if fields.next()? != b"VA" {
        return None;
    }
    let len = parse_digits(fields.next()?)?;
    parse_digits(fields.next()?.strip_prefix(b"f")?)?;
    fields.next().is_none().then_some(len)
}

/// Parses one meta-protocol reply to `expect` at the start of `buf`: `HD`
/// for a set (`NS`, `EX`, `NF` and error lines are answers counted as
/// errors); for a get of `asked` keys that many `VA`/`EN` replies (an error
/// line answering one of the `mg`s counts as an error), then `MN` when
/// more than one key was asked.
fn parse_meta_reply(buf: &[u8], expect: Expect) -> Result<Parsed, ProtocolError> {
    let bad = |line: &[u8]| {
        ProtocolError(format!(
            "unexpected meta reply line {:?} (waiting for {expect:?})",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        ))
    };
    let line_at = |pos: usize| -> Result<Option<usize>, ProtocolError> {
        match find_crlf(&buf[pos..]) {
            Some(n) => Ok(Some(n)),
            None if buf.len() - pos > META_MAX_LINE => Err(bad(&buf[pos..])),
            None => Ok(None),
        }
    };
    match expect {
        Expect::Version => parse_reply(buf, expect, Protocol::Text),
        Expect::Stored => {
            let Some(n) = line_at(0)? else {
                return Ok(Parsed::Incomplete);
            };
            let line = &buf[..n];
            let ok = line == b"HD";
            if ok || is_error_line(line) || matches!(line, b"NS" | b"EX" | b"NF") {
                Ok(Parsed::Done {
                    len: n + 2,
                    hits: 0,
                    error: !ok,
                })
            } else {
                Err(bad(line))
            }
        }
        Expect::Values(asked) => {
            let (mut pos, mut hits, mut error) = (0, 0, false);
            for _ in 0..asked {
                let Some(n) = line_at(pos)? else {
                    return Ok(Parsed::Incomplete);
                };
                let line = &buf[pos..pos + n];
                let data = pos + n + 2;
                if line == b"EN" || is_error_line(line) {
                    error |= line != b"EN";
                    pos = data;
                    continue;
                }
                let bytes = meta_value_len(line).ok_or_else(|| bad(line))?;
                let end = data + bytes;
                if buf.len() < end + 2 {
                    return Ok(Parsed::Incomplete);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError("value data not followed by \\r\\n".into()));
                }
                hits += 1;
                pos = end + 2;
            }
            if asked > 1 {
                let Some(n) = line_at(pos)? else {
                    return Ok(Parsed::Incomplete);
                };
                if &buf[pos..pos + n] != b"MN" {
                    return Err(bad(&buf[pos..pos + n]));
                }
                pos += n + 2;
            }
            Ok(Parsed::Done {
                len: pos,
                hits,
                error,
            })
        }
    }
}

/// Parses the reply to `expect` at the start of `buf`.
fn parse_reply(buf: &[u8], expect: Expect, protocol: Protocol) -> Result<Parsed, ProtocolError> {
    match protocol {
        Protocol::Binary => return parse_binary_reply(buf, expect),
        Protocol::Meta => return parse_meta_reply(buf, expect),
        Protocol::Text => {}
    }
    let bad = |line: &[u8]| {
        ProtocolError(format!(
            "unexpected reply line {:?} (waiting for {expect:?})",
            String::from_utf8_lossy(&line[..line.len().min(80)])
        ))
    };
    match expect {
        Expect::Stored | Expect::Version => {
            let Some(n) = find_crlf(buf) else {
                return Ok(Parsed::Incomplete);
            };
            let line = &buf[..n];
            let ok = match expect {
                Expect::Stored => line == b"STORED",
                _ => line.starts_with(b"VERSION "),
            };
            // NOT_STORED, EXISTS, SERVER_ERROR out of memory… are answers, counted as errors.
            if ok || is_error_line(line) || line == b"NOT_STORED" || line == b"EXISTS" {
                Ok(Parsed::Done {
                    len: n + 2,
                    hits: 0,
                    error: !ok,
                })
            } else {
                Err(bad(line))
            }
        }
        Expect::Values(asked) => {
            let mut pos = 0;
            let mut hits = 0;
            loop {
                let Some(n) = find_crlf(&buf[pos..]) else {
                    return Ok(Parsed::Incomplete);
                };
                let line = &buf[pos..pos + n];
                if line == b"END" {
                    if hits > asked {
                        return Err(ProtocolError(format!("{hits} values for {asked} keys")));
                    }
                    return Ok(Parsed::Done {
                        len: pos + n + 2,
                        hits,
                        error: false,
                    });
                }
                if is_error_line(line) {
                    return Ok(Parsed::Done {
                        len: pos + n + 2,
                        hits,
                        error: true,
                    });
                }
                // VALUE <key> <flags> <bytes> [<cas>]
                let mut fields = line.split(|&b| b == b' ');
                let bytes = match (fields.next(), fields.nth(2)) {
                    (Some(b"VALUE"), Some(bytes)) => std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                        .ok_or_else(|| bad(line))?,
                    _ => return Err(bad(line)),
                };
                let data = pos + n + 2;
                let end = data + bytes;
                if buf.len() < end + 2 {
                    return Ok(Parsed::Incomplete);
                }
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(ProtocolError("value data not followed by \\r\\n".into()));
                }
                hits += 1;
                pos = end + 2;
            }
        }
    }
}

/// Writes key number `k` as "k000…k", `size` bytes long.
fn push_key(out: &mut Vec<u8>, k: u64, size: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(k).as_bytes();
    out.push(b'k');
    out.resize(out.len() + size - 1 - digits.len(), b'0');
    out.extend_from_slice(digits);
}

/// What a connection sends.
enum Source {
    /// Sets of keys `next..end`, `depth` at a time; idle once they are done.
    Prefill { next: u64, end: u64 },
    /// The measured mix.
    Measure {
        rng: SmallRng,
        /// Position in the SET:GET cycle.
        op: u64,
    },
    /// One `version`, then nothing.
    Touch { sent: bool },
}

/// Everything needed to build requests, shared by a thread's connections.
struct Workload {
    key_size: usize,
    value: Vec<u8>,
    /// What follows the key of a set: ` 0 0 <len>\r\n`, or ` <len> F0 T0\r\n` in meta.
    set_header_tail: Vec<u8>,
    ratio: (u32, u32),
    keys: u64,
    zipf: Option<Zipf<f64>>,
    pipeline: usize,
    multiget: usize,
    prefill_depth: usize,
    protocol: Protocol,
}

/// Appends a binary-protocol request header (magic 0x80, no CAS, opaque 0).
fn push_binary_header(out: &mut Vec<u8>, opcode: u8, key: usize, extras: usize, value: usize) {
    out.extend_from_slice(&[0x80, opcode]);
    out.extend_from_slice(&(key as u16).to_be_bytes());
    out.extend_from_slice(&[extras as u8, 0, 0, 0]); // extras, data type, vbucket
    out.extend_from_slice(&((extras + key + value) as u32).to_be_bytes());
    out.extend_from_slice(&[0; 12]); // opaque, cas
}

impl Workload {
    fn push_get(&self, out: &mut Vec<u8>, rng: &mut SmallRng) {
        if self.protocol == Protocol::Binary {
            push_binary_header(out, 0x00, self.key_size, 0, 0); // GET
            push_key(out, self.pick_key(rng), self.key_size);
            return;
        }
        if self.protocol == Protocol::Meta {
            for _ in 0..self.multiget {
                out.extend_from_slice(b"mg ");
                push_key(out, self.pick_key(rng), self.key_size);
                out.extend_from_slice(b" v f\r\n");
            }
            if self.multiget > 1 {
                out.extend_from_slice(b"mn\r\n");
            }
            return;
        }
        out.extend_from_slice(b"get");
        for _ in 0..self.multiget {
            out.push(b' ');
            let k = self.pick_key(rng);
            push_key(out, k, self.key_size);
        }
        out.extend_from_slice(b"\r\n");
    }

    fn push_version(&self, out: &mut Vec<u8>) {
        match self.protocol {
            Protocol::Binary => push_binary_header(out, 0x0b, 0, 0, 0), // VERSION
            Protocol::Text | Protocol::Meta => out.extend_from_slice(b"version\r\n"),
        }
    }

    fn push_set(&self, out: &mut Vec<u8>, k: u64) {
        if self.protocol == Protocol::Binary {
            push_binary_header(out, 0x01, self.key_size, 8, self.value.len()); // SET
            out.extend_from_slice(&[0; 8]); // flags, exptime
            push_key(out, k, self.key_size);
            out.extend_from_slice(&self.value);
            return;
        }
        out.extend_from_slice(match self.protocol {
            Protocol::Meta => b"ms ",
            _ => b"set ",
        });
        push_key(out, k, self.key_size);
        out.extend_from_slice(&self.set_header_tail);
        out.extend_from_slice(&self.value);
        out.extend_from_slice(b"\r\n");
    }

    fn pick_key(&self, rng: &mut SmallRng) -> u64 {
        match &self.zipf {
            Some(z) => (z.sample(rng) as u64).clamp(1, self.keys) - 1,
            None => rng.random_range(0..self.keys),
        }
    }

    /// Appends the next batch of `source` to `out` and its replies to
    /// `expect`; returns the number of requests (0: the source is done).
    fn next_batch(
        &self,
        source: &mut Source,
        out: &mut Vec<u8>,
        expect: &mut VecDeque<Expect>,
    ) -> usize {
        match source {
            Source::Prefill { next, end } => {
                let mut n = 0;
                while n < self.prefill_depth && *next < *end {
                    self.push_set(out, *next);
                    expect.push_back(Expect::Stored);
                    *next += 1;
                    n += 1;
                }
                n
            }
            Source::Touch { sent } => {
                if *sent {
                    return 0;
                }
                *sent = true;
                self.push_version(out);
                expect.push_back(Expect::Version);
                1
            }
            Source::Measure { rng, op } => {
                let (sets, gets) = self.ratio;
                let cycle = u64::from(sets + gets);
                for _ in 0..self.pipeline {
                    let is_set = *op % cycle < u64::from(sets);
                    *op += 1;
                    if is_set {
                        let k = self.pick_key(rng);
                        self.push_set(out, k);
                        expect.push_back(Expect::Stored);
                    } else {
                        self.push_get(out, rng);
                        expect.push_back(Expect::Values(self.multiget as u32));
                    }
                }
                self.pipeline
            }
        }
    }
}

/// Counters of one thread (and, merged, of the run).
struct Stats {
    latency_ns: Histogram<u64>,
    sets: u64,
    gets: u64,
    get_keys: u64,
    get_hits: u64,
    errors: u64,
    /// Connections lost (reset, closed, protocol error, reply timeout, connect failure).
    conn_failures: u64,
    /// Fewest and most batches one active connection completed (fairness:
    /// a server that serves some connections again and again while others
    /// wait shows a wide spread).
    conn_batches_min: u64,
    conn_batches_max: u64,
    /// Ops of each load-generator thread (filled when merging threads): a
    /// wide spread means a client thread, not the server, was starved of
    /// CPU, and its latencies include its own wait for a core.
    thread_ops: Vec<u64>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            latency_ns: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("histogram bounds"),
            sets: 0,
            gets: 0,
            get_keys: 0,
            get_hits: 0,
            errors: 0,
            conn_failures: 0,
            conn_batches_min: u64::MAX,
            conn_batches_max: 0,
            thread_ops: Vec::new(),
        }
    }

    fn merge(&mut self, other: &Stats) {
        self.latency_ns
            .add(&other.latency_ns)
            .expect("same histogram bounds");
        self.sets += other.sets;
        self.gets += other.gets;
        self.get_keys += other.get_keys;
        self.get_hits += other.get_hits;
        self.errors += other.errors;
        self.conn_failures += other.conn_failures;
        self.conn_batches_min = self.conn_batches_min.min(other.conn_batches_min);
        self.conn_batches_max = self.conn_batches_max.max(other.conn_batches_max);
        self.thread_ops.push(other.sets + other.gets);
    }
}

/// One connection driven by the event loop.
struct Conn {
    stream: wire::Wire,
    source: Source,
    out: Vec<u8>,
    written: usize,
    /// The connection's token in the thread's `Poll`.
    token: Token,
    /// Registered for writable readiness (a write is waiting for room).
    wants_writable: bool,
    /// Read buffer; unparsed replies are `input[start..filled]`.
    input: Vec<u8>,
    start: usize,
    filled: usize,
    expect: VecDeque<Expect>,
    batch: usize,
    batch_start: Instant,
    /// Counters of the current batch, added to the stats when it completes in time.
    batch_counts: Stats0,
    busy: bool,
    dead: bool,
    /// Batches completed within the measured run.
    completed: u64,
}

/// Per-batch counters (the latency is recorded separately).
#[derive(Default, Clone, Copy)]
struct Stats0 {
    sets: u64,
    gets: u64,
    get_keys: u64,
    get_hits: u64,
    errors: u64,
}

impl Conn {
    fn new(stream: wire::Wire, source: Source) -> Conn {
        Conn {
            stream,
            source,
            out: Vec::with_capacity(4096),
            written: 0,
            token: Token(usize::MAX),
            wants_writable: false,
            input: vec![0; 16384],
            start: 0,
            filled: 0,
            expect: VecDeque::new(),
            batch: 0,
            batch_start: Instant::now(),
            batch_counts: Stats0::default(),
            busy: false,
            dead: false,
            completed: 0,
        }
    }

    /// Builds the next batch; false when the source has nothing more.
    fn start_batch(&mut self, w: &Workload) -> bool {
        self.out.clear();
        self.written = 0;
        self.batch = w.next_batch(&mut self.source, &mut self.out, &mut self.expect);
        self.batch_counts = Stats0::default();
        self.batch_start = Instant::now();
        self.busy = self.batch > 0;
        self.busy
    }

    /// Writes what the socket takes.
    /// Writable readiness is asked for only while a write waits for room,
    /// so a drained send buffer doesn't wake the loop for nothing.
    fn flush(&mut self, registry: &Registry) -> io::Result<()> {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.wants_writable {
                        self.wants_writable = true;
                        registry.reregister(
                            &mut self.stream,
                            self.token,
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match self.stream.push_pending() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        if self.stream.has_pending() {
            // TLS records wait for room: as a blocked write.
            if !self.wants_writable {
                self.wants_writable = true;
                registry.reregister(
                    &mut self.stream,
                    self.token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
            }
            return Ok(());
        }
        if self.wants_writable {
            self.wants_writable = false;
            registry.reregister(&mut self.stream, self.token, Interest::READABLE)?;
        }
        Ok(())
    }

    /// Reads what has arrived and parses complete replies; true when the
    /// batch's last reply is in. Stops reading once it is (no more data is
    /// due), which saves the `read` that would only say `WouldBlock`.
    fn receive(&mut self, protocol: Protocol) -> Result<bool, String> {
        loop {
            if self.filled == self.input.len() {
                if self.start > 0 {
                    self.input.copy_within(self.start..self.filled, 0);
                    self.filled -= self.start;
                    self.start = 0;
                } else {
                    let grown = self.input.len() * 2;
                    self.input.resize(grown, 0);
                }
            }
            match self.stream.read(&mut self.input[self.filled..]) {
                Ok(0) => return Err("server closed the connection".into()),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            }
            self.parse(protocol)?;
            if self.expect.is_empty() {
                if self.start != self.filled {
                    return Err(format!(
                        "{} bytes nobody asked for",
                        self.filled - self.start
                    ));
                }
                self.start = 0;
                self.filled = 0;
                return Ok(true);
            }
        }
    }

    /// Consumes the complete replies in `input[start..filled]`.
    fn parse(&mut self, protocol: Protocol) -> Result<(), String> {
        while let Some(&expect) = self.expect.front() {
            let buf = &self.input[self.start..self.filled];
            match parse_reply(buf, expect, protocol).map_err(|e| e.0)? {
                Parsed::Incomplete => break,
                Parsed::Done { len, hits, error } => {
                    self.start += len;
                    self.expect.pop_front();
                    let c = &mut self.batch_counts;
                    c.errors += u64::from(error);
                    match expect {
                        Expect::Stored => c.sets += 1,
                        Expect::Values(asked) => {
                            c.gets += 1;
                            c.get_keys += u64::from(asked);
                            c.get_hits += u64::from(hits);
                        }
                        Expect::Version => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// When a run of the event loop ends and what it records.
#[derive(Clone, Copy)]
struct Phase {
    /// No batch starts after this, and the loop returns.
    deadline: Instant,
    /// A batch without its replies for this long fails its connection.
    reply_timeout: Duration,
    /// Batches completed by the deadline go into the stats.
    record: bool,
}

/// Runs `conns` until every source is done or `deadline`. Batches that
/// complete by the deadline go into `stats` when `record` is set.
fn run_loop(
    poll: &mut Poll,
    conns: &mut [Conn],
    base: usize,
    w: &Workload,
    phase: Phase,
    stats: &mut Stats,
) {
    let Phase {
        deadline,
        reply_timeout,
        record,
    } = phase;
    let mut events = Events::with_capacity(1024);
    let mut live = 0;
    for c in conns.iter_mut().filter(|c| !c.dead) {
        if c.start_batch(w) {
            live += 1;
            if let Err(e) = c.flush(poll.registry()) {
                fail(c, &e.to_string(), stats);
                live -= 1;
            }
        }
    }
    while live > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = (deadline - now).min(Duration::from_millis(100));
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            panic!("poll: {e}");
        }
        for event in events.iter() {
            // Tokens number all of the thread's connections; `conns` starts at `base`.
            let Some(c) = event
                .token()
                .0
                .checked_sub(base)
                .and_then(|i| conns.get_mut(i))
            else {
                continue;
            };
            if c.dead || !c.busy {
                continue;
            }
            if let Err(e) = c.flush(poll.registry()) {
                fail(c, &e.to_string(), stats);
                live -= 1;
                continue;
            }
            match c.receive(w.protocol) {
                Err(e) => {
                    fail(c, &e, stats);
                    live -= 1;
                }
                Ok(false) => {}
                Ok(true) => {
                    let done = Instant::now();
                    if record && done <= deadline {
                        let ns = (done - c.batch_start).as_nanos().max(1) as u64;
                        stats
                            .latency_ns
                            .record_n(ns, c.batch as u64)
                            .expect("latency within bounds");
                        c.completed += 1;
                        let b = c.batch_counts;
                        stats.sets += b.sets;
                        stats.gets += b.gets;
                        stats.get_keys += b.get_keys;
                        stats.get_hits += b.get_hits;
                        stats.errors += b.errors;
                    }
                    if done >= deadline || !c.start_batch(w) {
                        c.busy = false;
                        live -= 1;
                    } else if let Err(e) = c.flush(poll.registry()) {
                        fail(c, &e.to_string(), stats);
                        live -= 1;
                    }
                }
            }
        }
        // A server that stops answering must not hang the run.
        let now = Instant::now();
        for c in conns.iter_mut() {
            if c.busy && !c.dead && now - c.batch_start > reply_timeout {
                fail(c, "no reply within --timeout", stats);
                live -= 1;
            }
        }
    }
}

fn fail(c: &mut Conn, why: &str, stats: &mut Stats) {
    if !c.dead {
        eprintln!("loadgen: connection lost: {why}");
    }
    c.dead = true;
    c.busy = false;
    stats.conn_failures += 1;
    stats.errors += 1;
}

/// What a thread is given: its connections' global numbers and its prefill key range.
struct ThreadPlan {
    conn_ids: Vec<usize>,
    prefill: Option<(u64, u64)>,
}

struct Shared {
    args: Args,
    addr: SocketAddr,
    active: usize,
    seed: u64,
    /// Threads meet here after connecting, after prefill, and before measuring.
    barrier: Barrier,
    /// `--tls`: the client configuration.
    tls: Option<Arc<rustls::ClientConfig>>,
}

fn connect(shared: &Shared) -> io::Result<wire::Wire> {
    wire::Wire::connect(&shared.addr, shared.tls.as_ref())
}

/// What one thread reports back.
struct ThreadResult {
    stats: Stats,
    connected: usize,
    prefill_errors: u64,
    /// Idle connections found closed (or spoken to) by the server at the end.
    idle_lost: usize,
}

fn thread_main(shared: Arc<Shared>, plan: ThreadPlan) -> ThreadResult {
    let a = &shared.args;
    let workload = Workload {
        key_size: a.key_size,
        value: vec![b'x'; a.value_size],
        set_header_tail: match a.protocol {
            Protocol::Meta => format!(" {} F0 T0\r\n", a.value_size),
            _ => format!(" 0 0 {}\r\n", a.value_size),
        }
        .into_bytes(),
        ratio: a.ratio,
        keys: a.keys,
        zipf: (a.distribution == KeyDistribution::Zipf)
            .then(|| Zipf::new(a.keys as f64, a.zipf_s).expect("zipf parameters checked")),
        pipeline: a.pipeline,
        multiget: a.multiget,
        prefill_depth: 64,
        protocol: a.protocol,
    };
    let mut stats = Stats::new();
    let mut poll = Poll::new().expect("mio poll");
    let mut active = Vec::new();
    let mut idle = Vec::new();
    for &id in &plan.conn_ids {
        match connect(&shared) {
            Ok(s) => {
                let seed = shared.seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let source = Source::Measure {
                    rng: SmallRng::seed_from_u64(seed),
                    op: seed % u64::from(a.ratio.0 + a.ratio.1),
                };
                if id < shared.active {
                    active.push(Conn::new(s, source));
                } else {
                    idle.push(Conn::new(
                        s,
                        Source::Touch {
                            sent: !a.touch_idle,
                        },
                    ));
                }
            }
            Err(e) => {
                eprintln!("loadgen: connect to {}: {e}", shared.addr);
                stats.conn_failures += 1;
                stats.errors += 1;
            }
        }
    }
    let connected = active.len() + idle.len();
    // Active connections come first: tokens are indices into `conns`.
    let n_active = active.len();
    let mut conns = active;
    conns.append(&mut idle);
    for (i, c) in conns.iter_mut().enumerate() {
        poll.registry()
            .register(&mut c.stream, Token(i), Interest::READABLE)
            .expect("register");
        c.token = Token(i);
    }
    let timeout = Duration::from_secs_f64(a.timeout);
    shared.barrier.wait();

    // Idle connections that serve one request first; prefill over up to 8 connections.
    let prefill_errors;
    {
        let mut scratch = Stats::new();
        let setup = Phase {
            deadline: Instant::now() + Duration::from_secs(600),
            reply_timeout: timeout,
            record: false,
        };
        if a.touch_idle {
            run_loop(
                &mut poll,
                &mut conns[n_active..],
                n_active,
                &workload,
                setup,
                &mut scratch,
            );
        }
        if let Some((start, end)) = plan.prefill {
            let users = conns.len().min(8);
            let saved: Vec<Source> = conns[..users]
                .iter_mut()
                .enumerate()
                .map(|(i, c)| {
                    let lo = start + (end - start) * i as u64 / users as u64;
                    let hi = start + (end - start) * (i as u64 + 1) / users as u64;
                    std::mem::replace(&mut c.source, Source::Prefill { next: lo, end: hi })
                })
                .collect();
            run_loop(
                &mut poll,
                &mut conns[..users],
                0,
                &workload,
                setup,
                &mut scratch,
            );
            for (c, s) in conns.iter_mut().zip(saved) {
                c.source = s;
            }
        }
        prefill_errors = scratch.errors;
        stats.conn_failures += scratch.conn_failures;
    }
    shared.barrier.wait();
    shared.barrier.wait();
    let deadline = Instant::now() + Duration::from_secs_f64(a.duration);
    if n_active > 0 {
        run_loop(
            &mut poll,
            &mut conns[..n_active],
            0,
            &workload,
            Phase {
                deadline,
                reply_timeout: timeout,
                record: true,
            },
            &mut stats,
        );
    }
    for c in conns[..n_active].iter().filter(|c| !c.dead) {
        stats.conn_batches_min = stats.conn_batches_min.min(c.completed);
        stats.conn_batches_max = stats.conn_batches_max.max(c.completed);
    }
    // Idle connections (and an early finish) hold until the end of the run.
    let now = Instant::now();
    if now < deadline {
        std::thread::sleep(deadline - now);
    }
    // An idle connection the server has closed (or written to) is not held.
    let idle_lost = conns[n_active..]
        .iter_mut()
        .filter(|c| !c.dead)
        .map(|c| c.stream.read(&mut [0u8; 64]))
        .filter(|r| !matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock))
        .count();
    ThreadResult {
        stats,
        connected,
        prefill_errors,
        idle_lost,
    }
}

fn validate(a: &Args) -> Result<(), String> {
    if a.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if a.keys == 0 {
        return Err("--keys must be at least 1".into());
    }
    let digits = (a.keys - 1).to_string().len();
    if a.key_size < digits + 1 || a.key_size > 250 {
        return Err(format!(
            "--key-size must be {}..=250 for {} keys (\"k\" and {digits} digits)",
            digits + 1,
            a.keys
        ));
    }
    if a.pipeline == 0 || a.multiget == 0 {
        return Err("--pipeline and --multiget must be at least 1".into());
    }
    if a.protocol == Protocol::Binary && a.multiget > 1 {
        return Err("--multiget needs --protocol text or meta".into());
    }
    if a.multiget * (a.key_size + 1) > 1_000_000 {
        return Err("--multiget × --key-size is too long a command line".into());
    }
    let valid_time = |t: f64| t.is_finite() && t >= 0.0;
    if !valid_time(a.duration) || !valid_time(a.timeout) || a.timeout == 0.0 {
        return Err("--duration must be ≥ 0 and --timeout > 0".into());
    }
    if a.distribution == KeyDistribution::Zipf {
        Zipf::new(a.keys as f64, a.zipf_s).map_err(|e| format!("--zipf-s: {e}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    // A thread that panics would leave the others waiting at a barrier: end the run.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(70);
    }));
    if args.self_test {
        self_test();
        println!("loadgen self-test passed");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = validate(&args) {
        eprintln!("loadgen: {e}");
        return ExitCode::from(64);
    }
    let addr = match args.server.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(addr)) => addr,
        Ok(None) | Err(_) => {
            eprintln!("loadgen: cannot resolve {}", args.server);
            return ExitCode::from(64);
        }
    };
    let active = args
        .active
        .unwrap_or(args.connections)
        .min(args.connections);
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let tls = match args.tls_ca.as_deref().filter(|_| args.tls) {
        None => None,
        Some(ca) => match wire::client_config(ca) {
            Ok(config) => Some(config),
            Err(e) => {
                eprintln!("loadgen: {e}");
                return ExitCode::from(64);
            }
        },
    };
    let threads = args.threads;
    // Connection i goes to thread i % T, so active ones (the lowest numbers) spread evenly.
    let mut plans: Vec<ThreadPlan> = (0..threads)
        .map(|t| ThreadPlan {
            conn_ids: (t..args.connections).step_by(threads).collect(),
            prefill: None,
        })
        .collect();
    if args.prefill {
        let with_conns: Vec<usize> = (0..threads)
            .filter(|&t| !plans[t].conn_ids.is_empty())
            .collect();
        let n = with_conns.len() as u64;
        for (i, &t) in with_conns.iter().enumerate() {
            let i = i as u64;
            plans[t].prefill = Some((args.keys * i / n, args.keys * (i + 1) / n));
        }
    }
    let shared = Arc::new(Shared {
        args: args.clone(),
        addr,
        active,
        seed,
        barrier: Barrier::new(threads + 1),
        tls,
    });
    let handles: Vec<_> = plans
        .into_iter()
        .enumerate()
        .map(|(i, plan)| {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("loadgen-{i}"))
                .spawn(move || thread_main(shared, plan))
                .expect("spawn thread")
        })
        .collect();
    shared.barrier.wait(); // connected
    let t0 = Instant::now();
    eprintln!("loadgen: connections open");
    shared.barrier.wait(); // touched and prefilled
    let prefill_s = t0.elapsed().as_secs_f64();
    if args.prefill {
        eprintln!("loadgen: prefilled {} keys in {prefill_s:.2} s", args.keys);
    }
    shared.barrier.wait(); // measuring
    let start = Instant::now();
    eprintln!("loadgen: measuring for {} s", args.duration);
    let mut total = Stats::new();
    let mut connected = 0;
    let mut prefill_errors = 0;
    let mut idle_lost = 0;
    for h in handles {
        let r = h.join().expect("loadgen thread panicked");
        total.merge(&r.stats);
        connected += r.connected;
        prefill_errors += r.prefill_errors;
        idle_lost += r.idle_lost;
    }
    total.conn_failures += idle_lost as u64;
    total.errors += idle_lost as u64;
    if idle_lost > 0 {
        eprintln!("loadgen: {idle_lost} idle connections were closed by the server");
    }
    let wall = start.elapsed().as_secs_f64();
    report(
        &args,
        &total,
        connected,
        active,
        prefill_errors,
        prefill_s,
        wall,
    );
    if connected == 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn report(
    a: &Args,
    s: &Stats,
    connected: usize,
    active: usize,
    prefill_errors: u64,
    prefill_s: f64,
    wall: f64,
) {
    let ops = s.sets + s.gets;
    let ops_per_sec = if a.duration > 0.0 {
        ops as f64 / a.duration
    } else {
        0.0
    };
    let us = |q: f64| {
        if s.latency_ns.is_empty() {
            0.0
        } else {
            s.latency_ns.value_at_quantile(q) as f64 / 1000.0
        }
    };
    let (p50, p99, p999, max) = (
        us(0.5),
        us(0.99),
        us(0.999),
        s.latency_ns.max() as f64 / 1000.0,
    );
    let hit_ratio = (s.get_keys > 0).then(|| s.get_hits as f64 / s.get_keys as f64);
    if a.json {
        let hr = hit_ratio.map_or("null".to_string(), |h| format!("{h:.4}"));
        println!(
            "{{\"server\":\"{}\",\"connections\":{},\"connected\":{connected},\"active\":{active},\
             \"threads\":{},\"duration_s\":{},\"wall_s\":{wall:.3},\"key_size\":{},\"value_size\":{},\
             \"ratio\":\"{}:{}\",\"keys\":{},\"distribution\":\"{:?}\",\"pipeline\":{},\"multiget\":{},\
             \"ops_per_sec\":{ops_per_sec:.1},\"total_ops\":{ops},\"sets\":{},\"gets\":{},\
             \"get_keys\":{},\"get_hits\":{},\"hit_ratio\":{hr},\"p50_us\":{p50:.1},\"p99_us\":{p99:.1},\
             \"p999_us\":{p999:.1},\"max_us\":{max:.1},\"errors\":{},\"conn_failures\":{},\
             \"prefill_s\":{prefill_s:.3},\"prefill_errors\":{prefill_errors},\
             \"conn_batches_min\":{},\"conn_batches_max\":{},\"thread_ops\":{:?}}}",
            a.server.replace('"', ""),
            a.connections,
            a.threads,
            a.duration,
            a.key_size,
            a.value_size,
            a.ratio.0,
            a.ratio.1,
            a.keys,
            a.distribution,
            a.pipeline,
            a.multiget,
            s.sets,
            s.gets,
            s.get_keys,
            s.get_hits,
            s.errors,
            s.conn_failures,
            if s.conn_batches_max > 0 { s.conn_batches_min } else { 0 },
            s.conn_batches_max,
            s.thread_ops,
        );
    } else {
        println!(
            "{}: {connected}/{} connections ({active} active) over {} threads, {} s, \
             ratio {}:{}, {} keys ({:?}), key {} B, value {} B, pipeline {}, multiget {}",
            a.server,
            a.connections,
            a.threads,
            a.duration,
            a.ratio.0,
            a.ratio.1,
            a.keys,
            a.distribution,
            a.key_size,
            a.value_size,
            a.pipeline,
            a.multiget
        );
        println!(
            "ops/s {ops_per_sec:.0}  total ops {ops} (sets {}, gets {})  errors {} (connections lost {})",
            s.sets, s.gets, s.errors, s.conn_failures
        );
        println!("latency µs: p50 {p50:.1}  p99 {p99:.1}  p99.9 {p999:.1}  max {max:.1}");
        match hit_ratio {
            Some(h) => println!(
                "get hit ratio {h:.4} ({} of {} keys asked)",
                s.get_hits, s.get_keys
            ),
            None => println!("get hit ratio n/a (no gets)"),
        }
        if a.prefill {
            println!("prefill {prefill_s:.2} s, {prefill_errors} errors");
        }
    }
}

/// Checks of the reply parser and key layout (`--self-test`; a harness-less
/// bench has no `#[test]` runner).
fn self_test() {
    let done = |len, hits, error| Parsed::Done { len, hits, error };
    let parse = |buf: &[u8], e| parse_reply(buf, e, Protocol::Text).expect("parses");
    assert_eq!(parse(b"STORED\r\nEND", Expect::Stored), done(8, 0, false));
    assert_eq!(parse(b"STOR", Expect::Stored), Parsed::Incomplete);
    assert_eq!(
        parse(b"SERVER_ERROR out of memory\r\n", Expect::Stored),
        done(28, 0, true)
    );
    assert_eq!(
        parse(b"VERSION 1.6.18\r\n", Expect::Version),
        done(16, 0, false)
    );
    assert_eq!(parse(b"END\r\n", Expect::Values(1)), done(5, 0, false));
    let two = b"VALUE k1 0 5\r\nEND\r\n\r\nVALUE k2 0 2 77\r\nab\r\nEND\r\n";
    assert_eq!(parse(two, Expect::Values(2)), done(two.len(), 2, false));
    // "END\r\n" inside the data must not end the reply early.
    for cut in 0..two.len() {
        assert_eq!(
            parse(&two[..cut], Expect::Values(2)),
            Parsed::Incomplete,
            "cut at {cut}"
        );
    }
    assert_eq!(
        parse(b"CLIENT_ERROR bad\r\n", Expect::Values(1)),
        done(18, 0, true)
    );
    let text = Protocol::Text;
    assert!(parse_reply(b"VALUE k 0 2\r\nabc\r\n", Expect::Values(1), text).is_err());
    assert!(parse_reply(b"STORED\r\n", Expect::Values(1), text).is_err());
    assert!(parse_reply(b"END\r\n", Expect::Stored, text).is_err());
    // Binary: a header with status and body length, then the body.
    let bin = |status: u16, body: &[u8]| {
        let mut r = vec![BIN_RESPONSE, 0, 0, 0, 4, 0];
        r.extend_from_slice(&status.to_be_bytes());
        r.extend_from_slice(&(body.len() as u32).to_be_bytes());
        r.extend_from_slice(&[0; 12]);
        r.extend_from_slice(body);
        r
    };
    let parse_bin = |buf: &[u8], e| parse_reply(buf, e, Protocol::Binary).expect("parses");
    let hit = bin(0, b"\0\0\0\0value");
    assert_eq!(parse_bin(&hit, Expect::Values(1)), done(33, 1, false));
    assert_eq!(parse_bin(&hit[..32], Expect::Values(1)), Parsed::Incomplete);
    assert_eq!(parse_bin(&hit[..10], Expect::Values(1)), Parsed::Incomplete);
    let miss = bin(BIN_KEY_NOT_FOUND, b"Not found");
    assert_eq!(parse_bin(&miss, Expect::Values(1)), done(33, 0, false));
    assert_eq!(parse_bin(&bin(0, b""), Expect::Stored), done(24, 0, false));
    assert_eq!(
        parse_bin(&bin(0x82, b"oom"), Expect::Stored),
        done(27, 0, true)
    );
    // A text answer is refused at its first byte, not after 24.
    assert!(parse_reply(b"ERROR\r\n", Expect::Stored, Protocol::Binary).is_err());
    assert_eq!(parse_bin(b"", Expect::Stored), Parsed::Incomplete);
    // Meta: HD for a set; VA (framed by its length) or EN per key, MN after a multi-get.
    let meta = Protocol::Meta;
    let parse_meta = |buf: &[u8], e| parse_reply(buf, e, meta).expect("parses");
    assert_eq!(parse_meta(b"HD\r\n", Expect::Stored), done(4, 0, false));
    assert_eq!(parse_meta(b"HD", Expect::Stored), Parsed::Incomplete);
    assert_eq!(parse_meta(b"NS\r\n", Expect::Stored), done(4, 0, true));
    assert_eq!(
        parse_meta(b"SERVER_ERROR out of memory\r\n", Expect::Stored),
        done(28, 0, true)
    );
    assert!(parse_reply(b"STORED\r\n", Expect::Stored, meta).is_err());
    assert_eq!(parse_meta(b"EN\r\n", Expect::Values(1)), done(4, 0, false));
    let hit = b"VA 4 f0\r\nEN\r\n\r\n";
    assert_eq!(
        parse_meta(hit, Expect::Values(1)),
        done(hit.len(), 1, false)
    );
    let multi = b"VA 2 f7\r\nMN\r\nEN\r\nCLIENT_ERROR bad\r\nMN\r\n";
    assert_eq!(
        parse_meta(multi, Expect::Values(3)),
        done(multi.len(), 1, true)
    );
    for cut in 0..multi.len() {
        assert_eq!(
            parse_meta(&multi[..cut], Expect::Values(3)),
            Parsed::Incomplete,
            "cut at {cut}"
        );
    }
    assert_eq!(
        parse_meta(b"VERSION 1.6.18\r\n", Expect::Version),
        done(16, 0, false)
    );
    for wrong in [
        &b"VALUE k 0 2\r\nab\r\nEND\r\n"[..],
        b"VA 2\r\nab\r\n",
        b"VA 2 f0 t-1\r\nab\r\n",
        b"VA +2 f0\r\nab\r\n",
        b"VA 2 f\r\nab\r\n",
        b"VA 2 f0\r\nabc\r\n",
        b"HD\r\n",
        b"END\r\n",
    ] {
        assert!(
            parse_reply(wrong, Expect::Values(1), meta).is_err(),
            "{:?}",
            String::from_utf8_lossy(wrong)
        );
    }
    // Two keys: two replies then MN, not a third reply.
    assert!(parse_reply(b"EN\r\nEN\r\nEN\r\n", Expect::Values(2), meta).is_err());
    assert!(parse_reply(&[b'x'; META_MAX_LINE + 1], Expect::Stored, meta).is_err());
    let w = Workload {
        key_size: 4,
        value: b"xy".to_vec(),
        set_header_tail: b" 2 F0 T0\r\n".to_vec(),
        ratio: (1, 1),
        keys: 10,
        zipf: None,
        pipeline: 1,
        multiget: 2,
        prefill_depth: 1,
        protocol: meta,
    };
    let mut out = Vec::new();
    w.push_set(&mut out, 7);
    assert_eq!(out, b"ms k007 2 F0 T0\r\nxy\r\n");
    out.clear();
    w.push_get(&mut out, &mut SmallRng::seed_from_u64(1));
    let text = String::from_utf8(out).expect("ascii");
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert!(lines[..2]
        .iter()
        .all(|l| l.starts_with("mg k00") && l.ends_with(" v f")));
    assert_eq!(lines[2], "mn");
    let mut req = Vec::new();
    push_binary_header(&mut req, 0x01, 3, 8, 5);
    assert_eq!(req.len(), 24);
    assert_eq!(&req[..8], &[0x80, 0x01, 0, 3, 8, 0, 0, 0]);
    assert_eq!(&req[8..12], &16u32.to_be_bytes());
    let mut out = Vec::new();
    push_key(&mut out, 42, 10);
    assert_eq!(out, b"k000000042");
    assert_eq!(parse_ratio("1:10"), Ok((1, 10)));
    assert!(parse_ratio("0:0").is_err());
}

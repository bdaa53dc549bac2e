//! What the differential harnesses (`tests/differential.rs` for the text
//! protocol, `tests/differential_binary.rs` for the binary one) share: the
//! two servers and the self-check switch, writing a request in pieces while
//! reading the reply until a protocol-specific cut, seeded piece sizes, and
//! the reporting (escaping, one failure listing every difference).
//!
//! `FERROCACHE_DIFF_SUBJECT=memcached` makes the subject a second memcached:
//! every differential test must then pass, which checks the harness itself.

use super::Server;
use std::fmt::Write as _;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Flag sets the differential tests run with.
pub const CONFIGS: &[&[&str]] = &[&["-t", "1"], &["-t", "4"]];
/// How long the subject may take to answer one exchange.
pub const SUBJECT_TIMEOUT: Duration = Duration::from_secs(4);
/// How long memcached may take (it never should).
pub const REFERENCE_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

/// Whether the subject is a second memcached (the harness's self-check).
pub fn self_check() -> bool {
    std::env::var("FERROCACHE_DIFF_SUBJECT").is_ok_and(|v| v == "memcached")
}

/// The subject's name in reports.
pub fn subject_name() -> &'static str {
    if self_check() {
        "memcached-as-subject"
    } else {
        "ferrocache"
    }
}

/// Starts the subject (ferrocache, or memcached under the self-check).
pub fn start_subject(flags: &[&str]) -> Server {
    if self_check() {
        Server::memcached(flags)
    } else {
        Server::ferrocache(flags)
    }
}

/// A new connection with Nagle off, or None when the server refuses it.
pub fn open(server: &Server) -> Option<TcpStream> {
    let stream = TcpStream::connect(server.addr).ok()?;
    stream.set_nodelay(true).ok()?;
    Some(stream)
}

/// Whether the process has exited (it stays a zombie: nobody waits for it).
pub fn process_gone(server: &Server) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", server.pid())) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

/// Where `needle` first occurs in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Exchanging bytes
// ---------------------------------------------------------------------------

/// How a reply ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    /// The cut was found (or, reading until a close, never looked for).
    Complete,
    /// The server closed (or reset) the connection.
    Closed,
    /// Neither within the time limit.
    Timeout,
}

/// A reply: its bytes (masked, once a harness has masked them) and how it ended.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Reply {
    /// The bytes, up to the cut.
    pub bytes: Vec<u8>,
    /// How the reply ended.
    pub end: End,
}

/// Writes `pieces` (each after its pause) from a helper thread while reading
/// the reply, so large requests and large replies cannot deadlock.
///
/// `cut` is asked after every read: `Some((start, stop))` ends the reply,
/// which keeps the bytes before `start` (a fence's reply spans
/// `start..stop`); bytes after `stop` are kept behind a
/// `<<bytes after the fence:>>` marker, so that a reply answering more than
/// was asked never compares equal. A `cut` that never answers reads until
/// the server closes (or the time is up).
pub fn exchange(
    stream: &TcpStream,
    pieces: Vec<(Duration, Vec<u8>)>,
    mut cut: impl FnMut(&[u8]) -> Option<(usize, usize)>,
    timeout: Duration,
) -> Reply {
    let mut writer = stream.try_clone().expect("clone stream");
    writer
        .set_write_timeout(Some(timeout))
        .expect("set write timeout");
    let handle = std::thread::spawn(move || {
        for (pause, piece) in pieces {
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
            if writer.write_all(&piece).is_err() {
                return;
            }
        }
    });
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("set read timeout");
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut reader = stream;
    let end = loop {
        if let Some((start, stop)) = cut(&out) {
            let extra = out.split_off(stop);
            out.truncate(start);
            if !extra.is_empty() {
                out.extend_from_slice(b"<<bytes after the fence:>>");
                out.extend_from_slice(&extra);
            }
            break End::Complete;
        }
        if Instant::now() >= deadline {
            break End::Timeout;
        }
        match reader.read(&mut buf) {
            Ok(0) => break End::Closed,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => break End::Closed,
        }
    };
    let _ = handle.join();
    Reply { bytes: out, end }
}

/// Cuts `bytes` at the given sizes (cycling), pausing before each later piece.
pub fn split_into(
    bytes: Vec<u8>,
    sizes: Option<&[usize]>,
    pause: Duration,
) -> Vec<(Duration, Vec<u8>)> {
    let Some(sizes) = sizes else {
        return vec![(Duration::ZERO, bytes)];
    };
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let n = sizes[i % sizes.len()].max(1).min(bytes.len() - pos);
        let wait = if i == 0 { Duration::ZERO } else { pause };
        out.push((wait, bytes[pos..pos + n].to_vec()));
        pos += n;
        i += 1;
    }
    out
}

/// Seeded random piece sizes: mostly tiny, sometimes large.
pub fn piece_sizes(seed: u64, n: usize) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| match rng.u32(..10) {
            0..=5 => rng.usize(1..8),
            6..=8 => rng.usize(8..200),
            _ => rng.usize(200..20_000),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Reporting
// ---------------------------------------------------------------------------

fn esc_byte(b: u8, out: &mut String) {
    match b {
        b'\r' => out.push_str("\\r"),
        b'\n' => out.push_str("\\n"),
        b'\t' => out.push_str("\\t"),
        b'\\' => out.push_str("\\\\"),
        b'"' => out.push_str("\\\""),
        0x20..=0x7e => out.push(b as char),
        _ => {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// Escapes bytes; runs of 12+ equal bytes are shown as ⟨N×'c'⟩.
pub fn esc(bytes: &[u8], max_chars: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if s.len() > max_chars {
            let _ = write!(s, "…⟨{} more bytes⟩", bytes.len() - i);
            break;
        }
        let b = bytes[i];
        let run = bytes[i..].iter().take_while(|&&c| c == b).count();
        if run >= 12 {
            let mut one = String::new();
            esc_byte(b, &mut one);
            let _ = write!(s, "⟨{run}×'{one}'⟩");
            i += run;
        } else {
            esc_byte(b, &mut s);
            i += 1;
        }
    }
    s
}

/// Shows bytes as quoted escaped strings, one `\n`-ended line per output line.
pub fn show(bytes: &[u8], indent: &str) -> String {
    if bytes.is_empty() {
        return format!("{indent}(nothing)\n");
    }
    let mut out = String::new();
    let mut lines = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| pos + p + 1);
        if lines == 40 {
            let _ = writeln!(out, "{indent}… ⟨{} more bytes⟩", bytes.len() - pos);
            break;
        }
        let _ = writeln!(out, "{indent}\"{}\"", esc(&bytes[pos..end], 400));
        lines += 1;
        pos = end;
    }
    out
}

/// Bytes as one short quoted string.
pub fn short(bytes: &[u8]) -> String {
    format!("\"{}\"", esc(bytes, 160))
}

/// "NAME replied[ — then CLOSED …]:" and the reply, shown with [`show`].
pub fn show_reply(name: &str, reply: &Reply) -> String {
    let how = match reply.end {
        End::Complete => String::new(),
        End::Closed => " — then CLOSED the connection".to_string(),
        End::Timeout => " — INCOMPLETE: no (full) reply within the time limit".to_string(),
    };
    format!("  {name} replied{how}:\n{}", show(&reply.bytes, "      "))
}

/// Points at the first line where two masked replies differ.
pub fn first_difference(a: &Reply, b: &Reply) -> String {
    let la: Vec<&[u8]> = a.bytes.split_inclusive(|&c| c == b'\n').collect();
    let lb: Vec<&[u8]> = b.bytes.split_inclusive(|&c| c == b'\n').collect();
    let i = la.iter().zip(&lb).take_while(|(x, y)| x == y).count();
    if i == la.len() && i == lb.len() {
        return String::new();
    }
    let get = |v: &Vec<&[u8]>| {
        v.get(i).map_or("(end of reply)".to_string(), |l| {
            format!("\"{}\"", esc(l, 200))
        })
    };
    format!(
        "  first difference at reply line {}: memcached {} vs {} {}\n",
        i + 1,
        get(&la),
        subject_name(),
        get(&lb)
    )
}

/// One difference found under one flag set.
pub struct Mismatch {
    /// The flags, as [`config_label`] writes them.
    pub config: String,
    /// The report.
    pub text: String,
}

/// Flags as one label.
pub fn config_label(flags: &[&str]) -> String {
    flags.join(" ")
}

/// Fails the test with every mismatch (identical ones across flag sets
/// merged); `masking` says what the replies had masked.
pub fn finish(test: &str, what: &str, masking: &str, found: Vec<Mismatch>) {
    if found.is_empty() {
        return;
    }
    let mut merged: Vec<(String, Vec<String>)> = Vec::new();
    for m in found {
        match merged.iter_mut().find(|(t, _)| *t == m.text) {
            Some((_, configs)) => configs.push(m.config),
            None => merged.push((m.text, vec![m.config])),
        }
    }
    let mut msg = format!(
        "\n{test}: {} difference(s) between memcached 1.6.18 (the truth) and {} ({what}).\n{masking}\n",
        merged.len(),
        subject_name()
    );
    for (i, (text, configs)) in merged.iter().enumerate() {
        let _ = write!(
            msg,
            "\n--- #{} [flags: {}] {text}",
            i + 1,
            configs.join(" | ")
        );
    }
    panic!("{msg}");
}

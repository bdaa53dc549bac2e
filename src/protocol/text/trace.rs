//! `-vv` request and reply lines in memcached's style: `<FD command line`
//! for each request, `>FD reply line` for each reply line, and
//! `>FD sending key KEY` instead of a value's bytes (a meta `VA` line is
//! logged as it is, and its value block skipped). Bytes that are not
//! printable ASCII are shown escaped (`\x00`), so binary keys stay
//! readable on one line. Nothing here runs unless debug logging is on.

use std::fmt::Write;

/// Whether request and reply lines are logged (`-vv`, or `RUST_LOG`).
pub fn enabled() -> bool {
    log::log_enabled!(log::Level::Debug)
}

/// Logs the first line of a request (its command line, not its data).
pub fn request(fd: u64, raw: &[u8]) {
    let line = raw.split(|&b| b == b'\n').next().unwrap_or(raw);
    log::debug!(
        "<{fd} {}",
        printable(line.strip_suffix(b"\r").unwrap_or(line))
    );
}

/// Logs the text-protocol replies in `out`, one line each; a `VALUE`
/// line's data block is summarised as memcached does.
pub fn replies(fd: u64, mut out: &[u8]) {
    while !out.is_empty() {
        let end = memchr::memchr(b'\n', out).map_or(out.len(), |i| i + 1);
        let (line, rest) = out.split_at(end);
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out = rest;
        match line.strip_prefix(b"VALUE ") {
            Some(header) => {
                let mut fields = header.split(|&b| b == b' ');
                let key = fields.next().unwrap_or_default();
                log::debug!(">{fd} sending key {}", printable(key));
                // VALUE <key> <flags> <bytes> [<cas>]: skip the data and its \r\n.
                let bytes = fields
                    .nth(1)
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .and_then(|b| b.parse::<usize>().ok())
                    .unwrap_or(0);
                out = &out[(bytes + 2).min(out.len())..];
            }
            None => {
                log::debug!(">{fd} {}", printable(line));
                if let Some(header) = line.strip_prefix(b"VA ") {
                    // VA <bytes> <flags>*: skip the data and its \r\n.
                    let bytes = header
                        .split(|&b| b == b' ')
                        .next()
                        .and_then(|b| std::str::from_utf8(b).ok())
                        .and_then(|b| b.parse::<usize>().ok())
                        .unwrap_or(0);
                    out = &out[(bytes + 2).min(out.len())..];
                }
            }
        }
    }
}

/// `bytes` with anything but printable ASCII escaped.
fn printable(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if b == b' ' || b.is_ascii_graphic() {
            s.push(b as char);
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unprintable_bytes_are_escaped() {
        assert_eq!(printable(b"get k\x00\xff"), "get k\\x00\\xff");
    }
}

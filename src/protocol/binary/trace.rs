//! `-vv` lines for binary packets, one printable line each:
//! `<FD GET key` for a request (`+N bytes` when it carries a value) and
//! `>FD GET status=0x0001 Not found` for each response packet (a success
//! shows its key and a short printable body, or the body's size). Bytes
//! that are not printable ASCII are escaped (`\x00`). memcached's `-vv`
//! dumps the header bytes instead; one line per packet is easier to read
//! and to grep. Nothing here runs unless debug logging is on.

use super::header::{Header, Status, HEADER_LEN, REQUEST_MAGIC};
use std::fmt::Write;

/// Bodies longer than this are shown by their size.
const SHOWN_BODY: usize = 64;

/// Whether request and reply lines are logged (`-vv`, or `RUST_LOG`).
pub fn enabled() -> bool {
    log::log_enabled!(log::Level::Debug)
}

/// Logs the request packet at the front of `raw`.
pub fn request(fd: u64, raw: &[u8]) {
    log::debug!("<{fd} {}", request_line(raw));
}

/// Logs each response packet in `out`.
pub fn replies(fd: u64, out: &[u8]) {
    for line in reply_lines(out) {
        log::debug!(">{fd} {line}");
    }
}

/// The request packet at the front of `raw`, as one line: its opcode, its
/// key and the size of its value.
pub fn request_line(raw: &[u8]) -> String {
    if raw.len() < HEADER_LEN {
        return format!("({} bytes of a header)", raw.len());
    }
    let h = Header::decode(raw);
    if h.magic != REQUEST_MAGIC {
        return format!("bad magic 0x{:02x}", h.magic);
    }
    let mut line = h.opcode.to_string();
    let key_start = HEADER_LEN + h.extlen as usize;
    let key = raw.get(key_start..).unwrap_or_default();
    let key = &key[..key.len().min(h.keylen as usize)];
    if !key.is_empty() {
        line.push(' ');
        escape_into(&mut line, key);
    }
    let head = h.extlen as usize + h.keylen as usize;
    if let Some(value) = (h.bodylen as usize).checked_sub(head).filter(|&v| v > 0) {
        let _ = write!(line, " +{value} bytes");
    }
    line
}

/// Each response packet in `out`, as one line.
pub fn reply_lines(mut out: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    while out.len() >= HEADER_LEN {
        let h = Header::decode(out);
        let end = h.packet_len().min(out.len());
        let body = &out[HEADER_LEN..end];
        out = &out[end..];
        let status = h.vbucket_or_status;
        let mut line = format!("{} status=0x{status:04x}", h.opcode);
        let ext = (h.extlen as usize).min(body.len());
        let key = &body[ext..(ext + h.keylen as usize).min(body.len())];
        let value = &body[ext + key.len()..];
        if !key.is_empty() {
            line.push(' ');
            escape_into(&mut line, key);
        }
        let error = status != Status::Success.code() && status != Status::AuthContinue.code();
        if !value.is_empty() {
            line.push(' ');
            if error || value.len() <= SHOWN_BODY {
                escape_into(&mut line, value);
            } else {
                let _ = write!(line, "({} bytes)", value.len());
            }
        }
        lines.push(line);
    }
    lines
}

/// Appends `bytes` with anything but printable ASCII escaped.
fn escape_into(s: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if b == b' ' || b.is_ascii_graphic() {
            s.push(b as char);
        } else {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::binary::{error_reply, quit_reply, Opcode};

    fn request(opcode: Opcode, extlen: u8, key: &[u8], value: &[u8]) -> Vec<u8> {
        let bodylen = (extlen as usize + key.len() + value.len()) as u32;
        let mut out = Vec::new();
        Header::request(opcode, extlen, key.len() as u16, bodylen).encode(&mut out);
        out.resize(out.len() + extlen as usize, 0);
        out.extend_from_slice(key);
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn requests_are_one_line() {
        assert_eq!(
            request_line(&request(Opcode::GET, 0, b"k\x00", b"")),
            "GET k\\x00"
        );
        let set = request(Opcode::SETQ, 8, b"key", b"hello");
        assert_eq!(request_line(&set), "SETQ key +5 bytes");
        assert_eq!(request_line(&request(Opcode(0x50), 0, b"", b"")), "0x50");
        assert_eq!(request_line(&set[..30]), "SETQ +5 bytes"); // the key not in yet
        assert_eq!(request_line(&set[..10]), "(10 bytes of a header)");
        let mut bad = set.clone();
        bad[0] = 0x00;
        assert_eq!(request_line(&bad), "bad magic 0x00");
    }

    #[test]
    fn replies_are_one_line_each() {
        let header = Header::request(Opcode::GET, 0, 1, 1);
        let mut out = Vec::new();
        error_reply(&mut out, &header, Status::KeyNotFound);
        quit_reply(&mut out, &Header::request(Opcode::QUIT, 0, 0, 0));
        out.extend_from_slice(&[0x81, 0]); // a cut packet is not shown
        assert_eq!(
            reply_lines(&out),
            ["GET status=0x0001 Not found", "QUIT status=0x0000"]
        );
    }
}

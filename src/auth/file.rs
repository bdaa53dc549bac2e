//! The two credential file formats, read the way memcached reads them:
//! `-Y`'s authfile (memcached's `authfile.c`) and the SASL password
//! database named by `MEMCACHED_SASL_PWDB` (`sasl_defs.c`, built with
//! `--enable-sasl-pwdb`). Both are `user:password` lines; they differ in
//! what a line may hold, what is an error and what is silently skipped.
//! This module only turns bytes into (user, accepted password) pairs and
//! warnings; `credentials` hashes them and answers checks.

use std::collections::HashMap;
use std::fmt;

/// Which of memcached's two credential files a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `-Y <authfile>`, for the text protocol's `set`-based login. At most
    /// [`AUTHFILE_MAX_ENTRIES`] entries are read (more are ignored, with a
    /// warning); a line without a `:` (a blank line included) makes the
    /// whole file malformed; the password runs from the first `:` to the
    /// end of the line, a `\r` or a NUL; a line longer than
    /// [`AUTHFILE_LINE_MAX`] bytes is cut there and ends the file (a
    /// warning says so).
    AuthFile,
    /// `MEMCACHED_SASL_PWDB`, for SASL. Any number of entries; lines
    /// without a `:` (blank lines, comments) are skipped; the first line
    /// for a user is the one used; the password is what follows the first
    /// `:`, and memcached also accepts any part of it that stops just
    /// before a `:` or `\r` (so `user:pass:extra` takes `pass` and
    /// `pass:extra`); user and password together must be at most
    /// [`PWDB_MAX_USER_AND_PASSWORD`] bytes.
    SaslPwdb,
}

impl Format {
    /// How messages name the file: `authfile` or `SASL password database`.
    pub fn describe(self) -> &'static str {
        match self {
            Format::AuthFile => "authfile",
            Format::SaslPwdb => "SASL password database",
        }
    }
}

/// The most entries memcached reads from an authfile (`MAX_ENTRIES`).
pub const AUTHFILE_MAX_ENTRIES: usize = 8;

/// The longest authfile line memcached reads whole, without its newline:
/// it reads a line with `fgets` into 256 bytes, so 255 bytes at most, and
/// a line of 255 bytes or more is cut at 255 and taken as the file's last.
pub const AUTHFILE_LINE_MAX: usize = 254;

/// memcached refuses a SASL password database login whose user and
/// password add up to more than this (`MAX_ENTRY_LEN - 4`).
pub const PWDB_MAX_USER_AND_PASSWORD: usize = 252;

/// One credential as read: a user and every password memcached would
/// accept for it from this line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The user, bytes before the line's first `:`.
    pub user: Vec<u8>,
    /// The passwords accepted for the user; the first is the password
    /// proper (what SCRAM derives its keys from).
    pub passwords: Vec<Vec<u8>>,
    /// The line the entry was read from, counting from 1.
    pub line: usize,
}

/// A file that cannot be loaded at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The offending line, counting from 1.
    pub line: usize,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} is not user:password (no ':' before the end of the line)",
            self.line
        )
    }
}

/// What a file held: its entries, and what was skipped or cut (each a
/// one-line message for the log).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The entries, in file order.
    pub entries: Vec<Entry>,
    /// What was ignored, and why.
    pub warnings: Vec<String>,
}

/// Reads `data` in `format`.
pub fn parse(data: &[u8], format: Format) -> Result<Parsed, Malformed> {
    match format {
        Format::AuthFile => parse_authfile(data),
        Format::SaslPwdb => Ok(parse_pwdb(data)),
    }
}

fn parse_authfile(data: &[u8]) -> Result<Parsed, Malformed> {
    let mut parsed = Parsed::default();
    let mut pos = 0;
    let mut line = 1;
    while pos < data.len() {
        // memcached's fgets: through the newline, or 255 bytes, or the end.
        let rest = &data[pos..];
        let window = &rest[..rest.len().min(AUTHFILE_LINE_MAX + 1)];
        let chunk = match memchr::memchr(b'\n', window) {
            Some(i) => &window[..=i],
            None => window,
        };
        // The user ends at the first ':'; a NUL (or the chunk's end) first
        // means a malformed line, as memcached stops at the C string's end.
        let colon = match chunk.iter().position(|&b| b == b':' || b == 0) {
            Some(i) if chunk[i] == b':' => i,
            _ => return Err(Malformed { line }),
        };
        let after = &chunk[colon + 1..];
        let end = after
            .iter()
            .position(|&b| matches!(b, b'\n' | b'\r' | 0))
            .unwrap_or(after.len());
        parsed.entries.push(Entry {
            user: chunk[..colon].to_vec(),
            passwords: vec![after[..end].to_vec()],
            line,
        });
        let next = pos + chunk.len();
        let remaining = &data[next.min(data.len())..];
        let more = remaining.iter().any(|&b| b != b'\n' && b != b'\r');
        if parsed.entries.len() == AUTHFILE_MAX_ENTRIES {
            if more {
                parsed.warnings.push(format!(
                    "lines after line {line} are ignored: memcached reads at most \
                     {AUTHFILE_MAX_ENTRIES} entries"
                ));
            }
            break;
        }
        // A chunk without its newline (the file's end, a cut line) or a
        // password ended by a NUL is where memcached stops reading.
        if end == after.len() || after[end] == 0 {
            if more || end < after.len() {
                let why = if end < after.len() {
                    "has a NUL byte: its password ends there"
                } else {
                    "is longer than 254 bytes: it is cut at 255"
                };
                parsed.warnings.push(format!(
                    "line {line} {why}, and the lines after it are ignored, as memcached does"
                ));
            }
            break;
        }
        if chunk.last() == Some(&b'\n') {
            line += 1;
        }
        pos = next;
    }
    if parsed.entries.is_empty() {
        parsed
            .warnings
            .push("no entries: nobody can authenticate".to_string());
    }
    Ok(parsed)
}

fn parse_pwdb(data: &[u8]) -> Parsed {
    let mut parsed = Parsed::default();
    // Every user met, with its first line: memcached stops at the first
    // line for a user, even one it can never accept.
    let mut seen: HashMap<&[u8], usize> = HashMap::new();
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let Some(colon) = raw.iter().position(|&b| b == b':') else {
            if raw.iter().any(|&b| !matches!(b, b'\r' | b' ' | b'\t')) {
                parsed.warnings.push(format!(
                    "line {line} has no ':' and is skipped, as memcached skips it"
                ));
            }
            continue;
        };
        let user = &raw[..colon];
        if let Some(&first) = seen.get(user) {
            parsed.warnings.push(format!(
                "line {line} repeats the user of line {first}: only the first is used, \
                 as in memcached"
            ));
            continue;
        }
        seen.insert(user, line);
        let rest = &raw[colon + 1..];
        // memcached compares the password given with the start of `rest`
        // and accepts it when the byte after it is ':', '\r', '\n' or NUL
        // (or the line ends): every such prefix is a password it accepts.
        let mut passwords: Vec<Vec<u8>> = rest
            .iter()
            .enumerate()
            .filter(|&(_, &b)| matches!(b, b':' | b'\r' | 0))
            .map(|(at, _)| rest[..at].to_vec())
            .chain(std::iter::once(rest.to_vec()))
            .filter(|p| user.len() + p.len() <= PWDB_MAX_USER_AND_PASSWORD)
            .collect();
        passwords.dedup();
        if passwords.is_empty() {
            parsed.warnings.push(format!(
                "line {line}: user and password are longer than {PWDB_MAX_USER_AND_PASSWORD} \
                 bytes together, which memcached never accepts; skipped"
            ));
            continue;
        }
        parsed.entries.push(Entry {
            user: user.to_vec(),
            passwords,
            line,
        });
    }
    if parsed.entries.is_empty() {
        parsed
            .warnings
            .push("no entries: nobody can authenticate".to_string());
    }
    parsed
}

//! memcached's binary protocol: reply encoding.
//!
//! [`BinaryReply`] turns the engine's [`Response`]s for one request into
//! response packets: magic 0x81, the request's opcode and opaque echoed,
//! the status memcached sends for the outcome with its text as the body,
//! and the item's CAS in the header. The free functions write the replies
//! the session makes itself (QUIT's, SASL's, a refused packet's).

use super::header::{Header, Status, HEADER_LEN, RESPONSE_MAGIC};
use crate::model::{
    Command, Error, Payload, Reply, ReplyPolicy, Request, Response, StatsGroup, StoreMode, Want,
};
use std::io::Write;

/// What the request was, as far as its replies' statuses depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A store: NOT_STORED means "exists" for ADD and "not found" for
    /// REPLACE; APPEND and PREPEND report any failure to store as
    /// NOT_STORED. `oversize`: the value was over the limit.
    Store { mode: StoreMode, oversize: bool },
    /// INCREMENT / DECREMENT.
    Delta,
    /// STAT: a listing ends in the empty stat packet; an unknown group is
    /// KEY_ENOENT. `dump`: `detail dump`, whose lines are one stat.
    Stats { dump: bool },
    /// FLUSH: refused (`-F`) with AUTH_ERROR.
    Flush,
    /// Anything else.
    Other,
}

/// Encodes the [`Response`]s to one binary request as response packets,
/// writing nothing its reply policy hides (quiet opcodes).
#[derive(Debug)]
pub struct BinaryReply<'a> {
    out: &'a mut Vec<u8>,
    request: Header,
    policy: ReplyPolicy,
    want: Want,
    kind: Kind,
    /// Where the `detailed` packet of a `stats detail dump` starts in
    /// `out`, once its first line is written.
    detailed: Option<usize>,
}

impl<'a> BinaryReply<'a> {
    /// A writer appending the replies to `request` (whose packet had
    /// `header`) to `out`.
    pub fn new(out: &'a mut Vec<u8>, header: &Header, request: &Request<'_>) -> BinaryReply<'a> {
        let kind = match request.command {
            Command::Store { mode, payload, .. } => Kind::Store {
                mode,
                oversize: payload == Payload::Oversize,
            },
            Command::Delta { .. } => Kind::Delta,
            Command::Stats(group) => Kind::Stats {
                dump: group == StatsGroup::Detail(Some(b"dump")),
            },
            Command::FlushAll { .. } => Kind::Flush,
            _ => Kind::Other,
        };
        BinaryReply {
            out,
            request: *header,
            policy: request.policy,
            want: request.want,
            kind,
            detailed: None,
        }
    }

    /// The status and text memcached answers `error` with, for this
    /// request.
    fn error_status(&self, error: Error<'_>) -> (Status, &'static str) {
        let plain = |status: Status| (status, status.text());
        match (error, self.kind) {
            (Error::UnknownCommand, Kind::Stats { .. }) => plain(Status::KeyNotFound),
            (Error::UnknownCommand, _) => plain(Status::UnknownCommand),
            // memcached refuses an oversized value before it reads it
            // (TOO_LARGE); an append that grows past the limit, or finds no
            // memory, fails later, where its status is NOT_STORED.
            (
                Error::TooLarge | Error::NoMemory,
                Kind::Store {
                    mode: StoreMode::Append | StoreMode::Prepend,
                    oversize: false,
                },
            ) => plain(Status::NotStored),
            (Error::TooLarge, _) => plain(Status::TooLarge),
            (Error::NoMemory, Kind::Store { .. }) => {
                (Status::OutOfMemory, "Out of memory allocating item")
            }
            (Error::NoMemory, _) => plain(Status::OutOfMemory),
            (Error::NonNumeric, _) => plain(Status::DeltaBadValue),
            // `-F` (flush_all disabled).
            (Error::Client(_), Kind::Flush) => plain(Status::AuthError),
            (Error::Client(_) | Error::BadDataChunk, _) => plain(Status::InvalidArguments),
            (Error::Server(_), Kind::Delta) => {
                (Status::OutOfMemory, "Out of memory incrementing value")
            }
            (Error::Server(_), _) => plain(Status::OutOfMemory),
        }
    }

    /// The status of a failed store's NOT_STORED.
    fn not_stored(&self) -> Status {
        match self.kind {
            Kind::Store {
                mode: StoreMode::Add,
                ..
            } => Status::KeyExists,
            Kind::Store {
                mode: StoreMode::Replace,
                ..
            } => Status::KeyNotFound,
            _ => Status::NotStored,
        }
    }

    /// Appends a line of a `stats detail dump` (and its `\r\n`) to the
    /// dump's one `detailed` packet, started by its first line.
    fn detail_line(&mut self, line: &[u8]) {
        let start = match self.detailed {
            Some(start) => start,
            None => {
                let start = self.out.len();
                packet(
                    self.out,
                    &self.request,
                    Status::Success,
                    0,
                    &[],
                    b"detailed",
                    &[],
                );
                self.detailed = Some(start);
                start
            }
        };
        self.out.extend_from_slice(line);
        self.out.extend_from_slice(b"\r\n");
        patch_bodylen(self.out, start);
    }
}

impl Reply for BinaryReply<'_> {
    fn reply(&mut self, response: Response<'_>) {
        if !self.policy.allows(&response) {
            return;
        }
        let header = self.request;
        match response {
            // A config value is a hit: flags in the extras, then the value.
            Response::Value(item) | Response::Config(item) => {
                let flags = item.flags.to_be_bytes();
                let extras: &[u8] = if self.want.contains(Want::FLAGS) {
                    &flags
                } else {
                    &[]
                };
                let key: &[u8] = if self.want.contains(Want::KEY) {
                    item.key
                } else {
                    &[]
                };
                let value_len = if self.want.contains(Want::VALUE) {
                    item.value.len()
                } else {
                    0
                };
                let body = extras.len() + key.len() + value_len;
                let out = &mut *self.out;
                out.reserve(HEADER_LEN + body);
                response_header(
                    &header,
                    Status::Success,
                    item.cas,
                    extras.len(),
                    key.len(),
                    body,
                )
                .encode(out);
                out.extend_from_slice(extras);
                out.extend_from_slice(key);
                if value_len > 0 {
                    item.value.for_each_piece(|p| out.extend_from_slice(p));
                }
            }
            Response::Miss { key } => {
                if self.want.contains(Want::KEY) {
                    // GETK's miss carries the key and no text.
                    packet(self.out, &header, Status::KeyNotFound, 0, &[], key, &[]);
                } else {
                    error_reply(self.out, &header, Status::KeyNotFound);
                }
            }
            Response::End => {
                if let Kind::Stats { dump } = self.kind {
                    if dump {
                        // memcached ends the dump's text with END, even
                        // when it holds no prefix.
                        self.detail_line(b"END");
                    }
                    // The empty stat packet ends a listing.
                    success(self.out, &header, 0, &[]);
                }
                // A read of one key ends with its hit or miss.
            }
            Response::Stored { cas, .. } => success(self.out, &header, cas, &[]),
            Response::NotStored => error_reply(self.out, &header, self.not_stored()),
            Response::Exists => error_reply(self.out, &header, Status::KeyExists),
            Response::NotFound => error_reply(self.out, &header, Status::KeyNotFound),
            // A delete's reply carries no CAS; stats reset and detail
            // on/off answer with the empty stat packet, the same bytes.
            Response::Deleted | Response::Touched | Response::Ok | Response::Reset => {
                success(self.out, &header, 0, &[])
            }
            Response::Number { value, cas, .. } => {
                success(self.out, &header, cas, &value.to_be_bytes())
            }
            Response::Version(v) => success(self.out, &header, 0, v.as_bytes()),
            Response::Stat(name, value) => {
                let start = self.out.len();
                packet(
                    self.out,
                    &header,
                    Status::Success,
                    0,
                    &[],
                    name.as_bytes(),
                    &[],
                );
                // Writing into a Vec cannot fail.
                let _ = write!(self.out, "{value}");
                patch_bodylen(self.out, start);
            }
            Response::Error(e) => {
                let (status, text) = self.error_status(e);
                packet(self.out, &header, status, 0, &[], &[], text.as_bytes());
            }
            Response::Line(line) => {
                // Only `stats detail dump` sends lines to a binary client:
                // memcached sends them as one `detailed` stat.
                self.detail_line(line.as_bytes());
            }
            Response::Raw(_) => {
                // The dump commands exist in the text protocol only.
                debug_assert!(false, "a text-only dump reached a binary client");
            }
        }
    }
}

/// The response header to `request`.
fn response_header(
    request: &Header,
    status: Status,
    cas: u64,
    extlen: usize,
    keylen: usize,
    bodylen: usize,
) -> Header {
    Header {
        magic: RESPONSE_MAGIC,
        opcode: request.opcode,
        // Keys are at most 250 bytes and extras 4; a body over 4 GiB
        // cannot be an item's (the item size limit is at most 1 GiB).
        keylen: keylen as u16,
        extlen: extlen as u8,
        datatype: 0,
        vbucket_or_status: status.code(),
        bodylen: bodylen as u32,
        opaque: request.opaque,
        cas,
    }
}

/// Appends one response packet.
fn packet(
    out: &mut Vec<u8>,
    request: &Header,
    status: Status,
    cas: u64,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
) {
    let body = extras.len() + key.len() + value.len();
    response_header(request, status, cas, extras.len(), key.len(), body).encode(out);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// Sets the bodylen of the packet at `start` to what follows its header.
fn patch_bodylen(out: &mut [u8], start: usize) {
    let bodylen = (out.len() - start - HEADER_LEN) as u32;
    out[start + 8..start + 12].copy_from_slice(&bodylen.to_be_bytes());
}

fn success(out: &mut Vec<u8>, request: &Header, cas: u64, value: &[u8]) {
    packet(out, request, Status::Success, cas, &[], &[], value);
}

/// Appends the reply to a refused request: `status` with memcached's text
/// for it (the reply to a [`Parsed::Error`](super::Parsed::Error), or
/// [`Status::AuthError`] to a command before authentication).
pub fn error_reply(out: &mut Vec<u8>, request: &Header, status: Status) {
    packet(out, request, status, 0, &[], &[], status.text().as_bytes());
}

/// Appends QUIT's reply (an empty success; QUITQ has none).
pub fn quit_reply(out: &mut Vec<u8>, request: &Header) {
    success(out, request, 0, &[]);
}

/// Appends SASL_LIST_MECHS's reply: the mechanisms, space-separated.
pub fn sasl_mechanisms(out: &mut Vec<u8>, request: &Header, mechanisms: &[u8]) {
    success(out, request, 0, mechanisms);
}

/// Appends the reply to a SASL_AUTH or SASL_STEP that authenticated.
pub fn sasl_authenticated(out: &mut Vec<u8>, request: &Header) {
    success(out, request, 0, b"Authenticated");
}

/// Appends the reply to a SASL_AUTH or SASL_STEP that needs another step:
/// AUTH_CONTINUE with the server's challenge.
pub fn sasl_continue(out: &mut Vec<u8>, request: &Header, challenge: &[u8]) {
    packet(out, request, Status::AuthContinue, 0, &[], &[], challenge);
}

/// Appends the reply to a SASL_AUTH or SASL_STEP that failed (AUTH_ERROR,
/// "Auth failure."); the connection stays open.
pub fn sasl_failed(out: &mut Vec<u8>, request: &Header) {
    error_reply(out, request, Status::AuthError);
}

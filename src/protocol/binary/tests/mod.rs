//! Unit tests of the binary codec, and the packet builder they share.
//!
//! - `decode`: prefixes, appended bytes, the model each opcode maps to;
//! - `table`: docs/binary.md's tables (memcached 1.6.18, measured by
//!   `scripts/binary-probe.py`), row by row: each packet parsed, the
//!   engine's responses encoded, the replies compared with memcached's;
//! - `encode`: every response kind, model to bytes and back;
//! - `regression`: the CVE and desync rows, one named test each;
//! - `corpus`: the fuzz seeds keep the contract, and broken parsers are
//!   caught by it.

mod corpus;
mod decode;
mod encode;
mod regression;
mod table;

use super::{Header, Limits, Opcode, HEADER_LEN};

/// The server's default item size limit.
const LIMITS: Limits = Limits {
    max_value_len: 1024 * 1024,
};

/// A request packet under construction; the length fields may lie.
#[derive(Debug, Clone)]
struct Packet {
    magic: u8,
    opcode: Opcode,
    extras: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
    cas: u64,
    opaque: u32,
    keylen: Option<u16>,
    extlen: Option<u8>,
    bodylen: Option<u32>,
}

/// A packet for `opcode` with nothing in it (opaque 0x0a0b0c0d).
fn packet(opcode: Opcode) -> Packet {
    Packet {
        magic: 0x80,
        opcode,
        extras: Vec::new(),
        key: Vec::new(),
        value: Vec::new(),
        cas: 0,
        opaque: 0x0a0b_0c0d,
        keylen: None,
        extlen: None,
        bodylen: None,
    }
}

impl Packet {
    fn key(self, key: &[u8]) -> Packet {
        Packet {
            key: key.to_vec(),
            ..self
        }
    }

    fn extras(self, extras: &[u8]) -> Packet {
        Packet {
            extras: extras.to_vec(),
            ..self
        }
    }

    fn value(self, value: &[u8]) -> Packet {
        Packet {
            value: value.to_vec(),
            ..self
        }
    }

    fn cas(self, cas: u64) -> Packet {
        Packet { cas, ..self }
    }

    fn opaque(self, opaque: u32) -> Packet {
        Packet { opaque, ..self }
    }

    fn magic(self, magic: u8) -> Packet {
        Packet { magic, ..self }
    }

    fn keylen(self, keylen: u16) -> Packet {
        Packet {
            keylen: Some(keylen),
            ..self
        }
    }

    fn bodylen(self, bodylen: u32) -> Packet {
        Packet {
            bodylen: Some(bodylen),
            ..self
        }
    }

    fn header(&self) -> Header {
        let body = self.extras.len() + self.key.len() + self.value.len();
        Header {
            magic: self.magic,
            opcode: self.opcode,
            keylen: self.keylen.unwrap_or(self.key.len() as u16),
            extlen: self.extlen.unwrap_or(self.extras.len() as u8),
            datatype: 0,
            vbucket_or_status: 0,
            bodylen: self.bodylen.unwrap_or(body as u32),
            opaque: self.opaque,
            cas: self.cas,
        }
    }

    /// The header and the body as given (whatever the header declares).
    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.header().encode(&mut out);
        out.extend_from_slice(&self.extras);
        out.extend_from_slice(&self.key);
        out.extend_from_slice(&self.value);
        out
    }
}

/// SET's extras: flags, exptime.
fn set_extras(flags: u32, exptime: u32) -> Vec<u8> {
    [flags.to_be_bytes(), exptime.to_be_bytes()].concat()
}

/// INCREMENT's extras: delta, initial, exptime.
fn incr_extras(delta: u64, initial: u64, exptime: u32) -> Vec<u8> {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&exptime.to_be_bytes());
    e
}

/// One response packet, decoded for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Reply {
    opcode: Opcode,
    status: u16,
    extras: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
    cas: u64,
    opaque: u32,
}

/// The response packets in `out`; panics on a malformed one.
fn replies(mut out: &[u8]) -> Vec<Reply> {
    let mut all = Vec::new();
    while !out.is_empty() {
        assert!(out.len() >= HEADER_LEN, "a cut header: {out:02x?}");
        let h = Header::decode(out);
        assert_eq!(h.magic, 0x81, "response magic");
        assert_eq!(h.datatype, 0);
        let body = &out[HEADER_LEN..h.packet_len()];
        let (extras, rest) = body.split_at(h.extlen as usize);
        let (key, value) = rest.split_at(h.keylen as usize);
        all.push(Reply {
            opcode: h.opcode,
            status: h.vbucket_or_status,
            extras: extras.to_vec(),
            key: key.to_vec(),
            value: value.to_vec(),
            cas: h.cas,
            opaque: h.opaque,
        });
        out = &out[h.packet_len()..];
    }
    all
}

//! The binary protocol's fixed parts: the 24-byte packet header, the
//! opcodes memcached 1.6 knows, and the response status codes with the
//! text memcached sends beside each.

/// Bytes in every packet's header.
pub const HEADER_LEN: usize = 24;

/// The magic byte of a request.
pub const REQUEST_MAGIC: u8 = 0x80;

/// The magic byte of a response.
pub const RESPONSE_MAGIC: u8 = 0x81;

/// memcached's `ITEM_SIZE_MAX_UPPER_LIMIT`: no body may declare more than
/// a gibibyte. A larger `bodylen` (which includes every length above
/// `i32::MAX`, where memcached 1.6.18's signed arithmetic goes wrong) is a
/// protocol error that closes the connection, as in memcached 1.6.42+.
pub const MAX_BODY_LEN: u32 = 1 << 30;

/// Longest SASL mechanism name memcached accepts (`MAX_SASL_MECH_LEN`).
pub const MAX_SASL_MECH_LEN: usize = 32;

/// A request or response header, as on the wire (big-endian fields decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 0x80 for a request, 0x81 for a response.
    pub magic: u8,
    /// The command.
    pub opcode: Opcode,
    /// Bytes of key in the body.
    pub keylen: u16,
    /// Bytes of extras in the body, before the key.
    pub extlen: u8,
    /// Data type (always 0; memcached ignores it).
    pub datatype: u8,
    /// The vbucket id of a request (ignored), the status of a response.
    pub vbucket_or_status: u16,
    /// Bytes of body: extras, key and value.
    pub bodylen: u32,
    /// Echoed unchanged in every response.
    pub opaque: u32,
    /// A request's CAS to compare; a response's item CAS.
    pub cas: u64,
}

impl Header {
    /// Decodes the first [`HEADER_LEN`] bytes of `bytes` (which must hold
    /// them).
    pub fn decode(bytes: &[u8]) -> Header {
        let b = &bytes[..HEADER_LEN];
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            magic: b[0],
            opcode: Opcode(b[1]),
            keylen: u16_at(2),
            extlen: b[4],
            datatype: b[5],
            vbucket_or_status: u16_at(6),
            bodylen: u32_at(8),
            opaque: u32_at(12),
            cas: (u32_at(16) as u64) << 32 | u32_at(20) as u64,
        }
    }

    /// Appends the header's 24 bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.magic);
        out.push(self.opcode.0);
        out.extend_from_slice(&self.keylen.to_be_bytes());
        out.push(self.extlen);
        out.push(self.datatype);
        out.extend_from_slice(&self.vbucket_or_status.to_be_bytes());
        out.extend_from_slice(&self.bodylen.to_be_bytes());
        out.extend_from_slice(&self.opaque.to_be_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
    }

    /// A request header for `opcode` with the given lengths and nothing
    /// else set (tests and tools build packets with it).
    pub fn request(opcode: Opcode, extlen: u8, keylen: u16, bodylen: u32) -> Header {
        Header {
            magic: REQUEST_MAGIC,
            opcode,
            keylen,
            extlen,
            datatype: 0,
            vbucket_or_status: 0,
            bodylen,
            opaque: 0,
            cas: 0,
        }
    }

    /// Bytes of the packet: header and body. (`bodylen` is a `u32`, so
    /// this cannot overflow a 64-bit `usize`.)
    pub fn packet_len(&self) -> usize {
        HEADER_LEN + self.bodylen as usize
    }

    /// Bytes of header, extras and key: what memcached reads before it
    /// looks at the request.
    pub fn head_len(&self) -> usize {
        HEADER_LEN + self.extlen as usize + self.keylen as usize
    }

    /// Whether this is a quiet opcode (GETQ, SETQ, ..., QUITQ): it answers
    /// only errors (and, for reads, hits).
    pub fn is_quiet(&self) -> bool {
        self.opcode.is_quiet()
    }

    /// Whether this is QUIT or QUITQ: the connection closes after it (QUIT
    /// answers first, QUITQ does not).
    pub fn is_quit(&self) -> bool {
        matches!(self.opcode, Opcode::QUIT | Opcode::QUITQ)
    }

    /// Whether this is NOOP, after which memcached sends every reply it
    /// holds back (the end of a quiet batch).
    pub fn is_noop(&self) -> bool {
        self.opcode == Opcode::NOOP
    }

    /// Whether a SASL server answers this opcode before the client has
    /// authenticated (the SASL opcodes and VERSION, as memcached's
    /// `authenticated()`); anything else then gets AUTH_ERROR and a close.
    pub fn allowed_before_auth(&self) -> bool {
        matches!(
            self.opcode,
            Opcode::SASL_LIST_MECHS | Opcode::SASL_AUTH | Opcode::SASL_STEP | Opcode::VERSION
        )
    }
}

/// A binary-protocol opcode (any byte; the named ones are memcached's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Opcode(pub u8);

macro_rules! opcodes {
    ($($name:ident = $code:literal,)*) => {
        impl Opcode {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($code), ")")]
                pub const $name: Opcode = Opcode($code);
            )*

            /// memcached's name for a known opcode.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

opcodes! {
    GET = 0x00,
    SET = 0x01,
    ADD = 0x02,
    REPLACE = 0x03,
    DELETE = 0x04,
    INCREMENT = 0x05,
    DECREMENT = 0x06,
    QUIT = 0x07,
    FLUSH = 0x08,
    GETQ = 0x09,
    NOOP = 0x0a,
    VERSION = 0x0b,
    GETK = 0x0c,
    GETKQ = 0x0d,
    APPEND = 0x0e,
    PREPEND = 0x0f,
    STAT = 0x10,
    SETQ = 0x11,
    ADDQ = 0x12,
    REPLACEQ = 0x13,
    DELETEQ = 0x14,
    INCREMENTQ = 0x15,
    DECREMENTQ = 0x16,
    QUITQ = 0x17,
    FLUSHQ = 0x18,
    APPENDQ = 0x19,
    PREPENDQ = 0x1a,
    VERBOSITY = 0x1b,
    TOUCH = 0x1c,
    GAT = 0x1d,
    GATQ = 0x1e,
    SASL_LIST_MECHS = 0x20,
    SASL_AUTH = 0x21,
    SASL_STEP = 0x22,
    GATK = 0x23,
    GATKQ = 0x24,
    CONFIG_GET = 0x60,
    CONFIG_SET = 0x64,
    CONFIG_DELETE = 0x66,
}

impl Opcode {
    /// Whether this is a quiet opcode.
    pub fn is_quiet(self) -> bool {
        self.loud() != self
    }

    /// The opcode a quiet one is the silent form of (memcached handles
    /// GETQ as GET, SETQ as SET, ...); any other opcode unchanged.
    pub fn loud(self) -> Opcode {
        match self {
            Opcode::GETQ => Opcode::GET,
            Opcode::GETKQ => Opcode::GETK,
            Opcode::GATQ => Opcode::GAT,
            Opcode::GATKQ => Opcode::GATK,
            Opcode::SETQ => Opcode::SET,
            Opcode::ADDQ => Opcode::ADD,
            Opcode::REPLACEQ => Opcode::REPLACE,
            Opcode::APPENDQ => Opcode::APPEND,
            Opcode::PREPENDQ => Opcode::PREPEND,
            Opcode::DELETEQ => Opcode::DELETE,
            Opcode::INCREMENTQ => Opcode::INCREMENT,
            Opcode::DECREMENTQ => Opcode::DECREMENT,
            Opcode::FLUSHQ => Opcode::FLUSH,
            Opcode::QUITQ => Opcode::QUIT,
            other => other,
        }
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "0x{:02x}", self.0),
        }
    }
}

/// A response status: the codes memcached sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Status {
    /// 0x0000: success.
    Success = 0x0000,
    /// 0x0001: no such item ("Not found").
    KeyNotFound = 0x0001,
    /// 0x0002: the item exists, or its CAS differs ("Data exists for key.").
    KeyExists = 0x0002,
    /// 0x0003: the value is over the item size limit ("Too large.").
    TooLarge = 0x0003,
    /// 0x0004: a malformed request ("Invalid arguments").
    InvalidArguments = 0x0004,
    /// 0x0005: the store's condition failed ("Not stored.").
    NotStored = 0x0005,
    /// 0x0006: incr/decr of a non-number.
    DeltaBadValue = 0x0006,
    /// 0x0020: authentication failed, or is needed ("Auth failure.").
    AuthError = 0x0020,
    /// 0x0021: SASL wants another step (the body is the challenge).
    AuthContinue = 0x0021,
    /// 0x0081: unknown opcode ("Unknown command").
    UnknownCommand = 0x0081,
    /// 0x0082: no memory for the item ("Out of memory").
    OutOfMemory = 0x0082,
}

impl Status {
    /// The wire value.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The status with this wire value, if memcached sends it.
    pub fn from_code(code: u16) -> Option<Status> {
        Some(match code {
            0x0000 => Status::Success,
            0x0001 => Status::KeyNotFound,
            0x0002 => Status::KeyExists,
            0x0003 => Status::TooLarge,
            0x0004 => Status::InvalidArguments,
            0x0005 => Status::NotStored,
            0x0006 => Status::DeltaBadValue,
            0x0020 => Status::AuthError,
            0x0021 => Status::AuthContinue,
            0x0081 => Status::UnknownCommand,
            0x0082 => Status::OutOfMemory,
            _ => return None,
        })
    }

    /// The body memcached's `write_bin_error` sends with this status when
    /// it has nothing more specific (empty for success and continue).
    pub fn text(self) -> &'static str {
        match self {
            Status::Success | Status::AuthContinue => "",
            Status::KeyNotFound => "Not found",
            Status::KeyExists => "Data exists for key.",
            Status::TooLarge => "Too large.",
            Status::InvalidArguments => "Invalid arguments",
            Status::NotStored => "Not stored.",
            Status::DeltaBadValue => "Non-numeric server-side value for incr or decr",
            Status::AuthError => "Auth failure.",
            Status::UnknownCommand => "Unknown command",
            Status::OutOfMemory => "Out of memory",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = Header {
            magic: REQUEST_MAGIC,
            opcode: Opcode::SETQ,
            keylen: 0x0102,
            extlen: 8,
            datatype: 0,
            vbucket_or_status: 0xabcd,
            bodylen: 0x0a0b_0c0d,
            opaque: 0xdead_beef,
            cas: 0x0102_0304_0506_0708,
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out.len(), HEADER_LEN);
        assert_eq!(
            out,
            [
                0x80, 0x11, 0x01, 0x02, 8, 0, 0xab, 0xcd, 0x0a, 0x0b, 0x0c, 0x0d, 0xde, 0xad, 0xbe,
                0xef, 1, 2, 3, 4, 5, 6, 7, 8
            ]
        );
        assert_eq!(Header::decode(&out), h);
    }

    #[test]
    fn quiet_opcodes_and_their_loud_forms() {
        let quiet: Vec<u8> = (0..=255u8).filter(|&c| Opcode(c).is_quiet()).collect();
        assert_eq!(
            quiet,
            [0x09, 0x0d, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1e, 0x24]
        );
        assert_eq!(Opcode::GATKQ.loud(), Opcode::GATK);
        assert_eq!(Opcode::STAT.loud(), Opcode::STAT);
        assert_eq!(Opcode(0x50).to_string(), "0x50");
        assert_eq!(Opcode::SASL_AUTH.to_string(), "SASL_AUTH");
    }

    #[test]
    fn statuses_round_trip() {
        for code in 0..=0xffff {
            if let Some(s) = Status::from_code(code) {
                assert_eq!(s.code(), code);
            }
        }
        assert_eq!(Status::from_code(7), None);
    }
}

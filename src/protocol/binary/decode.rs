//! memcached's binary protocol: request decoding.
//!
//! [`parse`] looks at the front of a read buffer and finds one whole
//! request packet (a model [`Request`], or a SASL step for the session),
//! asks for more bytes, or reports what memcached refuses, with the status
//! it answers and what happens to the connection next ([`Then`]).
//!
//! It never consumes part of a request: every proper prefix of a packet is
//! [`Parsed::Incomplete`]. Like memcached, it decides on the header, extras
//! and key (the packet's *head*) and buffers a value only for a request
//! that uses it; a value over the item size limit, and the unused body of
//! a request that has one, are left to the session to discard as they
//! arrive. Every result but [`Parsed::Close`] accounts for exactly the
//! packet's `24 + bodylen` bytes (what it consumed plus what it says to
//! swallow), so the next byte the codec sees always starts a packet: the
//! places where memcached 1.6.18 loses that (a negative `vlen`, an unknown
//! opcode's over-swallow, a STAT/GAT/TOUCH body left unread) are listed in
//! `docs/binary.md` with what ferrocache does instead.

use super::header::{
    Header, Opcode, Status, HEADER_LEN, MAX_BODY_LEN, MAX_SASL_MECH_LEN, REQUEST_MAGIC,
};
use crate::model::{
    Command, Create, DeltaMode, FlagOrder, KeepOptions, Keys, Limits, Opaque, Payload, ReadOptions,
    ReplyPolicy, Request, StatsGroup, StoreMode, Want, WriteOptions, KEY_MAX_LENGTH,
};

/// The outcome of looking at the front of a read buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not enough bytes for a decision yet.
    Incomplete,
    /// A request for the engine, which used `consumed` bytes; then
    /// `swallow` more bytes of the stream (a value over the item size
    /// limit, or a body the request does not use) are to be discarded
    /// unread. `consumed + swallow` is the packet's length.
    Request {
        /// The request.
        request: Request<'a>,
        /// Its header (opcode, opaque, quiet or not: see [`Header`]).
        header: Header,
        /// Bytes of the buffer it used.
        consumed: usize,
        /// Bytes after those to discard as they arrive.
        swallow: usize,
    },
    /// A SASL request for the session; the whole packet is `consumed`.
    /// (On a server without SASL, see [`Parsed::without_sasl`].)
    Sasl {
        /// Which step.
        op: SaslOp,
        /// The mechanism name (the key; empty for LIST_MECHS).
        mechanism: &'a [u8],
        /// The data (the value; empty for LIST_MECHS).
        data: &'a [u8],
        /// Its header.
        header: Header,
        /// Bytes of the buffer it used.
        consumed: usize,
    },
    /// A request memcached refuses: answer `status` (with its
    /// [`Status::text`]), drop `consumed` bytes, then do as `then` says.
    Error {
        /// The request's header (the reply echoes its opcode and opaque).
        header: Header,
        /// What to answer.
        status: Status,
        /// Bytes of the buffer it used.
        consumed: usize,
        /// What follows the reply.
        then: Then,
        /// Whether memcached finds this error before it checks SASL
        /// authentication: a client that has not authenticated gets this
        /// reply; for any other error, the session's AUTH_ERROR comes first
        /// (unless the opcode is [`Header::allowed_before_auth`]).
        before_auth: bool,
    },
    /// Close the connection without a reply (a packet without the request
    /// magic: memcached closes silently).
    Close,
}

/// What follows an error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// Go on: the whole packet was consumed.
    Continue,
    /// Discard this many more bytes of the stream, as they arrive and
    /// without buffering them; then go on.
    Swallow(usize),
    /// Close the connection once the reply is written.
    Close,
}

/// The SASL opcodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslOp {
    /// 0x20: list the mechanisms.
    ListMechs,
    /// 0x21: start authenticating with a mechanism.
    Auth,
    /// 0x22: the next step of an authentication.
    Step,
}

impl<'a> Parsed<'a> {
    /// The result a server *without* SASL (no `-S`) acts on: memcached
    /// answers every SASL opcode it would otherwise serve with
    /// UNKNOWN_COMMAND, discarding the rest of the packet; malformed ones
    /// still get INVALID_ARGUMENTS and a close. Other results are
    /// unchanged.
    pub fn without_sasl(self) -> Parsed<'a> {
        match self {
            Parsed::Sasl {
                header, consumed, ..
            } => Parsed::Error {
                header,
                status: Status::UnknownCommand,
                consumed,
                then: Then::Continue,
                before_auth: false,
            },
            Parsed::Error {
                header,
                consumed,
                then: then @ (Then::Continue | Then::Swallow(_)),
                ..
            } if is_sasl(header.opcode) => Parsed::Error {
                header,
                status: Status::UnknownCommand,
                consumed,
                then,
                before_auth: false,
            },
            other => other,
        }
    }
}

fn is_sasl(opcode: Opcode) -> bool {
    matches!(
        opcode,
        Opcode::SASL_LIST_MECHS | Opcode::SASL_AUTH | Opcode::SASL_STEP
    )
}

/// One packet's parts, once its head (header, extras, key) is buffered.
struct Packet<'a> {
    buf: &'a [u8],
    header: Header,
    extras: &'a [u8],
    key: &'a [u8],
    /// Bytes of body after the extras and key.
    value_len: usize,
}

impl<'a> Packet<'a> {
    fn head_len(&self) -> usize {
        self.header.head_len()
    }

    /// An error after which the connection goes on, past this packet.
    fn refuse(&self, status: Status) -> Parsed<'a> {
        Parsed::Error {
            header: self.header,
            status,
            consumed: self.head_len(),
            then: match self.value_len {
                0 => Then::Continue,
                n => Then::Swallow(n),
            },
            before_auth: false,
        }
    }

    /// memcached's `handle_binary_protocol_error`: INVALID_ARGUMENTS, close.
    fn protocol_error(&self) -> Parsed<'a> {
        close_with(self.header, Status::InvalidArguments, false)
    }

    /// A request answered by the engine, using the whole head; the rest of
    /// the body, if any, is swallowed.
    fn request(&self, command: Command<'a>, want: Want) -> Parsed<'a> {
        Parsed::Request {
            request: self.model(command, want),
            header: self.header,
            consumed: self.head_len(),
            swallow: self.value_len,
        }
    }

    fn model(&self, command: Command<'a>, want: Want) -> Request<'a> {
        let policy = if self.header.is_quiet() {
            ReplyPolicy::ErrorsOnly
        } else {
            ReplyPolicy::Always
        };
        Request {
            command,
            policy,
            opaque: Opaque::Number(self.header.opaque),
            want,
        }
    }

    /// The value, once buffered (`None`: wait for it).
    fn value(&self) -> Option<&'a [u8]> {
        let end = self.header.packet_len();
        self.buf.get(self.head_len()..end)
    }

    fn extra_u32(&self, at: usize) -> u32 {
        let e = &self.extras[at..at + 4];
        u32::from_be_bytes([e[0], e[1], e[2], e[3]])
    }

    fn extra_u64(&self, at: usize) -> u64 {
        (self.extra_u32(at) as u64) << 32 | self.extra_u32(at + 4) as u64
    }
}

fn close_with<'a>(header: Header, status: Status, before_auth: bool) -> Parsed<'a> {
    Parsed::Error {
        header,
        status,
        consumed: header.head_len(),
        then: Then::Close,
        before_auth,
    }
}

/// Parses one request packet from the front of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    if buf.len() < HEADER_LEN {
        return Parsed::Incomplete;
    }
    let header = Header::decode(buf);
    if header.magic != REQUEST_MAGIC {
        return Parsed::Close;
    }
    // memcached waits for the extras and key before it looks further,
    // even when the lengths cannot fit the body.
    let head = header.head_len();
    if buf.len() < head {
        return Parsed::Incomplete;
    }
    let extlen = header.extlen as usize;
    let keylen = header.keylen as usize;
    // CVE-2016-8704/8705/8706: the value's length is bodylen - keylen -
    // extlen, checked, never wrapped.
    let Some(value_len) = (header.bodylen as usize).checked_sub(extlen + keylen) else {
        return close_with(header, Status::UnknownCommand, true);
    };
    if header.bodylen > MAX_BODY_LEN {
        return close_with(header, Status::InvalidArguments, true);
    }
    let packet = Packet {
        buf,
        header,
        extras: &buf[HEADER_LEN..HEADER_LEN + extlen],
        key: &buf[HEADER_LEN + extlen..head],
        value_len,
    };
    // Binary keys are 16 bits wide; memcached's are at most 250 bytes.
    if keylen > KEY_MAX_LENGTH {
        return packet.protocol_error();
    }
    dispatch(&packet, limits)
}

/// memcached's `dispatch_bin_command`: each opcode's layout, then its
/// request.
fn dispatch<'a>(p: &Packet<'a>, limits: &Limits) -> Parsed<'a> {
    let (ext, key, value) = (p.extras.len(), p.key.len(), p.value_len);
    let op = p.header.opcode.loud();
    let fits = match op {
        Opcode::GET | Opcode::GETK | Opcode::DELETE => ext == 0 && key > 0 && value == 0,
        Opcode::GAT | Opcode::GATK | Opcode::TOUCH => ext == 4 && key > 0,
        Opcode::SET | Opcode::ADD | Opcode::REPLACE => ext == 8 && key > 0,
        Opcode::APPEND | Opcode::PREPEND => ext == 0 && key > 0,
        Opcode::INCREMENT | Opcode::DECREMENT => ext == 20 && key > 0 && value == 0,
        Opcode::FLUSH => (ext == 0 || ext == 4) && key == 0 && value == 0,
        Opcode::NOOP | Opcode::VERSION | Opcode::QUIT | Opcode::SASL_LIST_MECHS => {
            ext == 0 && key == 0 && value == 0
        }
        Opcode::STAT => ext == 0,
        Opcode::SASL_AUTH | Opcode::SASL_STEP => ext == 0 && key > 0,
        // ElastiCache's config get (auto-discovery): a key, nothing else.
        // Any other layout is an opcode memcached does not know.
        Opcode::CONFIG_GET if ext == 0 && key > 0 && value == 0 => {
            let config = Command::ConfigGet { key: p.key };
            return p.request(config, Want::FLAGS.with(Want::VALUE));
        }
        // Its write path: config set (flags in 4 bytes of extras, the
        // value) and config delete (a key alone).
        Opcode::CONFIG_SET if ext == 4 && key > 0 => {
            let config = |payload| Command::ConfigSet {
                key: p.key,
                flags: p.extra_u32(0),
                payload,
            };
            if p.value_len > limits.max_value_len {
                return p.request(config(Payload::Oversize), Want::NONE);
            }
            let Some(data) = p.value() else {
                return Parsed::Incomplete;
            };
            let payload = Payload::Data {
                data,
                terminated: true,
            };
            return Parsed::Request {
                request: p.model(config(payload), Want::NONE),
                header: p.header,
                consumed: p.header.packet_len(),
                swallow: 0,
            };
        }
        Opcode::CONFIG_DELETE if ext == 0 && key > 0 && value == 0 => {
            return p.request(Command::ConfigDelete { key: p.key }, Want::NONE);
        }
        // VERBOSITY and everything memcached does not implement.
        _ => return p.refuse(Status::UnknownCommand),
    };
    if !fits {
        return p.protocol_error();
    }
    let read = |touch: Option<i64>| Command::Get {
        keys: Keys::One(p.key),
        touch,
        read: ReadOptions::default(),
    };
    let get_want = Want::FLAGS.with(Want::VALUE).with(Want::CAS);
    let key_want = |want: Want| match op {
        Opcode::GETK | Opcode::GATK => want.with(Want::KEY),
        _ => want,
    };
    match op {
        Opcode::GET | Opcode::GETK => p.request(read(None), key_want(get_want)),
        Opcode::GAT | Opcode::GATK => {
            let exptime = p.extra_u32(0) as i64;
            p.request(read(Some(exptime)), key_want(get_want))
        }
        // memcached answers TOUCH as a GAT without the value: the item's
        // flags and CAS come back, so it is a read here too.
        Opcode::TOUCH => {
            let exptime = p.extra_u32(0) as i64;
            p.request(read(Some(exptime)), Want::FLAGS.with(Want::CAS))
        }
        Opcode::SET | Opcode::ADD | Opcode::REPLACE | Opcode::APPEND | Opcode::PREPEND => {
            store(p, op, limits)
        }
        Opcode::DELETE => p.request(
            Command::Delete {
                key: p.key,
                cas: p.header.cas,
                keep: KeepOptions::default(),
            },
            Want::NONE,
        ),
        Opcode::INCREMENT | Opcode::DECREMENT => p.request(delta(p, op), Want::NONE),
        Opcode::FLUSH => {
            let delay = if ext == 4 { p.extra_u32(0) as i64 } else { 0 };
            p.request(Command::FlushAll { delay }, Want::NONE)
        }
        Opcode::NOOP => p.request(Command::Noop, Want::NONE),
        Opcode::VERSION => p.request(Command::Version, Want::NONE),
        Opcode::QUIT => p.request(Command::Quit, Want::NONE),
        Opcode::STAT => p.request(Command::Stats(stats_group(p.key)), Want::NONE),
        Opcode::SASL_LIST_MECHS => sasl(p, SaslOp::ListMechs, limits),
        Opcode::SASL_AUTH => sasl(p, SaslOp::Auth, limits),
        _ => sasl(p, SaslOp::Step, limits),
    }
}

/// SET/ADD/REPLACE (extras: flags, exptime) and APPEND/PREPEND (none). A
/// non-zero CAS turns SET, REPLACE and ADD alike into a compare-and-swap
/// (memcached's `NREAD_CAS`); APPEND and PREPEND compare it themselves.
fn store<'a>(p: &Packet<'a>, op: Opcode, limits: &Limits) -> Parsed<'a> {
    let cas = p.header.cas;
    let (mode, flags, exptime) = match op {
        Opcode::APPEND => (StoreMode::Append, 0, 0),
        Opcode::PREPEND => (StoreMode::Prepend, 0, 0),
        _ => {
            let mode = match op {
                _ if cas != 0 => StoreMode::Cas,
                Opcode::SET => StoreMode::Set,
                Opcode::ADD => StoreMode::Add,
                _ => StoreMode::Replace,
            };
            (mode, p.extra_u32(0), p.extra_u32(4) as i64)
        }
    };
    let command = |payload| Command::Store {
        mode,
        key: p.key,
        flags,
        exptime,
        cas,
        payload,
        write: WriteOptions::default(),
    };
    if p.value_len > limits.max_value_len {
        // The engine answers TOO_LARGE (and a SET drops the old value);
        // the value is discarded as it arrives.
        return p.request(command(Payload::Oversize), Want::NONE);
    }
    let Some(data) = p.value() else {
        return Parsed::Incomplete;
    };
    let payload = Payload::Data {
        data,
        terminated: true,
    };
    Parsed::Request {
        request: p.model(command(payload), Want::NONE),
        header: p.header,
        consumed: p.header.packet_len(),
        swallow: 0,
    }
}

/// INCREMENT/DECREMENT: extras delta (u64), initial (u64), exptime (u32);
/// an exptime of 0xffffffff means "do not create a missing item".
fn delta<'a>(p: &Packet<'a>, op: Opcode) -> Command<'a> {
    let initial = p.extra_u64(8);
    let exptime = p.extra_u32(16);
    Command::Delta {
        key: p.key,
        mode: if op == Opcode::INCREMENT {
            DeltaMode::Incr
        } else {
            DeltaMode::Decr
        },
        delta: p.extra_u64(0),
        create: (exptime != u32::MAX).then_some(Create {
            initial,
            exptime: exptime as i64,
        }),
        cas: p.header.cas,
        exptime: None,
        new_cas: None,
        order: FlagOrder::default(),
    }
}

/// The statistics group a STAT key names, matched as memcached's binary
/// STAT matches it: `reset` and `settings` as prefixes, `detail` followed
/// by ` dump`, ` on` or ` off` as prefixes, `items`, `slabs` and `sizes`
/// exactly; anything else (`conns` included: binary memcached has no
/// such group) is unknown, answered KEY_ENOENT.
fn stats_group(key: &[u8]) -> StatsGroup<'_> {
    if key.is_empty() {
        return StatsGroup::General;
    }
    if key.starts_with(b"reset") {
        return StatsGroup::Reset;
    }
    if key.starts_with(b"settings") {
        return StatsGroup::Settings;
    }
    if let Some(arg) = key.strip_prefix(b"detail") {
        let words: [&'static [u8]; 3] = [b"dump", b"on", b"off"];
        return match words
            .into_iter()
            .find(|w| arg.strip_prefix(b" ").is_some_and(|a| a.starts_with(w)))
        {
            Some(word) => StatsGroup::Detail(Some(word)),
            None => StatsGroup::Unknown(key),
        };
    }
    match key {
        b"items" => StatsGroup::Items,
        b"slabs" => StatsGroup::Slabs,
        b"sizes" => StatsGroup::Sizes,
        b"hotkeys" => StatsGroup::HotKeys,
        _ => StatsGroup::Unknown(key),
    }
}

/// SASL_LIST_MECHS, SASL_AUTH and SASL_STEP, refused as memcached with
/// `-S` refuses them: a mechanism name over 32 bytes is
/// INVALID_ARGUMENTS and a value that would not fit an item is
/// OUT_OF_MEMORY, each with the value swallowed.
fn sasl<'a>(p: &Packet<'a>, op: SaslOp, limits: &Limits) -> Parsed<'a> {
    if p.key.len() > MAX_SASL_MECH_LEN {
        return p.refuse(Status::InvalidArguments);
    }
    if p.value_len > limits.max_value_len {
        return p.refuse(Status::OutOfMemory);
    }
    let Some(data) = p.value() else {
        return Parsed::Incomplete;
    };
    Parsed::Sasl {
        op,
        mechanism: p.key,
        data,
        header: p.header,
        consumed: p.header.packet_len(),
    }
}

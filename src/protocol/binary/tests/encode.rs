//! Encoding: every response kind, model to bytes, read back.

use super::{packet, replies, set_extras, Reply, LIMITS};
use crate::model::{
    Command, Error, Item, Keys, Pieces, ReadOptions, Reply as _, ReplyPolicy, Request, Response,
    StatsGroup, StoreMode, Value, Want,
};
use crate::protocol::binary::{parse, BinaryReply, Header, Opcode, Parsed};

/// The header and request `bytes` parse to.
fn parsed(bytes: &[u8]) -> (Header, Request<'_>) {
    match parse(bytes, &LIMITS) {
        Parsed::Request {
            request, header, ..
        } => (header, request),
        other => panic!("{other:?}"),
    }
}

/// The replies to `request` (sent as `opcode`, opaque 7) for `responses`.
fn encode(opcode: Opcode, request: &Request<'_>, responses: &[Response<'_>]) -> Vec<Reply> {
    let mut header = Header::request(opcode, 0, 0, 0);
    header.opaque = 7;
    let mut out = Vec::new();
    let mut reply = BinaryReply::new(&mut out, &header, request);
    for r in responses {
        reply.reply(*r);
    }
    let got = replies(&out);
    for r in &got {
        assert_eq!((r.opcode, r.opaque), (opcode, 7), "echoed");
    }
    got
}

fn reply(status: u16, extras: &[u8], key: &[u8], value: &[u8], cas: u64) -> Reply {
    Reply {
        opcode: Opcode(0),
        status,
        extras: extras.to_vec(),
        key: key.to_vec(),
        value: value.to_vec(),
        cas,
        opaque: 7,
    }
}

/// Compares ignoring the opcode (checked by `encode`).
fn same(got: Vec<Reply>, want: Vec<Reply>) {
    let strip = |v: Vec<Reply>| -> Vec<Reply> {
        v.into_iter()
            .map(|r| Reply {
                opcode: Opcode(0),
                ..r
            })
            .collect()
    };
    assert_eq!(strip(got), strip(want));
}

fn read(want: Want) -> Request<'static> {
    Request::new(Command::Get {
        keys: Keys::One(b"k"),
        touch: None,
        read: ReadOptions::default(),
    })
    .with_want(want)
}

/// The pieces after the first of a value spanning chunks.
struct After<'a>(&'a [&'a [u8]]);

impl Pieces for After<'_> {
    fn for_each_after_first(&self, f: &mut dyn FnMut(&[u8])) {
        self.0.iter().skip(1).for_each(|p| f(p))
    }
}

#[test]
fn hits_carry_flags_key_value_and_cas() {
    let big = vec![b'x'; 700_000];
    let pieces: [&[u8]; 2] = [&big[..524_000], &big[524_000..]];
    let after = After(&pieces);
    let item = Item {
        key: b"k",
        flags: 0x0102_0304,
        cas: 0x1122_3344_5566_7788,
        value: Value::chained(big.len(), pieces[0], &after),
        meta: None,
    };
    let flags = [1, 2, 3, 4];
    let all = Want::FLAGS.with(Want::VALUE).with(Want::CAS);
    let got = encode(
        Opcode::GETK,
        &read(all.with(Want::KEY)),
        &[Response::Value(item)],
    );
    same(got, vec![reply(0, &flags, b"k", &big, item.cas)]);
    let got = encode(Opcode::GET, &read(all), &[Response::Value(item)]);
    same(got, vec![reply(0, &flags, b"", &big, item.cas)]);
    // TOUCH: flags and CAS, no value.
    let touch = read(Want::FLAGS.with(Want::CAS));
    let got = encode(
        Opcode::TOUCH,
        &touch,
        &[Response::Value(item), Response::End],
    );
    same(got, vec![reply(0, &flags, b"", b"", item.cas)]);
}

#[test]
fn misses_and_ends() {
    let miss = Response::Miss { key: b"k" };
    let all = Want::FLAGS.with(Want::VALUE).with(Want::CAS);
    let got = encode(Opcode::GET, &read(all), &[miss, Response::End]);
    same(got, vec![reply(1, b"", b"", b"Not found", 0)]);
    let got = encode(
        Opcode::GETK,
        &read(all.with(Want::KEY)),
        &[miss, Response::End],
    );
    same(got, vec![reply(1, b"", b"k", b"", 0)]);
    let quiet = read(all).with_policy(ReplyPolicy::ErrorsOnly);
    assert!(encode(Opcode::GETQ, &quiet, &[miss, Response::End]).is_empty());
    let stats = Request::new(Command::Stats(StatsGroup::General));
    same(
        encode(Opcode::STAT, &stats, &[Response::End]),
        vec![reply(0, b"", b"", b"", 0)],
    );
}

#[test]
fn outcomes_of_writes() {
    let other = Request::new(Command::Noop);
    let cases: [(Response<'_>, Reply); 11] = [
        (
            Response::Stored { cas: 42, len: 1 },
            reply(0, b"", b"", b"", 42),
        ),
        (Response::NotStored, reply(5, b"", b"", b"Not stored.", 0)),
        (
            Response::Exists,
            reply(2, b"", b"", b"Data exists for key.", 0),
        ),
        (Response::NotFound, reply(1, b"", b"", b"Not found", 0)),
        (Response::Deleted, reply(0, b"", b"", b"", 0)),
        (Response::Touched, reply(0, b"", b"", b"", 0)),
        (Response::Ok, reply(0, b"", b"", b"", 0)),
        (Response::Reset, reply(0, b"", b"", b"", 0)),
        (
            Response::Number {
                value: 0x0102_0304_0506_0708,
                cas: 9,
                ttl: -1,
                created: false,
            },
            reply(0, b"", b"", &[1, 2, 3, 4, 5, 6, 7, 8], 9),
        ),
        (
            Response::Version("1.6.18"),
            reply(0, b"", b"", b"1.6.18", 0),
        ),
        (
            Response::Stat("rusage_user", &0.25),
            reply(0, b"", b"rusage_user", b"0.25", 0),
        ),
    ];
    for (response, want) in cases {
        same(encode(Opcode::NOOP, &other, &[response]), vec![want]);
    }
}

#[test]
fn not_stored_depends_on_the_store() {
    let ext = set_extras(0, 0);
    for (op, cas, status) in [
        (Opcode::ADD, 0, 2),
        (Opcode::REPLACE, 0, 1),
        (Opcode::SET, 0, 5),
        (Opcode::APPEND, 0, 5),
        (Opcode::PREPEND, 0, 5),
        // With a CAS, ADD and REPLACE are compare-and-swaps: NOT_STORED.
        (Opcode::ADD, 3, 5),
        (Opcode::REPLACE, 3, 5),
    ] {
        let p = packet(op).key(b"k").value(b"v").cas(cas);
        let p = if matches!(op, Opcode::APPEND | Opcode::PREPEND) {
            p
        } else {
            p.extras(&ext)
        };
        let bytes = p.bytes();
        let (_, request) = parsed(&bytes);
        let got = encode(op, &request, &[Response::NotStored]);
        assert_eq!(got[0].status, status, "{op} cas {cas}");
    }
}

#[test]
fn errors_and_their_texts() {
    let noop = Request::new(Command::Noop);
    let flush = Request::new(Command::FlushAll { delay: 0 });
    let stats = Request::new(Command::Stats(StatsGroup::Unknown(b"x")));
    let delta = Request::new(Command::Delta {
        key: b"n",
        mode: crate::model::DeltaMode::Incr,
        delta: 1,
        create: None,
        cas: 0,
        exptime: None,
        new_cas: None,
        order: crate::model::FlagOrder::default(),
    });
    let set_bytes = packet(Opcode::SET)
        .key(b"k")
        .extras(&set_extras(0, 0))
        .value(b"v")
        .bytes();
    let (_, set) = parsed(&set_bytes);
    let cases: [(&Request<'_>, Error<'_>, u16, &str); 11] = [
        (&noop, Error::UnknownCommand, 0x81, "Unknown command"),
        (&stats, Error::UnknownCommand, 0x01, "Not found"),
        (&noop, Error::TooLarge, 0x03, "Too large."),
        (&set, Error::TooLarge, 0x03, "Too large."),
        (&set, Error::NoMemory, 0x82, "Out of memory allocating item"),
        (&noop, Error::NoMemory, 0x82, "Out of memory"),
        (
            &delta,
            Error::NonNumeric,
            0x06,
            "Non-numeric server-side value for incr or decr",
        ),
        (
            &flush,
            Error::Client("flush_all not allowed"),
            0x20,
            "Auth failure.",
        ),
        (
            &noop,
            Error::Client("bad command line format"),
            0x04,
            "Invalid arguments",
        ),
        (
            &delta,
            Error::Server("out of memory"),
            0x82,
            "Out of memory incrementing value",
        ),
        (&noop, Error::Server("out of memory"), 0x82, "Out of memory"),
    ];
    for (request, error, status, text) in cases {
        let got = encode(Opcode::NOOP, request, &[Response::Error(error)]);
        same(got, vec![reply(status, b"", b"", text.as_bytes(), 0)]);
    }
    let quiet = Request::new(Command::FlushAll { delay: 0 }).with_policy(ReplyPolicy::ErrorsOnly);
    let error = Response::Error(Error::Client("flush_all not allowed"));
    assert_eq!(encode(Opcode::FLUSHQ, &quiet, &[Response::Ok]), vec![]);
    assert_eq!(
        encode(Opcode::FLUSHQ, &quiet, &[error]).len(),
        1,
        "quiet errors are sent"
    );
}

#[test]
fn a_detail_dump_is_one_stat() {
    let dump = Request::new(Command::Stats(StatsGroup::Detail(Some(b"dump"))));
    let lines = [
        Response::Line("PREFIX a get 1 hit 0 set 0 del 0"),
        Response::Line("PREFIX b get 0 hit 0 set 2 del 0"),
        Response::End,
    ];
    let text = b"PREFIX a get 1 hit 0 set 0 del 0\r\nPREFIX b get 0 hit 0 set 2 del 0\r\nEND\r\n";
    same(
        encode(Opcode::STAT, &dump, &lines),
        vec![
            reply(0, b"", b"detailed", text, 0),
            reply(0, b"", b"", b"", 0),
        ],
    );
}

#[test]
fn store_kinds_reach_the_encoder() {
    // The mode a CAS gives each store opcode, as the encoder sees it.
    for (op, mode) in [
        (Opcode::SET, StoreMode::Cas),
        (Opcode::ADD, StoreMode::Cas),
        (Opcode::REPLACE, StoreMode::Cas),
        (Opcode::APPEND, StoreMode::Append),
    ] {
        let p = packet(op).key(b"k").value(b"v").cas(5);
        let p = if op == Opcode::APPEND {
            p
        } else {
            p.extras(&set_extras(0, 0))
        };
        let bytes = p.bytes();
        let (_, request) = parsed(&bytes);
        assert!(
            matches!(request.command, Command::Store { mode: m, cas: 5, .. } if m == mode),
            "{op}"
        );
    }
}

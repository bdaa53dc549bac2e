//! The meta encoder: each status with its return flags in request order,
//! keys shown as memcached shows them, `q`, and the errors.

use super::*;
use crate::model::{ItemMeta, Limits, Pieces, Value};
use crate::protocol::meta::{parse, KeyBuf, Parsed};

/// Decodes `line`, then encodes `responses` to it.
fn reply(line: &[u8], responses: &[Response<'_>]) -> String {
    let mut keys = KeyBuf::default();
    let limits = Limits {
        max_value_len: 1 << 20,
    };
    let Parsed::Request { request, plan, .. } = parse(line, &limits, &mut keys) else {
        panic!("{:?} does not decode", String::from_utf8_lossy(line))
    };
    let mut out = Vec::new();
    let mut encoder = MetaReply::new(&mut out, &request, &plan);
    for r in responses {
        encoder.reply(*r);
    }
    String::from_utf8(out).expect("text")
}

fn meta() -> ItemMeta {
    ItemMeta {
        ttl: -1,
        last_access: 7,
        fetched: true,
        stale: false,
        lease: Lease::None,
        binary_key: false,
        class: 1,
        size: 64,
    }
}

fn hit<'a>(key: &'a [u8], value: &'a [u8], meta: ItemMeta) -> Response<'a> {
    Response::Value(Item {
        key,
        flags: 5,
        cas: 42,
        value: Value::whole(value),
        meta: Some(meta),
    })
}

#[test]
fn mg_hits_return_flags_in_request_order() {
    let h = hit(b"foo", b"hi", meta());
    assert_eq!(reply(b"mg foo\r\n", &[h, Response::End]), "HD\r\n");
    assert_eq!(reply(b"mg foo v\r\n", &[h]), "VA 2\r\nhi\r\n");
    assert_eq!(
        reply(b"mg foo k v c f s t h l O123 q u P L\r\n", &[h]),
        "VA 2 kfoo c42 f5 s2 t-1 h1 l7 O123\r\nhi\r\n"
    );
    assert_eq!(reply(b"mg foo O1 t s k\r\n", &[h]), "HD O1 t-1 s2 kfoo\r\n");
    let unfetched = ItemMeta {
        fetched: false,
        ttl: 30,
        ..meta()
    };
    assert_eq!(
        reply(b"mg foo h t\r\n", &[hit(b"foo", b"hi", unfetched)]),
        "HD h0 t30\r\n"
    );
}

#[test]
fn win_tokens_and_staleness_follow_the_flags() {
    let with = |lease, stale| {
        hit(
            b"k",
            b"",
            ItemMeta {
                lease,
                stale,
                ..meta()
            },
        )
    };
    assert_eq!(reply(b"mg k\r\n", &[with(Lease::Won, false)]), "HD W\r\n");
    assert_eq!(reply(b"mg k\r\n", &[with(Lease::Taken, false)]), "HD Z\r\n");
    assert_eq!(reply(b"mg k\r\n", &[with(Lease::Won, true)]), "HD X W\r\n");
    assert_eq!(
        reply(b"mg k v\r\n", &[with(Lease::Taken, true)]),
        "VA 0 Z X\r\n\r\n"
    );
}

#[test]
fn keys_are_shown_as_memcached_shows_them() {
    // A hit shows the key encoded when the item was stored with `b`...
    let binary = ItemMeta {
        binary_key: true,
        ..meta()
    };
    assert_eq!(
        reply(b"mg YWJj b k\r\n", &[hit(b"abc", b"", binary)]),
        "HD kYWJj b\r\n"
    );
    assert_eq!(
        reply(b"mg abc k\r\n", &[hit(b"abc", b"", binary)]),
        "HD kYWJj b\r\n"
    );
    // ...and as it is when it was not, whatever the request said.
    assert_eq!(
        reply(b"mg YWJj b k\r\n", &[hit(b"abc", b"", meta())]),
        "HD kabc\r\n"
    );
    // A miss shows what the request gave, re-encoded.
    let miss = Response::Miss { key: b"abc" };
    assert_eq!(reply(b"mg YW#Jj b k O1\r\n", &[miss]), "EN kYWJj b O1\r\n");
    assert_eq!(reply(b"mg abc k O1 v s\r\n", &[miss]), "EN kabc O1\r\n");
    // Binary bytes are shown encoded.
    assert_eq!(
        reply(b"md AAog/w== b k\r\n", &[Response::NotFound]),
        "NF kAAog/w== b\r\n"
    );
}

#[test]
fn q_hides_hd_and_en_only() {
    let h = hit(b"k", b"v", meta());
    assert_eq!(reply(b"mg k q\r\n", &[Response::Miss { key: b"k" }]), "");
    assert_eq!(reply(b"mg k q v\r\n", &[h]), "VA 1\r\nv\r\n");
    assert_eq!(
        reply(b"ms k 1 q\r\nv\r\n", &[Response::Stored { cas: 1, len: 1 }]),
        ""
    );
    assert_eq!(
        reply(b"ms k 1 q\r\nv\r\n", &[Response::NotStored]),
        "NS\r\n"
    );
    assert_eq!(reply(b"md k q\r\n", &[Response::Deleted]), "");
    assert_eq!(reply(b"md k q\r\n", &[Response::NotFound]), "NF\r\n");
    assert_eq!(reply(b"md k q\r\n", &[Response::Exists]), "EX\r\n");
    let number = Response::Number {
        value: 3,
        cas: 9,
        ttl: -1,
        created: false,
    };
    assert_eq!(reply(b"ma k q v\r\n", &[number]), "");
    assert_eq!(reply(b"ma k q\r\n", &[Response::NotFound]), "NF\r\n");
    assert_eq!(
        reply(b"ma k q\r\n", &[Response::Error(Error::NonNumeric)]),
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    );
}

#[test]
fn ms_outcomes_carry_o_k_c_s() {
    let line = b"ms foo 2 s c k O9 T5 F1\r\nhi\r\n";
    assert_eq!(
        reply(line, &[Response::Stored { cas: 7, len: 6 }]),
        "HD s6 c7 kfoo O9\r\n"
    );
    assert_eq!(reply(line, &[Response::NotStored]), "NS s2 c0 kfoo O9\r\n");
    assert_eq!(reply(line, &[Response::Exists]), "EX s2 c0 kfoo O9\r\n");
    assert_eq!(reply(line, &[Response::NotFound]), "NF s2 c0 kfoo O9\r\n");
    assert_eq!(
        reply(
            b"ms YQ== 1 b k\r\nv\r\n",
            &[Response::Stored { cas: 1, len: 1 }]
        ),
        "HD kYQ== b\r\n"
    );
    for (e, text) in [
        (Error::TooLarge, "SERVER_ERROR object too large for cache"),
        (Error::NoMemory, "SERVER_ERROR out of memory storing object"),
        (Error::BadDataChunk, "CLIENT_ERROR bad data chunk"),
    ] {
        assert_eq!(
            reply(b"ms k 1 q\r\nv\r\n", &[Response::Error(e)]),
            format!("{text}\r\n")
        );
    }
}

#[test]
fn md_and_ma_statuses() {
    assert_eq!(
        reply(b"md k k O7 c\r\n", &[Response::Deleted]),
        "HD kk O7\r\n"
    );
    assert_eq!(reply(b"md k\r\n", &[Response::Exists]), "EX\r\n");
    assert_eq!(
        reply(b"md k x\r\n", &[Response::Error(Error::NoMemory)]),
        "SERVER_ERROR out of memory\r\n"
    );
    let number = Response::Number {
        value: 15,
        cas: 9,
        ttl: 30,
        created: false,
    };
    assert_eq!(
        reply(b"ma k v t c k O2 s f\r\n", &[number]),
        "VA 2 t30 c9 kk O2\r\n15\r\n"
    );
    assert_eq!(reply(b"ma k\r\n", &[number]), "HD\r\n");
    assert_eq!(
        reply(b"ma k k O1 c\r\n", &[Response::NotFound]),
        "NF kk O1\r\n"
    );
    assert_eq!(reply(b"ma k O1\r\n", &[Response::Exists]), "EX O1\r\n");
    assert_eq!(
        reply(
            b"ma k\r\n",
            &[Response::Error(Error::Server("out of memory"))]
        ),
        "SERVER_ERROR out of memory\r\n"
    );
}

#[test]
fn a_long_opaque_is_an_error_after_the_fact() {
    let long = b"mg k q O1234567890123456789012345678901x\r\n";
    assert_eq!(
        reply(long, &[Response::Miss { key: b"k" }, Response::End]),
        "CLIENT_ERROR opaque token too long\r\n"
    );
    let long = b"ma k O1234567890123456789012345678901x\r\n";
    let number = Response::Number {
        value: 1,
        cas: 1,
        ttl: -1,
        created: false,
    };
    assert_eq!(
        reply(long, &[number]),
        "CLIENT_ERROR opaque token too long\r\n"
    );
}

#[test]
fn mn_and_me() {
    assert_eq!(reply(b"mn\r\n", &[Response::Ok]), "MN\r\n");
    let seen = ItemMeta {
        ttl: 100,
        last_access: 3,
        fetched: false,
        class: 2,
        size: 68,
        ..meta()
    };
    assert_eq!(
        reply(b"me foo\r\n", &[hit(b"foo", b"hi", seen)]),
        "ME foo exp=100 la=3 cas=42 fetch=no cls=2 size=68\r\n"
    );
    let binary = ItemMeta {
        binary_key: true,
        ..meta()
    };
    assert_eq!(
        reply(b"me abc\r\n", &[hit(b"abc", b"", binary)]),
        "ME YWJj exp=-1 la=7 cas=42 fetch=yes cls=1 size=64\r\n"
    );
    assert_eq!(
        reply(b"me k\r\n", &[Response::Miss { key: b"k" }]),
        "EN\r\n"
    );
}

/// The pieces after the first of a value spanning chunks.
struct After<'a>(&'a [&'a [u8]]);

impl Pieces for After<'_> {
    fn for_each_after_first(&self, f: &mut dyn FnMut(&[u8])) {
        self.0.iter().skip(1).for_each(|p| f(p))
    }
}

#[test]
fn a_value_spanning_chunks_is_written_whole() {
    let parts: [&[u8]; 3] = [b"ab", b"cd", b"e"];
    let after = After(&parts);
    let item = Item {
        key: b"k",
        flags: 0,
        cas: 1,
        value: Value::chained(5, parts[0], &after),
        meta: Some(meta()),
    };
    assert_eq!(
        reply(b"mg k v s\r\n", &[Response::Value(item)]),
        "VA 5 s5\r\nabcde\r\n"
    );
}

//! The rows of NOOP, VERSION, QUIT, FLUSH and STAT.

use super::super::{packet, replies, Packet};
use super::{invalid, served, Expect};
use crate::model::{Command, Error, ReplyPolicy, Request, Response, StatsGroup};
use crate::protocol::binary::{parse, quit_reply, Opcode, Parsed};

const NONE: &[u8] = b"";
const EMPTY: Expect<'static> = (0, NONE, NONE, NONE, false);
const NOT_FOUND: Expect<'static> = (1, NONE, NONE, b"Not found", false);

fn is(command: Command<'static>) -> impl Fn(&Request<'_>) -> bool {
    move |r| r.command == command
}

#[test]
fn noop_version_quit_rows() {
    let noop = packet(Opcode::NOOP);
    served(
        "noop",
        &noop,
        is(Command::Noop),
        0,
        &[Response::Ok],
        &[EMPTY],
    );
    invalid("noop-extras", &noop.clone().extras(&[0; 4]));
    invalid("noop-key", &noop.clone().key(b"k"));
    invalid("noop-body", &noop.clone().value(b"abc"));
    let version = packet(Opcode::VERSION);
    let engine = [Response::Version("1.6.18")];
    let reply: Expect<'_> = (0, NONE, NONE, b"1.6.18", false);
    served(
        "version",
        &version,
        is(Command::Version),
        0,
        &engine,
        &[reply],
    );
    invalid("version-body", &version.value(b"x"));
    // The engine answers nothing to QUIT; the session writes QUIT's reply
    // (and none for QUITQ), then closes.
    for (row, op, answered) in [
        ("quit", Opcode::QUIT, true),
        ("quitq", Opcode::QUITQ, false),
    ] {
        let p = packet(op);
        served(row, &p, is(Command::Quit), 0, &[], &[]);
        let bytes = p.bytes();
        let Parsed::Request { header, .. } = parse(&bytes, &super::LIMITS) else {
            panic!("{row}");
        };
        assert!(header.is_quit(), "{row}");
        assert_eq!(header.is_quiet(), !answered, "{row}");
        let mut out = Vec::new();
        quit_reply(&mut out, &header);
        let got = replies(&out);
        assert_eq!(
            (got.len(), got[0].status, got[0].opcode),
            (1, 0, op),
            "{row}"
        );
        assert!(got[0].value.is_empty() && got[0].cas == 0, "{row}");
    }
    invalid("quit-body", &packet(Opcode::QUIT).value(b"x"));
}

#[test]
fn flush_rows() {
    let flush = packet(Opcode::FLUSH);
    let flushes = |delay: i64, quiet: bool| {
        move |r: &Request<'_>| {
            r.command == Command::FlushAll { delay }
                && (r.policy == ReplyPolicy::ErrorsOnly) == quiet
        }
    };
    let ok = [Response::Ok];
    served("flush", &flush, flushes(0, false), 0, &ok, &[EMPTY]);
    let flushq = packet(Opcode::FLUSHQ);
    served("flushq", &flushq, flushes(0, true), 0, &ok, &[]);
    let delayed = flush.clone().extras(&10u32.to_be_bytes());
    served(
        "flush-delay",
        &delayed,
        flushes(10, false),
        0,
        &ok,
        &[EMPTY],
    );
    invalid("flush-extras-8", &flush.clone().extras(&[0; 8]));
    invalid("flush-key", &flush.clone().key(b"k"));
    invalid("flush-body", &flush.clone().value(b"x"));
    // -F: the engine refuses; memcached says AUTH_ERROR, quiet or not.
    let refused = [Response::Error(Error::Client("flush_all not allowed"))];
    let auth: Expect<'_> = (0x20, NONE, NONE, b"Auth failure.", false);
    served(
        "flush-disabled",
        &flush,
        flushes(0, false),
        0,
        &refused,
        &[auth],
    );
    served(
        "flushq-disabled",
        &flushq,
        flushes(0, true),
        0,
        &refused,
        &[auth],
    );
}

fn stat(key: &[u8]) -> Packet {
    packet(Opcode::STAT).key(key)
}

fn group(g: StatsGroup<'static>) -> impl Fn(&Request<'_>) -> bool {
    move |r| r.command == Command::Stats(g) && r.policy == ReplyPolicy::Always
}

#[test]
fn stat_rows() {
    let listing = [
        Response::Stat("pid", &1234),
        Response::Stat("version", &"1.6.18"),
        Response::End,
    ];
    let listed: [Expect<'_>; 3] = [
        (0, NONE, b"pid", b"1234", false),
        (0, NONE, b"version", b"1.6.18", false),
        EMPTY,
    ];
    use StatsGroup::*;
    served(
        "stat-general",
        &stat(b""),
        group(General),
        0,
        &listing,
        &listed,
    );
    for (row, key, g) in [
        ("stat-settings", &b"settings"[..], Settings),
        ("stat-settingsfoo", b"settingsfoo", Settings),
        ("stat-slabs", b"slabs", Slabs),
    ] {
        served(row, &stat(key), group(g), 0, &listing, &listed);
    }
    // An empty listing is the terminating packet alone.
    served(
        "stat-items",
        &stat(b"items"),
        group(Items),
        0,
        &[Response::End],
        &[EMPTY],
    );
    let sizes = [Response::Stat("sizes_status", &"disabled"), Response::End];
    let sizes_reply = [
        (0, NONE, &b"sizes_status"[..], &b"disabled"[..], false),
        EMPTY,
    ];
    served(
        "stat-sizes",
        &stat(b"sizes"),
        group(Sizes),
        0,
        &sizes,
        &sizes_reply,
    );
    for (row, key) in [
        ("stat-reset", &b"reset"[..]),
        ("stat-resetfoo", b"resetfoo"),
    ] {
        served(
            row,
            &stat(key),
            group(Reset),
            0,
            &[Response::Reset],
            &[EMPTY],
        );
    }
    for (row, key, word) in [
        ("stat-detail-on", &b"detail on"[..], &b"on"[..]),
        ("stat-detail-off", b"detail off", b"off"),
    ] {
        served(
            row,
            &stat(key),
            group(Detail(Some(word))),
            0,
            &[Response::Ok],
            &[EMPTY],
        );
    }
    // `stats detail dump` is one `detailed` stat holding the whole dump.
    let dump = [
        Response::Line("PREFIX a get 1 hit 0 set 0 del 1"),
        Response::End,
    ];
    let detailed: &[u8] = b"PREFIX a get 1 hit 0 set 0 del 1\r\nEND\r\n";
    let dumped = [(0, NONE, &b"detailed"[..], detailed, false), EMPTY];
    let dump_group = group(Detail(Some(b"dump")));
    served(
        "stat-detail-dump",
        &stat(b"detail dump"),
        &dump_group,
        0,
        &dump,
        &dumped,
    );
    let nothing = [(0, NONE, &b"detailed"[..], &b"END\r\n"[..], false), EMPTY];
    let row = "stat-detail-dumpster";
    served(
        row,
        &stat(b"detail dumpster"),
        &dump_group,
        0,
        &[Response::End],
        &nothing,
    );
    // Groups binary memcached does not know (`conns` among them, though
    // text `stats conns` exists) are KEY_ENOENT.
    let unknown = [Response::Error(Error::UnknownCommand)];
    for (row, key) in [
        ("stat-conns", &b"conns"[..]),
        ("stat-detail", b"detail"),
        ("stat-detail-bogus", b"detail bogus"),
        ("stat-bogus", b"bogus"),
        ("stat-items-", b"items "),
        ("stat-Items", b"Items"),
        ("stat-extstore", b"extstore"),
        ("stat-cachedump-1-1", b"cachedump 1 1"),
        // memcached toggles size tracking here; ferrocache has no such
        // toggle (nor text `stats sizes_enable`): KEY_ENOENT.
        ("stat-sizes_enable", b"sizes_enable"),
        ("stat-sizes_disable", b"sizes_disable"),
    ] {
        served(
            row,
            &stat(key),
            group(Unknown(key)),
            0,
            &unknown,
            &[NOT_FOUND],
        );
    }
    invalid("stat-extras", &packet(Opcode::STAT).extras(&[0; 4]));
    // memcached answers, then reads the unused 3 bytes as the next packet
    // (desync -3); ferrocache answers and discards them.
    let body = stat(b"items").value(b"abc");
    served(
        "stat-body",
        &body,
        group(Items),
        3,
        &[Response::End],
        &[EMPTY],
    );
}

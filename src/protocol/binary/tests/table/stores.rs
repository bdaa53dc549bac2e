//! The rows of SET, ADD, REPLACE, APPEND and PREPEND: quiet forms, CAS,
//! values over the limit, out of memory.

use super::super::{packet, set_extras};
use super::{invalid, served, Expect, EXISTS, NONE, NOT_FOUND, NOT_STORED, STORED, TOO_LARGE};
use crate::model::{Command, Error, Payload, ReplyPolicy, Request, Response, StoreMode};
use crate::protocol::binary::Opcode;

/// One byte over the default item size limit.
const BIG: usize = 1024 * 1024 + 1;

/// A store of `k` in `mode` comparing `cas`, with `payload`.
fn stores(
    mode: StoreMode,
    cas: u64,
    payload: Payload<'static>,
    quiet: bool,
) -> impl Fn(&Request<'_>) -> bool {
    move |r| {
        let policy = if quiet {
            ReplyPolicy::ErrorsOnly
        } else {
            ReplyPolicy::Always
        };
        matches!(r.command, Command::Store { mode: m, key: b"k", cas: c, payload: p, .. }
            if m == mode && c == cas && p == payload)
            && r.policy == policy
    }
}

const V: Payload<'static> = Payload::Data {
    data: b"v",
    terminated: true,
};

#[test]
fn set_add_replace_rows() {
    let ext = set_extras(5, 0);
    let store = |op| packet(op).key(b"k").extras(&ext).value(b"v");
    let stored = [Response::Stored { cas: 78, len: 1 }];
    let not_stored = [Response::NotStored];
    let (exists, not_found) = ([Response::Exists], [Response::NotFound]);
    for (name, loud, quiet, mode) in [
        ("set", Opcode::SET, Opcode::SETQ, StoreMode::Set),
        ("add", Opcode::ADD, Opcode::ADDQ, StoreMode::Add),
        (
            "replace",
            Opcode::REPLACE,
            Opcode::REPLACEQ,
            StoreMode::Replace,
        ),
    ] {
        let row = |what: &str| format!("{name}{what}");
        // What the engine answers a store of a missing / present key.
        let (missing, present, missing_reply, present_reply): (&[_], &[_], &[_], &[_]) = match mode
        {
            StoreMode::Set => (&stored, &stored, &[STORED], &[STORED]),
            StoreMode::Add => (&stored, &not_stored, &[STORED], &[EXISTS]),
            _ => (&not_stored, &stored, &[NOT_FOUND], &[STORED]),
        };
        let plain = stores(mode, 0, V, false);
        served(
            &row("-missing"),
            &store(loud),
            &plain,
            0,
            missing,
            missing_reply,
        );
        served(
            &row("-present"),
            &store(loud),
            &plain,
            0,
            present,
            present_reply,
        );
        let q = stores(mode, 0, V, true);
        let hide = |r: &[Expect<'static>]| -> Vec<Expect<'static>> {
            r.iter().copied().filter(|e| e.0 != 0).collect()
        };
        served(
            &row("q-missing"),
            &store(quiet),
            &q,
            0,
            missing,
            &hide(missing_reply),
        );
        served(
            &row("q-present"),
            &store(quiet),
            &q,
            0,
            present,
            &hide(present_reply),
        );
        // A non-zero CAS makes each of them a compare-and-swap.
        let cas = stores(StoreMode::Cas, 12345, V, false);
        let with_cas = store(loud).cas(12345);
        served(&row("-cas-match"), &with_cas, &cas, 0, &stored, &[STORED]);
        served(
            &row("-cas-mismatch"),
            &with_cas,
            &cas,
            0,
            &exists,
            &[EXISTS],
        );
        served(
            &row("-cas-missing"),
            &with_cas,
            &cas,
            0,
            &not_found,
            &[NOT_FOUND],
        );
    }
}

#[test]
fn store_fields_and_layouts() {
    let set = packet(Opcode::SET).key(b"k");
    // set-then-get: flags and value as sent.
    let abc = set.clone().extras(&set_extras(7, 0)).value(b"abc");
    let flags_7 = |r: &Request<'_>| {
        matches!(
            r.command,
            Command::Store {
                flags: 7,
                exptime: 0,
                payload: Payload::Data { data: b"abc", .. },
                ..
            }
        )
    };
    served("set-then-get", &abc, flags_7, 0, &[], &[]);
    let empty = set.clone().extras(&set_extras(5, 0));
    let no_value = Payload::Data {
        data: b"",
        terminated: true,
    };
    let empty_model = stores(StoreMode::Set, 0, no_value, false);
    served("set-empty-value", &empty, empty_model, 0, &[], &[]);
    // Binary expiry times are unsigned: 0xffffffff is far in the future.
    let max = set.clone().extras(&set_extras(0, u32::MAX)).value(b"v");
    let far = |r: &Request<'_>| {
        matches!(
            r.command,
            Command::Store {
                exptime: 4294967295,
                ..
            }
        )
    };
    served("set-exptime-max", &max, far, 0, &[], &[]);
    invalid("set-no-extras", &set.clone().value(b"v"));
    invalid("set-extras-4", &set.clone().extras(&[0; 4]).value(b"v"));
    invalid(
        "set-no-key",
        &packet(Opcode::SET).extras(&set_extras(5, 0)).value(b"v"),
    );
    let long = packet(Opcode::SET)
        .key(&[b'a'; 251])
        .extras(&set_extras(5, 0));
    invalid("set-key-251", &long.value(b"v"));
}

#[test]
fn too_large_and_out_of_memory_rows() {
    let ext = set_extras(5, 0);
    let big = vec![b'x'; BIG];
    let too_large = [Response::Error(Error::TooLarge)];
    for (row, op, mode, quiet) in [
        ("set-too-large", Opcode::SET, StoreMode::Set, false),
        ("setq-too-large", Opcode::SETQ, StoreMode::Set, true),
        ("add-too-large", Opcode::ADD, StoreMode::Add, false),
    ] {
        let p = packet(op).key(b"k").extras(&ext).value(&big);
        let model = stores(mode, 0, Payload::Oversize, quiet);
        served(row, &p, model, BIG, &too_large, &[TOO_LARGE]);
    }
    for (row, op, mode) in [
        ("append-too-large", Opcode::APPEND, StoreMode::Append),
        ("prepend-too-large", Opcode::PREPEND, StoreMode::Prepend),
    ] {
        let p = packet(op).key(b"k").value(&big);
        let model = stores(mode, 0, Payload::Oversize, false);
        served(row, &p, model, BIG, &too_large, &[TOO_LARGE]);
    }
    // set-too-large-split: memcached answers once the head is in.
    let head = packet(Opcode::SET)
        .key(b"k")
        .extras(&ext)
        .bodylen(9 + BIG as u32);
    let model = stores(StoreMode::Set, 0, Payload::Oversize, false);
    served(
        "set-too-large-split",
        &head,
        model,
        BIG,
        &too_large,
        &[TOO_LARGE],
    );
    // An append that grows the item past the limit fails as NOT_STORED.
    let y400 = vec![b'y'; 400];
    let p = packet(Opcode::APPEND).key(b"k").value(&y400);
    served(
        "append-combined-too-large",
        &p,
        |_| true,
        0,
        &too_large,
        &[NOT_STORED],
    );
    let no_memory = [Response::Error(Error::NoMemory)];
    let z = packet(Opcode::SET)
        .key(b"k")
        .extras(&ext)
        .value(&[b'x'; 1000]);
    let oom: Expect<'_> = (0x82, NONE, NONE, b"Out of memory allocating item", false);
    served("set-no-memory", &z, |_| true, 0, &no_memory, &[oom]);
    let p = packet(Opcode::APPEND).key(b"k").value(b"yyyyyyyyyy");
    served(
        "append-no-memory",
        &p,
        |_| true,
        0,
        &no_memory,
        &[NOT_STORED],
    );
}

#[test]
fn append_prepend_rows() {
    for (name, loud, quiet, mode) in [
        ("append", Opcode::APPEND, Opcode::APPENDQ, StoreMode::Append),
        (
            "prepend",
            Opcode::PREPEND,
            Opcode::PREPENDQ,
            StoreMode::Prepend,
        ),
    ] {
        let row = |what: &str| format!("{name}{what}");
        let p = |op| packet(op).key(b"k").value(b"v");
        let plain = stores(mode, 0, V, false);
        let q = stores(mode, 0, V, true);
        let stored = [Response::Stored { cas: 78, len: 1 }];
        let not_stored = [Response::NotStored];
        served(
            &row("-missing"),
            &p(loud),
            &plain,
            0,
            &not_stored,
            &[NOT_STORED],
        );
        served(&row("-present"), &p(loud), &plain, 0, &stored, &[STORED]);
        served(
            &row("q-missing"),
            &p(quiet),
            &q,
            0,
            &not_stored,
            &[NOT_STORED],
        );
        served(&row("q-present"), &p(quiet), &q, 0, &stored, &[]);
        // APPEND and PREPEND keep their mode and compare a non-zero CAS.
        let cas = stores(mode, 12345, V, false);
        let with_cas = p(loud).cas(12345);
        served(&row("-cas-match"), &with_cas, &cas, 0, &stored, &[STORED]);
        let exists = [Response::Exists];
        served(
            &row("-cas-mismatch"),
            &with_cas,
            &cas,
            0,
            &exists,
            &[EXISTS],
        );
        invalid(&row("-extras"), &p(loud).extras(&set_extras(5, 0)));
        invalid(&row("-no-key"), &packet(loud).value(b"v"));
        let empty = Payload::Data {
            data: b"",
            terminated: true,
        };
        let nothing = stores(mode, 0, empty, false);
        let bare = packet(loud).key(b"k");
        served(&row("-empty-value"), &bare, nothing, 0, &stored, &[STORED]);
    }
}

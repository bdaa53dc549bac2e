//! The rows of DELETE, INCREMENT and DECREMENT.

use super::super::{incr_extras, packet, set_extras, Packet};
use super::{invalid, served, Expect, EXISTS, NONE, NOT_FOUND};
use crate::model::{Command, Create, DeltaMode, Error, ReplyPolicy, Request, Response};
use crate::protocol::binary::Opcode;

#[test]
fn delete_rows() {
    let del = |op| packet(op).key(b"k");
    let deletes = |cas: u64, quiet: bool| {
        move |r: &Request<'_>| {
            matches!(r.command, Command::Delete { key: b"k", cas: c, .. } if c == cas)
                && (r.policy == ReplyPolicy::ErrorsOnly) == quiet
        }
    };
    // A delete's success carries no CAS.
    let deleted: Expect<'_> = (0, NONE, NONE, NONE, false);
    let d = del(Opcode::DELETE);
    served(
        "delete-hit",
        &d,
        deletes(0, false),
        0,
        &[Response::Deleted],
        &[deleted],
    );
    served(
        "delete-miss",
        &d,
        deletes(0, false),
        0,
        &[Response::NotFound],
        &[NOT_FOUND],
    );
    let dq = del(Opcode::DELETEQ);
    served(
        "deleteq-hit",
        &dq,
        deletes(0, true),
        0,
        &[Response::Deleted],
        &[],
    );
    served(
        "deleteq-miss",
        &dq,
        deletes(0, true),
        0,
        &[Response::NotFound],
        &[NOT_FOUND],
    );
    let c = del(Opcode::DELETE).cas(12345);
    served(
        "delete-cas-match",
        &c,
        deletes(12345, false),
        0,
        &[Response::Deleted],
        &[deleted],
    );
    served(
        "delete-cas-mismatch",
        &c,
        deletes(12345, false),
        0,
        &[Response::Exists],
        &[EXISTS],
    );
    invalid("delete-extras", &d.clone().extras(&[0; 4]));
    invalid("delete-body", &d.clone().value(b"x"));
    invalid("delete-no-key", &packet(Opcode::DELETE));
}

#[test]
fn increment_decrement_rows() {
    let delta = |op, d: u64, initial: u64, exptime: u32| {
        packet(op)
            .key(b"n")
            .extras(&incr_extras(d, initial, exptime))
    };
    let counts = |mode: DeltaMode, by: u64, create: Option<Create>, cas: u64| {
        move |r: &Request<'_>| {
            matches!(r.command, Command::Delta { key: b"n", mode: m, delta, create: c, cas: k, exptime: None, new_cas: None, .. }
                if m == mode && delta == by && c == create && k == cas)
        }
    };
    let number = |value: u64| {
        [Response::Number {
            value,
            cas: 79,
            ttl: -1,
            created: false,
        }]
    };
    let n = |v: u64| (0u16, NONE, NONE, v.to_be_bytes(), true);
    let check = |row: &str, p: &Packet, model: &dyn Fn(&Request<'_>) -> bool, value: u64| {
        let (s, e, k, v, c) = n(value);
        served(row, p, model, 0, &number(value), &[(s, e, k, &v, c)]);
    };
    let zero = Some(Create {
        initial: 0,
        exptime: 0,
    });
    let (incr, decr) = (Opcode::INCREMENT, Opcode::DECREMENT);
    use DeltaMode::{Decr, Incr};
    check(
        "incr-hit",
        &delta(incr, 5, 0, 0),
        &counts(Incr, 5, zero, 0),
        15,
    );
    check(
        "decr-hit",
        &delta(decr, 3, 0, 0),
        &counts(Decr, 3, zero, 0),
        7,
    );
    check(
        "decr-below-zero",
        &delta(decr, 11, 0, 0),
        &counts(Decr, 11, zero, 0),
        0,
    );
    check(
        "incr-wraps",
        &delta(incr, u64::MAX, 0, 0),
        &counts(Incr, u64::MAX, zero, 0),
        9,
    );
    // An expiry of 0xffffffff: a missing counter is not created.
    let no_create = delta(incr, 1, 7, u32::MAX);
    let not_found = [Response::NotFound];
    served(
        "incr-miss-no-create",
        &no_create,
        counts(Incr, 1, None, 0),
        0,
        &not_found,
        &[NOT_FOUND],
    );
    let seven = |exptime| {
        Some(Create {
            initial: 7,
            exptime,
        })
    };
    check(
        "incr-miss-create",
        &delta(incr, 1, 7, 0),
        &counts(Incr, 1, seven(0), 0),
        7,
    );
    check(
        "decr-miss-create",
        &delta(decr, 1, 7, 100),
        &counts(Decr, 1, seven(100), 0),
        7,
    );
    let p = delta(incr, 1, 7, 0xffff_fffe);
    check(
        "incr-miss-create-exptime-fffffffe",
        &p,
        &counts(Incr, 1, seven(0xffff_fffe), 0),
        7,
    );
    let non_numeric = [Response::Error(Error::NonNumeric)];
    let bad: Expect<'_> = (
        6,
        NONE,
        NONE,
        b"Non-numeric server-side value for incr or decr",
        false,
    );
    served(
        "incr-non-numeric",
        &delta(incr, 1, 0, 0),
        |_| true,
        0,
        &non_numeric,
        &[bad],
    );
    let with_cas = delta(incr, 1, 0, 0).cas(12345);
    check(
        "incr-cas-match",
        &with_cas,
        &counts(Incr, 1, zero, 12345),
        11,
    );
    served(
        "incr-cas-mismatch",
        &with_cas,
        |_| true,
        0,
        &[Response::Exists],
        &[EXISTS],
    );
    // memcached creates a missing counter whatever the CAS says.
    let p = delta(incr, 1, 7, 0).cas(12345);
    check(
        "incr-cas-missing-create",
        &p,
        &counts(Incr, 1, seven(0), 12345),
        7,
    );
    let quiet = |r: &Request<'_>| r.policy == ReplyPolicy::ErrorsOnly;
    let incrq = delta(Opcode::INCREMENTQ, 1, 0, 0);
    served("incrq-hit", &incrq, quiet, 0, &number(11), &[]);
    let incrq_miss = delta(Opcode::INCREMENTQ, 1, 0, u32::MAX);
    served(
        "incrq-miss",
        &incrq_miss,
        quiet,
        0,
        &not_found,
        &[NOT_FOUND],
    );
    let decrq = packet(Opcode::DECREMENTQ)
        .key(b"k")
        .extras(&incr_extras(1, 0, 0));
    served("decrq-non-numeric", &decrq, quiet, 0, &non_numeric, &[bad]);
    invalid("incr-no-extras", &packet(incr).key(b"n"));
    invalid(
        "incr-extras-8",
        &packet(incr).key(b"n").extras(&set_extras(5, 0)),
    );
    invalid("incr-no-key", &packet(incr).extras(&incr_extras(1, 0, 0)));
    invalid("incr-body", &delta(incr, 1, 0, 0).value(b"x"));
}

#[test]
fn out_of_memory_counting_is_out_of_memory() {
    // The engine's delta out of memory (no probe row: memcached 1.6.18
    // cannot be made to fail an incr's allocation from outside).
    let p = packet(Opcode::INCREMENT)
        .key(b"n")
        .extras(&incr_extras(1, 0, 0));
    let oom = [Response::Error(Error::Server("out of memory"))];
    let text: &[u8] = b"Out of memory incrementing value";
    served(
        "incr-no-memory",
        &p,
        |_| true,
        0,
        &oom,
        &[(0x82, NONE, NONE, text, false)],
    );
}

//! The rows of the reads: GET, GETK, GAT, GATK and their quiet forms, and
//! TOUCH.

use super::super::packet;
use super::{hit, invalid, served, Expect, CAFE, NONE, NOT_FOUND};
use crate::model::{Command, Keys, ReplyPolicy, Request, Response, Want};
use crate::protocol::binary::Opcode;

fn get(op: Opcode) -> super::super::Packet {
    packet(op).key(b"k")
}

/// A read of key `k`, touching with `touch`, returning `want`.
fn reads(touch: Option<i64>, want: Want, quiet: bool) -> impl Fn(&Request<'_>) -> bool {
    move |r| {
        let policy = if quiet {
            ReplyPolicy::ErrorsOnly
        } else {
            ReplyPolicy::Always
        };
        matches!(r.command, Command::Get { keys: Keys::One(b"k"), touch: t, .. } if t == touch)
            && r.want == want
            && r.policy == policy
    }
}

fn value_want() -> Want {
    Want::FLAGS.with(Want::VALUE).with(Want::CAS)
}

#[test]
fn get_rows() {
    let hit_then_end = [hit(), Response::End];
    let miss_then_end = [Response::Miss { key: b"k" }, Response::End];
    let with_key = value_want().with(Want::KEY);
    let hit_reply: Expect<'_> = (0, CAFE, NONE, b"hello", true);
    let hit_key_reply: Expect<'_> = (0, CAFE, b"k", b"hello", true);
    let miss_key_reply: Expect<'_> = (1, NONE, b"k", NONE, false);
    let plain = reads(None, value_want(), false);
    let keyed = reads(None, with_key, false);
    let quiet = reads(None, value_want(), true);
    let quiet_keyed = reads(None, with_key, true);
    let row = |name, op, model: &dyn Fn(&Request<'_>) -> bool, engine: &[_], expect: &[_]| {
        served(name, &get(op), model, 0, engine, expect)
    };
    row("get-hit", Opcode::GET, &plain, &hit_then_end, &[hit_reply]);
    row(
        "get-miss",
        Opcode::GET,
        &plain,
        &miss_then_end,
        &[NOT_FOUND],
    );
    row(
        "getk-hit",
        Opcode::GETK,
        &keyed,
        &hit_then_end,
        &[hit_key_reply],
    );
    row(
        "getk-miss",
        Opcode::GETK,
        &keyed,
        &miss_then_end,
        &[miss_key_reply],
    );
    row(
        "getq-hit",
        Opcode::GETQ,
        &quiet,
        &hit_then_end,
        &[hit_reply],
    );
    row("getq-miss", Opcode::GETQ, &quiet, &miss_then_end, &[]);
    row(
        "getkq-hit",
        Opcode::GETKQ,
        &quiet_keyed,
        &hit_then_end,
        &[hit_key_reply],
    );
    row(
        "getkq-miss",
        Opcode::GETKQ,
        &quiet_keyed,
        &miss_then_end,
        &[],
    );
    let long = packet(Opcode::GET).key(&[b'a'; 250]);
    let key250 = [Response::Miss { key: &[b'a'; 250] }, Response::End];
    served("get-key-250", &long, |_| true, 0, &key250, &[NOT_FOUND]);
    invalid("get-key-251", &packet(Opcode::GET).key(&[b'a'; 251]));
    invalid("get-no-key", &packet(Opcode::GET));
    invalid("get-extras", &get(Opcode::GET).extras(&[0; 4]));
    invalid("get-body", &get(Opcode::GET).value(b"abc"));
    invalid("extlen-255", &get(Opcode::GET).extras(&[0; 255]));
    let odd_key = b"a b\r\n\0";
    let binary = packet(Opcode::GET).key(odd_key);
    let one_odd_key = |r: &Request<'_>| matches!(r.command, Command::Get { keys: Keys::One(k), .. } if k == odd_key);
    served("get-binary-key", &binary, one_odd_key, 0, &[], &[]);
}

#[test]
fn get_ignores_datatype_and_vbucket() {
    // get-datatype: memcached serves a GET with datatype 1, vbucket 7.
    let mut bytes = get(Opcode::GET).bytes();
    bytes[5] = 1;
    bytes[7] = 7;
    match crate::protocol::binary::parse(&bytes, &super::LIMITS) {
        crate::protocol::binary::Parsed::Request { request, .. } => {
            assert!(reads(None, value_want(), false)(&request))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gat_and_touch_rows() {
    let hundred = 100u32.to_be_bytes();
    let gat = |op| get(op).extras(&hundred);
    let hit_then_end = [hit(), Response::End];
    let miss_then_end = [Response::Miss { key: b"k" }, Response::End];
    let with_key = value_want().with(Want::KEY);
    let t = Some(100);
    let hit_reply: Expect<'_> = (0, CAFE, NONE, b"hello", true);
    let hit_key_reply: Expect<'_> = (0, CAFE, b"k", b"hello", true);
    let miss_key_reply: Expect<'_> = (1, NONE, b"k", NONE, false);
    let row = |name, op, want, quiet, engine: &[_], expect: &[_]| {
        served(name, &gat(op), reads(t, want, quiet), 0, engine, expect)
    };
    let plain = value_want();
    row(
        "gat-hit",
        Opcode::GAT,
        plain,
        false,
        &hit_then_end,
        &[hit_reply],
    );
    row(
        "gat-miss",
        Opcode::GAT,
        plain,
        false,
        &miss_then_end,
        &[NOT_FOUND],
    );
    row(
        "gatk-hit",
        Opcode::GATK,
        with_key,
        false,
        &hit_then_end,
        &[hit_key_reply],
    );
    row(
        "gatk-miss",
        Opcode::GATK,
        with_key,
        false,
        &miss_then_end,
        &[miss_key_reply],
    );
    row(
        "gatq-hit",
        Opcode::GATQ,
        plain,
        true,
        &hit_then_end,
        &[hit_reply],
    );
    row("gatq-miss", Opcode::GATQ, plain, true, &miss_then_end, &[]);
    row(
        "gatkq-hit",
        Opcode::GATKQ,
        with_key,
        true,
        &hit_then_end,
        &[hit_key_reply],
    );
    row(
        "gatkq-miss",
        Opcode::GATKQ,
        with_key,
        true,
        &miss_then_end,
        &[],
    );
    invalid("gat-no-extras", &get(Opcode::GAT));
    invalid("gat-no-key", &packet(Opcode::GAT).extras(&hundred));
    // memcached answers, then reads the unused 3 bytes as the next packet
    // (desync -3); ferrocache answers and discards them.
    let body = gat(Opcode::GAT).value(b"abc");
    let gat_reads = reads(t, value_want(), false);
    served("gat-body", &body, gat_reads, 3, &hit_then_end, &[hit_reply]);

    // TOUCH is a GAT without the value: flags and CAS come back.
    let touch = reads(t, Want::FLAGS.with(Want::CAS), false);
    let touched: Expect<'_> = (0, CAFE, NONE, NONE, true);
    let touch_packet = gat(Opcode::TOUCH);
    served(
        "touch-hit",
        &touch_packet,
        &touch,
        0,
        &hit_then_end,
        &[touched],
    );
    served(
        "touch-miss",
        &touch_packet,
        &touch,
        0,
        &miss_then_end,
        &[NOT_FOUND],
    );
    invalid("touch-no-extras", &get(Opcode::TOUCH));
    invalid("touch-extras-8", &get(Opcode::TOUCH).extras(&[0; 8]));
    let body = gat(Opcode::TOUCH).value(b"abc");
    served("touch-body", &body, &touch, 3, &hit_then_end, &[touched]);
}

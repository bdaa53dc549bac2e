//! The meta protocol on the real binary: every command and flag, the
//! replies memcached gives (CAS values aside, read back where they matter),
//! win tokens raced over many connections, meta and classic commands on the
//! same keys, a binary client reading what `ms` wrote, and quiet pipelines
//! ended by `mn`.
//!
//! Run: `cargo test --release --test meta`.

mod common;

use common::{Client, Server};
use std::io::{Read, Write};
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn server() -> Server {
    Server::ferrocache(&[])
}

/// Sends `request` and returns the reply as text.
fn call(c: &mut Client, request: &str) -> String {
    String::from_utf8(c.call(request.as_bytes())).expect("text reply")
}

/// The number after ` <flag>` in a reply line.
fn flag(reply: &str, flag: char) -> u64 {
    reply
        .lines()
        .next()
        .unwrap_or_default()
        .split(' ')
        .skip(1)
        .find_map(|t| t.strip_prefix(flag))
        .unwrap_or_else(|| panic!("no {flag} in {reply:?}"))
        .parse()
        .unwrap_or_else(|_| panic!("{flag} is not a number in {reply:?}"))
}

#[test]
fn mg_hits_misses_and_return_flags() {
    let s = server();
    let mut c = s.connect();
    assert_eq!(call(&mut c, "ms foo 2 F5 T0\r\nhi\r\n"), "HD\r\n");
    assert_eq!(call(&mut c, "mg foo\r\n"), "HD\r\n");
    assert_eq!(call(&mut c, "mg foo v\r\n"), "VA 2\r\nhi\r\n");
    let all = call(&mut c, "mg foo s v t c f h l k O123 P L\r\n");
    let cas = flag(&all, 'c');
    assert_eq!(
        all,
        format!("VA 2 s2 t-1 c{cas} f5 h1 l0 kfoo O123\r\nhi\r\n")
    );
    assert_eq!(call(&mut c, "mg miss v\r\n"), "EN\r\n");
    assert_eq!(call(&mut c, "mg miss v k O1 s t\r\n"), "EN kmiss O1\r\n");
    assert_eq!(call(&mut c, "mg miss v q\r\n"), "");
    assert_eq!(call(&mut c, "mg foo v q\r\n"), "VA 2\r\nhi\r\n");
    // P and L are proxy hints: accepted and ignored.
    assert_eq!(call(&mut c, "mg foo Pxyz Labc\r\n"), "HD\r\n");
    // C (memcached 1.6.40): the value only when the CAS differs from the
    // client's; a current copy gets HD and the other flags.
    assert_eq!(call(&mut c, &format!("mg foo C{cas} v s\r\n")), "HD s2\r\n");
    assert_eq!(
        call(&mut c, &format!("mg foo C{} v\r\n", cas + 1)),
        "VA 2\r\nhi\r\n"
    );
    assert_eq!(
        call(&mut c, "mg foo Cx v\r\n"),
        "CLIENT_ERROR bad token in command line format\r\n"
    );
}

#[test]
fn h_l_and_u_report_and_keep_the_state_before_the_command() {
    let s = server();
    let mut c = s.connect();
    call(&mut c, "ms k 1\r\nv\r\n");
    // u leaves the fetched bit alone: still not hit, twice.
    assert_eq!(call(&mut c, "mg k h u\r\n"), "HD h0\r\n");
    assert_eq!(call(&mut c, "mg k h\r\n"), "HD h0\r\n");
    assert_eq!(call(&mut c, "mg k h\r\n"), "HD h1\r\n");
    std::thread::sleep(Duration::from_millis(2100));
    let la = flag(&call(&mut c, "mg k l u\r\n"), 'l');
    assert!(la >= 1, "l counts seconds since the last access: {la}");
    let me = call(&mut c, "me k\r\n");
    assert!(me.contains(" fetch=yes "), "{me}");
}

#[test]
fn t_and_ttl_flags_act_in_line_order() {
    let s = server();
    let mut c = s.connect();
    call(&mut c, "ms k 1 T100\r\nv\r\n");
    let before = flag(&call(&mut c, "mg k t T300\r\n"), 't');
    assert!((98..=100).contains(&before), "t before T: {before}");
    let after = flag(&call(&mut c, "mg k T300 t\r\n"), 't');
    assert!((298..=300).contains(&after), "T before t: {after}");
    // Vivified: t before N sees the new item as made (no expiry).
    assert_eq!(call(&mut c, "mg new1 t N30\r\n"), "HD t-1 W\r\n");
    let t = flag(&call(&mut c, "mg new2 T60 N30 t\r\n"), 't');
    assert!((28..=30).contains(&t), "N after T wins: {t}");
    let t = flag(&call(&mut c, "mg new3 N30 T60 t\r\n"), 't');
    assert!((58..=60).contains(&t), "T after N wins: {t}");
    // R compares the expiry as it is at R's turn.
    call(&mut c, "ms r1 1 T100\r\nv\r\n");
    assert_eq!(call(&mut c, "mg r1 R200 T10\r\n"), "HD W\r\n");
    call(&mut c, "ms r2 1 T100\r\nv\r\n");
    assert_eq!(call(&mut c, "mg r2 R50 T10\r\n"), "HD\r\n");
    assert_eq!(call(&mut c, "mg r2 R50\r\n"), "HD W\r\n");
}

#[test]
fn vivify_gives_exactly_one_client_the_win() {
    let s = server();
    for round in 0..20 {
        let key = format!("viv{round}");
        let clients = 8;
        let barrier = Arc::new(Barrier::new(clients));
        let replies: Vec<String> = (0..clients)
            .map(|_| {
                let mut c = s.connect();
                let barrier = barrier.clone();
                let key = key.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    call(&mut c, &format!("mg {key} N30 v c\r\n"))
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let wins = replies.iter().filter(|r| r.contains(" W\r\n")).count();
        let taken = replies.iter().filter(|r| r.contains(" Z\r\n")).count();
        assert_eq!((wins, taken), (1, clients - 1), "{replies:?}");
        assert!(
            replies.iter().all(|r| r.starts_with("VA 0 c")),
            "{replies:?}"
        );
        // The winner recomputes and stores; then nobody wins.
        let mut c = s.connect();
        let cas = flag(&replies[0], 'c');
        assert_eq!(
            call(&mut c, &format!("ms {key} 3 C{cas}\r\nnew\r\n")),
            "HD\r\n"
        );
        assert_eq!(
            call(&mut c, &format!("mg {key} N30 v\r\n")),
            "VA 3\r\nnew\r\n"
        );
    }
}

#[test]
fn invalidation_serves_stale_and_hands_out_one_token() {
    let s = server();
    let mut c = s.connect();
    call(&mut c, "ms k 3 T100\r\nold\r\n");
    assert_eq!(call(&mut c, "md k I T30\r\n"), "HD\r\n");
    let clients = 6;
    let barrier = Arc::new(Barrier::new(clients));
    let replies: Vec<String> = (0..clients)
        .map(|_| {
            let mut c = s.connect();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                call(&mut c, "mg k v c t\r\n")
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let wins = replies.iter().filter(|r| r.contains(" X W\r\n")).count();
    let taken = replies.iter().filter(|r| r.contains(" Z X\r\n")).count();
    assert_eq!((wins, taken), (1, clients - 1), "{replies:?}");
    let ttl = flag(&replies[0], 't');
    assert!((28..=30).contains(&ttl), "md I T30 set the TTL: {ttl}");
    // A set with an older CAS and I stores, still stale, TTL kept.
    let cas = flag(&replies[0], 'c');
    assert_eq!(
        call(&mut c, &format!("ms k 3 C{} I T90\r\nmid\r\n", cas - 1)),
        "HD\r\n"
    );
    let r = call(&mut c, "mg k v t\r\n");
    assert!(r.ends_with(" Z X\r\nmid\r\n"), "{r}");
    assert!(flag(&r, 't') <= 30, "{r}");
    // Without I, the older CAS is refused; the current one replaces it.
    assert_eq!(
        call(&mut c, &format!("ms k 3 C{}\r\nnew\r\n", cas - 1)),
        "EX\r\n"
    );
    let cas = flag(&call(&mut c, "mg k c\r\n"), 'c');
    assert_eq!(call(&mut c, &format!("ms k 3 C{cas}\r\nnew\r\n")), "HD\r\n");
    assert_eq!(call(&mut c, "mg k v\r\n"), "VA 3\r\nnew\r\n");
}

#[test]
fn ms_modes_compare_and_returns() {
    let s = server();
    let mut c = s.connect();
    assert_eq!(call(&mut c, "ms k 2 ME\r\nab\r\n"), "HD\r\n");
    assert_eq!(
        call(&mut c, "ms k 2 ME k O9 c\r\nab\r\n"),
        "NS kk O9 c0\r\n"
    );
    assert_eq!(call(&mut c, "ms k 2 MA s\r\ncd\r\n"), "HD s4\r\n");
    assert_eq!(call(&mut c, "ms k 2 MP\r\nxy\r\n"), "HD\r\n");
    assert_eq!(call(&mut c, "mg k v\r\n"), "VA 6\r\nxyabcd\r\n");
    assert_eq!(call(&mut c, "ms none 1 MR\r\nv\r\n"), "NS\r\n");
    assert_eq!(call(&mut c, "ms none 1 MA\r\nv\r\n"), "NS\r\n");
    // N lets append create a missing item (memcached 1.6.20+).
    assert_eq!(call(&mut c, "ms viv 1 MA N30 F3\r\nv\r\n"), "HD\r\n");
    let r = call(&mut c, "mg viv v f t\r\n");
    assert!(r.starts_with("VA 1 f3 t"), "{r}");
    // C: set and replace compare; a missing key is NF.
    let cas = flag(&call(&mut c, "ms k 1 c\r\nz\r\n"), 'c');
    assert_eq!(
        call(&mut c, &format!("ms k 1 C{} c\r\nz\r\n", cas + 1)),
        "EX c0\r\n"
    );
    let new = flag(&call(&mut c, &format!("ms k 1 C{cas} c\r\ny\r\n")), 'c');
    assert!(new > cas);
    assert_eq!(call(&mut c, "ms none 1 C5 q\r\nv\r\n"), "NF\r\n");
    assert_eq!(call(&mut c, "ms k 1 MP C1\r\nx\r\n"), "EX\r\n");
    // E sets the CAS; F and T are the flags and TTL.
    assert_eq!(call(&mut c, "ms e 1 E777 c F9 T50\r\nv\r\n"), "HD c777\r\n");
    let r = call(&mut c, "mg e c f t\r\n");
    assert!(r.starts_with("HD c777 f9 t"), "{r}");
    // q hides HD only.
    assert_eq!(call(&mut c, "ms k 1 q\r\nv\r\nmn\r\n"), "MN\r\n");
    assert_eq!(call(&mut c, "ms k 1 ME q\r\nv\r\n"), "NS\r\n");
}

#[test]
fn ms_errors_are_sent_and_discard_the_data() {
    let s = Server::ferrocache(&["-I", "1k"]);
    let mut c = s.connect();
    assert_eq!(
        call(&mut c, "ms k 2 zz\r\nhi\r\nmn\r\n"),
        "CLIENT_ERROR invalid flag\r\nMN\r\n"
    );
    assert_eq!(
        call(&mut c, "ms k 2 MZ q\r\nhi\r\nmn\r\n"),
        "CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n"
    );
    assert_eq!(
        call(&mut c, "ms k 2 q\r\nhiX\r\nmn\r\n"),
        "CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n"
    );
    assert_eq!(
        call(
            &mut c,
            "ms k 2 O123456789012345678901234567890123\r\nhi\r\nmn\r\n"
        ),
        "CLIENT_ERROR opaque token too long\r\nMN\r\n"
    );
    let long = "a".repeat(251);
    assert_eq!(
        call(&mut c, &format!("ms {long} 2\r\nhi\r\nmn\r\n")),
        "CLIENT_ERROR bad command line format\r\nMN\r\n"
    );
    // Too large: refused, the block discarded as it arrives, and the old
    // value gone whatever the mode (memcached's ms).
    call(&mut c, "ms big 1\r\nv\r\n");
    let block = "x".repeat(4000);
    assert_eq!(
        call(&mut c, &format!("ms big 4000 MR q\r\n{block}\r\nmn\r\n")),
        "SERVER_ERROR object too large for cache\r\nMN\r\n"
    );
    assert_eq!(call(&mut c, "mg big v\r\n"), "EN\r\n");
    // The length itself: no block to discard.
    assert_eq!(
        call(&mut c, "ms k x\r\nmn\r\n"),
        "CLIENT_ERROR bad command line format\r\nMN\r\n"
    );
}

#[test]
fn md_deletes_invalidates_and_empties() {
    let s = server();
    let mut c = s.connect();
    call(&mut c, "ms k 2\r\nhi\r\n");
    assert_eq!(call(&mut c, "md k k O7\r\n"), "HD kk O7\r\n");
    assert_eq!(call(&mut c, "md k k O7\r\n"), "NF kk O7\r\n");
    // q hides HD, not NF.
    assert_eq!(call(&mut c, "md k q\r\n"), "NF\r\n");
    call(&mut c, "ms k 2\r\nhi\r\n");
    assert_eq!(call(&mut c, "md k q\r\nmn\r\n"), "MN\r\n");
    let cas = flag(&call(&mut c, "ms k 2 c\r\nhi\r\n"), 'c');
    assert_eq!(call(&mut c, &format!("md k C{}\r\n", cas + 1)), "EX\r\n");
    // C0 compares too (no item has CAS 0), as in memcached.
    assert_eq!(call(&mut c, "md k C0\r\n"), "EX\r\n");
    // x keeps the item with an empty value, its flags F, its CAS.
    assert_eq!(call(&mut c, "md k x F4\r\n"), "HD\r\n");
    assert_eq!(
        call(&mut c, "mg k v f c\r\n"),
        format!("VA 0 f4 c{cas}\r\n\r\n")
    );
    // I marks it stale with a new CAS (or the one E gives).
    assert_eq!(call(&mut c, "md k I E99\r\n"), "HD\r\n");
    assert_eq!(call(&mut c, "mg k c\r\n"), "HD c99 X W\r\n");
    // md words every flag error alike, as memcached does.
    assert_eq!(
        call(&mut c, "md k zz\r\n"),
        "CLIENT_ERROR invalid or duplicate flag\r\n"
    );
}

#[test]
fn ma_counts_creates_and_compares() {
    let s = server();
    let mut c = s.connect();
    assert_eq!(call(&mut c, "ma n\r\n"), "NF\r\n");
    assert_eq!(call(&mut c, "ma n q\r\n"), "NF\r\n");
    assert_eq!(call(&mut c, "ma n N0 J10 v\r\n"), "VA 2\r\n10\r\n");
    assert_eq!(call(&mut c, "ma n v\r\n"), "VA 2\r\n11\r\n");
    assert_eq!(call(&mut c, "ma n D9 v\r\n"), "VA 2\r\n20\r\n");
    assert_eq!(call(&mut c, "ma n MD D25 v\r\n"), "VA 1\r\n0\r\n");
    assert_eq!(call(&mut c, "ma n M- v k O1\r\n"), "VA 1 kn O1\r\n0\r\n");
    assert_eq!(
        call(&mut c, "ma n M+ D18446744073709551615 v\r\n"),
        "VA 20\r\n18446744073709551615\r\n"
    );
    let r = call(&mut c, "ma n v c t T60\r\n");
    let cas = flag(&r, 'c');
    assert!(
        r.starts_with(&format!("VA 1 c{cas} t-1\r\n")),
        "t before T: {r}"
    );
    let t = flag(&call(&mut c, "ma n T90 t\r\n"), 't');
    assert!((88..=90).contains(&t), "{t}");
    assert_eq!(
        call(&mut c, &format!("ma n C{} q\r\n", cas + 100)),
        "EX\r\n"
    );
    assert_eq!(call(&mut c, "ma n E500 c\r\n"), "HD c500\r\n");
    // q hides the value too; errors still come.
    assert_eq!(call(&mut c, "ma n q v\r\nmn\r\n"), "MN\r\n");
    call(&mut c, "ms s 3\r\nabc\r\n");
    assert_eq!(
        call(&mut c, "ma s q\r\n"),
        "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
    );
    assert_eq!(
        call(&mut c, "ma n zz\r\n"),
        "CLIENT_ERROR invalid or duplicate flag\r\n"
    );
    assert_eq!(
        call(&mut c, "ma n MX\r\n"),
        "CLIENT_ERROR invalid mode for ma M token\r\n"
    );
    // A long opaque is found after counting, as memcached finds it.
    assert_eq!(
        call(&mut c, "ma n O123456789012345678901234567890123\r\n"),
        "CLIENT_ERROR opaque token too long\r\n"
    );
    // (The counter shrank in place from 20 digits: memcached pads it.)
    assert_eq!(
        call(&mut c, "mg n v\r\n"),
        format!("VA 20\r\n4{}\r\n", " ".repeat(19))
    );
}

#[test]
fn me_reports_an_items_metadata() {
    let s = server();
    let mut c = s.connect();
    assert_eq!(call(&mut c, "me none\r\n"), "EN\r\n");
    let cas = flag(&call(&mut c, "ms foo 2 c\r\nhi\r\n"), 'c');
    // memcached's ITEM_ntotal for this item (64 bytes) and its class.
    assert_eq!(
        call(&mut c, "me foo\r\n"),
        format!("ME foo exp=-1 la=0 cas={cas} fetch=no cls=1 size=64\r\n")
    );
    call(&mut c, "mg foo T100\r\n");
    let me = call(&mut c, "me foo\r\n");
    assert!(me.contains(" exp=100 ") || me.contains(" exp=99 "), "{me}");
    assert!(me.contains(" fetch=yes "), "{me}");
    assert_eq!(
        call(&mut c, "me\r\n"),
        "CLIENT_ERROR bad command line format\r\n"
    );
}

#[test]
fn base64_keys_round_trip_binary_bytes() {
    let s = server();
    let mut c = s.connect();
    // "\0\n \xff": a key no text command could carry.
    assert_eq!(
        call(&mut c, "ms AAog/w== 3 b k\r\nbin\r\n"),
        "HD kAAog/w== b\r\n"
    );
    assert_eq!(
        call(&mut c, "mg AAog/w== b k v s\r\n"),
        "VA 3 kAAog/w== b s3\r\nbin\r\n"
    );
    let me = call(&mut c, "me AAog/w== b\r\n");
    assert!(me.starts_with("ME AAog/w== exp=-1 "), "{me}");
    // A printable key stored with b is still shown encoded.
    call(&mut c, "ms YWJj 1 b\r\nv\r\n");
    assert_eq!(call(&mut c, "mg abc k v\r\n"), "VA 1 kYWJj b\r\nv\r\n");
    assert_eq!(call(&mut c, "get abc\r\n"), "VALUE abc 0 1\r\nv\r\nEND\r\n");
    // One stored by a classic set is shown as it is, b or not.
    call(&mut c, "set plain 0 0 1\r\nx\r\n");
    assert_eq!(
        call(&mut c, "mg cGxhaW4= b k v\r\n"),
        "VA 1 kplain\r\nx\r\n"
    );
    assert_eq!(call(&mut c, "md cGxhaW4= b k\r\n"), "HD kcGxhaW4= b\r\n");
    assert_eq!(call(&mut c, "mg cGxhaW4= b k q\r\nmn\r\n"), "MN\r\n");
    // The 250 limit applies to the key as written.
    let key = "A".repeat(248);
    assert_eq!(call(&mut c, &format!("ms {key} 1 b\r\nv\r\n")), "HD\r\n");
    let key = "A".repeat(252);
    assert_eq!(
        call(&mut c, &format!("mg {key} b\r\n")),
        "CLIENT_ERROR bad command line format\r\n"
    );
    assert_eq!(
        call(&mut c, "mg YWJ b\r\n"),
        "CLIENT_ERROR error decoding key\r\n"
    );
}

#[test]
fn a_quiet_pipeline_ended_by_mn_is_answered_at_once() {
    let s = server();
    let mut c = s.connect();
    call(&mut c, "ms hit1 1\r\na\r\nms hit2 1\r\nb\r\n");
    let mut batch = String::new();
    for i in 0..50 {
        batch.push_str(&format!("mg miss{i} v q\r\n"));
        batch.push_str(&format!("ms set{i} 1 q\r\nx\r\n"));
        batch.push_str(&format!("md none{i} q\r\n"));
    }
    batch.push_str("mg hit1 v q k\r\nmg hit2 v q k\r\nmn\r\n");
    c.send(batch.as_bytes());
    // q hides EN and HD, not md's NF.
    let mut want = "NF\r\n".repeat(50);
    want.push_str("VA 1 khit1\r\na\r\nVA 1 khit2\r\nb\r\nMN\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"MN\r\n") {
        let n = c.stream.read(&mut buf).expect("read");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

#[test]
fn meta_and_classic_commands_share_keys() {
    let s = server();
    let mut c = s.connect();
    assert_eq!(call(&mut c, "set k 7 0 2\r\nhi\r\n"), "STORED\r\n");
    assert_eq!(call(&mut c, "mg k v f\r\n"), "VA 2 f7\r\nhi\r\n");
    let cas = flag(&call(&mut c, "ms k 3 F9 c\r\nnew\r\n"), 'c');
    assert_eq!(
        call(&mut c, "gets k\r\n"),
        format!("VALUE k 9 3 {cas}\r\nnew\r\nEND\r\n")
    );
    assert_eq!(
        call(&mut c, &format!("cas k 0 0 1 {cas}\r\nc\r\n")),
        "STORED\r\n"
    );
    call(&mut c, "set n 0 0 1\r\n5\r\n");
    assert_eq!(call(&mut c, "ma n D5 v\r\n"), "VA 2\r\n10\r\n");
    assert_eq!(call(&mut c, "incr n 1\r\n"), "11\r\n");
    assert_eq!(call(&mut c, "md n\r\n"), "HD\r\n");
    assert_eq!(call(&mut c, "get n\r\n"), "END\r\n");
    assert_eq!(call(&mut c, "ma n N0 J3\r\n"), "HD\r\n");
    assert_eq!(call(&mut c, "get n\r\n"), "VALUE n 0 1\r\n3\r\nEND\r\n");
    assert_eq!(call(&mut c, "delete n\r\n"), "DELETED\r\n");
    // A touch through mg is seen by me and by gat.
    call(&mut c, "mg k T100\r\n");
    assert!(flag(&call(&mut c, "mg k t\r\n"), 't') >= 99);
    assert_eq!(call(&mut c, "gat 0 k\r\n"), "VALUE k 0 1\r\nc\r\nEND\r\n");
    assert_eq!(call(&mut c, "mg k t\r\n"), "HD t-1\r\n");
}

#[test]
fn a_binary_client_reads_what_ms_wrote() {
    let s = server();
    let mut c = s.connect();
    assert_eq!(call(&mut c, "ms bk 5 F77\r\nhello\r\n"), "HD\r\n");
    let cas = flag(&call(&mut c, "mg bk c\r\n"), 'c');
    // A binary GETK on its own connection.
    let mut b = s.connect();
    let key = b"bk";
    let mut packet = vec![0x80u8, 0x0c];
    packet.extend_from_slice(&(key.len() as u16).to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0]); // extras, datatype, vbucket
    packet.extend_from_slice(&(key.len() as u32).to_be_bytes());
    packet.extend_from_slice(&0xabcd_u32.to_be_bytes()); // opaque
    packet.extend_from_slice(&0u64.to_be_bytes()); // cas
    packet.extend_from_slice(key);
    b.stream.write_all(&packet).unwrap();
    let mut header = [0u8; 24];
    b.stream.read_exact(&mut header).unwrap();
    assert_eq!(header[0], 0x81, "response magic");
    assert_eq!(header[1], 0x0c, "GETK");
    assert_eq!(u16::from_be_bytes([header[6], header[7]]), 0, "status");
    assert_eq!(
        u32::from_be_bytes(header[12..16].try_into().unwrap()),
        0xabcd
    );
    assert_eq!(u64::from_be_bytes(header[16..24].try_into().unwrap()), cas);
    let body_len = u32::from_be_bytes(header[8..12].try_into().unwrap()) as usize;
    let mut body = vec![0u8; body_len];
    b.stream.read_exact(&mut body).unwrap();
    assert_eq!(header[4], 4, "flags in the extras");
    assert_eq!(u32::from_be_bytes(body[..4].try_into().unwrap()), 77);
    assert_eq!(&body[4..6], key);
    assert_eq!(&body[6..], b"hello");
}

#[test]
fn errors_are_returned_even_under_q() {
    let s = server();
    let mut c = s.connect();
    for (request, reply) in [
        ("mg k q zz\r\n", "CLIENT_ERROR invalid flag\r\n"),
        ("mg k q q\r\n", "CLIENT_ERROR duplicate flag\r\n"),
        (
            "md k q Tx\r\n",
            "CLIENT_ERROR invalid or duplicate flag\r\n",
        ),
        (
            "mg k q O123456789012345678901234567890123\r\n",
            "CLIENT_ERROR opaque token too long\r\n",
        ),
        ("mg k q b\r\n", "CLIENT_ERROR error decoding key\r\n"),
    ] {
        assert_eq!(call(&mut c, request), reply, "{request:?}");
    }
}

#[test]
fn mn_answers_mn() {
    let s = server();
    let mut c = s.connect();
    assert_eq!(call(&mut c, "mn\r\n"), "MN\r\n");
    assert_eq!(call(&mut c, "mn with tokens\r\n"), "MN\r\n");
    assert_eq!(call(&mut c, "mnx\r\n"), "ERROR\r\n");
}

#[test]
fn cas_disabled_ignores_e() {
    let s = Server::ferrocache(&["-C"]);
    let mut c = s.connect();
    assert_eq!(call(&mut c, "ms k 1 E5 c\r\nv\r\n"), "HD c0\r\n");
    assert_eq!(call(&mut c, "mg k c\r\n"), "HD c0\r\n");
}

//! Unit tests of what meta and binary clients rely on: reads that report
//! an item's metadata, win tokens (created on a miss, due for recache, or
//! stale), deletes that compare, invalidate or empty, stores with an
//! explicit or an older CAS, and counters created on a miss that report
//! their new CAS.

use super::testing::*;
use super::*;
use std::sync::{Arc, Barrier};

/// A hit's value, flags, CAS and metadata.
type Hit = (Vec<u8>, u32, u64, ReadMeta);

fn read(s: &Store, key: &[u8], options: &ReadOptions) -> Option<Hit> {
    let mut out = None;
    s.read(key, options, |i, meta| {
        out = Some((i.value.to_vec(), i.flags, i.cas, meta))
    });
    out
}

/// The metadata of a hit (panics on a miss).
fn meta(s: &Store, key: &[u8], options: &ReadOptions) -> ReadMeta {
    read(s, key, options).expect("a hit").3
}

fn plain() -> ReadOptions {
    ReadOptions::default()
}

fn stored(outcome: (StoreOutcome, u64)) -> u64 {
    assert_eq!(outcome.0, StoreOutcome::Stored);
    outcome.1
}

fn counted(outcome: DeltaOutcome) -> Counted {
    match outcome {
        DeltaOutcome::Value(counted) => counted,
        other => panic!("not counted: {other:?}"),
    }
}

/// Whether `key`'s item is the least recently used of its class.
fn is_lru_tail(s: &Store, key: &[u8]) -> bool {
    let hash = s.hash(key);
    let stripe = lock(s.stripe(hash));
    let h = s.find(&stripe, hash, key).expect("key is stored");
    // SAFETY: the stripe lock is held.
    let hdr = unsafe { item::read(&s.pages, h) };
    let tail = s.class(hdr.class).tail;
    tail == h
}

#[test]
fn vivify_on_miss_lets_exactly_one_reader_win() {
    let s = Arc::new(store());
    let readers = 6;
    for round in 0..20 {
        let key = format!("k{round}");
        let barrier = Arc::new(Barrier::new(readers));
        let threads: Vec<_> = (0..readers)
            .map(|_| {
                let (s, barrier, key) = (s.clone(), barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    let options = ReadOptions {
                        vivify: Some(30),
                        ..plain()
                    };
                    barrier.wait();
                    let mut hit = None;
                    let found = s.read(key.as_bytes(), &options, |i, meta| {
                        hit = Some((i.value.len(), meta))
                    });
                    (found, hit.expect("every reader gets the item"))
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<_> = results
            .iter()
            .filter(|(_, (_, m))| m.token == Token::Won)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: one winner");
        let (found, (len, m)) = winners[0];
        assert_eq!(*found, Lookup::Miss, "the winner missed");
        assert!(m.created && *len == 0 && m.ttl == 30 && !m.stale);
        for (found, (len, m)) in results.iter().filter(|(_, (_, m))| m.token != Token::Won) {
            assert_eq!(*found, Lookup::Hit, "the others found its item");
            assert_eq!((m.token, m.created, *len), (Token::AlreadySent, false, 0));
        }
    }
    // Later readers are told the token is taken until the item is replaced.
    assert_eq!(meta(&s, b"k0", &plain()).token, Token::AlreadySent);
    set(&s, b"k0", b"computed");
    let (value, _, _, m) = read(&s, b"k0", &plain()).unwrap();
    assert_eq!((value, m.token), (b"computed".to_vec(), Token::NotSent));
    assert_eq!(s.stats().curr_items, 20);
}

#[test]
fn vivify_reports_what_the_lookup_found_and_takes_an_explicit_cas() {
    let s = store();
    s.store(StoreMode::Set, b"k", 0, 5, b"old", 0);
    s.clock().advance(5);
    let options = ReadOptions {
        vivify: Some(30),
        new_cas: Some(4242),
        touch: Some(60),
        ..plain()
    };
    let mut hit = None;
    let found = s.read(b"k", &options, |i, m| hit = Some((i.cas, m)));
    assert_eq!(found, Lookup::Expired, "the lookup found it expired");
    let (cas, m) = hit.unwrap();
    assert_eq!((cas, m.created, m.token), (4242, true, Token::Won));
    assert_eq!(m.ttl, 60, "the touch applies to the created item");
    // Without `vivify` a miss is a miss.
    assert_eq!(
        s.read(b"none", &plain(), |_, _| panic!("no item")),
        Lookup::Miss
    );
}

#[test]
fn vivify_without_memory_is_a_plain_miss() {
    let s = store_with(2 << 20, false);
    let mut i = 0;
    while set(&s, format!("{i:08}").as_bytes(), b"") == StoreOutcome::Stored {
        i += 1;
    }
    let options = ReadOptions {
        vivify: Some(30),
        ..plain()
    };
    let found = s.read(b"new-key!", &options, |_, _| panic!("no memory"));
    assert_eq!(found, Lookup::Miss);
}

#[test]
fn recache_win_goes_to_the_first_reader_below_the_threshold() {
    let s = store();
    s.store(StoreMode::Set, b"k", 0, 100, b"v", 0);
    set(&s, b"forever", b"v");
    let r30 = ReadOptions {
        recache: Some(30),
        ..plain()
    };
    assert_eq!(meta(&s, b"k", &r30).token, Token::NotSent, "100 s left");
    s.clock().advance(70);
    assert_eq!(meta(&s, b"k", &r30).token, Token::NotSent, "30 s left");
    s.clock().advance(1);
    let first = meta(&s, b"k", &r30);
    assert_eq!((first.token, first.ttl), (Token::Won, 29));
    assert_eq!(meta(&s, b"k", &r30).token, Token::AlreadySent);
    assert_eq!(
        meta(&s, b"k", &plain()).token,
        Token::AlreadySent,
        "every meta reader is told the token is out"
    );
    assert_eq!(
        meta(&s, b"forever", &r30).token,
        Token::NotSent,
        "an item that never expires is never due"
    );
    // The winner's new value clears the token.
    s.store(StoreMode::Set, b"k", 0, 100, b"v2", 0);
    assert_eq!(meta(&s, b"k", &r30).token, Token::NotSent);
}

#[test]
fn invalidated_item_reads_stale_and_one_reader_wins() {
    let s = store();
    let c1 = stored(s.store(StoreMode::Set, b"k", 5, 0, b"v", 0));
    let invalidate = DeleteOptions {
        invalidate: true,
        ttl: Some(30),
        ..DeleteOptions::default()
    };
    let DeleteOutcome::Kept { cas: c2, .. } = s.delete_with(b"k", &invalidate) else {
        panic!("invalidation keeps the item");
    };
    assert!(c2 > c1, "invalidation gives a new CAS");
    // A plain get still serves the value, and takes no token.
    assert_eq!(get(&s, b"k").unwrap(), (b"v".to_vec(), 5, c2));
    let first = meta(&s, b"k", &plain());
    assert!(first.stale);
    assert_eq!((first.token, first.ttl), (Token::Won, 30));
    let second = meta(&s, b"k", &plain());
    assert!(second.stale);
    assert_eq!(second.token, Token::AlreadySent);
    // The winner stores the recomputed value: fresh again.
    set(&s, b"k", b"new");
    let m = meta(&s, b"k", &plain());
    assert!(!m.stale);
    assert_eq!(m.token, Token::NotSent);
}

#[test]
fn invalidation_withdraws_a_token_already_sent() {
    let s = store();
    s.store(StoreMode::Set, b"k", 0, 10, b"v", 0);
    let r30 = ReadOptions {
        recache: Some(30),
        ..plain()
    };
    assert_eq!(meta(&s, b"k", &r30).token, Token::Won);
    assert_eq!(meta(&s, b"k", &r30).token, Token::AlreadySent);
    let invalidate = DeleteOptions {
        invalidate: true,
        ..DeleteOptions::default()
    };
    assert!(matches!(
        s.delete_with(b"k", &invalidate),
        DeleteOutcome::Kept { .. }
    ));
    let m = meta(&s, b"k", &plain());
    assert!(m.stale);
    assert_eq!(m.token, Token::Won, "the next reader wins again");
    assert_eq!(m.ttl, 10, "no new TTL was given");
}

#[test]
fn a_zero_cas_compares_only_when_asked() {
    let zero = DeleteOptions {
        compare_zero: true,
        ..DeleteOptions::default()
    };
    let s = store();
    s.store(StoreMode::Set, b"k", 0, 0, b"v", 0);
    assert_eq!(s.delete_with(b"k", &zero), DeleteOutcome::Exists, "md C0");
    assert_eq!(
        s.delete_with(b"k", &DeleteOptions::default()),
        DeleteOutcome::Deleted { class: 1 }
    );
    // Under -C every item's CAS reads 0: md C0 matches.
    let no_cas = Store::new(StoreConfig {
        use_cas: false,
        ..StoreConfig::default()
    });
    no_cas.store(StoreMode::Set, b"k", 0, 0, b"v", 0);
    assert_eq!(
        no_cas.delete_with(b"k", &zero),
        DeleteOutcome::Deleted { class: 1 }
    );
}

#[test]
fn delete_compares_cas() {
    let s = store();
    let c = stored(s.store(StoreMode::Set, b"k", 0, 0, b"v", 0));
    let with_cas = |cas| DeleteOptions {
        cas,
        ..DeleteOptions::default()
    };
    assert_eq!(s.delete_with(b"k", &with_cas(c + 1)), DeleteOutcome::Exists);
    assert!(get(&s, b"k").is_some(), "a mismatch changes nothing");
    let invalidate = DeleteOptions {
        invalidate: true,
        ..with_cas(c + 1)
    };
    assert_eq!(s.delete_with(b"k", &invalidate), DeleteOutcome::Exists);
    assert!(!meta(&s, b"k", &plain()).stale);
    assert_eq!(
        s.delete_with(b"k", &with_cas(c)),
        DeleteOutcome::Deleted { class: 1 }
    );
    assert!(get(&s, b"k").is_none());
    assert_eq!(
        s.delete_with(b"k", &with_cas(c)),
        DeleteOutcome::Missing(Lookup::Miss)
    );
    set(&s, b"k", b"v");
    assert_eq!(
        s.delete_with(b"k", &with_cas(0)),
        DeleteOutcome::Deleted { class: 1 },
        "0 compares nothing"
    );
}

#[test]
fn delete_can_empty_the_value_and_keep_the_item() {
    let s = store();
    let c = stored(s.store(StoreMode::Set, b"k", 7, 100, b"value", 0));
    let empty = DeleteOptions {
        empty: true,
        ..DeleteOptions::default()
    };
    assert_eq!(
        s.delete_with(b"k", &empty),
        DeleteOutcome::Kept { cas: c, class: 1 }
    );
    let (value, flags, cas, m) = read(&s, b"k", &plain()).unwrap();
    assert_eq!(
        (value.len(), flags, cas),
        (0, 0, c),
        "as memcached: CAS kept"
    );
    assert_eq!(m.ttl, -1, "as memcached: no TTL unless one is given");
    assert_eq!(s.stats().curr_items, 1);
    let again = DeleteOptions {
        ttl: Some(40),
        flags: 3,
        ..empty
    };
    s.delete_with(b"k", &again);
    let (_, flags, _, m) = read(&s, b"k", &plain()).unwrap();
    assert_eq!((flags, m.ttl), (3, 40));
    // Emptied and invalidated at once: stale, with a new CAS.
    let both = DeleteOptions {
        invalidate: true,
        ..empty
    };
    let DeleteOutcome::Kept { cas: after, .. } = s.delete_with(b"k", &both) else {
        panic!("kept");
    };
    assert!(after > c);
    let (value, _, cas, m) = read(&s, b"k", &plain()).unwrap();
    assert!(value.is_empty() && m.stale && cas == after);
}

#[test]
fn no_bump_read_leaves_last_access_and_fetched_alone() {
    let s = store();
    set(&s, b"a", b"1");
    set(&s, b"b", b"2");
    s.clock().advance(100);
    let no_bump = ReadOptions {
        no_bump: true,
        ..plain()
    };
    for _ in 0..2 {
        let m = meta(&s, b"a", &no_bump);
        assert_eq!((m.last_access, m.fetched), (100, false));
        assert!(is_lru_tail(&s, b"a"), "the read left the LRU as it was");
    }
    let m = meta(&s, b"a", &plain());
    assert_eq!(
        (m.last_access, m.fetched),
        (100, false),
        "as before the read"
    );
    let m = meta(&s, b"a", &no_bump);
    assert_eq!(
        (m.last_access, m.fetched),
        (0, true),
        "the plain read bumped"
    );
    assert!(is_lru_tail(&s, b"b"));
}

#[test]
fn ttl_and_last_access_reported_before_this_read() {
    let s = store();
    s.store(StoreMode::Set, b"k", 0, 100, b"v", 0);
    s.clock().advance(61);
    let m = meta(&s, b"k", &plain());
    assert_eq!((m.ttl, m.last_access, m.fetched), (39, 61, false));
    let m = meta(&s, b"k", &plain());
    assert_eq!((m.ttl, m.last_access, m.fetched), (39, 0, true));
    // Reads refresh the access time at most once a minute, as memcached's.
    s.clock().advance(30);
    assert_eq!(meta(&s, b"k", &plain()).last_access, 30);
    assert_eq!(meta(&s, b"k", &plain()).last_access, 30);
    // A touch applies first: the TTL reported is the new one.
    let touch = |t| ReadOptions {
        touch: Some(t),
        ..plain()
    };
    assert_eq!(meta(&s, b"k", &touch(500)).ttl, 500);
    assert_eq!(meta(&s, b"k", &plain()).ttl, 500);
    assert_eq!(meta(&s, b"k", &touch(0)).ttl, -1);
}

#[test]
fn plain_get_neither_hands_out_nor_consumes_tokens() {
    let s = store();
    set(&s, b"k", b"v");
    let invalidate = DeleteOptions {
        invalidate: true,
        ..DeleteOptions::default()
    };
    s.delete_with(b"k", &invalidate);
    for _ in 0..3 {
        assert!(get(&s, b"k").is_some());
    }
    assert_eq!(s.touch(b"k", 100), Lookup::Hit);
    assert_eq!(meta(&s, b"k", &plain()).token, Token::Won);
}

/// flush_all invalidates by CAS (everything below the counter), and an
/// explicit CAS above the counter used to survive it; the counter now moves
/// past every explicit CAS.
#[test]
fn regression_an_explicit_cas_above_the_counter_is_flushed_too() {
    let s = store();
    let e = StoreOptions {
        new_cas: Some(1_000_000),
        ..StoreOptions::default()
    };
    s.store_with(StoreMode::Set, b"k", 0, 0, b"v", &e);
    s.flush_all(0);
    assert!(get(&s, b"k").is_none());
}

#[test]
fn store_with_explicit_cas_sets_what_the_client_asked() {
    let s = store();
    let e = StoreOptions {
        new_cas: Some(1_000_000),
        ..StoreOptions::default()
    };
    assert_eq!(
        s.store_with(StoreMode::Set, b"k", 0, 0, b"v", &e),
        (StoreOutcome::Stored, 1_000_000)
    );
    assert_eq!(get(&s, b"k").unwrap().2, 1_000_000);
    let compare = |cas| StoreOptions {
        cas,
        ..StoreOptions::default()
    };
    assert_eq!(
        s.store_with(StoreMode::Cas, b"k", 0, 0, b"x", &compare(999_999))
            .0,
        StoreOutcome::Exists
    );
    let next = stored(s.store_with(StoreMode::Cas, b"k", 0, 0, b"x", &compare(1_000_000)));
    assert!(
        next > 1_000_000,
        "without E the counter's next value, past E's"
    );
    // Append and prepend, too, take an explicit CAS.
    let appended = s.store_with(StoreMode::Append, b"k", 0, 0, b"y", &e);
    assert_eq!(appended, (StoreOutcome::Stored, 1_000_000));
    // Under -C there is no CAS to set.
    let no_cas = Store::new(StoreConfig {
        use_cas: false,
        ..config(64 << 20, true)
    });
    assert_eq!(
        no_cas.store_with(StoreMode::Set, b"k", 0, 0, b"v", &e),
        (StoreOutcome::Stored, 0)
    );
    no_cas.flush_all(0);
    assert!(get(&no_cas, b"k").is_none(), "flush_all still reaches it");
}

#[test]
fn stale_set_with_an_older_cas_stores_but_marks_stale() {
    let s = store();
    let c1 = stored(s.store(StoreMode::Set, b"k", 0, 100, b"v1", 0));
    let c2 = stored(s.store(StoreMode::Set, b"k", 0, 100, b"v2", 0));
    let r = ReadOptions {
        recache: Some(1000),
        ..plain()
    };
    assert_eq!(meta(&s, b"k", &r).token, Token::Won, "a token is out");
    let older = StoreOptions {
        cas: c1,
        invalidate: true,
        ..StoreOptions::default()
    };
    let c3 = stored(s.store_with(StoreMode::Cas, b"k", 0, 500, b"late", &older));
    assert!(c3 > c2);
    let (value, _, cas, m) = read(&s, b"k", &plain()).unwrap();
    assert_eq!((value, cas), (b"late".to_vec(), c3));
    assert!(m.stale);
    assert_eq!(m.token, Token::AlreadySent, "the token carries over");
    assert_eq!(m.ttl, 100, "the old item's TTL carries over");
    // Without `invalidate` an older CAS is refused; with it, a newer one is.
    let plain_older = StoreOptions {
        invalidate: false,
        ..older
    };
    let newer = StoreOptions {
        cas: c3 + 10,
        ..older
    };
    let none = StoreOptions { cas: 0, ..older };
    for options in [plain_older, newer, none] {
        assert_eq!(
            s.store_with(StoreMode::Cas, b"k", 0, 0, b"x", &options).0,
            StoreOutcome::Exists,
            "{options:?}"
        );
    }
    // The matching CAS stores a fresh value.
    let current = StoreOptions { cas: c3, ..older };
    stored(s.store_with(StoreMode::Cas, b"k", 0, 0, b"fresh", &current));
    let m = meta(&s, b"k", &plain());
    assert!(!m.stale);
    assert_eq!((m.token, m.ttl), (Token::NotSent, -1));
}

#[test]
fn append_vivifies_a_missing_item_and_compares_cas() {
    let s = store();
    assert_eq!(
        s.store_with(
            StoreMode::Append,
            b"k",
            9,
            0,
            b"abc",
            &StoreOptions::default()
        )
        .0,
        StoreOutcome::NotStored
    );
    let vivify = StoreOptions {
        vivify: Some(60),
        ..StoreOptions::default()
    };
    let c1 = stored(s.store_with(StoreMode::Append, b"k", 9, 0, b"abc", &vivify));
    let (value, flags, cas, m) = read(&s, b"k", &plain()).unwrap();
    assert_eq!((value, flags, cas, m.ttl), (b"abc".to_vec(), 9, c1, 60));
    let c2 = stored(s.store_with(StoreMode::Prepend, b"k", 1, 0, b">", &vivify));
    assert_eq!(get(&s, b"k").unwrap(), (b">abc".to_vec(), 9, c2));
    let compare = |cas| StoreOptions {
        cas,
        ..StoreOptions::default()
    };
    assert_eq!(
        s.store_with(StoreMode::Append, b"k", 0, 0, b"!", &compare(c1))
            .0,
        StoreOutcome::Exists
    );
    stored(s.store_with(StoreMode::Append, b"k", 0, 0, b"!", &compare(c2)));
    assert_eq!(get(&s, b"k").unwrap().0, b">abc!");
}

#[test]
fn delta_creates_with_initial_value_and_returns_the_new_cas() {
    let s = store();
    let create = DeltaOptions {
        vivify: Some(0),
        initial: 10,
        ..DeltaOptions::default()
    };
    let c = counted(s.delta_with(b"n", DeltaOp::Incr, 5, &create));
    assert_eq!((c.value, c.created, c.ttl), (10, true, -1));
    assert_eq!(get(&s, b"n").unwrap(), (b"10".to_vec(), 0, c.cas));
    let d = counted(s.delta_with(b"n", DeltaOp::Incr, 5, &create));
    assert_eq!((d.value, d.created), (15, false));
    assert!(d.cas > c.cas);
    assert_eq!(
        get(&s, b"n").unwrap(),
        (b"15".to_vec(), 0, d.cas),
        "in place"
    );
    // A longer result replaces the item: the CAS is the new item's.
    set(&s, b"n", b"99");
    let e = counted(s.delta_with(b"n", DeltaOp::Incr, 1, &create));
    assert_eq!(get(&s, b"n").unwrap(), (b"100".to_vec(), 0, e.cas));
    // Binary's create with an expiry; decr returns the initial value too.
    let with_ttl = DeltaOptions {
        vivify: Some(30),
        initial: 3,
        ..DeltaOptions::default()
    };
    let m = counted(s.delta_with(b"m", DeltaOp::Decr, 1, &with_ttl));
    assert_eq!((m.value, m.ttl, m.created), (3, 30, true));
    assert_eq!(
        s.delta_with(b"x", DeltaOp::Incr, 1, &DeltaOptions::default()),
        DeltaOutcome::NotFound
    );
}

#[test]
fn delta_compares_cas_and_sets_ttl_and_explicit_cas() {
    let s = store();
    let c = stored(s.store(StoreMode::Set, b"n", 0, 0, b"100", 0));
    let compare = |cas| DeltaOptions {
        cas,
        ..DeltaOptions::default()
    };
    assert_eq!(
        s.delta_with(b"n", DeltaOp::Incr, 1, &compare(c + 1)),
        DeltaOutcome::Exists
    );
    assert_eq!(get(&s, b"n").unwrap().0, b"100", "unchanged");
    let with_ttl = DeltaOptions {
        ttl: Some(50),
        ..compare(c)
    };
    let d = counted(s.delta_with(b"n", DeltaOp::Incr, 1, &with_ttl));
    assert_eq!((d.value, d.ttl), (101, 50));
    assert_eq!(meta(&s, b"n", &plain()).ttl, 50);
    let explicit = DeltaOptions {
        new_cas: Some(7777),
        ..DeltaOptions::default()
    };
    assert_eq!(
        counted(s.delta_with(b"n", DeltaOp::Decr, 1, &explicit)).cas,
        7777
    );
    assert_eq!(get(&s, b"n").unwrap().2, 7777);
    // Also when the result outgrows the item.
    set(&s, b"n", b"9");
    assert_eq!(
        counted(s.delta_with(b"n", DeltaOp::Incr, 1, &explicit)).cas,
        7777
    );
    assert_eq!(get(&s, b"n").unwrap(), (b"10".to_vec(), 0, 7777));
    set(&s, b"n", b"abc");
    assert_eq!(
        s.delta_with(b"n", DeltaOp::Incr, 1, &DeltaOptions::default()),
        DeltaOutcome::NonNumeric
    );
}

#[test]
fn cas_rises_with_every_write_without_an_explicit_cas() {
    let s = store();
    let none = DeltaOptions::default();
    let mut seen = vec![
        stored(s.store(StoreMode::Set, b"k", 0, 0, b"1", 0)),
        stored(s.store(StoreMode::Append, b"k", 0, 0, b"0", 0)),
        counted(s.delta_with(b"k", DeltaOp::Decr, 1, &none)).cas, // in place
        counted(s.delta_with(b"k", DeltaOp::Incr, 100, &none)).cas, // longer
    ];
    let invalidate = DeleteOptions {
        invalidate: true,
        ..DeleteOptions::default()
    };
    let DeleteOutcome::Kept { cas, .. } = s.delete_with(b"k", &invalidate) else {
        panic!("kept");
    };
    seen.push(cas);
    let c = seen[seen.len() - 1];
    let stale = StoreOptions {
        cas: c - 1,
        invalidate: true,
        ..StoreOptions::default()
    };
    seen.push(stored(s.store_with(
        StoreMode::Cas,
        b"k",
        0,
        0,
        b"2",
        &stale,
    )));
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "CAS values {seen:?} rise"
    );
    assert_eq!(get(&s, b"k").unwrap().2, *seen.last().unwrap());
}

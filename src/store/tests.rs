//! Unit tests of the store's semantics, independent of any protocol.

use super::*;

fn store_with(max_bytes: usize, evictions: bool) -> Store {
    Store::new(StoreConfig {
        max_bytes,
        item_size_max: 1024 * 1024,
        use_cas: true,
        evictions,
        threads: 1,
    })
}

fn store() -> Store {
    store_with(64 << 20, true)
}

fn get(s: &Store, key: &[u8]) -> Option<(Vec<u8>, u32, u64)> {
    let mut out = None;
    s.get(key, None, |i| {
        out = Some((i.value.to_vec(), i.flags, i.cas))
    });
    out
}

fn set(s: &Store, key: &[u8], value: &[u8]) -> StoreOutcome {
    s.store(StoreMode::Set, key, 0, 0, value, 0).0
}

#[test]
fn set_get_delete() {
    let s = store();
    assert_eq!(set(&s, b"k", b"v1"), StoreOutcome::Stored);
    assert_eq!(get(&s, b"k").unwrap().0, b"v1");
    assert_eq!(s.delete(b"k"), Lookup::Hit);
    assert_eq!(s.delete(b"k"), Lookup::Miss);
    assert!(get(&s, b"k").is_none());
}

#[test]
fn add_replace_conditions() {
    let s = store();
    assert_eq!(
        s.store(StoreMode::Replace, b"k", 0, 0, b"x", 0).0,
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.store(StoreMode::Add, b"k", 5, 0, b"a", 0).0,
        StoreOutcome::Stored
    );
    assert_eq!(
        s.store(StoreMode::Add, b"k", 0, 0, b"b", 0).0,
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.store(StoreMode::Replace, b"k", 7, 0, b"c", 0).0,
        StoreOutcome::Stored
    );
    assert_eq!(
        get(&s, b"k").unwrap(),
        (b"c".to_vec(), 7, get(&s, b"k").unwrap().2)
    );
}

#[test]
fn cas_compares_and_changes() {
    let s = store();
    assert_eq!(
        s.store(StoreMode::Cas, b"k", 0, 0, b"x", 1).0,
        StoreOutcome::NotFound
    );
    let (_, c1) = s.store(StoreMode::Set, b"k", 0, 0, b"a", 0);
    assert_eq!(get(&s, b"k").unwrap().2, c1);
    assert_eq!(
        s.store(StoreMode::Cas, b"k", 0, 0, b"b", c1 + 100).0,
        StoreOutcome::Exists
    );
    let (out, c2) = s.store(StoreMode::Cas, b"k", 0, 0, b"b", c1);
    assert_eq!(out, StoreOutcome::Stored);
    assert!(c2 > c1);
    assert_eq!(
        s.store(StoreMode::Cas, b"k", 0, 0, b"c", c1).0,
        StoreOutcome::Exists
    );
}

#[test]
fn append_prepend_keep_flags() {
    let s = store();
    assert_eq!(
        s.store(StoreMode::Append, b"k", 0, 0, b"x", 0).0,
        StoreOutcome::NotStored
    );
    s.store(StoreMode::Set, b"k", 9, 0, b"mid", 0);
    s.store(StoreMode::Append, b"k", 1, 0, b"-end", 0);
    s.store(StoreMode::Prepend, b"k", 2, 0, b"start-", 0);
    let (v, f, _) = get(&s, b"k").unwrap();
    assert_eq!(v, b"start-mid-end");
    assert_eq!(f, 9);
}

#[test]
fn incr_decr_rules() {
    let s = store();
    assert_eq!(s.delta(b"n", DeltaOp::Incr, 1), Delta::NotFound);
    set(&s, b"n", b"100");
    assert_eq!(s.delta(b"n", DeltaOp::Decr, 1), Delta::Value(99));
    // Shorter result: rewritten in place, space padded, as memcached does.
    assert_eq!(get(&s, b"n").unwrap().0, b"99 ");
    assert_eq!(s.delta(b"n", DeltaOp::Decr, 1000), Delta::Value(0));
    assert_eq!(s.delta(b"n", DeltaOp::Incr, 12345), Delta::Value(12345));
    assert_eq!(get(&s, b"n").unwrap().0, b"12345");
    set(&s, b"n", b"18446744073709551615");
    assert_eq!(s.delta(b"n", DeltaOp::Incr, 2), Delta::Value(1));
    set(&s, b"n", b"12abc");
    assert_eq!(s.delta(b"n", DeltaOp::Incr, 1), Delta::NonNumeric);
    set(&s, b"n", b"");
    assert_eq!(s.delta(b"n", DeltaOp::Incr, 1), Delta::NonNumeric);
    set(&s, b"n", b"18446744073709551616");
    assert_eq!(s.delta(b"n", DeltaOp::Incr, 1), Delta::NonNumeric);
}

#[test]
fn counter_parsing_matches_strtoull() {
    assert_eq!(parse_counter(b"42"), Some(42));
    assert_eq!(parse_counter(b" 42 "), Some(42));
    assert_eq!(parse_counter(b"-1"), None);
    assert_eq!(parse_counter(b"4 2"), Some(4));
    assert_eq!(parse_counter(b"x"), None);
}

#[test]
fn expiry_and_touch() {
    let s = store();
    s.store(StoreMode::Set, b"a", 0, 10, b"1", 0);
    s.store(StoreMode::Set, b"b", 0, 10, b"1", 0);
    s.store(StoreMode::Set, b"neg", 0, -1, b"1", 0);
    assert!(get(&s, b"neg").is_none());
    assert_eq!(s.touch(b"b", 100), Lookup::Hit);
    s.clock().advance(10);
    assert_eq!(s.get(b"a", None, |_| {}), Lookup::Expired);
    assert!(get(&s, b"b").is_some());
    assert_eq!(s.touch(b"zz", 1), Lookup::Miss);
}

#[test]
fn flush_all_now_and_delayed() {
    let s = store();
    set(&s, b"a", b"1");
    s.flush_all(0);
    assert_eq!(s.get(b"a", None, |_| {}), Lookup::Flushed);
    set(&s, b"b", b"1");
    assert!(get(&s, b"b").is_some(), "items stored after a flush live");
    s.flush_all(2);
    s.tick();
    assert!(get(&s, b"b").is_some(), "a delayed flush waits");
    s.clock().advance(2);
    s.tick();
    assert_eq!(s.get(b"b", None, |_| {}), Lookup::Flushed);
}

#[test]
fn too_large_set_removes_old_value() {
    let s = store();
    set(&s, b"k", b"small");
    let big = vec![b'x'; 1024 * 1024];
    assert_eq!(set(&s, b"k", &big), StoreOutcome::TooLarge);
    assert!(get(&s, b"k").is_none());
    // The exact memcached boundary: 48 + 8 + klen + 1 + vlen + 2 <= 1 MiB.
    let fits = vec![b'x'; 1024 * 1024 - 48 - 8 - 1 - 1 - 2];
    assert_eq!(set(&s, b"k", &fits), StoreOutcome::Stored);
    let over = vec![b'x'; fits.len() + 1];
    assert_eq!(set(&s, b"k2", &over), StoreOutcome::TooLarge);
}

#[test]
fn evicts_least_recently_used_under_the_limit() {
    let s = store_with(1 << 20, true);
    let value = vec![b'v'; 1000];
    for i in 0..5000 {
        assert_eq!(
            set(&s, format!("key{i}").as_bytes(), &value),
            StoreOutcome::Stored
        );
    }
    let st = s.stats();
    assert!(st.used <= 1 << 20, "used {} over the limit", st.used);
    assert!(st.items.evictions > 0);
    assert!(get(&s, b"key4999").is_some(), "the newest item survives");
    assert!(get(&s, b"key0").is_none(), "the oldest item was evicted");
}

#[test]
fn no_evictions_fails_with_no_memory() {
    let s = store_with(1 << 20, false);
    let value = vec![b'v'; 1000];
    let mut failed = false;
    for i in 0..5000 {
        match set(&s, format!("key{i}").as_bytes(), &value) {
            StoreOutcome::Stored => {}
            StoreOutcome::NoMemory => failed = true,
            other => panic!("{other:?}"),
        }
    }
    assert!(failed);
    assert!(get(&s, b"key0").is_some(), "-M never evicts");
    assert_eq!(s.stats().items.evictions, 0);
    // Expired items are reused before failing.
    s.flush_all(0);
    assert_eq!(set(&s, b"new", &value), StoreOutcome::Stored);
}

#[test]
fn shrinking_the_limit_evicts() {
    let s = store_with(8 << 20, true);
    let value = vec![b'v'; 1000];
    for i in 0..5000 {
        set(&s, format!("key{i}").as_bytes(), &value);
    }
    assert!(s.stats().used > 2 << 20);
    s.set_limit(2 << 20);
    assert!(s.stats().used <= 2 << 20);
}

#[test]
fn concurrent_writers_agree() {
    let s = std::sync::Arc::new(store());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..2000 {
                    let k = format!("t{t}k{i}");
                    set(&s, k.as_bytes(), k.as_bytes());
                    s.delta(b"shared", DeltaOp::Incr, 1);
                }
            })
        })
        .collect();
    set(&s, b"shared", b"0");
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..4 {
        for i in 0..2000 {
            let k = format!("t{t}k{i}");
            assert_eq!(get(&s, k.as_bytes()).unwrap().0, k.as_bytes());
        }
    }
    assert_eq!(s.stats().items.curr_items, 8001);
}

#[test]
fn recently_read_items_outlive_cold_ones() {
    let s = Store::new(StoreConfig {
        max_bytes: 1 << 20,
        item_size_max: 1024 * 1024,
        use_cas: true,
        evictions: true,
        threads: 1,
    });
    let value = vec![b'v'; 100];
    let fits = (1 << 20) / item::charge_for(106);
    let old = fits * 3 / 4;
    for i in 0..old {
        assert_eq!(
            set(&s, format!("old{i:05}").as_bytes(), &value),
            StoreOutcome::Stored
        );
    }
    // Reads bump at most once a minute, as memcached's do.
    s.clock().advance(61);
    let hot = old / 5;
    for i in 0..hot {
        assert!(get(&s, format!("old{i:05}").as_bytes()).is_some());
    }
    // Enough new items to evict about all the cold ones, but not the hot.
    for i in 0..fits * 3 / 5 {
        set(&s, format!("new{i:05}").as_bytes(), &value);
    }
    let alive = |r: std::ops::Range<usize>| {
        r.filter(|i| get(&s, format!("old{i:05}").as_bytes()).is_some())
            .count()
    };
    let (hot_alive, cold_alive) = (alive(0..hot), alive(hot..old));
    assert!(s.stats().items.evictions > 0);
    assert!(
        hot_alive * 10 >= hot * 9,
        "{hot_alive} of {hot} recently read items survived"
    );
    assert!(
        cold_alive * 2 < old - hot,
        "{cold_alive} of {} cold items survived",
        old - hot
    );
}

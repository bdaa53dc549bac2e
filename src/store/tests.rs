//! Unit tests of the store's semantics, independent of any protocol.

use super::*;

fn config(max_bytes: usize, evictions: bool) -> StoreConfig {
    StoreConfig {
        max_bytes,
        evictions,
        threads: 1,
        automove: 0,
        ..StoreConfig::default()
    }
}

fn store_with(max_bytes: usize, evictions: bool) -> Store {
    Store::new(config(max_bytes, evictions))
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

/// How many items of this shape fit in `bytes` of pages.
fn capacity(s: &Store, bytes: usize, klen: usize, vlen: usize) -> usize {
    let sizes = s.class_sizes();
    let chunk = sizes.size(
        sizes
            .class_for(item::head_bytes(klen, 0, false) + vlen)
            .unwrap(),
    );
    (bytes / (1 << 20)) * ((1 << 20) / chunk)
}

#[test]
fn set_get_delete() {
    let s = store();
    assert_eq!(set(&s, b"k", b"v1"), StoreOutcome::Stored);
    assert_eq!(get(&s, b"k").unwrap().0, b"v1");
    assert_eq!(set(&s, b"k", b"v2 longer"), StoreOutcome::Stored);
    assert_eq!(get(&s, b"k").unwrap().0, b"v2 longer");
    assert_eq!(s.delete(b"k"), Lookup::Hit);
    assert_eq!(s.delete(b"k"), Lookup::Miss);
    assert!(get(&s, b"k").is_none());
    assert_eq!(s.stats().curr_items, 0);
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
    let (v, f, _) = get(&s, b"k").unwrap();
    assert_eq!((v, f), (b"c".to_vec(), 7));
    assert_eq!(
        s.stats().curr_items,
        1,
        "refused stores leave nothing behind"
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
    // Flushed: found dead on access, or already freed by the crawler.
    assert!(get(&s, b"b").is_none());
}

#[test]
fn too_large_set_removes_old_value() {
    let s = store();
    set(&s, b"k", b"small");
    let big = vec![b'x'; 1024 * 1024];
    assert_eq!(set(&s, b"k", &big), StoreOutcome::TooLarge);
    assert!(get(&s, b"k").is_none());
    // The exact memcached boundary: 48 + 8 + klen + 1 + vlen + 2 <= 1 MiB.
    let fits = vec![b'y'; 1024 * 1024 - 48 - 8 - 1 - 1 - 2];
    assert_eq!(set(&s, b"k", &fits), StoreOutcome::Stored);
    assert_eq!(get(&s, b"k").unwrap().0, fits);
    let over = vec![b'x'; fits.len() + 1];
    assert_eq!(set(&s, b"k2", &over), StoreOutcome::TooLarge);
}

#[test]
fn large_items_span_chained_chunks() {
    let s = Store::new(StoreConfig {
        item_size_max: 8 << 20,
        ..config(64 << 20, true)
    });
    let chunk_max = s.class_sizes().chunk_max();
    for len in [chunk_max - 100, chunk_max, chunk_max * 2 + 7, 5 << 20] {
        let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        assert_eq!(
            s.store(StoreMode::Set, b"big", 3, 0, &value, 0).0,
            StoreOutcome::Stored
        );
        let (v, f, _) = get(&s, b"big").unwrap();
        assert!(v == value, "value of {len} bytes differs");
        assert_eq!(f, 3);
    }
    // Append across chunk boundaries, then free everything.
    s.store(StoreMode::Append, b"big", 0, 0, b"tail", 0);
    assert!(get(&s, b"big").unwrap().0.ends_with(b"tail"));
    assert_eq!(s.delta(b"big", DeltaOp::Incr, 1), Delta::NonNumeric);
    assert_eq!(s.delete(b"big"), Lookup::Hit);
    let largest = s
        .class_reports()
        .into_iter()
        .find(|r| r.id == s.class_sizes().largest())
        .unwrap();
    assert_eq!(largest.used_chunks, 0, "every chunk of the chain was freed");
}

#[test]
fn evicts_least_recently_used_of_the_class_under_the_limit() {
    let s = store_with(2 << 20, true);
    let value = vec![b'v'; 1000];
    for i in 0..5000 {
        assert_eq!(
            set(&s, format!("key{i}").as_bytes(), &value),
            StoreOutcome::Stored
        );
    }
    let st = s.stats();
    assert!(
        st.total_malloced <= 2 << 20,
        "pages {} over the limit",
        st.total_malloced
    );
    assert!(st.evictions > 0);
    assert!(get(&s, b"key4999").is_some(), "the newest item survives");
    assert!(get(&s, b"key0").is_none(), "the oldest item was evicted");
    // Exactly the newest items that fit remain.
    let fit = capacity(&s, 2 << 20, 7, 1000);
    let alive = (0..5000)
        .filter(|i| get(&s, format!("key{i}").as_bytes()).is_some())
        .count();
    assert!(alive + 2 >= fit && alive <= fit, "{alive} alive, {fit} fit");
    assert!(get(&s, format!("key{}", 5000 - alive + 1).as_bytes()).is_some());
}

#[test]
fn recently_read_items_outlive_cold_ones() {
    let s = store_with(1 << 20, true);
    let value = vec![b'v'; 100];
    let fits = capacity(&s, 1 << 20, 8, 100);
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
    for i in 0..fits * 3 / 5 {
        set(&s, format!("new{i:05}").as_bytes(), &value);
    }
    let alive = |r: std::ops::Range<usize>| {
        r.filter(|i| get(&s, format!("old{i:05}").as_bytes()).is_some())
            .count()
    };
    let (hot_alive, cold_alive) = (alive(0..hot), alive(hot..old));
    assert_eq!(hot_alive, hot, "every recently read item survived");
    let evicted = old + fits * 3 / 5 - fits;
    assert_eq!(
        cold_alive,
        old - hot - evicted,
        "exactly the coldest items went"
    );
}

#[test]
fn no_evictions_fails_with_no_memory() {
    let s = store_with(2 << 20, false);
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
    assert_eq!(s.stats().evictions, 0);
    // Expired items are reused before failing.
    s.flush_all(0);
    assert_eq!(set(&s, b"new", &value), StoreOutcome::Stored);
    assert!(s.stats().reclaimed > 0);
}

#[test]
fn crawler_reclaims_expired_items() {
    let s = store();
    for i in 0..1000 {
        s.store(StoreMode::Set, format!("t{i}").as_bytes(), 0, 5, b"v", 0);
    }
    s.store(StoreMode::Set, b"forever", 0, 0, b"v", 0);
    assert_eq!(s.stats().curr_items, 1001);
    s.clock().advance(6);
    s.tick();
    let st = s.stats();
    assert_eq!(st.curr_items, 1, "the crawler freed every expired item");
    assert_eq!(st.crawler_reclaimed, 1000);
    assert!(get(&s, b"forever").is_some());
}

#[test]
fn a_new_size_class_takes_a_page_from_an_old_one() {
    // 4 pages: fill them with small items, then store large ones.
    let s = store_with(4 << 20, true);
    for i in 0..100_000 {
        set(&s, format!("s{i}").as_bytes(), b"small");
    }
    let small_pages: usize = s.class_reports().iter().map(|r| r.total_pages).sum();
    assert_eq!(small_pages, 4);
    let big = vec![b'b'; 50_000];
    assert_eq!(set(&s, b"big", &big), StoreOutcome::Stored, "a page moved");
    assert_eq!(get(&s, b"big").unwrap().0, big);
    let st = s.stats();
    assert_eq!(st.slabs_moved, 1);
    assert!(st.total_malloced <= 4 << 20);
}

#[test]
fn reassign_moves_pages_and_reports_errors() {
    let s = store_with(8 << 20, true);
    for i in 0..20_000 {
        set(&s, format!("s{i}").as_bytes(), b"small");
    }
    let from = s
        .class_sizes()
        .class_for(item::head_bytes(6, 0, false) + 5)
        .unwrap();
    let to = from + 5;
    let pages_of = |id: u8| {
        s.class_reports()
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.total_pages)
    };
    let before = pages_of(from);
    assert!(before >= 1);
    assert_eq!(s.reassign(from, to), Reassign::Ok);
    assert_eq!(pages_of(from), before - 1);
    assert_eq!(pages_of(to), 1);
    assert_eq!(s.reassign(from, from), Reassign::Same);
    assert_eq!(s.reassign(0, to), Reassign::BadClass);
    assert_eq!(s.reassign(from, 200), Reassign::BadClass);
    assert_eq!(s.reassign(to + 1, to), Reassign::NoSpare);
    // The moved page is usable by its new class.
    let value = vec![b'x'; s.class_sizes().size(to) - 64];
    assert_eq!(set(&s, b"in-new-class", &value), StoreOutcome::Stored);
}

#[test]
fn automove_gives_pages_to_the_evicting_class() {
    let s = Store::new(StoreConfig {
        automove: 1,
        ..config(8 << 20, true)
    });
    for i in 0..60_000 {
        set(&s, format!("s{i}").as_bytes(), b"small");
    }
    // Those small items age; a big-value workload then evicts in its class.
    s.clock().advance(100);
    let big = vec![b'b'; 4000];
    for round in 0..20 {
        for i in 0..500 {
            set(&s, format!("b{round}-{i}").as_bytes(), &big);
        }
        s.tick();
    }
    assert!(s.stats().slabs_moved > 0, "automove moved pages");
    let class = s
        .class_sizes()
        .class_for(item::head_bytes(8, 0, false) + 4000)
        .unwrap();
    let pages = s
        .class_reports()
        .iter()
        .find(|r| r.id == class)
        .unwrap()
        .total_pages;
    assert!(pages > 2, "the big class grew to {pages} pages");
}

#[test]
fn shrinking_the_limit_evicts_and_frees_pages() {
    let s = store_with(8 << 20, true);
    let value = vec![b'v'; 1000];
    for i in 0..8000 {
        set(&s, format!("key{i}").as_bytes(), &value);
    }
    assert_eq!(s.stats().total_malloced, 8 << 20);
    s.set_limit(2 << 20);
    let st = s.stats();
    assert_eq!(st.total_malloced, 2 << 20);
    assert!(st.curr_items as usize <= capacity(&s, 2 << 20, 7, 1000));
    assert!(get(&s, b"key7999").is_some(), "the newest survive");
    s.set_limit(4 << 20);
    for i in 0..8000 {
        set(&s, format!("again{i}").as_bytes(), &value);
    }
    assert_eq!(s.stats().total_malloced, 4 << 20, "growing adds pages");
}

#[test]
fn concurrent_writers_agree() {
    let s = std::sync::Arc::new(store());
    set(&s, b"shared", b"0");
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
    for t in threads {
        t.join().unwrap();
    }
    for t in 0..4 {
        for i in 0..2000 {
            let k = format!("t{t}k{i}");
            assert_eq!(get(&s, k.as_bytes()).unwrap().0, k.as_bytes());
        }
    }
    assert_eq!(get(&s, b"shared").unwrap().0, b"8000");
    assert_eq!(s.stats().curr_items, 8001);
}

#[test]
fn concurrent_churn_under_pressure_stays_consistent() {
    // Many threads set, read, delete and evict in a small store at once;
    // every hit must return the value its key was last given by its owner.
    let s = std::sync::Arc::new(Store::new(StoreConfig {
        threads: 4,
        automove: 2,
        ..config(4 << 20, true)
    }));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                for i in 0..30_000u32 {
                    let k = format!("t{t}-{}", rng.u32(0..3000));
                    match rng.u8(0..10) {
                        0..=4 => {
                            let len = [10, 100, 1000, 5000, 600_000][rng.usize(0..5)];
                            let v = vec![(i % 256) as u8; len];
                            let mut value = k.as_bytes().to_vec();
                            value.extend_from_slice(&v);
                            s.store(StoreMode::Set, k.as_bytes(), 0, 0, &value, 0);
                        }
                        5..=8 => {
                            s.get(k.as_bytes(), None, |item| {
                                let v = item.value.to_vec();
                                assert!(v.starts_with(k.as_bytes()), "wrong value for {k}");
                                let rest = &v[k.len()..];
                                assert!(rest.iter().all(|&b| b == rest[0]), "torn value for {k}");
                            });
                        }
                        _ => {
                            s.delete(k.as_bytes());
                        }
                    }
                    if i % 5000 == 0 && t == 0 {
                        s.tick();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let st = s.stats();
    assert!(st.total_malloced <= 4 << 20);
    assert!(st.evictions > 0);
    let counted: u64 = s.class_reports().iter().map(|r| r.used_chunks as u64).sum();
    assert!(counted >= st.curr_items, "chunks in use cover the items");
}

#[test]
fn memory_follows_a_shift_in_value_sizes() {
    let s = Store::new(StoreConfig {
        automove: 1,
        ..config(16 << 20, true)
    });
    let small = vec![b's'; 150];
    for i in 0..200_000 {
        set(&s, format!("small{i}").as_bytes(), &small);
    }
    // The mix shifts to larger values; the small class stops writing.
    let big = vec![b'b'; 2000];
    for i in 0..30_000 {
        set(&s, format!("big{i}").as_bytes(), &big);
    }
    let recent = (25_000..30_000)
        .filter(|i| get(&s, format!("big{i}").as_bytes()).is_some())
        .count();
    assert!(
        recent > 4_500,
        "only {recent} of the 5000 newest big items are cached"
    );
    assert!(s.stats().slabs_moved > 3);
    assert!(s.stats().total_malloced <= 16 << 20);
}

/// A randomised run against a plain `HashMap` model (evictions cannot
/// happen: the store is far larger than the data), covering every
/// operation and value sizes that span chunks.
#[test]
fn randomised_against_a_reference_model() {
    use std::collections::HashMap;
    let s = Store::new(StoreConfig {
        item_size_max: 4 << 20,
        ..config(256 << 20, true)
    });
    // key → (value, flags, cas)
    let mut model: HashMap<Vec<u8>, (Vec<u8>, u32, u64)> = HashMap::new();
    let mut rng = fastrand::Rng::with_seed(42);
    let sizes = [0, 1, 5, 20, 100, 1000, 10_000, 600_000, 1_500_000];
    for step in 0..20_000 {
        let key = format!("k{}", rng.u8(0..40)).into_bytes();
        let len = sizes[rng.usize(0..sizes.len())];
        let value: Vec<u8> = if rng.bool() {
            rng.u64(0..1000).to_string().into_bytes()
        } else {
            (0..len)
                .map(|i| (i as u8).wrapping_add(step as u8))
                .collect()
        };
        let flags = [0, 1, u32::MAX][rng.usize(0..3)];
        let present = model.contains_key(&key);
        match rng.u8(0..10) {
            0 | 1 => {
                let (out, cas) = s.store(StoreMode::Set, &key, flags, 0, &value, 0);
                assert_eq!(out, StoreOutcome::Stored);
                model.insert(key.clone(), (value, flags, cas));
            }
            2 => {
                let (out, cas) = s.store(StoreMode::Add, &key, flags, 0, &value, 0);
                assert_eq!(out == StoreOutcome::Stored, !present, "add at step {step}");
                if !present {
                    model.insert(key.clone(), (value, flags, cas));
                }
            }
            3 => {
                let (out, cas) = s.store(StoreMode::Replace, &key, flags, 0, &value, 0);
                assert_eq!(
                    out == StoreOutcome::Stored,
                    present,
                    "replace at step {step}"
                );
                if present {
                    model.insert(key.clone(), (value, flags, cas));
                }
            }
            4 => {
                let mode = if rng.bool() {
                    StoreMode::Append
                } else {
                    StoreMode::Prepend
                };
                let (out, cas) = s.store(mode, &key, flags, 0, &value, 0);
                match model.get_mut(&key) {
                    Some(entry) => {
                        let (old, old_flags, _) = entry.clone();
                        let fits = s.item_fits(key.len(), old.len() + value.len(), old_flags);
                        assert_eq!(out == StoreOutcome::Stored, fits, "concat at step {step}");
                        if fits {
                            let joined = if mode == StoreMode::Append {
                                [old, value].concat()
                            } else {
                                [value, old].concat()
                            };
                            *entry = (joined, old_flags, cas);
                        }
                    }
                    None => assert_eq!(out, StoreOutcome::NotStored),
                }
            }
            5 => {
                let expected = model.get(&key).map(|e| e.2);
                let guess = if rng.bool() {
                    expected.unwrap_or(1)
                } else {
                    12345
                };
                let (out, cas) = s.store(StoreMode::Cas, &key, flags, 0, &value, guess);
                match expected {
                    None => assert_eq!(out, StoreOutcome::NotFound),
                    Some(c) if c == guess => {
                        assert_eq!(out, StoreOutcome::Stored);
                        model.insert(key.clone(), (value, flags, cas));
                    }
                    Some(_) => assert_eq!(out, StoreOutcome::Exists),
                }
            }
            6 => {
                let hit = s.delete(&key) == Lookup::Hit;
                assert_eq!(hit, model.remove(&key).is_some(), "delete at step {step}");
            }
            7 => {
                let op = if rng.bool() {
                    DeltaOp::Incr
                } else {
                    DeltaOp::Decr
                };
                let delta = rng.u64(0..100);
                let got = s.delta(&key, op, delta);
                match model.get_mut(&key) {
                    None => assert_eq!(got, Delta::NotFound),
                    Some(entry) => match parse_counter(&entry.0) {
                        None => assert_eq!(got, Delta::NonNumeric),
                        Some(n) => {
                            let n = match op {
                                DeltaOp::Incr => n.wrapping_add(delta),
                                DeltaOp::Decr => n.saturating_sub(delta),
                            };
                            assert_eq!(got, Delta::Value(n));
                            let mut digits = n.to_string().into_bytes();
                            if digits.len() <= entry.0.len() {
                                digits.resize(entry.0.len(), b' ');
                            }
                            entry.0 = digits;
                            entry.2 = get(&s, &key).unwrap().2;
                        }
                    },
                }
            }
            _ => {
                let got = get(&s, &key);
                match model.get(&key) {
                    None => assert!(got.is_none(), "phantom {key:?} at step {step}"),
                    Some((v, f, c)) => {
                        let (gv, gf, gc) =
                            got.unwrap_or_else(|| panic!("lost {key:?} at step {step}"));
                        assert!(gv == *v, "value of {key:?} differs at step {step}");
                        assert_eq!((gf, gc), (*f, *c), "flags/cas of {key:?} at step {step}");
                    }
                }
            }
        }
    }
    assert_eq!(s.stats().curr_items as usize, model.len());
    assert_eq!(s.stats().evictions, 0);
}

#[test]
fn size_histogram_tracks_linked_items() {
    let s = Store::new(StoreConfig {
        track_sizes: true,
        ..config(64 << 20, true)
    });
    assert_eq!(store().size_histogram(), None, "off unless asked for");
    set(&s, b"a", &[b'x'; 10]); // 32 + 1 + 10 = 43 bytes -> bucket 64
    set(&s, b"b", &[b'x'; 10]);
    set(&s, b"c", &[b'x'; 100]); // 133 -> 160
    assert_eq!(s.size_histogram().unwrap(), vec![(64, 2), (160, 1)]);
    s.delete(b"a");
    set(&s, b"c", &[b'x'; 10]);
    assert_eq!(s.size_histogram().unwrap(), vec![(64, 2)]);
}

#[test]
fn crawler_only_walks_classes_that_can_hold_dead_items() {
    let s = store();
    for i in 0..1000 {
        set(&s, format!("forever{i}").as_bytes(), b"v");
    }
    s.tick();
    assert_eq!(s.stats().crawler_items_checked, 0, "nothing can expire");
    // touch gives one item an expiry: now the class is crawled.
    assert_eq!(s.touch(b"forever7", 5), Lookup::Hit);
    s.clock().advance(6);
    s.tick();
    let st = s.stats();
    assert_eq!(st.crawler_reclaimed, 1);
    assert_eq!(st.curr_items, 999);
    // After a flush every class is walked once, and flushed items freed.
    s.flush_all(0);
    s.tick();
    assert_eq!(s.stats().curr_items, 0);
    let checked = s.stats().crawler_items_checked;
    s.tick();
    assert_eq!(
        s.stats().crawler_items_checked,
        checked,
        "nothing left to crawl"
    );
}

//! Unit tests of the store's memory: eviction under `-m`, LRU order, the
//! crawler, page moves between classes, memory-limit changes, and
//! concurrent writers under memory pressure.

use super::testing::*;
use super::*;

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

/// `slabs reassign` used to move a class's only page: repeating `set k` and
/// `slabs reassign 1 2` grew class 2 by a page each time (the network fuzz
/// test ended with 63 of 64 pages there). memcached answers NOSPARE unless
/// the source class has a second page.
#[test]
fn regression_reassign_leaves_a_class_its_last_page() {
    let s = store_with(8 << 20, true);
    set(&s, b"k", b"x");
    let class = s
        .class_sizes()
        .class_for(item::head_bytes(1, 0, false) + 1)
        .unwrap();
    let pages_of = |id: u8| {
        s.class_reports()
            .iter()
            .find(|r| r.id == id)
            .map_or(0, |r| r.total_pages)
    };
    assert_eq!(pages_of(class), 1);
    for _ in 0..3 {
        assert_eq!(s.reassign(class, class + 1), Reassign::NoSpare);
    }
    assert_eq!((pages_of(class), pages_of(class + 1)), (1, 0));
    assert_eq!(get(&s, b"k").unwrap().0, b"x");
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

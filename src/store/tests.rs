//! Unit tests of the store's semantics, independent of any protocol:
//! what each operation stores, returns and refuses.

use super::arith::parse_counter;
use super::testing::*;
use super::*;

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

/// memcached flushes what was written up to a second before a delay ends,
/// so `flush_all 1` acts at once; ferrocache waited for the next tick at
/// or after the delay, leaving items readable for up to a second more.
#[test]
fn regression_flush_all_one_second_acts_at_once() {
    let s = store();
    set(&s, b"k", b"1");
    s.flush_all(1);
    assert!(get(&s, b"k").is_none());
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

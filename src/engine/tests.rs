//! The engine against a real store, through the model only: what binary
//! and meta clients rely on (CAS compares, counters that create
//! themselves, win tokens, stale items, explicit CAS values), without any
//! codec.

use super::*;
use crate::config::Settings;
use crate::metrics::{Counters, ServerStats};
use crate::model::{
    Create, DeltaMode, FlagOrder, KeepOptions, Keys, Payload, ReadOptions, StoreMode, WriteOptions,
};
use crate::store::{Store, StoreConfig};

/// Records each response as one line of text.
#[derive(Default)]
struct Recorder(Vec<String>);

impl Reply for Recorder {
    fn reply(&mut self, r: Response<'_>) {
        let line = match r {
            Response::Value(item) => {
                let mut value = Vec::new();
                item.value.for_each_piece(|p| value.extend_from_slice(p));
                let meta = item.meta.map_or(String::new(), |m| {
                    format!(
                        " ttl={} fetched={} stale={} lease={:?} binary_key={}",
                        m.ttl, m.fetched, m.stale, m.lease, m.binary_key
                    )
                });
                format!(
                    "VALUE {} {:?} cas={}{meta}",
                    String::from_utf8_lossy(item.key),
                    String::from_utf8_lossy(&value),
                    item.cas
                )
            }
            Response::Config(item) => format!("CONFIG {}", String::from_utf8_lossy(item.key)),
            Response::Miss { key } => format!("MISS {}", String::from_utf8_lossy(key)),
            Response::End => "END".into(),
            Response::Stored { cas, len } => format!("STORED cas={cas} len={len}"),
            Response::NotStored => "NOT_STORED".into(),
            Response::Exists => "EXISTS".into(),
            Response::NotFound => "NOT_FOUND".into(),
            Response::Deleted => "DELETED".into(),
            Response::Touched => "TOUCHED".into(),
            Response::Ok => "OK".into(),
            Response::Reset => "RESET".into(),
            Response::Number {
                value, cas, ttl, ..
            } => format!("NUMBER {value} cas={cas} ttl={ttl}"),
            Response::Version(v) => format!("VERSION {v}"),
            Response::Stat(name, value) => format!("STAT {name} {value}"),
            Response::Error(e) => format!("ERROR {e:?}"),
            Response::Line(l) => l.into(),
            Response::Raw(lines) => {
                let text = String::from_utf8_lossy(lines);
                self.0.extend(text.lines().map(String::from));
                return;
            }
        };
        self.0.push(line);
    }
}

struct Engine {
    store: Store,
    settings: Settings,
    stats: ServerStats,
    counters: Counters,
    watch: crate::watch::Watch,
}

impl Engine {
    fn new() -> Engine {
        Engine {
            store: Store::new(StoreConfig::default()),
            settings: Settings::default(),
            stats: ServerStats::new(1, 0),
            counters: Counters::default(),
            watch: Default::default(),
        }
    }

    fn run(&self, command: Command<'_>) -> Vec<String> {
        let ctx = Context {
            store: &self.store,
            settings: &self.settings,
            stats: &self.stats,
            cluster: None,
            counters: &self.counters,
            tls: None,
            watch: &self.watch,
            client: 0,
        };
        let mut out = Recorder::default();
        execute(&Request::new(command), &ctx, &mut out);
        out.0
    }

    fn set(&self, key: &[u8], value: &[u8]) -> u64 {
        let reply = self.run(Command::Store {
            mode: StoreMode::Set,
            key,
            flags: 0,
            exptime: 0,
            cas: 0,
            payload: Payload::Data {
                data: value,
                terminated: true,
            },
            write: WriteOptions::default(),
        });
        cas_of(&reply[0])
    }

    fn read(&self, key: &[u8], read: ReadOptions) -> Vec<String> {
        self.run(Command::Get {
            keys: Keys::One(key),
            touch: None,
            read,
        })
    }
}

/// The `cas=N` of a reply line.
fn cas_of(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("cas="))
        .unwrap_or_else(|| panic!("no cas in {line:?}"))
        .parse()
        .unwrap()
}

fn leased() -> ReadOptions {
    ReadOptions {
        leases: true,
        ..ReadOptions::default()
    }
}

fn delete(key: &[u8], cas: u64, keep: KeepOptions) -> Command<'_> {
    Command::Delete { key, cas, keep }
}

fn delta(key: &[u8], create: Option<Create>, cas: u64) -> Command<'_> {
    Command::Delta {
        key,
        mode: DeltaMode::Incr,
        delta: 2,
        create,
        cas,
        exptime: None,
        new_cas: None,
        order: FlagOrder::default(),
    }
}

#[test]
fn a_read_returns_what_a_store_stored_with_its_cas() {
    let e = Engine::new();
    let cas = e.set(b"k", b"v");
    assert_eq!(
        e.read(b"k", ReadOptions::default()),
        [format!("VALUE k \"v\" cas={cas}"), "END".into()]
    );
    assert_eq!(
        e.read(b"nope", ReadOptions::default()),
        ["MISS nope", "END"]
    );
    assert_eq!(e.counters.get_hits.get(), 1);
    assert_eq!(e.counters.get_misses.get(), 1);
}

#[test]
fn delete_compares_the_cas_when_one_is_given() {
    let e = Engine::new();
    let cas = e.set(b"k", b"v");
    assert_eq!(
        e.run(delete(b"k", cas + 1, KeepOptions::default())),
        ["EXISTS"]
    );
    assert_eq!(
        e.run(delete(b"k", cas, KeepOptions::default())),
        ["DELETED"]
    );
    assert_eq!(
        e.run(delete(b"k", 0, KeepOptions::default())),
        ["NOT_FOUND"]
    );
    assert_eq!(e.counters.delete_hits.get(), 1);
    assert_eq!(e.counters.delete_misses.get(), 1);
}

#[test]
fn a_delta_creates_a_missing_counter_and_returns_its_cas() {
    let e = Engine::new();
    assert_eq!(e.run(delta(b"n", None, 0)), ["NOT_FOUND"]);
    let create = Some(Create {
        initial: 10,
        exptime: 0,
    });
    let created = e.run(delta(b"n", create, 0));
    assert!(created[0].starts_with("NUMBER 10 cas="), "{created:?}");
    let counted = e.run(delta(b"n", create, 0));
    assert!(counted[0].starts_with("NUMBER 12 cas="), "{counted:?}");
    assert!(
        cas_of(&counted[0]) > cas_of(&created[0]),
        "a key's CAS rises"
    );
    assert_eq!(
        e.run(delta(b"n", None, cas_of(&counted[0]) + 1)),
        ["EXISTS"],
        "a CAS compare guards the count"
    );
    // The plain miss is a miss, the count a hit; the creation neither (as
    // memcached counts, binary and meta alike).
    assert_eq!(e.counters.incr_misses.get(), 1);
    assert_eq!(e.counters.incr_hits.get(), 1);
}

#[test]
fn vivify_on_miss_gives_the_first_reader_the_token() {
    let e = Engine::new();
    let vivify = ReadOptions {
        vivify: Some(30),
        ..leased()
    };
    let first = e.read(b"v", vivify);
    assert!(first[0].contains("lease=Won"), "{first:?}");
    assert!(
        first[0].starts_with("VALUE v \"\""),
        "an empty item: {first:?}"
    );
    let second = e.read(b"v", vivify);
    assert!(second[0].contains("lease=Taken"), "{second:?}");
    // memcached's mg counts an item it lends as a hit, created or found.
    assert_eq!(e.counters.get_misses.get(), 0);
    assert_eq!(e.counters.get_hits.get(), 2);
    // ... in its class too, so the classes add up to the total.
    let per_class: u64 = e
        .counters
        .classes
        .snapshot()
        .iter()
        .map(|c| c.get_hits)
        .sum();
    assert_eq!(per_class, 2, "the created item's class counts its hit");
}

#[test]
fn a_meta_delete_counts_as_memcacheds_md() {
    let e = Engine::new();
    let cas = e.set(b"k", b"v");
    let md = KeepOptions {
        meta_counts: true,
        ..KeepOptions::default()
    };
    assert_eq!(e.run(delete(b"k", cas + 1, md)), ["EXISTS"]);
    let invalidate = KeepOptions {
        invalidate: true,
        ..md
    };
    assert_eq!(e.run(delete(b"k", 0, invalidate)), ["DELETED"]);
    assert_eq!(e.run(delete(b"k", 0, md)), ["DELETED"]);
    // The mismatch a miss, the invalidation nothing, the delete a hit.
    assert_eq!(e.counters.delete_misses.get(), 1);
    assert_eq!(e.counters.delete_hits.get(), 1);
    // A text or binary delete's mismatch counts nothing.
    let cas = e.set(b"k", b"v");
    assert_eq!(
        e.run(delete(b"k", cas + 1, KeepOptions::default())),
        ["EXISTS"]
    );
    assert_eq!(e.counters.delete_misses.get(), 1);
}

#[test]
fn a_meta_miss_with_a_touch_counts_as_a_get_miss() {
    let e = Engine::new();
    e.set(b"k", b"v");
    let touch = |key| {
        e.run(Command::Get {
            keys: Keys::One(key),
            touch: Some(30),
            read: leased(),
        })
    };
    assert!(touch(b"k")[0].starts_with("VALUE k"));
    assert_eq!(touch(b"nope"), ["MISS nope", "END"]);
    // As memcached's mg: a hit with T is a touch hit, a miss a get miss.
    assert_eq!(e.counters.cmd_touch.get(), 1);
    assert_eq!(e.counters.touch_hits.get(), 1);
    assert_eq!(e.counters.touch_misses.get(), 0);
    assert_eq!(e.counters.get_misses.get(), 1);
}

#[test]
fn flags_act_in_line_order() {
    let e = Engine::new();
    let read = |key, order: FlagOrder, recache: Option<i64>| {
        e.run(Command::Get {
            keys: Keys::One(key),
            touch: Some(100),
            read: ReadOptions {
                recache,
                order,
                ..leased()
            },
        })
    };
    e.set(b"k", b"v");
    // `mg k t T100`: the TTL before the touch (never expires).
    let before = FlagOrder {
        ttl: 0,
        touch: 1,
        ..FlagOrder::default()
    };
    assert!(read(b"k", before, None)[0].contains("ttl=-1"));
    // `mg k T100 t`: after it.
    assert!(read(b"k", FlagOrder::default(), None)[0].contains("ttl=100"));
    // `mg k R200 T100`: the recache test sees the expiry before the touch
    // (100 s, below 200: a win).
    let recache_first = FlagOrder {
        recache: 0,
        touch: 1,
        ttl: 2,
        vivify: 3,
    };
    assert!(read(b"k", recache_first, Some(200))[0].contains("lease=Won"));
    // `mg n R50 T100` on an item that never expires: no win, though the
    // touch leaves it 100 s; `mg n T100 R150` sees the 100 s: a win.
    e.set(b"n", b"v");
    assert!(read(b"n", recache_first, Some(50))[0].contains("lease=None"));
    assert!(read(b"n", FlagOrder::default(), Some(150))[0].contains("lease=Won"));
}

#[test]
fn a_created_item_keeps_the_last_of_n_and_t() {
    let e = Engine::new();
    let vivify = |key, order| {
        e.run(Command::Get {
            keys: Keys::One(key),
            touch: Some(60),
            read: ReadOptions {
                vivify: Some(30),
                order,
                ..leased()
            },
        })
    };
    // `mg a N30 T60 t`: T came last.
    assert!(vivify(b"a", FlagOrder::default())[0].contains("ttl=60"));
    // `mg b T60 N30 t`: N came last.
    let n_last = FlagOrder {
        touch: 0,
        vivify: 1,
        recache: 2,
        ttl: 3,
    };
    assert!(vivify(b"b", n_last)[0].contains("ttl=30"));
    // `mg c t N30`: the TTL of the item as memcached creates it, before N.
    let ttl_first = FlagOrder {
        ttl: 0,
        vivify: 1,
        touch: 2,
        recache: 3,
    };
    assert!(vivify(b"c", ttl_first)[0].contains("ttl=-1"));
}

#[test]
fn inspect_reports_without_touching() {
    let e = Engine::new();
    e.set(b"k", b"v");
    let seen = e.run(Command::Inspect { key: b"k" });
    assert!(seen[0].contains("fetched=false"), "{seen:?}");
    // Still unfetched: me changes nothing; then a read fetches it.
    assert!(e.run(Command::Inspect { key: b"k" })[0].contains("fetched=false"));
    e.read(b"k", ReadOptions::default());
    assert!(e.run(Command::Inspect { key: b"k" })[0].contains("fetched=true"));
    assert_eq!(e.run(Command::Inspect { key: b"nope" }), ["MISS nope"]);
    assert_eq!(e.counters.cmd_meta.get(), 4);
    assert_eq!(e.counters.cmd_get.get(), 1, "me is not a get");
}

#[test]
fn a_meta_store_remembers_a_binary_key_and_removes_on_failure() {
    let e = Engine::new();
    let store = |mode, key, payload, write| {
        e.run(Command::Store {
            mode,
            key,
            flags: 0,
            exptime: 0,
            cas: 0,
            payload,
            write,
        })
    };
    let data = |data| Payload::Data {
        data,
        terminated: true,
    };
    let binary = WriteOptions {
        binary_key: true,
        ..WriteOptions::default()
    };
    store(StoreMode::Set, b"b", data(b"v"), binary);
    let meta = e.run(Command::Inspect { key: b"b" });
    assert!(meta[0].contains("binary_key=true"), "{meta:?}");
    // An append builds a new item: the mark does not carry over.
    let appended = store(StoreMode::Append, b"b", data(b"w"), binary);
    assert!(appended[0].ends_with("len=2"), "{appended:?}");
    let meta = e.run(Command::Inspect { key: b"b" });
    assert!(meta[0].contains("binary_key=false"), "{meta:?}");
    // ms refused as too large removes the old value, whatever the mode.
    e.set(b"k", b"v");
    let meta_ms = WriteOptions {
        remove_on_failure: true,
        ..WriteOptions::default()
    };
    assert_eq!(
        store(StoreMode::Add, b"k", Payload::Oversize, meta_ms),
        ["ERROR TooLarge"]
    );
    assert_eq!(e.read(b"k", ReadOptions::default()), ["MISS k", "END"]);
}

#[test]
fn an_invalidated_item_reads_stale_and_one_reader_wins() {
    let e = Engine::new();
    e.set(b"k", b"old");
    let invalidate = KeepOptions {
        invalidate: true,
        ..KeepOptions::default()
    };
    assert_eq!(e.run(delete(b"k", 0, invalidate)), ["DELETED"]);
    let first = e.read(b"k", leased());
    assert!(
        first[0].contains("stale=true lease=Won"),
        "the value is kept, stale: {first:?}"
    );
    let second = e.read(b"k", leased());
    assert!(second[0].contains("stale=true lease=Taken"), "{second:?}");
    // A plain (text or binary) read sees the value and no lease.
    let plain = e.read(b"k", ReadOptions::default());
    assert!(plain[0].starts_with("VALUE k \"old\""), "{plain:?}");
    assert!(!plain[0].contains("lease"), "{plain:?}");
}

#[test]
fn a_read_without_bump_leaves_the_fetched_bit_alone() {
    let e = Engine::new();
    e.set(b"k", b"v");
    let quiet = ReadOptions {
        no_bump: true,
        ..leased()
    };
    e.read(b"k", quiet);
    assert!(e.read(b"k", leased())[0].contains("fetched=false"));
    assert!(e.read(b"k", leased())[0].contains("fetched=true"));
}

#[test]
fn an_explicit_cas_is_the_stored_items_cas() {
    let e = Engine::new();
    let reply = e.run(Command::Store {
        mode: StoreMode::Set,
        key: b"k",
        flags: 0,
        exptime: 0,
        cas: 0,
        payload: Payload::Data {
            data: b"v",
            terminated: true,
        },
        write: WriteOptions {
            new_cas: Some(4242),
            ..WriteOptions::default()
        },
    });
    assert_eq!(reply, ["STORED cas=4242 len=1"]);
    assert_eq!(cas_of(&e.read(b"k", ReadOptions::default())[0]), 4242);
}

#[test]
fn a_recache_threshold_hands_the_token_to_the_first_reader() {
    let e = Engine::new();
    e.run(Command::Store {
        mode: StoreMode::Set,
        key: b"k",
        flags: 0,
        exptime: 10,
        cas: 0,
        payload: Payload::Data {
            data: b"v",
            terminated: true,
        },
        write: WriteOptions::default(),
    });
    let recache = ReadOptions {
        recache: Some(30),
        ..leased()
    };
    assert!(e.read(b"k", recache)[0].contains("lease=Won"));
    assert!(e.read(b"k", recache)[0].contains("lease=Taken"));
    let later = ReadOptions {
        recache: Some(5),
        ..leased()
    };
    assert!(
        e.read(b"k", later)[0].contains("lease=Taken"),
        "the token stays out until the item is replaced"
    );
    e.set(b"k", b"fresh");
    assert!(e.read(b"k", leased())[0].contains("lease=None"));
}

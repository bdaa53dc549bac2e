//! The engine against a real store, through the model only: what binary
//! and meta clients rely on (CAS compares, counters that create
//! themselves, win tokens, stale items, explicit CAS values), without any
//! codec.

use super::*;
use crate::config::Settings;
use crate::metrics::{Counters, ServerStats};
use crate::model::{
    Create, DeltaMode, KeepOptions, Keys, Payload, ReadOptions, StoreMode, WriteOptions,
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
                        " ttl={} fetched={} stale={} lease={:?}",
                        m.ttl, m.fetched, m.stale, m.lease
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
            Response::Stored { cas } => format!("STORED cas={cas}"),
            Response::NotStored => "NOT_STORED".into(),
            Response::Exists => "EXISTS".into(),
            Response::NotFound => "NOT_FOUND".into(),
            Response::Deleted => "DELETED".into(),
            Response::Touched => "TOUCHED".into(),
            Response::Ok => "OK".into(),
            Response::Reset => "RESET".into(),
            Response::Number { value, cas, ttl } => format!("NUMBER {value} cas={cas} ttl={ttl}"),
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
}

impl Engine {
    fn new() -> Engine {
        Engine {
            store: Store::new(StoreConfig::default()),
            settings: Settings::default(),
            stats: ServerStats::new(1, 0),
            counters: Counters::default(),
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
    // Created counts as a miss, counted as a hit (as memcached counts).
    assert_eq!(e.counters.incr_misses.get(), 2);
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
    // The creating read was a miss; the second found the item.
    assert_eq!(e.counters.get_misses.get(), 1);
    assert_eq!(e.counters.get_hits.get(), 1);
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
    assert_eq!(reply, ["STORED cas=4242"]);
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

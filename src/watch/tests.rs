//! The hub: who gets which lines, the watcher limit, the bounded queue.

use super::*;

fn get(key: &[u8]) -> ItemGet<'_> {
    ItemGet {
        key,
        status: Fetched::NotFound,
        class: 0,
        client: 7,
        size: 0,
    }
}

fn drained(w: &Watcher) -> String {
    let mut out = Vec::new();
    w.drain_into(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn each_watcher_gets_only_the_kinds_it_asked_for() {
    let watch = Watch::default();
    assert!(!watch.wants(FETCHERS) && !watch.wants(EVICTIONS));
    let fetchers = watch.add(FETCHERS).unwrap();
    let evictions = watch.add(EVICTIONS | MUTATIONS).unwrap();
    assert!(watch.wants(FETCHERS) && watch.wants(EVICTIONS) && watch.wants(MUTATIONS));
    watch.item_get(&get(b"a"));
    // Each new watcher took a line id, as memcached's logger does.
    let lines = drained(&fetchers);
    assert!(lines.starts_with("ts="), "{lines}");
    assert!(
        lines.ends_with(" gid=3 type=item_get key=a status=not_found clsid=0 cfd=7 size=0\n"),
        "{lines}"
    );
    assert_eq!(drained(&evictions), "");
    watch.remove(&fetchers);
    assert!(!watch.wants(FETCHERS), "the mask follows the watchers");
    watch.item_get(&get(b"b"));
    assert_eq!(drained(&fetchers), "", "a removed watcher gets nothing");
    assert_eq!(watch.count(), 1);
}

#[test]
fn no_more_than_the_limit_watch_at_once() {
    let watch = Watch::default();
    let all: Vec<_> = (0..WATCHER_LIMIT)
        .map(|_| watch.add(FETCHERS).unwrap())
        .collect();
    assert!(watch.add(FETCHERS).is_none());
    watch.remove(&all[0]);
    assert!(watch.add(FETCHERS).is_some());
}

/// A watcher that never reads holds at most `QUEUE_BYTES`; what did not
/// fit is announced as `skipped=N` before the next line that does.
#[test]
fn a_full_queue_skips_lines_and_says_how_many() {
    let watch = Watch::default();
    let w = watch.add(FETCHERS).unwrap();
    let key = [b'k'; 200];
    for _ in 0..10_000 {
        watch.item_get(&get(&key));
    }
    assert!(w.queued() <= QUEUE_BYTES);
    let (sent, skipped) = watch.totals();
    assert_eq!(sent + skipped, 10_000);
    assert!(skipped > 0);
    let first = drained(&w);
    assert_eq!(first.lines().count() as u64, sent);
    watch.item_get(&get(b"after"));
    let next = drained(&w);
    let mut lines = next.lines();
    assert_eq!(lines.next(), Some(format!("skipped={skipped}").as_str()));
    assert!(lines.next().unwrap().contains("key=after "));
}

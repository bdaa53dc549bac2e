//! The exposition against a store and counters set up here: names,
//! labels, HELP and TYPE lines, and the optional families.

use super::*;
use crate::config::Settings;
use crate::metrics::{ClassOp, Counters, ServerStats};
use crate::store::{Store, StoreConfig, StoreMode};
use std::time::Duration;

fn scrape(store: &Store, stats: &ServerStats) -> (Exposition, String) {
    let settings = Settings::default();
    let counters = Counters::default();
    let ctx = Context {
        store,
        settings: &settings,
        stats,
        counters: &counters,
        tls: None,
        cluster: None,
        watch: &Default::default(),
        client: 0,
    };
    (gather(&ctx), render(&ctx))
}

/// The sample lines of `text` named `name` (with labels, if any).
fn value(text: &str, series: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')
            .map(str::to_string)
    })
}

#[test]
fn every_listing_field_becomes_one_series_under_the_exporter_s_names() {
    let store = Store::new(StoreConfig::default());
    store.store(StoreMode::Set, b"k", 0, 0, b"value", 0);
    let stats = ServerStats::new(2, 0);
    stats.worker(0).get_hits.add(3);
    stats.worker(1).get_hits.add(4);
    stats.worker(1).get_misses.add(2);
    stats.worker(0).cmd_set.add(10);
    stats.worker(0).cas_hits.add(1);
    let w0 = stats.worker(0);
    let w1 = stats.worker(1);
    w0.classes.incr(1, ClassOp::GetHit);
    w1.classes.incr(1, ClassOp::GetHit);
    for _ in 0..5 {
        w1.classes.incr(1, ClassOp::Set);
    }
    w0.classes.incr(1, ClassOp::CasBadval);
    let (e, text) = scrape(&store, &stats);
    let slab_series = |command: &str, status: &str| {
        let series = format!(
            "memcached_slab_commands_total{{slab=\"1\",command=\"{command}\",status=\"{status}\"}}"
        );
        value(&text, &series)
    };
    assert_eq!(slab_series("get", "hit").as_deref(), Some("2"));
    assert_eq!(slab_series("set", "hit").as_deref(), Some("4"), "less cas");
    assert_eq!(slab_series("cas", "badval").as_deref(), Some("1"));
    assert_eq!(slab_series("touch", "hit").as_deref(), Some("0"));
    assert_eq!(
        value(
            &text,
            "memcached_slab_lru_hits_total{slab=\"1\",lru=\"cold\"}"
        )
        .as_deref(),
        Some("2"),
        "every hit is to cold"
    );
    let get_hit = "memcached_commands_total{command=\"get\",status=\"hit\"}";
    assert_eq!(value(&text, get_hit).as_deref(), Some("7"));
    let set_hit = "memcached_commands_total{command=\"set\",status=\"hit\"}";
    assert_eq!(
        value(&text, set_hit).as_deref(),
        Some("9"),
        "cmd_set less cas"
    );
    assert_eq!(
        value(&text, "memcached_current_items").as_deref(),
        Some("1")
    );
    assert_eq!(
        value(&text, "memcached_version{version=\"1.6.18\"}").as_deref(),
        Some("1")
    );
    assert!(value(&text, "memcached_slab_current_items{slab=\"1\"}").is_some());
    assert!(value(&text, "memcached_slab_chunk_size_bytes{slab=\"1\"}").is_some());
    assert!(value(
        &text,
        "memcached_slab_lru_hits_total{slab=\"1\",lru=\"cold\"}"
    )
    .is_some());
    assert!(text.contains("# TYPE memcached_commands counter\n"));
    assert!(text.contains("# TYPE memcached_current_items gauge\n"));
    assert!(text.ends_with("# EOF\n"));
    // Fields the exporter lacks keep their memcached name.
    assert!(value(&text, "memcached_get_expired_total").is_some());
    assert!(value(
        &text,
        "memcached_slab_items_crawler_items_checked_total{slab=\"1\"}"
    )
    .is_some());
    // No family twice, and each has its description and type.
    let mut names: Vec<&str> = e.names().collect();
    let n = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "a family is emitted twice");
    for name in &names {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} has no TYPE"
        );
    }
    // Off by default: no latency or hot-key families.
    assert!(!text.contains("memcached_request_duration_seconds"));
    assert!(!text.contains("memcached_hotkey_ops_per_second"));
}

#[test]
fn latency_histograms_and_hot_keys_appear_once_observed() {
    let store = Store::new(StoreConfig::default());
    let stats = ServerStats::new(1, 0);
    stats.observe(true, 3);
    let w = stats.worker(0);
    w.latency.record(CommandKind::Get, Duration::from_micros(3));
    w.latency
        .record(CommandKind::Get, Duration::from_micros(300));
    for _ in 0..crate::metrics::hotkeys::SAMPLE {
        w.hot.offer(b"hot key", crate::metrics::Access::Write, 0);
    }
    let (_, text) = scrape(&store, &stats);
    assert!(text.contains("# TYPE memcached_request_duration_seconds histogram\n"));
    let series = "memcached_request_duration_seconds_count{command=\"get\"}";
    assert_eq!(value(&text, series).as_deref(), Some("2"));
    let le4 = "memcached_request_duration_seconds_bucket{le=\"4e-6\",command=\"get\"}";
    let le = text
        .lines()
        .find(|l| {
            l.starts_with("memcached_request_duration_seconds_bucket")
                && l.contains("command=\"get\"")
        })
        .unwrap_or_default();
    assert!(le.contains("le="), "{le}");
    let inf = "memcached_request_duration_seconds_bucket{le=\"+Inf\",command=\"get\"}";
    assert_eq!(value(&text, inf).as_deref(), Some("2"), "cumulative: {le4}");
    assert!(text.contains("memcached_hotkey_ops_per_second{key=\"hot%20key\",op=\"write\"}"));
}

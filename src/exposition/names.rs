//! Which Prometheus series each statistic becomes: the names and labels
//! memcached_exporter gives memcached's `stats`, `stats items` and `stats
//! slabs` fields, so that dashboards built on it keep working. A field
//! the exporter does not export is named `memcached_<field>` (general
//! listing), `memcached_slab_items_<field>` (`stats items`) or
//! `memcached_slab_<field>` (`stats slabs`). Only names live here: what a
//! field means and whether it is a counter is declared where it is counted.

/// A statistic's series: the full sample name as Prometheus stores it
/// (counters end in `_total`) and its labels besides `slab`.
pub type Series = (&'static str, &'static [(&'static str, &'static str)]);

/// A field of the general `stats` listing that memcached_exporter exports.
pub const GENERAL: &[(&str, Series)] = &[
    ("uptime", ("memcached_uptime_seconds", &[])),
    ("time", ("memcached_time_seconds", &[])),
    (
        "rusage_user",
        ("memcached_process_user_cpu_seconds_total", &[]),
    ),
    (
        "rusage_system",
        ("memcached_process_system_cpu_seconds_total", &[]),
    ),
    ("bytes_read", ("memcached_read_bytes_total", &[])),
    ("bytes_written", ("memcached_written_bytes_total", &[])),
    ("curr_connections", ("memcached_current_connections", &[])),
    ("max_connections", ("memcached_max_connections", &[])),
    ("total_connections", ("memcached_connections_total", &[])),
    (
        "rejected_connections",
        ("memcached_connections_rejected_total", &[]),
    ),
    ("conn_yields", ("memcached_connections_yielded_total", &[])),
    (
        "listen_disabled_num",
        ("memcached_connections_listener_disabled_total", &[]),
    ),
    ("bytes", ("memcached_current_bytes", &[])),
    ("limit_maxbytes", ("memcached_limit_bytes", &[])),
    ("curr_items", ("memcached_current_items", &[])),
    ("total_items", ("memcached_items_total", &[])),
    ("evictions", ("memcached_items_evicted_total", &[])),
    ("reclaimed", ("memcached_items_reclaimed_total", &[])),
    ("store_too_large", ("memcached_item_too_large_total", &[])),
    ("store_no_memory", ("memcached_item_no_memory_total", &[])),
    (
        "lru_crawler_starts",
        ("memcached_lru_crawler_starts_total", &[]),
    ),
    ("direct_reclaims", ("memcached_direct_reclaims_total", &[])),
    (
        "crawler_items_checked",
        ("memcached_lru_crawler_items_checked_total", &[]),
    ),
    (
        "crawler_reclaimed",
        ("memcached_lru_crawler_reclaimed_total", &[]),
    ),
    (
        "moves_to_cold",
        ("memcached_lru_crawler_moves_to_cold_total", &[]),
    ),
    (
        "moves_to_warm",
        ("memcached_lru_crawler_moves_to_warm_total", &[]),
    ),
    (
        "moves_within_lru",
        ("memcached_lru_crawler_moves_within_lru_total", &[]),
    ),
    ("total_malloced", ("memcached_malloced_bytes", &[])),
    ("accepting_conns", ("memcached_accepting_connections", &[])),
    (
        "round_robin_fallback",
        ("memcached_round_robin_fallback_total", &[]),
    ),
    (
        "unexpected_napi_ids",
        ("memcached_unexpected_napi_ids_total", &[]),
    ),
    (
        "get_hits",
        (COMMANDS, &[("command", "get"), ("status", "hit")]),
    ),
    (
        "get_misses",
        (COMMANDS, &[("command", "get"), ("status", "miss")]),
    ),
    (
        "delete_hits",
        (COMMANDS, &[("command", "delete"), ("status", "hit")]),
    ),
    (
        "delete_misses",
        (COMMANDS, &[("command", "delete"), ("status", "miss")]),
    ),
    (
        "incr_hits",
        (COMMANDS, &[("command", "incr"), ("status", "hit")]),
    ),
    (
        "incr_misses",
        (COMMANDS, &[("command", "incr"), ("status", "miss")]),
    ),
    (
        "decr_hits",
        (COMMANDS, &[("command", "decr"), ("status", "hit")]),
    ),
    (
        "decr_misses",
        (COMMANDS, &[("command", "decr"), ("status", "miss")]),
    ),
    (
        "cas_hits",
        (COMMANDS, &[("command", "cas"), ("status", "hit")]),
    ),
    (
        "cas_misses",
        (COMMANDS, &[("command", "cas"), ("status", "miss")]),
    ),
    (
        "cas_badval",
        (COMMANDS, &[("command", "cas"), ("status", "badval")]),
    ),
    (
        "touch_hits",
        (COMMANDS, &[("command", "touch"), ("status", "hit")]),
    ),
    (
        "touch_misses",
        (COMMANDS, &[("command", "touch"), ("status", "miss")]),
    ),
    (
        "cmd_flush",
        (COMMANDS, &[("command", "flush"), ("status", "hit")]),
    ),
];

/// memcached_exporter's requests by command and status.
pub const COMMANDS: &str = "memcached_commands_total";

/// What [`COMMANDS`] is, as a family (its series come from several fields).
pub const COMMANDS_HELP: &str = "Requests by command and status (memcached's <command>_hits, <command>_misses, cas_badval, cmd_flush; set is cmd_set less the cas requests)";

/// memcached_exporter's hits per LRU segment.
pub const LRU_HITS: &str = "memcached_slab_lru_hits_total";

/// What [`LRU_HITS`] is, as a family.
pub const LRU_HITS_HELP: &str =
    "Hits per slab class and LRU segment (memcached's hits_to_<segment>; one flat LRU here, so every hit is to cold)";

/// memcached_exporter's per-class requests by command and status, from
/// the per-class fields of `stats slabs`.
pub const SLAB_COMMANDS: &str = "memcached_slab_commands_total";

/// What [`SLAB_COMMANDS`] is, as a family.
pub const SLAB_COMMANDS_HELP: &str = "Requests per slab class by command and status (memcached's per-class <command>_hits and cas_badval in stats slabs; set is cmd_set less cas_hits and cas_badval)";

/// The per-class `stats slabs` fields exported one to one as
/// [`SLAB_COMMANDS`] series: (field, command, status). `cmd_set` is
/// exported as `set`/`hit` less the CAS stores, as the exporter does.
pub const SLAB_COMMAND_FIELDS: [(&str, &str, &str); 7] = [
    ("get_hits", "get", "hit"),
    ("delete_hits", "delete", "hit"),
    ("incr_hits", "incr", "hit"),
    ("decr_hits", "decr", "hit"),
    ("cas_hits", "cas", "hit"),
    ("touch_hits", "touch", "hit"),
    ("cas_badval", "cas", "badval"),
];

/// A `stats items` field that memcached_exporter exports (label `slab`).
pub const ITEMS: &[(&str, Series)] = &[
    ("number", ("memcached_slab_current_items", &[])),
    ("age", ("memcached_slab_items_age_seconds", &[])),
    ("hits_to_hot", (LRU_HITS, &[("lru", "hot")])),
    ("hits_to_warm", (LRU_HITS, &[("lru", "warm")])),
    ("hits_to_cold", (LRU_HITS, &[("lru", "cold")])),
    ("hits_to_temp", (LRU_HITS, &[("lru", "temporary")])),
    (
        "crawler_reclaimed",
        ("memcached_slab_items_crawler_reclaimed_total", &[]),
    ),
    ("evicted", ("memcached_slab_items_evicted_total", &[])),
    (
        "evicted_nonzero",
        ("memcached_slab_items_evicted_nonzero_total", &[]),
    ),
    (
        "evicted_time",
        ("memcached_slab_items_evicted_time_seconds", &[]),
    ),
    (
        "evicted_unfetched",
        ("memcached_slab_items_evicted_unfetched_total", &[]),
    ),
    (
        "expired_unfetched",
        ("memcached_slab_items_expired_unfetched_total", &[]),
    ),
    (
        "outofmemory",
        ("memcached_slab_items_outofmemory_total", &[]),
    ),
    ("reclaimed", ("memcached_slab_items_reclaimed_total", &[])),
    (
        "tailrepairs",
        ("memcached_slab_items_tailrepairs_total", &[]),
    ),
    ("mem_requested", ("memcached_slab_mem_requested_bytes", &[])),
    ("moves_to_cold", ("memcached_slab_items_moves_to_cold", &[])),
    ("moves_to_warm", ("memcached_slab_items_moves_to_warm", &[])),
    (
        "moves_within_lru",
        ("memcached_slab_items_moves_within_lru", &[]),
    ),
    ("number_hot", ("memcached_slab_hot_items", &[])),
    ("number_warm", ("memcached_slab_warm_items", &[])),
    ("number_cold", ("memcached_slab_cold_items", &[])),
    ("age_hot", ("memcached_slab_hot_age_seconds", &[])),
    ("age_warm", ("memcached_slab_warm_age_seconds", &[])),
];

/// A `stats slabs` field that memcached_exporter exports (label `slab`).
pub const SLABS: &[(&str, Series)] = &[
    ("chunk_size", ("memcached_slab_chunk_size_bytes", &[])),
    ("chunks_per_page", ("memcached_slab_chunks_per_page", &[])),
    ("total_pages", ("memcached_slab_current_pages", &[])),
    ("total_chunks", ("memcached_slab_current_chunks", &[])),
    ("used_chunks", ("memcached_slab_chunks_used", &[])),
    ("free_chunks", ("memcached_slab_chunks_free", &[])),
    ("free_chunks_end", ("memcached_slab_chunks_free_end", &[])),
];

/// The series `field` becomes in `table`, if the exporter has it.
pub fn lookup(table: &'static [(&str, Series)], field: &str) -> Option<Series> {
    table.iter().find(|(f, _)| *f == field).map(|(_, s)| *s)
}

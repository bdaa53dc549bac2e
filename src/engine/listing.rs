//! The statistics listings (`stats`, `stats settings`, `stats items`,
//! `stats slabs`, `stats sizes`, `stats conns`, `stats detail`) and
//! `stats reset`, in memcached 1.6's field order and names.

use super::context::Context;
use crate::config::Listen;
use crate::model::{Error, Reply, Response, StatsGroup};
use std::fmt::Display;
use std::sync::atomic::Ordering;

/// Answers a `stats` request.
pub fn stats(group: StatsGroup<'_>, ctx: &Context<'_>, out: &mut dyn Reply) {
    match group {
        StatsGroup::General => general(ctx, out),
        StatsGroup::Settings => settings(ctx, out),
        StatsGroup::Items => items(ctx, out),
        StatsGroup::Slabs => slabs(ctx, out),
        StatsGroup::Sizes => match ctx.store.size_histogram() {
            Some(buckets) => {
                for (size, count) in buckets {
                    out.reply(Response::Stat(&size.to_string(), &count));
                }
            }
            None => out.reply(Response::Stat("sizes_status", &"disabled")),
        },
        StatsGroup::Conns => {
            for (name, value) in ctx.stats.conn_rows(ctx.store.clock().now()) {
                out.reply(Response::Stat(&name, &value));
            }
        }
        StatsGroup::Reset => {
            ctx.stats.reset();
            ctx.store.reset_stats();
            out.reply(Response::Reset);
            return;
        }
        StatsGroup::Detail(arg) => return detail(arg, ctx, out),
        StatsGroup::Unknown(_) => return out.reply(Response::Error(Error::UnknownCommand)),
    }
    out.reply(Response::End);
}

/// `stats detail on|off|dump`
fn detail(arg: Option<&[u8]>, ctx: &Context<'_>, out: &mut dyn Reply) {
    match arg {
        Some(b"on") => {
            ctx.stats.detail.set_enabled(true);
            out.reply(Response::Ok);
        }
        Some(b"off") => {
            ctx.stats.detail.set_enabled(false);
            out.reply(Response::Ok);
        }
        Some(b"dump") => {
            for line in ctx.stats.detail.dump() {
                out.reply(Response::Line(&line));
            }
            out.reply(Response::End);
        }
        _ => out.reply(Response::Error(Error::Client(
            "usage: stats detail on|off|dump",
        ))),
    }
}

fn stat(out: &mut dyn Reply, name: &str, value: impl Display) {
    out.reply(Response::Stat(name, &value));
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// CPU time used by this process (user, system) as memcached prints it.
fn rusage() -> (String, String) {
    // /proc/self/stat fields 14 and 15 are utime and stime in clock ticks,
    // which Linux always reports at USER_HZ = 100 per second.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fmt = |t: u64| format!("{}.{:06}", t / 100, (t % 100) * 10_000);
    (fmt(ticks(11)), fmt(ticks(12)))
}

/// `stats`
fn general(ctx: &Context<'_>, out: &mut dyn Reply) {
    let t = ctx.stats.totals();
    let st = ctx.store.stats();
    let clock = ctx.store.clock();
    let (user, system) = rusage();
    let s = ctx.settings;
    stat(out, "pid", std::process::id());
    stat(out, "uptime", clock.uptime());
    stat(out, "time", clock.unix_now());
    stat(out, "version", crate::MEMCACHED_VERSION);
    stat(out, "libevent", "mio");
    stat(out, "pointer_size", usize::BITS);
    stat(out, "rusage_user", user);
    stat(out, "rusage_system", system);
    stat(out, "max_connections", s.max_conns);
    stat(
        out,
        "curr_connections",
        ctx.stats.curr_connections.load(Ordering::Relaxed),
    );
    stat(out, "total_connections", t.total_connections);
    stat(
        out,
        "rejected_connections",
        ctx.stats.rejected_connections.load(Ordering::Relaxed),
    );
    stat(
        out,
        "connection_structures",
        ctx.stats.curr_connections.load(Ordering::Relaxed),
    );
    stat(out, "response_obj_oom", 0);
    stat(out, "response_obj_count", 0);
    stat(out, "response_obj_bytes", 0);
    stat(out, "read_buf_count", 0);
    stat(out, "read_buf_bytes", 0);
    stat(out, "read_buf_bytes_free", 0);
    stat(out, "read_buf_oom", 0);
    stat(out, "reserved_fds", 0);
    stat(out, "cmd_get", t.cmd_get);
    stat(out, "cmd_set", t.cmd_set);
    stat(out, "cmd_flush", t.cmd_flush);
    stat(out, "cmd_touch", t.cmd_touch);
    stat(out, "cmd_meta", 0);
    stat(out, "get_hits", t.get_hits);
    stat(out, "get_misses", t.get_misses);
    stat(out, "get_expired", t.get_expired);
    stat(out, "get_flushed", t.get_flushed);
    stat(out, "delete_misses", t.delete_misses);
    stat(out, "delete_hits", t.delete_hits);
    stat(out, "incr_misses", t.incr_misses);
    stat(out, "incr_hits", t.incr_hits);
    stat(out, "decr_misses", t.decr_misses);
    stat(out, "decr_hits", t.decr_hits);
    stat(out, "cas_misses", t.cas_misses);
    stat(out, "cas_hits", t.cas_hits);
    stat(out, "cas_badval", t.cas_badval);
    stat(out, "touch_hits", t.touch_hits);
    stat(out, "touch_misses", t.touch_misses);
    stat(out, "store_too_large", t.store_too_large);
    stat(out, "store_no_memory", t.store_no_memory);
    stat(out, "auth_cmds", 0); // no auth yet
    stat(out, "auth_errors", 0);
    stat(out, "idle_kicks", t.idle_kicks);
    stat(out, "bytes_read", t.bytes_read);
    stat(out, "bytes_written", t.bytes_written);
    stat(out, "limit_maxbytes", st.limit);
    stat(out, "accepting_conns", 1);
    stat(out, "listen_disabled_num", 0);
    stat(out, "time_in_listen_disabled_us", 0);
    stat(out, "threads", s.threads);
    stat(out, "conn_yields", t.conn_yields);
    stat(
        out,
        "hash_power_level",
        ctx.store.stripe_count().trailing_zeros(),
    );
    stat(out, "hash_bytes", st.index_bytes);
    stat(out, "hash_is_expanding", 0);
    for name in [
        "slab_reassign_rescues",
        "slab_reassign_chunk_rescues",
        "slab_reassign_evictions_nomem",
        "slab_reassign_inline_reclaim",
        "slab_reassign_busy_items",
        "slab_reassign_busy_deletes",
        "slab_reassign_running",
    ] {
        stat(out, name, 0);
    }
    stat(out, "slabs_moved", st.slabs_moved);
    stat(out, "lru_crawler_running", 0);
    stat(out, "lru_crawler_starts", 0);
    for name in [
        "lru_maintainer_juggles",
        "malloc_fails",
        "log_worker_dropped",
        "log_worker_written",
        "log_watcher_skipped",
        "log_watcher_sent",
        "log_watchers",
        "unexpected_napi_ids",
        "round_robin_fallback",
    ] {
        stat(out, name, 0);
    }
    stat(out, "bytes", st.bytes);
    stat(out, "curr_items", st.curr_items);
    stat(out, "total_items", st.total_items);
    stat(out, "slab_global_page_pool", st.page_pool);
    stat(out, "expired_unfetched", st.expired_unfetched);
    stat(out, "evicted_unfetched", st.evicted_unfetched);
    stat(out, "evicted_active", 0);
    stat(out, "evictions", st.evictions);
    stat(out, "reclaimed", st.reclaimed);
    stat(out, "crawler_reclaimed", st.crawler_reclaimed);
    stat(out, "crawler_items_checked", st.crawler_items_checked);
    stat(out, "lrutail_reflocked", st.lrutail_reflocked);
    stat(out, "moves_to_cold", 0);
    stat(out, "moves_to_warm", 0);
    stat(out, "moves_within_lru", st.moves_within_lru);
    stat(out, "direct_reclaims", st.direct_reclaims);
    stat(out, "lru_bumps_dropped", 0);
}

/// `stats settings`
fn settings(ctx: &Context<'_>, out: &mut dyn Reply) {
    let s = ctx.settings;
    let (inter, socket, umask) = match &s.listen {
        Listen::Tcp(_) => (s.inter.clone(), "NULL".to_string(), "700".to_string()),
        Listen::Unix(path, mask) => (
            "NULL".into(),
            path.display().to_string(),
            format!("{mask:o}"),
        ),
    };
    stat(out, "maxbytes", ctx.store.limit());
    stat(out, "maxconns", s.max_conns);
    stat(out, "tcpport", s.tcp_port);
    stat(out, "udpport", 0);
    stat(out, "inter", inter);
    stat(
        out,
        "verbosity",
        ctx.stats.verbosity.load(Ordering::Relaxed),
    );
    stat(out, "oldest", 0);
    stat(
        out,
        "evictions",
        if s.disable_evictions { "off" } else { "on" },
    );
    stat(out, "domain_socket", socket);
    stat(out, "umask", umask);
    stat(out, "shutdown_command", yes_no(s.shutdown_command));
    stat(out, "growth_factor", format!("{:.2}", s.growth_factor));
    stat(out, "chunk_size", s.chunk_size);
    stat(out, "num_threads", s.threads);
    stat(out, "num_threads_per_udp", s.threads);
    stat(out, "stat_key_prefix", s.prefix_delimiter as char);
    stat(out, "detail_enabled", yes_no(ctx.stats.detail.is_enabled()));
    stat(out, "reqs_per_event", s.reqs_per_event);
    stat(out, "cas_enabled", yes_no(s.use_cas));
    stat(out, "tcp_backlog", s.backlog);
    stat(out, "binding_protocol", "ascii");
    stat(out, "auth_enabled_sasl", "no");
    stat(out, "auth_enabled_ascii", "no");
    stat(out, "item_size_max", s.item_size_max);
    stat(out, "maxconns_fast", "yes");
    stat(out, "hashpower_init", 0);
    stat(out, "slab_reassign", "yes");
    stat(out, "slab_automove", ctx.store.automove_mode());
    stat(out, "slab_automove_ratio", "0.80");
    stat(out, "slab_automove_window", 30);
    stat(out, "slab_chunk_max", ctx.store.class_sizes().chunk_max());
    stat(out, "lru_crawler", yes_no(s.lru_crawler));
    stat(out, "lru_crawler_sleep", 100);
    stat(out, "lru_crawler_tocrawl", 0);
    stat(out, "tail_repair_time", 0);
    stat(out, "flush_enabled", yes_no(s.flush_enabled));
    stat(out, "dump_enabled", yes_no(s.dump_enabled));
    stat(out, "hash_algorithm", "ahash");
    stat(out, "lru_maintainer_thread", "no");
    stat(out, "lru_segmented", "no");
    stat(out, "hot_lru_pct", 20);
    stat(out, "warm_lru_pct", 40);
    stat(out, "hot_max_factor", "0.20");
    stat(out, "warm_max_factor", "2.00");
    stat(out, "temp_lru", "no");
    stat(out, "temporary_ttl", 61);
    stat(out, "idle_timeout", s.idle_timeout);
    stat(out, "watcher_logbuf_size", 0);
    stat(out, "worker_logbuf_size", 0);
    stat(out, "read_buf_mem_limit", 0);
    stat(out, "track_sizes", yes_no(s.track_sizes));
    stat(out, "inline_ascii_response", "no");
    stat(out, "ext_item_size", 512);
    stat(out, "ext_item_age", 0);
    stat(out, "ext_low_ttl", 0);
    stat(out, "ext_recache_rate", 0);
    stat(out, "ext_wbuf_size", 0);
    stat(out, "ext_compact_under", 0);
    stat(out, "ext_drop_under", 0);
    stat(out, "ext_max_sleep", 0);
    stat(out, "ext_max_frag", "0.00");
    stat(out, "slab_automove_freeratio", "0.000");
    stat(out, "ext_drop_unread", "no");
    stat(out, "ssl_enabled", "no");
    stat(out, "ssl_chain_cert", "NULL");
    stat(out, "ssl_key", "NULL");
    stat(out, "ssl_verify_mode", 0);
    stat(out, "ssl_keyformat", 1);
    stat(out, "ssl_ciphers", "NULL");
    stat(out, "ssl_ca_cert", "NULL");
    stat(out, "ssl_wbuf_size", 16384);
    stat(out, "ssl_session_cache", "no");
    stat(out, "ssl_kernel_tls", "no");
    stat(out, "ssl_min_version", "tlsv1.2");
    stat(out, "num_napi_ids", "(null)");
    stat(out, "memory_file", "(null)");
}

/// `stats items`: per slab class, memcached's field names. ferrocache's LRU
/// is flat (no hot/warm/temp segments): every item counts as cold.
fn items(ctx: &Context<'_>, out: &mut dyn Reply) {
    for r in ctx.store.class_reports() {
        let c = &r.stats;
        if c.number == 0 && c.evicted == 0 && c.outofmemory == 0 {
            continue;
        }
        let evicted_time = ctx.store.clock().now().saturating_sub(c.evicted_time);
        let rows: [(&str, u64); 25] = [
            ("number", c.number),
            ("number_hot", 0),
            ("number_warm", 0),
            ("number_cold", c.number),
            ("number_temp", 0),
            ("age_hot", 0),
            ("age_warm", 0),
            ("age", r.age as u64),
            ("mem_requested", c.mem_requested),
            ("evicted", c.evicted),
            ("evicted_nonzero", c.evicted_nonzero),
            (
                "evicted_time",
                if c.evicted > 0 {
                    evicted_time as u64
                } else {
                    0
                },
            ),
            ("outofmemory", c.outofmemory),
            ("tailrepairs", 0),
            ("reclaimed", c.reclaimed),
            ("expired_unfetched", c.expired_unfetched),
            ("evicted_unfetched", c.evicted_unfetched),
            ("evicted_active", 0),
            ("crawler_reclaimed", c.crawler_reclaimed),
            ("crawler_items_checked", c.crawler_items_checked),
            ("lrutail_reflocked", c.lrutail_reflocked),
            ("moves_to_cold", 0),
            ("moves_to_warm", 0),
            ("moves_within_lru", c.moves_within_lru),
            ("direct_reclaims", c.direct_reclaims),
        ];
        for (name, value) in rows {
            stat(out, &format!("items:{}:{name}", r.id), value);
        }
    }
}

/// `stats slabs`: per slab class that owns pages, then totals.
fn slabs(ctx: &Context<'_>, out: &mut dyn Reply) {
    let reports = ctx.store.class_reports();
    for r in reports.iter().filter(|r| r.total_pages > 0) {
        let rows: [(&str, usize); 7] = [
            ("chunk_size", r.chunk_size),
            ("chunks_per_page", r.chunks_per_page),
            ("total_pages", r.total_pages),
            ("total_chunks", r.total_pages * r.chunks_per_page),
            ("used_chunks", r.used_chunks),
            ("free_chunks", r.free_chunks),
            ("free_chunks_end", r.free_chunks_end),
        ];
        for (name, value) in rows {
            stat(out, &format!("{}:{name}", r.id), value);
        }
    }
    let st = ctx.store.stats();
    stat(out, "active_slabs", st.active_slabs);
    stat(out, "total_malloced", st.total_malloced);
}

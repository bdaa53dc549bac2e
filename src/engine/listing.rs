//! The statistics listings (`stats` through [`general`], `stats settings`,
//! `stats items`, `stats slabs`, `stats sizes`, `stats conns`, `stats
//! detail`) and `stats reset`, in memcached 1.6's field order and names.

use super::context::Context;
use super::general;
use crate::config::Listen;
use crate::model::{Error, Reply, Response, StatsGroup};
use std::fmt::Display;
use std::sync::atomic::Ordering;

/// Answers a `stats` request.
pub fn stats(group: StatsGroup<'_>, ctx: &Context<'_>, out: &mut dyn Reply) {
    match group {
        StatsGroup::General => {
            for (name, value) in general::listing(ctx) {
                stat(out, name, value);
            }
        }
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
        StatsGroup::HotKeys => hot_keys(ctx, out),
        StatsGroup::Detail(arg) => return detail(arg, ctx, out),
        StatsGroup::CacheDump(args) => return super::dump::cache_dump(args, ctx, out),
        StatsGroup::Unknown(_) => return out.reply(Response::Error(Error::UnknownCommand)),
    }
    out.reply(Response::End);
}

/// `stats hotkeys`: the hottest keys read or written, with their estimated
/// operations per second, hottest first (`-o hotkeys`).
fn hot_keys(ctx: &Context<'_>, out: &mut dyn Reply) {
    match ctx.stats.hot_keys(ctx.store.clock().now()) {
        Some(report) => {
            for h in report.all {
                let key = crate::metrics::hotkeys::printable(&h.key);
                stat(out, &key, format!("{:.1}", h.per_second));
            }
        }
        None => stat(out, "hotkeys_status", "disabled"),
    }
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
    stat(out, "binding_protocol", s.protocol.name());
    stat(out, "auth_enabled_sasl", yes_no(s.auth.sasl));
    // memcached shows -Y's path, or "no".
    match &s.auth.auth_file {
        Some(file) => stat(out, "auth_enabled_ascii", file.display()),
        None => stat(out, "auth_enabled_ascii", "no"),
    }
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
    let ssl = &s.ssl;
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .map_or_else(|| "NULL".to_string(), |p| p.display().to_string())
    };
    stat(out, "ssl_enabled", yes_no(ssl.enabled));
    stat(out, "ssl_chain_cert", path(&ssl.chain_cert));
    stat(out, "ssl_key", path(&ssl.key));
    stat(out, "ssl_verify_mode", ssl.verify_mode);
    stat(out, "ssl_keyformat", ssl.keyformat);
    stat(out, "ssl_ciphers", ssl.ciphers.as_deref().unwrap_or("NULL"));
    stat(out, "ssl_ca_cert", path(&ssl.ca_cert));
    stat(out, "ssl_wbuf_size", ssl.wbuf_size);
    stat(out, "ssl_session_cache", yes_no(ssl.session_cache));
    stat(out, "ssl_kernel_tls", "no");
    stat(out, "ssl_min_version", ssl.min_version.name());
    stat(out, "num_napi_ids", "(null)");
    stat(out, "memory_file", "(null)");
}

/// `stats items`: per slab class, memcached's field names and order (its
/// segmented LRU without the temporary segment, as memcached prints it
/// unless `temp_lru` is on; `store::LruRow` says which figures read 0).
fn items(ctx: &Context<'_>, out: &mut dyn Reply) {
    let now = ctx.store.clock().now();
    let ops = ctx.stats.class_ops();
    for r in ctx.store.class_reports().iter().filter(|r| r.has_items()) {
        let hits = ops.get(usize::from(r.id)).map_or(0, |o| o.get_hits);
        for (m, value) in r.items_rows(now, hits) {
            stat(out, &format!("items:{}:{}", r.id, m.name), value);
        }
    }
}

/// `stats slabs`: per slab class that owns pages (its pages and chunks,
/// then the operations the workers counted on its items), then totals.
fn slabs(ctx: &Context<'_>, out: &mut dyn Reply) {
    let reports = ctx.store.class_reports();
    let ops = ctx.stats.class_ops();
    for r in reports.iter().filter(|r| r.total_pages > 0) {
        let class_ops = ops.get(usize::from(r.id)).copied().unwrap_or_default();
        for (m, value) in r.slab_row().readings().chain(class_ops.readings()) {
            stat(out, &format!("{}:{}", r.id, m.name), value);
        }
    }
    let st = ctx.store.stats();
    stat(out, "active_slabs", st.active_slabs);
    stat(out, "total_malloced", st.total_malloced);
}

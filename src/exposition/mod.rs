//! What `GET /metrics` answers: every figure of `stats`, `stats items`
//! and `stats slabs`, read the way those listings read them (the workers'
//! counters, the connection figures, the store's totals and per-class
//! reports) with the kind and description declared where each is counted,
//! under memcached_exporter's names ([`names`]); plus the request latency
//! histograms and the hot keys, which memcached does not have. Written in
//! the OpenMetrics text format by the `prometheus-client` crate.
//!
//! Reading never blocks a worker: counters are single-writer atomics, and
//! the store's reports lock each slab class and index stripe only long
//! enough to copy a few numbers, as `stats` does.

mod names;

use crate::described::{Kind, Metric};
use crate::engine::general::{self, Reading};
use crate::engine::Context;
use crate::metrics::hotkeys::{self, HotKey};
use crate::metrics::latency::{self, CommandKind};
use crate::metrics::ClassOps;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How a family's samples move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Counter,
    Gauge,
    Histogram,
}

#[derive(Debug, Clone)]
enum Value {
    Int(u64),
    Float(f64),
    Histogram {
        sum: f64,
        count: u64,
        /// (upper bound, requests in this bucket alone); `f64::MAX` is +Inf.
        buckets: Vec<(f64, u64)>,
    },
}

type Labels = Vec<(String, String)>;

#[derive(Debug)]
struct Family {
    /// The name without a counter's `_total`, which the encoder appends.
    name: String,
    help: String,
    kind: Type,
    series: Vec<(Labels, Value)>,
}

/// Every family of one scrape, in the order first added.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    /// Adds a sample named `sample` (a counter's ends in `_total`).
    fn add(&mut self, sample: &str, help: &str, kind: Type, labels: Labels, value: Value) {
        let name = match kind {
            Type::Counter => sample.strip_suffix("_total").unwrap_or(sample),
            _ => sample,
        };
        if let Some(f) = self.families.iter_mut().find(|f| f.name == name) {
            debug_assert_eq!(f.kind, kind, "{name} added as two types");
            f.series.push((labels, value));
            return;
        }
        self.families.push(Family {
            name: name.to_string(),
            help: help.to_string(),
            kind,
            series: vec![(labels, value)],
        });
    }

    /// Adds a described statistic under its exporter name (from `table`)
    /// or `<prefix><field>`; `labels` come first (`slab`).
    fn add_described(
        &mut self,
        table: &'static [(&str, names::Series)],
        prefix: &str,
        m: &Metric,
        labels: &[(&str, String)],
        reading: &Reading,
    ) {
        let mut labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let (sample, kind, help) = match names::lookup(table, m.name) {
            Some((sample, extra)) => {
                labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
                let kind = if sample.ends_with("_total") {
                    Type::Counter
                } else {
                    // The exporter's few counters without `_total` (uptime,
                    // moves_*) are gauges here: OpenMetrics counters end in it.
                    Type::Gauge
                };
                let help = match sample {
                    names::COMMANDS => names::COMMANDS_HELP,
                    names::LRU_HITS => names::LRU_HITS_HELP,
                    _ => m.help,
                };
                (sample.to_string(), kind, help)
            }
            None if m.kind == Kind::Counter => {
                (format!("{prefix}{}_total", m.name), Type::Counter, m.help)
            }
            None => (format!("{prefix}{}", m.name), Type::Gauge, m.help),
        };
        let value = match reading {
            Reading::Number(n) => Value::Int(*n),
            Reading::Text(t) => match t.parse::<f64>() {
                Ok(x) => Value::Float(x),
                Err(_) => {
                    // A fact in words (the version): 1, labelled with it.
                    labels.push((m.name.to_string(), t.clone()));
                    Value::Int(1)
                }
            },
        };
        let kind = match (kind, &value) {
            (Type::Counter, _) => Type::Counter,
            _ => Type::Gauge,
        };
        self.add(&sample, help, kind, labels, value);
    }

    /// The family names, for tests.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.families.iter().map(|f| f.name.as_str())
    }
}

/// Every figure the endpoint shows, read now.
pub fn gather(ctx: &Context<'_>) -> Exposition {
    let mut e = Exposition::default();
    e.add(
        "memcached_up",
        "Always 1: the server answered (memcached_exporter's reachability)",
        Type::Gauge,
        Vec::new(),
        Value::Int(1),
    );
    let general = general::readings(ctx);
    for (m, reading) in &general {
        e.add_described(names::GENERAL, "memcached_", m, &[], reading);
    }
    // memcached_exporter counts sets as cmd_set less the cas requests.
    let number = |name: &str| {
        general
            .iter()
            .find(|(m, _)| m.name == name)
            .map_or(0, |(_, r)| match r {
                Reading::Number(n) => *n,
                Reading::Text(_) => 0,
            })
    };
    let cas = number("cas_misses") + number("cas_hits") + number("cas_badval");
    e.add(
        names::COMMANDS,
        names::COMMANDS_HELP,
        Type::Counter,
        labels(&[("command", "set"), ("status", "hit")]),
        Value::Int(number("cmd_set").saturating_sub(cas)),
    );
    let now = ctx.store.clock().now();
    let ops = ctx.stats.class_ops();
    for r in ctx.store.class_reports() {
        let slab = [("slab", r.id.to_string())];
        let class_ops = ops.get(usize::from(r.id)).copied().unwrap_or_default();
        if r.has_items() {
            for (m, v) in r.items_rows(now, class_ops.get_hits) {
                let reading = Reading::Number(v);
                e.add_described(names::ITEMS, "memcached_slab_items_", m, &slab, &reading);
            }
        }
        if r.total_pages > 0 {
            for (m, v) in r.slab_row().readings() {
                let reading = Reading::Number(v);
                e.add_described(names::SLABS, "memcached_slab_", m, &slab, &reading);
            }
            add_slab_commands(&mut e, &slab[0].1, &class_ops);
        }
    }
    if ctx.stats.latency_on() {
        add_latency(&mut e, ctx);
    }
    if let Some(report) = ctx.stats.hot_keys(now) {
        add_hot_keys(&mut e, "read", &report.reads);
        add_hot_keys(&mut e, "write", &report.writes);
    }
    e
}

/// One class's `memcached_slab_commands_total` series, as the exporter
/// derives them from `stats slabs`.
fn add_slab_commands(e: &mut Exposition, slab: &str, ops: &ClassOps) {
    let value = |field: &str| {
        ops.readings()
            .find(|(m, _)| m.name == field)
            .map_or(0, |(_, v)| v)
    };
    let set = ops
        .cmd_set
        .saturating_sub(ops.cas_hits.wrapping_add(ops.cas_badval));
    let rows = names::SLAB_COMMAND_FIELDS
        .iter()
        .map(|&(field, command, status)| (command, status, value(field)))
        .chain([("set", "hit", set)]);
    for (command, status, v) in rows {
        e.add(
            names::SLAB_COMMANDS,
            names::SLAB_COMMANDS_HELP,
            Type::Counter,
            labels(&[("slab", slab), ("command", command), ("status", status)]),
            Value::Int(v),
        );
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn add_latency(e: &mut Exposition, ctx: &Context<'_>) {
    let snap = ctx.stats.latency();
    for (k, kind) in CommandKind::ALL.iter().enumerate() {
        let counts = &snap.counts[k];
        let mut buckets: Vec<(f64, u64)> = (0..latency::FINITE_BUCKETS)
            .map(|i| (latency::upper_bound_seconds(i), counts[i]))
            .collect();
        buckets.push((f64::MAX, counts[latency::FINITE_BUCKETS]));
        e.add(
            "memcached_request_duration_seconds",
            "Time the server spent executing a request, from parsed to answered (buffered), by command kind",
            Type::Histogram,
            labels(&[("command", kind.name())]),
            Value::Histogram {
                sum: snap.sum_nanos[k] as f64 / 1e9,
                count: snap.count(*kind),
                buckets,
            },
        );
    }
}

fn add_hot_keys(e: &mut Exposition, op: &str, keys: &[HotKey]) {
    for h in keys {
        e.add(
            "memcached_hotkey_ops_per_second",
            "Estimated operations per second on the hottest keys (sampled; -o hotkeys keys per op)",
            Type::Gauge,
            labels(&[("key", &hotkeys::printable(&h.key)), ("op", op)]),
            Value::Float(h.per_second),
        );
    }
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        for f in &self.families {
            let kind = match f.kind {
                Type::Counter => MetricType::Counter,
                Type::Gauge => MetricType::Gauge,
                Type::Histogram => MetricType::Histogram,
            };
            let mut m = encoder.encode_descriptor(&f.name, &f.help, None, kind)?;
            for (labels, value) in &f.series {
                if labels.is_empty() {
                    encode_value(&mut m, f.kind, value)?;
                } else {
                    encode_value(&mut m.encode_family(labels)?, f.kind, value)?;
                }
            }
        }
        Ok(())
    }
}

fn encode_value(m: &mut MetricEncoder<'_>, kind: Type, value: &Value) -> fmt::Result {
    match (kind, value) {
        (Type::Counter, Value::Int(n)) => m.encode_counter::<NoLabelSet, _, f64>(n, None),
        (Type::Counter, Value::Float(x)) => m.encode_counter::<NoLabelSet, _, f64>(x, None),
        (_, Value::Int(n)) => m.encode_gauge(n),
        (_, Value::Float(x)) => m.encode_gauge(x),
        (
            _,
            Value::Histogram {
                sum,
                count,
                buckets,
            },
        ) => m.encode_histogram::<NoLabelSet>(*sum, *count, buckets, None),
    }
}

/// The text `GET /metrics` answers.
pub fn render(ctx: &Context<'_>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(gather(ctx)));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests;

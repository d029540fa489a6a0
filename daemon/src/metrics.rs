//! Prometheus metrics at `GET /-/metrics` on the ingress port: request counts and
//! latency per deployment (as Ray's `ray_serve_num_http_requests` and
//! `ray_serve_http_request_latency_ms`), queue and in-flight gauges, batch sizes,
//! and multiplexed models per replica. Everything is read from live counters when
//! scraped; nothing is kept per request beyond a few atomic increments.

use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rserve_protocol::status::BatchFigures;

use crate::router::RouteTable;

/// Latency bucket bounds in milliseconds: Ray's `DEFAULT_LATENCY_BUCKET_MS`.
pub const LATENCY_BUCKETS_MS: [f64; 19] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 1000.0, 2000.0, 5000.0,
    10000.0, 60000.0, 120000.0, 300000.0, 600000.0,
];

/// Request counters of one deployment (on this node's ingress).
#[derive(Debug, Default)]
pub struct RequestStats {
    /// By status class: 1xx .. 5xx.
    by_class: [AtomicU64; 5],
    /// Non-cumulative counts per latency bucket; the last one is +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
    sum_us: AtomicU64,
}

impl RequestStats {
    /// Counts one answered request: its status and time to the response head.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Ordering::Relaxed);
        let ms = elapsed.as_secs_f64() * 1000.0;
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Escapes a label value (backslash, quote, newline).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every metric of the deployments in `table` (Prometheus text format 0.0.4).
pub fn render(table: &RouteTable) -> String {
    let mut routers = Vec::new();
    let mut seen = BTreeSet::new();
    for router in table
        .routes()
        .iter()
        .map(|r| &r.router)
        .chain(table.models().iter().map(|m| &m.router))
    {
        if seen.insert(router.name().to_owned()) {
            routers.push(router.clone());
        }
    }
    let mut out = String::new();
    let deployment_labels = |name: &str| {
        let (app, dep) = name.split_once('/').unwrap_or(("", name));
        format!(
            "application=\"{}\",deployment=\"{}\"",
            label(app),
            label(dep)
        )
    };

    header(
        &mut out,
        "rserve_requests_total",
        "counter",
        "Requests answered, by status class.",
    );
    for r in &routers {
        let l = deployment_labels(r.name());
        for (i, n) in r.stats().by_class.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                let _ = writeln!(out, "rserve_requests_total{{{l},code=\"{}xx\"}} {n}", i + 1);
            }
        }
    }

    header(
        &mut out,
        "rserve_request_latency_ms",
        "histogram",
        "Time from arrival to the response head (queueing included).",
    );
    for r in &routers {
        let l = deployment_labels(r.name());
        let stats = r.stats();
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            cumulative += stats.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "rserve_request_latency_ms_bucket{{{l},le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += stats.buckets[LATENCY_BUCKETS_MS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "rserve_request_latency_ms_bucket{{{l},le=\"+Inf\"}} {cumulative}"
        );
        let sum_ms = stats.sum_us.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(out, "rserve_request_latency_ms_sum{{{l}}} {sum_ms}");
        let _ = writeln!(out, "rserve_request_latency_ms_count{{{l}}} {cumulative}");
    }

    header(
        &mut out,
        "rserve_queued_requests",
        "gauge",
        "Requests waiting for a replica slot.",
    );
    for r in &routers {
        let _ = writeln!(
            out,
            "rserve_queued_requests{{{}}} {}",
            deployment_labels(r.name()),
            r.queued()
        );
    }

    header(
        &mut out,
        "rserve_replica_ongoing_requests",
        "gauge",
        "Requests in flight per replica.",
    );
    for r in &routers {
        let l = deployment_labels(r.name());
        for replica in r.replicas().iter() {
            let _ = writeln!(
                out,
                "rserve_replica_ongoing_requests{{{l},replica=\"{}\"}} {}",
                label(replica.id()),
                replica.ongoing()
            );
        }
    }

    header(
        &mut out,
        "rserve_batch_size",
        "histogram",
        "Inputs per model call (dynamic batching), or sequences per decode step (chat).",
    );
    for r in &routers {
        let mut figures = BatchFigures::default();
        for replica in r.replicas().iter() {
            figures.merge(&replica.batch_figures());
        }
        if figures.batches == 0 {
            continue;
        }
        let l = deployment_labels(r.name());
        let mut bounds: Vec<(u64, u64)> = figures
            .size_histogram
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, *v)))
            .collect();
        bounds.sort_unstable();
        let top = bounds.last().map_or(1, |(b, _)| *b);
        let mut cumulative = 0;
        let mut bound = 1;
        while bound <= top {
            cumulative += bounds
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0, |(_, v)| *v);
            let _ = writeln!(
                out,
                "rserve_batch_size_bucket{{{l},le=\"{bound}\"}} {cumulative}"
            );
            bound *= 2;
        }
        let _ = writeln!(
            out,
            "rserve_batch_size_bucket{{{l},le=\"+Inf\"}} {}",
            figures.batches
        );
        let _ = writeln!(out, "rserve_batch_size_sum{{{l}}} {}", figures.inputs);
        let _ = writeln!(out, "rserve_batch_size_count{{{l}}} {}", figures.batches);
    }

    header(
        &mut out,
        "rserve_multiplexed_models",
        "gauge",
        "Multiplexed models loaded per replica.",
    );
    let mut loaded_lines = String::new();
    let mut load_lines = String::new();
    let mut eviction_lines = String::new();
    for r in routers.iter().filter(|r| r.multiplexed()) {
        let l = deployment_labels(r.name());
        for replica in r.replicas().iter() {
            let id = label(replica.id());
            let models = replica.models().loaded();
            let _ = writeln!(
                out,
                "rserve_multiplexed_models{{{l},replica=\"{id}\"}} {}",
                models.len()
            );
            for m in models {
                let _ = writeln!(
                    loaded_lines,
                    "rserve_multiplexed_model_loaded{{{l},replica=\"{id}\",model_id=\"{}\"}} 1",
                    label(&m)
                );
            }
            let (loads, evictions) = replica.models().load_counts();
            let _ = writeln!(
                load_lines,
                "rserve_multiplexed_model_loads_total{{{l},replica=\"{id}\"}} {loads}"
            );
            let _ = writeln!(
                eviction_lines,
                "rserve_multiplexed_model_evictions_total{{{l},replica=\"{id}\"}} {evictions}"
            );
        }
    }
    header(
        &mut out,
        "rserve_multiplexed_model_loaded",
        "gauge",
        "1 for each model a replica holds.",
    );
    out.push_str(&loaded_lines);
    header(
        &mut out,
        "rserve_multiplexed_model_loads_total",
        "counter",
        "Model loads per replica.",
    );
    out.push_str(&load_lines);
    header(
        &mut out,
        "rserve_multiplexed_model_evictions_total",
        "counter",
        "LRU evictions per replica.",
    );
    out.push_str(&eviction_lines);
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_the_right_bucket() {
        let stats = RequestStats::default();
        stats.record(200, Duration::from_micros(500));
        stats.record(200, Duration::from_millis(7));
        stats.record(503, Duration::from_secs(1000));
        stats.record(404, Duration::from_millis(1));
        assert_eq!(stats.by_class[1].load(Ordering::Relaxed), 2);
        assert_eq!(stats.by_class[3].load(Ordering::Relaxed), 1);
        assert_eq!(stats.by_class[4].load(Ordering::Relaxed), 1);
        assert_eq!(stats.buckets[0].load(Ordering::Relaxed), 2, "<= 1 ms");
        assert_eq!(stats.buckets[3].load(Ordering::Relaxed), 1, "<= 10 ms");
        assert_eq!(stats.buckets[19].load(Ordering::Relaxed), 1, "+Inf");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

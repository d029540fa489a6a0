//! Prometheus metrics at `GET /-/metrics` on the ingress port: request counts and
//! latency per deployment (as Ray's `ray_serve_num_http_requests` and
//! `ray_serve_http_request_latency_ms`), queue and in-flight gauges, batch sizes,
//! and multiplexed models per replica. Rendered from [`DeploymentSnapshot`]s
//! taken when scraped; nothing is kept per request beyond a few atomic
//! increments.

use std::fmt::Write;

use rserve_protocol::status::BatchFigures;

use super::{DeploymentSnapshot, LATENCY_BUCKETS_MS};

/// Renders every metric of `deployments` (Prometheus text format 0.0.4).
pub fn render(deployments: &[DeploymentSnapshot]) -> String {
    let mut out = String::new();
    requests(&mut out, deployments);
    latency(&mut out, deployments);
    queued(&mut out, deployments);
    scale(&mut out, deployments);
    ongoing(&mut out, deployments);
    batch_sizes(&mut out, deployments);
    prefix_cache(&mut out, deployments);
    multiplexed(&mut out, deployments);
    out
}

/// `rserve_requests_total{code}`.
fn requests(out: &mut String, deployments: &[DeploymentSnapshot]) {
    header(
        out,
        "rserve_requests_total",
        "counter",
        "Requests answered, by status class.",
    );
    for d in deployments {
        let l = labels(d);
        for (i, n) in d.requests.by_class.iter().enumerate() {
            if *n > 0 {
                let _ = writeln!(out, "rserve_requests_total{{{l},code=\"{}xx\"}} {n}", i + 1);
            }
        }
    }
}

/// `rserve_request_latency_ms` (histogram).
fn latency(out: &mut String, deployments: &[DeploymentSnapshot]) {
    header(
        out,
        "rserve_request_latency_ms",
        "histogram",
        "Time from arrival to the response head (queueing included).",
    );
    for d in deployments {
        let l = labels(d);
        let mut cumulative = 0;
        for (i, bound) in LATENCY_BUCKETS_MS.iter().enumerate() {
            cumulative += d.requests.buckets[i];
            let _ = writeln!(
                out,
                "rserve_request_latency_ms_bucket{{{l},le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += d.requests.buckets[LATENCY_BUCKETS_MS.len()];
        let _ = writeln!(
            out,
            "rserve_request_latency_ms_bucket{{{l},le=\"+Inf\"}} {cumulative}"
        );
        let sum_ms = d.requests.sum_us as f64 / 1000.0;
        let _ = writeln!(out, "rserve_request_latency_ms_sum{{{l}}} {sum_ms}");
        let _ = writeln!(out, "rserve_request_latency_ms_count{{{l}}} {cumulative}");
    }
}

/// `rserve_queued_requests`.
fn queued(out: &mut String, deployments: &[DeploymentSnapshot]) {
    header(
        out,
        "rserve_queued_requests",
        "gauge",
        "Requests waiting for a replica slot.",
    );
    for d in deployments {
        let _ = writeln!(out, "rserve_queued_requests{{{}}} {}", labels(d), d.queued);
    }
}

/// `rserve_deployment_target_replicas`, `rserve_deployment_running_replicas`
/// and `rserve_autoscaling_decisions_total{direction}` (Ray's
/// `ray_serve_autoscaling_target_replicas` and decisions).
fn scale(out: &mut String, deployments: &[DeploymentSnapshot]) {
    header(
        out,
        "rserve_deployment_target_replicas",
        "gauge",
        "Replicas the deployment converges to (fixed, or its autoscaler's target).",
    );
    for d in deployments {
        if let Some(target) = d.target_replicas {
            let _ = writeln!(
                out,
                "rserve_deployment_target_replicas{{{}}} {target}",
                labels(d)
            );
        }
    }
    header(
        out,
        "rserve_deployment_unschedulable_replicas",
        "gauge",
        "Replicas of the target that no node has room for (the signal to grow the fleet).",
    );
    for d in deployments {
        if let Some(n) = d.unschedulable_replicas {
            let _ = writeln!(
                out,
                "rserve_deployment_unschedulable_replicas{{{}}} {n}",
                labels(d)
            );
        }
    }
    header(
        out,
        "rserve_deployment_running_replicas",
        "gauge",
        "Replicas this node routes to (RUNNING).",
    );
    for d in deployments {
        let _ = writeln!(
            out,
            "rserve_deployment_running_replicas{{{}}} {}",
            labels(d),
            d.replicas.len()
        );
    }
    header(
        out,
        "rserve_autoscaling_decisions_total",
        "counter",
        "Autoscaling decisions, by direction.",
    );
    for d in deployments.iter().filter(|d| d.target_replicas.is_some()) {
        let l = labels(d);
        let _ = writeln!(
            out,
            "rserve_autoscaling_decisions_total{{{l},direction=\"up\"}} {}",
            d.scale_ups
        );
        let _ = writeln!(
            out,
            "rserve_autoscaling_decisions_total{{{l},direction=\"down\"}} {}",
            d.scale_downs
        );
    }
}

/// `rserve_replica_ongoing_requests`.
fn ongoing(out: &mut String, deployments: &[DeploymentSnapshot]) {
    header(
        out,
        "rserve_replica_ongoing_requests",
        "gauge",
        "Requests in flight per replica.",
    );
    for d in deployments {
        let l = labels(d);
        for r in &d.replicas {
            let _ = writeln!(
                out,
                "rserve_replica_ongoing_requests{{{l},replica=\"{}\"}} {}",
                escape(&r.replica_id),
                r.ongoing
            );
        }
    }
}

/// `rserve_batch_size` (histogram over power-of-two buckets).
fn batch_sizes(out: &mut String, deployments: &[DeploymentSnapshot]) {
    header(
        out,
        "rserve_batch_size",
        "histogram",
        "Inputs per model call (dynamic batching), or sequences per decode step (chat).",
    );
    for d in deployments {
        let figures = batch_figures(d);
        if figures.batches == 0 {
            continue;
        }
        let l = labels(d);
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
}

/// A deployment's batch figures, summed over its replicas.
fn batch_figures(d: &DeploymentSnapshot) -> BatchFigures {
    let mut figures = BatchFigures::default();
    for r in &d.replicas {
        figures.merge(&r.batches);
    }
    figures
}

/// `rserve_prefix_cache_queries_total` and `_hits_total` (chat, in prompt
/// tokens, as vLLM counts them): their ratio is the prefix cache's hit rate.
fn prefix_cache(out: &mut String, deployments: &[DeploymentSnapshot]) {
    let mut queries = String::new();
    let mut hits = String::new();
    for d in deployments {
        let figures = batch_figures(d);
        if figures.prompt_tokens == 0 {
            continue;
        }
        let l = labels(d);
        let _ = writeln!(
            queries,
            "rserve_prefix_cache_queries_total{{{l}}} {}",
            figures.prompt_tokens
        );
        let _ = writeln!(
            hits,
            "rserve_prefix_cache_hits_total{{{l}}} {}",
            figures.cached_prompt_tokens
        );
    }
    header(
        out,
        "rserve_prefix_cache_queries_total",
        "counter",
        "Prompt tokens of chat sequences started.",
    );
    out.push_str(&queries);
    header(
        out,
        "rserve_prefix_cache_hits_total",
        "counter",
        "Prompt tokens whose keys and values came from the prefix cache.",
    );
    out.push_str(&hits);
}

/// `rserve_multiplexed_models`, `_model_loaded`, `_model_loads_total`,
/// `_model_evictions_total`: one family after another, as the format wants.
fn multiplexed(out: &mut String, deployments: &[DeploymentSnapshot]) {
    let mut held = String::new();
    let mut loaded = String::new();
    let mut loads = String::new();
    let mut evictions = String::new();
    for d in deployments.iter().filter(|d| d.multiplexed) {
        let l = labels(d);
        for r in &d.replicas {
            let id = escape(&r.replica_id);
            let _ = writeln!(
                held,
                "rserve_multiplexed_models{{{l},replica=\"{id}\"}} {}",
                r.models.len()
            );
            for m in &r.models {
                let _ = writeln!(
                    loaded,
                    "rserve_multiplexed_model_loaded{{{l},replica=\"{id}\",model_id=\"{}\"}} 1",
                    escape(m)
                );
            }
            let _ = writeln!(
                loads,
                "rserve_multiplexed_model_loads_total{{{l},replica=\"{id}\"}} {}",
                r.model_loads
            );
            let _ = writeln!(
                evictions,
                "rserve_multiplexed_model_evictions_total{{{l},replica=\"{id}\"}} {}",
                r.model_evictions
            );
        }
    }
    for (name, kind, help, lines) in [
        (
            "rserve_multiplexed_models",
            "gauge",
            "Multiplexed models loaded per replica.",
            held,
        ),
        (
            "rserve_multiplexed_model_loaded",
            "gauge",
            "1 for each model a replica holds.",
            loaded,
        ),
        (
            "rserve_multiplexed_model_loads_total",
            "counter",
            "Model loads per replica.",
            loads,
        ),
        (
            "rserve_multiplexed_model_evictions_total",
            "counter",
            "LRU evictions per replica.",
            evictions,
        ),
    ] {
        header(out, name, kind, help);
        out.push_str(&lines);
    }
}

/// The labels naming a deployment.
fn labels(d: &DeploymentSnapshot) -> String {
    format!(
        "application=\"{}\",deployment=\"{}\"",
        escape(&d.app),
        escape(&d.deployment)
    )
}

/// Escapes a label value (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{ReplicaSnapshot, RequestFigures};

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_snapshot_renders_every_family() {
        let mut requests = RequestFigures::default();
        requests.by_class[1] = 3;
        requests.by_class[4] = 1;
        requests.buckets[0] = 2;
        requests.buckets[3] = 2;
        requests.sum_us = 12_500;
        let mut batches = BatchFigures::default();
        batches.record(3);
        batches.record(1);
        batches.record_prompt(40, 32);
        let text = render(&[DeploymentSnapshot {
            app: "a".into(),
            deployment: "d".into(),
            requests,
            queued: 2,
            multiplexed: true,
            target_replicas: Some(3),
            unschedulable_replicas: Some(1),
            scale_ups: 2,
            scale_downs: 1,
            replicas: vec![ReplicaSnapshot {
                replica_id: "d-1".into(),
                ongoing: 4,
                batches,
                models: vec!["m1".into()],
                model_loads: 5,
                model_evictions: 4,
                ..ReplicaSnapshot::default()
            }],
        }]);
        let l = "application=\"a\",deployment=\"d\"";
        for line in [
            format!("rserve_requests_total{{{l},code=\"2xx\"}} 3"),
            format!("rserve_requests_total{{{l},code=\"5xx\"}} 1"),
            format!("rserve_deployment_target_replicas{{{l}}} 3"),
            format!("rserve_deployment_unschedulable_replicas{{{l}}} 1"),
            format!("rserve_deployment_running_replicas{{{l}}} 1"),
            format!("rserve_autoscaling_decisions_total{{{l},direction=\"up\"}} 2"),
            format!("rserve_autoscaling_decisions_total{{{l},direction=\"down\"}} 1"),
            format!("rserve_request_latency_ms_bucket{{{l},le=\"1\"}} 2"),
            format!("rserve_request_latency_ms_bucket{{{l},le=\"10\"}} 4"),
            format!("rserve_request_latency_ms_bucket{{{l},le=\"+Inf\"}} 4"),
            format!("rserve_request_latency_ms_sum{{{l}}} 12.5"),
            format!("rserve_queued_requests{{{l}}} 2"),
            format!("rserve_replica_ongoing_requests{{{l},replica=\"d-1\"}} 4"),
            format!("rserve_batch_size_bucket{{{l},le=\"1\"}} 1"),
            format!("rserve_batch_size_bucket{{{l},le=\"4\"}} 2"),
            format!("rserve_batch_size_sum{{{l}}} 4"),
            format!("rserve_prefix_cache_queries_total{{{l}}} 40"),
            format!("rserve_prefix_cache_hits_total{{{l}}} 32"),
            format!("rserve_multiplexed_models{{{l},replica=\"d-1\"}} 1"),
            format!("rserve_multiplexed_model_loaded{{{l},replica=\"d-1\",model_id=\"m1\"}} 1"),
            format!("rserve_multiplexed_model_loads_total{{{l},replica=\"d-1\"}} 5"),
            format!("rserve_multiplexed_model_evictions_total{{{l},replica=\"d-1\"}} 4"),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
        assert!(!text.contains("code=\"4xx\""), "zero counts are left out");
        // Each family's lines follow its own TYPE line.
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        assert_eq!(types.len(), 15, "{types:?}");
    }
}

//! The rows of each table view, computed from the data alone, so that the
//! reducer (what Enter selects) and the renderer (what is drawn) agree.

use std::cmp::Ordering;

use rserve_protocol::status::{DeploymentDetails, ReplicaState};
use rserve_protocol::stream::{DeploymentRoutes, Severity};
use rserve_protocol::wire::NodeState;

use super::state::{App, Data, Screen, Target, View};
use crate::output::{age, enum_name, list_or_dash};

/// How a row is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Normal,
    /// Healthy, running.
    Good,
    /// Updating, starting, upscaling.
    Busy,
    /// Unhealthy, dead, failed, warnings.
    Bad,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<String>,
    pub target: Target,
    pub tone: Tone,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub headers: &'static [&'static str],
    pub rows: Vec<Row>,
}

/// The rows of the screen's view, filtered and sorted as the screen says;
/// `None` for a text view.
pub fn table(app: &App, screen: &Screen) -> Option<Table> {
    let d = &app.data;
    let mut table = match &screen.view {
        View::Nodes => nodes(d),
        View::Apps => apps(d, app.now_s),
        View::Deployments { app: only } => deployments(d, only.as_deref()),
        View::Replicas {
            app: a,
            deployment,
            node,
        } => replicas(
            d,
            a.as_deref(),
            deployment.as_deref(),
            node.as_deref(),
            app.now_s,
        ),
        View::Routing => routing(d),
        View::Events => events(d, app.now_s),
        View::Logs(_) | View::Describe(_) | View::Config { .. } => return None,
    };
    if let Some(filter) = &screen.filter {
        table.rows.retain(|r| filter.matches(&r.cells.join(" ")));
    }
    if let Some((col, desc)) = screen.sort {
        table.rows.sort_by(|a, b| {
            let o = compare(
                a.cells.get(col).map_or("", String::as_str),
                b.cells.get(col).map_or("", String::as_str),
            );
            if desc { o.reverse() } else { o }
        });
    }
    Some(table)
}

/// Numbers (a leading number: `12.5`, `3/4`, `40%`) compare as numbers,
/// anything else as text.
fn compare(a: &str, b: &str) -> Ordering {
    let number = |s: &str| {
        let end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        s[..end].parse::<f64>().ok()
    };
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

pub fn gib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / f64::from(1u32 << 30))
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

fn nodes(d: &Data) -> Table {
    let rows = d
        .nodes
        .iter()
        .map(|n| {
            let a = &n.advert;
            let state = match (n.state, n.head) {
                (NodeState::Alive, true) => "alive (head)",
                (NodeState::Alive, false) => "alive",
                (NodeState::Dead, _) => "DEAD",
            };
            let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let heartbeat = if n.head {
                "-".to_owned()
            } else {
                format!("{} ago", age(n.last_heartbeat_s))
            };
            Row {
                cells: vec![
                    a.node_id.clone(),
                    state.to_owned(),
                    a.http_address.clone(),
                    list_or_dash(&labels),
                    format!("{:.1}/{}", n.used.num_cpus, a.resources.num_cpus),
                    format!("{}/{}", n.used.num_gpus, a.resources.num_gpus),
                    format!("{}/{}", gib(n.used.memory), gib(a.resources.memory)),
                    n.replicas.len().to_string(),
                    heartbeat,
                ],
                target: Target::Node(a.node_id.clone()),
                tone: if n.state == NodeState::Dead {
                    Tone::Bad
                } else {
                    Tone::Normal
                },
            }
        })
        .collect();
    Table {
        headers: &[
            "NODE",
            "STATE",
            "ADDRESS",
            "LABELS",
            "CPU",
            "GPU",
            "MEM GiB",
            "REPLICAS",
            "HEARTBEAT",
        ],
        rows,
    }
}

fn status_tone(status: &str) -> Tone {
    match status {
        "RUNNING" | "HEALTHY" => Tone::Good,
        "DEPLOYING" | "UPDATING" | "UPSCALING" | "DOWNSCALING" | "DELETING" | "STARTING" => {
            Tone::Busy
        }
        "DEPLOY_FAILED" | "UNHEALTHY" => Tone::Bad,
        _ => Tone::Normal,
    }
}

fn running(dep: &DeploymentDetails) -> u32 {
    dep.replica_states
        .get(&ReplicaState::Running)
        .copied()
        .unwrap_or(0)
}

fn apps(d: &Data, now_s: f64) -> Table {
    let rows = d
        .status
        .iter()
        .flat_map(|s| &s.applications)
        .map(|(name, a)| {
            let status = enum_name(&a.status);
            let run: u32 = a.deployments.values().map(running).sum();
            let target: u32 = a.deployments.values().map(|d| d.target_num_replicas).sum();
            Row {
                tone: status_tone(&status),
                cells: vec![
                    name.clone(),
                    status,
                    a.route_prefix.clone(),
                    a.deployments.len().to_string(),
                    format!("{run}/{target}"),
                    age(now_s - a.last_deployed_time_s),
                    a.message.clone(),
                ],
                target: Target::App(name.clone()),
            }
        })
        .collect();
    Table {
        headers: &[
            "APP",
            "STATUS",
            "ROUTE",
            "DEPLOYMENTS",
            "REPLICAS",
            "AGE",
            "MESSAGE",
        ],
        rows,
    }
}

/// A sparkline of the samples, scaled to their maximum.
pub fn sparkline(samples: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &samples[samples.len().saturating_sub(width)..];
    let max = tail.iter().copied().fold(0.0_f64, f64::max);
    tail.iter()
        .map(|&v| {
            if max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

fn routes_of<'a>(d: &'a Data, app: &str, dep: &str) -> Option<&'a DeploymentRoutes> {
    d.routes
        .as_ref()?
        .deployments
        .iter()
        .find(|r| r.app == app && r.deployment == dep)
}

fn deployments(d: &Data, only: Option<&str>) -> Table {
    let window = d.routes.as_ref().map_or(10.0, |r| r.window_s);
    let mut rows = Vec::new();
    for (app, a) in d.status.iter().flat_map(|s| &s.applications) {
        if only.is_some_and(|o| o != app) {
            continue;
        }
        for (name, dep) in &a.deployments {
            let status = enum_name(&dep.status);
            let routes = routes_of(d, app, name);
            let rps: f64 = routes.map_or(0.0, |r| r.replicas.iter().map(|x| x.rps).sum());
            let errors: u64 = routes.map_or(0, |r| r.replicas.iter().map(|x| x.errors).sum());
            let requests = rps * window;
            let error_rate = if requests > 0.0 {
                format!("{:.1}%", 100.0 * errors as f64 / requests)
            } else {
                "-".to_owned()
            };
            let autoscaling = dep.autoscaling_detail.as_ref().map_or_else(
                || "-".to_owned(),
                |a| format!("{}→{}", enum_name(&a.status), a.target_num_replicas),
            );
            // The samples of the last seconds, then the rate shown now.
            let mut samples: Vec<f64> = d
                .trend
                .get(&(app.clone(), name.clone()))
                .map(|t| t.iter().copied().collect())
                .unwrap_or_default();
            if routes.is_some() {
                samples.push(rps);
            }
            let trend = sparkline(&samples, 12);
            rows.push(Row {
                tone: status_tone(&status),
                cells: vec![
                    app.clone(),
                    name.clone(),
                    status,
                    format!("{}/{}", running(dep), dep.target_num_replicas),
                    autoscaling,
                    format!("{rps:.1}"),
                    trend,
                    ms(routes.and_then(|r| r.p50_ms)),
                    ms(routes.and_then(|r| r.p99_ms)),
                    error_rate,
                    routes.map_or(dep.queued_requests, |r| r.queued).to_string(),
                ],
                target: Target::Deployment {
                    app: app.clone(),
                    deployment: name.clone(),
                },
            });
        }
    }
    Table {
        headers: &[
            "APP",
            "DEPLOYMENT",
            "STATUS",
            "READY",
            "AUTOSCALE",
            "RPS",
            "TREND",
            "P50 ms",
            "P99 ms",
            "ERR",
            "QUEUED",
        ],
        rows,
    }
}

fn replicas(
    d: &Data,
    only_app: Option<&str>,
    only_dep: Option<&str>,
    only_node: Option<&str>,
    now_s: f64,
) -> Table {
    let head = d.head_id();
    let mut rows = Vec::new();
    for (app, a) in d.status.iter().flat_map(|s| &s.applications) {
        if only_app.is_some_and(|o| o != app) {
            continue;
        }
        for (name, dep) in &a.deployments {
            if only_dep.is_some_and(|o| o != name) {
                continue;
            }
            for r in &dep.replicas {
                let node = if r.node_id.is_empty() {
                    head
                } else {
                    &r.node_id
                };
                if only_node.is_some_and(|o| o != node) {
                    continue;
                }
                let state = enum_name(&r.state);
                let state = match &r.loading {
                    Some(l) if l.total > 0 => {
                        format!("{state} {}%", 100 * l.done / l.total)
                    }
                    _ => state,
                };
                rows.push(Row {
                    tone: status_tone(&enum_name(&r.state)),
                    cells: vec![
                        r.replica_id.clone(),
                        format!("{app}/{name}"),
                        node.to_owned(),
                        state,
                        r.ongoing_requests.to_string(),
                        dep.replica_failures.to_string(),
                        age(now_s - r.start_time_s),
                        list_or_dash(&r.multiplexed_models),
                        dep.last_failure.clone().unwrap_or_else(|| "-".to_owned()),
                    ],
                    target: Target::Replica {
                        app: app.clone(),
                        deployment: name.clone(),
                        id: r.replica_id.clone(),
                    },
                });
            }
        }
    }
    Table {
        headers: &[
            "REPLICA",
            "DEPLOYMENT",
            "NODE",
            "STATE",
            "IN-FLIGHT",
            "RESTARTS",
            "AGE",
            "MODELS",
            "LAST FAILURE",
        ],
        rows,
    }
}

/// Per replica of each route: its share of the deployment's traffic, and
/// of the sampled requests how many came in on its own node (local) or
/// another (hop).
fn routing(d: &Data) -> Table {
    let mut rows = Vec::new();
    for dep in d.routes.iter().flat_map(|r| &r.deployments) {
        let total: f64 = dep.replicas.iter().map(|r| r.rps).sum();
        for r in &dep.replicas {
            let sampled = d
                .tap
                .iter()
                .filter(|t| t.replica.as_deref() == Some(r.replica_id.as_str()));
            let (mut local, mut hop) = (0, 0);
            for t in sampled {
                if t.hop {
                    hop += 1;
                } else {
                    local += 1;
                }
            }
            let share = if total > 0.0 { r.rps / total } else { 0.0 };
            let bar_len = (share * 10.0).round() as usize;
            rows.push(Row {
                cells: vec![
                    dep.route_prefix.clone(),
                    format!("{}/{}", dep.app, dep.deployment),
                    r.replica_id.clone(),
                    r.node_id.clone(),
                    format!("{:>3.0}% {}", share * 100.0, "█".repeat(bar_len)),
                    format!("{:.1}", r.rps),
                    r.in_flight.to_string(),
                    ms(r.p50_ms),
                    ms(r.p99_ms),
                    format!("{local}/{hop}"),
                ],
                target: Target::Replica {
                    app: dep.app.clone(),
                    deployment: dep.deployment.clone(),
                    id: r.replica_id.clone(),
                },
                tone: if r.errors > 0 {
                    Tone::Bad
                } else {
                    Tone::Normal
                },
            });
        }
    }
    Table {
        headers: &[
            "ROUTE",
            "DEPLOYMENT",
            "REPLICA",
            "NODE",
            "SHARE",
            "RPS",
            "IN-FLIGHT",
            "P50 ms",
            "P99 ms",
            "LOCAL/HOP",
        ],
        rows,
    }
}

fn events(d: &Data, now_s: f64) -> Table {
    let rows = d
        .events
        .iter()
        .rev()
        .map(|e| Row {
            cells: vec![
                age(now_s - e.time_s),
                enum_name(&e.severity),
                enum_name(&e.reason),
                e.object.clone(),
                e.message.clone(),
            ],
            target: Target::Event(e.seq),
            tone: if e.severity == Severity::Warning {
                Tone::Bad
            } else {
                Tone::Normal
            },
        })
        .collect();
    Table {
        headers: &["AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        rows,
    }
}

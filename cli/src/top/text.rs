//! The text views: describe (`d`), config (`y`), the log view's lines and
//! the routing view's tap pane, computed from the data alone.

use rserve_protocol::stream::ClusterEvent;

use super::state::{App, Data, LogStyle, LogTarget, Target};
use super::tables::gib;
use crate::output::live::{self, LineStyle};
use crate::output::{age, cert_expiry};
use crate::output::{enum_name, list_or_dash};

/// Events shown under a described item.
const DESCRIBE_EVENTS: usize = 10;

/// kubectl describe's shape: `Key:  value` lines, then recent events.
pub fn describe(app: &App, target: &Target) -> Vec<String> {
    let d = &app.data;
    let mut out = Vec::new();
    let mut field = |k: &str, v: String| out.push(format!("{:<20}{v}", format!("{k}:")));
    match target {
        Target::Node(id) => match d.nodes.iter().find(|n| &n.advert.node_id == id) {
            Some(n) => {
                let a = &n.advert;
                field("Node", a.node_id.clone());
                field("Role", if n.head { "head" } else { "member" }.to_owned());
                field("State", enum_name(&n.state));
                field("HTTP address", a.http_address.clone());
                field("Control address", a.control_address.clone());
                field("Version", a.software_version.clone());
                let labels: Vec<String> =
                    a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                field("Labels", list_or_dash(&labels));
                field(
                    "CPUs",
                    format!(
                        "{} offered, {:.1} reserved",
                        a.resources.num_cpus, n.used.num_cpus
                    ),
                );
                field(
                    "GPUs",
                    format!(
                        "{} offered, {} reserved ({} GiB each)",
                        a.resources.num_gpus,
                        n.used.num_gpus,
                        gib(a.resources.gpu_memory)
                    ),
                );
                field(
                    "Memory GiB",
                    format!(
                        "{} offered, {} reserved",
                        gib(a.resources.memory),
                        gib(n.used.memory)
                    ),
                );
                field("Joined", format!("{} ago", age(app.now_s - n.joined_at_s)));
                if !n.head {
                    field("Last heartbeat", format!("{} ago", age(n.last_heartbeat_s)));
                }
                field(
                    "Certificate expires",
                    cert_expiry(n.cert_expires_at_s, app.now_s),
                );
                field("Replicas", list_or_dash(&n.replicas));
            }
            None => out.push(format!("node {id} is no longer in the cluster")),
        },
        Target::App(name) => match d.status.as_ref().and_then(|s| s.applications.get(name)) {
            Some(a) => {
                field("Application", name.clone());
                field("Status", enum_name(&a.status));
                field("Route prefix", a.route_prefix.clone());
                field("Ingress", a.ingress.clone());
                field(
                    "Deployed",
                    format!("{} ago", age(app.now_s - a.last_deployed_time_s)),
                );
                field("Message", dash(&a.message));
                for (dep, details) in &a.deployments {
                    field(
                        "Deployment",
                        format!(
                            "{dep}: {} ({} replicas wanted)",
                            enum_name(&details.status),
                            details.target_num_replicas
                        ),
                    );
                }
            }
            None => out.push(format!("application {name} is gone")),
        },
        Target::Deployment { app: a, deployment } => {
            describe_deployment(d, a, deployment, &mut out)
        }
        Target::Replica {
            app: a,
            deployment,
            id,
        } => {
            let found = d
                .status
                .as_ref()
                .and_then(|s| s.applications.get(a))
                .and_then(|x| x.deployments.get(deployment))
                .and_then(|x| x.replicas.iter().find(|r| &r.replica_id == id));
            match found {
                Some(r) => {
                    field("Replica", id.clone());
                    field("Deployment", format!("{a}/{deployment}"));
                    let node = if r.node_id.is_empty() {
                        d.head_id()
                    } else {
                        &r.node_id
                    };
                    field("Node", node.to_owned());
                    field("State", enum_name(&r.state));
                    field("In flight", r.ongoing_requests.to_string());
                    field("Age", age(app.now_s - r.start_time_s));
                    field("Models", list_or_dash(&r.multiplexed_models));
                    if let Some(l) = &r.loading {
                        field("Loading", format!("{}/{}", l.done, l.total));
                    }
                }
                None => out.push(format!("replica {id} is gone (its events are below)")),
            }
        }
        Target::Event(seq) => {
            if let Some(e) = d.events.iter().find(|e| e.seq == *seq) {
                field("Event", e.seq.to_string());
                field("Time", live::rfc3339(e.time_s));
                field("Type", enum_name(&e.severity));
                field("Reason", enum_name(&e.reason));
                field("Object", e.object.clone());
                field("Node", dash(&e.node));
                field("Message", e.message.clone());
            }
            return out;
        }
    }
    let related: Vec<&ClusterEvent> = d
        .events
        .iter()
        .rev()
        .filter(|e| concerns(e, target))
        .take(DESCRIBE_EVENTS)
        .collect();
    out.push(String::new());
    out.push("Events:".to_owned());
    if related.is_empty() {
        out.push("  <none>".to_owned());
    }
    for e in related {
        out.push(format!(
            "  {:<5} {:<8}{:<16}{}",
            age(app.now_s - e.time_s),
            enum_name(&e.severity),
            enum_name(&e.reason),
            e.message
        ));
    }
    out
}

fn describe_deployment(d: &Data, app: &str, deployment: &str, out: &mut Vec<String>) {
    let mut field = |k: &str, v: String| out.push(format!("{:<20}{v}", format!("{k}:")));
    let Some(dep) = d
        .status
        .as_ref()
        .and_then(|s| s.applications.get(app))
        .and_then(|a| a.deployments.get(deployment))
    else {
        field("Deployment", format!("{app}/{deployment} is gone"));
        return;
    };
    field("Deployment", format!("{app}/{deployment}"));
    field("Kind", dep.kind.clone());
    field(
        "Status",
        format!(
            "{} ({})",
            enum_name(&dep.status),
            enum_name(&dep.status_trigger)
        ),
    );
    field("Message", dash(&dep.message));
    field("Target replicas", dep.target_num_replicas.to_string());
    let states: Vec<String> = dep
        .replica_states
        .iter()
        .map(|(s, n)| format!("{}={n}", enum_name(s)))
        .collect();
    field("Replica states", list_or_dash(&states));
    field("Replica failures", dep.replica_failures.to_string());
    field(
        "Last failure",
        dep.last_failure.clone().unwrap_or_else(|| "-".to_owned()),
    );
    field("Queued requests", dep.queued_requests.to_string());
    if let Some(a) = &dep.autoscaling_detail {
        field(
            "Autoscaling",
            format!(
                "{} to {} (bounds {}..={}, metric {:.2})",
                enum_name(&a.status),
                a.target_num_replicas,
                a.min_replicas,
                a.max_replicas,
                a.current_metric
            ),
        );
        for decision in a.decisions.iter().rev().take(5) {
            field(
                "  decision",
                format!(
                    "{} → {}: {}",
                    decision.prev_num_replicas, decision.curr_num_replicas, decision.reason
                ),
            );
        }
    }
    for r in &dep.replicas {
        field(
            "Replica",
            format!(
                "{} {} in-flight={}",
                r.replica_id,
                enum_name(&r.state),
                r.ongoing_requests
            ),
        );
    }
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-" } else { s }.to_owned()
}

/// Whether an event is about the target (or something inside it).
fn concerns(e: &ClusterEvent, target: &Target) -> bool {
    match target {
        Target::Node(id) => &e.node == id,
        Target::App(app) => &e.app == app,
        Target::Deployment { app, deployment } => &e.app == app && &e.deployment == deployment,
        Target::Replica { id, .. } => e.object.ends_with(id.as_str()),
        Target::Event(_) => false,
    }
}

/// The config view's lines: the application's TOML once fetched.
pub fn config(app: &App, name: &str) -> Vec<String> {
    match &app.data.config {
        Some((fetched, toml)) if fetched == name => toml.lines().map(str::to_owned).collect(),
        _ => vec![format!("fetching the config of {name}…")],
    }
}

/// The log view's lines, as `rserve logs` prints them (source prefixed
/// unless one replica is followed), those the search matches.
pub fn log_lines(
    app: &App,
    target: &LogTarget,
    search: Option<&super::state::Filter>,
) -> Vec<String> {
    let style = LineStyle {
        prefix: target.replica.is_none(),
        timestamps: app.log_style.timestamps,
    };
    app.data
        .logs
        .iter()
        .map(|l| live::log_line(l, style).trim_end().to_owned())
        .filter(|l| search.is_none_or(|f| f.matches(l)))
        .collect()
}

/// The tap pane's lines, newest last.
pub fn tap_lines(app: &App) -> Vec<String> {
    app.data
        .tap
        .iter()
        .map(|t| {
            let served = match (&t.replica, &t.replica_node) {
                (Some(replica), Some(node)) => format!("{replica}@{node}"),
                (Some(replica), None) => replica.clone(),
                _ => "-".to_owned(),
            };
            let time = live::rfc3339(t.time_s);
            format!(
                "{} {} → {served}{} {} {} {} {:.1}ms",
                time.get(11..23).unwrap_or(&time),
                t.node,
                if t.hop { " (hop)" } else { "" },
                t.method,
                t.path,
                t.status,
                t.latency_ms
            )
        })
        .collect()
}

/// The log view's state line.
pub fn log_status(style: LogStyle, target: &LogTarget) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    format!(
        "autoscroll:{} wrap:{} timestamps:{} previous:{}",
        on(style.follow),
        on(style.wrap),
        on(style.timestamps),
        on(target.previous)
    )
}

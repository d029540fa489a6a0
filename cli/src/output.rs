//! Rendering for people (tables, kubectl's layout) and for programs (JSON, YAML).
//! Every function here returns text; the `Printer` writes it.

use rserve_protocol::status::{DeploymentDetails, ReplicaState, ServeStatus};
use rserve_protocol::wire::NodeStatus;
use serde::Serialize;

use crate::exit::{Exit, ExitContext, Failure};

/// `doc` as pretty JSON, newline-terminated.
pub fn json<T: Serialize>(doc: &T) -> Result<String, Failure> {
    serde_json::to_string_pretty(doc)
        .map(|s| s + "\n")
        .exit(Exit::Failed)
}

/// `doc` as YAML.
pub fn yaml<T: Serialize>(doc: &T) -> Result<String, Failure> {
    serde_yaml::to_string(doc).exit(Exit::Failed)
}

/// Rows under a header, as left-aligned columns two spaces apart.
#[derive(Debug)]
struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: Vec<&'static str>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have a cell for every column.
    fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.header.len());
        self.rows.push(cells);
    }

    /// The header line, then the rows.
    fn render(&self) -> String {
        let header: Vec<String> = self.header.iter().map(|h| (*h).to_owned()).collect();
        let lines: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|c| {
                lines
                    .iter()
                    .map(|r| r[c].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in lines {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

/// `-` for an empty list, else its items joined by commas.
fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// The serde name of a status enum (`RUNNING`, `DEPLOY_FAILED`, ...).
fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One row per deployment, kubectl style, then any messages.
pub fn status_table(status: &ServeStatus) -> String {
    if status.applications.is_empty() {
        return format!(
            "No applications deployed on node {}.\n",
            status.node.node_id
        );
    }
    let header = vec![
        "APP",
        "STATUS",
        "ROUTE",
        "DEPLOYMENT",
        "KIND",
        "DEPLOYMENT STATUS",
        "READY",
        "QUEUED",
        "FAILURES",
    ];
    let mut table = Table::new(header);
    let mut messages = Vec::new();
    for (name, app) in &status.applications {
        if !app.message.is_empty() {
            messages.push(format!("{name}: {}", app.message));
        }
        for (dep_name, dep) in &app.deployments {
            let row = vec![
                name.clone(),
                enum_name(&app.status),
                app.route_prefix.clone(),
                dep_name.clone(),
                dep.kind.clone(),
                enum_name(&dep.status),
                format!("{}/{}", running(dep), dep.target_num_replicas),
                dep.queued_requests.to_string(),
                dep.replica_failures.to_string(),
            ];
            table.row(row);
            if !dep.message.is_empty() && app.message.is_empty() {
                messages.push(format!("{name}/{dep_name}: {}", dep.message));
            }
        }
    }
    let mut out = table.render();
    for message in messages {
        out.push_str(&format!("\n{message}\n"));
    }
    out
}

/// A one-line summary of `apps` for `--wait` progress.
pub fn progress_line(status: &ServeStatus, apps: &[String]) -> String {
    apps.iter()
        .map(|name| match status.applications.get(name) {
            None => format!("{name}: gone"),
            Some(app) => {
                let deps: Vec<String> = app
                    .deployments
                    .iter()
                    .map(|(d, dep)| format!("{d} {}/{}", running(dep), dep.target_num_replicas))
                    .collect();
                format!("{name}: {} ({})", enum_name(&app.status), deps.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn running(dep: &DeploymentDetails) -> u32 {
    dep.replica_states
        .get(&ReplicaState::Running)
        .copied()
        .unwrap_or(0)
}

/// One row per node, in the order the head lists them (the head first).
pub fn nodes_table(nodes: &[NodeStatus]) -> String {
    let header = vec![
        "NODE",
        "STATE",
        "ROLE",
        "HTTP",
        "CONTROL",
        "CPUS",
        "GPUS",
        "MEMORY",
        "LABELS",
        "REPLICAS",
        "LAST HEARTBEAT",
    ];
    let mut table = Table::new(header);
    for n in nodes {
        let r = &n.advert.resources;
        let labels: Vec<String> = n
            .advert
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let row = vec![
            n.advert.node_id.clone(),
            enum_name(&n.state),
            if n.head { "head" } else { "member" }.to_owned(),
            n.advert.http_address.clone(),
            n.advert.control_address.clone(),
            format!("{}", r.num_cpus),
            format!("{}", r.num_gpus),
            gibibytes(r.memory),
            list_or_dash(&labels),
            n.replicas.len().to_string(),
            if n.head {
                "-".to_owned()
            } else {
                format!("{:.1}s ago", n.last_heartbeat_s)
            },
        ];
        table.row(row);
    }
    table.render()
}

fn gibibytes(bytes: u64) -> String {
    format!("{:.1}Gi", bytes as f64 / (1u64 << 30) as f64)
}

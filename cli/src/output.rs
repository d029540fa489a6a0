//! Rendering for people (tables) and for programs (JSON, YAML).

use std::io::Write;

use rserve_protocol::status::{ReplicaState, ServeStatus};
use rserve_protocol::wire::NodeStatus;
use serde::Serialize;

use crate::args::Output;
use crate::exit::{Exit, ExitContext, Failure};

/// Writes `doc` as pretty JSON or YAML. Rendered in memory first, so a closed
/// pipe surfaces as an `io::Error` (which `main` treats as success).
pub fn document<W: Write, T: Serialize>(
    out: &mut W,
    format: Output,
    doc: &T,
) -> Result<(), Failure> {
    let text = match format {
        Output::Json => serde_json::to_string_pretty(doc)
            .map(|s| s + "\n")
            .exit(Exit::Failed)?,
        Output::Yaml | Output::Table => serde_yaml::to_string(doc).exit(Exit::Failed)?,
    };
    out.write_all(text.as_bytes()).exit(Exit::Failed)
}

/// One row per deployment, kubectl style, then any messages.
pub fn status_table<W: Write>(out: &mut W, status: &ServeStatus) -> std::io::Result<()> {
    let mut rows = vec![
        [
            "APP",
            "STATUS",
            "ROUTE",
            "DEPLOYMENT",
            "KIND",
            "DEPLOYMENT STATUS",
            "READY",
            "QUEUED",
            "FAILURES",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    let mut messages = Vec::new();
    for (name, app) in &status.applications {
        if !app.message.is_empty() {
            messages.push(format!("{name}: {}", app.message));
        }
        for (dep_name, dep) in &app.deployments {
            let running = dep
                .replica_states
                .get(&ReplicaState::Running)
                .copied()
                .unwrap_or(0);
            rows.push(vec![
                name.clone(),
                enum_name(&app.status),
                app.route_prefix.clone(),
                dep_name.clone(),
                dep.kind.clone(),
                enum_name(&dep.status),
                format!("{running}/{}", dep.target_num_replicas),
                dep.queued_requests.to_string(),
                dep.replica_failures.to_string(),
            ]);
            if !dep.message.is_empty() && app.message.is_empty() {
                messages.push(format!("{name}/{dep_name}: {}", dep.message));
            }
        }
    }
    if status.applications.is_empty() {
        writeln!(
            out,
            "No applications deployed on node {}.",
            status.node.node_id
        )?;
        return Ok(());
    }
    aligned(out, &rows)?;
    for message in messages {
        writeln!(out, "\n{message}")?;
    }
    Ok(())
}

/// Rows as left-aligned columns, two spaces apart.
fn aligned<W: Write>(out: &mut W, rows: &[Vec<String>]) -> std::io::Result<()> {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

/// One row per node, the head first.
pub fn nodes_table<W: Write>(out: &mut W, nodes: &[NodeStatus]) -> std::io::Result<()> {
    let mut rows = vec![
        [
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
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for n in nodes {
        let r = &n.advert.resources;
        let labels: Vec<String> = n
            .advert
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        rows.push(vec![
            n.advert.node_id.clone(),
            enum_name(&n.state),
            if n.head { "head" } else { "member" }.to_owned(),
            n.advert.http_address.clone(),
            n.advert.control_address.clone(),
            format!("{}", r.num_cpus),
            format!("{}", r.num_gpus),
            format!("{:.1}Gi", r.memory as f64 / (1u64 << 30) as f64),
            if labels.is_empty() {
                "-".to_owned()
            } else {
                labels.join(",")
            },
            n.replicas.len().to_string(),
            if n.head {
                "-".to_owned()
            } else {
                format!("{:.1}s ago", n.last_heartbeat_s)
            },
        ]);
    }
    aligned(out, &rows)
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
                    .map(|(d, dep)| {
                        let running = dep
                            .replica_states
                            .get(&ReplicaState::Running)
                            .copied()
                            .unwrap_or(0);
                        format!("{d} {running}/{}", dep.target_num_replicas)
                    })
                    .collect();
                format!("{name}: {} ({})", enum_name(&app.status), deps.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The serde name of a status enum (`RUNNING`, `DEPLOY_FAILED`, ...).
fn enum_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

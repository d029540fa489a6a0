//! Rendering for people (tables) and for programs (JSON, YAML).

use std::io::Write;

use rserve_protocol::status::{ReplicaState, ServeStatus};
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
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    for message in messages {
        writeln!(out, "\n{message}")?;
    }
    Ok(())
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

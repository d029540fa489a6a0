//! `rserve status`: one row per deployment, application names, `--wait` progress.

use std::collections::BTreeSet;

use rserve_protocol::status::{DeploymentDetails, ReplicaState, ServeStatus};

use super::{Table, View, enum_name, list_or_dash};

/// One row per deployment, kubectl style, then any messages.
pub fn table(status: &ServeStatus, view: View) -> String {
    if status.applications.is_empty() {
        return format!(
            "No applications deployed on node {}.\n",
            status.node.node_id
        );
    }
    let mut header = vec![
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
    if view.wide {
        header.extend(["TRIGGER", "ONGOING", "NODES", "REPLICAS"]);
    }
    let mut table = Table::new(header);
    let mut messages = Vec::new();
    for (name, app) in &status.applications {
        if !app.message.is_empty() {
            messages.push(format!("{name}: {}", app.message));
        }
        for (dep_name, dep) in &app.deployments {
            let mut row = vec![
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
            if view.wide {
                let ongoing: u64 = dep
                    .replicas
                    .iter()
                    .map(|r| u64::from(r.ongoing_requests))
                    .sum();
                // An empty node id means the node that answered.
                let nodes: BTreeSet<&str> = dep
                    .replicas
                    .iter()
                    .map(|r| match r.node_id.as_str() {
                        "" => status.node.node_id.as_str(),
                        id => id,
                    })
                    .collect();
                let nodes: Vec<String> = nodes.into_iter().map(str::to_owned).collect();
                let replicas: Vec<String> =
                    dep.replicas.iter().map(|r| r.replica_id.clone()).collect();
                row.extend([
                    enum_name(&dep.status_trigger),
                    ongoing.to_string(),
                    list_or_dash(&nodes),
                    list_or_dash(&replicas),
                ]);
            }
            table.row(row);
            if !dep.message.is_empty() && app.message.is_empty() {
                messages.push(format!("{name}/{dep_name}: {}", dep.message));
            }
        }
    }
    let mut out = table.render(view.headers);
    for message in messages {
        out.push_str(&format!("\n{message}\n"));
    }
    out
}

/// `application/NAME`, one per line (kubectl's `-o name`).
pub fn names(status: &ServeStatus) -> String {
    status
        .applications
        .keys()
        .map(|name| format!("application/{name}\n"))
        .collect()
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

/// One progress row per deployment of `apps` (for the bars of `--wait`):
/// replicas running / target and the phase, with replicas not yet running.
pub fn progress_rows(status: &ServeStatus, apps: &[String]) -> Vec<crate::printer::Row> {
    apps.iter()
        .filter_map(|name| Some((name, status.applications.get(name)?)))
        .flat_map(|(name, app)| {
            app.deployments.iter().map(move |(d, dep)| {
                let mut phase = vec![enum_name(&dep.status)];
                phase.extend(
                    dep.replica_states
                        .iter()
                        .filter(|(s, n)| **s != ReplicaState::Running && **n > 0)
                        .map(|(s, n)| format!("{n} {}", enum_name(s))),
                );
                // The model load furthest behind, so the bar moves while
                // weights load (replicas on the node answering).
                if let Some(load) = dep
                    .replicas
                    .iter()
                    .filter_map(|r| r.loading)
                    .min_by_key(|l| (l.done * 1000) / l.total.max(1))
                {
                    phase.push(format!("loading weights {}/{}", load.done, load.total));
                }
                if !dep.message.is_empty() {
                    phase.push(dep.message.clone());
                }
                crate::printer::Row {
                    key: format!("{name}/{d}"),
                    running: running(dep).into(),
                    target: dep.target_num_replicas.into(),
                    phase: phase.join(", "),
                }
            })
        })
        .collect()
}

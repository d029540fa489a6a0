//! Rendering of the streaming commands: log lines, events, tapped requests,
//! the route table, and watch changes (kubectl's `ADDED`/`MODIFIED`/`DELETED`).

use std::collections::BTreeMap;

use rserve_protocol::status::{ApplicationDetails, ServeStatus};
use rserve_protocol::stream::{ClusterEvent, LogLine, RoutesView, TapEvent};
use rserve_protocol::wire::NodeStatus;
use serde::Serialize;

use super::{Table, View, enum_name, list_or_dash};

/// Unix seconds as RFC 3339 in UTC, to the millisecond.
pub fn rfc3339(time_s: f64) -> String {
    let ms = (time_s.max(0.0) * 1000.0).round() as i64;
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// How `rserve logs` prints a line.
#[derive(Debug, Clone, Copy)]
pub struct LineStyle {
    /// `[replica/ID]` first.
    pub prefix: bool,
    /// The time first.
    pub timestamps: bool,
}

/// One log line as text, newline-terminated.
pub fn log_line(line: &LogLine, style: LineStyle) -> String {
    let mut out = String::new();
    if style.timestamps {
        out.push_str(&rfc3339(line.time_s));
        out.push(' ');
    }
    if style.prefix {
        out.push_str(&format!("[{}] ", line.source()));
    }
    out.push_str(&format!("{:>5} {}\n", line.level, line.message));
    out
}

/// The events table's header.
pub const EVENT_HEADER: [&str; 5] = ["TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"];

/// One event as a table row (the message last, unaligned, as kubectl does).
pub fn event_row(event: &ClusterEvent) -> String {
    format!(
        "{:<24}  {:<7}  {:<16}  {:<32}  {}\n",
        rfc3339(event.time_s),
        enum_name(&event.severity),
        enum_name(&event.reason),
        event.object,
        event.message
    )
}

/// The header over [`event_row`]s.
pub fn event_header() -> String {
    format!(
        "{:<24}  {:<7}  {:<16}  {:<32}  {}\n",
        EVENT_HEADER[0], EVENT_HEADER[1], EVENT_HEADER[2], EVENT_HEADER[3], EVENT_HEADER[4]
    )
}

/// One tapped request as a line.
pub fn tap_line(event: &TapEvent) -> String {
    let served = match (&event.replica, &event.replica_node) {
        (Some(replica), Some(node)) => format!("{replica}@{node}"),
        (Some(replica), None) => replica.clone(),
        _ => "-".to_owned(),
    };
    let model = event
        .model
        .as_deref()
        .map(|m| format!(" model={m}"))
        .unwrap_or_default();
    format!(
        "{} node={} {} {} {}/{} -> {}{} status={} latency={:.1}ms id={}{model}\n",
        rfc3339(event.time_s),
        event.node,
        event.method,
        event.path,
        event.app,
        event.deployment,
        served,
        if event.hop { " (hop)" } else { "" },
        event.status,
        event.latency_ms,
        event.request_id,
    )
}

fn millis(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.1}ms"))
}

/// The route table: one row per replica, its deployment's queue on each row.
pub fn routes_table(view: &RoutesView, v: View) -> String {
    let mut header = vec![
        "DEPLOYMENT",
        "ROUTE",
        "REPLICA",
        "NODE",
        "STATE",
        "IN FLIGHT",
        "QUEUED",
        "RPS",
        "P50",
        "P99",
        "ERRORS",
    ];
    if v.wide {
        header.push("MODELS");
    }
    let mut table = Table::new(header);
    for d in &view.deployments {
        let name = format!("{}/{}", d.app, d.deployment);
        if d.replicas.is_empty() {
            let mut row = vec![name.clone(), d.route_prefix.clone()];
            row.extend(["-", "-", "-", "0"].map(str::to_owned));
            row.push(d.queued.to_string());
            row.extend(["0.0", "-", "-", "0"].map(str::to_owned));
            if v.wide {
                row.push("-".to_owned());
            }
            table.row(row);
        }
        for r in &d.replicas {
            let mut row = vec![
                name.clone(),
                d.route_prefix.clone(),
                r.replica_id.clone(),
                r.node_id.clone(),
                enum_name(&r.state),
                r.in_flight.to_string(),
                d.queued.to_string(),
                format!("{:.1}", r.rps),
                millis(r.p50_ms),
                millis(r.p99_ms),
                r.errors.to_string(),
            ];
            if v.wide {
                row.push(list_or_dash(&r.models));
            }
            table.row(row);
        }
    }
    table.render(v.headers)
}

/// A kubectl watch event: what changed and the object as it is now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchEvent<T> {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The object (its last state for `DELETED`).
    pub object: T,
}

/// An application as a watch object: its name and details.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedApp {
    /// The application.
    pub name: String,
    /// As `rserve status -o json` shows it.
    #[serde(flatten)]
    pub details: ApplicationDetails,
}

/// What changed between two documents keyed by name, in name order.
pub fn changes<T: Clone + PartialEq>(
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
) -> Vec<WatchEvent<(String, T)>> {
    let mut out = Vec::new();
    for (name, object) in new {
        let kind = match old.get(name) {
            None => "ADDED",
            Some(before) if before != object => "MODIFIED",
            Some(_) => continue,
        };
        out.push(WatchEvent {
            kind,
            object: (name.clone(), object.clone()),
        });
    }
    for (name, object) in old {
        if !new.contains_key(name) {
            out.push(WatchEvent {
                kind: "DELETED",
                object: (name.clone(), object.clone()),
            });
        }
    }
    out
}

/// The applications of a status document by name (uptime left out of the comparison).
pub fn apps(status: &ServeStatus) -> BTreeMap<String, ApplicationDetails> {
    status.applications.clone()
}

/// Nodes by id, with the heartbeat clock zeroed (it changes every poll).
pub fn nodes_by_id(nodes: &[NodeStatus]) -> BTreeMap<String, NodeStatus> {
    nodes
        .iter()
        .map(|n| {
            let mut n = n.clone();
            n.last_heartbeat_s = 0.0;
            (n.advert.node_id.clone(), n)
        })
        .collect()
}

/// One line per changed application: `MODIFIED application/NAME STATUS dep=STATUS(running/target) …`.
pub fn app_change_line(event: &WatchEvent<(String, ApplicationDetails)>) -> String {
    let (name, app) = &event.object;
    let deployments: Vec<String> = app
        .deployments
        .iter()
        .map(|(dep, d)| {
            let running = d
                .replica_states
                .get(&rserve_protocol::status::ReplicaState::Running)
                .copied()
                .unwrap_or(0);
            format!(
                "{dep}={}({running}/{})",
                enum_name(&d.status),
                d.target_num_replicas
            )
        })
        .collect();
    format!(
        "{:<8}  application/{name}  {}  {}\n",
        event.kind,
        enum_name(&app.status),
        deployments.join(" ")
    )
}

/// One line per changed node.
pub fn node_change_line(event: &WatchEvent<(String, NodeStatus)>) -> String {
    let (id, node) = &event.object;
    format!(
        "{:<8}  node/{id}  {}  {}  replicas={}\n",
        event.kind,
        enum_name(&node.state),
        if node.head { "head" } else { "member" },
        node.replicas.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_212_800.25), "2026-12-02T12:00:00.250Z");
        assert_eq!(rfc3339(951_782_400.0), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn log_lines_carry_what_was_asked() {
        let line = LogLine {
            time_s: 0.0,
            level: "WARN".into(),
            node: "n1".into(),
            app: "a".into(),
            deployment: "d".into(),
            replica: Some("d-1".into()),
            message: "Health check failed.".into(),
        };
        let plain = LineStyle {
            prefix: false,
            timestamps: false,
        };
        assert_eq!(log_line(&line, plain), " WARN Health check failed.\n");
        let full = LineStyle {
            prefix: true,
            timestamps: true,
        };
        assert_eq!(
            log_line(&line, full),
            "1970-01-01T00:00:00.000Z [replica/d-1]  WARN Health check failed.\n"
        );
    }

    #[test]
    fn watch_changes_follow_kubectl() {
        let old: BTreeMap<String, u32> = [("a".into(), 1), ("b".into(), 2)].into();
        let new: BTreeMap<String, u32> = [("b".into(), 3), ("c".into(), 4)].into();
        let kinds: Vec<(&str, String)> = changes(&old, &new)
            .into_iter()
            .map(|e| (e.kind, e.object.0))
            .collect();
        assert_eq!(
            kinds,
            [
                ("MODIFIED", "b".to_owned()),
                ("ADDED", "c".to_owned()),
                ("DELETED", "a".to_owned())
            ]
        );
        assert!(changes(&new, &new).is_empty());
    }
}

//! Streaming calls of the control protocol: what a node sends, frame after
//! frame, to `rserve logs -f`, `events -f`, `tap` and the watches.
//!
//! A streaming call starts like any other: the client sends one
//! [`Request`](crate::wire::Request). A refusal is one
//! [`Response::Error`](crate::wire::Response::Error) frame, as for every call.
//! An accepted call is answered by [`Response::Streaming`](crate::wire::Response::Streaming),
//! then by [`StreamFrame`]s until the node finishes the stream (the history
//! asked for is sent and the call does not follow) or the client stops reading
//! (it drops its half of the stream: the node ends the call at once).
//!
//! A node never waits for a slow reader: each stream has a bounded buffer, and
//! what does not fit is counted and reported as [`StreamFrame::Dropped`].
//!
//! With `-o json` the CLI prints these frames as JSON Lines, one object per
//! line with a `type` field: the same schema, documented in `docs/api.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{NodeStatus, WireError};
use crate::status::{ReplicaState, ServeStatus};

/// Longest line a node keeps (longer lines are cut, marked with `…`).
pub const MAX_LINE_BYTES: usize = 4096;

/// Which log lines a [`Request::Logs`](crate::wire::Request::Logs) wants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogQuery {
    /// Only replicas of this application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Only replicas of this deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Only this replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// Only this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Only lines at or after this Unix time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_s: Option<f64>,
    /// Only the last N kept lines of each source (replica, or a node's own lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<u32>,
    /// Keep the stream open and send new lines as they are logged.
    #[serde(default)]
    pub follow: bool,
    /// The last lines of replicas that ended (stopped or died) instead of
    /// live ones, as `kubectl logs --previous`.
    #[serde(default)]
    pub previous: bool,
    /// Answer for the called node only (the head sets this when it fans a
    /// query out to the members).
    #[serde(default)]
    pub here_only: bool,
}

impl LogQuery {
    /// Whether the query names a replica set (app, deployment or replica):
    /// then a node's own lines are left out.
    pub fn selects_replicas(&self) -> bool {
        self.app.is_some() || self.deployment.is_some() || self.replica.is_some()
    }

    /// Whether a line from `source` matches the selectors (not time or tail).
    pub fn matches(&self, line: &LogLine) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        if !eq(&self.node, &line.node) {
            return false;
        }
        match &line.replica {
            None => !self.selects_replicas(),
            Some(replica) => {
                eq(&self.app, &line.app)
                    && eq(&self.deployment, &line.deployment)
                    && eq(&self.replica, replica)
            }
        }
    }
}

/// One captured log line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Unix time it was logged, in seconds.
    pub time_s: f64,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// The node that logged it.
    pub node: String,
    /// The replica's application (empty for a node's own lines).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app: String,
    /// The replica's deployment (empty for a node's own lines).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deployment: String,
    /// The replica that logged it; absent for the node's own lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// The message and its fields, as the node's own log shows them.
    pub message: String,
}

impl LogLine {
    /// The source a line is prefixed with: `replica/ID` or `node/ID`.
    pub fn source(&self) -> String {
        match &self.replica {
            Some(replica) => format!("replica/{replica}"),
            None => format!("node/{}", self.node),
        }
    }
}

/// How serious an event is (kubectl's event types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Severity {
    /// Expected progress.
    Normal,
    /// Something went wrong or needs attention.
    Warning,
}

/// What happened, as a stable name scripts can match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventReason {
    /// An application was created or updated.
    Deployed,
    /// An application's deletion started.
    Deleting,
    /// A replica was placed on a node and is starting.
    ReplicaStarting,
    /// A replica is RUNNING.
    ReplicaRunning,
    /// A replica failed to start, crashed or failed its health checks.
    ReplicaFailed,
    /// A replica was asked to stop (scale-down, update, delete).
    ReplicaStopping,
    /// A replica stopped.
    ReplicaStopped,
    /// No node can take a replica (resources, labels).
    Unschedulable,
    /// A deployment's replicas keep failing to start: DEPLOY_FAILED.
    DeployFailed,
    /// The autoscaler changed a deployment's target replica count.
    Autoscaled,
    /// A node joined the cluster.
    NodeJoined,
    /// A node missed its heartbeats: its replicas are placed elsewhere.
    NodeDead,
    /// A node declared dead heartbeats again.
    NodeAlive,
    /// A node dead for long was forgotten, or an operator removed it (it
    /// must join again).
    NodeRemoved,
    /// The head gave a node (or itself) a new certificate before its own
    /// expired.
    CertificateRenewed,
}

/// One entry of the cluster's event log (kept on the head).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterEvent {
    /// Increases by one per event, across head restarts.
    pub seq: u64,
    /// Unix time, in seconds.
    pub time_s: f64,
    /// Normal or Warning.
    pub severity: Severity,
    /// What happened.
    pub reason: EventReason,
    /// What it happened to: `application/NAME`, `deployment/APP/NAME`,
    /// `replica/ID` or `node/ID`.
    pub object: String,
    /// The application, when there is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app: String,
    /// The deployment, when there is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deployment: String,
    /// The node, when there is one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// For people.
    pub message: String,
}

/// Which requests a [`Request::Tap`](crate::wire::Request::Tap) samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TapQuery {
    /// Only this application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Only this deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// Only requests entering this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// At most this many requests per second in the stream (each node samples
    /// at most this many too).
    pub max_rps: u32,
    /// Answer for the called node only (set by the head when it fans out).
    #[serde(default)]
    pub here_only: bool,
}

impl TapQuery {
    /// Whether `event` matches the selectors.
    pub fn matches(&self, event: &TapEvent) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.app, &event.app)
            && eq(&self.deployment, &event.deployment)
            && eq(&self.node, &event.node)
    }
}

/// One request, as an ingress saw it end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TapEvent {
    /// Unix time the request arrived, in seconds.
    pub time_s: f64,
    /// The node whose ingress took it.
    pub node: String,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Its application.
    pub app: String,
    /// The deployment that served it.
    pub deployment: String,
    /// The multiplexed model it asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The replica that served it (absent when none was free: a 503).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// The replica's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_node: Option<String>,
    /// Whether it crossed to another node.
    pub hop: bool,
    /// HTTP status.
    pub status: u16,
    /// Time to the response head, in milliseconds.
    pub latency_ms: f64,
    /// The request id (`x-request-id`).
    pub request_id: String,
}

/// What a [`Request::Watch`](crate::wire::Request::Watch) follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchTarget {
    /// `rserve status`.
    Status,
    /// `rserve nodes`.
    Nodes,
    /// `rserve routes`.
    Routes,
}

/// The live route view: every deployment's replicas with their load, as the
/// routers of every node see them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoutesView {
    /// The window the rates and latencies cover, in seconds.
    pub window_s: f64,
    /// One entry per deployment.
    pub deployments: Vec<DeploymentRoutes>,
}

/// One deployment in [`RoutesView`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRoutes {
    /// Application.
    pub app: String,
    /// Deployment.
    pub deployment: String,
    /// The application's route prefix.
    pub route_prefix: String,
    /// Requests waiting for a replica slot, on every node.
    pub queued: u64,
    /// Median latency over the window, every replica's requests together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    /// 99th percentile latency over the window, every replica together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    /// Its replicas.
    pub replicas: Vec<ReplicaRoutes>,
}

/// One replica in [`RoutesView`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaRoutes {
    /// Replica id.
    pub replica_id: String,
    /// Its node.
    pub node_id: String,
    /// Ray's replica state (`RUNNING`, `STARTING`, …).
    pub state: ReplicaState,
    /// Requests in flight to it, from every node's router.
    pub in_flight: u64,
    /// Requests per second over the window.
    pub rps: f64,
    /// Median time to the response head over the window, in ms (None: no requests).
    #[serde(default)]
    pub p50_ms: Option<f64>,
    /// 99th percentile, in ms.
    #[serde(default)]
    pub p99_ms: Option<f64>,
    /// Answers with a 5xx status over the window.
    pub errors: u64,
    /// Multiplexed models it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// One node's router figures for one deployment, over the last window:
/// what a member sends the head with its heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterFigures {
    /// Application.
    pub app: String,
    /// Deployment.
    pub deployment: String,
    /// Requests waiting for a replica slot on this node.
    pub queued: u64,
    /// Per replica this node routes to.
    pub replicas: Vec<ReplicaFigures>,
}

/// One replica's figures in [`RouterFigures`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaFigures {
    /// Replica id.
    pub replica_id: String,
    /// Requests in flight, reported by the node that hosts the replica
    /// (forwarded ones included); other nodes report 0.
    pub in_flight: u64,
    /// Requests answered within the window.
    pub requests: u64,
    /// Requests answered per second over the window.
    #[serde(default)]
    pub rps: f64,
    /// Of which 5xx.
    pub errors: u64,
    /// Non-cumulative counts per latency bucket within the window (Ray's
    /// bucket bounds, the last one +Inf).
    pub buckets: Vec<u64>,
    /// Multiplexed models it holds (the replica's node knows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// One frame of a streaming call, after [`Response::Streaming`](crate::wire::Response::Streaming).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamFrame {
    /// A log line (`logs`).
    Log(LogLine),
    /// A cluster event (`events`).
    Event(ClusterEvent),
    /// A sampled request (`tap`).
    Tap(TapEvent),
    /// The status document, sent first and on every change (`status -w`).
    Status(Box<ServeStatus>),
    /// The node list, sent first and on every change (`nodes -w`).
    Nodes {
        /// Every node, the head first.
        nodes: Vec<NodeStatus>,
    },
    /// The route view, sent first and on every change (`routes -w`).
    Routes(RoutesView),
    /// The history asked for has been sent; what follows is live.
    CaughtUp,
    /// This many items did not fit a slow reader's buffer and were skipped.
    Dropped {
        /// How many.
        count: u64,
        /// Where (`node/ID`).
        source: String,
    },
    /// Something the reader should know that is not an item: a node stopped
    /// answering (its lines stop here), a node could not be reached.
    Notice {
        /// For people.
        message: String,
    },
    /// The call failed after it started; the stream ends.
    Error(WireError),
}

/// Estimates a quantile (0..=1) from non-cumulative bucket counts with
/// upper bounds `bounds` (the last count is +Inf), interpolating linearly
/// within a bucket as Prometheus' `histogram_quantile` does. `None` without
/// samples.
pub fn quantile(bounds: &[f64], counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut seen = 0u64;
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        if (seen + count) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { bounds[i - 1] };
            let Some(&upper) = bounds.get(i) else {
                // +Inf: the best estimate is the largest finite bound.
                return bounds.last().copied();
            };
            let within = (rank - seen as f64) / count as f64;
            return Some(lower + (upper - lower) * within.clamp(0.0, 1.0));
        }
        seen += count;
    }
    bounds.last().copied()
}

/// Cuts `text` to at most [`MAX_LINE_BYTES`] at a character boundary.
pub fn clip_line(text: &mut String) {
    if text.len() > MAX_LINE_BYTES {
        let mut end = MAX_LINE_BYTES - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

/// Sums figures of the same replica reported by several nodes.
pub fn merge_figures<'a>(
    figures: impl IntoIterator<Item = &'a RouterFigures>,
) -> BTreeMap<(String, String), (u64, BTreeMap<String, ReplicaFigures>)> {
    let mut out: BTreeMap<(String, String), (u64, BTreeMap<String, ReplicaFigures>)> =
        BTreeMap::new();
    for fig in figures {
        let entry = out
            .entry((fig.app.clone(), fig.deployment.clone()))
            .or_default();
        entry.0 += fig.queued;
        for r in &fig.replicas {
            let sum = entry
                .1
                .entry(r.replica_id.clone())
                .or_insert_with(|| ReplicaFigures {
                    replica_id: r.replica_id.clone(),
                    ..ReplicaFigures::default()
                });
            sum.in_flight += r.in_flight;
            sum.requests += r.requests;
            sum.rps += r.rps;
            sum.errors += r.errors;
            if sum.buckets.len() < r.buckets.len() {
                sum.buckets.resize(r.buckets.len(), 0);
            }
            for (s, b) in sum.buckets.iter_mut().zip(&r.buckets) {
                *s += b;
            }
            for m in &r.models {
                if !sum.models.contains(m) {
                    sum.models.push(m.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(node: &str, replica: Option<(&str, &str, &str)>) -> LogLine {
        LogLine {
            time_s: 1.0,
            level: "INFO".into(),
            node: node.into(),
            app: replica.map(|r| r.0.to_owned()).unwrap_or_default(),
            deployment: replica.map(|r| r.1.to_owned()).unwrap_or_default(),
            replica: replica.map(|r| r.2.to_owned()),
            message: "hi".into(),
        }
    }

    #[test]
    fn selectors_pick_replicas_and_leave_node_lines_out() {
        let all = LogQuery::default();
        let app = LogQuery {
            app: Some("a".into()),
            ..LogQuery::default()
        };
        let node = LogQuery {
            node: Some("n2".into()),
            ..LogQuery::default()
        };
        let own = line("n1", None);
        let r1 = line("n1", Some(("a", "d", "d-1")));
        let r2 = line("n2", Some(("b", "d", "d-2")));
        assert!(all.matches(&own) && all.matches(&r1) && all.matches(&r2));
        assert!(
            !app.matches(&own),
            "a replica selector leaves node lines out"
        );
        assert!(app.matches(&r1) && !app.matches(&r2));
        assert!(!node.matches(&own) && !node.matches(&r1) && node.matches(&r2));
    }

    #[test]
    fn frames_are_tagged_by_type() {
        let frame = StreamFrame::Dropped {
            count: 3,
            source: "node/x".into(),
        };
        let json = serde_json::to_value(&frame).unwrap();
        assert_eq!(json["type"], "dropped");
        assert_eq!(json["count"], 3);
        let log = serde_json::to_value(StreamFrame::Log(line("n", Some(("a", "d", "r"))))).unwrap();
        assert_eq!(log["type"], "log");
        assert_eq!(log["replica"], "r");
        let back: StreamFrame = serde_json::from_value(log).unwrap();
        assert!(matches!(back, StreamFrame::Log(l) if l.app == "a"));
        let caught = serde_json::to_string(&StreamFrame::CaughtUp).unwrap();
        assert_eq!(caught, r#"{"type":"caught_up"}"#);
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        let bounds = [1.0, 2.0, 5.0];
        assert_eq!(quantile(&bounds, &[0, 0, 0, 0], 0.5), None);
        // 10 samples in (1, 2]: the median is half way.
        assert_eq!(quantile(&bounds, &[0, 10, 0, 0], 0.5), Some(1.5));
        // 99 fast, 1 in +Inf: p99 is still in the first bucket, p100 the last bound.
        assert_eq!(quantile(&bounds, &[99, 0, 0, 1], 0.99), Some(1.0));
        assert_eq!(quantile(&bounds, &[99, 0, 0, 1], 1.0), Some(5.0));
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let mut s = "é".repeat(MAX_LINE_BYTES);
        clip_line(&mut s);
        assert!(s.len() <= MAX_LINE_BYTES && s.ends_with('…'));
        let mut short = "ok".to_owned();
        clip_line(&mut short);
        assert_eq!(short, "ok");
    }

    #[test]
    fn figures_from_several_nodes_add_up() {
        let a = RouterFigures {
            app: "a".into(),
            deployment: "d".into(),
            queued: 2,
            replicas: vec![ReplicaFigures {
                replica_id: "r".into(),
                in_flight: 1,
                requests: 10,
                rps: 1.0,
                errors: 1,
                buckets: vec![5, 5],
                models: vec!["m1".into()],
            }],
        };
        let mut b = a.clone();
        b.replicas[0].models = vec!["m1".into(), "m2".into()];
        let merged = merge_figures([&a, &b]);
        let (queued, replicas) = &merged[&("a".to_owned(), "d".to_owned())];
        assert_eq!(*queued, 4);
        let r = &replicas["r"];
        assert_eq!((r.in_flight, r.requests, r.errors), (2, 20, 2));
        assert_eq!(r.rps, 2.0);
        assert_eq!(r.buckets, vec![10, 10]);
        assert_eq!(r.models, vec!["m1".to_owned(), "m2".to_owned()]);
    }
}

//! `rserve top` without a terminal or a node: fixture state, whole screens
//! drawn into ratatui's `TestBackend` and compared with insta snapshots
//! (`render`), and key sequences through the reducer (`reduce`). The clock
//! is fixed, so ages and times on screen are too.

mod keys;
mod screens;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use rserve_protocol::status::ReplicaState;
use rserve_protocol::status::{AutoscalingDetail, AutoscalingStatus};
use rserve_protocol::stream::{
    ClusterEvent, DeploymentRoutes, EventReason, LogLine, ReplicaRoutes, RoutesView, Severity,
    TapEvent,
};
use rserve_protocol::wire::NodeUsage;

use super::reduce::{Effect, Input, update};
use super::render::{Theme, draw};
use super::state::App;
use crate::output::snapshots::{cluster_nodes, cluster_status};

/// The fixed clock: 100 s after the fixtures' replicas started.
pub const NOW: f64 = 1_700_000_100.0;

fn replica_routes(id: &str, node: &str, rps: f64, in_flight: u64, errors: u64) -> ReplicaRoutes {
    ReplicaRoutes {
        replica_id: id.to_owned(),
        node_id: node.to_owned(),
        state: ReplicaState::Running,
        in_flight,
        rps,
        p50_ms: (rps > 0.0).then_some(3.0),
        p99_ms: (rps > 0.0).then_some(9.5),
        errors,
        models: Vec::new(),
    }
}

fn event(
    seq: u64,
    ago: f64,
    severity: Severity,
    reason: EventReason,
    object: &str,
    message: &str,
) -> ClusterEvent {
    ClusterEvent {
        seq,
        time_s: NOW - ago,
        severity,
        reason,
        object: object.to_owned(),
        app: if object.contains("classifier") || object == "app/digits" {
            "digits".to_owned()
        } else {
            String::new()
        },
        deployment: if object.contains("classifier") {
            "classifier".to_owned()
        } else {
            String::new()
        },
        node: if object.starts_with("node/") {
            object.trim_start_matches("node/").to_owned()
        } else {
            "node-00000000a0a0".to_owned()
        },
        message: message.to_owned(),
    }
}

fn tap(
    ago: f64,
    entry: &str,
    replica: &str,
    node: &str,
    hop: bool,
    status: u16,
    ms: f64,
) -> TapEvent {
    TapEvent {
        time_s: NOW - ago,
        node: entry.to_owned(),
        method: "POST".to_owned(),
        path: "/digits".to_owned(),
        app: "digits".to_owned(),
        deployment: "classifier".to_owned(),
        model: None,
        replica: Some(replica.to_owned()),
        replica_node: Some(node.to_owned()),
        hop,
        status,
        latency_ms: ms,
        request_id: "req-1".to_owned(),
    }
}

fn log(ago: f64, replica: &str, message: &str) -> LogLine {
    LogLine {
        time_s: NOW - ago,
        level: "INFO".to_owned(),
        node: "node-00000000a0a0".to_owned(),
        app: "digits".to_owned(),
        deployment: "classifier".to_owned(),
        replica: Some(replica.to_owned()),
        message: message.to_owned(),
    }
}

/// A head, a member and a dead member; `digits` autoscaling across two
/// nodes with traffic, `echo` failed; some events, sampled requests and logs.
pub fn fixture() -> App {
    let mut app = App::new("127.0.0.1:8265".to_owned(), false, NOW);
    let mut status = cluster_status();
    let digits = status.applications.get_mut("digits").unwrap();
    let classifier = digits.deployments.get_mut("classifier").unwrap();
    classifier.autoscaling_detail = Some(AutoscalingDetail {
        status: AutoscalingStatus::Upscaling,
        current_metric: 2.4,
        target_num_replicas: 3,
        min_replicas: 1,
        max_replicas: 4,
        decisions: Vec::new(),
    });
    classifier.last_failure = Some("replica classifier-00ff00ff failed: panicked".to_owned());
    classifier.replicas[1].multiplexed_models = vec!["mnist-a".to_owned()];
    let d = &mut app.data;
    d.status = Some(status);
    d.nodes = cluster_nodes();
    d.nodes[0].used = NodeUsage {
        num_cpus: 2.0,
        num_gpus: 0.0,
        memory: 1 << 30,
    };
    d.nodes[1].used = NodeUsage {
        num_cpus: 1.0,
        num_gpus: 1.0,
        memory: 4 << 30,
    };
    d.routes = Some(RoutesView {
        window_s: 10.0,
        deployments: vec![
            DeploymentRoutes {
                app: "digits".to_owned(),
                deployment: "classifier".to_owned(),
                route_prefix: "/digits".to_owned(),
                queued: 0,
                p50_ms: Some(3.1),
                p99_ms: Some(9.8),
                replicas: vec![
                    replica_routes("classifier-0a1b2c3d", "node-00000000a0a0", 30.0, 1, 0),
                    replica_routes("classifier-4e5f6a7b", "node-00000000b0b0", 10.0, 3, 4),
                ],
            },
            DeploymentRoutes {
                app: "echo".to_owned(),
                deployment: "slow".to_owned(),
                route_prefix: "/echo".to_owned(),
                queued: 2,
                p50_ms: None,
                p99_ms: None,
                replicas: vec![replica_routes(
                    "slow-9c8d7e6f",
                    "node-00000000a0a0",
                    0.0,
                    0,
                    0,
                )],
            },
        ],
    });
    d.trend.insert(
        ("digits".to_owned(), "classifier".to_owned()),
        [0.0, 10.0, 20.0, 40.0, 30.0, 40.0].into(),
    );
    let events = [
        event(
            1,
            90.0,
            Severity::Normal,
            EventReason::Deployed,
            "app/digits",
            "created",
        ),
        event(
            2,
            80.0,
            Severity::Normal,
            EventReason::ReplicaStarting,
            "replica/classifier-00ff00ff",
            "placed on node-00000000a0a0",
        ),
        event(
            3,
            60.0,
            Severity::Warning,
            EventReason::ReplicaFailed,
            "replica/classifier-00ff00ff",
            "failed: panicked",
        ),
        event(
            4,
            30.0,
            Severity::Warning,
            EventReason::NodeDead,
            "node/node-00000000c0c0",
            "no heartbeat within 10s",
        ),
        event(
            5,
            5.0,
            Severity::Normal,
            EventReason::Autoscaled,
            "deployment/digits/classifier",
            "2 → 3 replicas: 2.40 ongoing requests per replica",
        ),
    ];
    d.events = events.into();
    d.tap = [
        tap(
            3.0,
            "node-00000000a0a0",
            "classifier-0a1b2c3d",
            "node-00000000a0a0",
            false,
            200,
            3.2,
        ),
        tap(
            2.0,
            "node-00000000a0a0",
            "classifier-4e5f6a7b",
            "node-00000000b0b0",
            true,
            200,
            4.1,
        ),
        tap(
            1.0,
            "node-00000000b0b0",
            "classifier-4e5f6a7b",
            "node-00000000b0b0",
            false,
            500,
            1.2,
        ),
    ]
    .into();
    d.logs = [
        log(4.0, "classifier-0a1b2c3d", "Replica running."),
        log(3.0, "classifier-4e5f6a7b", "loaded model mnist-a in 41 ms"),
        log(2.0, "classifier-0a1b2c3d", "batch of 8 in 2.9 ms"),
    ]
    .into();
    app
}

/// The screen `app` draws at `w`×`h`, colourless, as text.
pub fn screen(app: &App, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| draw(f, app, Theme { color: false }))
        .unwrap();
    terminal.backend().to_string()
}

pub fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

pub fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

pub fn code(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Presses the keys in order; the effects of all of them.
pub fn press(app: &mut App, keys: impl IntoIterator<Item = KeyEvent>) -> Vec<Effect> {
    keys.into_iter()
        .flat_map(|k| update(app, Input::Key(k)))
        .filter(|e| !matches!(e, Effect::Want { .. }))
        .collect()
}

/// Types `text` as keys.
pub fn typed(text: &str) -> Vec<KeyEvent> {
    text.chars().map(key).collect()
}

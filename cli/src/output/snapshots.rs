//! Snapshot tests of what `rserve status`, `rserve nodes` and `rserve diff` print, from fixed
//! typed values. The renderers are pure functions of those values (no clock, no
//! randomness, times shown only as the relative figures the node sends), so the
//! fixtures' ids and times are the masks: nothing volatile reaches the output.
//! Expected files: cli/tests/snapshots/; refresh with
//! `RSERVE_REGENERATE=1 cargo test -p rserve snapshot` and review the diff.

use std::collections::BTreeMap;

use rserve_protocol::status::{
    ApplicationDetails, ApplicationStatus, DeploymentDetails, DeploymentStatus,
    DeploymentStatusTrigger, NodeInfo, ReplicaDetails, ReplicaState, STATUS_API_VERSION,
    ServeStatus,
};
use rserve_protocol::wire::{
    AppPlan, Change, DeploymentAction, DeploymentPlan, NodeAdvert, NodeResources, NodeState,
    NodeStatus, NodeUsage,
};

use super::{View, json, nodes, plan, status};
use crate::golden;

const TABLE: View = View {
    wide: false,
    headers: true,
};
const WIDE: View = View {
    wide: true,
    headers: true,
};
const NO_HEADERS: View = View {
    wide: false,
    headers: false,
};

/// Asserts `actual` equals cli/tests/snapshots/`name`, or rewrites it.
fn snapshot(name: &str, actual: &str) {
    let path = format!("cli/tests/snapshots/{name}");
    if golden::check(&path, actual.as_bytes()).is_some() {
        let expected = std::fs::read_to_string(golden::root().join(&path)).unwrap_or_default();
        assert_eq!(
            actual, expected,
            "{path} differs (left: now, right: expected); if intended, run \
             `RSERVE_REGENERATE=1 cargo test -p rserve snapshot`"
        );
    }
}

fn replica(id: &str, state: ReplicaState, ongoing: u32, node: &str) -> ReplicaDetails {
    ReplicaDetails {
        replica_id: id.to_owned(),
        state,
        ongoing_requests: ongoing,
        start_time_s: 1_700_000_000.0,
        multiplexed_models: Vec::new(),
        node_id: node.to_owned(),
        loading: None,
    }
}

fn deployment(
    kind: &str,
    status: DeploymentStatus,
    trigger: DeploymentStatusTrigger,
    target: u32,
    replicas: Vec<ReplicaDetails>,
) -> DeploymentDetails {
    let mut replica_states = BTreeMap::new();
    for r in &replicas {
        *replica_states.entry(r.state).or_insert(0) += 1;
    }
    DeploymentDetails {
        status,
        status_trigger: trigger,
        message: String::new(),
        kind: kind.to_owned(),
        target_num_replicas: target,
        replica_states,
        replica_failures: 0,
        last_failure: None,
        queued_requests: 0,
        batching: None,
        autoscaling_detail: None,
        replicas,
    }
}

/// A head answering for two applications: `digits` healthy across two nodes after
/// a recovered failure, `echo` failed to deploy while its second deployment still
/// starts (the application's message then stands for its deployments').
pub(crate) fn cluster_status() -> ServeStatus {
    let classifier = deployment(
        "digits",
        DeploymentStatus::Healthy,
        DeploymentStatusTrigger::ConfigUpdateCompleted,
        2,
        vec![
            replica("classifier-0a1b2c3d", ReplicaState::Running, 1, ""),
            replica(
                "classifier-4e5f6a7b",
                ReplicaState::Running,
                3,
                "node-00000000b0b0",
            ),
        ],
    );
    let mut classifier = classifier;
    classifier.replica_failures = 1;
    classifier.message =
        "Recovered. Last failure: replica classifier-00ff00ff failed: panicked".to_owned();
    let mut echo = deployment(
        "echo",
        DeploymentStatus::DeployFailed,
        DeploymentStatusTrigger::ReplicaStartupFailed,
        1,
        Vec::new(),
    );
    echo.replica_failures = 3;
    echo.queued_requests = 2;
    let mut slow = deployment(
        "sleep",
        DeploymentStatus::Updating,
        DeploymentStatusTrigger::ConfigUpdateStarted,
        1,
        vec![replica("slow-9c8d7e6f", ReplicaState::Starting, 0, "")],
    );
    slow.message = "starting 1 replica".to_owned();
    let app = |status, route: &str, ingress: &str, message: &str, deps: Vec<(&str, _)>| {
        ApplicationDetails {
            status,
            message: message.to_owned(),
            route_prefix: route.to_owned(),
            ingress: ingress.to_owned(),
            last_deployed_time_s: 1_700_000_000.0,
            deployments: deps.into_iter().map(|(n, d)| (n.to_owned(), d)).collect(),
        }
    };
    ServeStatus {
        api_version: STATUS_API_VERSION.to_owned(),
        kind: "Status".to_owned(),
        node: NodeInfo {
            node_id: "node-00000000a0a0".to_owned(),
            version: "0.1.0".to_owned(),
            http_address: "127.0.0.1:8000".to_owned(),
            control_address: "127.0.0.1:8265".to_owned(),
            uptime_s: 42.0,
        },
        applications: [
            (
                "digits",
                app(
                    ApplicationStatus::Running,
                    "/digits",
                    "classifier",
                    "",
                    vec![("classifier", classifier)],
                ),
            ),
            (
                "echo",
                app(
                    ApplicationStatus::DeployFailed,
                    "/echo",
                    "echo",
                    "deployment echo: replica failed to start 3 times in a row: no such kind",
                    vec![("echo", echo), ("slow", slow)],
                ),
            ),
        ]
        .into_iter()
        .map(|(n, a)| (n.to_owned(), a))
        .collect(),
    }
}

/// The time `rserve nodes` is shown at in the snapshots.
pub(crate) const NODES_NOW_S: f64 = 1_700_000_100.0;

/// A head and two members, one of them dead.
pub(crate) fn cluster_nodes() -> Vec<NodeStatus> {
    let node =
        |id: &str, port: u16, head: bool, state, heartbeat: f64, replicas: &[&str]| NodeStatus {
            advert: NodeAdvert {
                node_id: id.to_owned(),
                http_address: format!("10.0.0.{port}:8000"),
                control_address: format!("10.0.0.{port}:8265"),
                resources: NodeResources {
                    num_cpus: 8.0,
                    num_gpus: if head { 0.0 } else { 1.0 },
                    gpu_memory: if head { 0 } else { 80 << 30 },
                    memory: 32 << 30,
                },
                labels: if head {
                    BTreeMap::new()
                } else {
                    [("gpu".to_owned(), "h100".to_owned())].into()
                },
                software_version: "0.1.0".to_owned(),
            },
            state,
            head,
            last_heartbeat_s: heartbeat,
            joined_at_s: 1_700_000_000.0,
            replicas: replicas.iter().map(|r| (*r).to_owned()).collect(),
            used: NodeUsage::default(),
            // The head's, renewed a day ago; one due soon; one from before
            // certificates expired.
            cert_expires_at_s: match port {
                1 => Some(NODES_NOW_S + 89.0 * 86400.0),
                2 => Some(NODES_NOW_S + 5.0 * 3600.0),
                _ => None,
            },
        };
    vec![
        node(
            "node-00000000a0a0",
            1,
            true,
            NodeState::Alive,
            0.0,
            &["classifier-0a1b2c3d"],
        ),
        node(
            "node-00000000b0b0",
            2,
            false,
            NodeState::Alive,
            0.4,
            &["classifier-4e5f6a7b", "chat-11223344"],
        ),
        node("node-00000000c0c0", 3, false, NodeState::Dead, 12.0, &[]),
    ]
}

fn empty_status() -> ServeStatus {
    ServeStatus {
        applications: BTreeMap::new(),
        ..cluster_status()
    }
}

#[test]
fn snapshot_status_table() {
    snapshot("status.txt", &status::table(&cluster_status(), TABLE));
}

#[test]
fn snapshot_status_wide() {
    snapshot("status-wide.txt", &status::table(&cluster_status(), WIDE));
}

#[test]
fn snapshot_status_without_headers() {
    snapshot(
        "status-no-headers.txt",
        &status::table(&cluster_status(), NO_HEADERS),
    );
}

#[test]
fn snapshot_status_names() {
    snapshot("status-name.txt", &status::names(&cluster_status()));
}

#[test]
fn snapshot_status_with_no_applications() {
    snapshot("status-empty.txt", &status::table(&empty_status(), TABLE));
    assert_eq!(status::names(&empty_status()), "");
}

#[test]
fn snapshot_status_json() {
    snapshot("status.json", &json(&cluster_status()).unwrap());
}

#[test]
fn snapshot_wait_progress_line() {
    let apps = ["digits".to_owned(), "echo".to_owned(), "gone".to_owned()];
    snapshot(
        "progress.txt",
        &(status::progress_line(&cluster_status(), &apps) + "\n"),
    );
}

#[test]
fn snapshot_nodes_table() {
    snapshot(
        "nodes.txt",
        &nodes::table(&cluster_nodes(), TABLE, NODES_NOW_S),
    );
}

#[test]
fn snapshot_nodes_wide() {
    snapshot(
        "nodes-wide.txt",
        &nodes::table(&cluster_nodes(), WIDE, NODES_NOW_S),
    );
}

#[test]
fn snapshot_nodes_without_headers() {
    snapshot(
        "nodes-no-headers.txt",
        &nodes::table(&cluster_nodes(), NO_HEADERS, NODES_NOW_S),
    );
}

#[test]
fn snapshot_nodes_names() {
    snapshot("nodes-name.txt", &nodes::names(&cluster_nodes()));
}

fn dep_plan(
    name: &str,
    action: DeploymentAction,
    in_place: &[&str],
    replacing: &[&str],
) -> DeploymentPlan {
    DeploymentPlan {
        deployment: name.into(),
        action,
        in_place: in_place.iter().map(|k| (*k).to_owned()).collect(),
        replacing: replacing.iter().map(|k| (*k).to_owned()).collect(),
        reason: String::new(),
    }
}

fn a_plan() -> Vec<AppPlan> {
    vec![
        AppPlan {
            app: "chat".into(),
            change: Change::Created,
            keys: vec![],
            deployments: vec![dep_plan("llm", DeploymentAction::Created, &[], &[])],
        },
        AppPlan {
            app: "embed".into(),
            change: Change::Updated,
            keys: vec!["route_prefix".into()],
            deployments: vec![
                dep_plan(
                    "embedder",
                    DeploymentAction::Updated,
                    &["max_ongoing_requests", "num_replicas"],
                    &[],
                ),
                dep_plan(
                    "tokenizer",
                    DeploymentAction::Replaced,
                    &["num_replicas"],
                    &["replica.model_path"],
                ),
                DeploymentPlan {
                    reason: "DEPLOY_FAILED: a deploy starts its replicas again".into(),
                    ..dep_plan("reranker", DeploymentAction::Replaced, &[], &[])
                },
                dep_plan("old", DeploymentAction::Removed, &[], &[]),
            ],
        },
        AppPlan {
            app: "echo".into(),
            change: Change::Unchanged,
            keys: vec![],
            deployments: vec![dep_plan("echo", DeploymentAction::Unchanged, &[], &[])],
        },
    ]
}

#[test]
fn snapshot_diff_table() {
    snapshot("diff.txt", &plan::table(&a_plan()));
    assert!(plan::changes_anything(&a_plan()));
    assert!(!plan::changes_anything(&a_plan()[2..]));
}

#[test]
fn snapshot_diff_json() {
    snapshot(
        "diff.json",
        &json(&serde_json::json!({ "changes": a_plan() })).unwrap(),
    );
}

#[test]
fn a_model_load_under_way_moves_the_progress_row() {
    let mut status = cluster_status();
    let dep = status
        .applications
        .get_mut("digits")
        .unwrap()
        .deployments
        .values_mut()
        .next()
        .unwrap();
    let mut starting = replica("classifier-9a9a9a9a", ReplicaState::Starting, 0, "");
    starting.loading = Some(rserve_protocol::status::LoadSteps { done: 3, total: 8 });
    dep.replicas.push(starting.clone());
    starting.loading = Some(rserve_protocol::status::LoadSteps { done: 7, total: 8 });
    dep.replicas.push(starting);
    let rows = status::progress_rows(&status, &["digits".to_owned()]);
    assert!(
        rows[0].phase.contains("loading weights 3/8"),
        "the load furthest behind is shown: {}",
        rows[0].phase
    );
    let rows = status::progress_rows(&cluster_status(), &["digits".to_owned()]);
    assert!(!rows[0].phase.contains("loading"), "{}", rows[0].phase);
}

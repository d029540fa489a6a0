//! Autoscaling with real nodes on loopback: a `sleep` deployment follows a
//! concurrent load up and back down (one node, and a 3-node cluster where the
//! signal crosses heartbeats), a downscale under load loses no request, a
//! deployment at zero answers its first request once a replica is up, and
//! `rserve scale` sets a fixed count (and refuses an autoscaled one).

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use harness::{TestNode, free_udp_port, wait_for};

/// `(target, running)` of the app's only deployment.
fn scale_of(node: &TestNode, app: &str) -> (u64, u64) {
    let status = node.status();
    let deps = status["applications"][app]["deployments"]
        .as_object()
        .unwrap()
        .clone();
    let d = deps.values().next().unwrap();
    (
        d["target_num_replicas"].as_u64().unwrap(),
        d["replica_states"]["RUNNING"].as_u64().unwrap_or(0),
    )
}

/// Clients that send requests in a loop until stopped, counting answers.
struct Load {
    stop: Vec<Arc<AtomicBool>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl Load {
    fn start(http: std::net::SocketAddr, path: &'static str, clients: usize) -> Self {
        let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let mut load = Self {
            stop: Vec::new(),
            threads: Vec::new(),
            ok,
            failed,
        };
        for _ in 0..clients {
            let stop = Arc::new(AtomicBool::new(false));
            let (flag, ok, failed) = (stop.clone(), load.ok.clone(), load.failed.clone());
            load.threads.push(std::thread::spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    let r = harness::http(http, "POST", path, &[], b"x");
                    if r.status == 200 {
                        ok.fetch_add(1, Ordering::SeqCst);
                    } else {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }));
            load.stop.push(stop);
        }
        load
    }

    /// Stops all but `keep` clients (they finish their request first).
    fn reduce_to(&mut self, keep: usize) {
        while self.stop.len() > keep {
            self.stop.pop().unwrap().store(true, Ordering::SeqCst);
            self.threads.pop().unwrap().join().unwrap();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for s in &self.stop {
            s.store(true, Ordering::SeqCst);
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn sleep_app(dir: &std::path::Path, autoscaling: &str) -> std::path::PathBuf {
    harness::app_file(
        dir,
        "slow.toml",
        &format!(
            "[[applications]]\nname = \"slow\"\nroute_prefix = \"/slow\"\n\
             [[applications.deployments]]\nname = \"s\"\nmax_ongoing_requests = 2\n\
             autoscaling_config = {{ {autoscaling} }}\n\
             replica = {{ kind = \"sleep\", duration_ms = 200 }}\n"
        ),
    )
}

const QUICK: &str = "min_replicas = 1, max_replicas = 4, target_ongoing_requests = 1, \
                     upscale_delay_s = 0.5, downscale_delay_s = 2, look_back_period_s = 1";

fn scales_up_and_down_without_losing_a_request(entry: &TestNode, head: &TestNode) {
    // The entry node has the route (a member learns it with a heartbeat).
    wait_for("the entry node to serve", 15, || {
        entry.http("POST", "/slow", &[], b"x").status == 200
    });
    let mut load = Load::start(entry.http, "/slow", 8);
    // 8 clients at 1 ongoing request per replica: as many replicas as allowed.
    wait_for("four running replicas", 30, || {
        scale_of(head, "slow") == (4, 4)
    });
    let events = head.ok(&["events", "-o", "json"]);
    assert!(events.contains("\"Autoscaled\""), "{events}");
    // Fewer clients: a downscale while requests keep coming.
    load.reduce_to(1);
    wait_for("one replica again", 30, || scale_of(head, "slow") == (1, 1));
    let served = load.ok.load(Ordering::SeqCst);
    let failed = load.failed.load(Ordering::SeqCst);
    drop(load);
    assert_eq!(failed, 0, "no request may fail while the deployment scales");
    assert!(served > 20, "{served} answered");
    let status = head.status();
    let detail = &status["applications"]["slow"]["deployments"]["s"]["autoscaling_detail"];
    assert_eq!(detail["status"], "STABLE", "{detail}");
    let decisions = detail["decisions"].as_array().unwrap();
    assert!(
        decisions
            .iter()
            .any(|d| d["curr_num_replicas"].as_u64() > d["prev_num_replicas"].as_u64()),
        "{detail}"
    );
    assert!(
        decisions
            .iter()
            .any(|d| d["curr_num_replicas"].as_u64() < d["prev_num_replicas"].as_u64()),
        "{detail}"
    );
    let metrics = String::from_utf8(head.http("GET", "/-/metrics", &[], b"").body).unwrap();
    assert!(
        metrics
            .contains("rserve_deployment_target_replicas{application=\"slow\",deployment=\"s\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rserve_autoscaling_decisions_total{application=\"slow\",deployment=\"s\",direction=\"up\"}"),
        "{metrics}"
    );
}

#[test]
fn a_deployment_follows_the_load_up_and_down_on_one_node_losing_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("node"), &[]);
    let app = sleep_app(tmp.path(), QUICK);
    node.ok(&["deploy", app.to_str().unwrap(), "--wait", "--timeout", "30"]);
    assert_eq!(scale_of(&node, "slow"), (1, 1));
    scales_up_and_down_without_losing_a_request(&node, &node);
}

#[test]
fn on_a_cluster_the_load_seen_by_members_scales_the_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start(&tmp.path().join("head"), &[]);
    let token = head
        .ok(&["token", "create", "--uses", "2"])
        .trim()
        .to_owned();
    let join = head.control.to_string();
    let members: Vec<TestNode> = (0..2)
        .map(|i| {
            TestNode::start_on(
                &tmp.path().join(format!("m{i}")),
                &format!("127.0.0.{}", i + 2),
                "0",
                &["--join", &join, "--token", &token],
            )
        })
        .collect();
    wait_for("two members", 15, || {
        let v: serde_json::Value =
            serde_json::from_str(&head.ok(&["nodes", "-o", "json"])).unwrap();
        v["nodes"].as_array().unwrap().len() == 3
    });
    let app = sleep_app(tmp.path(), QUICK);
    head.ok(&["deploy", app.to_str().unwrap(), "--wait", "--timeout", "30"]);
    // The load enters a member: its router's figures reach the head by heartbeat.
    scales_up_and_down_without_losing_a_request(&members[0], &head);
}

#[test]
fn from_zero_the_first_request_waits_for_a_replica_and_is_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("node"), &[]);
    let app = sleep_app(
        tmp.path(),
        "min_replicas = 0, max_replicas = 2, upscale_delay_s = 30, downscale_delay_s = 1, \
         downscale_to_zero_delay_s = 1, look_back_period_s = 0.5",
    );
    node.ok(&["deploy", app.to_str().unwrap(), "--wait", "--timeout", "30"]);
    assert_eq!(
        scale_of(&node, "slow"),
        (0, 0),
        "min_replicas = 0 starts at zero"
    );
    let start = Instant::now();
    let r = node.http("POST", "/slow", &[], b"x");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let cold = start.elapsed();
    assert!(cold < Duration::from_secs(25), "held {cold:?}");
    // No traffic: back to zero after downscale_to_zero_delay_s.
    wait_for("zero replicas", 20, || scale_of(&node, "slow") == (0, 0));
    let events = node.ok(&["events"]);
    assert!(events.contains("cold start"), "{events}");
}

#[test]
fn scale_sets_a_fixed_count_and_refuses_an_autoscaled_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("node"), &[]);
    let echo = harness::app_file(
        tmp.path(),
        "echo.toml",
        "[[applications]]\nname = \"echo\"\nroute_prefix = \"/echo\"\n\
         [[applications.deployments]]\nname = \"e\"\nreplica = { kind = \"echo\" }\n",
    );
    node.ok(&["deploy", echo.to_str().unwrap(), "--wait"]);
    assert_eq!(
        node.ok(&["scale", "echo/e", "3"]),
        "deployment/echo/e scaled to 3\n"
    );
    wait_for("three replicas", 20, || scale_of(&node, "echo") == (3, 3));
    assert!(node.ok(&["config", "echo"]).contains("num_replicas = 3"));
    assert_eq!(
        node.ok(&["scale", "echo/e", "3"]),
        "deployment/echo/e unchanged\n"
    );
    let app = sleep_app(tmp.path(), QUICK);
    node.ok(&["deploy", app.to_str().unwrap(), "--wait", "--timeout", "30"]);
    let out = node.cli(&["scale", "slow/s", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("autoscales"), "{err}");
    let missing = node.cli(&["scale", "echo/nope", "2"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no deployment nope"));
}

#[test]
fn a_head_restart_resumes_autoscaling_without_scaling_down() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_udp_port("127.0.0.1").to_string();
    let head_dir = tmp.path().join("head");
    let mut head = TestNode::start_on(&head_dir, "127.0.0.1", &port, &[]);
    let token = head.ok(&["token", "create"]).trim().to_owned();
    let join = head.control.to_string();
    let member = TestNode::start_on(
        &tmp.path().join("m"),
        "127.0.0.2",
        "0",
        &["--join", &join, "--token", &token, "--label", "zone=a"],
    );
    wait_for("the member", 15, || {
        let v: serde_json::Value =
            serde_json::from_str(&head.ok(&["nodes", "-o", "json"])).unwrap();
        v["nodes"].as_array().unwrap().len() == 2
    });
    // Every replica on the member, so they outlive the head.
    let app = harness::app_file(
        tmp.path(),
        "slow.toml",
        &format!(
            "[[applications]]\nname = \"slow\"\nroute_prefix = \"/slow\"\n\
             [[applications.deployments]]\nname = \"s\"\nmax_ongoing_requests = 2\n\
             resources = {{ label_selector = {{ zone = \"a\" }} }}\n\
             autoscaling_config = {{ {QUICK} }}\n\
             replica = {{ kind = \"sleep\", duration_ms = 200 }}\n"
        ),
    );
    head.ok(&["deploy", app.to_str().unwrap(), "--wait", "--timeout", "30"]);
    wait_for("the member to serve", 15, || {
        member.http("POST", "/slow", &[], b"x").status == 200
    });
    let load = Load::start(member.http, "/slow", 8);
    wait_for("four running replicas", 30, || {
        scale_of(&head, "slow") == (4, 4)
    });

    let before = replica_ids(&head);

    // The head goes and comes back; the member keeps serving meanwhile.
    assert!(head.signal_and_wait("TERM").success());
    std::thread::sleep(Duration::from_secs(1));
    head = TestNode::start_on(&head_dir, "127.0.0.1", &port, &[]);
    // It re-adopts the four and, under the same load, keeps them: no decision
    // from an empty history, no replica stopped.
    wait_for("the replicas re-adopted", 20, || {
        scale_of(&head, "slow") == (4, 4)
    });
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        assert_eq!(scale_of(&head, "slow"), (4, 4), "{}", head.log());
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        replica_ids(&head),
        before,
        "the same replicas, none replaced"
    );
    let failed = load.failed.load(Ordering::SeqCst);
    drop(load);
    assert_eq!(failed, 0, "no request may fail across the head restart");
}

fn replica_ids(node: &TestNode) -> Vec<String> {
    let status = node.status();
    let mut ids: Vec<String> = status["applications"]["slow"]["deployments"]["s"]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["replica_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

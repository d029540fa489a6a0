//! Live streams against real nodes on loopback: `rserve logs` (follow, tail,
//! since, previous, a member dying mid-follow), `events` (a failure with its
//! reason, kept across a head restart), `status -w`, `routes` under a held
//! load, `tap` on every node's ingress, and a stalled reader that must not
//! slow serving.

mod harness;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::{TestNode, node_id, wait_for};

/// A streaming CLI command running in the background, its stdout and stderr
/// read line by line on threads.
struct Follower {
    child: Child,
    /// Not read yet (a stalled reader); see [`Follower::resume`].
    unread: Option<std::process::ChildStdout>,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
    notes: Vec<String>,
}

fn lines(reader: Box<dyn std::io::Read + Send>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

impl Follower {
    fn start(node: &TestNode, args: &[&str]) -> Self {
        let mut follower = Self::stalled(node, args);
        follower.resume();
        follower
    }

    /// Starts the command but reads nothing of its stdout until [`Self::resume`].
    fn stalled(node: &TestNode, args: &[&str]) -> Self {
        let mut child = Command::new(harness::BIN)
            .arg("--state-dir")
            .arg(&node.state_dir)
            .args(args)
            .env_remove("RSERVE_TOKEN")
            .env_remove("RSERVE_ADDR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn rserve");
        let unread = child.stdout.take();
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        Self {
            child,
            unread,
            stdout: mpsc::channel().1,
            stderr,
            seen: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Starts reading stdout.
    fn resume(&mut self) {
        if let Some(out) = self.unread.take() {
            self.stdout = lines(Box::new(out));
        }
    }

    /// Takes in whatever arrives within `wait`.
    fn poll(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Ok(line) = self
            .stdout
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
    }

    /// Waits up to `secs` for a stdout line matching `pred`; returns it.
    fn wait_line(&mut self, secs: u64, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        if let Some(line) = self.seen.iter().find(|l| pred(l)) {
            return line.clone();
        }
        loop {
            while let Ok(note) = self.stderr.try_recv() {
                self.notes.push(note);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .stdout
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => panic!(
                    "no line with {what} within {secs}s; stdout:\n{}\nstderr:\n{}",
                    self.seen.join("\n"),
                    self.notes.join("\n")
                ),
            }
        }
    }

    /// Waits up to `secs` for a stderr line matching `pred`.
    fn wait_note(&mut self, secs: u64, what: &str, pred: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.notes.iter().any(|n| pred(n)) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .stderr
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(note) => self.notes.push(note),
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
                Err(_) => panic!(
                    "no note with {what} within {secs}s; stderr:\n{}",
                    self.notes.join("\n")
                ),
            }
        }
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The replica ids of `app` (one deployment) in status.
fn replicas(head: &TestNode, app: &str) -> Vec<String> {
    let status = head.status();
    status["applications"][app]["deployments"]
        .as_object()
        .map(|deps| {
            deps.values()
                .flat_map(|d| d["replicas"].as_array().cloned().unwrap_or_default())
                .map(|r| r["replica_id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// An echo app of one replica on the nodes labelled `zone`.
fn echo_app(dir: &std::path::Path, name: &str, zone: &str) -> std::path::PathBuf {
    harness::app_file(
        dir,
        &format!("{name}.toml"),
        &format!(
            "[[applications]]\nname = \"{name}\"\nroute_prefix = \"/{name}\"\n\
             [[applications.deployments]]\nname = \"e\"\nnum_replicas = 1\n\
             resources = {{ label_selector = {{ zone = \"{zone}\" }} }}\n\
             replica = {{ kind = \"echo\", fault_injection = true }}\n"
        ),
    )
}

/// A head and members labelled zone=a, zone=b, ….
fn cluster(tmp: &std::path::Path, members: usize) -> (TestNode, Vec<TestNode>) {
    let head = TestNode::start_on(
        &tmp.join("head"),
        "127.0.0.1",
        "0",
        &["--label", "zone=head"],
    );
    let token = head
        .ok(&["token", "create", "--uses", &members.to_string()])
        .trim()
        .to_owned();
    let join = head.control.to_string();
    let nodes: Vec<TestNode> = (0..members)
        .map(|i| {
            let zone = format!("zone={}", (b'a' + i as u8) as char);
            TestNode::start_on(
                &tmp.join(format!("m{i}")),
                &format!("127.0.0.{}", i + 2),
                "0",
                &["--join", &join, "--token", &token, "--label", &zone],
            )
        })
        .collect();
    wait_for("the members to join", 15, || {
        let v: serde_json::Value =
            serde_json::from_str(&head.ok(&["nodes", "-o", "json"])).unwrap();
        v["nodes"].as_array().unwrap().len() == members + 1
    });
    (head, nodes)
}

#[test]
fn logs_follow_the_cluster_select_by_tail_and_since_keep_a_panic_and_outlive_a_member() {
    let tmp = tempfile::tempdir().unwrap();
    let (head, mut members) = cluster(tmp.path(), 2);
    let mut follow = Follower::start(&head, &["logs", "-f", "--prefix"]);
    // The history ends with a marker only the CLI sees; wait for the head's own lines.
    follow.wait_line(10, "a node line", |l| l.starts_with("[node/"));

    let a = echo_app(tmp.path(), "alpha", "a");
    let b = echo_app(tmp.path(), "beta", "b");
    head.ok(&["deploy", a.to_str().unwrap(), "--wait", "--timeout", "30"]);
    head.ok(&["deploy", b.to_str().unwrap(), "--wait", "--timeout", "30"]);
    let alpha = replicas(&head, "alpha").pop().unwrap();
    let beta = replicas(&head, "beta").pop().unwrap();
    // Lines logged on the members reach the head's follower, prefixed.
    follow.wait_line(10, "alpha's replica running", |l| {
        l.starts_with(&format!("[replica/{alpha}]")) && l.contains("Replica running.")
    });
    follow.wait_line(10, "beta's replica running", |l| {
        l.starts_with(&format!("[replica/{beta}]")) && l.contains("Replica running.")
    });

    // --tail and --since select: one line per replica; none newer than now.
    let tail = head.ok(&["logs", "alpha", "--tail", "1", "-o", "json"]);
    let lines = json_lines(&tail);
    assert_eq!(lines.len(), 1, "{tail}");
    assert_eq!(lines[0]["type"], "log");
    assert_eq!(lines[0]["replica"], alpha.as_str());
    assert_eq!(lines[0]["node"], node_id(&members[0]).as_str());
    let all = head.ok(&["logs", "alpha/e"]);
    assert!(all.contains("Replica running."), "{all}");
    assert!(!all.starts_with('['), "one replica: no prefix\n{all}");
    // The head's own lines: --tail keeps the newest.
    let head_id = node_id(&head);
    let own = json_lines(&head.ok(&["logs", "--node", &head_id, "-o", "json"]));
    assert!(own.len() > 3, "{own:?}");
    let last2 = json_lines(&head.ok(&["logs", "--node", &head_id, "--tail", "2", "-o", "json"]));
    assert_eq!(last2.len(), 2);
    let time = |l: &serde_json::Value| l["time_s"].as_f64().unwrap();
    assert!(time(&last2[0]) <= time(&last2[1]));
    assert!(
        time(&last2[0]) >= time(&own[own.len() - 3]),
        "the newest two, not older ones"
    );
    assert!(
        last2
            .iter()
            .all(|l| l["node"] == head_id.as_str() && l.get("replica").is_none())
    );
    assert_eq!(head.ok(&["logs", "alpha", "--since", "0s"]), "");
    assert!(!head.ok(&["logs", "alpha", "--since", "1h"]).is_empty());
    assert_eq!(
        head.ok(&["logs", "alpha", "--node", &node_id(&members[1])]),
        "",
        "alpha runs on the first member only"
    );

    // A member dies mid-follow: a notice, and the others' lines keep coming.
    members[1].child.as_mut().unwrap().kill().unwrap();
    follow.wait_note(15, "the dead member", |n| {
        n.contains("stopped answering") && n.contains(&node_id(&members[1]))
    });

    // A panic: alpha's replica dies, its last lines stay for --previous, a new one starts.
    let r = head.http("POST", "/alpha", &[("x-rserve-fault", "panic")], b"x");
    assert_eq!(r.status, 500);
    wait_for("a replacement replica", 30, || {
        replicas(&head, "alpha").iter().any(|r| *r != alpha)
    });
    let previous = head.ok(&["logs", "alpha", "--previous"]);
    assert!(
        previous.contains("fault injected by x-rserve-fault: panic"),
        "{previous}"
    );
    let replacement = replicas(&head, "alpha")
        .into_iter()
        .find(|r| *r != alpha)
        .unwrap();
    follow.wait_line(30, "the replacement running after the member died", |l| {
        l.starts_with(&format!("[replica/{replacement}]")) && l.contains("Replica running.")
    });
}

#[test]
fn events_keep_a_failure_across_a_head_restart_and_status_watch_reports_a_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let mut node = TestNode::start(&dir, &["--label", "zone=head"]);
    let mut watch = Follower::start(&node, &["status", "-w", "-o", "json"]);
    let app = echo_app(tmp.path(), "alpha", "head");
    node.ok(&["deploy", app.to_str().unwrap(), "--wait", "--timeout", "30"]);
    watch.wait_line(10, "alpha added", |l| {
        l.contains(r#""type":"ADDED""#) && l.contains(r#""name":"alpha""#)
    });
    let r = node.http("POST", "/alpha", &[("x-rserve-fault", "panic")], b"x");
    assert_eq!(r.status, 500);
    let failed = |node: &TestNode| -> Option<serde_json::Value> {
        json_lines(&node.ok(&["events", "-o", "json"]))
            .into_iter()
            .find(|e| e["reason"] == "ReplicaFailed")
    };
    wait_for("the failure event", 10, || failed(&node).is_some());
    let event = failed(&node).unwrap();
    assert_eq!(event["type"], "event");
    assert_eq!(event["severity"], "Warning");
    assert_eq!(event["app"], "alpha");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("fault injected by x-rserve-fault: panic"),
        "{event}"
    );

    node.ok(&["delete", "alpha", "--wait"]);
    watch.wait_line(10, "alpha deleted", |l| {
        l.contains(r#""type":"DELETED""#) && l.contains(r#""name":"alpha""#)
    });

    // A restart: the event log is kept; the watch says it reconnects.
    assert!(node.signal_and_wait("TERM").success());
    node = TestNode::start(&dir, &["--label", "zone=head"]);
    assert_eq!(failed(&node).unwrap()["seq"], event["seq"]);
    let table = node.ok(&["events", "--tail", "50"]);
    assert!(table.starts_with("TIME"), "{table}");
    assert!(table.contains("ReplicaFailed"), "{table}");
    watch.wait_note(15, "the reconnect", |n| n.contains("reconnected"));
}

#[test]
fn routes_show_a_held_load_and_tap_sees_requests_entering_every_node() {
    let tmp = tempfile::tempdir().unwrap();
    let (head, members) = cluster(tmp.path(), 1);
    let slow = harness::app_file(
        tmp.path(),
        "slow.toml",
        "[[applications]]\nname = \"slow\"\nroute_prefix = \"/slow\"\n\
         [[applications.deployments]]\nname = \"s\"\nnum_replicas = 1\nmax_ongoing_requests = 8\n\
         resources = { label_selector = { zone = \"a\" } }\n\
         replica = { kind = \"sleep\", duration_ms = 4000 }\n",
    );
    head.ok(&[
        "deploy",
        slow.to_str().unwrap(),
        "--wait",
        "--timeout",
        "30",
    ]);
    let echo = echo_app(tmp.path(), "alpha", "a");
    head.ok(&[
        "deploy",
        echo.to_str().unwrap(),
        "--wait",
        "--timeout",
        "30",
    ]);
    let member = node_id(&members[0]);

    // Three requests held on the member's replica, sent through the head.
    let http = head.http;
    let held: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || harness::http(http, "POST", "/slow", &[], b"x")))
        .collect();
    let in_flight = || -> (u64, String) {
        let v: serde_json::Value =
            serde_json::from_str(&head.ok(&["routes", "-o", "json"])).unwrap();
        let dep = v["deployments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["app"] == "slow")
            .cloned()
            .unwrap();
        let r = &dep["replicas"][0];
        (
            r["in_flight"].as_u64().unwrap(),
            r["node_id"].as_str().unwrap().to_owned(),
        )
    };
    wait_for("three requests in flight", 10, || in_flight().0 == 3);
    assert_eq!(in_flight().1, member);
    let table = head.ok(&["routes"]);
    assert!(table.starts_with("DEPLOYMENT"), "{table}");
    assert!(table.contains("slow/s"), "{table}");
    for h in held {
        assert_eq!(h.join().unwrap().status, 200);
    }

    // Tap on the head sees requests entering either node, and who served them.
    let mut tap = Follower::start(&head, &["tap", "alpha", "-o", "json"]);
    let head_id = node_id(&head);
    let mut seen_entry = |entry: &TestNode, id: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = entry.http("POST", "/alpha", &[("x-request-id", "tapped-1")], b"x");
            assert_eq!(r.status, 200);
            let found = tap
                .seen
                .iter()
                .any(|l| l.contains(&format!(r#""node":"{id}""#)));
            if found {
                break;
            }
            tap.poll(Duration::from_millis(300));
            assert!(
                Instant::now() < deadline,
                "tap never saw {id}: {:?}",
                tap.seen
            );
        }
    };
    seen_entry(&head, &head_id);
    seen_entry(&members[0], &member);
    let event: serde_json::Value = serde_json::from_str(
        tap.seen
            .iter()
            .find(|l| l.contains(&format!(r#""node":"{head_id}""#)))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(event["type"], "tap");
    assert_eq!(event["replica_node"], member.as_str());
    assert_eq!(event["hop"], true, "the head forwarded it to the member");
    assert_eq!(event["status"], 200);
    assert_eq!(event["request_id"], "tapped-1");
    assert!(event["replica"].as_str().unwrap().starts_with("e-"));
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_stalled_reader_costs_serving_nothing_and_is_told_what_it_missed() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("node"), &[]);
    let app = harness::app_file(
        tmp.path(),
        "echo.toml",
        "[[applications]]\nname = \"echo\"\nroute_prefix = \"/echo\"\n\
         [[applications.deployments]]\nname = \"e\"\nnum_replicas = 1\n\
         replica = { kind = \"echo\" }\n",
    );
    node.ok(&["deploy", app.to_str().unwrap(), "--wait", "--timeout", "30"]);
    // Readers whose stdout nobody reads: their pipes fill, then their streams.
    let mut tap = Follower::stalled(&node, &["tap", "--max-rps", "10000", "-o", "json"]);
    let _logs = Follower::stalled(&node, &["logs", "-f", "-o", "json"]);
    std::thread::sleep(Duration::from_millis(500));
    let pid = node.child.as_ref().unwrap().id();
    let before = rss_kib(pid);
    let body = vec![b'x'; 1024];
    // Long enough for the node's tap budget (1000 a second) to overflow every
    // buffer between it and the stalled pipe (QUIC's window is the largest).
    let start = Instant::now();
    let mut served = 0;
    while start.elapsed() < Duration::from_secs(12) {
        assert_eq!(node.http("POST", "/echo", &[], &body).status, 200);
        served += 1;
    }
    assert!(served > 1000, "{served} requests in 12 s");
    let grown = rss_kib(pid).saturating_sub(before);
    assert!(grown < 64 * 1024, "the node grew by {grown} KiB");
    // Reading again: the stream goes on and says how much it skipped.
    tap.resume();
    tap.wait_line(30, "a dropped marker", |l| {
        l.contains(r#""type":"dropped""#)
    });
}

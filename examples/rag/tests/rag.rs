//! Deployments written in Rust, end to end with real nodes and real weights:
//! the RAG example (`rag` calling `embeddings` and `chat` through handles) on
//! one node and across two, `relay` hops that fail fast (overload, a killed
//! dependency), `reconfigure` in place, and what deploy refuses.

#[path = "../../../tests/harness.rs"]
mod harness;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::{TestNode, app_file, repo, wait_for};
use serde_json::Value;

/// Questions with the corpus line (passage id) that answers each.
const QUESTIONS: &[(&str, u64)] = &[
    ("What is the capital of Japan?", 5),
    ("Which element has the chemical symbol Au?", 63),
    ("What is the largest animal that has ever lived?", 72),
    ("Who invented the World Wide Web?", 104),
];

/// Fetches the weights (scripts/fetch-models.sh) if missing.
fn prerequisites() {
    let lock = std::fs::File::create(std::env::temp_dir().join("rserve-test-fetch.lock")).unwrap();
    lock.lock().unwrap();
    let fetched = Command::new("bash")
        .arg(repo("scripts/fetch-models.sh"))
        .status()
        .unwrap();
    assert!(fetched.success(), "scripts/fetch-models.sh failed");
}

/// examples/rag/rag.toml with absolute model paths (the node's cwd differs).
fn rag_toml() -> String {
    std::fs::read_to_string(repo("examples/rag/rag.toml"))
        .unwrap()
        .replace("\"models/", &format!("\"{}/", repo("models").display()))
}

fn deploy(node: &TestNode, path: &std::path::Path) {
    node.ok(&[
        "deploy",
        path.to_str().unwrap(),
        "--wait",
        "--timeout",
        "240",
    ]);
}

/// Asks `rag` without streaming; the answer as JSON.
fn ask(node: &TestNode, question: &str) -> Value {
    let body = serde_json::json!({"question": question, "stream": false}).to_string();
    let r = node.http("POST", "/rag", &[], body.as_bytes());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn passage_ids(answer: &Value) -> Vec<u64> {
    answer["passages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect()
}

/// The `data` of every server-sent event in `body`.
fn events(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// Asks every question, checks the passage that answers it comes first, and
/// one streamed answer: passages, then text deltas, then timings, `[DONE]`.
fn answers_right(node: &TestNode, request_id: &str) {
    for (question, id) in QUESTIONS {
        let answer = ask(node, question);
        assert_eq!(passage_ids(&answer)[0], *id, "{question}: {answer:#}");
        assert_eq!(passage_ids(&answer).len(), 3, "top_k = 3");
        assert!(
            !answer["answer"].as_str().unwrap().trim().is_empty(),
            "{answer:#}"
        );
        assert!(answer["timings"]["embed_ms"].as_f64().unwrap() > 0.0);
    }
    let body = serde_json::json!({"question": QUESTIONS[0].0}).to_string();
    let r = node.http(
        "POST",
        "/rag",
        &[("x-request-id", request_id)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("x-request-id"), Some(request_id));
    let events = events(&r.body);
    let first: Value = serde_json::from_str(&events[0]).unwrap();
    assert_eq!(first["passages"][0]["id"], QUESTIONS[0].1, "{events:?}");
    let deltas: Vec<Value> = events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter(|e| e.get("delta").is_some())
        .collect();
    assert!(
        deltas.len() >= 2,
        "the answer streams in pieces: {events:?}"
    );
    let timings: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert!(
        timings["timings"]["first_token_ms"].as_f64().unwrap() > 0.0,
        "{events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

/// `rserve tap APP -o json` in the background, its lines on a channel.
fn tap(node: &TestNode, app: &str) -> (std::process::Child, mpsc::Receiver<Value>) {
    let mut child = Command::new(harness::BIN)
        .arg("--state-dir")
        .arg(&node.state_dir)
        .args(["tap", app, "-o", "json"])
        .env_remove("RSERVE_TOKEN")
        .env_remove("RSERVE_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Ok(event) = serde_json::from_str::<Value>(&line)
                && tx.send(event).is_err()
            {
                return;
            }
        }
    });
    (child, rx)
}

/// Tap events of request `id` until one from each of `deployments` is seen.
fn follow(rx: &mpsc::Receiver<Value>, id: &str, deployments: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    while !deployments
        .iter()
        .all(|d| seen.iter().any(|e: &Value| e["deployment"] == *d))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(event) = rx.recv_timeout(left) else {
            panic!("tap never showed {deployments:?} for {id}; saw {seen:#?}")
        };
        if event["request_id"] == id {
            seen.push(event);
        }
    }
    seen
}

/// The replica ids of deployment `dep` of app `app`.
fn replica_ids(node: &TestNode, app: &str, dep: &str) -> Vec<String> {
    node.status()["applications"][app]["deployments"][dep]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["replica_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rag_answers_from_the_right_passages_streams_and_reconfigures_in_place() {
    prerequisites();
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("node"), &[]);
    let file = app_file(tmp.path(), "rag.toml", &rag_toml());
    deploy(&node, &file);

    let (mut tapping, tapped) = tap(&node, "rag");
    std::thread::sleep(Duration::from_millis(500));
    answers_right(&node, "rag-one-node");
    // One request id through the graph: the ingress call and both handle calls.
    let trail = follow(&tapped, "rag-one-node", &["rag", "embed", "chat"]);
    assert!(
        trail
            .iter()
            .all(|e| e["status"] == 200 && e["hop"] == false),
        "{trail:#?}"
    );
    let _ = tapping.kill();

    // Handle calls count like ingress calls in the deployments' figures.
    let metrics = String::from_utf8(node.http("GET", "/-/metrics", &[], b"").body).unwrap();
    let count = |dep: &str| -> u64 {
        let line = format!(
            "rserve_requests_total{{application=\"rag\",deployment=\"{dep}\",code=\"2xx\"}} "
        );
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{metrics}"))
    };
    let asked = QUESTIONS.len() as u64 + 1;
    assert_eq!(count("rag"), asked);
    // Each question is embedded once; the corpus was embedded at start.
    assert!(count("embed") >= asked + 3, "{}", count("embed"));
    assert_eq!(count("chat"), asked);

    // A new user_config is applied in place: same replica, new behaviour.
    let before = replica_ids(&node, "rag", "rag");
    let changed = rag_toml().replace("top_k = 3", "top_k = 1");
    let file = app_file(tmp.path(), "rag.toml", &changed);
    // `rserve diff` says so first (exit 1: there are differences).
    let diff = node.cli(&["diff", file.to_str().unwrap()]);
    let diff = String::from_utf8_lossy(&diff.stdout);
    assert!(
        diff.contains("deployment/rag/rag updated in place: user_config.top_k"),
        "{diff}"
    );
    deploy(&node, &file);
    wait_for("top_k = 1 applied", 20, || {
        passage_ids(&ask(&node, QUESTIONS[1].0)) == [QUESTIONS[1].1]
    });
    assert_eq!(
        replica_ids(&node, "rag", "rag"),
        before,
        "reconfigured, not replaced"
    );

    // A user_config the kind cannot take is refused at deploy, with its path.
    let bad = app_file(
        tmp.path(),
        "bad.toml",
        &rag_toml().replace("top_k = 3", "top_k = \"three\""),
    );
    let out = node.cli(&["deploy", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(
            "applications[0].deployments[0]: user_config.top_k: invalid type: string \"three\""
        ),
        "{err}"
    );
    // So is a kind this build does not have, naming what it has.
    let unknown = app_file(
        tmp.path(),
        "unknown.toml",
        &rag_toml().replace("kind = \"rag\"", "kind = \"ragg\""),
    );
    let err = String::from_utf8_lossy(&node.cli(&["deploy", unknown.to_str().unwrap()]).stderr)
        .into_owned();
    assert!(
        err.contains("applications[0].deployments[0].replica.kind: unknown kind `ragg`; this rserve serves: echo, sleep, digits, embeddings, chat, rag, relay"),
        "{err}"
    );
}

/// A relay in front of a slow `sleep` deployment; `slow_extra` adds keys to it.
fn relay_app(relay_user_config: &str, slow_extra: &str, relay_extra: &str) -> String {
    format!(
        r#"[[applications]]
name = "hop"
route_prefix = "/hop"
[[applications.deployments]]
name = "relay"
max_ongoing_requests = 16
handles = {{ next = "slow" }}
user_config = {{ {relay_user_config} }}
replica = {{ kind = "relay" }}
{relay_extra}
[[applications.deployments]]
name = "slow"
max_ongoing_requests = 1
max_queued_requests = 1
replica = {{ kind = "sleep", duration_ms = 2000 }}
{slow_extra}
"#
    )
}

#[test]
fn a_handle_call_to_an_overloaded_dependency_fails_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("node"), &[]);
    let file = app_file(tmp.path(), "hop.toml", &relay_app("", "", ""));
    deploy(&node, &file);
    let (addr, n) = (node.http, 6);
    let calls: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                let start = Instant::now();
                let r = harness::http(addr, "POST", "/hop", &[], b"x");
                (
                    r.status,
                    start.elapsed(),
                    String::from_utf8_lossy(&r.body).into_owned(),
                )
            })
        })
        .collect();
    let mut answers: Vec<_> = calls.into_iter().map(|c| c.join().unwrap()).collect();
    answers.sort_by_key(|a| a.1);
    let refused: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    // One runs, one waits in the dependency's queue, the rest are refused.
    assert_eq!(refused.len(), n - 2, "{answers:#?}");
    for (_, elapsed, body) in &refused {
        assert!(
            *elapsed < Duration::from_millis(1500),
            "{elapsed:?}: {body}"
        );
        assert!(body.contains("\"type\":\"overloaded\""), "{body}");
        assert!(body.contains("hop/slow is overloaded"), "{body}");
    }
    assert_eq!(
        answers.iter().filter(|a| a.0 == 200).count(),
        2,
        "{answers:#?}"
    );

    // Dependencies are checked at deploy: unknown names and cycles, with the key path.
    let unknown = app_file(
        tmp.path(),
        "u.toml",
        &relay_app("", "", "").replace("next = \"slow\"", "next = \"slower\""),
    );
    let err = String::from_utf8_lossy(&node.cli(&["deploy", unknown.to_str().unwrap()]).stderr)
        .into_owned();
    assert!(
        err.contains("applications[0].deployments[0].handles.next: no deployment named `slower`"),
        "{err}"
    );
    let cycle = relay_app("", "", "")
        .replace("kind = \"sleep\", duration_ms = 2000", "kind = \"relay\"")
        .replace(
            "max_queued_requests = 1\n",
            "max_queued_requests = 1\nhandles = { back = \"relay\" }\n",
        );
    let cycle = app_file(tmp.path(), "c.toml", &cycle);
    let err = String::from_utf8_lossy(&node.cli(&["deploy", cycle.to_str().unwrap()]).stderr)
        .into_owned();
    assert!(
        err.contains("in a cycle through their handles: relay → slow → relay"),
        "{err}"
    );
}

#[test]
fn handles_reach_replicas_on_another_node_and_fail_when_it_dies() {
    prerequisites();
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start_on(
        &tmp.path().join("head"),
        "127.0.0.1",
        "0",
        &["--label", "role=front", "--num-cpus", "4"],
    );
    let token = head
        .ok(&["token", "create", "--ttl", "600"])
        .trim()
        .to_owned();
    let join = head.control.to_string();
    let mut member = TestNode::start_on(
        &tmp.path().join("member"),
        "127.0.0.2",
        "0",
        &[
            "--join",
            &join,
            "--token",
            &token,
            "--label",
            "role=models",
            "--num-cpus",
            "8",
        ],
    );
    let member_id = harness::node_id(&member);
    wait_for("two nodes", 20, || {
        let nodes: Value = serde_json::from_str(&head.ok(&["nodes", "-o", "json"])).unwrap();
        nodes["nodes"].as_array().is_some_and(|n| n.len() == 2)
    });
    // The models on the member, the rag deployment on the head.
    let on = |role: &str| format!("resources = {{ label_selector = {{ role = \"{role}\" }} }}\n");
    let text = rag_toml()
        .replace("replica = { kind = \"rag\" }", &format!("replica = {{ kind = \"rag\" }}\n{}", on("front")))
        .replace("batching = {", &format!("{}batching = {{", on("models")))
        .replace("max_ongoing_requests = 16\n\n[applications.deployments.replica]\nkind = \"chat\"", &format!("max_ongoing_requests = 16\n{}\n[applications.deployments.replica]\nkind = \"chat\"", on("models")));
    assert_eq!(text.matches("label_selector").count(), 3, "{text}");
    let file = app_file(tmp.path(), "rag.toml", &text);
    deploy(&head, &file);

    let (mut tapping, tapped) = tap(&head, "rag");
    std::thread::sleep(Duration::from_millis(500));
    answers_right(&head, "rag-two-nodes");
    let trail = follow(&tapped, "rag-two-nodes", &["rag", "embed", "chat"]);
    for event in &trail {
        let remote = event["deployment"] != "rag";
        assert_eq!(event["hop"], remote, "{event:#}");
        if remote {
            assert_eq!(event["replica_node"], member_id.as_str(), "{event:#}");
        }
    }
    let _ = tapping.kill();

    // A dependency whose node dies mid-request: an error, not a hang.
    let hop = relay_app("timeout_s = 30", &on("models"), &on("front"));
    deploy(&head, &app_file(tmp.path(), "hop.toml", &hop));
    let addr = head.http;
    let call = std::thread::spawn(move || {
        let start = Instant::now();
        let r = harness::http(addr, "POST", "/hop", &[], b"x");
        (
            r.status,
            start.elapsed(),
            String::from_utf8_lossy(&r.body).into_owned(),
        )
    });
    std::thread::sleep(Duration::from_millis(700));
    member.signal_and_wait("KILL");
    let (status, elapsed, body) = call.join().unwrap();
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("hop/slow: the replica failed"), "{body}");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

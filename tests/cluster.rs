//! Clusters of real nodes on loopback (127.0.0.x, one address per node): joining
//! with tokens, mutual TLS, membership and failure detection, head restarts.

mod harness;

use std::time::{Duration, Instant};

use harness::TestNode;

/// `rserve nodes -o json` on the head, as (node id → node) pairs.
fn nodes(head: &TestNode) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&head.ok(&["nodes", "-o", "json"])).unwrap();
    v["nodes"].as_array().unwrap().clone()
}

fn state_of(head: &TestNode, id: &str) -> Option<String> {
    nodes(head)
        .iter()
        .find(|n| n["advert"]["node_id"] == id)
        .map(|n| n["state"].as_str().unwrap().to_owned())
}

fn wait_for(what: &str, secs: u64, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn node_id(node: &TestNode) -> String {
    std::fs::read_to_string(node.state_dir.join("node_id"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A free UDP port on `host` (for a head that must come back on the same address).
fn free_udp_port(host: &str) -> u16 {
    std::net::UdpSocket::bind((host, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn three_nodes_form_a_cluster_detect_failures_and_survive_a_head_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_udp_port("127.0.0.1").to_string();
    let mut head = TestNode::start_on(
        &tmp.path().join("head"),
        "127.0.0.1",
        &port,
        &["--node-timeout-s", "2"],
    );
    let token = head
        .ok(&["token", "create", "--ttl", "600"])
        .trim()
        .to_owned();
    assert!(token.starts_with("rsj."), "{token}");
    let join = head.control.to_string();
    let a = TestNode::start_on(
        &tmp.path().join("a"),
        "127.0.0.2",
        "0",
        &[
            "--join",
            &join,
            "--token",
            &token,
            "--label",
            "zone=a",
            "--num-cpus",
            "3",
        ],
    );
    let mut b = TestNode::start_on(
        &tmp.path().join("b"),
        "127.0.0.3",
        "0",
        &[
            "--join",
            &join,
            "--token",
            &token,
            "--num-gpus",
            "1",
            "--memory",
            "1073741824",
        ],
    );
    let (a_id, b_id) = (node_id(&a), node_id(&b));

    // The cluster forms: three nodes, resources and labels as advertised.
    wait_for("three alive nodes", 10, || {
        let n = nodes(&head);
        n.len() == 3 && n.iter().all(|n| n["state"] == "ALIVE")
    });
    let list = nodes(&head);
    assert_eq!(list[0]["head"], true);
    let a_node = list
        .iter()
        .find(|n| n["advert"]["node_id"] == a_id)
        .unwrap();
    assert_eq!(a_node["advert"]["labels"]["zone"], "a");
    assert_eq!(a_node["advert"]["resources"]["num_cpus"], 3.0);
    assert!(
        a_node["advert"]["http_address"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.2:")
    );
    let b_node = list
        .iter()
        .find(|n| n["advert"]["node_id"] == b_id)
        .unwrap();
    assert_eq!(b_node["advert"]["resources"]["num_gpus"], 1.0);
    assert_eq!(b_node["advert"]["resources"]["memory"], 1073741824u64);
    // Each member has a certificate from the cluster CA, no CA key of its own.
    assert_eq!(
        std::fs::read(tmp.path().join("a/tls/ca.crt")).unwrap(),
        std::fs::read(tmp.path().join("head/tls/ca.crt")).unwrap()
    );
    assert!(!tmp.path().join("a/tls/ca.key").exists());
    // Members point cluster calls at the head.
    let out = a.cli(&["nodes"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&join));
    // The table lists all three.
    let table = head.ok(&["nodes"]);
    assert!(
        table.contains("ALIVE") && table.contains(&a_id) && table.contains("zone=a"),
        "{table}"
    );

    // SIGKILL b: declared dead after the 2 s timeout; a stays alive.
    b.signal_and_wait("KILL");
    let killed = Instant::now();
    wait_for("b declared dead", 10, || {
        state_of(&head, &b_id).as_deref() == Some("DEAD")
    });
    assert!(
        killed.elapsed() >= Duration::from_millis(1500),
        "declared dead too early"
    );
    assert_eq!(state_of(&head, &a_id).as_deref(), Some("ALIVE"));
    assert!(head.log().contains("Node declared dead"));

    // b comes back from its state dir without a token: alive again, same id.
    drop(b);
    let b = TestNode::start_on(&tmp.path().join("b"), "127.0.0.3", "0", &["--join", &join]);
    assert_eq!(node_id(&b), b_id);
    wait_for("b alive again", 10, || {
        state_of(&head, &b_id).as_deref() == Some("ALIVE")
    });
    assert!(head.log().contains("Node is alive again"));

    // The head restarts on the same address: it remembers its members, and
    // their heartbeats resume.
    assert!(head.signal_and_wait("TERM").success());
    drop(head);
    let head = TestNode::start_on(
        &tmp.path().join("head"),
        "127.0.0.1",
        &port,
        &["--node-timeout-s", "2"],
    );
    let list = nodes(&head);
    assert_eq!(
        list.len(),
        3,
        "members persisted across the restart: {list:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    wait_for("members alive after the head restart", 10, || {
        nodes(&head).iter().all(|n| n["state"] == "ALIVE")
    });
    drop((a, b));
}

#[test]
fn wrong_expired_and_foreign_credentials_are_refused_on_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start(&tmp.path().join("head"), &[]);
    let join = head.control.to_string();
    let try_join = |dir: &str, token: Option<&str>| {
        let mut args = vec![
            "--state-dir".to_owned(),
            tmp.path().join(dir).display().to_string(),
            "up".into(),
            "--http-addr".into(),
            "127.0.0.1:0".into(),
            "--control-addr".into(),
            "127.0.0.1:0".into(),
            "--join".into(),
            join.clone(),
        ];
        if let Some(t) = token {
            args.extend(["--token".to_owned(), t.to_owned()]);
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rserve"))
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // No token the first time.
    let (code, err) = try_join("n0", None);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("needs a join token"), "{err}");
    // Malformed.
    let (code, err) = try_join("n1", Some("hello"));
    assert_eq!((code, err.contains("malformed")), (Some(4), true), "{err}");
    // A valid token with the wrong secret: the head refuses and logs it.
    let token = head.ok(&["token", "create"]).trim().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!("rsj.{}.{}.{}", parts[1], "0".repeat(32), parts[3]);
    let (code, err) = try_join("n2", Some(&forged));
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("not valid"), "{err}");
    assert!(head.log().contains("Refused a node's join"));
    // Expired.
    let short = head
        .ok(&["token", "create", "--ttl", "1"])
        .trim()
        .to_owned();
    std::thread::sleep(Duration::from_millis(1500));
    let (code, err) = try_join("n3", Some(&short));
    assert_eq!((code, err.contains("expired")), (Some(4), true), "{err}");
    // A token of another cluster: the joining node refuses this head's CA.
    let other = TestNode::start(&tmp.path().join("other"), &[]);
    let foreign = other.ok(&["token", "create"]).trim().to_owned();
    let (code, err) = try_join("n4", Some(&foreign));
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("not the one in the join token"), "{err}");
    // Nothing joined.
    assert_eq!(nodes(&head).len(), 1);

    // A node of the other cluster that claims membership here: its certificate
    // is refused (and it refuses ours); logged on both sides, never listed.
    let dir = tmp.path().join("other");
    let mut other = other;
    assert!(other.signal_and_wait("TERM").success());
    std::fs::remove_file(dir.join("tls/ca.key")).unwrap();
    std::fs::write(
        dir.join("cluster.json"),
        format!(r#"{{"head": "{join}", "cluster_id": "forged"}}"#),
    )
    .unwrap();
    let impostor = TestNode::start(&dir, &[]);
    wait_for("the impostor's refusal in both logs", 10, || {
        impostor.log().contains("Cannot reach the cluster head")
            && head.log().contains("Control connection refused")
    });
    assert_eq!(nodes(&head).len(), 1);
    // Creating tokens needs the admin token.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rserve"))
        .args(["--address", &join, "token", "create"])
        .env("RSERVE_CACERT", tmp.path().join("head/tls/ca.crt"))
        .env("RSERVE_STATE_DIR", tmp.path().join("nowhere"))
        .env("RSERVE_TOKEN", "wrong")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
}

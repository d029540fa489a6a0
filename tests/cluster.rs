//! Clusters of real nodes on loopback (127.0.0.x, one address per node): joining
//! with tokens, mutual TLS, membership and failure detection, head restarts.

mod harness;

use std::time::{Duration, Instant};

use harness::{TestNode, free_udp_port, node_id, wait_for};

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

/// Sets the flag when dropped, so a load thread stops even if the test panics.
struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
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
        .ok(&["token", "create", "--ttl", "600", "--uses", "2"])
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
    // The token allowed two joins: a third node is refused.
    let third = std::process::Command::new(env!("CARGO_BIN_EXE_rserve"))
        .arg("--state-dir")
        .arg(tmp.path().join("c"))
        .args([
            "up",
            "--http-addr",
            "127.0.0.4:0",
            "--control-addr",
            "127.0.0.4:0",
        ])
        .args(["--join", &join, "--token", &token])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&third.stderr);
    assert_eq!(third.status.code(), Some(4), "{err}");
    assert!(err.contains("the join token was used already"), "{err}");
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
    // Members answer read-only calls with the head's view.
    let from_member: serde_json::Value =
        serde_json::from_str(&a.ok(&["nodes", "-o", "json"])).unwrap();
    assert_eq!(from_member["nodes"].as_array().unwrap().len(), 3);
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
    // A corrupt member list stops the head like a corrupt state file: exit 78,
    // the file left as it is.
    let mut head = head;
    assert!(head.signal_and_wait("TERM").success());
    let nodes_file = tmp.path().join("head/nodes.json");
    std::fs::write(&nodes_file, b"[{\"advert\": ").unwrap();
    let (mut again, log) = harness::spawn_up(&tmp.path().join("head"), &[]);
    let code = again.wait().unwrap().code();
    assert_eq!(code, Some(78), "{}", std::fs::read_to_string(&log).unwrap());
    assert_eq!(std::fs::read(&nodes_file).unwrap(), b"[{\"advert\": ");
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
    // Every CLI connection is mutual TLS: the right admin token without a
    // client certificate is refused; with the head's admin certificate (what a
    // remote operator copies) it works; a wrong token still cannot mutate.
    let admin_token = std::fs::read_to_string(tmp.path().join("head/admin.token")).unwrap();
    let remote = |token: &str, cert: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rserve"));
        cmd.args(["--address", &join, "token", "create"])
            .env("RSERVE_CACERT", tmp.path().join("head/tls/ca.crt"))
            .env("RSERVE_STATE_DIR", tmp.path().join("nowhere"))
            .env("RSERVE_TOKEN", token.trim());
        if cert {
            cmd.env("RSERVE_CLIENT_CERT", tmp.path().join("head/tls/admin.crt"))
                .env("RSERVE_CLIENT_KEY", tmp.path().join("head/tls/admin.key"));
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = remote(&admin_token, false);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("mutual TLS"), "{err}");
    assert!(
        head.log()
            .contains("Refused a call without a client certificate")
    );
    let (code, err) = remote(&admin_token, true);
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = remote("wrong", true);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("admin token"), "{err}");
    // The same with flags; a --token-file flag beats RSERVE_TOKEN.
    let tls = tmp.path().join("head/tls");
    let with_token_file = |token_file: &str, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_rserve"))
            .args(["--address", &join, "--state-dir"])
            .arg(tmp.path().join("nowhere"))
            .arg("--cacert")
            .arg(tls.join("ca.crt"))
            .arg("--client-cert")
            .arg(tls.join("admin.crt"))
            .arg("--client-key")
            .arg(tls.join("admin.key"))
            .arg("--token-file")
            .arg(tmp.path().join(token_file))
            .args(args)
            .env("RSERVE_TOKEN", "wrong")
            .output()
            .unwrap()
    };
    let out = with_token_file("head/admin.token", &["token", "create"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("rsj."));
    // The admin token goes only with calls that change state: a read-only
    // call neither reads nor sends it (an unreadable token file is fine),
    // a mutating one needs it.
    let without_token = |args: &[&str]| with_token_file("no-such-token", args);
    for read in [&["status"][..], &["nodes"], &["config"]] {
        let out = without_token(read);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{read:?}: {err}");
    }
    let out = without_token(&["token", "create"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot read token file"), "{err}");
}

/// A head on a fixed port and two members, with an app of three echo replicas.
struct Cluster {
    head: TestNode,
    members: Vec<TestNode>,
    port: String,
}

fn echo_cluster(tmp: &std::path::Path, timeout_s: &str) -> Cluster {
    echo_cluster_with(tmp, timeout_s, 5)
}

/// [`echo_cluster`] with `max_ongoing_requests` per replica.
fn echo_cluster_with(tmp: &std::path::Path, timeout_s: &str, max_ongoing: u32) -> Cluster {
    let port = free_udp_port("127.0.0.1").to_string();
    let head = TestNode::start_on(
        &tmp.join("head"),
        "127.0.0.1",
        &port,
        &["--node-timeout-s", timeout_s],
    );
    let token = head
        .ok(&["token", "create", "--uses", "2"])
        .trim()
        .to_owned();
    let join = head.control.to_string();
    let members: Vec<TestNode> = ["127.0.0.2", "127.0.0.3"]
        .iter()
        .enumerate()
        .map(|(i, host)| {
            TestNode::start_on(
                &tmp.join(format!("m{i}")),
                host,
                "0",
                &[
                    "--join",
                    &join,
                    "--token",
                    &token,
                    "--label",
                    &format!("zone=z{i}"),
                ],
            )
        })
        .collect();
    wait_for("three alive nodes", 10, || nodes(&head).len() == 3);
    let file = harness::app_file(
        tmp,
        "echo.toml",
        &format!(
            "[[applications]]\nname = \"echo\"\nroute_prefix = \"/echo\"\n[[applications.deployments]]\n\
             name = \"e\"\nnum_replicas = 3\nmax_ongoing_requests = {max_ongoing}\nreplica = {{ kind = \"echo\" }}\n"
        ),
    );
    head.ok(&[
        "deploy",
        file.to_str().unwrap(),
        "--wait",
        "--timeout",
        "30",
    ]);
    Cluster {
        head,
        members,
        port,
    }
}

/// `(replica id, node id)` of the echo app's replicas ("" = the head).
fn placements(head: &TestNode) -> Vec<(String, String)> {
    head.status()["applications"]["echo"]["deployments"]["e"]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "RUNNING")
        .map(|r| {
            (
                r["replica_id"].as_str().unwrap().to_owned(),
                r["node_id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Waits until `node`'s route table holds every running replica of the echo app
/// (its metrics list each replica the node routes to).
fn reaches_all_replicas(head: &TestNode, node: &TestNode) {
    let ids: Vec<String> = placements(head).into_iter().map(|(id, _)| id).collect();
    wait_for(
        &format!("node {} to route to all replicas", node.http),
        10,
        || {
            let r = harness::http(node.http, "GET", "/-/metrics", &[], b"");
            let text = String::from_utf8_lossy(&r.body).into_owned();
            ids.iter()
                .all(|id| text.contains(&format!("replica=\"{id}\"")))
        },
    );
}

/// Sends echo requests to `node` until `stop`; returns (sent, failures with their time).
fn load(
    node: std::net::SocketAddr,
    stop: &std::sync::atomic::AtomicBool,
) -> (usize, Vec<(Instant, u16, String)>) {
    let mut sent = 0;
    let mut failures = Vec::new();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        let started = Instant::now();
        sent += 1;
        match echo_once(node) {
            Ok(body) if body.starts_with("HTTP/1.1 200") && body.ends_with("ping") => {}
            Ok(body) => failures.push((started, 0, body)),
            Err(e) => failures.push((started, 0, format!("after {:?}: {e}", started.elapsed()))),
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    (sent, failures)
}

/// [`load`] from `clients` threads at once, summed.
fn load_concurrently(
    node: std::net::SocketAddr,
    clients: usize,
    stop: &std::sync::atomic::AtomicBool,
) -> (usize, Vec<(Instant, u16, String)>) {
    std::thread::scope(|s| {
        let loaders: Vec<_> = (0..clients).map(|_| s.spawn(|| load(node, stop))).collect();
        loaders.into_iter().map(|l| l.join().unwrap()).fold(
            (0, Vec::new()),
            |(n, mut f), (sent, failed)| {
                f.extend(failed);
                (n + sent, f)
            },
        )
    })
}

/// One echo request with a 10 s bound; the raw response.
fn echo_once(node: std::net::SocketAddr) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&node, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(
        b"POST /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 4\r\n\r\nping",
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn replicas_spread_and_requests_cross_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let c = echo_cluster(tmp.path(), "2");
    // One replica per node.
    wait_for("three running replicas", 10, || {
        placements(&c.head).len() == 3
    });
    let mut on: Vec<String> = placements(&c.head).into_iter().map(|(_, n)| n).collect();
    on.sort();
    let mut expected = vec![
        String::new(),
        node_id(&c.members[0]),
        node_id(&c.members[1]),
    ];
    expected.sort();
    assert_eq!(on, expected, "spread over the three nodes");
    // Every node's ingress serves the app, with replicas on other nodes too.
    wait_for("members to get the route table", 10, || {
        c.members
            .iter()
            .all(|m| harness::http(m.http, "POST", "/echo", &[], b"x").status == 200)
    });
    // The route table reaches every node within a heartbeat or two, and each
    // node prefers its own replica (no hop) while it has capacity.
    let on: std::collections::BTreeMap<String, String> = placements(&c.head).into_iter().collect();
    for node in std::iter::once(&c.head).chain(&c.members) {
        reaches_all_replicas(&c.head, node);
        let me = if std::ptr::eq(node, &c.head) {
            String::new()
        } else {
            node_id(node)
        };
        for _ in 0..20 {
            let r = harness::http(node.http, "POST", "/echo", &[], b"hello");
            assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
            let served_by = &on[r.header("x-rserve-replica").unwrap()];
            assert_eq!(
                served_by, &me,
                "node {} used a remote replica while its own was free",
                node.http
            );
        }
    }
    // Label selectors: only the node labelled zone=z1 takes these; a label no
    // node has leaves the replica pending, with the reason in status.
    let file = harness::app_file(
        tmp.path(),
        "labels.toml",
        "[[applications]]\nname = \"pinned\"\nroute_prefix = \"/pinned\"\n[[applications.deployments]]\n\
         name = \"p\"\nnum_replicas = 2\nresources = { label_selector = { zone = \"z1\" } }\nreplica = { kind = \"echo\" }\n\
         [[applications]]\nname = \"nowhere\"\nroute_prefix = \"/nowhere\"\n[[applications.deployments]]\n\
         name = \"n\"\nresources = { label_selector = { zone = \"mars\" } }\nreplica = { kind = \"echo\" }\n",
    );
    c.head.ok(&["deploy", file.to_str().unwrap()]);
    let z1 = node_id(&c.members[1]);
    wait_for("both pinned replicas on zone z1", 10, || {
        let s = c.head.status();
        let r = s["applications"]["pinned"]["deployments"]["p"]["replicas"]
            .as_array()
            .unwrap()
            .clone();
        r.len() == 2
            && r.iter()
                .all(|r| r["node_id"] == z1.as_str() && r["state"] == "RUNNING")
    });
    let s = c.head.status();
    let pinned: Vec<String> = s["applications"]["pinned"]["deployments"]["p"]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["replica_id"].as_str().unwrap().to_owned())
        .collect();
    // Requests entering the head and the other member cross a hop to them,
    // spread over both.
    for node in [&c.head, &c.members[0]] {
        let mut seen = std::collections::BTreeSet::new();
        wait_for(
            &format!("node {} to reach both pinned replicas", node.http),
            10,
            || {
                let r = harness::http(node.http, "POST", "/pinned", &[], b"hop");
                if r.status == 200 {
                    assert_eq!(r.body, b"hop");
                    seen.insert(r.header("x-rserve-replica").unwrap().to_owned());
                }
                seen.len() == 2
            },
        );
        assert!(
            seen.iter().all(|id| pinned.contains(id)),
            "{seen:?} vs {pinned:?}"
        );
    }
    let message = s["applications"]["nowhere"]["deployments"]["n"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("PENDING") && message.contains("zone=mars"),
        "{message}"
    );
    // The head exports what it cannot place, for a fleet autoscaler (a
    // Kubernetes pool scaled on it).
    let metrics = harness::http(c.head.http, "GET", "/-/metrics", &[], b"");
    let metrics = String::from_utf8(metrics.body).unwrap();
    for line in [
        "rserve_deployment_unschedulable_replicas{application=\"nowhere\",deployment=\"n\"} 1",
        "rserve_deployment_unschedulable_replicas{application=\"pinned\",deployment=\"p\"} 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    // `rserve status` on a member shows the cluster (the head's answer).
    assert_eq!(
        c.members[0].status()["applications"]["echo"]["status"],
        "RUNNING"
    );
    // `rserve nodes` lists each node's replicas.
    let listed: Vec<usize> = nodes(&c.head)
        .iter()
        .map(|n| n["replicas"].as_array().unwrap().len())
        .collect();
    assert_eq!(listed.iter().sum::<usize>(), 3 + 2, "{listed:?}");
    assert!(c.head.ok(&["nodes"]).contains("REPLICAS"));
    // Members refuse deploys and point at the head.
    let out = c.members[0].cli(&["delete", "echo"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&c.head.control.to_string()));
}

#[test]
fn a_killed_member_s_replicas_come_back_elsewhere_and_requests_keep_succeeding() {
    // One request at a time per replica and six concurrent clients on one
    // member: its own replica overflows, so requests also cross to the others.
    let tmp = tempfile::tempdir().unwrap();
    let mut c = echo_cluster_with(tmp.path(), "2", 1);
    wait_for("three running replicas", 10, || {
        placements(&c.head).len() == 3
    });
    let entry = c.members[0].http;
    reaches_all_replicas(&c.head, &c.members[0]);
    let victim = node_id(&c.members[1]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (sent, failures, killed) = std::thread::scope(|s| {
        let loader = s.spawn(|| load_concurrently(entry, 6, &stop));
        let _stop = StopOnDrop(&stop);
        std::thread::sleep(Duration::from_millis(500));
        c.members[1].signal_and_wait("KILL");
        let killed = Instant::now();
        wait_for("the victim's replica placed elsewhere", 15, || {
            let p = placements(&c.head);
            p.len() == 3 && p.iter().all(|(_, n)| *n != victim)
        });
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (sent, failures) = loader.join().unwrap();
        (sent, failures, killed)
    });
    assert!(sent > 20, "{sent} requests");
    // Only requests in flight to the dead node fail, within the detection
    // window (node timeout 2 s, connection idle timeout 3 s); none after.
    for (at, status, body) in &failures {
        assert!(
            at.duration_since(killed) < Duration::from_secs(5),
            "a request failed {:?} after the kill: {status} {body}",
            at.duration_since(killed)
        );
    }
    assert!(
        failures.len() <= 3,
        "{} of {sent} failed: {failures:?}",
        failures.len()
    );
}

#[test]
fn a_head_restart_under_load_fails_no_request_to_member_replicas() {
    // As above: concurrent clients overflow the member's own replica, so
    // requests also cross to the other member's and the head's.
    let tmp = tempfile::tempdir().unwrap();
    let mut c = echo_cluster_with(tmp.path(), "2", 1);
    wait_for("three running replicas", 10, || {
        placements(&c.head).len() == 3
    });
    let entry = c.members[0].http;
    reaches_all_replicas(&c.head, &c.members[0]);
    let before: std::collections::BTreeSet<(String, String)> = placements(&c.head)
        .into_iter()
        .filter(|(_, n)| !n.is_empty())
        .collect();
    assert_eq!(before.len(), 2);
    let head_id = node_id(&c.head);
    let head_replica = placements(&c.head)
        .into_iter()
        .find(|(_, n)| n.is_empty())
        .map(|(id, _)| id)
        .unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (sent, failures) = std::thread::scope(|s| {
        let loader = s.spawn(|| load_concurrently(entry, 4, &stop));
        let _stop = StopOnDrop(&stop);
        std::thread::sleep(Duration::from_millis(500));
        assert!(c.head.signal_and_wait("TERM").success());
        std::thread::sleep(Duration::from_secs(1));
        let head = TestNode::start_on(
            &tmp.path().join("head"),
            "127.0.0.1",
            &c.port,
            &["--node-timeout-s", "2"],
        );
        wait_for("three running replicas again", 20, || {
            placements(&head).len() == 3
        });
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        c.head = head;
        loader.join().unwrap()
    });
    assert!(sent > 20, "{sent} requests");
    // A request in flight to the head's own replica when the head stops may
    // fail (it names that replica or node); none to the members' replicas.
    let to_members: Vec<_> = failures
        .iter()
        .filter(|(_, _, body)| !body.contains(&head_id) && !body.contains(&head_replica))
        .collect();
    assert!(
        to_members.is_empty() && failures.len() <= 4,
        "{} of {sent} failed: {failures:?}\nmember log:\n{}",
        failures.len(),
        c.members[0].log()
    );
    // The members' replicas were re-adopted, not replaced.
    let after: std::collections::BTreeSet<(String, String)> = placements(&c.head)
        .into_iter()
        .filter(|(_, n)| !n.is_empty())
        .collect();
    assert_eq!(after, before);
    assert!(c.head.log().contains("re-adopted"));
}

#[test]
fn a_frozen_member_is_replaced_and_stands_down_when_it_thaws() {
    // A partition as the head sees it: a member stops answering (SIGSTOP) but
    // keeps its replicas. The head declares it dead and re-places them; when
    // the member answers again, its stale replica is stopped, not doubled.
    let tmp = tempfile::tempdir().unwrap();
    let c = echo_cluster(tmp.path(), "2");
    wait_for("three running replicas", 10, || {
        placements(&c.head).len() == 3
    });
    let frozen = &c.members[1];
    let frozen_id = node_id(frozen);
    let stale: Vec<String> = placements(&c.head)
        .into_iter()
        .filter(|(_, n)| *n == frozen_id)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(stale.len(), 1);
    let pid = frozen.child.as_ref().unwrap().id().to_string();
    let signal = |sig: &str| {
        assert!(
            std::process::Command::new("kill")
                .args([sig, &pid])
                .status()
                .unwrap()
                .success()
        );
    };
    signal("-STOP");
    wait_for("the frozen member's replica placed elsewhere", 15, || {
        let p = placements(&c.head);
        p.len() == 3 && p.iter().all(|(_, n)| *n != frozen_id)
    });
    signal("-CONT");
    wait_for("the member alive again", 10, || {
        state_of(&c.head, &frozen_id).as_deref() == Some("ALIVE")
    });
    // Its old replica is stopped (it reports it gone), and the deployment keeps
    // exactly three replicas.
    wait_for("the stale replica to stop", 10, || {
        frozen
            .log()
            .contains("Replica stopping (asked by the head)")
    });
    assert!(c.head.log().contains("no longer wants"));
    let p = placements(&c.head);
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p.iter().all(|(id, _)| !stale.contains(id)), "{p:?}");
}

/// A UDP relay between a member and the head, for partitions: the member joins
/// through it, and `cut` drops every packet both ways until it is restored.
struct Relay {
    addr: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    fn start(upstream: std::net::SocketAddr) -> Self {
        use std::net::UdpSocket;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let front = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = front.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        // One upstream socket per client address, each with a thread relaying
        // the head's answers back.
        let backs: Arc<Mutex<std::collections::HashMap<std::net::SocketAddr, Arc<UdpSocket>>>> =
            Arc::default();
        let front = Arc::new(front);
        let (f, c) = (front.clone(), cut.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, client)) = f.recv_from(&mut buf) else {
                    return;
                };
                if c.load(Ordering::SeqCst) {
                    continue;
                }
                let back = backs
                    .lock()
                    .unwrap()
                    .entry(client)
                    .or_insert_with(|| {
                        let s = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
                        s.connect(upstream).unwrap();
                        let (s2, f2, c2) = (s.clone(), f.clone(), c.clone());
                        std::thread::spawn(move || {
                            let mut buf = vec![0u8; 65536];
                            while let Ok(n) = s2.recv(&mut buf) {
                                if !c2.load(Ordering::SeqCst) {
                                    let _ = f2.send_to(&buf[..n], client);
                                }
                            }
                        });
                        s
                    })
                    .clone();
                let _ = back.send(&buf[..n]);
            }
        });
        Self { addr, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_partitioned_member_keeps_serving_decides_nothing_and_stands_down_after() {
    // The member reaches the head only through a relay; cutting it is a network
    // partition between them (the member stays up and keeps its replica).
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start(&tmp.path().join("head"), &["--node-timeout-s", "2"]);
    let token = head.ok(&["token", "create"]).trim().to_owned();
    let relay = Relay::start(head.control);
    let member = TestNode::start_on(
        &tmp.path().join("m"),
        "127.0.0.2",
        "0",
        &["--join", &relay.addr.to_string(), "--token", &token],
    );
    let member_id = node_id(&member);
    wait_for("two alive nodes", 10, || nodes(&head).len() == 2);
    let file = harness::app_file(
        tmp.path(),
        "echo.toml",
        "[[applications]]\nname = \"echo\"\nroute_prefix = \"/echo\"\n[[applications.deployments]]\n\
         name = \"e\"\nnum_replicas = 2\nreplica = { kind = \"echo\" }\n",
    );
    head.ok(&[
        "deploy",
        file.to_str().unwrap(),
        "--wait",
        "--timeout",
        "30",
    ]);
    wait_for("one replica on each node", 10, || {
        let p = placements(&head);
        p.len() == 2 && p.iter().any(|(_, n)| *n == member_id)
    });
    reaches_all_replicas(&head, &member);
    let stale: String = placements(&head)
        .into_iter()
        .find(|(_, n)| *n == member_id)
        .unwrap()
        .0;

    relay.set_cut(true);
    // The head's side: the member is dead, its replica placed on the head.
    wait_for("the member declared dead", 10, || {
        state_of(&head, &member_id).as_deref() == Some("DEAD")
    });
    wait_for("two replicas on the head's side", 10, || {
        let p = placements(&head);
        p.len() == 2 && p.iter().all(|(_, n)| n.is_empty())
    });
    // The member's side: it decides nothing (no replica started, none stopped)
    // and keeps serving requests with its own replica.
    for _ in 0..20 {
        let r = harness::http(member.http, "POST", "/echo", &[], b"still here");
        assert_eq!(r.status, 200);
    }
    assert_eq!(
        member
            .log()
            .matches("Replica starting (placed here")
            .count(),
        1,
        "the member started nothing on its own"
    );

    relay.set_cut(false);
    wait_for("the member alive again", 15, || {
        state_of(&head, &member_id).as_deref() == Some("ALIVE")
    });
    wait_for("its stale replica stopped", 10, || {
        member
            .log()
            .contains("Replica stopping (asked by the head)")
    });
    let p = placements(&head);
    assert_eq!(p.len(), 2, "no doubled replicas: {p:?}");
    assert!(p.iter().all(|(id, _)| *id != stale));
}

#[test]
fn members_take_replica_commands_only_from_the_head_they_joined() {
    use rserve_protocol::wire::{Request, Response};
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start(&tmp.path().join("head"), &[]);
    let member = join(&head, &tmp.path().join("m"), &[]);
    wait_for("the member", 15, || nodes(&head).len() == 2);
    // The head is known by its certificate (issued to the head), not pinned.
    let cluster: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("m/cluster.json")).unwrap())
            .unwrap();
    assert!(cluster.get("head_cert_sha256").is_none(), "{cluster}");
    let file = rserve_protocol::AppFile::parse(
        "a.toml",
        "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n\
         replica = { kind = \"echo\" }\n",
    )
    .unwrap();
    let start = Request::StartReplica {
        app: "a".into(),
        replica_id: "d-0123".into(),
        config: Box::new(file.applications[0].deployments[0].clone()),
    };
    let tls = tmp.path().join("head/tls");
    let call_as = |cert: &str, key: &str| call_with_cert(member.control, &tls, (cert, key), &start);
    // The operators' certificate is of the cluster, but not the head's.
    let Response::Error(e) = call_as("admin.crt", "admin.key") else {
        panic!("refused")
    };
    assert!(
        e.message.contains("only from the cluster's head"),
        "{}",
        e.message
    );
    assert!(member.log().contains("Refused a replica command"));
    // Nor is another node's certificate the head's.
    let Response::Error(e) = call_with_cert(
        member.control,
        &tmp.path().join("m/tls"),
        ("node.crt", "node.key"),
        &start,
    ) else {
        panic!("refused")
    };
    assert!(e.message.contains("only from the cluster's head"));
    // The head's own certificate is taken.
    assert!(matches!(
        call_as("node.crt", "node.key"),
        Response::Accepted
    ));
}

#[test]
fn with_every_replica_on_a_dead_head_a_member_answers_503_not_silence() {
    let tmp = tempfile::tempdir().unwrap();
    let mut head = TestNode::start(&tmp.path().join("head"), &["--label", "zone=head"]);
    let member = join(&head, &tmp.path().join("m"), &[]);
    wait_for("the member", 15, || nodes(&head).len() == 2);
    let app = harness::app_file(
        tmp.path(),
        "echo.toml",
        "[[applications]]\nname = \"echo\"\nroute_prefix = \"/echo\"\n\
         [[applications.deployments]]\nname = \"echo\"\nnum_replicas = 2\n\
         resources = { label_selector = { zone = \"head\" } }\nreplica = { kind = \"echo\" }\n",
    );
    head.ok(&["deploy", app.to_str().unwrap(), "--wait"]);
    wait_for("the member routes to the head's replicas", 15, || {
        member.http("POST", "/echo", &[], b"x").status == 200
    });
    head.child.as_mut().unwrap().kill().unwrap();
    head.child.as_mut().unwrap().wait().unwrap();
    // Every request gets a status (502 or 503), none waits for its client to
    // give up. In the first seconds one may try the dead node (up to the 3 s
    // connect timeout); once every replica's node has been unreachable for
    // 3 s, requests are answered 503 at once, while one at a time probes the
    // node in case it comes back.
    let start = Instant::now();
    let mut answers = Vec::new();
    while start.elapsed() < Duration::from_secs(12) {
        let t = Instant::now();
        let r = member.http("POST", "/echo", &[], b"x");
        assert!(
            matches!(r.status, 502 | 503),
            "{}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
        answers.push((start.elapsed(), r.status, t.elapsed()));
        std::thread::sleep(Duration::from_millis(50));
    }
    let late: Vec<_> = answers
        .iter()
        .filter(|(at, _, _)| *at > Duration::from_secs(7))
        .collect();
    let fast = late
        .iter()
        .filter(|(_, status, took)| *status == 503 && *took < Duration::from_millis(500))
        .count();
    assert!(fast * 10 >= late.len() * 8, "{answers:?}");
}

#[test]
fn a_removed_node_is_forgotten_and_its_certificate_refused_everywhere() {
    use rserve_protocol::wire::{Request, Response};
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start(&tmp.path().join("head"), &[]);
    let token = head
        .ok(&["token", "create", "--uses", "2"])
        .trim()
        .to_owned();
    let join = head.control.to_string();
    let member = |name: &str, host: &str| {
        TestNode::start_on(
            &tmp.path().join(name),
            host,
            "0",
            &["--join", &join, "--token", &token],
        )
    };
    let (a, b) = (member("a", "127.0.0.2"), member("b", "127.0.0.3"));
    wait_for("two members", 15, || nodes(&head).len() == 3);
    let a_id = node_id(&a);
    let out = head.ok(&["nodes", "remove", &a_id]);
    assert_eq!(out.trim(), format!("node/{a_id} removed"));
    let ids: Vec<String> = nodes(&head)
        .iter()
        .map(|n| n["advert"]["node_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!ids.contains(&a_id), "{ids:?}");
    let err = head.cli(&["nodes", "remove", "node-nope"]);
    assert_ne!(err.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("no member node-nope"),
        "{err:?}"
    );
    // a's certificate is refused by the head at once and by b once b's next
    // heartbeat brings the list.
    let a_tls = tmp.path().join("a/tls");
    let status_with_a =
        |addr| match call_with_cert(addr, &a_tls, ("node.crt", "node.key"), &Request::Nodes) {
            Response::Error(e) => e.message,
            other => format!("{other:?}"),
        };
    assert!(status_with_a(head.control).contains("removed from the cluster"));
    wait_for("b to refuse a", 10, || {
        status_with_a(b.control).contains("removed from the cluster")
    });
    // a's heartbeats are refused; the removal survives in the state dir.
    wait_for("a refused", 10, || {
        a.log().contains("The head refused this node's heartbeat")
    });
    let removed = std::fs::read_to_string(tmp.path().join("head/revoked_nodes.json")).unwrap();
    assert!(removed.contains(&a_id), "{removed}");
}

#[test]
fn certificates_expire_and_the_head_renews_them_before_they_lapse() {
    use rserve_protocol::wire::{Request, Response};
    let tmp = tempfile::tempdir().unwrap();
    // 12 s certificates: each is renewed once less than 4 s of it are left.
    let head = TestNode::start(&tmp.path().join("head"), &["--node-cert-lifetime", "12s"]);
    let member = join(&head, &tmp.path().join("m"), &["--label", "zone=m"]);
    wait_for("the member", 15, || nodes(&head).len() == 2);
    let (head_tls, member_tls) = (tmp.path().join("head/tls"), tmp.path().join("m/tls"));
    let read = |path: std::path::PathBuf| std::fs::read(path).unwrap();
    // The first certificates, kept to be tried once they have expired.
    let first = tmp.path().join("first");
    std::fs::create_dir(&first).unwrap();
    for f in ["node.crt", "node.key", "ca.crt"] {
        std::fs::copy(member_tls.join(f), first.join(f)).unwrap();
    }
    let first_head = read(head_tls.join("node.crt"));
    let expiries = || -> Vec<f64> {
        nodes(&head)
            .iter()
            .map(|n| n["cert_expires_at_s"].as_f64().expect("an expiry"))
            .collect()
    };
    let now = || rserve_daemon::unix_now_s();
    let lapse = expiries().into_iter().fold(0.0, f64::max);
    assert!(lapse > now() && lapse < now() + 13.0, "{lapse}");
    wait_for("both renewed", 15, || {
        read(member_tls.join("node.crt")) != read(first.join("node.crt"))
            && read(head_tls.join("node.crt")) != first_head
    });
    // Past the first certificates' expiry the member is still a member,
    // heartbeating over a connection made with its new certificate.
    while now() < lapse + 1.0 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let id = node_id(&member);
    assert_eq!(state_of(&head, &id).as_deref(), Some("ALIVE"));
    assert!(expiries().iter().all(|&at| at > lapse), "{:?}", expiries());
    // The first certificate is refused now; the renewed one is taken.
    try_call_with_cert(
        head.control,
        &first,
        ("node.crt", "node.key"),
        &Request::Nodes,
    )
    .expect_err("an expired certificate is refused at the handshake");
    assert!(matches!(
        call_with_cert(
            head.control,
            &member_tls,
            ("node.crt", "node.key"),
            &Request::Nodes
        ),
        Response::Nodes { .. }
    ));
    // The head, on its renewed certificate, still places replicas on the
    // member, and requests cross to it.
    let app = harness::app_file(
        tmp.path(),
        "echo.toml",
        "[[applications]]\nname = \"echo\"\nroute_prefix = \"/echo\"\n\
         [[applications.deployments]]\nname = \"echo\"\n\
         resources = { label_selector = { zone = \"m\" } }\nreplica = { kind = \"echo\" }\n",
    );
    head.ok(&["deploy", app.to_str().unwrap(), "--wait", "--timeout", "30"]);
    let r = head.http("POST", "/echo", &[], b"renewed");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // Operators see it.
    let table = head.ok(&["nodes"]);
    assert!(table.contains("CERT EXPIRES"), "{table}");
    assert_eq!(table.matches(" in ").count(), 2, "{table}");
    // Each renewed about once in the ~14 s (a resumed TLS session would
    // present the old certificate again and renew in a loop).
    let events = head.ok(&["events"]);
    let renewals = events.matches("CertificateRenewed").count();
    assert!((2..=6).contains(&renewals), "{events}");
    assert!(member.log().contains("Renewed this node's certificate"));

    // A member away for longer than its certificate lives cannot renew it:
    // it is told to join again, and does with a new token.
    let mut member = member;
    member.signal_and_wait("TERM");
    let m_dir = tmp.path().join("m");
    let lapse = rserve_daemon::pki::TlsPaths::new(&m_dir)
        .node_cert_expiry()
        .unwrap();
    while now() < lapse + 0.5 {
        std::thread::sleep(Duration::from_millis(200));
    }
    let join = head.control.to_string();
    let (mut child, log) = harness::spawn_up_on(&m_dir, "127.0.0.2", "0", &["--join", &join]);
    let exit = child.wait().unwrap();
    let log = std::fs::read_to_string(log).unwrap();
    assert_eq!(exit.code(), Some(4), "{log}");
    assert!(
        log.contains("expired before the head could renew it"),
        "{log}"
    );
    let token = head.ok(&["token", "create"]).trim().to_owned();
    let back = TestNode::start_on(
        &m_dir,
        "127.0.0.2",
        "0",
        &["--join", &join, "--token", &token, "--label", "zone=m"],
    );
    assert_eq!(node_id(&back), id);
    wait_for("the member back, serving", 30, || {
        state_of(&head, &id).as_deref() == Some("ALIVE")
            && head.http("POST", "/echo", &[], b"back").status == 200
    });
}

/// A member on 127.0.0.2 with its state in `dir`, joined to `head` with a
/// new token.
/// Deploys application `echo` at `/echo` (deployment `e`, with these TOML
/// settings, each ending in `\n`) on `head`, and waits for it.
fn deploy_echo(head: &TestNode, dir: &std::path::Path, settings: &str) {
    let file = harness::app_file(
        dir,
        "echo.toml",
        &format!(
            "[[applications]]\nname = \"echo\"\nroute_prefix = \"/echo\"\n\
             [[applications.deployments]]\nname = \"e\"\n{settings}replica = {{ kind = \"echo\" }}\n"
        ),
    );
    head.ok(&["deploy", file.to_str().unwrap(), "--wait"]);
}

fn join(head: &TestNode, dir: &std::path::Path, extra: &[&str]) -> TestNode {
    let token = head.ok(&["token", "create"]).trim().to_owned();
    let join = head.control.to_string();
    let args = [&["--join", join.as_str(), "--token", token.as_str()], extra].concat();
    TestNode::start_on(dir, "127.0.0.2", "0", &args)
}

/// One control call to `addr` presenting `cert` and `key` from the `tls`
/// directory (trusting its `ca.crt`), as a node or an operator would.
fn call_with_cert(
    addr: std::net::SocketAddr,
    tls: &std::path::Path,
    cert_and_key: (&str, &str),
    request: &rserve_protocol::wire::Request,
) -> rserve_protocol::wire::Response {
    try_call_with_cert(addr, tls, cert_and_key, request).unwrap()
}

/// [`call_with_cert`], or why it could not be made.
fn try_call_with_cert(
    addr: std::net::SocketAddr,
    tls: &std::path::Path,
    (cert, key): (&str, &str),
    request: &rserve_protocol::wire::Request,
) -> Result<rserve_protocol::wire::Response, String> {
    use rserve_daemon::rpc::client::{ClientOptions, ControlClient};
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let client = ControlClient::connect(ClientOptions {
            addr,
            ca_pem: std::fs::read(tls.join("ca.crt")).unwrap(),
            server_name: "localhost".into(),
            token: None,
            client_cert: Some((
                std::fs::read(tls.join(cert)).unwrap(),
                std::fs::read(tls.join(key)).unwrap(),
            )),
            timeout: Duration::from_secs(10),
        })
        .await
        .map_err(|e| e.to_string())?;
        client.call(request).await.map_err(|e| e.to_string())
    })
}

/// The Kubernetes shape on loopback: a pool token made offline (as for a
/// Secret) that the head accepts and every pool node joins with, the head
/// found by a DNS name, node ids from the environment (a StatefulSet's pod
/// names), readiness, and a pod restarted under its name with a fresh state
/// volume that rejoins with the same token.
#[test]
fn a_pool_joins_by_name_with_one_reusable_token_and_a_pod_rejoins_under_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let made = harness::cli(
        &tmp.path().join("nowhere"),
        &["token", "create", "--pool", "--ttl", "30d"],
    );
    assert!(made.status.success(), "{made:?}");
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("rsp."), "{token}");
    let token_file = tmp.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let file = token_file.to_str().unwrap();
    let port = free_udp_port("127.0.0.1").to_string();
    let head = TestNode::start_with(
        &tmp.path().join("head"),
        "127.0.0.1",
        &port,
        &[],
        &env(&[
            ("RSERVE_POOL_TOKEN_FILE", file),
            ("RSERVE_NODE_NAME", "rserve-head-0"),
        ]),
    );
    assert_eq!(node_id(&head), "rserve-head-0");
    assert_eq!(head.http("GET", "/-/ready", &[], b"").status, 200);
    let join = format!("localhost:{port}");
    let pod = |name: &str, dir: &str, host: &str| {
        TestNode::start_with(
            &tmp.path().join(dir),
            host,
            "0",
            &[],
            &env(&[
                ("RSERVE_JOIN", join.as_str()),
                ("RSERVE_JOIN_TOKEN_FILE", file),
                ("RSERVE_NODE_NAME", name),
                ("RSERVE_LABELS", "pool=cpu,zone=z1"),
                ("RSERVE_NUM_CPUS", "2"),
            ]),
        )
    };
    let a = pod("rserve-pool-cpu-0", "a", "127.0.0.2");
    let mut b = pod("rserve-pool-cpu-1", "b", "127.0.0.3");
    wait_for("both pool nodes", 15, || nodes(&head).len() == 3);
    for node in [&a, &b] {
        wait_for("a pool node's readiness", 10, || {
            node.http("GET", "/-/ready", &[], b"").status == 200
        });
    }
    let listed = nodes(&head);
    let pool_node = listed
        .iter()
        .find(|n| n["advert"]["node_id"] == "rserve-pool-cpu-1")
        .unwrap();
    assert_eq!(pool_node["advert"]["labels"]["pool"], "cpu");
    assert_eq!(pool_node["advert"]["labels"]["zone"], "z1");
    assert_eq!(pool_node["advert"]["resources"]["num_cpus"], 2.0);
    // Two nodes joined with one token (and a third does below); it is not
    // written anywhere by the head, nor logged by anyone.
    assert!(!tmp.path().join("head/join_tokens.json").exists());
    let secret = token.split('.').nth(2).unwrap();
    for node in [&head, &a, &b] {
        assert!(!node.log().contains(secret), "{}", node.log());
    }

    // Serve across the pool: replicas only on the pool's nodes.
    deploy_echo(
        &head,
        tmp.path(),
        "num_replicas = 2\nresources = { label_selector = { pool = \"cpu\" } }\n",
    );
    for node in [&head, &a, &b] {
        wait_for("the pool's replicas from every node", 10, || {
            node.http("POST", "/echo", &[], b"hi").status == 200
        });
    }

    // The pod is rescheduled: same name, a fresh (empty) state volume.
    b.signal_and_wait("KILL");
    std::fs::remove_dir_all(tmp.path().join("b")).unwrap();
    let b = pod("rserve-pool-cpu-1", "b", "127.0.0.4");
    assert_eq!(node_id(&b), "rserve-pool-cpu-1");
    wait_for("the restarted pod to serve", 20, || {
        b.http("GET", "/-/ready", &[], b"").status == 200
            && b.http("POST", "/echo", &[], b"again").status == 200
    });
    assert!(b.log().contains("Joined the cluster"), "{}", b.log());
    // One record per name: the restarted pod replaced its old self.
    let listed = nodes(&head);
    assert_eq!(listed.len(), 3, "{listed:?}");
    head.wait_status(20, "both pool replicas running again", |s| {
        let r = &s["applications"]["echo"]["deployments"]["e"]["replicas"];
        r.as_array()
            .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["state"] == "RUNNING"))
    });

    // Another token, another secret: refused, and said so.
    let wrong = tmp.path().join("wrong");
    let other = harness::cli(
        &tmp.path().join("nowhere"),
        &["token", "create", "--pool", "--ttl", "60"],
    );
    std::fs::write(&wrong, other.stdout).unwrap();
    let (mut refused, log) = harness::spawn_up_with(
        &tmp.path().join("c"),
        "127.0.0.5",
        "0",
        &[],
        &env(&[
            ("RSERVE_JOIN", join.as_str()),
            ("RSERVE_JOIN_TOKEN_FILE", wrong.to_str().unwrap()),
        ]),
    );
    let status = refused.wait().unwrap();
    assert!(!status.success());
    let said = std::fs::read_to_string(log).unwrap();
    assert!(
        said.contains("pool token is not valid for this cluster"),
        "{said}"
    );
    // The right token, but the head's own name: refused, the head unharmed.
    let (mut refused, log) = harness::spawn_up_with(
        &tmp.path().join("d"),
        "127.0.0.6",
        "0",
        &[],
        &env(&[
            ("RSERVE_JOIN", join.as_str()),
            ("RSERVE_JOIN_TOKEN_FILE", file),
            ("RSERVE_NODE_NAME", "rserve-head-0"),
        ]),
    );
    assert!(!refused.wait().unwrap().success());
    let said = std::fs::read_to_string(log).unwrap();
    assert!(
        said.contains("the node id `rserve-head-0` is the head's own"),
        "{said}"
    );
    assert_eq!(nodes(&head).len(), 3);
}

/// A head serving every interface (a pod's `0.0.0.0`) with `--advertise-ip`:
/// the members reach it, and its replicas, at the advertised IP.
#[test]
fn a_head_on_every_interface_is_reached_at_its_advertised_ip() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_udp_port("127.0.0.1").to_string();
    let head = TestNode::start_on(
        &tmp.path().join("head"),
        "0.0.0.0",
        &port,
        &["--advertise-ip", "127.0.0.1", "--label", "pool=head"],
    );
    let token = head.ok(&["token", "create"]).trim().to_owned();
    let join = format!("127.0.0.1:{port}");
    let member = TestNode::start_on(
        &tmp.path().join("m"),
        "127.0.0.2",
        "0",
        &["--join", join.as_str(), "--token", token.as_str()],
    );
    wait_for("the member", 15, || nodes(&head).len() == 2);
    let listed = nodes(&head);
    let on_head = listed
        .iter()
        .find(|n| n["advert"]["node_id"] == node_id(&head))
        .unwrap();
    assert_eq!(on_head["advert"]["control_address"], join.as_str());
    deploy_echo(
        &head,
        tmp.path(),
        "resources = { label_selector = { pool = \"head\" } }\n",
    );
    // Through the member, one hop to the head's replica.
    wait_for("the head's replica through the member", 15, || {
        member.http("POST", "/echo", &[], b"via").status == 200
    });
    let r = member.http("POST", "/echo", &[], b"via");
    assert_eq!(r.body, b"via");
}

/// A member that drains (SIGTERM: a pod's eviction or rolling update) tells
/// the head, which counts it out and places its replicas elsewhere at once,
/// without waiting out the node timeout (here 60 s).
#[test]
fn a_draining_member_leaves_and_its_replicas_are_placed_elsewhere_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start(&tmp.path().join("head"), &["--node-timeout-s", "60"]);
    let a = join(&head, &tmp.path().join("a"), &["--label", "pool=cpu"]);
    let mut b = join(&head, &tmp.path().join("b"), &["--label", "pool=cpu"]);
    wait_for("both members", 15, || nodes(&head).len() == 3);
    deploy_echo(
        &head,
        tmp.path(),
        "num_replicas = 2\nresources = { label_selector = { pool = \"cpu\" } }\n",
    );
    let on = |s: &serde_json::Value| -> Vec<(String, String)> {
        s["applications"]["echo"]["deployments"]["e"]["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["node_id"].as_str().unwrap().to_owned(),
                    r["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (a_id, b_id) = (node_id(&a), node_id(&b));
    let before = on(&head.status());
    assert!(before.iter().any(|(n, _)| *n == b_id), "{before:?}");

    let left_at = std::time::Instant::now();
    assert!(b.signal_and_wait("TERM").success());
    assert!(
        b.log()
            .contains("Told the cluster head this node is leaving"),
        "{}",
        b.log()
    );
    assert_eq!(state_of(&head, &b_id).as_deref(), Some("DEAD"));
    head.wait_status(10, "both replicas running on the remaining member", |s| {
        let now = on(s);
        now.len() == 2 && now.iter().all(|(n, st)| *n == a_id && st == "RUNNING")
    });
    assert!(left_at.elapsed() < std::time::Duration::from_secs(30));
    let events = head.ok(&["events"]);
    assert!(events.contains("left: draining"), "{events}");
    // Stopped, not failed: no failure counted against the deployment.
    assert!(!events.contains("ReplicaFailed"), "{events}");
}

/// Many forwards at once over one connection (the member batches the writes
/// of calls made while others are in flight): each answer is its own.
#[test]
fn concurrent_forwards_each_get_their_own_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start(&tmp.path().join("head"), &["--label", "pool=head"]);
    let member = join(&head, &tmp.path().join("m"), &[]);
    wait_for("the member", 15, || nodes(&head).len() == 2);
    deploy_echo(
        &head,
        tmp.path(),
        "max_ongoing_requests = 1000\nresources = { label_selector = { pool = \"head\" } }\n",
    );
    wait_for("the head's replica through the member", 15, || {
        member.http("POST", "/echo", &[], b"x").status == 200
    });
    let http = member.http;
    std::thread::scope(|scope| {
        for t in 0..16 {
            scope.spawn(move || {
                for i in 0..50 {
                    // Sizes from a few bytes to past the batched limit (16 KiB).
                    let body = format!("{t}-{i}-").repeat(1 + (t * 50 + i) % 40 * 60);
                    let r = harness::http(http, "POST", "/echo", &[], body.as_bytes());
                    assert_eq!(r.status, 200);
                    assert_eq!(r.body, body.as_bytes(), "thread {t}, request {i}");
                }
            });
        }
    });
}

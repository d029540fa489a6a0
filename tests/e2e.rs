//! End to end: real `rserve` nodes on loopback, driven by the real CLI and HTTP.

mod harness;

use std::time::{Duration, Instant};

use harness::{TestNode, app_file, cli, http, repo, spawn_up};

fn digit(name: &str) -> Vec<u8> {
    std::fs::read(repo(&format!("examples/{name}.json"))).unwrap()
}

fn app_status<'a>(status: &'a serde_json::Value, app: &str) -> &'a serde_json::Value {
    &status["applications"][app]
}

#[test]
fn deploy_curl_status_delete_and_restart_restores_applications() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let mut node = TestNode::start(&dir, &[]);
    let digits = repo("examples/digits.toml");
    let digits = digits.to_str().unwrap();

    let out = node.ok(&["deploy", digits, "--wait", "--timeout", "60"]);
    assert_eq!(out, "application/digits created\n");
    let r = node.http(
        "POST",
        "/digits",
        &[("content-type", "application/json")],
        &digit("digit-7"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["label"], 7);
    assert!(r.header("x-request-id").is_some());
    let r = node.http("POST", "/digits", &[], &digit("digit-0"));
    assert_eq!(r.json()["label"], 0);

    let status = node.status();
    assert_eq!(status["api_version"], "rserve/v1");
    let app = app_status(&status, "digits");
    assert_eq!(app["status"], "RUNNING");
    assert_eq!(app["route_prefix"], "/digits");
    let dep = &app["deployments"]["classifier"];
    assert_eq!(dep["status"], "HEALTHY");
    assert_eq!(dep["replica_states"]["RUNNING"], 2);
    assert_eq!(dep["replicas"].as_array().unwrap().len(), 2);

    // Idempotent: the same file again changes nothing and says so.
    assert_eq!(
        node.ok(&["deploy", digits]),
        "application/digits unchanged\n"
    );
    let table = node.ok(&["status"]);
    assert!(
        table.contains("digits") && table.contains("HEALTHY") && table.contains("2/2"),
        "{table}"
    );
    let yaml = node.ok(&["status", "digits", "-o", "yaml"]);
    assert!(yaml.contains("status: RUNNING"), "{yaml}");
    assert_eq!(node.ok(&["status", "-o", "name"]), "application/digits\n");
    let wide = node.ok(&["status", "-o", "wide", "--no-headers"]);
    assert!(
        !wide.contains("APP") && wide.matches("classifier-").count() == 2,
        "{wide}"
    );
    let config = node.ok(&["config", "digits"]);
    assert!(
        config.contains("kind = \"digits\"") && config.contains("num_replicas = 2"),
        "{config}"
    );

    // A graceful restart on the same state dir comes back serving the same apps.
    assert!(node.signal_and_wait("TERM").success());
    let node = TestNode::start(&dir, &[]);
    let status = node.wait_status(60, "digits RUNNING after restart", |s| {
        app_status(s, "digits")["status"] == "RUNNING"
    });
    assert_eq!(
        app_status(&status, "digits")["deployments"]["classifier"]["replica_states"]["RUNNING"],
        2
    );
    let r = node.http("POST", "/digits", &[], &digit("digit-7"));
    assert_eq!(r.json()["label"], 7);

    assert_eq!(
        node.ok(&["delete", "digits", "--wait", "--timeout", "60"]),
        "application/digits deleted\n"
    );
    assert_eq!(node.status()["applications"], serde_json::json!({}));
    let r = node.http("POST", "/digits", &[], &digit("digit-7"));
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["routes"], serde_json::json!([]));
    assert!(node.ok(&["status"]).contains("No applications deployed"));
}

/// A node serving every interface (a container's `0.0.0.0`): the CLI beside it
/// finds it through the state dir on loopback (`kubectl exec POD -- rserve status`).
#[test]
fn the_cli_reaches_a_node_bound_to_every_interface() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start_on(&tmp.path().join("state"), "0.0.0.0", "0", &[]);
    assert!(node.control.ip().is_unspecified(), "{}", node.control);
    assert_eq!(node.status()["applications"], serde_json::json!({}));
    assert_eq!(node.http("GET", "/-/ready", &[], b"").status, 200);
}

#[test]
fn a_killed_node_restarts_with_its_applications() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let mut node = TestNode::start(&dir, &[]);
    node.ok(&[
        "deploy",
        repo("examples/echo.toml").to_str().unwrap(),
        "--wait",
    ]);
    let before = std::fs::read(dir.join("state.json")).unwrap();
    let status = node.signal_and_wait("KILL");
    assert!(!status.success());
    // The stale node.json and lock file of the killed process do not block a restart.
    let node = TestNode::start(&dir, &[]);
    assert_eq!(std::fs::read(dir.join("state.json")).unwrap(), before);
    node.wait_status(30, "echo RUNNING", |s| {
        app_status(s, "echo")["status"] == "RUNNING"
    });
    let r = node.http(
        "POST",
        "/echo/x",
        &[("content-type", "application/json")],
        b"{\"hello\":1}",
    );
    assert_eq!((r.status, r.body.as_slice()), (200, &b"{\"hello\":1}"[..]));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn the_digits_model_is_accurate_through_http() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("state"), &["--demo"]);
    node.wait_status(30, "demo RUNNING", |s| {
        app_status(s, "digits")["status"] == "RUNNING"
    });
    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo("tests/fixtures/digits_holdout.json")).unwrap())
            .unwrap();
    let body = serde_json::json!({ "instances": fixture["inputs"] }).to_string();
    let r = node.http("POST", "/digits", &[], body.as_bytes());
    assert_eq!(r.status, 200);
    let predictions = r.json()["predictions"].as_array().unwrap().clone();
    let labels = fixture["labels"].as_array().unwrap();
    assert_eq!(predictions.len(), labels.len());
    let correct = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p["label"] == **l)
        .count();
    let accuracy = correct as f64 / labels.len() as f64;
    assert!(accuracy >= 0.96, "holdout accuracy {accuracy}");
    // Wrong shapes are a 400 that says what is wrong, not a crash.
    let r = node.http("POST", "/digits", &[], b"{\"pixels\": [1, 2, 3]}");
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("3 pixels")
    );
    let r = node.http("POST", "/digits", &[], b"not json");
    assert_eq!(r.status, 400);
    assert_eq!(
        node.status()["applications"]["digits"]["deployments"]["classifier"]["replica_failures"],
        0
    );
}

#[test]
fn a_full_queue_gets_503_and_nothing_is_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    let file = app_file(
        tmp.path(),
        "slow.toml",
        r#"
[[applications]]
name = "slow"
route_prefix = "/slow"
[[applications.deployments]]
name = "sleeper"
max_ongoing_requests = 2
max_queued_requests = 2
replica = { kind = "sleep", duration_ms = 1500 }
"#,
    );
    node.ok(&["deploy", file.to_str().unwrap(), "--wait"]);
    let addr = node.http;
    let start = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || http(addr, "POST", "/slow", &[], b"{}")))
        .collect();
    let responses: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = responses.iter().filter(|r| r.status == 200).count();
    let refused: Vec<_> = responses.iter().filter(|r| r.status == 503).collect();
    // 2 run, 2 wait, 4 are refused at once.
    assert_eq!((ok, refused.len()), (4, 4), "{responses:?}");
    for r in refused {
        let error = &r.json()["error"];
        assert_eq!(error["type"], "overloaded");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("max_queued_requests = 2"),
            "{error}"
        );
    }
    // The queued pair ran after the first pair: about two sleep periods in all.
    assert!(start.elapsed() >= Duration::from_millis(3000));
    let dep = &node.status()["applications"]["slow"]["deployments"]["sleeper"];
    assert_eq!(dep["queued_requests"], 0);
    assert_eq!(dep["replicas"][0]["ongoing_requests"], 0);
}

#[test]
fn bodies_over_the_limit_get_413_and_unknown_routes_404() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("state"), &["--max-body-bytes", "1024"]);
    node.ok(&[
        "deploy",
        repo("examples/echo.toml").to_str().unwrap(),
        "--wait",
    ]);
    let r = node.http("POST", "/echo", &[], &[b'x'; 1024]);
    assert_eq!(r.status, 200);
    let r = node.http("POST", "/echo", &[], &[b'x'; 1025]);
    assert_eq!(r.status, 413);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1024-byte limit")
    );
    let r = node.http("GET", "/elsewhere", &[], b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["routes"], serde_json::json!(["/echo"]));
    let r = node.http("GET", "/-/healthz", &[], b"");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"success"[..]));
    let r = node.http("GET", "/-/routes", &[], b"");
    assert_eq!(r.json(), serde_json::json!({"/echo": "echo"}));
    let r = node.http("POST", "/echo", &[("x-request-id", "my-id-1")], b"hi");
    assert_eq!(r.header("x-request-id"), Some("my-id-1"));
}

#[test]
fn bad_files_and_bad_calls_get_clear_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");

    // No node yet: a valid deploy cannot reach one (exit 4); a broken file is
    // still reported first (exit 1).
    let echo = repo("examples/echo.toml");
    let out = cli(&dir, &["deploy", echo.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rserve node is running"));

    let node = TestNode::start(&dir, &[]);
    node.ok(&["deploy", echo.to_str().unwrap(), "--wait"]);
    let state_before = std::fs::read(dir.join("state.json")).unwrap();

    let cases = [
        (
            "malformed.toml",
            "[[applications]\nname = 1",
            "malformed.toml:1",
        ),
        (
            "typo.toml",
            "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\nnum_replica = 2\nreplica = { kind = \"echo\" }\n",
            "typo.toml:5:1: applications[0].deployments[0].num_replica: unknown field `num_replica`",
        ),
        (
            "zero.toml",
            "[[applications]]\nname = \"a\"\nroute_prefix = \"/a\"\n[[applications.deployments]]\nname = \"d\"\nnum_replicas = 0\nreplica = { kind = \"echo\" }\n",
            "applications[0].deployments[0].num_replicas: must be at least 1",
        ),
        (
            "negative.toml",
            "[[applications]]\nname = \"a\"\nroute_prefix = \"/a\"\n[[applications.deployments]]\nname = \"d\"\nmax_queued_requests = -7\nreplica = { kind = \"echo\" }\n",
            "max_queued_requests: is -7",
        ),
        (
            "clash.toml",
            "[[applications]]\nname = \"other\"\nroute_prefix = \"/echo\"\n[[applications.deployments]]\nname = \"d\"\nreplica = { kind = \"echo\" }\n",
            "which application `echo` already serves",
        ),
    ];
    for (name, text, expected) in cases {
        let path = app_file(tmp.path(), name, text);
        let out = node.cli(&["deploy", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{name}: expected `{expected}` in: {stderr}"
        );
    }
    let out = node.cli(&["delete", "ghost"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no application named `ghost`; deployed: echo")
    );

    // A wrong token may read but not change anything.
    let out = std::process::Command::new(harness::BIN)
        .arg("--state-dir")
        .arg(&dir)
        .args(["delete", "echo"])
        .env("RSERVE_TOKEN", "not-the-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("admin token"));

    assert_eq!(std::fs::read(dir.join("state.json")).unwrap(), state_before);
    assert_eq!(app_status(&node.status(), "echo")["status"], "RUNNING");

    // A second node on the same state dir, or on a taken port, is refused (69).
    let (mut second, log) = spawn_up(&dir, &[]);
    let code = second.wait().unwrap().code();
    let msg = std::fs::read_to_string(&log).unwrap();
    assert_eq!(code, Some(69), "{msg}");
    assert!(
        msg.contains("another rserve node is already running with state dir"),
        "{msg}"
    );
    let other = tmp.path().join("other");
    let out = std::process::Command::new(harness::BIN)
        .arg("--state-dir")
        .arg(&other)
        .args([
            "up",
            "--http-addr",
            &node.http.to_string(),
            "--control-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot bind the HTTP ingress"));
}

#[test]
fn a_corrupt_state_file_stops_the_node_and_is_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("state.json"), b"{\"format_version\": 1, \"applic").unwrap();
    let (mut child, log) = spawn_up(&dir, &[]);
    assert_eq!(child.wait().unwrap().code(), Some(78));
    let msg = std::fs::read_to_string(log).unwrap();
    assert!(
        msg.contains("state.json") && msg.contains("corrupt"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(dir.join("state.json")).unwrap(),
        b"{\"format_version\": 1, \"applic"
    );
}

#[test]
fn a_panicking_replica_is_replaced_and_status_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    let file = app_file(
        tmp.path(),
        "faulty.toml",
        r#"
[[applications]]
name = "faulty"
[[applications.deployments]]
name = "echo"
health_check_period_s = 0.2
replica = { kind = "echo", fault_injection = true }
"#,
    );
    node.ok(&["deploy", file.to_str().unwrap(), "--wait"]);
    let r = node.http("POST", "/", &[("x-rserve-fault", "panic")], b"boom");
    assert_eq!(r.status, 500);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("panicked")
    );
    let status = node.wait_status(30, "replacement after the panic", |s| {
        let dep = &s["applications"]["faulty"]["deployments"]["echo"];
        dep["replica_failures"] == 1 && dep["status"] == "HEALTHY"
    });
    let message = status["applications"]["faulty"]["deployments"]["echo"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("panicked: fault injected"), "{message}");
    assert_eq!(node.http("POST", "/", &[], b"again").status, 200);

    // A replica that fails three health checks in a row is replaced too.
    let r = node.http("POST", "/", &[("x-rserve-fault", "unhealthy")], b"");
    assert_eq!(r.status, 200);
    let status = node.wait_status(30, "replacement after failed health checks", |s| {
        let dep = &s["applications"]["faulty"]["deployments"]["echo"];
        dep["replica_failures"] == 2 && dep["status"] == "HEALTHY"
    });
    let message = status["applications"]["faulty"]["deployments"]["echo"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("failed 3 health checks in a row"),
        "{message}"
    );
    assert_eq!(node.http("POST", "/", &[], b"again").status, 200);
}

#[test]
fn a_deployment_whose_replicas_cannot_start_is_deploy_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    let broken = tmp.path().join("broken.safetensors");
    std::fs::write(&broken, b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage").unwrap();
    let file = app_file(
        tmp.path(),
        "broken.toml",
        &format!(
            "[[applications]]\nname = \"broken\"\n[[applications.deployments]]\nname = \"m\"\n\
             replica = {{ kind = \"digits\", weights = \"{}\" }}\n",
            broken.display()
        ),
    );
    let out = node.cli(&[
        "deploy",
        file.to_str().unwrap(),
        "--wait",
        "--timeout",
        "60",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("failed to deploy"), "{stderr}");
    assert!(stderr.contains("broken.safetensors"), "{stderr}");
    let dep = &node.status()["applications"]["broken"]["deployments"]["m"];
    assert_eq!(dep["status"], "DEPLOY_FAILED");
    assert_eq!(dep["status_trigger"], "REPLICA_STARTUP_FAILED");
    assert_eq!(dep["replica_failures"], 3);
    // Requests are refused at once rather than queued forever.
    let r = node.http("POST", "/", &[], b"{}");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["type"], "unavailable");
}

#[test]
fn in_flight_requests_finish_during_a_graceful_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = TestNode::start(&tmp.path().join("state"), &[]);
    let file = app_file(
        tmp.path(),
        "slow.toml",
        "[[applications]]\nname = \"slow\"\n[[applications.deployments]]\nname = \"s\"\n\
         replica = { kind = \"sleep\", duration_ms = 1000 }\n",
    );
    node.ok(&["deploy", file.to_str().unwrap(), "--wait"]);
    let addr = node.http;
    let in_flight = std::thread::spawn(move || http(addr, "POST", "/", &[], b""));
    std::thread::sleep(Duration::from_millis(300));
    assert!(node.signal_and_wait("TERM").success());
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["slept_ms"], 1000);
    assert!(node.log().contains("signal=\"SIGTERM\"") || node.log().contains("signal=SIGTERM"));

    // `rserve down` drains the same way.
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    node.wait_status(30, "slow RUNNING", |s| {
        app_status(s, "slow")["status"] == "RUNNING"
    });
    let addr = node.http;
    let in_flight = std::thread::spawn(move || http(addr, "POST", "/", &[], b""));
    std::thread::sleep(Duration::from_millis(300));
    let out = node.cli(&["down"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(in_flight.join().unwrap().status, 200);
    let out = node.cli(&["status"]);
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn a_client_that_disconnects_mid_request_frees_its_slot() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    let file = app_file(
        tmp.path(),
        "slow.toml",
        "[[applications]]\nname = \"slow\"\n[[applications.deployments]]\nname = \"s\"\n\
         max_ongoing_requests = 1\nreplica = { kind = \"sleep\", duration_ms = 5000 }\n",
    );
    node.ok(&["deploy", file.to_str().unwrap(), "--wait"]);
    {
        let mut stream = std::net::TcpStream::connect(node.http).unwrap();
        stream
            .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let dep = &node.status()["applications"]["slow"]["deployments"]["s"];
        assert_eq!(dep["replicas"][0]["ongoing_requests"], 1);
    }
    // The dropped connection cancels its request: the one slot frees well before
    // the 5 s sleep would have ended.
    node.wait_status(3, "the slot to be released", |s| {
        s["applications"]["slow"]["deployments"]["s"]["replicas"][0]["ongoing_requests"] == 0
    });
    assert_eq!(app_status(&node.status(), "slow")["status"], "RUNNING");
}

#[test]
fn http2_with_prior_knowledge_is_served_on_the_same_port() {
    use http_body_util::BodyExt;
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(&tmp.path().join("state"), &[]);
    node.ok(&[
        "deploy",
        repo("examples/echo.toml").to_str().unwrap(),
        "--wait",
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(node.http).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        for i in 0..3 {
            let req = http::Request::post(format!("http://{}/echo", node.http))
                .body(http_body_util::Full::new(bytes::Bytes::from(format!(
                    "h2 body {i}"
                ))))
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.version(), http::Version::HTTP_2);
            assert_eq!(resp.status(), 200);
            assert!(resp.headers().contains_key("x-request-id"));
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, format!("h2 body {i}"));
        }
    });
}

#[test]
fn deploy_wait_off_a_terminal_prints_plain_lines_and_diff_and_dry_run_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let node = TestNode::start(&dir, &[]);
    let echo = repo("examples/echo.toml");
    let echo = echo.to_str().unwrap();

    // Nothing deployed yet: the application would be created (exit 1).
    let out = node.cli(&["diff", echo]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("+ application/echo created"), "{stdout}");
    assert!(
        stdout.contains("+ deployment/echo/echo created"),
        "{stdout}"
    );
    assert!(!dir.join("state.json").exists(), "diff deployed nothing");

    // stdout and stderr are pipes here: no bars, no escape codes, one line
    // per change of state on stderr and the result alone on stdout.
    let out = node.cli(&["deploy", echo, "--wait", "--timeout", "60"]);
    assert!(out.status.success(), "{out:?}");
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(
            !bytes.contains(&0x1b),
            "escape byte on {stream}: {:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "application/echo created\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with('[') && l.contains("s] echo: ")),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .contains("echo: RUNNING (echo 2/2)"),
        "{stderr}"
    );

    // The same file again: nothing would change (exit 0).
    let out = node.cli(&["diff", "-f", echo]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("= deployment/echo/echo unchanged"),
        "{stdout}"
    );

    let state = std::fs::read(dir.join("state.json")).unwrap();
    let applications = node.status()["applications"].clone();
    let text = std::fs::read_to_string(echo).unwrap();
    let scaled = app_file(
        tmp.path(),
        "scaled.toml",
        &text.replace("num_replicas = 2", "num_replicas = 3"),
    );
    let out = node.cli(&["diff", scaled.to_str().unwrap(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["changes"][0]["deployments"][0],
        serde_json::json!({"deployment": "echo", "action": "updated", "in_place": ["num_replicas"]})
    );
    let slept = app_file(
        tmp.path(),
        "slept.toml",
        &text.replace("kind = \"echo\"", "kind = \"sleep\""),
    );
    let out = node.cli(&["deploy", "--dry-run", slept.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "a dry run succeeds: {stdout}");
    assert!(
        stdout.contains("-/+ deployment/echo/echo replicas replaced by: replica.duration_ms, replica.fault_injection, replica.kind"),
        "{stdout}"
    );

    // Bad or refused files: exit 2, with the deploy's own message.
    let typo = app_file(tmp.path(), "typo.toml", "[[applications]\nname = 1");
    let clash = app_file(
        tmp.path(),
        "clash.toml",
        "[[applications]]\nname = \"other\"\nroute_prefix = \"/echo\"\n[[applications.deployments]]\nname = \"d\"\nreplica = { kind = \"echo\" }\n",
    );
    for (file, expected) in [(&typo, "typo.toml:1"), (&clash, "already serves")] {
        let out = node.cli(&["diff", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }

    assert_eq!(std::fs::read(dir.join("state.json")).unwrap(), state);
    assert_eq!(node.status()["applications"], applications);
}

//! `rserve up` under systemd's notification protocol, with the test playing
//! systemd: it owns the `NOTIFY_SOCKET` datagram socket, starts the real binary
//! with `WATCHDOG_USEC`, and reads what the node sends.

mod harness;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{BIN, TestNode, app_file, http, spawn_up};

/// How long any expected message may take (generous, for a loaded CI machine).
const DEADLINE: Duration = Duration::from_secs(60);

const ECHO: &str = r#"
[[applications]]
name = "echo"
route_prefix = "/echo"

[[applications.deployments]]
name = "echo"
num_replicas = 1

[applications.deployments.replica]
kind = "echo"
"#;

/// systemd's side: the socket and every datagram received so far.
struct Systemd {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Systemd {
    fn bind(path: &Path) -> Self {
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Self {
            socket,
            seen: Vec::new(),
        }
    }

    /// The next datagram, if one arrives before `until`.
    fn next(&mut self, until: Instant) -> Option<String> {
        let mut buf = [0u8; 4096];
        while Instant::now() < until {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(msg.clone());
                return Some(msg);
            }
        }
        None
    }

    /// Waits for a datagram with `line` as one of its lines; returns it.
    fn expect(&mut self, line: &str, node: &Node) -> String {
        let until = Instant::now() + DEADLINE;
        while let Some(msg) = self.next(until) {
            if msg.lines().any(|l| l == line) {
                return msg;
            }
        }
        panic!(
            "no {line} within {DEADLINE:?}; received {:?}\nlog:\n{}",
            self.seen,
            node.log()
        );
    }

    /// Counts `WATCHDOG=1` datagrams over `window`.
    fn pings_during(&mut self, window: Duration) -> usize {
        let until = Instant::now() + window;
        let mut pings = 0;
        while let Some(msg) = self.next(until) {
            pings += msg.lines().filter(|l| *l == "WATCHDOG=1").count();
        }
        pings
    }
}

struct Node {
    child: Child,
    log: std::path::PathBuf,
}

impl Node {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// The ingress address, from `node.json` (written before READY).
    fn http(&self, state_dir: &Path) -> std::net::SocketAddr {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state_dir.join("node.json")).unwrap()).unwrap();
        v["http_address"].as_str().unwrap().parse().unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `rserve up` on ephemeral ports with systemd's variables pointing at `notify`.
fn start(dir: &Path, notify: &str, envs: &[(&str, &str)], extra: &[&str]) -> Node {
    let state = dir.join("state");
    let log = dir.join("node.log");
    let child = Command::new(BIN)
        .arg("--state-dir")
        .arg(&state)
        .args([
            "up",
            "--http-addr",
            "127.0.0.1:0",
            "--control-addr",
            "127.0.0.1:0",
        ])
        .args(extra)
        .env("NOTIFY_SOCKET", notify)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM")
        .envs(envs.iter().copied())
        .env("RSERVE_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn rserve up");
    Node { child, log }
}

fn status_of(msg: &str) -> Option<&str> {
    msg.lines().find_map(|l| l.strip_prefix("STATUS="))
}

#[test]
fn ready_status_watchdog_reload_and_stop_follow_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut systemd = Systemd::bind(&dir.path().join("notify.sock"));
    let deploy = app_file(dir.path(), "apps.toml", ECHO);
    let notify = dir.path().join("notify.sock");
    let mut node = start(
        dir.path(),
        notify.to_str().unwrap(),
        &[],
        &["--deploy", deploy.to_str().unwrap()],
    );

    // READY comes with a status line, once the sockets are bound and the file
    // deployed: at that moment the ingress answers and the app's route exists.
    let ready = systemd.expect("READY=1", &node);
    assert!(
        status_of(&ready).is_some_and(|s| s.starts_with("1 app, ") && s.ends_with(", 1 node")),
        "{ready}"
    );
    assert!(
        systemd
            .seen
            .iter()
            .all(|m| !m.contains("READY=1") || *m == ready),
        "{:?}",
        systemd.seen
    );
    let addr = node.http(&dir.path().join("state"));
    assert_eq!(http(addr, "GET", "/-/healthz", &[], b"").status, 200);
    let echoed = http(addr, "POST", "/echo/x", &[], b"hello");
    assert_eq!(echoed.status, 200);
    assert_eq!(echoed.body, b"hello");

    // The status line follows the replicas.
    let until = Instant::now() + DEADLINE;
    while !systemd
        .seen
        .iter()
        .filter_map(|m| status_of(m))
        .any(|s| s == "1 app, 1/1 replicas running, 1 node")
    {
        assert!(
            systemd.next(until).is_some(),
            "no running status: {:?}",
            systemd.seen
        );
    }

    // WATCHDOG_USEC=400ms: pings every 200 ms while the loops make progress.
    let pings = systemd.pings_during(Duration::from_secs(3));
    assert!(pings >= 3, "{pings} pings in 3 s: {:?}", systemd.seen);

    // Reload: a second application and more replicas; RELOADING=1 carries
    // MONOTONIC_USEC, READY=1 follows, and the change is live.
    std::fs::write(
        &deploy,
        format!(
            "{}\n{}",
            ECHO.replace("num_replicas = 1", "num_replicas = 2"),
            ECHO.replace("name = \"echo\"", "name = \"echo2\"")
                .replace("\"/echo\"", "\"/echo2\"")
        ),
    )
    .unwrap();
    node.signal("HUP");
    let reloading = systemd.expect("RELOADING=1", &node);
    let usec: u64 = reloading
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC with RELOADING=1: {reloading:?}"))
        .parse()
        .unwrap();
    assert!(usec > 0);
    let ready = systemd.expect("READY=1", &node);
    assert!(
        status_of(&ready).is_some_and(|s| s.starts_with("2 apps, ")),
        "{ready}"
    );
    let echoed = http(addr, "POST", "/echo2/x", &[], b"again");
    assert_eq!(echoed.status, 200, "{}", node.log());
    assert_eq!(echoed.body, b"again");
    let until = Instant::now() + DEADLINE;
    while !systemd
        .seen
        .iter()
        .filter_map(|m| status_of(m))
        .any(|s| s == "2 apps, 3/3 replicas running, 1 node")
    {
        assert!(
            systemd.next(until).is_some(),
            "num_replicas = 2 not applied: {:?}",
            systemd.seen
        );
    }

    // A broken file on reload: logged, and the running apps are kept.
    std::fs::write(&deploy, "this is not [toml").unwrap();
    node.signal("HUP");
    systemd.expect("RELOADING=1", &node);
    let ready = systemd.expect("READY=1", &node);
    assert_eq!(
        status_of(&ready),
        Some("2 apps, 3/3 replicas running, 1 node"),
        "{ready}"
    );
    assert_eq!(http(addr, "POST", "/echo2/y", &[], b"kept").status, 200);
    let log = node.log();
    assert!(
        log.contains("Cannot reload this file") && log.contains("apps.toml"),
        "{log}"
    );
    assert!(node.child.try_wait().unwrap().is_none(), "{log}");

    // SIGTERM: STOPPING=1 when the drain starts, then a clean exit.
    node.signal("TERM");
    systemd.expect("STOPPING=1", &node);
    let until = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < until, "node did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}\n{}", node.log());
}

#[test]
fn watchdog_pings_stop_while_the_controller_loop_is_stalled() {
    let dir = tempfile::tempdir().unwrap();
    // An abstract socket name, as systemd may hand out ('@' prefix).
    let name = format!("rserve-test-{}-{}", std::process::id(), rand_suffix());
    let socket = {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        UnixDatagram::bind_addr(&addr).unwrap()
    };
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut systemd = Systemd {
        socket,
        seen: Vec::new(),
    };
    let stall = dir.path().join("stall");
    let node = start(
        dir.path(),
        &format!("@{name}"),
        &[("RSERVE_TEST_STALL_CONTROLLER", stall.to_str().unwrap())],
        &[],
    );
    systemd.expect("READY=1", &node);
    let pings = systemd.pings_during(Duration::from_secs(3));
    assert!(
        pings >= 3,
        "{pings} pings before the stall: {:?}",
        systemd.seen
    );

    std::fs::write(&stall, b"").unwrap();
    // The stale limit is 1 s: give it time to notice, then expect silence.
    systemd.pings_during(Duration::from_secs(3));
    let pings = systemd.pings_during(Duration::from_secs(3));
    assert_eq!(pings, 0, "pings went on while the controller was stalled");
    assert!(
        node.log().contains("A loop has made no progress"),
        "{}",
        node.log()
    );
    // The liveness answer (a Kubernetes liveness probe) says so too.
    let addr = node.http(&dir.path().join("state"));
    let health = http(addr, "GET", "/-/healthz", &[], b"");
    assert_eq!(health.status, 503);
    let said = String::from_utf8_lossy(&health.body);
    assert!(
        said.starts_with("the controller loop has made no progress for"),
        "{said}"
    );

    std::fs::remove_file(&stall).unwrap();
    let until = Instant::now() + DEADLINE;
    while systemd.pings_during(Duration::from_millis(500)) == 0 {
        assert!(Instant::now() < until, "pings did not resume");
    }
    assert_eq!(http(addr, "GET", "/-/healthz", &[], b"").status, 200);
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// `systemd-analyze verify` on both example units, with the binary they start
/// pointed at the one under test (verify checks that it exists). Warnings count
/// as failures: verify exits 0 on an unknown `Type=`, for one.
#[test]
fn the_example_units_pass_systemd_analyze_verify() {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is missing in CI: .ci/run installs Debian's `systemd` package"
        );
        eprintln!("skipped: systemd-analyze is not installed (apt-get install systemd)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for unit in ["rserve.service", "rserve-member.service"] {
        let text = std::fs::read_to_string(harness::repo(&format!("examples/{unit}"))).unwrap();
        assert!(text.contains("/usr/local/bin/rserve up"), "{unit}");
        let path = dir.path().join(unit);
        std::fs::write(&path, text.replace("/usr/local/bin/rserve", BIN)).unwrap();
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains(unit)).collect();
        assert!(
            out.status.success() && about_unit.is_empty(),
            "systemd-analyze verify {unit}: {}\n{stderr}",
            out.status
        );
    }
}

/// `rserve-member.service` hands the join token over as a file (a systemd
/// credential): a member joins with it, and a missing or empty file is a
/// configuration error (exit 78) naming the file.
#[test]
fn a_member_joins_with_a_token_file_and_a_bad_one_exits_78() {
    let tmp = tempfile::tempdir().unwrap();
    let head = TestNode::start(&tmp.path().join("head"), &[]);
    let token = head.ok(&["token", "create", "--ttl", "600"]);
    let token_file = app_file(tmp.path(), "join-token", &format!("\n{token}\n"));
    let join = head.control.to_string();
    let _member = TestNode::start(
        &tmp.path().join("member"),
        &[
            "--join",
            &join,
            "--join-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let deadline = Instant::now() + DEADLINE;
    loop {
        let v: serde_json::Value =
            serde_json::from_str(&head.ok(&["nodes", "-o", "json"])).unwrap();
        if v["nodes"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the member did not join: {v:#}");
        std::thread::sleep(Duration::from_millis(100));
    }

    let empty = app_file(tmp.path(), "empty-token", " \n");
    for (file, says) in [
        (
            tmp.path().join("missing-token"),
            "cannot read the join token file",
        ),
        (empty, "is empty"),
    ] {
        let (mut child, log) = spawn_up(
            &tmp.path().join("other"),
            &["--join", &join, "--join-token-file", file.to_str().unwrap()],
        );
        let status = child.wait().unwrap();
        let log = std::fs::read_to_string(log).unwrap();
        assert_eq!(status.code(), Some(78), "{log}");
        assert!(
            log.contains(says) && log.contains(file.to_str().unwrap()),
            "{log}"
        );
    }
}

//! `rserve top` in a real terminal: tmux runs it against a real node on
//! loopback; `send-keys` drives it and `capture-pane` reads the screen.
//! Checks the views, that scale and restart reach the node, that logs show a
//! line the test caused, the banner when the node goes away and the
//! reconnection when it is back, and that `q` and SIGTERM exit 0 with the
//! terminal restored (the alternate screen left).
//!
//! With `RSERVE_TOP_CAPTURES=DIR` the screens are also written to DIR (the
//! text captures in docs/tui.md come from there).

mod harness;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{TestNode, free_udp_port, wait_for};

/// A tmux server of its own, with one session running `rserve top`.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(node: &TestNode, args: &[&str]) -> Self {
        assert!(
            Command::new("tmux")
                .arg("-V")
                .output()
                .is_ok_and(|o| o.status.success()),
            "tmux is needed (Debian package `tmux`; .ci/run installs it)"
        );
        let socket = format!("rserve-top-{}-{}", std::process::id(), rand_suffix());
        let command = format!(
            "{} --state-dir {} top {}; echo rserve-top-exit=$?; sleep 600",
            harness::BIN,
            node.state_dir.display(),
            args.join(" ")
        );
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "top",
            ])
            .args(["-x", "120", "-y", "40"])
            .arg(command)
            .env_remove("RSERVE_TOKEN")
            .env_remove("RSERVE_ADDR")
            .env_remove("NO_COLOR")
            .env("TERM", "xterm-256color")
            .status()
            .unwrap();
        assert!(status.success());
        Self { socket }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sends keys (tmux names: `Enter`, `Escape`, `BSpace`, `C-d`; other
    /// text is typed), each apart so no two read as one escape sequence.
    fn send(&self, keys: &[&str]) {
        for key in keys {
            self.tmux(&["send-keys", "-t", "top", key]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "top"])
    }

    /// Waits until the screen satisfies `pred`; returns it.
    fn wait(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alternate_screen(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "top", "#{alternate_on}"])
            .trim()
            == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        .into()
}

/// Keeps a screen for the docs when `RSERVE_TOP_CAPTURES` names a directory.
fn keep(name: &str, screen: &str) {
    if let Some(dir) = std::env::var_os("RSERVE_TOP_CAPTURES") {
        let text: Vec<&str> = screen.lines().map(str::trim_end).collect();
        std::fs::write(
            Path::new(&dir).join(format!("{name}.txt")),
            text.join("\n") + "\n",
        )
        .unwrap();
    }
}

fn hello(dir: &Path) -> std::path::PathBuf {
    harness::app_file(
        dir,
        "hello.toml",
        "[[applications]]\nname = \"hello\"\nroute_prefix = \"/hello\"\n\
         [[applications.deployments]]\nname = \"e\"\nnum_replicas = 1\n\
         replica = { kind = \"echo\", fault_injection = true }\n",
    )
}

fn replica_ids(node: &TestNode) -> Vec<String> {
    node.status()["applications"]["hello"]["deployments"]["e"]["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "RUNNING")
        .map(|r| r["replica_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn top_in_tmux_shows_the_views_scales_restarts_follows_logs_and_quits_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let node = TestNode::start(tmp.path(), &[]);
    let file = hello(tmp.path());
    node.ok(&[
        "deploy",
        file.to_str().unwrap(),
        "--wait",
        "--timeout",
        "30",
    ]);
    // A line the test causes: a request that makes the replica panic; its
    // last lines stay for --previous, and a new replica takes its place.
    let r = node.http("POST", "/hello", &[("x-rserve-fault", "panic")], b"x");
    assert_eq!(r.status, 500);
    node.wait_status(30, "a replacement replica", |s| {
        let d = &s["applications"]["hello"]["deployments"]["e"];
        d["replica_failures"] == 1 && d["replica_states"]["RUNNING"] == 1
    });

    let tmux = Tmux::start(&node, &[]);
    let screen = tmux.wait("the deployments view", |s| {
        s.contains("deployments(all)[1]") && s.contains("hello") && s.contains("HEALTHY")
    });
    assert!(tmux.alternate_screen());
    keep("deployments-idle", &screen);

    tmux.send(&[":node", "Enter"]);
    let screen = tmux.wait("the cluster view", |s| {
        s.contains("nodes(all)[1]") && s.contains("alive (head)")
    });
    keep("nodes", &screen);

    tmux.send(&[":deploy", "Enter", "l"]);
    let screen = tmux.wait("the deployment's logs", |s| {
        s.contains("logs(hello/e)") && s.contains("Replica running.")
    });
    keep("logs", &screen);
    // The ended replica's lines, wrapped (the crash line is long).
    tmux.send(&["p", "w"]);
    let screen = tmux.wait("the panic in --previous", |s| {
        s.contains("previous:on")
            && s.contains("wrap:on")
            && s.contains("Replica crashed.")
            && s.contains("fault injected by x-rserve-fault")
    });
    keep("logs-previous", &screen);

    // Scale to 2 from the prompt: the node gets the call.
    tmux.send(&["Escape", "s"]);
    tmux.wait("the scale prompt", |s| s.contains("Replicas for hello/e"));
    tmux.send(&["BSpace", "2", "Enter"]);
    node.wait_status(30, "two replicas", |s| {
        let d = &s["applications"]["hello"]["deployments"]["e"];
        d["target_num_replicas"] == 2 && d["replica_states"]["RUNNING"] == 2
    });
    tmux.wait("2/2 ready", |s| s.contains("2/2"));

    // Restart one replica from the replicas view: a new one replaces it.
    let before = replica_ids(&node);
    tmux.send(&["Enter"]);
    let screen = tmux.wait("the replicas view", |s| s.contains("replicas(hello/e)[2]"));
    keep("replicas", &screen);
    tmux.send(&["r"]);
    let screen = tmux.wait("the restart dialog", |s| s.contains("Restart replica"));
    keep("restart-confirm", &screen);
    tmux.send(&["y"]);
    wait_for("a fresh replica in place of the restarted one", 30, || {
        let now = replica_ids(&node);
        now.len() == 2 && now.iter().filter(|id| before.contains(id)).count() == 1
    });

    tmux.send(&[":events", "Enter"]);
    let screen = tmux.wait("the restart in the events", |s| {
        s.contains("events(all)") && s.contains("restarted by an operator")
    });
    keep("events", &screen);

    // Traffic, then the routing view with its tap pane.
    tmux.send(&[":routes", "Enter"]);
    tmux.wait("the routing view", |s| {
        s.contains("routing(all)") && s.contains("tap:")
    });
    let screen = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            for _ in 0..20 {
                assert_eq!(node.http("POST", "/hello", &[], b"hi").status, 200);
            }
            let screen = tmux.screen();
            // Sampled requests in the pane, and the routers' figures in the table.
            let shares: Vec<&str> = screen
                .lines()
                .filter(|l| l.contains("/hello  hello/e"))
                .collect();
            let busy = !shares.is_empty() && shares.iter().all(|l| !l.contains(" 0% "));
            if screen.contains("POST /hello 200") && busy {
                break screen;
            }
            assert!(Instant::now() < deadline, "no sampled request:\n{screen}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    keep("routing", &screen);

    // The deployments view with that traffic in its window.
    tmux.send(&[":deploy", "Enter"]);
    let screen = tmux.wait("the deployments view with traffic", |s| {
        s.contains("deployments(all)[1]") && s.contains("2/2") && !s.contains(" 0.0 ")
    });
    keep("deployments", &screen);
    tmux.send(&["d"]);
    let screen = tmux.wait("describe", |s| s.contains("describe(deployment/hello/e)"));
    keep("describe", &screen);
    tmux.send(&["Escape", "y"]);
    let screen = tmux.wait("the deployed config", |s| {
        s.contains("route_prefix = \"/hello\"")
    });
    keep("config", &screen);
    tmux.send(&["Escape", "?"]);
    let screen = tmux.wait("the help", |s| s.contains("help (Esc closes)"));
    keep("help", &screen);

    tmux.send(&["Escape", "q"]);
    tmux.wait("exit 0", |s| s.contains("rserve-top-exit=0"));
    assert!(!tmux.alternate_screen(), "the terminal is restored");
}

#[test]
fn top_readonly_survives_a_head_restart_and_sigterm_restores_the_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_udp_port("127.0.0.1").to_string();
    let mut node = TestNode::start_on(tmp.path(), "127.0.0.1", &port, &[]);
    let file = hello(tmp.path());
    node.ok(&[
        "deploy",
        file.to_str().unwrap(),
        "--wait",
        "--timeout",
        "30",
    ]);

    let tmux = Tmux::start(&node, &["--readonly"]);
    tmux.wait("the deployments view", |s| {
        s.contains("hello") && s.contains("READ-ONLY")
    });
    tmux.send(&["s"]);
    let screen = tmux.wait("the refusal", |s| {
        s.contains("read-only: scale is disabled")
    });
    keep("readonly", &screen);
    tmux.send(&["C-d"]);
    tmux.wait("the refusal", |s| {
        s.contains("read-only: delete is disabled")
    });

    // The head goes away: a banner; it comes back: the banner goes.
    assert!(node.signal_and_wait("TERM").success());
    let screen = tmux.wait("the banner", |s| s.contains("connection lost"));
    keep("connection-lost", &screen);
    let node = TestNode::start_on(tmp.path(), "127.0.0.1", &port, &[]);
    tmux.wait("the reconnection", |s| {
        !s.contains("connection lost") && s.contains("HEALTHY")
    });

    let pid = Command::new("pgrep")
        .args([
            "-f",
            &format!(
                "^{} --state-dir {} top",
                harness::BIN,
                node.state_dir.display()
            ),
        ])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pid.stdout)
        .lines()
        .next()
        .expect("rserve top's pid")
        .trim()
        .to_owned();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    tmux.wait("exit 0", |s| s.contains("rserve-top-exit=0"));
    assert!(!tmux.alternate_screen(), "the terminal is restored");
}

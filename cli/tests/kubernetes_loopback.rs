//! The Kubernetes manifests run on loopback: every pod of the `cpu` overlay is
//! started as a real `rserve` process with exactly the arguments and environment
//! its rendered container gets. What only a cluster provides is stood in for,
//! and nothing else changes:
//!
//! - each pod gets a root directory of its own, where the container's paths
//!   (the state volume, the apps ConfigMap, the `rserve-join` Secret) live;
//! - the downward API: `metadata.name` is the pod's name, `status.podIP` one
//!   127.0.0.x address per pod (also put in place of `0.0.0.0` in the listen
//!   addresses, with free ports in place of the manifests' fixed ones, which
//!   something else on the machine may hold), `limits.cpu` and `limits.memory`
//!   the container's limits;
//! - the head's Service DNS name resolves to its pod: `localhost`, as the head
//!   pod is 127.0.0.1, at the head's control port;
//! - the Secret holds a pool token made as docs/kubernetes.md says.
//!
//! The pool's pods start before the head (as a StatefulSet's may), the cluster
//! forms and serves, and a pool pod rescheduled under its name with an empty
//! state volume rejoins with the same Secret.

#[path = "../../tests/harness.rs"]
mod harness;
mod manifests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use harness::{BIN, TestNode, wait_for};
use manifests::{EnvValue, NodeProcess, Rendered, node_processes, overlay, str_at};

/// One pod: its name, loopback IP and root directory.
struct Pod<'a> {
    name: String,
    ip: String,
    root: PathBuf,
    process: &'a NodeProcess,
    /// The head's control port (free, chosen by the test).
    head_port: u16,
}

impl Pod<'_> {
    /// A container path under the pod's root.
    fn local(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// A value as the process sees it: container paths under the pod's root,
    /// the head's DNS name as `localhost` at the head's port.
    fn localize(&self, value: &str, head_dns: &str) -> String {
        if value.starts_with('/') {
            return self.local(value).to_string_lossy().into_owned();
        }
        match value.strip_prefix(head_dns) {
            Some(rest) if rest.starts_with(':') || rest.starts_with('.') => {
                format!("localhost:{}", self.head_port)
            }
            _ => value.to_owned(),
        }
    }

    /// A listen address (`0.0.0.0:PORT`) on the pod's IP: the head's control
    /// endpoint on its chosen port, anything else on a free one.
    fn listen(&self, value: &str, head_control: bool) -> String {
        assert!(
            value.starts_with("0.0.0.0:"),
            "pods listen on every interface: {value}"
        );
        let port = if head_control { self.head_port } else { 0 };
        format!("{}:{port}", self.ip)
    }

    /// Writes the pod's ConfigMap files and its Secret (`token`).
    fn mount(&self, secret_token: &str) {
        for (path, text) in &self.process.config_files {
            let file = self.local(path.to_str().unwrap());
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        for (dir, secret) in &self.process.secret_dirs {
            assert_eq!(secret, "rserve-join", "the only Secret the pods mount");
            let dir = self.local(dir.to_str().unwrap());
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("token"), format!("{secret_token}\n")).unwrap();
        }
    }

    /// Starts the pod's process: the container's args, its env resolved.
    fn start(&self, rendered: &Rendered, head_dns: &str) -> TestNode {
        let container = container(rendered, &self.process.statefulset);
        let mut env = BTreeMap::new();
        for (name, value) in &self.process.env {
            let head = self.process.env("RSERVE_JOIN").is_none();
            let value = match value {
                EnvValue::Literal(v) if name == "RSERVE_CONTROL_ADDR" => self.listen(v, head),
                EnvValue::Literal(v) if name == "RSERVE_HTTP_ADDR" => self.listen(v, false),
                EnvValue::Literal(v) => self.localize(v, head_dns),
                EnvValue::Field(field) if field == "metadata.name" => self.name.clone(),
                EnvValue::Field(field) if field == "status.podIP" => self.ip.clone(),
                EnvValue::Resource { resource, divisor } => {
                    assert!(
                        matches!(divisor.as_deref(), None | Some("1")),
                        "{name}: divisor {divisor:?}"
                    );
                    let (kind, what) = resource.split_once('.').unwrap();
                    quantity(str_at(&container["resources"][kind], what))
                }
                other => panic!("{name}: no stand-in for {other:?}"),
            };
            env.insert(name.clone(), value);
        }
        let args: Vec<String> = self
            .process
            .args
            .iter()
            .map(|a| self.localize(a, head_dns))
            .collect();
        let state_dir = PathBuf::from(env.get("RSERVE_STATE_DIR").expect("RSERVE_STATE_DIR"));
        std::fs::create_dir_all(state_dir.parent().unwrap()).unwrap();
        let log = self.root.with_extension("log");
        let child = Command::new(BIN)
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&env)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn rserve");
        TestNode::adopt(child, &state_dir, log)
    }
}

/// The first container of a StatefulSet's pod template.
fn container<'a>(rendered: &'a Rendered, statefulset: &str) -> &'a serde_json::Value {
    &rendered.get("StatefulSet", statefulset)["spec"]["template"]["spec"]["containers"][0]
}

/// A Kubernetes quantity as `resourceFieldRef` with divisor 1 gives it: CPU
/// rounded up to whole cores, memory in bytes.
fn quantity(text: &str) -> String {
    if let Some(milli) = text.strip_suffix('m') {
        return milli.parse::<u64>().unwrap().div_ceil(1000).to_string();
    }
    for (suffix, factor) in [
        ("Ki", 1u64 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
    ] {
        if let Some(n) = text.strip_suffix(suffix) {
            return (n.parse::<u64>().unwrap() * factor).to_string();
        }
    }
    text.parse::<u64>()
        .unwrap_or_else(|_| panic!("quantity {text}"))
        .to_string()
}

#[test]
fn quantities_read_as_the_downward_api_gives_them() {
    assert_eq!(quantity("500m"), "1");
    assert_eq!(quantity("2"), "2");
    assert_eq!(quantity("1500m"), "2");
    assert_eq!(quantity("1Gi"), "1073741824");
    assert_eq!(quantity("512Mi"), "536870912");
}

#[test]
fn the_cpu_overlay_forms_a_cluster_on_loopback_serves_and_a_rescheduled_pod_rejoins() {
    let Some(rendered) = overlay("cpu") else {
        return;
    };
    let processes = node_processes(rendered);
    let head = processes
        .iter()
        .find(|p| p.env("RSERVE_JOIN").is_none() && p.flag_values("--join").is_empty())
        .expect("a head");
    let pools: Vec<&NodeProcess> = processes
        .iter()
        .filter(|p| p.statefulset != head.statefulset)
        .collect();
    assert!(!pools.is_empty(), "a pool");
    let head_service = str_at(
        rendered.get("StatefulSet", &head.statefulset),
        "spec.serviceName",
    );
    let head_dns = format!("{}-0.{head_service}", head.statefulset);

    let tmp = tempfile::tempdir().unwrap();
    // The Secret, with the command docs/kubernetes.md gives.
    let docs = std::fs::read_to_string(manifests::repo("docs/kubernetes.md")).unwrap();
    let command = "rserve token create --pool --ttl 365d > token";
    assert!(
        docs.contains(command),
        "docs/kubernetes.md makes the token with `{command}`"
    );
    let made = Command::new(BIN)
        .args(["token", "create", "--pool", "--ttl", "365d"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let token = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let expires: u64 = token.rsplit('.').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(expires.abs_diff(now + 365 * 86400) < 60, "{token}");

    let head_port = harness::free_udp_port("127.0.0.1");
    let mut pods = vec![Pod {
        name: format!("{}-0", head.statefulset),
        ip: "127.0.0.1".to_owned(),
        root: tmp.path().join(format!("{}-0", head.statefulset)),
        process: head,
        head_port,
    }];
    for pool in &pools {
        for ordinal in 0..pool.replicas {
            let name = format!("{}-{ordinal}", pool.statefulset);
            pods.push(Pod {
                ip: format!("127.0.0.{}", pods.len() + 1),
                root: tmp.path().join(&name),
                name,
                process: pool,
                head_port,
            });
        }
    }
    for pod in &pods {
        pod.mount(&token);
    }
    // The pool's pods first: they wait for the head (RSERVE_JOIN_WAIT_S).
    let (head_node, members): (TestNode, Vec<TestNode>) = std::thread::scope(|scope| {
        let started: Vec<_> = pods[1..]
            .iter()
            .map(|pod| scope.spawn(|| pod.start(rendered, &head_dns)))
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let head_node = pods[0].start(rendered, &head_dns);
        let members = started.into_iter().map(|t| t.join().unwrap()).collect();
        (head_node, members)
    });
    check_cluster(&head_node, &members, &pods);

    // A pool pod is rescheduled: SIGTERM (drain), then the same name on an
    // empty state volume (an emptyDir) and another IP.
    let mut members = members;
    let last = members.len() - 1;
    let exit = members[last].signal_and_wait("TERM");
    assert!(exit.success(), "a drained node exits 0: {exit}");
    let moved = &pods[last + 1];
    std::fs::remove_dir_all(moved.local("/var/lib/rserve")).unwrap();
    let moved = Pod {
        name: moved.name.clone(),
        ip: format!("127.0.0.{}", pods.len() + 1),
        root: moved.root.clone(),
        process: moved.process,
        head_port,
    };
    members[last] = moved.start(rendered, &head_dns);
    assert!(members[last].log().contains("Joined the cluster"));
    check_cluster(&head_node, &members, &pods);
}

/// Every pod listed once by its name, ready, and serving the apps file's digits
/// model through its own ingress.
fn check_cluster(head: &TestNode, members: &[TestNode], pods: &[Pod<'_>]) {
    wait_for("every pod in the cluster", 30, || {
        let nodes: serde_json::Value =
            serde_json::from_str(&head.ok(&["nodes", "-o", "json"])).unwrap();
        let mut ids: Vec<String> = nodes["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["state"] == "ALIVE")
            .map(|n| n["advert"]["node_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        let mut names: Vec<String> = pods.iter().map(|p| p.name.clone()).collect();
        names.sort();
        ids == names
    });
    let digit = std::fs::read(manifests::repo("examples/digit-7.json")).unwrap();
    for node in std::iter::once(head).chain(members) {
        wait_for("the pod's readiness", 30, || {
            node.http("GET", "/-/ready", &[], b"").status == 200
        });
        wait_for("the digits model through the pod", 60, || {
            let r = node.http(
                "POST",
                "/digits",
                &[("content-type", "application/json")],
                &digit,
            );
            r.status == 200 && r.json()["label"] == 7
        });
    }
}

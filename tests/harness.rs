//! Test harness: real `rserve` nodes on loopback with ephemeral ports and temp
//! state dirs, a minimal HTTP/1.1 client, and the CLI run as a subprocess.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test: `rserve`, or, from the RAG example's tests, the
/// `rserve-rag` build (the same CLI with user kinds).
pub const BIN: &str = match option_env!("CARGO_BIN_EXE_rserve") {
    Some(bin) => bin,
    None => match option_env!("CARGO_BIN_EXE_rserve-rag") {
        Some(bin) => bin,
        None => panic!("the harness is for packages that build rserve or rserve-rag"),
    },
};

/// The repository root (examples/, tests/fixtures/, models/).
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .expect("the workspace root holds Cargo.lock")
        .join(path)
}

/// A running `rserve up`.
pub struct TestNode {
    pub child: Option<Child>,
    pub state_dir: PathBuf,
    pub http: SocketAddr,
    pub control: SocketAddr,
    log: PathBuf,
}

/// Runs `rserve --state-dir DIR up ...` in the background.
pub fn spawn_up(state_dir: &Path, extra: &[&str]) -> (Child, PathBuf) {
    spawn_up_on(state_dir, "127.0.0.1", "0", extra)
}

/// Runs `rserve up` with both endpoints on loopback address `host` (127.0.0.x:
/// one address per node, as separate machines would have), the control
/// endpoint on `control_port` (0 = ephemeral).
pub fn spawn_up_on(
    state_dir: &Path,
    host: &str,
    control_port: &str,
    extra: &[&str],
) -> (Child, PathBuf) {
    spawn_up_with(state_dir, host, control_port, extra, &[])
}

/// [`spawn_up_on`] with these environment variables set too.
pub fn spawn_up_with(
    state_dir: &Path,
    host: &str,
    control_port: &str,
    extra: &[&str],
    env: &[(String, String)],
) -> (Child, PathBuf) {
    std::fs::create_dir_all(state_dir).unwrap();
    let log = state_dir.with_extension("log");
    let child = Command::new(BIN)
        .arg("--state-dir")
        .arg(state_dir)
        .args([
            "up",
            "--http-addr",
            &format!("{host}:0"),
            "--control-addr",
            &format!("{host}:{control_port}"),
        ])
        .args(extra)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RSERVE_LOG", "info,rserve_daemon=debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn rserve up");
    (child, log)
}

impl TestNode {
    /// Starts a node on `state_dir` and waits until it has bound its ports.
    pub fn start(state_dir: &Path, extra: &[&str]) -> Self {
        Self::start_on(state_dir, "127.0.0.1", "0", extra)
    }

    /// [`TestNode::start`] on loopback address `host`, control port `control_port`.
    pub fn start_on(state_dir: &Path, host: &str, control_port: &str, extra: &[&str]) -> Self {
        Self::start_with(state_dir, host, control_port, extra, &[])
    }

    /// [`TestNode::start_on`] with these environment variables set too.
    pub fn start_with(
        state_dir: &Path,
        host: &str,
        control_port: &str,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Self {
        let (child, log) = spawn_up_with(state_dir, host, control_port, extra, env);
        Self::adopt(child, state_dir, log)
    }

    /// A node already spawned on `state_dir` (logging to `log`), once it has
    /// bound its ports.
    pub fn adopt(mut child: Child, state_dir: &Path, log: PathBuf) -> Self {
        let deadline = Instant::now() + Duration::from_secs(30);
        let file = state_dir.join("node.json");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "rserve up exited with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if let Some(v) = std::fs::read(&file)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                && v["pid"] == child.id()
            {
                return Self {
                    child: Some(child),
                    state_dir: state_dir.to_owned(),
                    http: v["http_address"].as_str().unwrap().parse().unwrap(),
                    control: v["control_address"].as_str().unwrap().parse().unwrap(),
                    log,
                };
            }
            assert!(Instant::now() < deadline, "node did not start in 30s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs the CLI against this node.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.state_dir, args)
    }

    /// Runs the CLI and asserts it succeeded; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "rserve {args:?} failed with {}:\nstdout: {}\nstderr: {}\nnode log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `rserve status -o json` as a value.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "-o", "json"])).unwrap()
    }

    /// Polls status until `pred` holds (or panics after `secs`).
    pub fn wait_status(
        &self,
        secs: u64,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status:\n{status:#}\nlog:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// An HTTP request to the ingress.
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        http(self.http, method, path, headers, body)
    }

    /// Sends a signal and waits for the process to exit.
    pub fn signal_and_wait(&mut self, signal: &str) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node did not exit after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `rserve --state-dir DIR args...`.
pub fn cli(state_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .env_remove("RSERVE_TOKEN")
        .env_remove("RSERVE_ADDR")
        .output()
        .expect("run rserve")
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("complete response head");
    let head = std::str::from_utf8(&raw[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Writes an application file into `dir` and returns its path.
pub fn app_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Polls `pred` every 100 ms for up to `secs` seconds.
pub fn wait_for(what: &str, secs: u64, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A node's id, from its state dir.
pub fn node_id(node: &TestNode) -> String {
    std::fs::read_to_string(node.state_dir.join("node_id"))
        .unwrap()
        .trim()
        .to_owned()
}

/// A free UDP port on `host` for a head that must come back on the same
/// address: below the ephemeral range, so that no client socket (members bind
/// ephemeral ports) can take it while the head is down.
pub fn free_udp_port(host: &str) -> u16 {
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    // Distinct per test in this process (tests run in parallel), spread per process.
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    loop {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = 10_000 + (std::process::id() % 2000) as u16 * 8 + n;
        assert!(port < low, "no free UDP port below the ephemeral range");
        if std::net::UdpSocket::bind((host, port)).is_ok() {
            return port;
        }
    }
}

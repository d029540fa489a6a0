//! A node started in-process on sockets the test bound to port 0 (as
//! mini-redis's `run(listener, shutdown)`): deploy, serve, shut down — no
//! binary, no fixed ports.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use rserve_daemon::{Node, NodeConfig};
use rserve_protocol::AppFile;

const ECHO: &str = r#"
[[applications]]
name = "echo"
route_prefix = "/echo"
[[applications.deployments]]
name = "echo"
num_replicas = 2
replica = { kind = "echo" }
"#;

/// One request with a plain-text body.
async fn request(addr: SocketAddr, method: &str, path: &str, body: &str) -> String {
    common::request(addr, method, path, "content-type: text/plain\r\n", body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_serves_on_the_sockets_it_is_given_and_stops_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let (http, control_addr) = (
        listener.local_addr().unwrap(),
        control.local_addr().unwrap(),
    );
    let node = Node::start_on(NodeConfig::new(dir.path().to_owned()), listener, control)
        .await
        .unwrap();
    assert_eq!(node.info().http_address, http);
    assert_eq!(node.info().control_address, control_addr);
    let changes = node
        .deploy("echo.toml", AppFile::parse("echo.toml", ECHO).unwrap())
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);

    let running = common::Running::spawn(node);
    // The request waits in the router until the first replica runs.
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        request(http, "POST", "/echo/hi", "hello"),
    )
    .await
    .expect("answered");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.contains("\r\ncontent-type: text/plain\r\n"),
        "{response}"
    );
    assert!(
        response.contains("\r\nx-rserve-replica: echo-"),
        "{response}"
    );
    assert!(response.ends_with("\r\n\r\nhello"), "{response}");
    let routes = request(http, "GET", "/-/routes", "").await;
    assert!(routes.ends_with("\r\n\r\n{\"/echo\":\"echo\"}"), "{routes}");
    assert!(dir.path().join("node.json").exists());

    running.stop().await;
    assert!(!dir.path().join("node.json").exists());
    assert!(!rserve_daemon::state_dir::is_running(dir.path()));
    // What was deployed is persisted for the next start.
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(state.contains("\"echo\""), "{state}");
}

/// Raw bytes to a new connection; the whole response as text.
async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// `body` sent in chunks of `size` bytes (chunked transfer encoding).
fn chunked(path: &str, body: &str, size: usize) -> Vec<u8> {
    let mut out = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-type: text/plain\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.as_bytes().chunks(size) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_read_whole_within_the_limit_and_requests_carry_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path().to_owned());
    config.max_body_bytes = 64;
    let (node, http) = common::start(config).await;
    node.deploy("echo.toml", AppFile::parse("echo.toml", ECHO).unwrap())
        .await
        .unwrap();
    let running = common::Running::spawn(node);
    let first = tokio::time::timeout(Duration::from_secs(20), request(http, "POST", "/echo", "x"))
        .await
        .expect("answered");
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");

    // A body in many chunks arrives whole, in order.
    let body: String = (0..60).map(|i| char::from(b'a' + i % 26)).collect();
    let response = raw(http, &chunked("/echo", &body, 7)).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with(&format!("\r\n\r\n{body}")), "{response}");
    // Over the limit: declared, or found out while reading chunks.
    let declared = request(http, "POST", "/echo", &"x".repeat(65)).await;
    assert!(declared.starts_with("HTTP/1.1 413 "), "{declared}");
    assert!(declared.contains("64-byte limit"), "{declared}");
    let streamed = raw(http, &chunked("/echo", &"y".repeat(100), 30)).await;
    assert!(streamed.starts_with("HTTP/1.1 413 "), "{streamed}");

    // Every answer carries a request id: the client's, or a new one
    // (`<8 hex digits>-<counter in hex>`), different for each request.
    let ids: Vec<String> = [&first, &response, &declared, &streamed]
        .iter()
        .map(|r| {
            let line = r
                .lines()
                .find_map(|l| l.strip_prefix("x-request-id: "))
                .unwrap_or_else(|| panic!("no request id in {r}"));
            line.to_owned()
        })
        .collect();
    for id in &ids {
        let (prefix, n) = id.split_once('-').expect("prefix-counter");
        assert_eq!(prefix.len(), 8, "{id}");
        assert!(u32::from_str_radix(prefix, 16).is_ok(), "{id}");
        assert!(u64::from_str_radix(n, 16).is_ok(), "{id}");
    }
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    let own = common::request(http, "POST", "/echo", "x-request-id: mine-42\r\n", "z").await;
    assert!(own.contains("\r\nx-request-id: mine-42\r\n"), "{own}");

    running.stop().await;
}

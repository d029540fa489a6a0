//! A node started in-process on sockets the test bound to port 0 (as
//! mini-redis's `run(listener, shutdown)`): deploy, serve, shut down — no
//! binary, no fixed ports.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use rserve_daemon::{Node, NodeConfig};
use rserve_protocol::AppFile;
use tokio_util::sync::CancellationToken;

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

    let shutdown = CancellationToken::new();
    let running = tokio::spawn(node.run(shutdown.clone()));
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

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the node stopped")
        .unwrap()
        .unwrap();
    assert!(!dir.path().join("node.json").exists());
    assert!(!rserve_daemon::state_dir::is_running(dir.path()));
    // What was deployed is persisted for the next start.
    let state = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(state.contains("\"echo\""), "{state}");
}

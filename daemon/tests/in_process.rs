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

/// A node with `config` serving [`ECHO`], running; its HTTP address and its
/// first answer (once a replica runs).
async fn echo_node(config: NodeConfig) -> (common::Running, SocketAddr, String) {
    let (node, http) = common::start(config).await;
    node.deploy("echo.toml", AppFile::parse("echo.toml", ECHO).unwrap())
        .await
        .unwrap();
    let running = common::Running::spawn(node);
    let first = tokio::time::timeout(Duration::from_secs(20), request(http, "POST", "/echo", "x"))
        .await
        .expect("answered");
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
    (running, http, first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_read_whole_within_the_limit_and_requests_carry_ids() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path().to_owned());
    config.max_body_bytes = 64;
    let (running, http, first) = echo_node(config).await;

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

/// Reads one response with a `content-length` body from a kept-alive connection.
async fn read_one(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

/// Whatever the node sends until it closes the connection (at most 10 s).
async fn until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest));
    match read.await.expect("the node closed the connection") {
        Ok(_) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
    String::from_utf8_lossy(&rest).into_owned()
}

const KEEP_ALIVE_ECHO: &[u8] =
    b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nhi";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_stall_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path().to_owned());
    config.http_limits.header_timeout = Duration::from_millis(300);
    config.http_limits.body_timeout = Duration::from_millis(300);
    let (running, http, _) = echo_node(config).await;

    // A head that never ends (slowloris): the connection is closed, unanswered.
    let mut slow = tokio::net::TcpStream::connect(http).await.unwrap();
    slow.write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\nx-slow: ")
        .await
        .unwrap();
    let answer = until_closed(&mut slow).await;
    assert!(!answer.contains(" 200 "), "{answer}");

    // A kept-alive connection that goes quiet after its answer is closed too.
    let mut idle = tokio::net::TcpStream::connect(http).await.unwrap();
    idle.write_all(KEEP_ALIVE_ECHO).await.unwrap();
    let answer = read_one(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(until_closed(&mut idle).await, "");

    // A body that stops arriving: 408, and the connection ends.
    let mut stalled = tokio::net::TcpStream::connect(http).await.unwrap();
    stalled
        .write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: 10\r\n\r\nabc")
        .await
        .unwrap();
    let answer = until_closed(&mut stalled).await;
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(answer.contains("stalled"), "{answer}");

    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_are_closed_at_once_and_counted() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path().to_owned());
    config.http_limits.max_connections = 2;
    let (running, http, _) = echo_node(config).await;

    // Two kept-alive connections, each answered: both hold a place.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = tokio::net::TcpStream::connect(http).await.unwrap();
        conn.write_all(KEEP_ALIVE_ECHO).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(20), read_one(&mut conn))
            .await
            .expect("answered");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        held.push(conn);
    }
    // A third is closed without an answer, even with a request sent.
    let mut third = tokio::net::TcpStream::connect(http).await.unwrap();
    let _ = third.write_all(KEEP_ALIVE_ECHO).await;
    assert_eq!(until_closed(&mut third).await, "");
    // The held ones still work.
    held[0].write_all(KEEP_ALIVE_ECHO).await.unwrap();
    assert!(
        read_one(&mut held[0])
            .await
            .starts_with("HTTP/1.1 200 OK\r\n")
    );

    // One closes: its place is free again, and the refusal was counted.
    drop(held.pop());
    let metrics = loop {
        let mut conn = tokio::net::TcpStream::connect(http).await.unwrap();
        let _ = conn
            .write_all(b"GET /-/metrics HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
            .await;
        let answer = until_closed(&mut conn).await;
        if !answer.is_empty() {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(metrics.starts_with("HTTP/1.1 200 OK\r\n"), "{metrics}");
    assert!(
        metrics.contains("\nrserve_http_connections 2\n"),
        "{metrics}"
    );
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("rserve_http_connections_refused_total "))
        .and_then(|v| v.parse().ok())
        .expect("the refusal counter");
    assert!(refused >= 1, "{metrics}");

    drop(held);
    running.stop().await;
}

const SLOW: &str = r#"
[[applications]]
name = "slow"
route_prefix = "/slow"
[[applications.deployments]]
name = "slow"
num_replicas = 1
max_ongoing_requests = 1
max_queued_requests = -1
replica = { kind = "sleep", duration_ms = 10000 }
"#;

/// The value of the first metrics line starting with `name `.
fn metric(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {page}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_bounds_queued_requests_and_bodies_and_times_requests_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path().to_owned());
    config.max_queued_requests = 1;
    config.max_buffered_bytes = 1000;
    config.http_limits.request_timeout = Some(Duration::from_secs(2));
    let (node, http) = common::start(config).await;
    node.deploy("slow.toml", AppFile::parse("slow.toml", SLOW).unwrap())
        .await
        .unwrap();
    let running = common::Running::spawn(node);
    let metrics = || request(http, "GET", "/-/metrics", "");
    let replica_ongoing = |page: &str, n: &str| {
        page.lines().any(|l| {
            l.starts_with("rserve_replica_ongoing_requests{") && l.rsplit(' ').next() == Some(n)
        })
    };
    // The replica runs (its deadline would count a start, too), then one
    // request takes its only slot.
    let start = std::time::Instant::now();
    while !replica_ongoing(&metrics().await, "0") {
        assert!(start.elapsed() < Duration::from_secs(20), "no replica");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = tokio::spawn(async move { request(http, "POST", "/slow", &"a".repeat(900)).await });
    loop {
        let page = metrics().await;
        if replica_ongoing(&page, "1") {
            assert_eq!(metric(&page, "rserve_node_request_body_bytes"), 900.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Ray's default max_queued_requests = -1 queues without bound; the node
    // takes one (--max-queued-requests 1).
    let queued = tokio::spawn(request(http, "POST", "/slow", "b"));
    while metric(&metrics().await, "rserve_node_queued_requests") != 1.0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = request(http, "POST", "/slow", "c").await;
    assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
    assert!(
        refused.contains("the node is overloaded: 1 requests queued"),
        "{refused}"
    );
    // 901 bytes are held; 100 more pass the node's 1000.
    let too_much = request(http, "POST", "/slow", &"d".repeat(100)).await;
    assert!(too_much.starts_with("HTTP/1.1 503 "), "{too_much}");
    assert!(too_much.contains("request bodies"), "{too_much}");

    // Neither held request gets an answer within --request-timeout-s: 408,
    // queued or not, and what they held is given back.
    for answer in [first.await.unwrap(), queued.await.unwrap()] {
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert!(answer.contains("--request-timeout-s"), "{answer}");
    }
    let page = metrics().await;
    assert_eq!(metric(&page, "rserve_node_queued_requests"), 0.0, "{page}");
    assert_eq!(
        metric(&page, "rserve_node_request_body_bytes"),
        0.0,
        "{page}"
    );
    assert_eq!(
        metric(
            &page,
            "rserve_node_overload_refusals_total{bound=\"queued_requests\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &page,
            "rserve_node_overload_refusals_total{bound=\"body_bytes\"}"
        ),
        1.0
    );
    running.stop().await;
}

/// Starts (and drops) a node on `dir`; the error's text if it refused.
async fn start_error(dir: &std::path::Path) -> Option<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    match Node::start_on(NodeConfig::new(dir.to_owned()), listener, control).await {
        Ok(_) => None,
        Err(e) => {
            assert!(
                matches!(e, rserve_daemon::node::StartError::State(_)),
                "exit 78: {e}"
            );
            Some(e.to_string())
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_state_files_that_are_unsafe_or_impossible() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    assert_eq!(start_error(&state).await, None, "a fresh state dir");
    let chmod = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    // A token others can read is refused, with the fix; the directory's
    // mode is put back on every start.
    let token = state.join("admin.token");
    chmod(&token, 0o644);
    chmod(&state, 0o755);
    let err = start_error(&state).await.expect("refused");
    assert!(
        err.contains(&format!("chmod 600 {}", token.display())),
        "{err}"
    );
    chmod(&token, 0o600);
    assert_eq!(start_error(&state).await, None);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("tls/node.key")), 0o600);

    // A membership record a join would have refused.
    let nodes = state.join("nodes.json");
    let record = serde_json::json!([{
        "advert": {
            "node_id": "node-2", "http_address": "127.0.0.1:1", "control_address": "127.0.0.1:2",
            "resources": {"num_cpus": -1.0, "num_gpus": 0.0, "memory": 1},
            "software_version": "0.1.0"
        },
        "cert_fingerprint": "ab".repeat(32),
        "joined_at_s": 1.0
    }]);
    std::fs::write(&nodes, record.to_string()).unwrap();
    let err = start_error(&state).await.expect("refused");
    assert!(
        err.contains("nodes.json is corrupt ([0].advert.resources.num_cpus is -1"),
        "{err}"
    );
    std::fs::remove_file(&nodes).unwrap();

    // A node id that is not a plain name.
    std::fs::write(state.join("node_id"), "a/b\n").unwrap();
    let err = start_error(&state).await.expect("refused");
    assert!(err.contains("the node id `a/b`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_take_every_connection() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path().to_owned());
    config.http_limits.max_connections_per_ip = 2;
    let (running, http, _) = echo_node(config).await;
    let from = |ip: &str| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        socket.connect(http)
    };
    // 127.0.0.2 holds two kept-alive connections: its cap.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = from("127.0.0.2").await.unwrap();
        conn.write_all(KEEP_ALIVE_ECHO).await.unwrap();
        assert!(read_one(&mut conn).await.starts_with("HTTP/1.1 200 OK\r\n"));
        held.push(conn);
    }
    // Its third is closed unanswered; another address is served.
    let mut third = from("127.0.0.2").await.unwrap();
    let _ = third.write_all(KEEP_ALIVE_ECHO).await;
    assert_eq!(until_closed(&mut third).await, "");
    let mut other = from("127.0.0.3").await.unwrap();
    other.write_all(KEEP_ALIVE_ECHO).await.unwrap();
    assert!(
        read_one(&mut other)
            .await
            .starts_with("HTTP/1.1 200 OK\r\n")
    );
    // One of its connections closes: it may open one again.
    drop(held.pop());
    let again = loop {
        let mut conn = from("127.0.0.2").await.unwrap();
        let _ = conn.write_all(KEEP_ALIVE_ECHO).await;
        let answer = until_closed_or_answered(&mut conn).await;
        if !answer.is_empty() {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(again.starts_with("HTTP/1.1 200 OK\r\n"), "{again}");
    let metrics = request(http, "GET", "/-/metrics", "").await;
    assert!(
        metric(&metrics, "rserve_http_connections_refused_per_ip_total") >= 1.0,
        "{metrics}"
    );
    running.stop().await;
}

/// The first answer on a kept-alive connection, or "" if it is closed first.
async fn until_closed_or_answered(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&chunk[..n]).into_owned(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_authentication_a_peer_gets_only_a_small_frame_budget() {
    use rserve_daemon::rpc::client::{ClientOptions, ControlClient};
    use rserve_protocol::wire::{Request, Response};
    let dir = tempfile::tempdir().unwrap();
    let (node, _) = common::start(NodeConfig::new(dir.path().to_owned())).await;
    let control = node.info().control_address;
    let ca_pem = std::fs::read(dir.path().join("tls/ca.crt")).unwrap();
    let running = common::Running::spawn(node);
    let client = |cert: Option<(Vec<u8>, Vec<u8>)>| {
        ControlClient::connect(ClientOptions {
            addr: control,
            ca_pem: ca_pem.clone(),
            server_name: "localhost".into(),
            token: None,
            client_cert: cert,
            timeout: Duration::from_secs(10),
        })
    };
    let big = Request::Status {
        app: Some("x".repeat(1 << 20)),
    };
    // Without a certificate a 1 MiB frame is refused by its length, unread.
    let anonymous = client(None).await.unwrap();
    let Response::Error(e) = anonymous.call(&big).await.unwrap() else {
        panic!("refused")
    };
    assert!(
        e.message.contains("exceeds the 131072-byte limit"),
        "{}",
        e.message
    );
    // A small call is read, and refused for want of a certificate.
    let Response::Error(e) = anonymous.call(&Request::Nodes).await.unwrap() else {
        panic!("refused")
    };
    assert!(e.message.contains("only over mutual TLS"), "{}", e.message);
    // With the cluster's certificate the same frame is read (and answered:
    // no such application).
    let tls = dir.path().join("tls");
    let cert = (
        std::fs::read(tls.join("admin.crt")).unwrap(),
        std::fs::read(tls.join("admin.key")).unwrap(),
    );
    let member = client(Some(cert)).await.unwrap();
    if let Response::Error(e) = member.call(&big).await.unwrap() {
        assert!(!e.message.contains("limit"), "{}", e.message);
    }
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_a_connection_without_a_request_makes_room_for_a_new_one() {
    use tokio::io::AsyncWriteExt;
    let dir = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(dir.path().to_owned());
    config.http_limits.max_connections = 2;
    let (running, http, _) = echo_node(config).await;
    // Two connections that never finish a request head hold both places.
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let mut conn = tokio::net::TcpStream::connect(http).await.unwrap();
        conn.write_all(b"POST /echo HTTP/1.1\r\nhost: test\r\nx-slow: ")
            .await
            .unwrap();
        stalled.push(conn);
        // Apart in time, so which is the oldest does not depend on the order
        // the node registers two connections accepted together.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // A new client is served: the oldest stalled one made room.
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        request(http, "POST", "/echo", "hi"),
    )
    .await
    .expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(
        until_closed(&mut stalled[0]).await,
        "",
        "the oldest was closed"
    );
    let metrics = request(http, "GET", "/-/metrics", "").await;
    assert!(
        metric(&metrics, "rserve_http_connections_evicted_total") >= 1.0,
        "{metrics}"
    );
    running.stop().await;
}

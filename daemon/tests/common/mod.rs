//! What the in-process node tests share: a node on loopback sockets bound
//! to port 0, running until stopped; one HTTP/1.1 request on a new connection.

use std::net::SocketAddr;
use std::time::Duration;

use rserve_daemon::{Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Starts a node with `config` on an HTTP listener and a control socket
/// bound to port 0 on loopback; also returns the HTTP address.
pub async fn start(config: NodeConfig) -> (Node, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let http = listener.local_addr().unwrap();
    (
        Node::start_on(config, listener, control).await.unwrap(),
        http,
    )
}

/// A node running in a task, until [`stop`](Self::stop)ped.
pub struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Runs `node`.
    pub fn spawn(node: Node) -> Self {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(node.run(shutdown.clone()));
        Self { shutdown, task }
    }

    /// Shuts the node down and waits (at most 30 s) until it has stopped cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the node stopped")
            .unwrap()
            .unwrap();
    }
}

/// `method target` with `headers` (each ending in `\r\n`) and `body`; the
/// whole response (status line, headers, body) as text.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &str,
    body: &str,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nhost: test\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

//! Streaming calls against a node started in-process: the frames of a call,
//! and cancellation — a client that stops reading ends the node's side of
//! the call (its tap goes quiet), with no other effect on the node.

use std::time::Duration;

use rserve_daemon::pki::{NODE_SERVER_NAME, TlsPaths};
use rserve_daemon::rpc::client::{ClientOptions, ControlClient};
use rserve_daemon::{Node, NodeConfig};
use rserve_protocol::stream::{StreamFrame, TapQuery};
use rserve_protocol::wire::{Request, Response};
use tokio_util::sync::CancellationToken;

async fn client(dir: &std::path::Path, addr: std::net::SocketAddr) -> ControlClient {
    let tls = TlsPaths::new(dir);
    ControlClient::connect(ClientOptions {
        addr,
        ca_pem: std::fs::read(&tls.ca_cert).unwrap(),
        server_name: NODE_SERVER_NAME.to_owned(),
        token: None,
        client_cert: Some((
            std::fs::read(&tls.admin_cert).unwrap(),
            std::fs::read(&tls.admin_key).unwrap(),
        )),
        timeout: Duration::from_secs(5),
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_goes_away_ends_the_call_on_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = control.local_addr().unwrap();
    let node = Node::start_on(NodeConfig::new(dir.path().to_owned()), listener, control)
        .await
        .unwrap();
    let live = node.live().clone();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(node.run(shutdown.clone()));

    let client = client(dir.path(), addr).await;
    let tap = Request::Tap(TapQuery {
        max_rps: 10,
        ..TapQuery::default()
    });
    let mut stream = client.open_stream(&tap).await.unwrap().unwrap();
    assert_eq!(stream.next().await.unwrap(), Some(StreamFrame::CaughtUp));
    assert!(live.tap.active(), "the call taps while it is read");

    // A second call on the same connection: events end after the history
    // (no follow), and the node finishes the stream.
    let events = Request::Events {
        tail: None,
        follow: false,
    };
    let mut history = client.open_stream(&events).await.unwrap().unwrap();
    let mut frames = Vec::new();
    while let Some(frame) = history.next().await.unwrap() {
        frames.push(frame);
    }
    assert_eq!(frames.last(), Some(&StreamFrame::CaughtUp));

    // The reader goes away; the connection stays.
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), async {
        while live.tap.active() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the node ended the call when its reader went away");
    assert!(client.is_open());
    assert!(matches!(
        client.call(&Request::Routes).await.unwrap(),
        Response::Routes(_)
    ));

    shutdown.cancel();
    client.close().await;
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the node stopped")
        .unwrap()
        .unwrap();
}

//! The control protocol's client side: a handshaken connection to a node,
//! used by the CLI and by nodes (the mesh, joining, heartbeats).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::QuicClientConfig;
use rserve_protocol::stream::StreamFrame;
use rserve_protocol::wire::{
    self, FrameDecoder, Hello, HelloReply, PROTOCOL_VERSION, Request, Response,
};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{read_frame, read_frame_and_rest};

/// How often an idle connection proves it is alive.
const KEEP_ALIVE: Duration = Duration::from_millis(500);
/// How long a silent connection lives.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// How to reach a node.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// The node's control address.
    pub addr: SocketAddr,
    /// PEM of the cluster CA to trust.
    pub ca_pem: Vec<u8>,
    /// Name to verify in the node's certificate.
    pub server_name: String,
    /// Admin token, for calls that change state.
    pub token: Option<String>,
    /// Client certificate chain and key (PEM) signed by the cluster CA: nodes
    /// accept no call without one.
    pub client_cert: Option<(Vec<u8>, Vec<u8>)>,
    /// How long to wait for the node to answer.
    pub timeout: Duration,
}

/// Why a call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answered at the address, or the connection broke.
    #[error("cannot reach an rserve node at {addr}: {reason}")]
    Unreachable {
        /// The address.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// The CA file is unusable.
    #[error("cannot use the CA certificate: {0}")]
    Certificate(String),
    /// This side's TLS refused the node's certificate (not signed by the CA
    /// it trusts, or not the CA a join token pins).
    #[error("the node's certificate is not trusted: {0}")]
    Untrusted(String),
    /// The node refused the connection (its TLS refused our certificate) or
    /// the handshake (another protocol version).
    #[error("the node refused the connection: {0}")]
    Rejected(String),
    /// The node answered with something that is not the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The request could not be sent whole (so the node did not act on it).
    #[error("cannot send to {addr}: {reason}")]
    NotSent {
        /// The address.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
}

/// Bodies up to this size are sent by the connection's batching writer
/// ([`ControlClient::send_batched`]); larger ones by their caller, so one
/// slow upload holds no other call back.
const BATCHED_BODY_MAX: usize = 16 * 1024;
/// Calls queued for the batching writer at most (then callers wait).
const BATCH_QUEUE: usize = 256;

/// A call handed to the batching writer: its frame and body, and where the
/// stream to read the answer from goes.
struct Outgoing {
    frame: Vec<u8>,
    body: bytes::Bytes,
    reply: tokio::sync::oneshot::Sender<Result<quinn::RecvStream, String>>,
}

/// An open, handshaken connection to a node.
#[derive(Debug)]
pub struct ControlClient {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    /// The batching writer's queue, started with the first batched call.
    batcher: std::sync::OnceLock<tokio::sync::mpsc::Sender<Outgoing>>,
    /// Calls with a body being sent or waiting for their answer's head: a
    /// call made while others are is batched, a lone one is sent at once.
    in_flight: std::sync::atomic::AtomicUsize,
    addr: SocketAddr,
    timeout: Duration,
    /// Whether the node accepted the token.
    pub authorized: bool,
    /// The node's id.
    pub node_id: String,
}

impl ControlClient {
    /// Connects and performs the handshake.
    pub async fn connect(opts: ClientOptions) -> Result<Self, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&opts.ca_pem) {
            let cert = cert.map_err(|e| ClientError::Certificate(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| ClientError::Certificate(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(ClientError::Certificate(
                "no certificate in the CA file".to_owned(),
            ));
        }
        let crypto = crate::pki::client_builder()
            .map_err(|e| ClientError::Certificate(e.to_string()))?
            .with_root_certificates(roots);
        let mut crypto = match &opts.client_cert {
            None => crypto.with_no_client_auth(),
            Some((cert_pem, key_pem)) => {
                let chain = CertificateDer::pem_slice_iter(cert_pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ClientError::Certificate(format!("client certificate: {e}")))?;
                let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem)
                    .map_err(|e| ClientError::Certificate(format!("client key: {e}")))?;
                crypto
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| ClientError::Certificate(format!("client certificate: {e}")))?
            }
        };
        crypto.alpn_protocols = vec![wire::ALPN.to_vec()];
        Self::connect_with(
            opts.addr,
            &opts.server_name,
            crypto,
            opts.token,
            opts.timeout,
        )
        .await
        .map_err(|e| match e {
            ClientError::Untrusted(reason) => ClientError::Untrusted(format!(
                "{reason} (the node's certificate is not signed by the CA you trust; check RSERVE_CACERT)"
            )),
            other => other,
        })
    }

    /// Connects with a prepared TLS configuration (node-to-node connections:
    /// client certificates, or the CA pinned by a join token) and performs the
    /// handshake.
    pub async fn connect_with(
        addr: SocketAddr,
        server_name: &str,
        mut crypto: rustls::ClientConfig,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable { addr, reason };
        crypto.alpn_protocols = vec![wire::ALPN.to_vec()];
        let quic = QuicClientConfig::try_from(crypto)
            .map_err(|e| ClientError::Certificate(e.to_string()))?;
        let bind: SocketAddr = if addr.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        }
        .parse()
        .unwrap();
        let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| unreachable(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(quic));
        // A peer that vanishes (SIGKILL, a pulled cable) is noticed in seconds:
        // requests in flight to it fail instead of hanging.
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(KEEP_ALIVE));
        transport.max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("a small duration")));
        config.transport_config(Arc::new(transport));
        endpoint.set_default_client_config(config);

        let connecting = endpoint
            .connect(addr, server_name)
            .map_err(|e| unreachable(e.to_string()))?;
        let conn = match tokio::time::timeout(timeout, connecting).await {
            Err(_) => {
                return Err(unreachable(format!(
                    "no answer within {timeout:?} (is `rserve up` running there?)"
                )));
            }
            // A TLS alert raised here: this side refused the node's certificate.
            Ok(Err(quinn::ConnectionError::TransportError(e))) if is_tls_alert(e.code) => {
                return Err(ClientError::Untrusted(format!("TLS: {e}")));
            }
            Ok(Err(quinn::ConnectionError::ConnectionClosed(c))) => {
                return Err(ClientError::Rejected(format!(
                    "TLS: the node refused the connection ({c}); a node only accepts client certificates of its own cluster"
                )));
            }
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Ok(Ok(conn)) => conn,
        };
        let mut client = Self {
            endpoint,
            conn,
            batcher: std::sync::OnceLock::new(),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            addr,
            timeout,
            authorized: false,
            node_id: String::new(),
        };
        let hello = Hello {
            protocol_version: PROTOCOL_VERSION,
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            token,
        };
        // A node that accepts the connection but does not answer (shutting
        // down) is as unreachable as one that does not accept it.
        let reply = tokio::time::timeout(timeout, client.exchange::<_, HelloReply>(&hello))
            .await
            .map_err(|_| {
                unreachable(format!(
                    "no answer to the handshake within {timeout:?} (is the node shutting down?)"
                ))
            })??;
        match reply {
            HelloReply::Accepted {
                node_id,
                authorized,
                ..
            } => {
                client.node_id = node_id;
                client.authorized = authorized;
                Ok(client)
            }
            HelloReply::Rejected { reason } => Err(ClientError::Rejected(reason)),
        }
    }

    /// Makes one call.
    pub async fn call(&self, request: &Request) -> Result<Response, ClientError> {
        self.exchange(request).await
    }

    async fn exchange<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
        &self,
        msg: &Q,
    ) -> Result<A, ClientError> {
        let lost = |e: String| ClientError::Unreachable {
            addr: self.addr,
            reason: e,
        };
        let work = async {
            let (mut send, mut recv) =
                self.conn.open_bi().await.map_err(|e| lost(e.to_string()))?;
            send.write_all(&wire::encode(msg))
                .await
                .map_err(|e| lost(e.to_string()))?;
            send.finish().map_err(|e| lost(e.to_string()))?;
            let frame = read_frame(&mut recv, wire::MAX_FRAME_LEN)
                .await
                .map_err(|e| lost(e.to_string()))?;
            wire::decode(&frame).map_err(|e| ClientError::Protocol(e.to_string()))
        };
        // Calls are short; a deploy persists state first. Allow a generous bound.
        tokio::time::timeout(self.timeout.max(Duration::from_secs(30)), work)
            .await
            .map_err(|_| lost("the node stopped answering".to_owned()))?
    }

    /// Sends `request` followed by `body` (raw bytes) on one stream and returns
    /// the head frame of the answer and the stream with the rest (the body,
    /// raw), plus body bytes already read past the head.
    pub async fn call_with_body(
        &self,
        request: &Request,
        body: bytes::Bytes,
    ) -> Result<(Response, Vec<u8>, quinn::RecvStream), ClientError> {
        let lost = |e: String| ClientError::Unreachable {
            addr: self.addr,
            reason: e,
        };
        let frame = wire::encode(request);
        let in_flight = InFlight::enter(&self.in_flight);
        let mut recv = if body.len() <= BATCHED_BODY_MAX && in_flight.others > 0 {
            self.send_batched(frame, body).await.map_err(lost)?
        } else {
            let (mut send, recv) = self.conn.open_bi().await.map_err(|e| lost(e.to_string()))?;
            send.write_all(&frame)
                .await
                .map_err(|e| lost(e.to_string()))?;
            send.write_all(&body)
                .await
                .map_err(|e| lost(e.to_string()))?;
            send.finish().map_err(|e| lost(e.to_string()))?;
            recv
        };
        let (head, rest) = read_frame_and_rest(&mut recv, wire::MAX_FRAME_LEN)
            .await
            .map_err(|e| lost(e.to_string()))?;
        let response = wire::decode(&head).map_err(|e| ClientError::Protocol(e.to_string()))?;
        Ok((response, rest, recv))
    }

    /// Sends a call through the connection's batching writer: calls queued
    /// while it was busy leave together, so the connection sends them in as
    /// few packets as they fit (one each, written by their own tasks, the
    /// connection's driver would send each as soon as it was written).
    async fn send_batched(
        &self,
        frame: Vec<u8>,
        body: bytes::Bytes,
    ) -> Result<quinn::RecvStream, String> {
        let queue = self.batcher.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(BATCH_QUEUE);
            tokio::spawn(write_batches(self.conn.clone(), rx));
            tx
        });
        let (reply, answer) = tokio::sync::oneshot::channel();
        queue
            .send(Outgoing { frame, body, reply })
            .await
            .map_err(|_| "the connection's writer has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the connection's writer has stopped".to_owned())?
    }

    /// Opens a streaming call ([`Request::is_streaming`]). `Ok(Err(_))` when
    /// the node refused it (its answer, an error); otherwise the frames follow.
    /// Dropping the stream tells the node to stop.
    pub async fn open_stream(
        &self,
        request: &Request,
    ) -> Result<Result<FrameStream, Response>, ClientError> {
        let lost = |e: String| ClientError::Unreachable {
            addr: self.addr,
            reason: e,
        };
        let work = async {
            let (response, rest, recv) = self.call_with_body(request, bytes::Bytes::new()).await?;
            Ok(match response {
                Response::Streaming => {
                    let mut decoder = FrameDecoder::default();
                    decoder.push(&rest);
                    Ok(FrameStream {
                        recv,
                        decoder,
                        addr: self.addr,
                    })
                }
                other => Err(other),
            })
        };
        tokio::time::timeout(self.timeout.max(Duration::from_secs(30)), work)
            .await
            .map_err(|_| lost("the node stopped answering".to_owned()))?
    }

    /// Keying material exported from this connection's TLS session (RFC
    /// 5705): the same on both ends of one session, different on any other.
    pub fn channel_binding(&self) -> Option<crate::cluster::pool_token::Binding> {
        crate::cluster::pool_token::session_binding(&self.conn)
    }

    /// The node's control address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the connection is still open.
    pub fn is_open(&self) -> bool {
        self.conn.close_reason().is_none()
    }

    /// Closes the connection cleanly.
    pub async fn close(self) {
        self.conn.close(0u32.into(), b"bye");
        self.endpoint.wait_idle().await;
    }
}

/// One call counted in flight while it lives.
struct InFlight<'a> {
    counter: &'a std::sync::atomic::AtomicUsize,
    /// Calls in flight besides this one when it started.
    others: usize,
}

impl<'a> InFlight<'a> {
    fn enter(counter: &'a std::sync::atomic::AtomicUsize) -> Self {
        let others = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { counter, others }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counter
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The batching writer of one connection: takes every call queued, after
/// letting the runtime run whatever else is ready (other callers queueing
/// theirs), and opens and writes their streams back to back before it
/// yields, so the connection's driver sends them together.
async fn write_batches(conn: quinn::Connection, mut queue: tokio::sync::mpsc::Receiver<Outgoing>) {
    let mut batch = Vec::with_capacity(64);
    while let Some(first) = queue.recv().await {
        tokio::task::yield_now().await;
        batch.push(first);
        while batch.len() < 64 {
            match queue.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        for call in batch.drain(..) {
            let sent = async {
                let (mut send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
                send.write_all(&call.frame)
                    .await
                    .map_err(|e| e.to_string())?;
                send.write_all(&call.body)
                    .await
                    .map_err(|e| e.to_string())?;
                send.finish().map_err(|e| e.to_string())?;
                Ok(recv)
            }
            .await;
            // A caller that left drops the stream with the answer.
            let _ = call.reply.send(sent);
        }
    }
}

/// The frames of an accepted streaming call, as they arrive.
#[derive(Debug)]
pub struct FrameStream {
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    addr: SocketAddr,
}

impl FrameStream {
    /// The next frame; `Ok(None)` when the node finished the stream.
    pub async fn next(&mut self) -> Result<Option<StreamFrame>, ClientError> {
        loop {
            match self.decoder.next_frame() {
                Ok(Some(frame)) => {
                    return wire::decode(&frame)
                        .map(Some)
                        .map_err(|e| ClientError::Protocol(e.to_string()));
                }
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            }
            match self.recv.read_chunk(usize::MAX, true).await {
                Ok(Some(chunk)) => self.decoder.push(&chunk.bytes),
                Ok(None) if self.decoder.is_empty() => return Ok(None),
                Ok(None) => {
                    return Err(ClientError::Protocol(
                        "the stream ended inside a frame".to_owned(),
                    ));
                }
                Err(e) => {
                    return Err(ClientError::Unreachable {
                        addr: self.addr,
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

/// Whether a QUIC error code carries a TLS alert (QUIC's crypto error range).
fn is_tls_alert(code: quinn::TransportErrorCode) -> bool {
    (0x100..=0x1ff).contains(&u64::from(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_alerts_are_told_from_other_transport_errors() {
        // 48 = unknown_ca, 40 = handshake_failure: both are TLS refusals.
        assert!(is_tls_alert(quinn::TransportErrorCode::crypto(48)));
        assert!(is_tls_alert(quinn::TransportErrorCode::crypto(40)));
        assert!(!is_tls_alert(quinn::TransportErrorCode::PROTOCOL_VIOLATION));
    }
}

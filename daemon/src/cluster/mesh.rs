//! Connections from this node to the other nodes of its cluster: one pooled QUIC
//! connection per node (mutual TLS with the node's certificate), one stream per
//! call. Used for the head's replica commands, a member's calls to the head, and
//! forwarding HTTP requests to replicas on other nodes (the replicas'
//! [`NodeLink`]), bodies streamed both ways.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use http::{HeaderValue, StatusCode};
use rserve_protocol::wire::{ErrorCode, Request, Response};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio::sync::mpsc;

use crate::pki::{self, LiveCert, MESH_SERVER_NAME, TlsPaths};
use crate::replica::call::{ReplicaRequest, ReplicaResponse};
use crate::replica::remote::{ForwardError, NodeLink, PROBE_PERIOD, UNREACHABLE_LIMIT};
use crate::rpc::client::{ClientError, ControlClient, FrameStream};

/// How long connecting to another node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Chunks buffered per streamed response between the QUIC stream and HTTP.
const STREAM_BUFFER: usize = 16;

/// The pool of connections to other nodes.
pub struct Mesh {
    crypto: rustls::ClientConfig,
    conns: Mutex<HashMap<SocketAddr, Arc<ControlClient>>>,
    /// Nodes whose every connection or call has failed: since when, and when
    /// a request may probe them next.
    failing: Mutex<HashMap<SocketAddr, Failing>>,
}

/// A node that stopped answering.
#[derive(Debug, Clone, Copy)]
struct Failing {
    since: Instant,
    next_probe: Instant,
}

impl std::fmt::Debug for Mesh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mesh").finish_non_exhaustive()
    }
}

impl Mesh {
    /// A pool that connects with `crypto` (the node's certificate, the cluster CA).
    pub fn new(crypto: rustls::ClientConfig) -> Self {
        Self {
            crypto,
            conns: Mutex::new(HashMap::new()),
            failing: Mutex::new(HashMap::new()),
        }
    }

    /// Notes that the node at `addr` answered.
    fn reached(&self, addr: SocketAddr) {
        self.failing.lock().unwrap().remove(&addr);
    }

    /// Notes that the node at `addr` did not answer (the first failure of a
    /// run starts its clock).
    fn missed(&self, addr: SocketAddr) {
        let now = Instant::now();
        self.failing.lock().unwrap().entry(addr).or_insert(Failing {
            since: now,
            next_probe: now,
        });
    }

    async fn client(&self, addr: SocketAddr) -> Result<Arc<ControlClient>, String> {
        if let Some(client) = self.conns.lock().unwrap().get(&addr)
            && client.is_open()
        {
            return Ok(client.clone());
        }
        let client = Arc::new(
            ControlClient::connect_with(
                addr,
                MESH_SERVER_NAME,
                self.crypto.clone(),
                None,
                CONNECT_TIMEOUT,
            )
            .await
            .map_err(|e| {
                self.missed(addr);
                e.to_string()
            })?,
        );
        self.reached(addr);
        self.conns.lock().unwrap().insert(addr, client.clone());
        Ok(client)
    }

    /// Drops the connection to `addr` after it broke.
    fn forget(&self, addr: SocketAddr) {
        self.conns.lock().unwrap().remove(&addr);
        self.missed(addr);
    }

    /// One control call to the node at `addr`.
    pub async fn call(&self, addr: SocketAddr, request: &Request) -> Result<Response, String> {
        let client = self.client(addr).await?;
        match client.call(request).await {
            Ok(response) => {
                self.reached(addr);
                Ok(response)
            }
            Err(e) => {
                self.forget(addr);
                Err(e.to_string())
            }
        }
    }

    /// Opens a streaming call to the node at `addr`: its frames, or why not.
    pub async fn open_stream(
        &self,
        addr: SocketAddr,
        request: &Request,
    ) -> Result<FrameStream, String> {
        let client = self.client(addr).await?;
        match client.open_stream(request).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(Response::Error(e))) => Err(e.message),
            Ok(Err(other)) => Err(format!("unexpected answer: {other:?}")),
            Err(e) => {
                self.forget(addr);
                Err(e.to_string())
            }
        }
    }

    /// Forwards an HTTP request to replica `replica_id` on the node at `addr`.
    /// Server-sent events are streamed chunk by chunk.
    async fn forward_request(
        &self,
        addr: SocketAddr,
        replica_id: &str,
        req: ReplicaRequest,
    ) -> Result<ReplicaResponse, ForwardError> {
        let not_sent = |reason: String| ForwardError {
            sent: false,
            suspend: true,
            reason,
        };
        let failed = |reason: String| ForwardError {
            sent: true,
            suspend: false,
            reason,
        };
        let client = self.client(addr).await.map_err(not_sent)?;
        let headers = req
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let call = Request::Forward {
            replica_id: replica_id.to_owned(),
            method: req.method.to_string(),
            path: req.path,
            query: req.query,
            headers,
        };
        let (head, first, mut recv) = match client.call_with_body(&call, req.body.clone()).await {
            Ok(answer) => answer,
            Err(e) => {
                self.forget(addr);
                let sent = !matches!(e, ClientError::NotSent { .. });
                return Err(ForwardError {
                    sent,
                    suspend: !sent,
                    reason: e.to_string(),
                });
            }
        };
        let (status, headers) = match head {
            Response::Forwarded { status, headers } => (status, headers),
            // Declined without acting: gone from that node, or at capacity.
            Response::Error(e) => {
                return Err(ForwardError {
                    sent: false,
                    suspend: e.code == ErrorCode::NotFound,
                    reason: e.message,
                });
            }
            other => return Err(failed(format!("unexpected answer to a forward: {other:?}"))),
        };
        let mut response = ReplicaResponse::json(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            Bytes::new(),
        );
        let mut streaming = false;
        for (k, v) in headers {
            let Ok(value) = HeaderValue::from_str(&v) else {
                continue;
            };
            if k.eq_ignore_ascii_case("content-type") {
                streaming = v.starts_with("text/event-stream");
                response.content_type = value;
            } else if let Ok(name) = http::HeaderName::from_bytes(k.as_bytes()) {
                response.headers.push((name, value));
            }
        }
        if !streaming {
            let mut body = first;
            while let Some(chunk) = recv
                .read_chunk(usize::MAX, true)
                .await
                .map_err(|e| failed(format!("the response body was cut off: {e}")))?
            {
                if body.is_empty() {
                    // The common case, one chunk: no copy.
                    body = chunk.bytes.into();
                } else {
                    body.extend_from_slice(&chunk.bytes);
                }
            }
            response.body = body.into();
            return Ok(response);
        }
        let (tx, rx) = mpsc::channel::<Bytes>(STREAM_BUFFER);
        tokio::spawn(async move {
            if !first.is_empty() && tx.send(first.into()).await.is_err() {
                return;
            }
            // A client that leaves drops `rx`: the send fails, the stream is
            // dropped, and the serving node sees it stopped and cancels.
            while let Ok(Some(chunk)) = recv.read_chunk(64 * 1024, true).await {
                if tx.send(chunk.bytes).await.is_err() {
                    let _ = recv.stop(0u32.into());
                    return;
                }
            }
        });
        response.stream = Some(rx);
        Ok(response)
    }
}

impl NodeLink for Mesh {
    fn forward<'a>(
        &'a self,
        node: SocketAddr,
        replica_id: &'a str,
        req: ReplicaRequest,
    ) -> BoxFuture<'a, Result<ReplicaResponse, ForwardError>> {
        self.forward_request(node, replica_id, req).boxed()
    }

    fn stop_replica<'a>(
        &'a self,
        node: SocketAddr,
        replica_id: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        async move {
            let request = Request::StopReplica {
                replica_id: replica_id.to_owned(),
            };
            self.call(node, &request).await.map(drop)
        }
        .boxed()
    }

    fn unreachable_for(&self, node: SocketAddr) -> Option<Duration> {
        self.failing
            .lock()
            .unwrap()
            .get(&node)
            .map(|f| f.since.elapsed())
    }

    fn may_try(&self, node: SocketAddr) -> bool {
        let mut failing = self.failing.lock().unwrap();
        let Some(f) = failing.get_mut(&node) else {
            return true;
        };
        let now = Instant::now();
        if now.duration_since(f.since) < UNREACHABLE_LIMIT {
            return true;
        }
        if now < f.next_probe {
            return false;
        }
        f.next_probe = now + PROBE_PERIOD;
        true
    }
}

/// TLS for connections from this node to another node of the cluster: trust
/// the cluster CA, present this node's certificate.
pub fn client_config(
    state_dir: &Path,
    cert: Arc<LiveCert>,
) -> anyhow::Result<rustls::ClientConfig> {
    let paths = TlsPaths::new(state_dir);
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&paths.ca_cert)
        .with_context(|| format!("cannot read {}", paths.ca_cert.display()))?
    {
        roots.add(cert.context("bad CA certificate")?)?;
    }
    let mut config = pki::client_builder()?
        .with_root_certificates(roots)
        .with_client_cert_resolver(cert);
    // Each connection shows the certificate current at its handshake (see
    // the endpoint's, which offers no resumption either).
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

//! The control endpoint: the control protocol of `rserve_protocol::wire` over QUIC.
//!
//! QUIC (quinn + rustls) because remote nodes will speak the same protocol over the
//! mesh; one bidirectional stream per call. The first stream of a connection is the
//! handshake (version negotiation and the admin token); calls that change state
//! need a valid token.

pub mod client;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use quinn::crypto::rustls::QuicServerConfig;
use rserve_protocol::wire::{
    self, ErrorCode, FrameDecoder, Hello, HelloReply, Request, Response, WireError,
};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::controller::Controller;

/// Creates the QUIC endpoint for the control protocol. Client certificates are
/// optional (the CLI and joining nodes have none) but, when presented, must be
/// signed by the cluster CA (`ca_pem`); node-to-node calls require one.
pub fn endpoint(
    addr: SocketAddr,
    identity: tls::NodeIdentity,
    ca_pem: &[u8],
) -> anyhow::Result<quinn::Endpoint> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert?)?;
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()?;
    let mut crypto = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(identity.chain, identity.key)?;
    crypto.alpn_protocols = vec![wire::ALPN.to_vec()];
    let config = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(crypto)?));
    quinn::Endpoint::server(config, addr).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another rserve node is using it; pick another with --control-addr)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot bind the control endpoint to udp {addr}: {e}{hint}")
    })
}

/// What the control server needs from the node.
#[derive(Debug, Clone)]
pub struct ControlContext {
    /// The controller that carries out calls.
    pub controller: Arc<Controller>,
    /// The admin token.
    pub token: Arc<str>,
    /// This node's id.
    pub node_id: String,
    /// Cancelled by a `Shutdown` call.
    pub shutdown: CancellationToken,
    /// The cluster this node belongs to.
    pub cluster: Arc<crate::cluster::Cluster>,
}

/// Accepts control connections until the endpoint is closed (by the node, once
/// everything else has stopped, so status answers during a drain).
pub async fn serve(endpoint: quinn::Endpoint, ctx: ControlContext) {
    while let Some(incoming) = endpoint.accept().await {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            match incoming.await {
                Ok(conn) => {
                    if let Err(e) = connection(conn, ctx).await {
                        debug!(%remote, error = %e, "Control connection ended.");
                    }
                }
                Err(e) => {
                    warn!(%remote, error = %e, "Control connection refused (TLS or QUIC handshake failed).")
                }
            }
        });
    }
}

async fn connection(conn: quinn::Connection, ctx: ControlContext) -> anyhow::Result<()> {
    let remote = conn.remote_address();
    // The client certificate, if one was presented (and so verified against the CA).
    let peer: Option<String> = conn
        .peer_identity()
        .and_then(|id| {
            id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .and_then(|certs| certs.first().map(|c| crate::cluster::cert_fingerprint(c)));
    let (mut send, mut recv) = conn.accept_bi().await?;
    let hello: Hello = wire::decode(&read_frame(&mut recv).await?)?;
    let reply = match wire::negotiate(hello.protocol_version) {
        Ok(version) => HelloReply::Accepted {
            protocol_version: version,
            node_id: ctx.node_id.clone(),
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            authorized: hello
                .token
                .as_deref()
                .is_some_and(|t| tls::token_matches(&ctx.token, t)),
        },
        Err(reason) => {
            warn!(%remote, client_version = hello.protocol_version, "Refused a control client with another protocol version.");
            HelloReply::Rejected { reason }
        }
    };
    send.write_all(&wire::encode(&reply)).await?;
    send.finish()?;
    let HelloReply::Accepted { authorized, .. } = reply else {
        // Give the client time to read the refusal.
        conn.closed().await;
        return Ok(());
    };
    let peer: Option<Arc<str>> = peer.map(Arc::from);
    loop {
        let (send, recv) = match conn.accept_bi().await {
            Ok(stream) => stream,
            Err(
                quinn::ConnectionError::ApplicationClosed(_)
                | quinn::ConnectionError::LocallyClosed,
            ) => {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        // Streams are served concurrently: a connection between nodes carries
        // many forwarded requests at once.
        let (ctx, peer) = (ctx.clone(), peer.clone());
        tokio::spawn(async move {
            if let Err(e) = stream(&ctx, send, recv, authorized, peer.as_deref(), remote).await {
                debug!(%remote, error = %e, "Control stream ended with an error.");
            }
        });
    }
}

/// One request on one stream.
async fn stream(
    ctx: &ControlContext,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    authorized: bool,
    peer: Option<&str>,
    remote: SocketAddr,
) -> anyhow::Result<()> {
    let read = read_frame_and_rest(&mut recv)
        .await
        .and_then(|(frame, rest)| Ok((wire::decode::<Request>(&frame)?, rest)));
    let (request, rest) = match read {
        Ok(read) => read,
        Err(e) => {
            let error = WireError {
                code: ErrorCode::BadRequest,
                message: format!("malformed request: {e}"),
            };
            send.write_all(&wire::encode(&Response::Error(error)))
                .await?;
            send.finish()?;
            return Ok(());
        }
    };
    if let Request::Forward {
        replica_id,
        method,
        path,
        headers,
    } = request
    {
        let mut body = rest;
        body.extend_from_slice(&recv.read_to_end(MAX_FORWARDED_BODY).await?);
        return forward(ctx, send, peer, &replica_id, &method, path, headers, body).await;
    }
    let response = if peer.is_none() && !matches!(request, Request::Join { .. }) {
        warn!(%remote, "Refused a call without a client certificate.");
        Response::Error(WireError {
            code: ErrorCode::Unauthorized,
            message: "this node accepts calls only over mutual TLS: present a client certificate \
                      of its cluster (run the CLI with the node's --state-dir, which holds \
                      tls/admin.crt, or set RSERVE_CLIENT_CERT and RSERVE_CLIENT_KEY)"
                .to_owned(),
        })
    } else if request.is_mutating() && !authorized {
        warn!(%remote, call = ?std::mem::discriminant(&request), "Refused a state-changing call without a valid admin token.");
        Response::Error(WireError {
            code: ErrorCode::Unauthorized,
            message:
                "this call needs the node's admin token (set RSERVE_TOKEN or RSERVE_TOKEN_FILE, \
                      or run the CLI with the node's --state-dir)"
                    .to_owned(),
        })
    } else {
        dispatch(ctx, request, peer, remote).await
    };
    send.write_all(&wire::encode(&response)).await?;
    send.finish()?;
    Ok(())
}

/// Largest request body forwarded between nodes.
const MAX_FORWARDED_BODY: usize = 64 * 1024 * 1024;

/// Serves a request forwarded by another node on a replica hosted here:
/// the answer's head as a frame, then the body raw (streamed for SSE).
#[allow(clippy::too_many_arguments)]
async fn forward(
    ctx: &ControlContext,
    mut send: quinn::SendStream,
    peer: Option<&str>,
    replica_id: &str,
    method: &str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> anyhow::Result<()> {
    let refuse = |status: u16, kind: &str, message: String| {
        let body = crate::replica::openai::error_object(
            http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY),
            kind,
            None,
            message,
        )
        .to_string();
        (
            Response::Forwarded {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
            },
            body,
        )
    };
    let answer = if peer.is_none() {
        Some(refuse(
            401,
            "unauthorized",
            "forwarding needs a node certificate of this cluster".into(),
        ))
    } else {
        None
    };
    let replica = ctx.cluster.local.get(replica_id);
    // Refusals that did nothing: the calling node may route the request to
    // another replica (as Ray's router does when a replica rejects).
    let declined = match &replica {
        None => Some((
            ErrorCode::NotFound,
            format!("replica {replica_id} is not on this node"),
        )),
        Some(r) if r.phase() != crate::replica::Phase::Running => Some((
            ErrorCode::NotFound,
            format!("replica {replica_id} is not running"),
        )),
        // The replica's own limit holds across every node that routes to it.
        Some(r) if answer.is_none() && !r.try_reserve() => Some((
            ErrorCode::BadRequest,
            format!("replica {replica_id} is at max_ongoing_requests"),
        )),
        Some(_) => None,
    };
    if answer.is_none()
        && let Some((code, message)) = declined
    {
        send.write_all(&wire::encode(&Response::Error(WireError { code, message })))
            .await?;
        send.finish()?;
        return Ok(());
    }
    if let Some((head, body)) = answer {
        send.write_all(&wire::encode(&head)).await?;
        send.write_all(body.as_bytes()).await?;
        send.finish()?;
        return Ok(());
    }
    let replica = replica.expect("checked above");
    let _slot = Release(replica.clone());
    let mut header_map = http::HeaderMap::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(&v),
        ) {
            header_map.append(k, v);
        }
    }
    let request = crate::replica::ReplicaRequest {
        method: http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::POST),
        path,
        headers: header_map,
        body: body.into(),
    };
    let mut reply = match replica.call(request).await {
        Ok(reply) => reply,
        Err(e) => {
            let (head, body) = refuse(500, "replica_error", e.to_string());
            send.write_all(&wire::encode(&head)).await?;
            send.write_all(body.as_bytes()).await?;
            send.finish()?;
            return Ok(());
        }
    };
    let mut headers = vec![(
        "content-type".to_owned(),
        reply
            .content_type
            .to_str()
            .unwrap_or("application/octet-stream")
            .to_owned(),
    )];
    headers.extend(
        reply
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned()))),
    );
    let head = Response::Forwarded {
        status: reply.status.as_u16(),
        headers,
    };
    send.write_all(&wire::encode(&head)).await?;
    match reply.stream.take() {
        None => send.write_all(&reply.body).await?,
        // Chunk by chunk; if the calling node drops the stream, the write fails,
        // the receiver drops and the replica stops generating.
        Some(mut rx) => {
            while let Some(chunk) = rx.recv().await {
                send.write_all(&chunk).await?;
            }
        }
    }
    send.finish()?;
    Ok(())
}

/// Returns a replica slot taken for a forwarded request when dropped.
struct Release(Arc<crate::replica::Replica>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.release();
    }
}

async fn dispatch(
    ctx: &ControlContext,
    request: Request,
    peer: Option<&str>,
    remote: SocketAddr,
) -> Response {
    let controller = &ctx.controller;
    let result = match request {
        request @ (Request::Status { .. } | Request::Config { .. } | Request::Nodes)
            if !ctx.cluster.is_head() =>
        {
            ctx.cluster
                .ask_head(&request)
                .await
                .map_err(|message| WireError {
                    code: ErrorCode::Internal,
                    message,
                })
        }
        request @ (Request::CreateJoinToken { .. }
        | Request::Join { .. }
        | Request::Heartbeat { .. }
        | Request::Nodes
        | Request::StartReplica { .. }
        | Request::StopReplica { .. }) => Ok(ctx.cluster.handle(request, peer, remote)),
        Request::Forward { .. } => unreachable!("forwards are served by `forward`"),
        Request::Deploy { .. } | Request::Delete { .. } if !ctx.cluster.is_head() => {
            Err(WireError {
                code: ErrorCode::BadRequest,
                message: format!(
                    "this node is a member of cluster {}; deploy to the head: rserve --address {} deploy …",
                    ctx.cluster.cluster_id,
                    ctx.cluster
                        .head_address()
                        .map(|a| a.to_string())
                        .unwrap_or_default()
                ),
            })
        }
        Request::Deploy { file, config } => controller
            .deploy(&file, config)
            .await
            .map(|changes| Response::Deployed { changes }),
        Request::Delete { app } => controller
            .delete(&app)
            .await
            .map(|()| Response::Deleted { app }),
        Request::Status { app } => controller
            .status(app.as_deref())
            .await
            .map(|s| Response::Status(Box::new(s))),
        Request::Config { app } => controller
            .config(app.as_deref())
            .await
            .map(Response::Config),
        Request::Shutdown => {
            info!("Shutdown requested over the control endpoint.");
            ctx.shutdown.cancel();
            Ok(Response::ShuttingDown)
        }
    };
    result.unwrap_or_else(Response::Error)
}

/// Reads one frame and returns it with the bytes that followed it so far.
async fn read_frame_and_rest(recv: &mut quinn::RecvStream) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let mut decoder = FrameDecoder::default();
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok((frame, decoder.take_rest()));
        }
        // Chunks as quinn holds them: no scratch buffer to allocate and zero.
        match recv.read_chunk(usize::MAX, true).await? {
            Some(chunk) => decoder.push(&chunk.bytes),
            None => anyhow::bail!("stream ended before a complete frame"),
        }
    }
}

/// Reads one frame from a stream that the peer finishes after sending it.
pub(crate) async fn read_frame(recv: &mut quinn::RecvStream) -> anyhow::Result<Vec<u8>> {
    let mut decoder = FrameDecoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok(frame);
        }
        match recv.read(&mut buf).await? {
            Some(n) => decoder.push(&buf[..n]),
            None => anyhow::bail!("stream ended before a complete frame"),
        }
    }
}

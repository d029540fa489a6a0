//! The control endpoint: accepts QUIC connections (mutual TLS), performs the
//! handshake, checks each call's credentials, and hands it to whoever carries
//! it out — the controller (deploy, delete, status, config), the cluster
//! (tokens, joins, heartbeats, nodes, replica commands), the forward server
//! (HTTP requests for replicas hosted here), the streaming calls ([`streams`]:
//! logs, events, tap, watches), or the node itself (shutdown).

mod forward;
pub mod routes;
mod streams;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;

use quinn::crypto::rustls::QuicServerConfig;
use rserve_protocol::wire::{self, ErrorCode, Hello, HelloReply, Request, Response, WireError};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::forward::ForwardCall;
use crate::cluster::Cluster;
use crate::controller::Controller;
use crate::digest;
use crate::observe::Live;
use crate::pki::{self, LiveCert};
use crate::rpc::{read_frame, read_frame_and_rest};

/// Largest request body forwarded between nodes.
const MAX_FORWARDED_BODY: usize = 64 * 1024 * 1024;

/// Largest frame read from a peer without a client certificate (a hello, a
/// join with its advert): nothing larger is buffered before authentication.
const PRE_AUTH_FRAME_LEN: usize = 128 * 1024;

/// Control connections open at once; past it new ones are refused at the
/// QUIC handshake.
const MAX_CONNECTIONS: usize = 1024;

/// Of those, connections without a client certificate (joining nodes, or
/// clients that will be refused); each is served one stream at a time.
const MAX_UNAUTHENTICATED: usize = 64;

/// How long the handshake, and each call of a peer without a certificate,
/// may take: a place under the caps above is not held by a peer that
/// trickles bytes.
const PRE_AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Streams of one connection served on the connection's own task at once;
/// more get a task each.
const INLINE_STREAMS: usize = 1;

/// Open control connections, and those without a client certificate.
#[derive(Debug, Default)]
struct Open {
    all: std::sync::atomic::AtomicUsize,
    unauthenticated: std::sync::atomic::AtomicUsize,
}

impl Open {
    /// Takes a place in `counter` under `max`; given back by the guard.
    fn take(counter: &std::sync::atomic::AtomicUsize, max: usize) -> Option<Place<'_>> {
        use std::sync::atomic::Ordering;
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Place(counter))
    }
}

/// A place in an [`Open`] count, given back when dropped.
struct Place<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Binds the control endpoint's UDP socket, with a clear error when the port
/// is taken.
pub fn bind(addr: SocketAddr) -> anyhow::Result<UdpSocket> {
    UdpSocket::bind(addr).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another rserve node is using it; pick another with --control-addr)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot bind the control endpoint to udp {addr}: {e}{hint}")
    })
}

/// Creates the QUIC endpoint for the control protocol on `socket`. Client
/// certificates are optional at the TLS level (the CLI may have none, a
/// joining node has none yet) but, when presented, must be signed by the
/// cluster CA (`ca_pem`); every call but a join needs one (checked per call).
pub fn endpoint(
    socket: UdpSocket,
    cert: Arc<LiveCert>,
    ca_pem: &[u8],
) -> anyhow::Result<quinn::Endpoint> {
    let provider = pki::provider();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(ca?)?;
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
        .with_cert_resolver(cert);
    crypto.alpn_protocols = vec![wire::ALPN.to_vec()];
    // No session resumption: a resumed session would carry the client
    // certificate of the session it resumes, after that one was renewed or
    // even expired. Every connection shows its certificate (they are pooled:
    // the full handshake is rare).
    crypto.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    crypto.send_tls13_tickets = 0;
    let config = quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(crypto)?));
    let runtime = quinn::default_runtime()
        .ok_or_else(|| anyhow::anyhow!("the control endpoint needs a tokio runtime"))?;
    Ok(quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(config),
        socket,
        runtime,
    )?)
}

/// What the control server needs from the node.
#[derive(Debug, Clone)]
pub struct Context {
    /// The controller that carries out calls.
    pub controller: Arc<Controller>,
    /// The admin token.
    pub token: Arc<str>,
    /// This node's id.
    pub node_id: String,
    /// Cancelled by a `Shutdown` call.
    pub shutdown: CancellationToken,
    /// The cluster this node belongs to.
    pub cluster: Arc<Cluster>,
    /// The event log, the tap point and the router window.
    pub live: Live,
}

/// Accepts control connections until the endpoint is closed (by the node, once
/// everything else has stopped, so status answers during a drain).
pub async fn serve(endpoint: quinn::Endpoint, ctx: Context) {
    let open: Arc<Open> = Arc::default();
    while let Some(incoming) = endpoint.accept().await {
        let ctx = ctx.clone();
        let open = open.clone();
        tokio::spawn(async move {
            let remote = incoming.remote_address();
            let Some(_place) = Open::take(&open.all, MAX_CONNECTIONS) else {
                debug!(%remote, "Control connection refused: {MAX_CONNECTIONS} are open.");
                incoming.refuse();
                return;
            };
            match incoming.await {
                Ok(conn) => {
                    if let Err(e) = connection(conn, ctx, &open).await {
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

/// Who is calling, as established when the connection was made.
#[derive(Debug, Clone)]
struct Caller {
    remote: SocketAddr,
    /// SHA-256 of the client certificate, if one was presented (and so
    /// verified against the CA).
    peer: Option<Arc<str>>,
    /// Whether that certificate is the head's (names [`pki::HEAD_NAME`]).
    from_head: bool,
    /// Whether the handshake carried the admin token.
    authorized: bool,
    /// Keying material exported from the TLS session, on a connection
    /// without a certificate (a join with a pool token proves it over this).
    binding: Option<crate::cluster::pool_token::Binding>,
}

async fn connection(conn: quinn::Connection, ctx: Context, open: &Open) -> anyhow::Result<()> {
    let remote = conn.remote_address();
    let certificate = crate::rpc::peer_certificate(&conn);
    let peer: Option<Arc<str>> = certificate
        .as_ref()
        .map(|c| Arc::from(crate::digest::cert_fingerprint(c)));
    let from_head = certificate.as_ref().is_some_and(pki::is_head_cert);
    // Without a certificate: a small budget (few connections, one stream at
    // a time, small frames) until a join proves itself.
    let _unauthenticated = match peer {
        Some(_) => None,
        None => match Open::take(&open.unauthenticated, MAX_UNAUTHENTICATED) {
            Some(place) => Some(place),
            None => {
                debug!(%remote, "Control connection closed: {MAX_UNAUTHENTICATED} without a certificate are open.");
                conn.close(0u32.into(), b"too many connections without a certificate");
                return Ok(());
            }
        },
    };
    let handshake = tokio::time::timeout(PRE_AUTH_TIMEOUT, handshake(&conn, &ctx))
        .await
        .map_err(|_| anyhow::anyhow!("no handshake within {PRE_AUTH_TIMEOUT:?}"))?;
    let Some(authorized) = handshake? else {
        // Give the client time to read the refusal.
        conn.closed().await;
        return Ok(());
    };
    let binding = match peer {
        Some(_) => None,
        None => crate::cluster::pool_token::session_binding(&conn),
    };
    let caller = Caller {
        remote,
        peer,
        from_head,
        authorized,
        binding,
    };
    // Streams are served concurrently: the first few on this connection's
    // task (a forwarded request then costs no spawn and no wake-up of a
    // second task between its arrival and its answer), the rest on tasks of
    // their own, which spread over the runtime's threads.
    let mut serving = futures_util::stream::FuturesUnordered::new();
    let mut accept = std::pin::pin!(conn.accept_bi());
    loop {
        let accepted = tokio::select! {
            accepted = &mut accept => accepted,
            Some(()) = futures_util::StreamExt::next(&mut serving), if !serving.is_empty() => continue,
        };
        accept.set(conn.accept_bi());
        let (send, recv) = match accepted {
            Ok(stream) => stream,
            Err(
                quinn::ConnectionError::ApplicationClosed(_)
                | quinn::ConnectionError::LocallyClosed,
            ) => {
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        if caller.peer.is_none() {
            // One at a time, each bounded in time: a joining node makes one call.
            match tokio::time::timeout(PRE_AUTH_TIMEOUT, stream(&ctx, &caller, send, recv)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    debug!(remote = %caller.remote, error = %e, "Control stream ended with an error.");
                }
                Err(_) => {
                    conn.close(0u32.into(), b"call without a certificate took too long");
                    return Ok(());
                }
            }
            continue;
        }
        if serving.len() < INLINE_STREAMS {
            let (ctx, caller) = (&ctx, &caller);
            serving.push(async move {
                if let Err(e) = stream(ctx, caller, send, recv).await {
                    debug!(remote = %caller.remote, error = %e, "Control stream ended with an error.");
                }
            });
            continue;
        }
        let (ctx, caller) = (ctx.clone(), caller.clone());
        tokio::spawn(async move {
            if let Err(e) = stream(&ctx, &caller, send, recv).await {
                debug!(remote = %caller.remote, error = %e, "Control stream ended with an error.");
            }
        });
    }
}

/// The first stream: version negotiation and the admin token. `Some(whether
/// the token is valid)` when accepted.
async fn handshake(conn: &quinn::Connection, ctx: &Context) -> anyhow::Result<Option<bool>> {
    let (mut send, mut recv) = conn.accept_bi().await?;
    let hello: Hello = wire::decode(&read_frame(&mut recv, PRE_AUTH_FRAME_LEN).await?)?;
    let reply = match wire::negotiate(hello.protocol_version) {
        Ok(version) => HelloReply::Accepted {
            protocol_version: version,
            node_id: ctx.node_id.clone(),
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
            authorized: hello
                .token
                .as_deref()
                .is_some_and(|t| digest::secrets_match(&ctx.token, t)),
        },
        Err(reason) => {
            warn!(remote = %conn.remote_address(), client_version = hello.protocol_version, "Refused a control client with another protocol version.");
            HelloReply::Rejected { reason }
        }
    };
    send.write_all(&wire::encode(&reply)).await?;
    send.finish()?;
    Ok(match reply {
        HelloReply::Accepted { authorized, .. } => Some(authorized),
        HelloReply::Rejected { .. } => None,
    })
}

/// One call on one stream.
async fn stream(
    ctx: &Context,
    caller: &Caller,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> anyhow::Result<()> {
    let limit = match caller.peer {
        Some(_) => wire::MAX_FRAME_LEN,
        None => PRE_AUTH_FRAME_LEN,
    };
    let read = read_frame_and_rest(&mut recv, limit)
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
        query,
        headers,
    } = request
    {
        let mut body = rest;
        // Only from a node of the cluster (not a removed one) is a body read
        // (refused below otherwise).
        let from_node = caller
            .peer
            .as_deref()
            .is_some_and(|peer| !ctx.cluster.is_revoked(peer));
        if from_node {
            body.extend_from_slice(&recv.read_to_end(MAX_FORWARDED_BODY).await?);
        }
        let call = ForwardCall {
            replica_id,
            method,
            path,
            query,
            headers,
            body,
        };
        return forward::serve(&ctx.cluster.local, from_node, call, send).await;
    }
    let response = match refusal(ctx, &request, caller) {
        Some(refused) => Response::Error(refused),
        None if request.is_streaming() => return streams::serve(ctx, caller, request, send).await,
        None => dispatch(ctx, request, caller).await,
    };
    send.write_all(&wire::encode(&response)).await?;
    send.finish()?;
    Ok(())
}

/// Why `caller` may not make `request`, if it may not.
fn refusal(ctx: &Context, request: &Request, caller: &Caller) -> Option<WireError> {
    if let Some(peer) = &caller.peer
        && ctx.cluster.is_revoked(peer)
    {
        warn!(remote = %caller.remote, "Refused a call from a removed node's certificate.");
        return Some(WireError {
            code: ErrorCode::Unauthorized,
            message: "this certificate belonged to a node removed from the cluster \
                      (rserve nodes remove); join again with a new token"
                .to_owned(),
        });
    }
    if caller.peer.is_none() && !matches!(request, Request::Join { .. }) {
        warn!(remote = %caller.remote, "Refused a call without a client certificate.");
        return Some(WireError {
            code: ErrorCode::Unauthorized,
            message: "this node accepts calls only over mutual TLS: present a client certificate \
                      of its cluster (run the CLI with the node's --state-dir, which holds \
                      tls/admin.crt, or set RSERVE_CLIENT_CERT and RSERVE_CLIENT_KEY)"
                .to_owned(),
        });
    }
    if request.is_mutating() && !caller.authorized {
        warn!(remote = %caller.remote, call = ?std::mem::discriminant(request), "Refused a state-changing call without a valid admin token.");
        return Some(WireError {
            code: ErrorCode::Unauthorized,
            message:
                "this call needs the node's admin token (set RSERVE_TOKEN or RSERVE_TOKEN_FILE, \
                      or run the CLI with the node's --state-dir)"
                    .to_owned(),
        });
    }
    None
}

/// Carries out an authorized call.
async fn dispatch(ctx: &Context, request: Request, caller: &Caller) -> Response {
    let controller = &ctx.controller;
    let cluster = &ctx.cluster;
    let result = match request {
        request @ (Request::Status { .. }
        | Request::Config { .. }
        | Request::Plan { .. }
        | Request::Nodes
        | Request::Routes)
            if !cluster.is_head() =>
        {
            cluster
                .ask_head(&request)
                .await
                .map_err(|message| WireError {
                    code: ErrorCode::Internal,
                    message,
                })
        }
        request @ (Request::CreateJoinToken { .. }
        | Request::RemoveNode { .. }
        | Request::Join { .. }
        | Request::Heartbeat { .. }
        | Request::RenewCertificate { .. }
        | Request::Leaving
        | Request::Nodes
        | Request::StartReplica { .. }
        | Request::StopReplica { .. }) => Ok(cluster.handle(
            request,
            caller.peer.as_deref(),
            caller.from_head,
            caller.remote,
            caller.binding.as_ref(),
        )),
        Request::Forward { .. } => unreachable!("forwards are served by `forward`"),
        Request::Logs(_) | Request::Events { .. } | Request::Tap(_) | Request::Watch { .. } => {
            unreachable!("streaming calls are served by `streams`")
        }
        Request::Routes => routes::view(ctx).await.map(Response::Routes),
        Request::Deploy { .. }
        | Request::Delete { .. }
        | Request::Scale { .. }
        | Request::RestartReplica { .. }
            if !cluster.is_head() =>
        {
            Err(WireError {
                code: ErrorCode::BadRequest,
                message: format!(
                    "this node is a member of cluster {}; deploy to the head: rserve --address {} deploy …",
                    cluster.cluster_id,
                    cluster
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
        Request::Plan { file, config } => controller
            .plan(&file, config)
            .await
            .map(|changes| Response::Planned { changes }),
        Request::Scale {
            app,
            deployment,
            num_replicas,
        } => controller
            .scale(&app, &deployment, num_replicas)
            .await
            .map(|change| Response::Scaled { change }),
        Request::RestartReplica { replica_id } => controller
            .restart_replica(&replica_id)
            .await
            .map(|(app, deployment)| Response::Restarting { app, deployment }),
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

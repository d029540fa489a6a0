//! The HTTP ingress: HTTP/1.1 and HTTP/2 on one port, every request routed by the
//! longest matching route prefix to its application's ingress deployment.
//!
//! Built on hyper directly (no framework) because this is the hot path: a request
//! costs one route-table load (an atomic), one replica reservation (an atomic CAS)
//! and the replica call. Built-in paths: `/-/healthz` and `/-/routes`, as in Ray,
//! and `/-/metrics` (Prometheus).

mod drain;
mod health;
mod openai;
mod response;

use std::convert::Infallible;
use std::future::{Future, ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use futures_util::future::Either;
use http::header::{CONTENT_LENGTH, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use self::drain::Connections;
pub use self::health::{LIVENESS_LIMIT, Readiness};
pub use self::response::IngressBody;
use self::response::{error, into_response, plain, too_large, with_body};

use crate::notify::{BEAT_PERIOD, Heartbeat};
use crate::observe::metrics;
use crate::observe::tap::Tap;
use crate::replica::call::error_object;
use crate::replica::multiplex::MODEL_ID_HEADER;
use crate::replica::{Attempt, CallError, ReplicaRequest};
use crate::router::call::{Called, Failure, Sample};
use crate::router::{Backlog, DeploymentRouter, HeldBytes, Permit, RouteError, Routes};

/// Header carrying the request id (honoured when the client sends one).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Response header naming the replica that answered (`<deployment>-<hex>`).
pub const REPLICA_ID: HeaderName = HeaderName::from_static("x-rserve-replica");

/// How the ingress behaves.
#[derive(Debug, Clone)]
pub struct IngressConfig {
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// How long in-flight requests may finish after shutdown starts.
    pub drain_timeout: Duration,
    /// Beaten by the accept loop (at least every [`BEAT_PERIOD`]), for
    /// systemd's watchdog.
    pub heartbeat: Option<Heartbeat>,
    /// Where `rserve tap` samples answered requests.
    pub tap: Arc<Tap>,
    /// This node's id (in tap events).
    pub node_id: String,
    /// What clients can hold of the port: connections, time, streams.
    pub limits: HttpLimits,
    /// The node-wide bounds on queued requests and request bodies.
    pub backlog: Arc<Backlog>,
    /// What `/-/ready` answers.
    pub readiness: Arc<Readiness>,
    /// The node's loops (controller, ingress): `/-/healthz` fails while one
    /// has made no progress for [`LIVENESS_LIMIT`].
    pub liveness: Vec<Heartbeat>,
}

impl Default for IngressConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024 * 1024,
            drain_timeout: Duration::from_secs(20),
            heartbeat: None,
            tap: Arc::default(),
            node_id: String::new(),
            limits: HttpLimits::default(),
            backlog: Arc::default(),
            readiness: Arc::default(),
            liveness: Vec::new(),
        }
    }
}

/// What clients, careless or hostile, can hold of the HTTP port.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HttpLimits {
    /// Open connections at most; past it a new one is closed at once (and
    /// counted in `rserve_http_connections_refused_total`).
    pub max_connections: usize,
    /// Open connections from one client address at most (0: no such cap);
    /// past it a new one from that address is closed at once.
    pub max_connections_per_ip: u32,
    /// A request's head must arrive within this, counted from when the
    /// connection is ready for it (new, or after its last answer): so it is
    /// also how long an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// The longest pause while a request body arrives (408 past it).
    pub body_timeout: Duration,
    /// HTTP/2 streams (requests) open at once on one connection.
    pub h2_max_streams: u32,
    /// How long a request may wait for its answer to start, queueing
    /// included (Ray's `request_timeout_s`: 408 past it); none by default.
    pub request_timeout: Option<Duration>,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_connections_per_ip: 0,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            h2_max_streams: 128,
            request_timeout: None,
        }
    }
}

struct Ingress {
    routes: Arc<Routes>,
    config: IngressConfig,
    connections: Connections,
    next_id: AtomicU64,
    /// Hex digits, random per start, so ids differ across nodes and restarts.
    id_prefix: [u8; 8],
}

/// Serves HTTP on `listener` until `shutdown`, then drains open connections for at
/// most `drain_timeout`.
pub async fn serve(
    listener: TcpListener,
    routes: Arc<Routes>,
    config: IngressConfig,
    shutdown: CancellationToken,
) {
    let ingress = Arc::new(Ingress {
        routes,
        next_id: AtomicU64::new(0),
        id_prefix: format!("{:08x}", rand::random::<u32>())
            .into_bytes()
            .try_into()
            .expect("8 hex digits"),
        config,
        connections: Connections::default(),
    });
    let limits = ingress.config.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.h2_max_streams);
    let heartbeat = ingress.config.heartbeat.clone();
    let mut beat = tokio::time::interval(BEAT_PERIOD);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            _ = beat.tick(), if heartbeat.is_some() => {
                if let Some(h) = &heartbeat {
                    h.beat().await;
                }
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    warn!(error = %e, "Accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ip = peer.ip();
        let per_ip = limits.max_connections_per_ip;
        if !ingress
            .connections
            .admit(limits.max_connections, per_ip, ip)
        {
            drop(stream); // closed at once: the cheapest answer there is
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (id, stop, served) = ingress.connections.open();
        let handler = ingress.clone();
        let service = hyper::service::service_fn(move |req| {
            // A load per request; a store once (not evictable from then on).
            if !served.load(std::sync::atomic::Ordering::Relaxed) {
                served.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            handler.clone().handle(req)
        });
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let open = ingress.clone();
        ingress.connections.tasks.spawn(async move {
            // Frees the connection's place however the task ends (a panic included).
            let _place = drain::on_drop(move || open.connections.close(id, per_ip, ip));
            let mut conn = std::pin::pin!(conn);
            // Polled after the connection, and only an atomic load while
            // nothing is sent: no shared lock or waker on the request path.
            let result = tokio::select! {
                biased;
                result = conn.as_mut() => result,
                stop = stop => {
                    if stop == Ok(drain::Stop::Evict) {
                        return; // dropped: the socket closes now
                    }
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                debug!(error = %e, "Connection ended with an error.");
            }
        });
    }
    ingress.config.readiness.draining();
    drop(listener);
    info!("Ingress stopped accepting; draining open connections.");
    let drain = ingress.config.drain_timeout;
    if tokio::time::timeout(drain, ingress.connections.drain())
        .await
        .is_err()
    {
        warn!(?drain, "Drain timed out; closing remaining connections.");
    }
}

/// The access log's record of a request (taken only when it is on).
type Access = (std::time::Instant, http::Method, String);

/// What an unanswered request still needs, decided before its future is
/// made, so that future holds only what the chosen path needs.
// `Route` is the common case; boxing it would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum Pending {
    /// The OpenAI endpoints (their own boxed future).
    OpenAi(Pin<Box<dyn Future<Output = Response<IngressBody>> + Send>>),
    /// An application's route.
    Route {
        router: Arc<DeploymentRouter>,
        parts: http::request::Parts,
        body: Incoming,
    },
}

impl Ingress {
    /// Answers one request. What needs no waiting (built-in paths, unknown
    /// routes, a declared body over the limit) is answered here; the rest
    /// gets a future made small on purpose: hyper moves a request's future
    /// into its connection's slot, so every byte of it costs on every request.
    fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> impl Future<Output = Result<Response<IngressBody>, Infallible>> + Send + 'static {
        let request_id = match req.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => self.new_request_id(),
        };
        // The access log is at debug level (`RSERVE_LOG=rserve_daemon::ingress=debug`):
        // at info it would cost more than the rest of the request path.
        let access = tracing::enabled!(tracing::Level::DEBUG).then(|| {
            (
                std::time::Instant::now(),
                req.method().clone(),
                req.uri().path().to_owned(),
            )
        });
        match self.pending(req, &request_id) {
            Attempt::Later(pending) => Either::Right(self.finish(pending, request_id, access)),
            Attempt::Done(response) => {
                Either::Left(ready(Ok(answered(response, request_id, access))))
            }
        }
    }

    /// The path `req` takes, or its answer when it needs no waiting.
    fn pending(
        self: &Arc<Self>,
        req: Request<Incoming>,
        request_id: &HeaderValue,
    ) -> Attempt<Response<IngressBody>, Pending> {
        let path = req.uri().path();
        if path.starts_with("/-/") {
            return Attempt::Done(self.builtin(path));
        }
        if path.starts_with("/v1/") {
            return Attempt::Later(Pending::OpenAi(Box::pin(
                self.clone().openai(req, request_id.clone()),
            )));
        }
        let router = match self.routes.load().lookup(path) {
            Some(route) => route.router.clone(),
            None => return Attempt::Done(self.not_found(path)),
        };
        if let Some(too_large) = self.declared_too_large(req.headers()) {
            return Attempt::Done(too_large);
        }
        let (parts, body) = req.into_parts();
        Attempt::Later(Pending::Route {
            router,
            parts,
            body,
        })
    }

    /// Waits for the answer of a [`Pending`] request. Everything is used in
    /// place (by reference), so the future holds it once.
    async fn finish(
        self: Arc<Self>,
        mut pending: Pending,
        request_id: HeaderValue,
        access: Option<Access>,
    ) -> Result<Response<IngressBody>, Infallible> {
        let response = match &mut pending {
            Pending::OpenAi(answer) => answer.as_mut().await,
            Pending::Route {
                router,
                parts,
                body,
            } => {
                let mut held = self.config.backlog.hold();
                match self.read_body(body, &mut held).await {
                    Ok(body) => self.dispatch(router, parts, body, &request_id).await,
                    Err(response) => response,
                }
            }
        };
        Ok(answered(response, request_id, access))
    }

    /// The 413 for a request whose declared body is over the limit.
    fn declared_too_large(&self, headers: &http::HeaderMap) -> Option<Response<IngressBody>> {
        let limit = self.config.max_body_bytes;
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        declared
            .is_some_and(|n| n > limit as u64)
            .then(|| too_large(limit))
    }

    /// Reads the whole body within the size limit, counting it against the
    /// node's bound on request bytes in `held`, or the 413/503/408/400 to
    /// send. A body that arrives in one frame (most) is kept as it came,
    /// without a copy.
    async fn read_body(
        &self,
        body: &mut Incoming,
        held: &mut HeldBytes<'_>,
    ) -> Result<Bytes, Response<IngressBody>> {
        let limit = self.config.max_body_bytes;
        let mut first = Bytes::new();
        let mut joined = BytesMut::new();
        let idle = self.config.limits.body_timeout;
        loop {
            // Most bodies are already here: no timer unless one has to wait.
            let next = match body.frame().now_or_never() {
                Some(next) => next,
                None => match tokio::time::timeout(idle, body.frame()).await {
                    Ok(next) => next,
                    Err(_) => {
                        return Err(error(
                            StatusCode::REQUEST_TIMEOUT,
                            "timeout",
                            format!(
                                "the request body stalled for {} s (--body-timeout-s)",
                                idle.as_secs_f64()
                            ),
                        ));
                    }
                },
            };
            let Some(frame) = next else {
                break;
            };
            let frame = frame.map_err(|e| {
                error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    format!("could not read the request body: {e}"),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            if first.len() + joined.len() + data.len() > limit {
                return Err(too_large(limit));
            }
            if !held.grow(data.len()) {
                return Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    format!(
                        "the node holds {} MiB of request bodies already (--max-buffered-mb)",
                        self.config.backlog.max_bytes() >> 20
                    ),
                ));
            }
            if first.is_empty() && joined.is_empty() {
                first = data;
            } else {
                if joined.is_empty() {
                    joined.extend_from_slice(&std::mem::take(&mut first));
                }
                joined.extend_from_slice(&data);
            }
        }
        Ok(if joined.is_empty() {
            first
        } else {
            joined.freeze()
        })
    }

    /// Reserves a replica of `router`'s deployment and calls it (the same
    /// call deployment handles make); counts the answer in the deployment's
    /// and the replica's figures, and offers it to `rserve tap`.
    async fn dispatch(
        &self,
        router: &Arc<DeploymentRouter>,
        parts: &mut http::request::Parts,
        body: Bytes,
        request_id: &HeaderValue,
    ) -> Response<IngressBody> {
        let model: Option<String> = router
            .multiplexed()
            .then(|| parts.headers.get(MODEL_ID_HEADER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned);
        let tap = &self.config.tap;
        let sample = Sample::start(tap, &parts.method, parts.uri.path(), model.as_deref());
        // The replica (and the deployment handles it calls) see the request id.
        parts.headers.insert(REQUEST_ID, request_id.clone());
        let request = ReplicaRequest {
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: std::mem::take(&mut parts.headers),
            body,
        };
        let called = match router.try_call_now(request, model.as_deref()) {
            Attempt::Done(called) => called,
            Attempt::Later(pending) => {
                let call = Box::pin(router.call_pending(pending, model.as_deref()));
                match self.config.limits.request_timeout {
                    None => call.await,
                    Some(limit) => match tokio::time::timeout(limit, call).await {
                        Ok(called) => called,
                        Err(_) => {
                            // Dropping the call gives back its queue place
                            // or its replica slot (and cancels the work).
                            sample.finish(
                                tap,
                                &self.config.node_id,
                                router,
                                None,
                                StatusCode::REQUEST_TIMEOUT.as_u16(),
                                request_id.to_str().unwrap_or_default(),
                            );
                            return error(
                                StatusCode::REQUEST_TIMEOUT,
                                "timeout",
                                format!(
                                    "no answer began within {} s (--request-timeout-s)",
                                    limit.as_secs_f64()
                                ),
                            );
                        }
                    },
                }
            }
        };
        let status = match &called.result {
            Ok(reply) => reply.status,
            Err(failure) => failure.answer().0,
        };
        sample.finish(
            tap,
            &self.config.node_id,
            router,
            called.permit.as_ref().map(Permit::replica),
            status.as_u16(),
            request_id.to_str().unwrap_or_default(),
        );
        respond(called, request_id)
    }

    fn builtin(&self, path: &str) -> Response<IngressBody> {
        match path {
            "/-/healthz" => health::healthz(&self.config.liveness),
            "/-/ready" => health::ready(&self.config.readiness),
            "/-/metrics" => {
                let mut text = metrics::render(&self.routes.load().snapshot());
                self.connections.render(&mut text);
                self.config.backlog.render(&mut text);
                plain(StatusCode::OK, "text/plain; version=0.0.4", text.into())
            }
            "/-/routes" => {
                let table = self.routes.load();
                let routes: serde_json::Map<String, serde_json::Value> = table
                    .routes()
                    .iter()
                    .map(|r| (r.prefix.clone(), r.app.clone().into()))
                    .collect();
                plain(
                    StatusCode::OK,
                    "application/json",
                    serde_json::to_vec(&routes).unwrap_or_default().into(),
                )
            }
            _ => self.not_found(path),
        }
    }

    fn not_found(&self, path: &str) -> Response<IngressBody> {
        let table = self.routes.load();
        let routes: Vec<&str> = table.routes().iter().map(|r| r.prefix.as_str()).collect();
        let mut body = error_object(
            StatusCode::NOT_FOUND,
            "not_found",
            None,
            format!("no application is served at {path}"),
        );
        body["routes"] = routes.into();
        plain(
            StatusCode::NOT_FOUND,
            "application/json",
            body.to_string().into(),
        )
    }

    fn new_request_id(&self) -> HeaderValue {
        request_id(
            &self.id_prefix,
            self.next_id.fetch_add(1, Ordering::Relaxed),
        )
    }
}

/// A request's answer, with its id (and its access-log line when the log is on).
fn answered(
    mut response: Response<IngressBody>,
    request_id: HeaderValue,
    access: Option<Access>,
) -> Response<IngressBody> {
    if let Some((start, method, path)) = access {
        debug!(
            request_id = ?request_id,
            %method,
            path,
            status = response.status().as_u16(),
            elapsed_ms = start.elapsed().as_secs_f64() * 1000.0,
            "Request."
        );
    }
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}

/// `<prefix>-<n in hex>`, written without formatting machinery (this runs
/// for every request that comes without an id).
fn request_id(prefix: &[u8; 8], n: u64) -> HeaderValue {
    let mut id = [0u8; 8 + 1 + 16];
    id[..8].copy_from_slice(prefix);
    id[8] = b'-';
    let digits = (64 - n.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, byte) in id[9..9 + digits].iter_mut().enumerate() {
        let nibble = (n >> (4 * (digits - 1 - i))) & 0xf;
        *byte = b"0123456789abcdef"[nibble as usize];
    }
    HeaderValue::from_bytes(&id[..9 + digits]).expect("hex is a valid header")
}

/// The HTTP answer to a call through the router.
fn respond(called: Called, request_id: &HeaderValue) -> Response<IngressBody> {
    match (called.result, called.permit) {
        (Ok(mut reply), Some(permit)) => {
            // Which replica answered (any node may have forwarded it).
            let replica = permit.replica().id_header();
            let mut response = match reply.stream.take() {
                // The replica slot stays taken until the stream ends or the
                // client goes (dropping the body drops the permit).
                Some(rx) => with_body(
                    reply,
                    IngressBody::Stream {
                        rx,
                        _permit: permit,
                    },
                ),
                None => into_response(reply),
            };
            response.headers_mut().insert(REPLICA_ID, replica);
            response
        }
        (Ok(reply), None) => into_response(reply),
        (Err(failure), _) => {
            let (status, kind) = failure.answer();
            match &failure {
                Failure::Route(
                    RouteError::Overloaded { .. } | RouteError::NodeOverloaded { .. },
                ) => {
                    debug!(request_id = ?request_id, error = %failure, "Request refused.");
                }
                Failure::Route(RouteError::Unavailable { .. }) => {}
                Failure::Call(CallError::Remote { sent: false, .. }) => {
                    warn!(request_id = ?request_id, error = %failure, "No replica took the request.");
                }
                Failure::Call(CallError::Remote { .. }) => {
                    warn!(request_id = ?request_id, error = %failure, "Forwarding to another node failed.");
                }
                Failure::Call(_) => {
                    warn!(request_id = ?request_id, error = %failure, "Replica call failed.");
                }
            }
            error(status, kind, failure)
        }
    }
}

/// Binds the ingress listener, with a clear error when the port is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another rserve node or program is using it; pick another with --http-addr)"
        } else {
            ""
        };
        std::io::Error::new(
            e.kind(),
            format!("cannot bind the HTTP ingress to {addr}: {e}{hint}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::request_id;

    #[test]
    fn request_ids_are_the_prefix_and_the_counter_in_hex() {
        for n in [
            0,
            1,
            9,
            10,
            15,
            16,
            255,
            256,
            0xdead_beef,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let id = request_id(b"0a1b2c3d", n);
            assert_eq!(id.to_str().unwrap(), format!("0a1b2c3d-{n:x}"));
        }
    }
}

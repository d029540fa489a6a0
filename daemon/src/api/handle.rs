//! Deployment handles (Ray's `DeploymentHandle`): one deployment calling
//! another of its application through the same router as the HTTP ingress —
//! two choices over live in-flight counts, `max_ongoing_requests`, the
//! bounded queue (overload is an error at once, not a wait), local replicas
//! first, replicas on other nodes over the mesh, multiplexed-model affinity.
//! A call is counted in the callee's figures and offered to `rserve tap`
//! like an ingress call, and carries the caller's `x-request-id`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use super::Request;
use crate::replica::CallError;
use crate::replica::call::ReplicaResponse;
use crate::replica::env::ReplicaEnv;
use crate::replica::multiplex::MODEL_ID_HEADER;
use crate::router::call::{Failure, Sample};
use crate::router::{DeploymentRouter, Permit, RouteError};

/// How long a handle call may take to get its answer's head (or, for
/// [`DeploymentHandle::call`], its whole body) unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest answer [`DeploymentHandle::call`] collects (stream larger ones).
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// The largest server-sent event [`HandleStream::next_event`] buffers.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// How often a call looks again for a dependency this node has no route to
/// yet (a replica may start before its node hears of the whole application).
const ROUTE_POLL: Duration = Duration::from_millis(50);

tokio::task_local! {
    /// The request id of the request a replica is handling, so the handle
    /// calls it makes carry it on.
    pub(crate) static REQUEST_ID: HeaderValue;
}

/// Why a handle call got no answer (or an error answer).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// The deployment has no running replica (or this node has no route to it).
    #[error("{deployment} has no replica to call: {reason}")]
    NoReplica {
        /// `app/deployment`.
        deployment: String,
        /// Why.
        reason: String,
    },
    /// Every replica is at `max_ongoing_requests` and its queue is full.
    #[error("{0}")]
    Overloaded(String),
    /// The replica crashed, stopped, or its node could not be reached.
    #[error("{deployment}: the replica failed: {reason}")]
    ReplicaFailed {
        /// `app/deployment`.
        deployment: String,
        /// What happened.
        reason: String,
    },
    /// No answer within the handle's timeout.
    #[error("{deployment} did not answer within {after:?}")]
    Timeout {
        /// `app/deployment`.
        deployment: String,
        /// The timeout.
        after: Duration,
    },
    /// The deployment answered with an error status.
    #[error("{deployment} answered {status}: {message}")]
    Status {
        /// `app/deployment`.
        deployment: String,
        /// The status.
        status: StatusCode,
        /// The error's message (OpenAI's `error.message`, or the body).
        message: String,
    },
    /// The call itself is wrong (a model id that cannot be sent).
    #[error("{deployment}: {reason}")]
    Invalid {
        /// `app/deployment`.
        deployment: String,
        /// What is wrong.
        reason: String,
    },
    /// The answer's body is not what the caller expected.
    #[error("{deployment}: unexpected answer: {reason}")]
    Body {
        /// `app/deployment`.
        deployment: String,
        /// What did not fit.
        reason: String,
    },
}

impl HandleError {
    /// The status a deployment answers with when it passes this error on.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoReplica { .. } | Self::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::ReplicaFailed { .. } | Self::Body { .. } => StatusCode::BAD_GATEWAY,
            Self::Invalid { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Status { status, .. } => *status,
        }
    }

    /// OpenAI's error `type` for it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::NoReplica { .. } => "unavailable",
            Self::Overloaded(_) => "overloaded",
            Self::ReplicaFailed { .. } | Self::Body { .. } => "replica_error",
            Self::Invalid { .. } => "deployment_error",
            Self::Timeout { .. } => "timeout",
            Self::Status { status, .. } if status.is_client_error() => "invalid_request_error",
            Self::Status { .. } => "deployment_error",
        }
    }
}

/// A whole answer from [`DeploymentHandle::call`].
#[derive(Debug, Clone)]
pub struct HandleResponse {
    /// The status (always a success: errors are [`HandleError::Status`]).
    pub status: StatusCode,
    /// The response headers (`content-type`, `x-rserve-replica`, ...).
    pub headers: HeaderMap,
    /// The whole body (a streamed answer, concatenated).
    pub body: Bytes,
    deployment: Arc<str>,
}

impl HandleResponse {
    /// The body as JSON of type `T`.
    ///
    /// # Errors
    /// [`HandleError::Body`] naming where it does not fit.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HandleError> {
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(&mut de).map_err(|e| HandleError::Body {
            deployment: self.deployment.to_string(),
            reason: format!("at `{}`: {}", e.path(), e.inner()),
        })
    }

    /// The replica that answered.
    pub fn replica(&self) -> Option<&str> {
        self.headers
            .get("x-rserve-replica")
            .and_then(|v| v.to_str().ok())
    }
}

/// A streamed answer from [`DeploymentHandle::stream`]: the replica's slot is
/// held until it is dropped.
#[derive(Debug)]
pub struct HandleStream {
    /// The status (always a success).
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    first: Option<Bytes>,
    rx: Option<mpsc::Receiver<Bytes>>,
    events: Events,
    deployment: Arc<str>,
    _permit: Permit,
}

impl HandleStream {
    /// The next chunk of the body, as the callee sent it; `None` at the end.
    pub async fn next(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take()
            && !first.is_empty()
        {
            return Some(first);
        }
        self.rx.as_mut()?.recv().await
    }

    /// The `data` of the next server-sent event (its `data:` lines joined
    /// by newlines), however the chunks split it; `Ok(None)` at the end. A
    /// callee's final `[DONE]` is returned like any other data.
    ///
    /// # Errors
    /// [`HandleError::Body`] for an event larger than [`MAX_EVENT_BYTES`].
    pub async fn next_event(&mut self) -> Result<Option<String>, HandleError> {
        loop {
            if let Some(data) = self.events.pop() {
                return Ok(Some(data));
            }
            if self.events.pending() > MAX_EVENT_BYTES {
                return Err(HandleError::Body {
                    deployment: self.deployment.to_string(),
                    reason: format!("an event is larger than {} KiB", MAX_EVENT_BYTES >> 10),
                });
            }
            let Some(chunk) = self.next().await else {
                return Ok(None);
            };
            self.events.push(&chunk);
        }
    }
}

/// Splits a server-sent-event byte stream into each event's `data`,
/// whatever the chunk boundaries (`\r\n` line ends are read as `\n`).
#[derive(Debug, Default)]
pub(crate) struct Events {
    /// Bytes of events not yet complete.
    pending: BytesMut,
    /// How far `pending` is known to hold no event end.
    scanned: usize,
}

impl Events {
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.pending
            .extend(chunk.iter().copied().filter(|&b| b != b'\r'));
    }

    /// Bytes held of an event not yet complete.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The next complete event's `data` lines, joined by newlines; events
    /// without data (comments, keep-alives) are skipped.
    pub(crate) fn pop(&mut self) -> Option<String> {
        loop {
            let from = self.scanned.saturating_sub(1);
            let Some(end) = find(&self.pending[from..], b"\n\n").map(|i| i + from) else {
                self.scanned = self.pending.len();
                return None;
            };
            let event = self.pending.split_to(end + 2);
            self.scanned = 0;
            let text = String::from_utf8_lossy(&event);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                return Some(data.join("\n"));
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A handle to one deployment of the caller's application, from
/// [`Context::handle`](super::Context::handle). Cheap to clone; a clone
/// carries its options.
#[derive(Clone)]
pub struct DeploymentHandle {
    env: Arc<ReplicaEnv>,
    app: Arc<str>,
    deployment: Arc<str>,
    /// `app/deployment`.
    name: Arc<str>,
    timeout: Duration,
    /// A multiplexed model id, and it as a header value.
    model: Option<(Arc<str>, HeaderValue)>,
    /// For request ids of calls made outside a request (at start).
    caller: Arc<str>,
    /// Shared by every handle of the calling replica.
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for DeploymentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentHandle")
            .field("deployment", &self.name)
            .field("timeout", &self.timeout)
            .field("model", &self.model.as_ref().map(|(id, _)| id))
            .finish_non_exhaustive()
    }
}

impl DeploymentHandle {
    pub(crate) fn new(
        env: Arc<ReplicaEnv>,
        app: &str,
        deployment: &str,
        caller: &str,
        next_id: Arc<AtomicU64>,
    ) -> Self {
        Self {
            env,
            app: app.into(),
            deployment: deployment.into(),
            name: format!("{app}/{deployment}").into(),
            timeout: DEFAULT_TIMEOUT,
            model: None,
            caller: caller.into(),
            next_id,
        }
    }

    /// The deployment called, `app/deployment`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This handle with another timeout (default [`DEFAULT_TIMEOUT`]).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// This handle asking for multiplexed model `id` (Ray's
    /// `handle.options(multiplexed_model_id=...)`): routed to a replica that
    /// holds it, sent as `serve_multiplexed_model_id`.
    ///
    /// # Errors
    /// [`HandleError::Invalid`] when `id` cannot be a header value.
    pub fn with_model_id(mut self, id: &str) -> Result<Self, HandleError> {
        let value = HeaderValue::from_str(id)
            .ok()
            .filter(|_| !id.is_empty())
            .ok_or_else(|| HandleError::Invalid {
                deployment: self.name.to_string(),
                reason: format!("`{id}` is not a valid multiplexed model id"),
            })?;
        self.model = Some((id.into(), value));
        Ok(self)
    }

    /// Calls the deployment and waits for its whole answer.
    ///
    /// # Errors
    /// [`HandleError`]: no replica, overloaded, the replica failed, timeout,
    /// or an error status.
    pub async fn call(&self, req: Request) -> Result<HandleResponse, HandleError> {
        let whole = async {
            let mut stream = self.stream(req).await?;
            let mut body = BytesMut::new();
            while let Some(chunk) = stream.next().await {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(HandleError::Body {
                        deployment: self.name.to_string(),
                        reason: format!(
                            "the answer is larger than {} MiB; read it with `stream` instead",
                            MAX_ANSWER_BYTES >> 20
                        ),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HandleResponse {
                status: stream.status,
                headers: std::mem::take(&mut stream.headers),
                body: body.freeze(),
                deployment: self.name.clone(),
            })
        };
        tokio::time::timeout(self.timeout, whole)
            .await
            .unwrap_or_else(|_| Err(self.timed_out()))
    }

    /// `POST path` with `body` as JSON; the answer's JSON as `T`.
    ///
    /// # Errors
    /// As [`call`](Self::call), and [`HandleError::Body`] when the answer is
    /// not a `T`.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, HandleError> {
        self.call(Request::post_json(path, body)).await?.json()
    }

    /// Calls the deployment; its answer streams as it comes (server-sent
    /// events from `chat`, for one). The timeout covers the answer's head.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn stream(&self, mut req: Request) -> Result<HandleStream, HandleError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let request_id = self.request_id(&req);
        req.headers
            .insert(crate::ingress::REQUEST_ID, request_id.clone());
        let router = tokio::time::timeout_at(deadline, self.router())
            .await
            .map_err(|_| self.timed_out())??;
        // As at the ingress: a model id only routes a multiplexed deployment.
        let model = self.model.as_ref().filter(|_| router.multiplexed());
        if let Some((_, value)) = model {
            req.headers.insert(MODEL_ID_HEADER, value.clone());
        }
        let model = model.map(|(id, _)| &**id);
        let env = &self.env;
        let sample = Sample::start(&env.tap, &req.method, &req.path, model);
        let request_id = request_id.to_str().unwrap_or_default();
        let Ok(called) = tokio::time::timeout_at(deadline, router.call(req, model)).await else {
            sample.finish(&env.tap, &env.node_id, &router, None, 504, request_id);
            return Err(self.timed_out());
        };
        let replica = called.permit.as_ref().map(|p| p.replica().clone());
        let status = match &called.result {
            Ok(reply) => reply.status.as_u16(),
            Err(failure) => failure.answer().0.as_u16(),
        };
        sample.finish(
            &env.tap,
            &env.node_id,
            &router,
            replica.as_ref(),
            status,
            request_id,
        );
        let reply = called.result.map_err(|e| self.failed(e))?;
        let Some(permit) = called.permit else {
            unreachable!("an answer comes from a reserved replica")
        };
        if !reply.status.is_success() {
            return Err(tokio::time::timeout_at(deadline, self.error_answer(reply))
                .await
                .unwrap_or_else(|_| self.timed_out()));
        }
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, reply.content_type);
        for (name, value) in reply.headers {
            headers.append(name, value);
        }
        headers.insert(crate::ingress::REPLICA_ID, permit.replica().id_header());
        Ok(HandleStream {
            status: reply.status,
            headers,
            first: Some(reply.body),
            rx: reply.stream,
            events: Events::default(),
            deployment: self.name.clone(),
            _permit: permit,
        })
    }

    /// The deployment's router on this node; waits (within the timeout) for
    /// a route table that has it.
    async fn router(&self) -> Result<Arc<DeploymentRouter>, HandleError> {
        let mut waited = Duration::ZERO;
        loop {
            if let Some(router) = self
                .env
                .routes
                .load()
                .deployment(&self.app, &self.deployment)
            {
                return Ok(router.clone());
            }
            if waited >= crate::router::NO_REPLICA_WAIT {
                return Err(HandleError::NoReplica {
                    deployment: self.name.to_string(),
                    reason: "this node has no route to it (was it deleted?)".into(),
                });
            }
            tokio::time::sleep(ROUTE_POLL).await;
            waited += ROUTE_POLL;
        }
    }

    /// The request's id: its own header, else the id of the request being
    /// handled, else a new one naming the caller.
    fn request_id(&self, req: &Request) -> HeaderValue {
        if let Some(id) = req.headers.get(crate::ingress::REQUEST_ID)
            && !id.is_empty()
        {
            return id.clone();
        }
        if let Ok(id) = REQUEST_ID.try_with(Clone::clone)
            && !id.is_empty()
        {
            return id;
        }
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:x}", self.caller))
            .unwrap_or(HeaderValue::from_static("handle"))
    }

    fn timed_out(&self) -> HandleError {
        HandleError::Timeout {
            deployment: self.name.to_string(),
            after: self.timeout,
        }
    }

    fn failed(&self, failure: Failure) -> HandleError {
        let deployment = self.name.to_string();
        match failure {
            Failure::Route(
                e @ (RouteError::Overloaded { .. } | RouteError::NodeOverloaded { .. }),
            ) => HandleError::Overloaded(e.to_string()),
            Failure::Route(RouteError::Unavailable { reason, .. }) => {
                HandleError::NoReplica { deployment, reason }
            }
            // Not even sent to another node, after every try.
            Failure::Call(e @ CallError::Remote { sent: false, .. }) => HandleError::NoReplica {
                deployment,
                reason: e.to_string(),
            },
            Failure::Call(e) => HandleError::ReplicaFailed {
                deployment,
                reason: e.to_string(),
            },
        }
    }

    /// An error status: its OpenAI error message (or body), read whole.
    async fn error_answer(&self, mut reply: ReplicaResponse) -> HandleError {
        let mut body = BytesMut::from(&reply.body[..]);
        if let Some(rx) = reply.stream.as_mut() {
            while let Some(chunk) = rx.recv().await {
                body.extend_from_slice(&chunk);
                if body.len() > 64 * 1024 {
                    break;
                }
            }
        }
        let error = serde_json::from_slice::<serde_json::Value>(&body).ok();
        let message = error
            .as_ref()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        let deployment = self.name.to_string();
        // The callee's own overload (a full compute queue, or its handles').
        if reply.status == StatusCode::SERVICE_UNAVAILABLE
            && error.is_some_and(|v| v["error"]["type"] == "overloaded")
        {
            return HandleError::Overloaded(format!("{deployment}: {message}"));
        }
        HandleError::Status {
            deployment,
            status: reply.status,
            message,
        }
    }
}

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
use crate::replica::call::ReplicaResponse;
use crate::replica::env::ReplicaEnv;
use crate::replica::multiplex::MODEL_ID_HEADER;
use crate::router::call::{Failure, Sample};
use crate::router::{DeploymentRouter, Permit, RouteError};

/// How long a handle call may take to get its answer's head (or, for
/// [`DeploymentHandle::call`], its whole body) unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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
    /// by newlines), however the chunks split it; `None` at the end. A
    /// callee's final `[DONE]` is returned like any other data.
    pub async fn next_event(&mut self) -> Option<String> {
        loop {
            if let Some(data) = self.events.pop() {
                return Some(data);
            }
            let chunk = self.next().await?;
            self.events.push(&chunk);
        }
    }
}

/// Splits a server-sent-event byte stream into each event's `data`,
/// whatever the chunk boundaries.
#[derive(Debug, Default)]
pub(crate) struct Events {
    /// Bytes of an event not yet complete.
    pending: BytesMut,
}

impl Events {
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
    }

    /// The next complete event's `data` lines, joined by newlines; events
    /// without data (comments, keep-alives) are skipped.
    pub(crate) fn pop(&mut self) -> Option<String> {
        while let Some(end) = find(&self.pending, b"\n\n") {
            let event = self.pending.split_to(end + 2);
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
        None
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
    model: Option<Arc<str>>,
    /// For request ids of calls made outside a request (at start).
    caller: Arc<str>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for DeploymentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeploymentHandle")
            .field("deployment", &self.name)
            .field("timeout", &self.timeout)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl DeploymentHandle {
    pub(crate) fn new(env: Arc<ReplicaEnv>, app: &str, deployment: &str, caller: &str) -> Self {
        Self {
            env,
            app: app.into(),
            deployment: deployment.into(),
            name: format!("{app}/{deployment}").into(),
            timeout: DEFAULT_TIMEOUT,
            model: None,
            caller: caller.into(),
            next_id: Arc::default(),
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
    #[must_use]
    pub fn with_model_id(mut self, id: &str) -> Self {
        self.model = Some(id.into());
        self
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
        let request_id = self.request_id(&req);
        req.headers
            .insert(crate::ingress::REQUEST_ID, request_id.clone());
        if let Some(model) = &self.model
            && let Ok(value) = HeaderValue::from_str(model)
        {
            req.headers.insert(MODEL_ID_HEADER, value);
        }
        let env = &self.env;
        let sample = Sample::start(&env.tap, &req.method, &req.path, self.model.as_deref());
        let answer = tokio::time::timeout(self.timeout, async {
            let router = self.router().await?;
            let called = router.call(req, self.model.as_deref()).await;
            Ok::<_, HandleError>((router, called))
        })
        .await;
        let request_id = request_id.to_str().unwrap_or_default();
        let (router, called) = match answer {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                if let Some(router) = self
                    .env
                    .routes
                    .load()
                    .deployment(&self.app, &self.deployment)
                {
                    sample.finish(&env.tap, &env.node_id, router, None, 504, request_id);
                }
                return Err(self.timed_out());
            }
        };
        let replica = called.permit.as_ref().map(|p| p.replica().clone());
        let status = match &called.result {
            Ok(reply) => reply.status.as_u16(),
            Err(Failure::Route(_)) => 503,
            Err(Failure::Call(_)) => 502,
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
            return Err(self.error_answer(reply).await);
        }
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, reply.content_type);
        for (name, value) in reply.headers {
            headers.append(name, value);
        }
        if let Ok(id) = HeaderValue::from_str(permit.replica().id()) {
            headers.insert(crate::ingress::REPLICA_ID, id);
        }
        Ok(HandleStream {
            status: reply.status,
            headers,
            first: Some(reply.body),
            rx: reply.stream,
            events: Events::default(),
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
            Failure::Route(e @ RouteError::Overloaded { .. }) => {
                HandleError::Overloaded(e.to_string())
            }
            Failure::Route(RouteError::Unavailable { reason, .. }) => {
                HandleError::NoReplica { deployment, reason }
            }
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

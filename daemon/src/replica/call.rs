//! What a replica takes and gives back: the request and response types every
//! replica kind, the router's callers and the mesh share, and the one error
//! shape rserve answers with (OpenAI's error object).
//!
//! A leaf module: it imports nothing else of the daemon, so the ingress, the
//! mesh and the kinds can all depend on it without depending on each other.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

/// A request as a replica sees it.
#[derive(Debug)]
pub struct ReplicaRequest {
    /// HTTP method.
    pub method: Method,
    /// The full request path (including the application's route prefix).
    pub path: String,
    /// The query string (after `?`, undecoded), if the request had one.
    pub query: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
}

/// A replica's answer.
#[derive(Debug)]
pub struct ReplicaResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// `content-type` of the body.
    pub content_type: HeaderValue,
    /// Further response headers.
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
    /// When set, the body is streamed from here instead (server-sent events).
    pub stream: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

impl ReplicaResponse {
    /// A JSON response.
    pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type: HeaderValue::from_static("application/json"),
            headers: Vec::new(),
            body: body.into(),
            stream: None,
        }
    }

    /// An error response with OpenAI's error object (no `param`).
    pub fn error(status: StatusCode, kind: &str, message: impl std::fmt::Display) -> Self {
        Self::json(
            status,
            error_object(status, kind, None, message).to_string(),
        )
    }
}

/// OpenAI's error object `{"error": {"message", "type", "param", "code"}}`: the one
/// shape of every error rserve returns, over HTTP or inside an event stream.
pub fn error_object(
    status: StatusCode,
    kind: &str,
    param: Option<&str>,
    message: impl std::fmt::Display,
) -> serde_json::Value {
    serde_json::json!({
        "error": {
            "message": message.to_string(),
            "type": kind,
            "param": param,
            "code": status.as_u16(),
        }
    })
}

/// Outcome of calling a replica that could not produce a response.
/// A call tried without a future: answered at once, or what is needed to
/// finish it later (in a future). Not a `Result`: neither side is an error.
#[derive(Debug)]
pub enum Attempt<Done, Later> {
    /// Answered.
    Done(Done),
    /// Not answered yet.
    Later(Later),
}

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The replica crashed while handling this request.
    #[error("replica {replica} crashed while handling the request: {reason}")]
    Crashed {
        /// The replica.
        replica: String,
        /// The panic message.
        reason: String,
    },
    /// The replica is not running (stopped between routing and the call).
    #[error("replica {0} is not running")]
    NotRunning(String),
    /// The replica's node could not be reached, or the connection broke.
    #[error("replica {replica} on node {node} could not be reached: {reason}")]
    Remote {
        /// Whether the request reached the node (if not, it may go elsewhere).
        sent: bool,
        /// The replica.
        replica: String,
        /// Its node.
        node: String,
        /// What happened.
        reason: String,
    },
}

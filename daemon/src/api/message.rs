//! Requests and responses as a deployment writes them: constructors for the
//! common shapes (text, JSON, server-sent events), reading a JSON body, and
//! an error that keeps its HTTP status.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::replica::call::{ReplicaRequest, ReplicaResponse, error_object};

/// Chunks a streamed response may have outstanding before the deployment's
/// `send` waits for the client (the stream is bounded).
pub const STREAM_BUFFER: usize = 64;

impl ReplicaRequest {
    /// A request of `method` to `path` with `body`.
    pub fn new(method: Method, path: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            method,
            path: path.into(),
            query: None,
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }

    /// `POST path` with `value` as its JSON body.
    pub fn post_json(path: impl Into<String>, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_default();
        let mut req = Self::new(Method::POST, path, body);
        req.headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        req
    }

    /// The body as JSON of type `T`.
    ///
    /// # Errors
    /// A 400 [`HttpError`] naming where the body does not fit `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        let mut de = serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let at = if path == "." {
                String::new()
            } else {
                format!(" at `{path}`")
            };
            HttpError::bad_request(format!(
                "the request body is not the expected JSON{at}: {}",
                e.inner()
            ))
        })
    }

    /// A header's value as text, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl ReplicaResponse {
    /// `200 OK` with a plain-text body.
    pub fn text(body: impl Into<String>) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: HeaderValue::from_static("text/plain; charset=utf-8"),
            headers: Vec::new(),
            body: Bytes::from(body.into()),
            stream: None,
        }
    }

    /// `200 OK` with `value` as JSON.
    pub fn json_of(value: &impl Serialize) -> Self {
        Self::json(
            StatusCode::OK,
            serde_json::to_vec(value).unwrap_or_default(),
        )
    }

    /// A streamed `200 OK` of server-sent events, and where to send them.
    /// The stream ends when the sender is dropped; a client that leaves makes
    /// `send` fail.
    pub fn event_stream() -> (Self, EventSender) {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let response = Self {
            status: StatusCode::OK,
            content_type: HeaderValue::from_static("text/event-stream"),
            headers: vec![(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            )],
            body: Bytes::new(),
            stream: Some(rx),
        };
        (response, EventSender { tx })
    }
}

/// The sending side of [`ReplicaResponse::event_stream`].
#[derive(Debug, Clone)]
pub struct EventSender {
    tx: mpsc::Sender<Bytes>,
}

/// The client left: nobody reads the stream any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client closed the stream")]
pub struct Closed;

impl EventSender {
    /// Sends one event whose `data` is `data` (one `data:` line per line).
    ///
    /// # Errors
    /// [`Closed`] when the client left.
    pub async fn send(&self, data: &str) -> Result<(), Closed> {
        let mut event = String::with_capacity(data.len() + 8);
        for line in data.split('\n') {
            event.push_str("data: ");
            event.push_str(line);
            event.push('\n');
        }
        event.push('\n');
        self.send_raw(Bytes::from(event)).await
    }

    /// Sends `value` as one JSON event.
    ///
    /// # Errors
    /// [`Closed`] when the client left.
    pub async fn send_json(&self, value: &impl Serialize) -> Result<(), Closed> {
        self.send(&serde_json::to_string(value).unwrap_or_default())
            .await
    }

    /// Sends bytes as they are (already framed events).
    ///
    /// # Errors
    /// [`Closed`] when the client left.
    pub async fn send_raw(&self, bytes: Bytes) -> Result<(), Closed> {
        self.tx.send(bytes).await.map_err(|_| Closed)
    }
}

/// An error answered with its own HTTP status (OpenAI's error object).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    /// The status to answer with.
    pub status: StatusCode,
    /// What went wrong.
    pub message: String,
}

impl HttpError {
    /// An error answered with `status` (a status that is not an error, 4xx
    /// or 5xx, becomes a 500).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let status = if status.is_client_error() || status.is_server_error() {
            status
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        Self {
            status,
            message: message.into(),
        }
    }

    /// A `400 Bad Request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// OpenAI's error `type` for the status.
    pub(crate) fn kind(&self) -> &'static str {
        if self.status.is_client_error() {
            "invalid_request_error"
        } else {
            "deployment_error"
        }
    }

    /// The error as a response.
    pub fn into_response(self) -> ReplicaResponse {
        ReplicaResponse::json(
            self.status,
            error_object(self.status, self.kind(), None, &self.message).to_string(),
        )
    }
}

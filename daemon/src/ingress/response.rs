//! Response bodies and the ingress's canned responses (errors in the OpenAI
//! shape, plain text, the model list's entries).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

use crate::replica::{ReplicaResponse, openai};
use crate::router::Permit;

pub(super) fn model_object(id: &str) -> serde_json::Value {
    serde_json::json!({ "id": id, "object": "model", "created": 0, "owned_by": "rserve" })
}

pub(super) fn model_not_found(id: &str) -> Response<IngressBody> {
    into_response(openai::error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("model"),
        format!("The model `{id}` does not exist (GET /v1/models lists the served models)"),
    ))
}

pub(super) fn into_response(mut reply: ReplicaResponse) -> Response<IngressBody> {
    let body = IngressBody::full(std::mem::take(&mut reply.body));
    with_body(reply, body)
}

pub(super) fn with_body(reply: ReplicaResponse, body: IngressBody) -> Response<IngressBody> {
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, reply.content_type);
    for (name, value) in reply.headers {
        headers.insert(name, value);
    }
    response
}

pub(super) fn plain(
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<IngressBody> {
    let mut response = Response::new(IngressBody::full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(super) fn error(
    status: StatusCode,
    kind: &str,
    message: impl std::fmt::Display,
) -> Response<IngressBody> {
    into_response(ReplicaResponse::error(status, kind, message))
}

pub(super) fn too_large(limit: usize) -> Response<IngressBody> {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "invalid_request_error",
        format!("request body exceeds the {limit}-byte limit (--max-body-bytes)"),
    )
}

/// Response bodies: whole (most) or, later, streamed. An enum rather than a boxed
/// body keeps the common case free of an allocation.
#[derive(Debug)]
pub enum IngressBody {
    /// A complete body, sent as one frame.
    Full(Option<Bytes>),
    /// Chunks as the replica produces them (server-sent events).
    Stream {
        /// The chunks; the sender closes when the replica is done.
        rx: tokio::sync::mpsc::Receiver<Bytes>,
        /// The replica slot, held for the life of the stream.
        _permit: Permit,
    },
}

impl IngressBody {
    fn full(bytes: Bytes) -> Self {
        Self::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl Body for IngressBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream { rx, .. } => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(bytes) => bytes.is_none(),
            Self::Stream { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Self::Stream { .. } => SizeHint::default(),
        }
    }
}

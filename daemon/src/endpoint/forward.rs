//! Serving HTTP requests that another node forwards to a replica hosted here:
//! the answer's head as a frame, then the body raw (streamed for SSE). A
//! forward that this node declines without acting (replica gone, not running,
//! at capacity) is answered with an error frame, so the calling node may route
//! the request to another replica.

use std::sync::Arc;

use rserve_protocol::wire::{self, ErrorCode, Response, WireError};

use crate::replica::call::{Attempt, error_object};
use crate::replica::{LocalReplicas, Phase, Replica, ReplicaRequest, ReplicaResponse};

/// A forwarded request, as it arrived.
#[derive(Debug)]
pub struct ForwardCall {
    /// The replica it is for.
    pub replica_id: String,
    /// HTTP method.
    pub method: String,
    /// The request path.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Serves `call` on the replica it names, if hosted here. `from_node`: the
/// connection presented a cluster certificate.
pub async fn serve(
    local: &LocalReplicas,
    from_node: bool,
    call: ForwardCall,
    mut send: quinn::SendStream,
) -> anyhow::Result<()> {
    if !from_node {
        let (head, body) = error_head(
            http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "forwarding needs a node certificate of this cluster".into(),
        );
        send.write_all(&wire::encode(&head)).await?;
        send.write_all(body.as_bytes()).await?;
        send.finish()?;
        return Ok(());
    }
    let replica = match reserve(local, &call.replica_id) {
        Ok(replica) => replica,
        Err(declined) => {
            send.write_all(&wire::encode(&Response::Error(declined)))
                .await?;
            send.finish()?;
            return Ok(());
        }
    };
    let _reserved = Release(replica.clone());
    // An `echo` answers at once, without a future.
    let reply = match replica.call_now(call.into_request()) {
        Attempt::Done(reply) => reply,
        Attempt::Later(req) => replica.call(req).await,
    };
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => {
            let (head, body) = error_head(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "replica_error",
                e.to_string(),
            );
            send.write_all(&wire::encode(&head)).await?;
            send.write_all(body.as_bytes()).await?;
            send.finish()?;
            return Ok(());
        }
    };
    answer(reply, send).await
}

/// Takes a slot on the replica, or says why not (the calling node may then
/// try another replica: nothing was done).
fn reserve(local: &LocalReplicas, replica_id: &str) -> Result<Arc<Replica>, WireError> {
    let declined = |code, message: String| WireError { code, message };
    let Some(replica) = local.get(replica_id) else {
        return Err(declined(
            ErrorCode::NotFound,
            format!("replica {replica_id} is not on this node"),
        ));
    };
    if replica.phase() != Phase::Running {
        return Err(declined(
            ErrorCode::NotFound,
            format!("replica {replica_id} is not running"),
        ));
    }
    // The replica's own limit holds across every node that routes to it.
    if !replica.try_reserve() {
        return Err(declined(
            ErrorCode::BadRequest,
            format!("replica {replica_id} is at max_ongoing_requests"),
        ));
    }
    Ok(replica)
}

/// Sends the replica's answer: its head as a frame, then the body, chunk by
/// chunk for a stream. If the calling node drops the stream, the write fails,
/// the receiver drops and the replica stops generating.
async fn answer(mut reply: ReplicaResponse, mut send: quinn::SendStream) -> anyhow::Result<()> {
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
        Some(mut rx) => {
            while let Some(chunk) = rx.recv().await {
                send.write_all(&chunk).await?;
            }
        }
    }
    send.finish()?;
    Ok(())
}

impl ForwardCall {
    fn into_request(self) -> ReplicaRequest {
        let mut headers = http::HeaderMap::new();
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.as_bytes()),
                http::HeaderValue::from_str(&v),
            ) {
                headers.append(k, v);
            }
        }
        ReplicaRequest {
            method: http::Method::from_bytes(self.method.as_bytes()).unwrap_or(http::Method::POST),
            path: self.path,
            query: self.query,
            headers,
            body: self.body.into(),
        }
    }
}

/// An error answer's head and JSON body.
fn error_head(status: http::StatusCode, kind: &str, message: String) -> (Response, String) {
    let body = error_object(status, kind, None, message).to_string();
    (
        Response::Forwarded {
            status: status.as_u16(),
            headers: vec![("content-type".into(), "application/json".into())],
        },
        body,
    )
}

/// Returns a replica slot taken for a forwarded request when dropped.
struct Release(Arc<Replica>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.release();
    }
}

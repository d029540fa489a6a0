//! One call through a deployment's router: reserve a replica (two choices,
//! `max_ongoing_requests`, the bounded queue), call it, and route again when
//! a forward to another node could not even be sent. The HTTP ingress and
//! deployment handles both call through here, and both record what they got
//! with [`Sample`], so a deployment's figures, `rserve routes` and `rserve
//! tap` count composed traffic exactly like ingress traffic.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rserve_protocol::stream::TapEvent;

use super::{DeploymentRouter, Permit, RouteError};
use crate::observe::tap::Tap;
use crate::replica::{Attempt, CallError, Replica, ReplicaRequest, ReplicaResponse};

/// Why a call got no answer from a replica.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No replica could be reserved (overloaded, none running).
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The replica was reserved but gave no answer (crashed, gone, unreachable).
    #[error(transparent)]
    Call(#[from] CallError),
}

impl Failure {
    /// The HTTP status and OpenAI error type this failure is answered with
    /// (and counted as), wherever the call came from.
    pub fn answer(&self) -> (http::StatusCode, &'static str) {
        use http::StatusCode;
        match self {
            Self::Route(RouteError::Overloaded { .. } | RouteError::NodeOverloaded { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "overloaded")
            }
            Self::Route(RouteError::Unavailable { .. })
            | Self::Call(CallError::Remote { sent: false, .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
            }
            Self::Call(CallError::Remote { .. }) => (StatusCode::BAD_GATEWAY, "node_unreachable"),
            Self::Call(_) => (StatusCode::INTERNAL_SERVER_ERROR, "replica_error"),
        }
    }
}

/// How many times a request that could not be sent to another node is tried.
const SEND_ATTEMPTS: u32 = 3;

/// The outcome of [`DeploymentRouter::call`]: the answer (or why none), and
/// the permit of the replica that was called, if one was (it holds the slot
/// until dropped, so a streamed answer keeps it).
#[derive(Debug)]
pub struct Called {
    /// The replica's answer.
    pub result: Result<ReplicaResponse, Failure>,
    /// The slot taken on the replica that was called last.
    pub permit: Option<Permit>,
}

/// A call that could not be answered at once: the request, and the slot
/// already reserved for it, if one was.
#[derive(Debug)]
pub struct Pending {
    req: ReplicaRequest,
    permit: Option<Permit>,
}

impl DeploymentRouter {
    /// Reserves a replica (preferring one that holds the multiplexed `model`)
    /// and calls it with `req`; a request that could not be sent to another
    /// node is routed again, to another replica, at most [`SEND_ATTEMPTS`] times.
    pub async fn call(self: &Arc<Self>, req: ReplicaRequest, model: Option<&str>) -> Called {
        match self.try_call_now(req, model) {
            Attempt::Done(called) => called,
            Attempt::Later(pending) => Box::pin(self.call_pending(pending, model)).await,
        }
    }

    /// [`call`](Self::call) without a future where it can be: a free slot
    /// on a replica that answers at once (a local `echo`). Otherwise the
    /// call to finish with [`call_pending`](Self::call_pending), which the
    /// caller boxes: queueing, model kinds and forwards (with their retries)
    /// need a large future, and hyper moves a request's future around, so
    /// inline it would cost every request.
    pub fn try_call_now(
        self: &Arc<Self>,
        req: ReplicaRequest,
        model: Option<&str>,
    ) -> Attempt<Called, Pending> {
        let Some(permit) = self.try_acquire(model) else {
            return Attempt::Later(Pending { req, permit: None });
        };
        match permit.replica().call_now(req) {
            Attempt::Done(result) => Attempt::Done(Called {
                result: result.map_err(Failure::from),
                permit: Some(permit),
            }),
            Attempt::Later(req) => Attempt::Later(Pending {
                req,
                permit: Some(permit),
            }),
        }
    }

    /// Finishes a call [`try_call_now`](Self::try_call_now) could not, with
    /// the slot it reserved already if it did.
    pub async fn call_pending(self: &Arc<Self>, pending: Pending, model: Option<&str>) -> Called {
        let Pending {
            req,
            permit: mut reserved,
        } = pending;
        let mut req = Some(req);
        let mut attempts = 0;
        loop {
            let reserved = reserved.take();
            let permit = match reserved {
                Some(permit) => permit,
                None => match self.acquire(model).await {
                    Ok(permit) => permit,
                    Err(e) => {
                        return Called {
                            result: Err(e.into()),
                            permit: None,
                        };
                    }
                },
            };
            attempts += 1;
            let last = attempts >= SEND_ATTEMPTS;
            // A local call takes the request; a forward keeps a copy for another try.
            let this = match (permit.replica().is_local() || last, req.as_ref()) {
                (true, _) | (false, None) => req.take(),
                (false, Some(r)) => Some(ReplicaRequest {
                    method: r.method.clone(),
                    path: r.path.clone(),
                    query: r.query.clone(),
                    headers: r.headers.clone(),
                    body: r.body.clone(),
                }),
            };
            let Some(this) = this else {
                unreachable!("the request is kept until its last try")
            };
            let result = permit.replica().call(this).await;
            match &result {
                // Not sent: another replica may take it, unless every
                // replica's node has stopped answering (then say so now).
                Err(e @ CallError::Remote { sent: false, .. })
                    if !last && req.is_some() && !self.all_unreachable() =>
                {
                    tracing::debug!(error = %e, "Not sent to another node; routing again.");
                }
                _ => {
                    return Called {
                        result: result.map_err(Failure::from),
                        permit: Some(permit),
                    };
                }
            }
        }
    }
}

/// What a caller records of one call: started before it, [`finish`](Self::finish)ed
/// with the answer's status. Counts the call in the deployment's and the
/// replica's figures, and offers it to `rserve tap` when someone taps (one
/// relaxed load when nobody does).
#[derive(Debug)]
pub struct Sample {
    start: Instant,
    /// Method, path and model of a request the tap admitted.
    tapped: Option<(String, String, Option<String>)>,
}

impl Sample {
    /// Starts timing a call of `method` `path` (with multiplexed `model`).
    pub fn start(tap: &Tap, method: &http::Method, path: &str, model: Option<&str>) -> Self {
        Self {
            start: Instant::now(),
            tapped: (tap.active() && tap.admit()).then(|| {
                (
                    method.to_string(),
                    path.to_owned(),
                    model.map(str::to_owned),
                )
            }),
        }
    }

    /// Records the answer: `status` from `replica` (none when no replica was
    /// reserved), for a call that entered at `node`.
    pub fn finish(
        self,
        tap: &Tap,
        node: &str,
        router: &DeploymentRouter,
        replica: Option<&Arc<Replica>>,
        status: u16,
        request_id: &str,
    ) -> Duration {
        let elapsed = self.start.elapsed();
        router.stats().record(status, elapsed);
        if let Some(replica) = replica {
            replica.stats().record(status, elapsed);
        }
        if let Some((method, path, model)) = self.tapped {
            let (app, deployment) = router.name().split_once('/').unwrap_or(("", router.name()));
            let arrived = SystemTime::now() - elapsed;
            tap.publish(TapEvent {
                time_s: arrived
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64()),
                node: node.to_owned(),
                method,
                path,
                app: app.to_owned(),
                deployment: deployment.to_owned(),
                model,
                replica: replica.map(|r| r.id().to_owned()),
                replica_node: replica.map(|r| {
                    r.remote_target()
                        .map_or_else(|| node.to_owned(), |t| t.node_id.clone())
                }),
                hop: replica.is_some_and(|r| !r.is_local()),
                status,
                latency_ms: elapsed.as_secs_f64() * 1000.0,
                request_id: request_id.to_owned(),
            });
        }
        elapsed
    }
}

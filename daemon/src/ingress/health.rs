//! What the node says of its own health on the HTTP port: `/-/healthz`
//! (liveness: its loops make progress) and `/-/ready` (readiness: it knows the
//! cluster's routes and is not draining), as probes and load balancers ask.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};

use super::response::{IngressBody, plain};
use crate::notify::Heartbeat;

/// How long a loop may go without progress before `/-/healthz` says the node
/// is hung (a liveness probe then restarts it after its own failure count).
pub const LIVENESS_LIMIT: Duration = Duration::from_secs(5);

/// Whether the node can serve, for `/-/ready` (a Kubernetes readiness
/// probe, a load balancer's health check): it knows the cluster's routes (a
/// head from the start, a member once the head has answered a heartbeat) and
/// is not draining. `/-/healthz` stays the liveness answer: the node runs.
#[derive(Debug, Default)]
pub struct Readiness {
    routes_known: std::sync::atomic::AtomicBool,
    draining: std::sync::atomic::AtomicBool,
}

impl Readiness {
    /// The node's routes are the cluster's.
    pub fn routes_known(&self) {
        self.routes_known.store(true, Ordering::Relaxed);
    }

    /// The node stopped taking new work.
    pub fn draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Why the node is not ready, if it is not.
    pub fn not_ready(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::Relaxed) {
            Some("draining")
        } else if !self.routes_known.load(Ordering::Relaxed) {
            Some("waiting for the cluster's routes from the head")
        } else {
            None
        }
    }
}

/// `/-/healthz`: `200 success`, or `503` naming the loop that has made no
/// progress for [`LIVENESS_LIMIT`].
pub(super) fn healthz(liveness: &[Heartbeat]) -> Response<IngressBody> {
    match liveness
        .iter()
        .find_map(|beat| beat.stalled(LIVENESS_LIMIT))
    {
        None => plain(StatusCode::OK, "text/plain", Bytes::from_static(b"success")),
        Some((name, age)) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            format!(
                "the {name} loop has made no progress for {:.0} s",
                age.as_secs_f64()
            )
            .into(),
        ),
    }
}

/// `/-/ready`: `200 ready`, or `503` with the reason.
pub(super) fn ready(readiness: &Readiness) -> Response<IngressBody> {
    match readiness.not_ready() {
        None => plain(StatusCode::OK, "text/plain", Bytes::from_static(b"ready")),
        Some(why) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            Bytes::from_static(why.as_bytes()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    #[test]
    fn ready_once_the_routes_are_known_and_until_the_drain() {
        let r = Readiness::default();
        assert_eq!(
            r.not_ready(),
            Some("waiting for the cluster's routes from the head")
        );
        r.routes_known();
        assert_eq!(r.not_ready(), None);
        r.draining();
        assert_eq!(r.not_ready(), Some("draining"));
    }
}

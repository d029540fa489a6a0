//! A proxy for a replica that runs on another node. Requests are forwarded to
//! that node, and stop commands sent there, through a [`NodeLink`] — a trait
//! defined here and implemented by the cluster's mesh, so replicas do not
//! depend on how nodes talk to each other. The proxy's phase follows the
//! node's reports (or its death), fed in by the cluster.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tracing::warn;

use super::{CallError, Core, Phase, ReplicaRequest, ReplicaResponse};

/// How this node reaches replicas on other nodes.
pub trait NodeLink: Send + Sync + std::fmt::Debug {
    /// Forwards `req` to replica `replica_id` on the node at `node`; a
    /// streamed answer keeps streaming from there.
    fn forward<'a>(
        &'a self,
        node: SocketAddr,
        replica_id: &'a str,
        req: ReplicaRequest,
    ) -> BoxFuture<'a, Result<ReplicaResponse, ForwardError>>;

    /// Asks the node at `node` to drain and stop replica `replica_id`.
    fn stop_replica<'a>(
        &'a self,
        node: SocketAddr,
        replica_id: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// How long every attempt to reach the node at `node` has failed (none
    /// while it answers, or before anything was tried).
    fn unreachable_for(&self, _node: SocketAddr) -> Option<Duration> {
        None
    }

    /// Whether a request may be sent to the node at `node` now: always,
    /// unless it has failed for [`UNREACHABLE_LIMIT`]; then one request per
    /// [`PROBE_PERIOD`] tries it (the rest are refused at once).
    fn may_try(&self, _node: SocketAddr) -> bool {
        true
    }
}

/// How long every attempt to reach a node may fail before requests stop
/// trying it (but for one probe per [`PROBE_PERIOD`]) and are refused at
/// once when no other replica can take them.
pub const UNREACHABLE_LIMIT: Duration = Duration::from_secs(3);

/// How often a node that stopped answering is tried again by one request.
pub const PROBE_PERIOD: Duration = Duration::from_secs(5);

/// Why a forward failed.
#[derive(Debug, Clone)]
pub struct ForwardError {
    /// Whether the other node may have acted on the request (if not, it may
    /// go to another replica).
    pub sent: bool,
    /// Whether the replica should take no requests for a while (its node is
    /// unreachable or no longer has it).
    pub suspend: bool,
    /// What happened.
    pub reason: String,
}

/// Where a replica that runs on another node is, and how to reach it.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    /// The node that runs it.
    pub node_id: String,
    /// That node's control address.
    pub address: SocketAddr,
    /// Connections to other nodes.
    pub link: Arc<dyn NodeLink>,
}

/// How long a proxy whose node did not answer takes no requests.
const SUSPEND_UNREACHABLE: Duration = Duration::from_secs(1);

/// The process's clock origin for suspensions.
static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// The proxy of a replica on another node.
#[derive(Debug)]
pub struct RemoteReplica {
    pub(super) core: Core,
    target: RemoteTarget,
    /// Takes no requests before this (ms since [`EPOCH`]).
    suspended_until_ms: AtomicU64,
    /// Notified when the phase changes (from the node's reports).
    changed: Option<Arc<Notify>>,
}

impl RemoteReplica {
    pub(super) fn new(core: Core, target: RemoteTarget, changed: Option<Arc<Notify>>) -> Self {
        Self {
            core,
            target,
            suspended_until_ms: AtomicU64::new(0),
            changed,
        }
    }

    /// Where it runs.
    pub fn target(&self) -> &RemoteTarget {
        &self.target
    }

    /// The phase its node reported (or its node's death implies). Failures
    /// and stops are final.
    pub fn apply_report(&self, phase: Phase) {
        let mut current = self.core.phase.lock().unwrap();
        if current.is_gone() || *current == phase {
            return;
        }
        *current = phase;
        drop(current);
        if let Some(changed) = &self.changed {
            changed.notify_one();
        }
    }

    /// Whether a request may be sent to its node now (see [`NodeLink::may_try`]).
    pub(super) fn may_try(&self) -> bool {
        self.target.link.may_try(self.target.address)
    }

    /// Whether it is paused after its node did not answer.
    pub(super) fn suspended(&self) -> bool {
        (EPOCH.elapsed().as_millis() as u64) < self.suspended_until_ms.load(Ordering::Relaxed)
    }

    /// How long every call to its node has failed unreachable (none while
    /// calls succeed).
    pub(super) fn unreachable_for(&self) -> Option<Duration> {
        self.target.link.unreachable_for(self.target.address)
    }

    /// Takes no requests for `how_long`.
    fn suspend(&self, how_long: Duration) {
        let until = EPOCH.elapsed() + how_long;
        self.suspended_until_ms
            .store(until.as_millis() as u64, Ordering::SeqCst);
    }

    /// Marks it stopping and asks its node to stop it, in a task on `tasks`.
    pub(super) fn stop(&self, tasks: &TaskTracker) {
        {
            let mut phase = self.core.phase.lock().unwrap();
            if matches!(*phase, Phase::Starting | Phase::Running) {
                *phase = Phase::Stopping;
            }
        }
        let (id, target) = (self.core.id.clone(), self.target.clone());
        tasks.spawn(async move {
            if let Err(e) = target.link.stop_replica(target.address, &id).await {
                warn!(replica = %id, node = %target.node_id, error = %e, "Cannot ask a node to stop a replica.");
            }
        });
    }

    pub(super) async fn call(&self, req: ReplicaRequest) -> Result<ReplicaResponse, CallError> {
        let target = &self.target;
        target
            .link
            .forward(target.address, &self.core.id, req)
            .await
            .map_err(|e| {
                if e.suspend {
                    // Unreachable or gone: route around it until the head decides.
                    self.suspend(SUSPEND_UNREACHABLE);
                }
                CallError::Remote {
                    sent: e.sent,
                    replica: self.core.id.clone(),
                    node: target.node_id.clone(),
                    reason: e.reason,
                }
            })
    }
}

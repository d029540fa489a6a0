//! Typed snapshots of a deployment's live figures on this node: plain data,
//! taken from the router when asked, rendered by whoever asked (metrics today;
//! status, streams and the TUI share the shape).

use rserve_protocol::status::BatchFigures;

use super::RequestFigures;

/// One deployment as this node's router sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeploymentSnapshot {
    /// Its application.
    pub app: String,
    /// The deployment.
    pub deployment: String,
    /// Requests this node's ingress answered for it.
    pub requests: RequestFigures,
    /// Requests waiting for a replica slot.
    pub queued: u64,
    /// The replica target, where the controller runs (the head).
    pub target_replicas: Option<u32>,
    /// Replicas of the target no node has room for (the head).
    pub unschedulable_replicas: Option<u32>,
    /// Autoscaling decisions that raised the target.
    pub scale_ups: u64,
    /// Autoscaling decisions that lowered it.
    pub scale_downs: u64,
    /// Whether requests are routed by multiplexed model id.
    pub multiplexed: bool,
    /// The replicas this node routes to.
    pub replicas: Vec<ReplicaSnapshot>,
}

/// One replica as the router sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaSnapshot {
    /// Replica id.
    pub replica_id: String,
    /// Requests in flight (for a replica hosted here: from every node, as
    /// forwarded requests reserve it too).
    pub ongoing: u32,
    /// Whether this node hosts it (else the router holds a proxy).
    pub hosted_here: bool,
    /// Requests this node's ingress sent it, answered.
    pub requests: RequestFigures,
    /// Batches it ran (local replicas of kinds that batch).
    pub batches: BatchFigures,
    /// Multiplexed models it holds.
    pub models: Vec<String>,
    /// Multiplexed model loads.
    pub model_loads: u64,
    /// Multiplexed model evictions.
    pub model_evictions: u64,
}

//! What operators observe of a node: request counters kept on the hot path
//! ([`stats`]), typed snapshots of every deployment's live figures
//! ([`snapshot`]), their Prometheus rendering ([`metrics`]) and their sliding
//! window ([`window`], for `rserve routes`); and the live streams: captured
//! log lines ([`logs`]), the cluster's event log ([`events`]) and sampled
//! requests ([`tap`]).
//!
//! The router fills snapshots from its own state; this module imports nothing
//! of the router, so the same snapshot can feed metrics, status, streams and a
//! TUI.

pub mod events;
pub mod logs;
pub mod metrics;
pub mod snapshot;
pub mod stats;
pub mod tap;
pub mod window;

pub use snapshot::{DeploymentSnapshot, ReplicaSnapshot};
pub use stats::{LATENCY_BUCKETS_MS, RequestFigures, RequestStats};

use std::sync::Arc;

/// A node's live data beyond its routers: what the streaming calls read.
#[derive(Debug, Clone)]
pub struct Live {
    /// The cluster's event log (the head's; a member's stays empty).
    pub events: Arc<events::EventLog>,
    /// Where the ingress offers requests to `rserve tap`.
    pub tap: Arc<tap::Tap>,
    /// The routers' figures over the last window.
    pub window: Arc<window::RouterWindow>,
}

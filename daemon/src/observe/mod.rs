//! What operators observe of a node: request counters kept on the hot path
//! ([`stats`]), typed snapshots of every deployment's live figures
//! ([`snapshot`]), and their Prometheus rendering ([`metrics`]).
//!
//! The router fills snapshots from its own state; this module imports nothing
//! of the router, so the same snapshot can feed metrics, status, streams and a
//! TUI.

pub mod metrics;
pub mod snapshot;
pub mod stats;

pub use snapshot::{DeploymentSnapshot, ReplicaSnapshot};
pub use stats::{LATENCY_BUCKETS_MS, RequestFigures, RequestStats};

//! rserve-daemon: the node agent as a library.
//!
//! Data path (what must be fast): [`ingress`] (HTTP on every node) →
//! [`router`] (route table, replica choice, backpressure) → [`replica`] (local
//! replicas and their kinds, or proxies of replicas on other nodes, reached
//! through [`cluster::mesh`]).
//!
//! Control path: [`endpoint`] (the node's QUIC control endpoint; [`rpc`] is
//! the calling side) →
//! [`controller`] (desired state, persistence, reconcile, status) and
//! [`cluster`] (joining, membership, placement, the head's fleet and a
//! member's agent).
//!
//! Around them: [`node`] (wiring and the shutdown sequence), [`notify`]
//! (systemd readiness, status and watchdog), [`state_dir`]
//! (the state directory and its files), [`pki`] (certificates and the admin
//! token), [`digest`] (fingerprints), [`observe`] (counters, snapshots,
//! metrics).
//!
//! Deployments written in Rust: [`api`] (the `Deployment` trait, the kinds
//! registry, deployment handles), what the `rserve` crate re-exports.
//!
//! The `rserve` binary (crate `cli`) is a thin shell over this crate.

pub mod api;
pub mod cluster;
pub mod controller;
pub mod digest;
pub mod endpoint;
#[doc(hidden)]
pub mod fuzz;
pub mod ingress;
pub mod node;
pub mod notify;
pub mod observe;
pub mod pki;
pub mod replica;
pub mod router;
pub mod rpc;
pub mod state_dir;

pub use node::{Node, NodeConfig, StartError};
pub use state_dir::NodeFile;

/// Seconds since the Unix epoch on the wall clock (what state files, events
/// and certificates record; 0 on a clock set before 1970).
pub fn unix_now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

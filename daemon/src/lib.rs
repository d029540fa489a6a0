//! rserve-daemon: the node agent as a library.
//!
//! - [`node`]: wiring and the shutdown sequence;
//! - [`ingress`]: the HTTP server on every node;
//! - [`router`]: route table snapshots, replica choice, backpressure;
//! - [`replica`]: supervised workers and the replica kinds;
//! - [`controller`]: desired state, persistence, reconcile loop, status;
//! - [`control`]: the QUIC control endpoint, its client, TLS material.
//!
//! The `rserve` binary (crate `cli`) is a thin shell over this crate.

pub mod cluster;
pub mod control;
pub mod controller;
pub mod ingress;
pub mod metrics;
pub mod node;
pub mod replica;
pub mod router;

pub use node::{Node, NodeConfig, NodeFile, StartError};

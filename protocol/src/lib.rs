//! rserve-protocol: pure data, no I/O.
//!
//! The application file schema with its validation and Ray Serve defaults
//! ([`config`]), the status types with Ray Serve's enum names ([`status`]), and the
//! control protocol's messages and framing ([`wire`]) with its streaming frames
//! ([`stream`]). Both the daemon and the CLI
//! depend on this crate; nothing here knows about sockets or tokio, so everything is
//! tested deterministically and can be fuzzed.

pub mod config;
pub mod status;
pub mod wire;

pub use wire::stream;

pub use config::{AppConfig, AppFile, ConfigError, DeploymentConfig, ReplicaKind};

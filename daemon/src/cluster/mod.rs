//! Clusters: nodes joined under one CA, and everything that crosses nodes.
//!
//! The first node (`rserve up`) is the head ([`head`]): it holds the cluster CA
//! key, makes join tokens ([`tokens`]), signs joining nodes' certificates,
//! tracks membership ([`membership`]) from heartbeats, places replicas
//! ([`placement`]) and keeps the proxies of replicas members run ([`fleet`]).
//! A node started with `--join HOST:PORT --token T` joins ([`join`]), then
//! connects to the head with its certificate and heartbeats ([`heartbeat`]);
//! its [`agent`] runs the replicas the head places on it. Every node reaches
//! the others over pooled QUIC connections with mutual TLS ([`mesh`]).

pub mod agent;
pub mod fleet;
pub mod head;
pub mod head_address;
pub mod heartbeat;
pub mod join;
pub mod membership;
pub mod mesh;
mod nodes_file;
pub mod placement;
pub mod pool_token;
pub mod resources;
pub mod revoked;
pub mod tokens;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rserve_protocol::wire::{ErrorCode, Request, Response, WireError};
use serde::{Deserialize, Serialize};

use crate::replica::LocalReplicas;
use agent::MemberAgent;
use fleet::Fleet;
use head::Head;
use head_address::{HeadAddress, HeadName};
use mesh::Mesh;

/// Default time without a heartbeat after which the head declares a node dead.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// `<state dir>/cluster.json`: present on member nodes (not on the head).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterFile {
    /// The head's control address (an IP or a DNS name, with the port).
    pub head: HeadName,
    /// The cluster id (the CA fingerprint).
    pub cluster_id: String,
    /// SHA-256 (hex) of the head's certificate as it presented it at the
    /// join, in files from before the head's certificate named it the head
    /// ([`crate::pki::HEAD_NAME`]): replica commands are also taken from it,
    /// until that head renews its certificate. New joins leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_cert_sha256: Option<String>,
}

impl ClusterFile {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("cluster.json")
    }

    /// Reads the file, if this state dir belongs to a member node.
    pub fn read(state_dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = Self::path(state_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{} is not a cluster file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes it (atomically).
    pub fn write(&self, state_dir: &Path) -> anyhow::Result<()> {
        crate::state_dir::write_atomic(&Self::path(state_dir), &serde_json::to_vec_pretty(self)?)
    }
}

/// A node's place in its cluster.
#[derive(Debug)]
pub enum Role {
    /// The head: CA, join tokens, membership, placement.
    Head(Arc<Head>),
    /// A member node that heartbeats the head and runs what it places here.
    Member {
        /// The head's control address.
        head: Arc<HeadAddress>,
        /// The head's certificate (SHA-256) as pinned at a join made before
        /// the head's certificate was marked; replica commands are taken
        /// from it as from a marked one.
        head_cert: Option<String>,
        /// Runs the replicas the head places here.
        agent: Arc<MemberAgent>,
    },
}

/// The cluster as this node knows it.
#[derive(Debug)]
pub struct Cluster {
    /// Head or member.
    pub role: Role,
    /// The cluster id (the CA fingerprint).
    pub cluster_id: String,
    /// Replicas hosted by this process (served to requests forwarded by others).
    pub local: Arc<LocalReplicas>,
}

impl Cluster {
    /// The head's cluster.
    pub fn head(head: Head) -> Self {
        Self {
            cluster_id: head.cluster_id().to_owned(),
            local: head.fleet.local.clone(),
            role: Role::Head(Arc::new(head)),
        }
    }

    /// A member's cluster, with its agent.
    pub fn member(file: &ClusterFile, head: Arc<HeadAddress>, agent: MemberAgent) -> Self {
        Self {
            cluster_id: file.cluster_id.clone(),
            local: agent.local.clone(),
            role: Role::Member {
                head,
                head_cert: file.head_cert_sha256.clone(),
                agent: Arc::new(agent),
            },
        }
    }

    /// Whether the certificate with this fingerprint belonged to a node an
    /// operator removed (every call made with it is refused).
    pub fn is_revoked(&self, fingerprint: &str) -> bool {
        match &self.role {
            Role::Head(head) => head.revoked.contains(fingerprint),
            Role::Member { agent, .. } => agent.revoked.contains(fingerprint),
        }
    }

    /// The head's fleet (placement, proxies), on the head.
    pub fn fleet(&self) -> Option<&Arc<Fleet>> {
        match &self.role {
            Role::Head(head) => Some(&head.fleet),
            Role::Member { .. } => None,
        }
    }

    /// The head's address, on a member.
    pub fn head_address(&self) -> Option<SocketAddr> {
        match &self.role {
            Role::Member { head, .. } => Some(head.current()),
            Role::Head(_) => None,
        }
    }

    /// Connections to the other nodes.
    pub fn mesh(&self) -> &Arc<Mesh> {
        match &self.role {
            Role::Head(head) => &head.fleet.mesh,
            Role::Member { agent, .. } => agent.mesh(),
        }
    }

    /// Whether this node is the head.
    pub fn is_head(&self) -> bool {
        matches!(self.role, Role::Head(_))
    }

    /// On a member: asks the head (read-only calls: status, config, nodes), so
    /// the CLI gets the cluster's answer whichever node it talks to.
    pub async fn ask_head(&self, request: &Request) -> Result<Response, String> {
        match &self.role {
            Role::Member { head, agent, .. } => agent
                .ask(head.current(), request)
                .await
                .map_err(|e| format!("cannot reach the cluster head at {head}: {e}")),
            Role::Head(_) => Err("this node is the head".to_owned()),
        }
    }

    /// Handles the cluster calls of the control protocol: the head's (tokens,
    /// joins, heartbeats, renewals, nodes) and a member's replica commands.
    /// `peer` is the SHA-256 of the client certificate the connection was
    /// authenticated with, if any; `from_head` whether that certificate is
    /// the head's ([`crate::pki::HEAD_NAME`]); `binding` the keying material
    /// exported from the connection's TLS session, for joins with a pool
    /// token ([`pool_token`]).
    pub fn handle(
        &self,
        request: Request,
        peer: Option<&str>,
        from_head: bool,
        remote: SocketAddr,
        binding: Option<&pool_token::Binding>,
    ) -> Response {
        let replica_command = matches!(
            request,
            Request::StartReplica { .. } | Request::StopReplica { .. }
        );
        match (&self.role, replica_command) {
            (_, true) if peer.is_none() => Response::Error(WireError {
                code: ErrorCode::Unauthorized,
                message: "replica commands need a node certificate of this cluster".to_owned(),
            }),
            (Role::Member { head_cert, .. }, true)
                if !from_head && peer != head_cert.as_deref() =>
            {
                tracing::warn!(%remote, "Refused a replica command from a certificate that is not the head's.");
                Response::Error(WireError {
                    code: ErrorCode::Unauthorized,
                    message: "replica commands are taken only from the cluster's head (a \
                              certificate the cluster CA issued to the head)"
                        .to_owned(),
                })
            }
            (Role::Member { agent, .. }, true) => agent.handle(request),
            (Role::Head(_), true) => Response::Error(WireError {
                code: ErrorCode::BadRequest,
                message: "the head places replicas; it takes no replica commands".to_owned(),
            }),
            (Role::Head(head), false) => head.handle(request, peer, remote, binding),
            (Role::Member { head, .. }, false) => Response::Error(WireError {
                code: ErrorCode::BadRequest,
                message: format!(
                    "this node is a member of cluster {}; cluster calls go to the head: rserve --address {} …",
                    self.cluster_id,
                    head.name()
                ),
            }),
        }
    }
}

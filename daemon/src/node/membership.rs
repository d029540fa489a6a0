//! A node's place in its cluster over its life: joining (or rejoining) at
//! start, with retries while the head cannot be reached yet, and leaving
//! when it drains.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rserve_protocol::wire::NodeAdvert;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{NodeConfig, StartError};
use crate::cluster::head_address::HeadName;
use crate::cluster::join::{JoinError, join};
use crate::cluster::{Cluster, ClusterFile};
use crate::pki::TlsPaths;
use crate::state_dir::StateDir;

/// `rserve up --join HOST:PORT --token T`.
#[derive(Clone)]
pub struct JoinOptions {
    /// The head's control address (an IP or a DNS name).
    pub head: HeadName,
    /// The join token (needed the first time only).
    pub token: Option<String>,
    /// How long a first join keeps trying while the head cannot be reached
    /// (`--join-wait-s`: pods of a pool start before their head is up).
    pub wait: Duration,
}

impl std::fmt::Debug for JoinOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("JoinOptions")
            .field("head", &self.head)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("wait", &self.wait)
            .finish()
    }
}

/// The cluster this node is a member of, joining it first if asked (`None`:
/// this node is a head).
pub(super) async fn load_or_join(
    config: &NodeConfig,
    state_dir: &StateDir,
    advert: &NodeAdvert,
) -> Result<Option<ClusterFile>, StartError> {
    let dir = state_dir.path();
    let member = ClusterFile::read(dir)?;
    let Some(options) = &config.join else {
        return Ok(member);
    };
    // A member away for longer than its certificate lived joins again.
    let expired = member.is_some()
        && TlsPaths::new(dir)
            .node_cert_expiry()
            .is_some_and(|at| at <= crate::unix_now_s());
    match (member, &options.token) {
        (Some(_), None) if expired => Err(StartError::JoinRefused(format!(
            "this node's certificate ({}) expired before the head could renew it (the node \
             was away too long): start it again with a new join token (--token or \
             RSERVE_JOIN_TOKEN; create one on the head with `rserve token create`)",
            TlsPaths::new(dir).node_cert.display()
        ))),
        (Some(_), Some(token)) if expired => {
            info!("This node's certificate expired: joining the cluster again with the token.");
            join_with(dir, options, token, advert).await.map(Some)
        }
        (Some(mut file), _) => {
            if file.head != options.head {
                info!(old = %file.head, new = %options.head, "The cluster head moved; using the new address.");
                file.head = options.head.clone();
                file.write(dir)?;
            }
            Ok(Some(file))
        }
        (None, _) if TlsPaths::new(dir).node_cert.exists() => {
            Err(StartError::Other(anyhow::anyhow!(
                "state dir {} already belongs to a cluster of its own (it was a head); \
                 use a fresh --state-dir to join another cluster",
                dir.display()
            )))
        }
        (None, None) => Err(StartError::JoinRefused(
            "joining a cluster the first time needs a join token (--token or RSERVE_JOIN_TOKEN; \
             create one on the head with `rserve token create`)"
                .to_owned(),
        )),
        (None, Some(token)) => join_with(dir, options, token, advert).await.map(Some),
    }
}

async fn join_with(
    dir: &Path,
    options: &JoinOptions,
    token: &str,
    advert: &NodeAdvert,
) -> Result<ClusterFile, StartError> {
    let deadline = tokio::time::Instant::now() + options.wait;
    let mut backoff = Duration::from_millis(250);
    let joined = loop {
        match join(dir, &options.head, token, advert.clone()).await {
            Ok(joined) => break joined,
            Err(JoinError::Unreachable(reason)) if tokio::time::Instant::now() < deadline => {
                info!(head = %options.head, %reason, "The cluster head cannot be reached yet; retrying.");
                tokio::time::sleep(backoff.min(deadline - tokio::time::Instant::now())).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(JoinError::Refused(reason)) => return Err(StartError::JoinRefused(reason)),
            Err(JoinError::Unreachable(reason)) => {
                return Err(StartError::Other(anyhow::anyhow!("{reason}")));
            }
            Err(JoinError::Other(e)) => return Err(StartError::Other(e)),
        }
    };
    info!(head = %options.head, cluster = %joined.cluster_id, "Joined the cluster.");
    Ok(joined)
}

/// How long a draining member waits for the head to take its leave.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(2);

/// A member's heartbeats (`beats`) until `stop`, or until it starts draining
/// (`shutdown`): then it stops them (none may revive it on the head after)
/// and tells the head it leaves, so its replicas are placed elsewhere and
/// routed around now, not after the node timeout.
pub(super) async fn leave_when_draining(
    cluster: Arc<Cluster>,
    beats: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
    stop: CancellationToken,
) {
    tokio::select! {
        () = stop.cancelled() => {}
        () = shutdown.cancelled() => {}
    }
    stop.cancel();
    let _ = beats.await;
    if !shutdown.is_cancelled() {
        return;
    }
    let leave = cluster.ask_head(&rserve_protocol::wire::Request::Leaving);
    match tokio::time::timeout(LEAVE_TIMEOUT, leave).await {
        Ok(Ok(rserve_protocol::wire::Response::Accepted)) => {
            info!("Told the cluster head this node is leaving.");
        }
        Ok(Ok(other)) => {
            warn!(answer = ?other, "The cluster head did not take this node's leave; it will notice at the node timeout.");
        }
        Ok(Err(e)) => {
            warn!(error = %e, "Cannot tell the cluster head this node is leaving; it will notice at the node timeout.")
        }
        Err(_) => warn!(
            "The cluster head did not answer this node's leave in time; it will notice at the node timeout."
        ),
    }
}

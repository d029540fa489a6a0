//! A node: wiring of the ingress, controller and control endpoint, and the
//! shutdown sequence (stop accepting → drain in flight → stop replicas → exit).

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use rserve_protocol::wire::NodeAdvert;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cluster::mesh::Mesh;
use crate::cluster::resources::{self, ResourceOverrides};
use crate::cluster::{self, Cluster, ClusterFile};
use crate::control::{self, ControlContext};
use crate::controller::store::Store;
use crate::controller::{Controller, NodeFacts};
use crate::ingress::{self, IngressConfig};
use crate::router::RouteTable;

/// Default HTTP ingress address (Ray Serve's).
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8000";
/// Default control endpoint address (UDP; Ray's dashboard/REST port, where `serve deploy` goes).
pub const DEFAULT_CONTROL_ADDR: &str = "127.0.0.1:8265";

/// How a node process runs (flags and `RSERVE_*` variables; files say what is deployed).
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the node keeps its state (desired state, TLS material, token, lock).
    pub state_dir: PathBuf,
    /// HTTP ingress address (port 0 = any free port).
    pub http_addr: SocketAddr,
    /// Control endpoint address (port 0 = any free port).
    pub control_addr: SocketAddr,
    /// Largest request body the ingress accepts.
    pub max_body_bytes: usize,
    /// How long in-flight requests may finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// Join the cluster whose head is here (`--join`); absent = be a head, or
    /// rejoin the cluster recorded in the state dir.
    pub join: Option<JoinOptions>,
    /// Resource overrides (`--num-cpus`, `--num-gpus`, `--memory`).
    pub resources: ResourceOverrides,
    /// Free-form labels (`--label key=value`).
    pub labels: BTreeMap<String, String>,
    /// Head: time without a heartbeat after which a node is declared dead.
    pub node_timeout: Duration,
}

/// `rserve up --join HOST:PORT --token T`.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// The head's control address.
    pub head: SocketAddr,
    /// The join token (needed the first time only).
    pub token: Option<String>,
}

/// What a running node advertises in `<state dir>/node.json`, so that a CLI
/// pointed at the state dir finds it (useful with ephemeral ports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeFile {
    /// The node's process id.
    pub pid: u32,
    /// Node id.
    pub node_id: String,
    /// Bound HTTP address.
    pub http_address: SocketAddr,
    /// Bound control address.
    pub control_address: SocketAddr,
}

impl NodeFile {
    /// `<state dir>/node.json`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("node.json")
    }

    /// Reads the file of a running (or crashed) node, if any.
    pub fn read(state_dir: &Path) -> Option<Self> {
        let bytes = std::fs::read(Self::path(state_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Why a node could not start; the CLI maps each to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another node holds the state dir, or a port is taken.
    #[error("{0:#}")]
    Busy(anyhow::Error),
    /// The persisted state cannot be used.
    #[error(transparent)]
    State(#[from] crate::controller::store::StoreError),
    /// The cluster head refused this node (wrong or expired token, another cluster).
    #[error("{0}")]
    JoinRefused(String),
    /// Anything else (permissions, disk, TLS material).
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// A node that has bound its sockets and loaded its state, ready to run.
pub struct Node {
    config: NodeConfig,
    _lock: File,
    listener: tokio::net::TcpListener,
    endpoint: quinn::Endpoint,
    controller: Arc<Controller>,
    routes: Arc<crate::router::Routes>,
    token: Arc<str>,
    file: NodeFile,
    cluster: Arc<Cluster>,
    /// Member nodes: how to reach the head, and what to report.
    heartbeat: Option<(SocketAddr, rustls::ClientConfig, NodeAdvert)>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Locks the state dir, loads state and binds both sockets. Fails with a clear
    /// message when another node holds the state dir or a port is taken.
    pub async fn start(config: NodeConfig) -> Result<Self, StartError> {
        let dir = &config.state_dir;
        create_private_dir(dir)?;
        let lock = lock_state_dir(dir).map_err(StartError::Busy)?;
        // CUDA kernel autotune results survive restarts (a no-op without CUDA).
        rserve_models::persist_autotune_cache(&dir.join("autotune"));
        let node_id = load_or_create_node_id(dir)?;
        let token: Arc<str> = control::tls::load_or_create_token(dir)?.into();
        let routes = Arc::new(ArcSwap::from_pointee(RouteTable::default()));

        let listener = ingress::bind(config.http_addr)
            .await
            .map_err(|e| StartError::Busy(e.into()))?;
        let http_address = listener.local_addr().map_err(anyhow::Error::from)?;
        let advert = |control_address: SocketAddr| NodeAdvert {
            node_id: node_id.clone(),
            http_address: http_address.to_string(),
            control_address: control_address.to_string(),
            resources: resources::discover(&config.resources),
            labels: config.labels.clone(),
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        // A member's identity comes from the head: join before anything would
        // create a CA of our own.
        let mut member = ClusterFile::read(dir)?;
        if let Some(join) = &config.join {
            match (&mut member, &join.token) {
                (Some(file), _) => {
                    if file.head != join.head {
                        info!(old = %file.head, new = %join.head, "The cluster head moved; using the new address.");
                        file.head = join.head;
                        file.write(dir)?;
                    }
                }
                (None, _) if control::tls::TlsPaths::new(dir).node_cert.exists() => {
                    return Err(StartError::Other(anyhow::anyhow!(
                        "state dir {} already belongs to a cluster of its own (it was a head); \
                         use a fresh --state-dir to join another cluster",
                        dir.display()
                    )));
                }
                (None, None) => {
                    return Err(StartError::JoinRefused(
                        "joining a cluster the first time needs a join token (--token or RSERVE_JOIN_TOKEN; \
                         create one on the head with `rserve token create`)"
                            .to_owned(),
                    ));
                }
                (None, Some(token)) => {
                    let joined = cluster::join(dir, join.head, token, advert(config.control_addr))
                        .await
                        .map_err(|e| match e {
                            cluster::JoinError::Refused(reason) => StartError::JoinRefused(reason),
                            cluster::JoinError::Other(e) => StartError::Other(e),
                        })?;
                    info!(head = %join.head, cluster = %joined.cluster_id, "Joined the cluster.");
                    member = Some(joined);
                }
            }
        }
        let identity = control::tls::load_or_create(dir)?;
        control::tls::ensure_admin_cert(dir)?;
        let ca_pem = std::fs::read(control::tls::TlsPaths::new(dir).ca_cert)
            .context("cannot read the cluster CA certificate")?;
        let mesh_identity = control::tls::load_or_create(dir)?;
        let endpoint =
            control::endpoint(config.control_addr, identity, &ca_pem).map_err(StartError::Busy)?;
        let control_address = endpoint.local_addr().map_err(anyhow::Error::from)?;
        let mesh_crypto = cluster::mesh_client_config(dir, mesh_identity)?;
        let mesh = Arc::new(Mesh::new(mesh_crypto.clone()));
        let (cluster, heartbeat) = match &member {
            Some(file) => (
                Cluster::member(file, node_id.clone(), mesh, routes.clone()),
                Some((file.head, mesh_crypto, advert(control_address))),
            ),
            None => (
                Cluster::head(dir, advert(control_address), config.node_timeout, mesh).map_err(
                    |e| match e.downcast::<crate::controller::store::StoreError>() {
                        Ok(corrupt) => StartError::State(corrupt),
                        Err(e) => StartError::Other(e),
                    },
                )?,
                None,
            ),
        };
        let controller = Controller::new(
            Store::new(dir),
            routes.clone(),
            NodeFacts {
                node_id: node_id.clone(),
                http_address: http_address.to_string(),
                control_address: control_address.to_string(),
            },
            cluster.link.clone(),
        )?;
        let file = NodeFile {
            pid: std::process::id(),
            node_id,
            http_address,
            control_address,
        };
        Ok(Self {
            config,
            _lock: lock,
            listener,
            endpoint,
            controller,
            routes,
            token,
            file,
            cluster: Arc::new(cluster),
            heartbeat,
        })
    }

    /// Deploys a file from the node itself (`rserve up --demo`, `--deploy`).
    pub async fn deploy(
        &self,
        file_name: &str,
        file: rserve_protocol::AppFile,
    ) -> Result<Vec<rserve_protocol::wire::AppChange>, rserve_protocol::wire::WireError> {
        self.controller.deploy(file_name, file).await
    }

    /// Addresses and ids of the started node.
    pub fn info(&self) -> &NodeFile {
        &self.file
    }

    /// Serves until `shutdown` (a signal or a `Shutdown` call), then drains.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let node_file = NodeFile::path(&self.config.state_dir);
        std::fs::write(&node_file, serde_json::to_vec_pretty(&self.file)?)
            .with_context(|| format!("cannot write {}", node_file.display()))?;
        let controller_stop = CancellationToken::new();
        let controller = tokio::spawn(self.controller.clone().run(controller_stop.clone()));
        let cluster_stop = CancellationToken::new();
        let cluster_task = match self.heartbeat {
            Some((head, crypto, advert)) => tokio::spawn(cluster::heartbeat_loop(
                head,
                crypto,
                advert,
                self.cluster.host.clone().expect("members have a host"),
                cluster_stop.clone(),
            )),
            None => tokio::spawn(self.cluster.clone().watch_members(cluster_stop.clone())),
        };
        let control = tokio::spawn(control::serve(
            self.endpoint.clone(),
            ControlContext {
                controller: self.controller.clone(),
                token: self.token.clone(),
                node_id: self.file.node_id.clone(),
                shutdown: shutdown.clone(),
                cluster: self.cluster.clone(),
            },
        ));
        info!(
            http = %self.file.http_address,
            control = %self.file.control_address,
            state_dir = %self.config.state_dir.display(),
            "rserve node ready."
        );
        ingress::serve(
            self.listener,
            self.routes.clone(),
            IngressConfig {
                max_body_bytes: self.config.max_body_bytes,
                drain_timeout: self.config.drain_timeout,
            },
            shutdown.clone(),
        )
        .await;
        controller_stop.cancel();
        controller.await?;
        cluster_stop.cancel();
        let _ = cluster_task.await;
        if let Some(host) = &self.cluster.host {
            host.shutdown().await;
        }
        // The control endpoint answered status calls during the drain; the reply
        // to a `Shutdown` call has long gone out.
        self.endpoint.close(0u32.into(), b"node stopped");
        let _ = control.await;
        self.endpoint.wait_idle().await;
        let _ = std::fs::remove_file(node_file);
        info!("rserve node stopped.");
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create state dir {}", dir.display()))
}

/// One node per state dir: an exclusive lock held for the process's life.
fn lock_state_dir(dir: &Path) -> anyhow::Result<File> {
    let path = dir.join("node.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = NodeFile::read(dir)
                .map(|f| {
                    format!(
                        " (pid {}, http {}, control {})",
                        f.pid, f.http_address, f.control_address
                    )
                })
                .unwrap_or_default();
            anyhow::bail!(
                "another rserve node is already running with state dir {}{holder}; stop it with `rserve down` or use another --state-dir",
                dir.display()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Whether a node process holds the state dir's lock right now.
pub fn is_running(state_dir: &Path) -> bool {
    match File::open(state_dir.join("node.lock")) {
        Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

fn load_or_create_node_id(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("node_id");
    if let Ok(id) = std::fs::read_to_string(&path)
        && !id.trim().is_empty()
    {
        return Ok(id.trim().to_owned());
    }
    let id = format!("node-{:012x}", rand::random::<u64>() >> 16);
    std::fs::write(&path, format!("{id}\n"))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(id)
}

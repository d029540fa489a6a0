//! A node: the wiring of the ingress, controller, cluster and control
//! endpoint, and the shutdown sequence (stop accepting → drain in flight →
//! stop replicas → exit).
//!
//! [`Node::start`] locks the state dir and binds the configured addresses;
//! [`Node::start_on`] takes sockets the caller bound (mini-redis's
//! `run(listener, shutdown)`), so tests run a node in-process on port 0.

mod membership;

pub use self::membership::JoinOptions;
use self::membership::{leave_when_draining, load_or_join};

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use rserve_protocol::status::ReplicaState;
use rserve_protocol::wire::{NodeAdvert, ReportedPhase};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::api::Kinds;
use crate::cluster::agent::MemberAgent;
use crate::cluster::fleet::Fleet;
use crate::cluster::head::{Head, HeadCerts};
use crate::cluster::head_address::HeadAddress;
use crate::cluster::mesh::{self, Mesh};
use crate::cluster::placement::Host;
use crate::cluster::resources::{self, ResourceOverrides};
use crate::cluster::{Cluster, Role, heartbeat};
use crate::controller::Controller;
use crate::controller::store::Store;
use crate::endpoint;
use crate::ingress::{self, HttpLimits, IngressConfig};
use crate::notify::{self, Heartbeat, Notifier, Summary};
use crate::observe::Live;
use crate::observe::events::EventLog;
use crate::observe::tap::Tap;
use crate::observe::window::{RouterWindow, SAMPLE_PERIOD};
use crate::pki::{self, LiveCert, TlsPaths};
use crate::replica::{LocalReplicas, ReplicaEnv};
use crate::router::{Backlog, RouteTable, Routes};
use crate::state_dir::{LockError, NodeFile, StateDir, StateFileError};

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
    /// Connections, timeouts and HTTP/2 streams the ingress allows.
    pub http_limits: HttpLimits,
    /// Requests queued at most over every deployment (`--max-queued-requests`).
    pub max_queued_requests: u64,
    /// Request body bytes held at most at once (`--max-buffered-mb`).
    pub max_buffered_bytes: u64,
    /// How long in-flight requests may finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// Join the cluster whose head is here (`--join`); absent = be a head, or
    /// rejoin the cluster recorded in the state dir.
    pub join: Option<JoinOptions>,
    /// This node's id (`--node-name`); absent = the one in the state dir, or
    /// a new random one.
    pub node_name: Option<String>,
    /// The IP other nodes reach this one at, where it binds an unspecified
    /// address (`--advertise-ip`); absent = the address the head sees.
    pub advertise_ip: Option<std::net::IpAddr>,
    /// Head: reusable pool tokens it accepts joins with (`--pool-token-file`).
    pub pool_tokens: Vec<crate::cluster::pool_token::PoolToken>,
    /// Resource overrides (`--num-cpus`, `--num-gpus`, `--memory`).
    pub resources: ResourceOverrides,
    /// Free-form labels (`--label key=value`).
    pub labels: BTreeMap<String, String>,
    /// Head: time without a heartbeat after which a node is declared dead.
    pub node_timeout: Duration,
    /// Head: how long the node certificates it issues are valid
    /// (`--node-cert-lifetime-s`); renewed in their last third.
    pub node_cert_lifetime: Duration,
    /// systemd notifications (readiness, status, watchdog, reload, stop).
    pub notify: Notifier,
    /// Deployment kinds written in Rust, served beside the built-in ones.
    pub kinds: Arc<Kinds>,
    /// Test-only: while this file exists the controller loop stalls, so a test
    /// can watch systemd's watchdog pings stop. Never set in production.
    #[doc(hidden)]
    pub stall_controller_while: Option<PathBuf>,
}

impl NodeConfig {
    /// A single node's defaults, with its state in `state_dir`.
    pub fn new(state_dir: PathBuf) -> Self {
        Self {
            state_dir,
            http_addr: DEFAULT_HTTP_ADDR.parse().expect("a valid address"),
            control_addr: DEFAULT_CONTROL_ADDR.parse().expect("a valid address"),
            max_body_bytes: IngressConfig::default().max_body_bytes,
            http_limits: HttpLimits::default(),
            max_queued_requests: crate::router::DEFAULT_MAX_QUEUED,
            max_buffered_bytes: crate::router::DEFAULT_MAX_BYTES,
            drain_timeout: IngressConfig::default().drain_timeout,
            join: None,
            node_name: None,
            advertise_ip: None,
            pool_tokens: Vec::new(),
            resources: ResourceOverrides::default(),
            labels: BTreeMap::new(),
            node_timeout: crate::cluster::DEFAULT_NODE_TIMEOUT,
            node_cert_lifetime: pki::DEFAULT_NODE_CERT_LIFETIME,
            notify: Notifier::disabled(),
            kinds: Arc::default(),
            stall_controller_while: None,
        }
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
    State(#[from] StateFileError),
    /// The cluster head refused this node (wrong or expired token, another cluster).
    #[error("{0}")]
    JoinRefused(String),
    /// Anything else (permissions, disk, TLS material).
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl From<LockError> for StartError {
    fn from(e: LockError) -> Self {
        match e {
            LockError::Held(message) => Self::Busy(anyhow::anyhow!(message)),
            LockError::Io(e) => Self::Other(e),
        }
    }
}

/// A node that has bound its sockets and loaded its state, ready to run.
pub struct Node {
    config: NodeConfig,
    state_dir: StateDir,
    listener: TcpListener,
    endpoint: quinn::Endpoint,
    controller: Arc<Controller>,
    routes: Arc<Routes>,
    token: Arc<str>,
    file: NodeFile,
    cluster: Arc<Cluster>,
    /// Member nodes: how to reach the head, the certificate to present (and
    /// renew), and what to report.
    heartbeat: Option<(
        Arc<HeadAddress>,
        rustls::ClientConfig,
        Arc<LiveCert>,
        NodeAdvert,
    )>,
    /// The event log, the tap point and the router window.
    live: Live,
    /// The node-wide bounds on queued requests and request bodies.
    backlog: Arc<Backlog>,
    /// What `/-/ready` answers.
    readiness: Arc<ingress::Readiness>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Locks the state dir, binds both configured addresses and loads state.
    /// Fails with a clear message when another node holds the state dir or a
    /// port is taken.
    pub async fn start(config: NodeConfig) -> Result<Self, StartError> {
        let state_dir = StateDir::lock(&config.state_dir)?;
        let listener = ingress::bind(config.http_addr)
            .await
            .map_err(|e| StartError::Busy(e.into()))?;
        let control = endpoint::bind(config.control_addr).map_err(StartError::Busy)?;
        Self::assemble(config, state_dir, listener, control).await
    }

    /// [`Node::start`] on sockets bound by the caller (the addresses in
    /// `config` are not used).
    pub async fn start_on(
        config: NodeConfig,
        listener: TcpListener,
        control: UdpSocket,
    ) -> Result<Self, StartError> {
        let state_dir = StateDir::lock(&config.state_dir)?;
        Self::assemble(config, state_dir, listener, control).await
    }

    async fn assemble(
        config: NodeConfig,
        state_dir: StateDir,
        listener: TcpListener,
        control: UdpSocket,
    ) -> Result<Self, StartError> {
        let dir = state_dir.path();
        let tls = TlsPaths::new(dir);
        state_dir.enforce_modes(
            &[
                tls.ca_key,
                tls.node_key,
                tls.admin_key,
                tls.node_next,
                pki::token_path(dir),
            ],
            &[
                "state.json",
                "nodes.json",
                "join_tokens.json",
                "revoked_nodes.json",
                "cluster.json",
                "node_id",
            ]
            .map(|f| dir.join(f)),
        )?;
        // CUDA kernel autotune results survive restarts (a no-op without CUDA).
        rserve_models::persist_autotune_cache(&dir.join("autotune"));
        let file = NodeFile {
            pid: std::process::id(),
            node_id: state_dir.node_id(config.node_name.as_deref())?,
            http_address: listener.local_addr().map_err(anyhow::Error::from)?,
            control_address: control.local_addr().map_err(anyhow::Error::from)?,
        };
        let token: Arc<str> = pki::load_or_create_token(dir)?.into();
        let advertised = |addr: SocketAddr| match config.advertise_ip {
            Some(ip) if addr.ip().is_unspecified() => SocketAddr::new(ip, addr.port()),
            _ => addr,
        };
        let advert = NodeAdvert {
            node_id: file.node_id.clone(),
            http_address: advertised(file.http_address).to_string(),
            control_address: advertised(file.control_address).to_string(),
            resources: resources::discover(&config.resources),
            labels: config.labels.clone(),
            software_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        // A member's identity comes from the head: join before anything would
        // create a CA of our own.
        let member = load_or_join(&config, &state_dir, &advert).await?;
        crate::observe::logs::hub().set_node(&file.node_id);
        // The event log is the head's; a member's stays empty (its calls go to the head).
        let events = Arc::new(match member {
            Some(_) => EventLog::in_memory(),
            None => EventLog::open(dir),
        });
        let identity = pki::load_or_create(dir, &file.node_id, config.node_cert_lifetime)?;
        let cert = Arc::new(LiveCert::new(dir, identity)?);
        pki::ensure_admin_cert(dir)?;
        let ca_pem = std::fs::read(TlsPaths::new(dir).ca_cert)
            .context("cannot read the cluster CA certificate")?;
        let mesh_crypto = mesh::client_config(dir, cert.clone())?;
        let endpoint = endpoint::endpoint(control, cert.clone(), &ca_pem)?;
        let mesh = Arc::new(Mesh::new(mesh_crypto.clone()));
        let routes = Arc::new(ArcSwap::from_pointee(RouteTable::default()));
        let tap: Arc<Tap> = Arc::default();
        let backlog = Arc::new(Backlog::new(
            config.max_queued_requests,
            config.max_buffered_bytes,
        ));
        let env = Arc::new(ReplicaEnv {
            routes: routes.clone(),
            kinds: config.kinds.clone(),
            tap: tap.clone(),
            node_id: file.node_id.clone(),
            backlog: backlog.clone(),
        });
        let (cluster, heartbeat) = match &member {
            Some(cluster_file) => {
                let agent = MemberAgent::new(
                    file.node_id.clone(),
                    Arc::new(LocalReplicas::default()),
                    mesh,
                    env.clone(),
                );
                let head = Arc::new(HeadAddress::new(
                    cluster_file.head.clone(),
                    cluster_file.head.resolve().await.unwrap_or_else(|e| {
                        warn!(head = %cluster_file.head, error = %e, "Cannot resolve the cluster head's name yet; the heartbeat will try again.");
                        SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0)
                    }),
                ));
                (
                    Cluster::member(cluster_file, head.clone(), agent),
                    Some((head, mesh_crypto, cert, advert)),
                )
            }
            None => (
                head_cluster(&config, &state_dir, advert, mesh, events.clone(), cert)?,
                None,
            ),
        };
        let controller = Controller::new(
            Store::new(dir),
            file.clone(),
            cluster.fleet().cloned(),
            events.clone(),
            env,
        )?;
        let readiness = match &cluster.role {
            Role::Member { agent, .. } => agent.readiness.clone(),
            Role::Head(_) => {
                let readiness = Arc::<ingress::Readiness>::default();
                readiness.routes_known();
                readiness
            }
        };
        Ok(Self {
            readiness,
            config,
            state_dir,
            listener,
            endpoint,
            controller,
            routes,
            token,
            file,
            cluster: Arc::new(cluster),
            heartbeat,
            live: Live {
                events,
                tap,
                window: Arc::default(),
            },
            backlog,
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

    /// What the process can still do with the node once it runs: reload files.
    pub fn handle(&self) -> NodeHandle {
        NodeHandle {
            controller: self.controller.clone(),
            cluster: self.cluster.clone(),
            notify: self.config.notify.clone(),
        }
    }

    /// The event log, the tap point and the router window: what the
    /// streaming calls read.
    pub fn live(&self) -> &Live {
        &self.live
    }

    /// Addresses and ids of the started node.
    pub fn info(&self) -> &NodeFile {
        &self.file
    }

    /// Serves until `shutdown` (a signal or a `Shutdown` call), then drains.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let node_file = NodeFile::path(self.state_dir.path());
        crate::state_dir::write_atomic(&node_file, &serde_json::to_vec_pretty(&self.file)?)?;
        let controller_stop = CancellationToken::new();
        let controller_beat =
            Heartbeat::stalled_while("controller", self.config.stall_controller_while.clone());
        let ingress_beat = Heartbeat::new("ingress");
        let handle = self.handle();
        let controller = tokio::spawn(
            self.controller
                .clone()
                .run(controller_stop.clone(), controller_beat.clone()),
        );
        let cluster_stop = CancellationToken::new();
        let cluster_task = match (&self.cluster.role, self.heartbeat) {
            (Role::Member { agent, .. }, Some((head, crypto, cert, advert))) => {
                let beats = tokio::spawn(heartbeat::run(
                    head,
                    crypto,
                    cert,
                    advert,
                    agent.clone(),
                    self.live.window.clone(),
                    cluster_stop.clone(),
                ));
                tokio::spawn(leave_when_draining(
                    self.cluster.clone(),
                    beats,
                    shutdown.clone(),
                    cluster_stop.clone(),
                ))
            }
            (Role::Head(head), _) => tokio::spawn(head.clone().watch_members(cluster_stop.clone())),
            (Role::Member { .. }, None) => unreachable!("members are started with a heartbeat"),
        };
        let control = tokio::spawn(endpoint::serve(
            self.endpoint.clone(),
            endpoint::Context {
                controller: self.controller.clone(),
                token: self.token.clone(),
                node_id: self.file.node_id.clone(),
                shutdown: shutdown.clone(),
                cluster: self.cluster.clone(),
                live: self.live.clone(),
            },
        ));
        let sampler = tokio::spawn(sample_routers(
            self.routes.clone(),
            self.live.window.clone(),
            cluster_stop.clone(),
        ));
        info!(
            http = %self.file.http_address,
            control = %self.file.control_address,
            state_dir = %self.state_dir.path().display(),
            "rserve node ready."
        );
        // State restored, both sockets bound, the --deploy files accepted (the
        // caller deployed them before `run`): tell systemd. Connections that
        // arrive before the accept loop polls wait in the listen backlog.
        self.config.notify.ready(&handle.summary().await);
        let beats = vec![controller_beat, ingress_beat.clone()];
        let systemd = tokio::spawn(notify::supervise(
            self.config.notify.clone(),
            beats.clone(),
            move || {
                let handle = handle.clone();
                async move { handle.summary().await }
            },
            shutdown.clone(),
        ));
        ingress::serve(
            self.listener,
            self.routes.clone(),
            IngressConfig {
                max_body_bytes: self.config.max_body_bytes,
                drain_timeout: self.config.drain_timeout,
                heartbeat: Some(ingress_beat),
                tap: self.live.tap.clone(),
                node_id: self.file.node_id.clone(),
                limits: self.config.http_limits,
                backlog: self.backlog.clone(),
                readiness: self.readiness.clone(),
                liveness: beats,
            },
            shutdown.clone(),
        )
        .await;
        let _ = systemd.await;
        controller_stop.cancel();
        controller.await?;
        cluster_stop.cancel();
        let _ = cluster_task.await;
        let _ = sampler.await;
        if let Role::Member { agent, .. } = &self.cluster.role {
            agent.shutdown().await;
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

/// A running node, as its process sees it: `SIGHUP` re-deploys the `--deploy`
/// files through it, with systemd told about the reload.
#[derive(Clone)]
pub struct NodeHandle {
    controller: Arc<Controller>,
    cluster: Arc<Cluster>,
    notify: Notifier,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle").finish_non_exhaustive()
    }
}

impl NodeHandle {
    /// Deploys a file, as `rserve deploy` does (an unchanged file changes nothing).
    pub async fn deploy(
        &self,
        file_name: &str,
        file: rserve_protocol::AppFile,
    ) -> Result<Vec<rserve_protocol::wire::AppChange>, rserve_protocol::wire::WireError> {
        self.controller.deploy(file_name, file).await
    }

    /// Runs `reload` between `RELOADING=1` (with `MONOTONIC_USEC`) and
    /// `READY=1` with a fresh status line.
    pub async fn reload<T>(&self, reload: impl Future<Output = T>) -> T {
        self.notify.reloading();
        let out = reload.await;
        self.notify.ready(&self.summary().await);
        out
    }

    /// The node in one line, for `systemctl status`.
    pub async fn summary(&self) -> String {
        match &self.cluster.role {
            Role::Member { head, agent, .. } => {
                let reports = agent.reports();
                Summary::Member {
                    head: head.name().to_string(),
                    running: reports
                        .iter()
                        .filter(|r| r.phase == ReportedPhase::Running)
                        .count(),
                    replicas: reports.len(),
                }
            }
            Role::Head(head) => {
                let (mut running, mut target) = (0, 0);
                let apps = match self.controller.status(None).await {
                    Ok(status) => {
                        for dep in status
                            .applications
                            .values()
                            .flat_map(|a| a.deployments.values())
                        {
                            target += dep.target_num_replicas;
                            running += dep
                                .replica_states
                                .get(&ReplicaState::Running)
                                .copied()
                                .unwrap_or(0);
                        }
                        status.applications.len()
                    }
                    Err(_) => 0,
                };
                Summary::Head {
                    apps,
                    running,
                    target,
                    nodes: head.fleet.hosts().len(),
                }
            }
        }
        .to_string()
    }
}

/// Samples the routers every [`SAMPLE_PERIOD`] for `rserve routes`, until `stop`.
async fn sample_routers(routes: Arc<Routes>, window: Arc<RouterWindow>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(SAMPLE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        window.sample(crate::observe::window::now_s(), routes.load().snapshot());
    }
}

/// The cluster of a head: its CA, tokens and persisted members, and the fleet
/// its controller places replicas through.
fn head_cluster(
    config: &NodeConfig,
    state_dir: &StateDir,
    advert: NodeAdvert,
    mesh: Arc<Mesh>,
    events: Arc<EventLog>,
    cert: Arc<LiveCert>,
) -> Result<Cluster, StartError> {
    let host = Host {
        node_id: advert.node_id.clone(),
        address: advert
            .control_address
            .parse()
            .context("the head's control address")?,
        resources: advert.resources.clone(),
        labels: advert.labels.clone(),
    };
    let fleet = Arc::new(Fleet::new(host, mesh, Arc::new(LocalReplicas::default())));
    let certs = HeadCerts {
        cert,
        lifetime: config.node_cert_lifetime,
    };
    let head = Head::load(
        state_dir.path(),
        advert,
        config.node_timeout,
        fleet,
        events,
        certs,
    )
    .map_err(|e| match e.downcast::<StateFileError>() {
        Ok(corrupt) => StartError::State(corrupt),
        Err(e) => StartError::Other(e),
    })?
    .with_pool_tokens(config.pool_tokens.clone());
    Ok(Cluster::head(head))
}

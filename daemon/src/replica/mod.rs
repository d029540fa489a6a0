//! Replicas: supervised in-process workers, each with its own backend instance.
//!
//! A [`Replica`] is shared between the router (which reserves capacity on it), the
//! ingress (which calls it) and its supervisor task (which starts the backend, runs
//! health checks and drains it on stop). The controller only reads its [`Phase`]:
//! a replica never restarts itself; a failed one is replaced by the controller with
//! backoff, so the deployment's status can say why.

mod backend;
pub mod batcher;
mod chat;
mod compute;
pub mod engine;
pub mod multiplex;
pub mod openai;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use rserve_protocol::config::DeploymentConfig;
use rserve_protocol::status::{BatchFigures, ReplicaState};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use backend::Backend;
pub use multiplex::ModelSet;

/// Consecutive failed health checks after which a replica is replaced (Ray's threshold).
pub const HEALTH_CHECK_FAILURE_THRESHOLD: u32 = 3;

/// A request as a replica sees it.
#[derive(Debug)]
pub struct ReplicaRequest {
    /// HTTP method.
    pub method: Method,
    /// The full request path (including the application's route prefix).
    pub path: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The whole request body.
    pub body: Bytes,
}

/// A replica's answer.
#[derive(Debug)]
pub struct ReplicaResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// `content-type` of the body.
    pub content_type: HeaderValue,
    /// Further response headers.
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
    /// When set, the body is streamed from here instead (server-sent events).
    pub stream: Option<tokio::sync::mpsc::Receiver<Bytes>>,
}

impl ReplicaResponse {
    /// A JSON response.
    pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        Self {
            status,
            content_type: HeaderValue::from_static("application/json"),
            headers: Vec::new(),
            body: body.into(),
            stream: None,
        }
    }

    /// An error response with OpenAI's error object (no `param`).
    pub fn error(status: StatusCode, kind: &str, message: impl std::fmt::Display) -> Self {
        openai::error(status, kind, None, message)
    }
}

/// The replica's timing settings (Ray updates these without a restart).
#[derive(Debug, Clone, Copy)]
struct Timing {
    health_period: Duration,
    health_timeout: Duration,
    drain_poll: Duration,
    drain_timeout: Duration,
}

impl Timing {
    fn of(config: &DeploymentConfig) -> Self {
        Self {
            health_period: Duration::from_secs_f64(config.health_check_period_s),
            health_timeout: Duration::from_secs_f64(config.health_check_timeout_s),
            drain_poll: Duration::from_secs_f64(config.graceful_shutdown_wait_loop_s),
            drain_timeout: Duration::from_secs_f64(config.graceful_shutdown_timeout_s),
        }
    }
}

/// Where a replica is in its life, as the controller sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// The backend is being constructed (model loading).
    Starting,
    /// Serving.
    Running,
    /// Draining in-flight requests.
    Stopping,
    /// Gone after a stop.
    Stopped,
    /// Gone after a failure; the controller replaces it.
    Failed {
        /// Whether it failed before it ever ran (constructor failure).
        during_startup: bool,
        /// What happened.
        reason: String,
    },
}

/// Where a replica that runs on another node is, and how to reach it.
#[derive(Debug, Clone)]
pub struct RemoteTarget {
    /// The node that runs it.
    pub node_id: String,
    /// That node's control address.
    pub address: std::net::SocketAddr,
    /// Connections to other nodes.
    pub mesh: Arc<crate::cluster::mesh::Mesh>,
}

/// Replicas hosted by this process, by id: what requests forwarded from other
/// nodes are served by.
#[derive(Debug, Default)]
pub struct LocalReplicas {
    by_id: Mutex<std::collections::HashMap<String, Arc<Replica>>>,
}

impl LocalReplicas {
    /// Registers a replica hosted here.
    pub fn insert(&self, replica: Arc<Replica>) {
        self.by_id
            .lock()
            .unwrap()
            .insert(replica.id.clone(), replica);
    }

    /// The replica `id`, if hosted here.
    pub fn get(&self, id: &str) -> Option<Arc<Replica>> {
        self.by_id.lock().unwrap().get(id).cloned()
    }

    /// Forgets replicas that are gone.
    pub fn prune(&self) {
        self.by_id
            .lock()
            .unwrap()
            .retain(|_, r| !matches!(r.phase(), Phase::Stopped | Phase::Failed { .. }));
    }

    /// Every replica hosted here.
    pub fn all(&self) -> Vec<Arc<Replica>> {
        self.by_id.lock().unwrap().values().cloned().collect()
    }
}

/// One replica of a deployment.
pub struct Replica {
    id: String,
    app: String,
    deployment: String,
    ongoing: AtomicU32,
    max_ongoing: AtomicU32,
    phase: Mutex<Phase>,
    backend: Mutex<Option<Arc<Backend>>>,
    /// Wakes the supervisor when a request reports a crash.
    crashed: Notify,
    /// Health-check and drain timing, updated in place.
    timing: Mutex<Timing>,
    /// Batches run by this replica (kinds with `batching`).
    batches: Arc<Mutex<BatchFigures>>,
    /// Multiplexed models held (router view; published by the backend).
    models: Arc<ModelSet>,
    /// Set when the replica runs on another node (this is its proxy).
    remote: Option<RemoteTarget>,
    /// A proxy takes no requests before this (ms since [`EPOCH`]).
    suspended_until_ms: std::sync::atomic::AtomicU64,
    /// Notified when a proxy's phase changes (from its node's reports).
    remote_changed: Option<Arc<Notify>>,
    stop: CancellationToken,
    start_time: SystemTime,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Outcome of calling a replica that could not produce a response.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The replica crashed while handling this request.
    #[error("replica {replica} crashed while handling the request: {reason}")]
    Crashed {
        /// The replica.
        replica: String,
        /// The panic message.
        reason: String,
    },
    /// The replica is not running (stopped between routing and the call).
    #[error("replica {0} is not running")]
    NotRunning(String),
    /// The replica's node could not be reached, or the connection broke.
    #[error("replica {replica} on node {node} could not be reached: {reason}")]
    Remote {
        /// Whether the request reached the node (if not, it may go elsewhere).
        sent: bool,
        /// The replica.
        replica: String,
        /// Its node.
        node: String,
        /// What happened.
        reason: String,
    },
}

/// How long a proxy whose node did not answer takes no requests.
const SUSPEND_UNREACHABLE: Duration = Duration::from_secs(1);

/// The process's clock origin for suspensions.
static EPOCH: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

fn new_id(config: &DeploymentConfig) -> String {
    format!("{}-{:08x}", config.name, rand::random::<u32>())
}

impl Replica {
    /// Creates a replica of `config` and spawns its supervisor on `tasks`.
    /// `changed` is notified whenever the replica's phase changes.
    pub fn spawn(
        app: &str,
        config: &DeploymentConfig,
        changed: Arc<Notify>,
        tasks: &tokio_util::task::TaskTracker,
    ) -> Arc<Self> {
        Self::spawn_with_id(new_id(config), app, config, changed, tasks)
    }

    /// [`Replica::spawn`] with an id chosen elsewhere (by the cluster head).
    pub fn spawn_with_id(
        id: String,
        app: &str,
        config: &DeploymentConfig,
        changed: Arc<Notify>,
        tasks: &tokio_util::task::TaskTracker,
    ) -> Arc<Self> {
        let replica = Arc::new(Self::new(id, app, config, None, None));
        tasks.spawn(supervise(replica.clone(), config.clone(), changed));
        replica
    }

    /// A proxy for a replica that runs on another node: requests are forwarded
    /// there; its phase follows `phase` until the node reports (`apply_report`).
    pub fn remote(
        id: String,
        app: &str,
        config: &DeploymentConfig,
        target: RemoteTarget,
        phase: Phase,
        changed: Option<Arc<Notify>>,
    ) -> Arc<Self> {
        let replica = Self::new(id, app, config, Some(target), changed);
        *replica.phase.lock().unwrap() = phase;
        Arc::new(replica)
    }

    fn new(
        id: String,
        app: &str,
        config: &DeploymentConfig,
        remote: Option<RemoteTarget>,
        remote_changed: Option<Arc<Notify>>,
    ) -> Self {
        Self {
            id,
            app: app.to_owned(),
            deployment: config.name.clone(),
            ongoing: AtomicU32::new(0),
            max_ongoing: AtomicU32::new(config.max_ongoing_requests),
            phase: Mutex::new(Phase::Starting),
            backend: Mutex::new(None),
            crashed: Notify::new(),
            batches: Arc::new(Mutex::new(BatchFigures::default())),
            models: Arc::new(ModelSet::default()),
            remote,
            remote_changed,
            suspended_until_ms: std::sync::atomic::AtomicU64::new(0),
            timing: Mutex::new(Timing::of(config)),
            stop: CancellationToken::new(),
            start_time: SystemTime::now(),
        }
    }

    /// The node a proxy's replica runs on (`None`: this process).
    pub fn remote_target(&self) -> Option<&RemoteTarget> {
        self.remote.as_ref()
    }

    /// A proxy's phase as its node reported it.
    pub fn apply_report(&self, phase: Phase) {
        let mut current = self.phase.lock().unwrap();
        // Failures and stops are final.
        if matches!(*current, Phase::Stopped | Phase::Failed { .. }) || *current == phase {
            return;
        }
        *current = phase;
        drop(current);
        if let Some(changed) = &self.remote_changed {
            changed.notify_one();
        }
    }

    /// The replica id, `<deployment>-<hex>`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its application.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Its deployment.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase.lock().unwrap().clone()
    }

    /// The phase as Ray's `ReplicaState`, or `None` once it is gone.
    pub fn state(&self) -> Option<ReplicaState> {
        match *self.phase.lock().unwrap() {
            Phase::Starting => Some(ReplicaState::Starting),
            Phase::Running => Some(ReplicaState::Running),
            Phase::Stopping => Some(ReplicaState::Stopping),
            Phase::Stopped | Phase::Failed { .. } => None,
        }
    }

    /// Unix start time in seconds.
    pub fn start_time_s(&self) -> f64 {
        self.start_time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    }

    /// Applies new health-check and graceful-shutdown settings in place.
    pub fn set_timing(&self, config: &DeploymentConfig) {
        *self.timing.lock().unwrap() = Timing::of(config);
    }

    fn timing(&self) -> Timing {
        *self.timing.lock().unwrap()
    }

    /// Batches this replica has run.
    pub fn batch_figures(&self) -> BatchFigures {
        self.batches.lock().unwrap().clone()
    }

    /// Multiplexed models this replica holds (or is about to load).
    pub fn models(&self) -> &ModelSet {
        &self.models
    }

    /// Requests in flight.
    pub fn ongoing(&self) -> u32 {
        self.ongoing.load(Ordering::SeqCst)
    }

    /// Applies a new `max_ongoing_requests` in place (no restart).
    pub fn set_max_ongoing(&self, max: u32) {
        self.max_ongoing.store(max, Ordering::SeqCst);
    }

    /// Takes no requests for `how_long` (a proxy whose node is unreachable).
    fn suspend(&self, how_long: Duration) {
        let until = EPOCH.elapsed() + how_long;
        self.suspended_until_ms
            .store(until.as_millis() as u64, Ordering::SeqCst);
    }

    /// Takes one request slot if the replica is below `max_ongoing_requests`.
    /// The caller must [`release`](Self::release) it.
    pub(crate) fn try_reserve(&self) -> bool {
        if self.remote.is_some()
            && (EPOCH.elapsed().as_millis() as u64)
                < self.suspended_until_ms.load(Ordering::Relaxed)
        {
            return false;
        }
        let max = self.max_ongoing.load(Ordering::SeqCst);
        self.ongoing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Returns a slot taken by [`try_reserve`](Self::try_reserve).
    pub(crate) fn release(&self) {
        self.ongoing.fetch_sub(1, Ordering::SeqCst);
    }

    /// Asks the replica to drain and stop (a proxy asks its node).
    pub fn stop(&self) {
        self.stop.cancel();
        if let Some(target) = self.remote.clone() {
            {
                let mut phase = self.phase.lock().unwrap();
                if matches!(*phase, Phase::Starting | Phase::Running) {
                    *phase = Phase::Stopping;
                }
            }
            let id = self.id.clone();
            tokio::spawn(async move {
                let request = rserve_protocol::wire::Request::StopReplica {
                    replica_id: id.clone(),
                };
                if let Err(e) = target.mesh.call(target.address, &request).await {
                    warn!(replica = %id, node = %target.node_id, error = %e, "Cannot ask a node to stop a replica.");
                }
            });
        }
    }

    /// Handles one request. The caller holds a reserved slot.
    pub async fn call(&self, req: ReplicaRequest) -> Result<ReplicaResponse, CallError> {
        if let Some(target) = &self.remote {
            return target
                .mesh
                .forward(target.address, &self.id, req)
                .await
                .map_err(|e| {
                    if e.suspend {
                        // Unreachable or gone: route around it until the head decides.
                        self.suspend(SUSPEND_UNREACHABLE);
                    }
                    CallError::Remote {
                        sent: e.sent,
                        replica: self.id.clone(),
                        node: target.node_id.clone(),
                        reason: e.reason,
                    }
                });
        }
        let backend = self.backend.lock().unwrap().clone();
        let Some(backend) = backend else {
            return Err(CallError::NotRunning(self.id.clone()));
        };
        let reason = match std::panic::AssertUnwindSafe(backend.call(req))
            .catch_unwind()
            .await
        {
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(backend::Crash(reason))) => reason,
            Err(panic) => panic_message(&panic),
        };
        self.fail(false, reason.clone());
        Err(CallError::Crashed {
            replica: self.id.clone(),
            reason,
        })
    }

    fn set_phase(&self, phase: Phase, changed: &Notify) {
        *self.phase.lock().unwrap() = phase;
        changed.notify_one();
    }

    /// Marks the replica failed (first failure wins) and wakes its supervisor.
    fn fail(&self, during_startup: bool, reason: String) {
        let mut phase = self.phase.lock().unwrap();
        if matches!(*phase, Phase::Starting | Phase::Running) {
            *phase = Phase::Failed {
                during_startup,
                reason,
            };
        }
        drop(phase);
        self.crashed.notify_one();
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("panicked: {msg}")
}

/// The replica's life: construct, serve with health checks, drain, stop.
async fn supervise(replica: Arc<Replica>, config: DeploymentConfig, changed: Arc<Notify>) {
    let id = replica.id.clone();
    let backend = tokio::select! {
        built = Backend::start(&config, replica.batches.clone(), replica.models.clone(), {
            let weak = Arc::downgrade(&replica);
            Arc::new(move |reason: String| {
                if let Some(replica) = weak.upgrade() {
                    replica.fail(false, reason);
                }
            })
        }) => built,
        () = replica.stop.cancelled() => {
            replica.set_phase(Phase::Stopped, &changed);
            return;
        }
    };
    let backend = match backend {
        Ok(backend) => Arc::new(backend),
        Err(reason) => {
            warn!(replica = %id, app = %replica.app, %reason, "Replica failed to start.");
            replica.fail(true, reason);
            changed.notify_one();
            return;
        }
    };
    *replica.backend.lock().unwrap() = Some(backend.clone());
    replica.set_phase(Phase::Running, &changed);
    info!(replica = %id, app = %replica.app, deployment = %replica.deployment, "Replica running.");

    let mut failures = 0;
    loop {
        // Read each round: health timing is updated in place (as in Ray).
        let Timing {
            health_period: period,
            health_timeout: timeout,
            ..
        } = replica.timing();
        tokio::select! {
            () = replica.stop.cancelled() => break,
            () = replica.crashed.notified() => {
                if let Phase::Failed { reason, .. } = replica.phase() {
                    warn!(replica = %id, %reason, "Replica crashed.");
                }
                *replica.backend.lock().unwrap() = None;
                changed.notify_one();
                return;
            }
            () = tokio::time::sleep(period) => {
                let check = tokio::time::timeout(timeout, backend.check_health()).await;
                let error = match check {
                    Ok(Ok(())) => { failures = 0; continue; }
                    Ok(Err(e)) => e,
                    Err(_) => format!("health check timed out after {timeout:?}"),
                };
                failures += 1;
                warn!(replica = %id, failures, %error, "Replica health check failed.");
                if failures >= HEALTH_CHECK_FAILURE_THRESHOLD {
                    replica.fail(false, format!(
                        "failed {failures} health checks in a row; last: {error}"
                    ));
                    *replica.backend.lock().unwrap() = None;
                    changed.notify_one();
                    return;
                }
            }
        }
    }

    // Graceful stop: the router no longer picks this replica; wait for in-flight
    // requests, polling like Ray's graceful_shutdown_wait_loop_s.
    replica.set_phase(Phase::Stopping, &changed);
    let Timing {
        drain_poll: poll,
        drain_timeout,
        ..
    } = replica.timing();
    let deadline = tokio::time::Instant::now() + drain_timeout;
    while replica.ongoing() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(poll).await;
    }
    if replica.ongoing() > 0 {
        warn!(replica = %id, ongoing = replica.ongoing(), "Replica stopped with requests in flight (graceful_shutdown_timeout_s).");
    }
    *replica.backend.lock().unwrap() = None;
    replica.set_phase(Phase::Stopped, &changed);
    info!(replica = %id, "Replica stopped.");
}

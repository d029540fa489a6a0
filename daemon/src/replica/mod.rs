//! Replicas: supervised in-process workers, and proxies of replicas that run
//! on other nodes, behind one type the router and the ingress use.
//!
//! A [`Replica`] is [`Local`](Replica::Local) (a [`LocalReplica`]: its kind's
//! handler, a supervisor task with health checks and the drain on stop) or
//! [`Remote`](Replica::Remote) (a [`RemoteReplica`]: requests are forwarded to
//! its node through a [`NodeLink`], and its phase follows that node's reports).
//! Both have the same capacity accounting (`max_ongoing_requests`), so the
//! router treats them alike. The controller only reads a replica's [`Phase`]: a
//! replica never restarts itself; a failed one is replaced by the controller
//! with backoff, so the deployment's status can say why.
//!
//! Layout: [`call`] request/response types (a leaf), [`phase`] the phase and
//! its wire and status forms, [`local`] and [`remote`] the two sides,
//! [`kinds`] what a local replica runs (one file per kind), and the machinery
//! kinds share: [`compute`] (a model's own thread), [`engine`] (continuous
//! batching), [`batcher`] (dynamic batching), [`multiplex`] (model LRU and
//! affinity bookkeeping), [`openai`] (OpenAI request and response bodies).

pub mod batcher;
pub mod call;
mod compute;
pub mod engine;
pub mod env;
mod kinds;
#[doc(hidden)]
pub use kinds::fuzz_completion;
mod local;
pub mod multiplex;
pub mod openai;
pub mod phase;
pub mod remote;
pub mod report;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rserve_protocol::config::DeploymentConfig;
use rserve_protocol::status::{BatchFigures, LoadSteps, ReplicaState};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::observe::RequestStats;

pub use call::{Attempt, CallError, ReplicaRequest, ReplicaResponse};
pub use env::ReplicaEnv;
pub use local::LocalReplica;
pub use multiplex::ModelSet;
pub use phase::Phase;
pub use remote::{ForwardError, NodeLink, RemoteReplica, RemoteTarget};

/// Consecutive failed health checks after which a replica is replaced (Ray's threshold).
pub const HEALTH_CHECK_FAILURE_THRESHOLD: u32 = 3;

/// A new replica id for a deployment: `<deployment>-<8 hex digits>`.
pub fn new_id(deployment: &str) -> String {
    format!("{deployment}-{:08x}", rand::random::<u32>())
}

/// One replica of a deployment, here or on another node.
#[derive(Debug)]
pub enum Replica {
    /// Runs in this process.
    Local(LocalReplica),
    /// Runs on another node; this is its proxy.
    Remote(RemoteReplica),
}

/// What every replica has, wherever it runs: its names, its capacity
/// accounting, its phase and the multiplexed models it holds.
#[derive(Debug)]
struct Core {
    id: String,
    /// `id` as a header value (`x-rserve-replica`), made once.
    id_header: http::HeaderValue,
    app: String,
    deployment: String,
    ongoing: AtomicU32,
    max_ongoing: AtomicU32,
    phase: Mutex<Phase>,
    /// Multiplexed models held (router view; published by the kind).
    models: Arc<ModelSet>,
    start_time: SystemTime,
    /// Requests this node's ingress sent it, answered (`rserve routes`).
    stats: RequestStats,
}

impl Core {
    fn new(id: String, app: &str, config: &DeploymentConfig, phase: Phase) -> Self {
        let id_header = http::HeaderValue::from_str(&id)
            .unwrap_or_else(|_| http::HeaderValue::from_static("invalid-replica-id"));
        Self {
            id,
            id_header,
            app: app.to_owned(),
            deployment: config.name.clone(),
            ongoing: AtomicU32::new(0),
            max_ongoing: AtomicU32::new(config.max_ongoing_requests),
            phase: Mutex::new(phase),
            models: Arc::new(ModelSet::default()),
            start_time: SystemTime::now(),
            stats: RequestStats::default(),
        }
    }

    fn phase(&self) -> Phase {
        self.phase.lock().unwrap().clone()
    }

    /// Takes one request slot if below `max_ongoing_requests`.
    fn try_reserve(&self) -> bool {
        let max = self.max_ongoing.load(Ordering::SeqCst);
        self.ongoing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }
}

impl Replica {
    /// Creates a local replica of `config` and spawns its supervisor on `tasks`.
    /// `changed` is notified whenever the replica's phase changes.
    pub fn spawn(
        app: &str,
        config: &DeploymentConfig,
        env: &Arc<ReplicaEnv>,
        changed: Arc<Notify>,
        tasks: &TaskTracker,
    ) -> Arc<Self> {
        Self::spawn_with_id(new_id(&config.name), app, config, env, changed, tasks)
    }

    /// [`Replica::spawn`] with an id chosen elsewhere (by the cluster head).
    pub fn spawn_with_id(
        id: String,
        app: &str,
        config: &DeploymentConfig,
        env: &Arc<ReplicaEnv>,
        changed: Arc<Notify>,
        tasks: &TaskTracker,
    ) -> Arc<Self> {
        let span = crate::observe::logs::replica_span(app, &config.name, &id);
        let core = Core::new(id, app, config, Phase::Starting);
        let replica = Arc::new(Self::Local(LocalReplica::new(core, config)));
        // Everything the replica logs, its model thread's too, is filed under it.
        tasks.spawn(
            local::supervise(replica.clone(), config.clone(), env.clone(), changed)
                .instrument(span),
        );
        replica
    }

    /// A proxy for a replica that runs on another node: requests are forwarded
    /// there; its phase starts at `phase` and then follows the node's reports
    /// ([`RemoteReplica::apply_report`]), notifying `changed`.
    pub fn remote(
        id: String,
        app: &str,
        config: &DeploymentConfig,
        target: RemoteTarget,
        phase: Phase,
        changed: Option<Arc<Notify>>,
    ) -> Arc<Self> {
        let core = Core::new(id, app, config, phase);
        Arc::new(Self::Remote(RemoteReplica::new(core, target, changed)))
    }

    fn core(&self) -> &Core {
        match self {
            Self::Local(local) => &local.core,
            Self::Remote(remote) => &remote.core,
        }
    }

    /// The replica id, `<deployment>-<hex>`.
    pub fn id(&self) -> &str {
        &self.core().id
    }

    /// Its id as the `x-rserve-replica` header value (a clone is a
    /// reference-count increment).
    pub fn id_header(&self) -> http::HeaderValue {
        self.core().id_header.clone()
    }

    /// Its application.
    pub fn app(&self) -> &str {
        &self.core().app
    }

    /// Its deployment.
    pub fn deployment(&self) -> &str {
        &self.core().deployment
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.core().phase()
    }

    /// The phase as Ray's `ReplicaState`, or `None` once it is gone.
    pub fn state(&self) -> Option<ReplicaState> {
        self.core().phase.lock().unwrap().state()
    }

    /// Whether it runs in this process.
    pub fn is_local(&self) -> bool {
        matches!(self, Self::Local(_))
    }

    /// The proxy's side, if the replica runs on another node.
    pub fn as_remote(&self) -> Option<&RemoteReplica> {
        match self {
            Self::Local(_) => None,
            Self::Remote(remote) => Some(remote),
        }
    }

    /// Where a proxy's replica runs (`None`: in this process).
    pub fn remote_target(&self) -> Option<&RemoteTarget> {
        self.as_remote().map(RemoteReplica::target)
    }

    /// Unix start time in seconds.
    pub fn start_time_s(&self) -> f64 {
        self.core()
            .start_time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
    }

    /// Applies new health-check and graceful-shutdown settings in place (a
    /// proxy's node applies its own).
    pub fn set_timing(&self, config: &DeploymentConfig) {
        if let Self::Local(local) = self {
            local.set_timing(config);
        }
    }

    /// Applies a new `user_config` in place (Ray's `reconfigure`) to a local
    /// replica of a kind written in Rust, if it differs from the one it runs
    /// with; a failed reconfigure fails the replica. A proxy's node applies
    /// its own (from the route table).
    pub fn reconfigure(self: &Arc<Self>, user_config: Option<&serde_json::Value>) {
        if let Self::Local(_) = self.as_ref() {
            local::reconfigure(self.clone(), user_config.cloned());
        }
    }

    /// Batches this replica has run (a proxy's are counted on its node).
    pub fn batch_figures(&self) -> BatchFigures {
        match self {
            Self::Local(local) => local.batch_figures(),
            Self::Remote(_) => BatchFigures::default(),
        }
    }

    /// Multiplexed models this replica holds (or is about to load).
    pub fn models(&self) -> &ModelSet {
        &self.core().models
    }

    /// How far a starting replica's model load has got (replicas on this
    /// node; a proxy does not know).
    pub fn loading(&self) -> Option<LoadSteps> {
        match self {
            Replica::Local(local) if self.phase() == Phase::Starting => local
                .load
                .get()
                .map(|(done, total)| LoadSteps { done, total }),
            _ => None,
        }
    }

    /// Requests this node's ingress sent it, answered (`rserve routes`).
    pub fn stats(&self) -> &RequestStats {
        &self.core().stats
    }

    /// Requests in flight.
    pub fn ongoing(&self) -> u32 {
        self.core().ongoing.load(Ordering::SeqCst)
    }

    /// Applies a new `max_ongoing_requests` in place (no restart).
    pub fn set_max_ongoing(&self, max: u32) {
        self.core().max_ongoing.store(max, Ordering::SeqCst);
    }

    /// Takes one request slot if the replica is below `max_ongoing_requests`
    /// (and, for a proxy, its node is not paused as unreachable; while its
    /// node keeps failing, one request at a time probes it). The caller must
    /// [`release`](Self::release) it.
    pub(crate) fn try_reserve(&self) -> bool {
        match self {
            Self::Local(_) => self.core().try_reserve(),
            Self::Remote(remote) if remote.suspended() => false,
            Self::Remote(remote) => {
                if !self.core().try_reserve() {
                    return false;
                }
                // Its node stopped answering: only a probe goes (a slot
                // taken and given back costs nothing to anyone).
                if !remote.may_try() {
                    self.release();
                    return false;
                }
                true
            }
        }
    }

    /// How long every call to a proxy's node has failed unreachable (never
    /// for a local replica).
    pub(crate) fn unreachable_for(&self) -> Option<std::time::Duration> {
        self.as_remote().and_then(RemoteReplica::unreachable_for)
    }

    /// Returns a slot taken by [`try_reserve`](Self::try_reserve).
    pub(crate) fn release(&self) {
        self.core().ongoing.fetch_sub(1, Ordering::SeqCst);
    }

    /// [`call`](Self::call) without a future where the replica answers at
    /// once (a local `echo`); otherwise the request comes back, to be
    /// [`call`](Self::call)ed.
    pub fn call_now(
        &self,
        req: ReplicaRequest,
    ) -> Attempt<Result<ReplicaResponse, CallError>, ReplicaRequest> {
        match self {
            Self::Local(local) => local.call_now(req),
            Self::Remote(_) => Attempt::Later(req),
        }
    }

    /// Asks the replica to drain and stop. A proxy asks its node, in a task
    /// on `tasks` (the caller's, so shutdown waits for it).
    pub fn stop(&self, tasks: &TaskTracker) {
        match self {
            Self::Local(local) => local.stop(),
            Self::Remote(remote) => remote.stop(tasks),
        }
    }

    /// Handles one request. The caller holds a reserved slot.
    pub async fn call(&self, req: ReplicaRequest) -> Result<ReplicaResponse, CallError> {
        match self {
            Self::Local(local) => local.call(req).await,
            // Boxed: a forward's future is large, and inline it would be
            // every local call's too.
            Self::Remote(remote) => Box::pin(remote.call(req)).await,
        }
    }
}

/// Replicas hosted by this process, by id: what requests forwarded from other
/// nodes are served by.
#[derive(Debug, Default)]
pub struct LocalReplicas {
    by_id: Mutex<HashMap<String, Arc<Replica>>>,
}

impl LocalReplicas {
    /// Registers a replica hosted here.
    pub fn insert(&self, replica: Arc<Replica>) {
        self.by_id
            .lock()
            .unwrap()
            .insert(replica.id().to_owned(), replica);
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
            .retain(|_, r| !r.phase().is_gone());
    }

    /// Every replica hosted here.
    pub fn all(&self) -> Vec<Arc<Replica>> {
        self.by_id.lock().unwrap().values().cloned().collect()
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

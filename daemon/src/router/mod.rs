//! The router: route prefix → deployment → replica.
//!
//! The route table ([`table`]) is an immutable snapshot swapped atomically; the
//! ingress reads it without a lock. Within a deployment ([`DeploymentRouter`]),
//! a request goes to the less loaded of two random replicas (power of two
//! choices over live in-flight counts), local replicas first, never past a
//! replica's `max_ongoing_requests`. When every replica is full, requests wait
//! in a per-deployment queue bounded by `max_queued_requests`; past the bound
//! they are refused (503). Under every deployment's bound, the node's
//! [`Backlog`] bounds queued requests and request bodies node-wide, so no
//! setting (Ray's default `-1` included) turns overload into memory.

mod backlog;
pub mod call;
mod table;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rserve_protocol::config::DeploymentConfig;
use tokio::sync::oneshot;

pub use backlog::{Backlog, BacklogFigures, DEFAULT_MAX_BYTES, DEFAULT_MAX_QUEUED, HeldBytes};
pub use table::{ModelRoute, Route, RouteTable, RouteTableBuilder, Routes};

use crate::observe::{DeploymentSnapshot, ReplicaSnapshot, RequestStats};
use crate::replica::Replica;
use crate::replica::remote::UNREACHABLE_LIMIT;

/// How long a request waits for a deployment that has no replica at all (while
/// it starts or recovers) before it is refused.
pub const NO_REPLICA_WAIT: Duration = Duration::from_secs(30);

/// Why a request could not be given a replica.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouteError {
    /// Every replica is at `max_ongoing_requests` and the queue is full.
    #[error(
        "deployment {deployment} is overloaded: {queued} requests queued (max_queued_requests = {max})"
    )]
    Overloaded {
        /// `app/deployment`.
        deployment: String,
        /// Requests waiting.
        queued: u64,
        /// The bound.
        max: i64,
    },
    /// The node's queue, over every deployment, is full.
    #[error(
        "the node is overloaded: {queued} requests queued over all deployments (--max-queued-requests = {max})"
    )]
    NodeOverloaded {
        /// Requests waiting on the node.
        queued: u64,
        /// The bound.
        max: u64,
    },
    /// The deployment has no running replica.
    #[error("deployment {deployment} has no running replica ({reason})")]
    Unavailable {
        /// `app/deployment`.
        deployment: String,
        /// Why (failed deploy, starting too long).
        reason: String,
    },
}

/// How long a request for a multiplexed model waits for a replica that holds
/// the model (or may load it under the model's replica target) before any
/// replica will do (Ray waits 1–2 s).
pub const MODEL_MATCH_WINDOW: Duration = Duration::from_secs(1);

/// A queued request: it is handed a replica whose slot is already reserved for
/// it, or told why not.
#[derive(Debug)]
struct Waiter {
    tx: oneshot::Sender<Result<Arc<Replica>, RouteError>>,
    /// The multiplexed model it asks for.
    model: Option<Arc<str>>,
    /// Shared with the waiting request.
    state: Arc<WaitState>,
}

/// What a queued request and its queue entry share.
#[derive(Debug, Default)]
struct WaitState {
    /// Past the matching window: any replica will do.
    relaxed: AtomicBool,
    /// Counted in the deployment's and the node's queue. Cleared once, by
    /// whoever ends the wait: a hand-over, a refusal, or the request leaving
    /// (its entry then stays in the queue until passed over or compacted,
    /// so leaving costs no search).
    waiting: AtomicBool,
}

/// `RSERVE_MULTIPLEX_ROUTING=random` turns model affinity off (requests for a
/// model go to any replica by two choices), to measure what affinity buys
/// (scripts/bench-multiplex.sh). Read once.
static RANDOM_MODEL_ROUTING: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    std::env::var("RSERVE_MULTIPLEX_ROUTING").is_ok_and(|v| v == "random")
});

/// Why a `DEPLOY_FAILED` deployment refuses requests.
const FAILED: &str = "its deployment failed";

/// Why requests are refused when no replica's node answers.
const UNREACHABLE: &str = "the nodes of all its replicas have been unreachable for 3 s";

/// How often a waiting request looks again for capacity that appeared without
/// a release (a paused proxy's pause ending).
const REDISPATCH: Duration = Duration::from_millis(250);

/// How far `dispatch` looks past the head of the queue for a request whose
/// model has a free replica (requests for other models may be waiting for theirs).
const DISPATCH_SCAN: usize = 64;

/// Request routing for one deployment, shared by every ingress connection.
#[derive(Debug)]
pub struct DeploymentRouter {
    name: String,
    replicas: ArcSwap<Vec<Arc<Replica>>>,
    /// Requests waiting for a slot, oldest first. A freed slot goes to the oldest
    /// waiter (FIFO, as Ray's router); new requests never pass queued ones.
    /// Entries of requests that left stay until passed over (see [`WaitState`]).
    waiters: Mutex<VecDeque<Waiter>>,
    /// Requests waiting (entries whose request left not counted), readable
    /// without the lock on the hot path.
    queued: AtomicU64,
    /// The node-wide bounds this deployment's queue counts against.
    backlog: Arc<Backlog>,
    max_queued: AtomicI64,
    /// Set while the deployment is DEPLOY_FAILED: requests are refused at once.
    failed: AtomicBool,
    /// Why requests are refused while `failed` is set.
    refusal: Mutex<&'static str>,
    /// Multiplexing: replicas each model may be loaded on before its requests
    /// wait for one of them (absent = 1).
    model_targets: ArcSwap<BTreeMap<String, u32>>,
    /// Whether the deployment is multiplexed.
    multiplexed: AtomicBool,
    /// Requests answered, for metrics.
    stats: RequestStats,
    /// What the controller says of the deployment's scale (on the head).
    scaling: ScalingFigures,
}

/// A deployment's scale as its controller last set it, for metrics.
#[derive(Debug, Default)]
pub struct ScalingFigures {
    /// The replica target; `u32::MAX` until the controller sets it (members).
    target: AtomicU64,
    /// Autoscaling decisions up, and down.
    ups: AtomicU64,
    downs: AtomicU64,
    /// Replicas of the target that no node has room for; `u64::MAX` until
    /// the controller sets it (members).
    unschedulable: AtomicU64,
}

/// A queued request's end of its hand-over; if the request goes away after a
/// replica was handed to it but before it took it, the slot is given back.
struct Waiting {
    rx: oneshot::Receiver<Result<Arc<Replica>, RouteError>>,
    router: Arc<DeploymentRouter>,
    model: Option<Arc<str>>,
    state: Arc<WaitState>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.rx.close();
        // Still queued: leave the count now; the entry is passed over later.
        self.router.unqueue(&self.state);
        if let Ok(Ok(replica)) = self.rx.try_recv() {
            if let Some(model) = &self.model {
                replica.models().finished(model);
            }
            replica.release();
            if self.router.queued.load(Ordering::SeqCst) > 0 {
                self.router.dispatch();
            }
        }
    }
}

/// A reserved slot on a replica; released when dropped.
#[derive(Debug)]
pub struct Permit {
    replica: Arc<Replica>,
    router: Arc<DeploymentRouter>,
    /// The multiplexed model the request asked for.
    model: Option<Arc<str>>,
}

impl Permit {
    /// The chosen replica.
    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(model) = &self.model {
            self.replica.models().finished(model);
        }
        self.replica.release();
        // SeqCst pairs with the enqueue in `acquire` (push, then re-dispatch):
        // either the waiter sees this release, or we see the waiter.
        if self.router.queued.load(Ordering::SeqCst) > 0 {
            self.router.dispatch();
        }
    }
}

impl DeploymentRouter {
    /// A router with no replicas yet, with a node backlog of its own (the
    /// default bounds). `name` is `app/deployment`.
    pub fn new(name: String, max_queued_requests: i64) -> Self {
        Self::on_node(name, max_queued_requests, Arc::default())
    }

    /// A router with no replicas yet whose queue counts against the node's
    /// `backlog`.
    pub fn on_node(name: String, max_queued_requests: i64, backlog: Arc<Backlog>) -> Self {
        Self {
            name,
            replicas: ArcSwap::from_pointee(Vec::new()),
            waiters: Mutex::new(VecDeque::new()),
            queued: AtomicU64::new(0),
            backlog,
            max_queued: AtomicI64::new(max_queued_requests),
            failed: AtomicBool::new(false),
            refusal: Mutex::new(FAILED),
            model_targets: ArcSwap::from_pointee(BTreeMap::new()),
            multiplexed: AtomicBool::new(false),
            stats: RequestStats::default(),
            scaling: ScalingFigures {
                target: AtomicU64::new(u64::MAX),
                unschedulable: AtomicU64::new(u64::MAX),
                ..ScalingFigures::default()
            },
        }
    }

    /// The router of deployment `config` of application `app`, on a node
    /// with `backlog`.
    pub fn for_deployment(app: &str, config: &DeploymentConfig, backlog: &Arc<Backlog>) -> Self {
        let router = Self::on_node(
            format!("{app}/{}", config.name),
            config.max_queued_requests,
            backlog.clone(),
        );
        router.configure(config);
        router
    }

    /// Applies a deployment's routing settings in place: `max_queued_requests`
    /// and multiplexing (with its per-model replica targets).
    pub fn configure(&self, config: &DeploymentConfig) {
        self.set_max_queued(config.max_queued_requests);
        self.set_multiplexing(
            config
                .multiplexing
                .as_ref()
                .map(|m| m.model_replicas.clone()),
        );
    }

    /// The deployment's live figures: requests answered, queue, replicas.
    pub fn snapshot(&self) -> DeploymentSnapshot {
        let (app, deployment) = self.name.split_once('/').unwrap_or(("", &self.name));
        DeploymentSnapshot {
            app: app.to_owned(),
            deployment: deployment.to_owned(),
            requests: self.stats.figures(),
            queued: self.queued(),
            target_replicas: u32::try_from(self.scaling.target.load(Ordering::Relaxed)).ok(),
            unschedulable_replicas: u32::try_from(
                self.scaling.unschedulable.load(Ordering::Relaxed),
            )
            .ok(),
            scale_ups: self.scaling.ups.load(Ordering::Relaxed),
            scale_downs: self.scaling.downs.load(Ordering::Relaxed),
            multiplexed: self.multiplexed(),
            replicas: self
                .replicas()
                .iter()
                .map(|r| {
                    let (model_loads, model_evictions) = r.models().load_counts();
                    ReplicaSnapshot {
                        replica_id: r.id().to_owned(),
                        ongoing: r.ongoing(),
                        hosted_here: r.is_local(),
                        requests: r.stats().figures(),
                        batches: r.batch_figures(),
                        models: r.models().loaded(),
                        model_loads,
                        model_evictions,
                    }
                })
                .collect(),
        }
    }

    /// Turns multiplexed routing on (with per-model replica targets) or off,
    /// in place.
    pub fn set_multiplexing(&self, targets: Option<BTreeMap<String, u32>>) {
        self.multiplexed.store(targets.is_some(), Ordering::SeqCst);
        self.model_targets
            .store(Arc::new(targets.unwrap_or_default()));
        self.dispatch();
    }

    /// Records the deployment's replica target (the head's controller).
    pub fn set_target(&self, target: u32) {
        self.scaling
            .target
            .store(u64::from(target), Ordering::Relaxed);
    }

    /// Records how many replicas of the target no node has room for (the
    /// head's controller).
    pub fn set_unschedulable(&self, replicas: u32) {
        self.scaling
            .unschedulable
            .store(u64::from(replicas), Ordering::Relaxed);
    }

    /// Counts an autoscaling decision.
    pub fn count_decision(&self, up: bool) {
        let counter = if up {
            &self.scaling.ups
        } else {
            &self.scaling.downs
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Request counters (metrics).
    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// Whether requests are routed by multiplexed model id.
    pub fn multiplexed(&self) -> bool {
        self.multiplexed.load(Ordering::Relaxed)
    }

    /// `app/deployment`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the set of replicas that may receive requests.
    pub fn set_replicas(&self, replicas: Vec<Arc<Replica>>) {
        self.replicas.store(Arc::new(replicas));
        self.dispatch();
    }

    /// The replicas that may receive requests.
    pub fn replicas(&self) -> Arc<Vec<Arc<Replica>>> {
        self.replicas.load_full()
    }

    /// Applies a new `max_queued_requests` in place.
    pub fn set_max_queued(&self, max: i64) {
        self.max_queued.store(max, Ordering::SeqCst);
    }

    /// Hands capacity that appeared without a release (a raised
    /// `max_ongoing_requests`) to waiting requests.
    pub fn capacity_changed(&self) {
        self.dispatch();
    }

    /// Marks the deployment failed (refuse at once, waiters included) or not.
    pub fn set_failed(&self, failed: bool) {
        if failed {
            self.refuse(FAILED);
        } else {
            self.failed.store(false, Ordering::SeqCst);
        }
    }

    /// The deployment is gone from this node (its application deleted, or
    /// it was removed from it): waiting requests are refused at once, and so
    /// is any request still routed here.
    pub fn retire(&self, reason: &'static str) {
        self.refuse(reason);
    }

    /// Refuses every waiting and future request with `reason` (503).
    fn refuse(&self, reason: &'static str) {
        *self.refusal.lock().unwrap() = reason;
        self.failed.store(true, Ordering::SeqCst);
        let mut waiters = self.waiters.lock().unwrap();
        for w in waiters.drain(..) {
            if self.unqueue(&w.state) {
                let _ = w.tx.send(Err(self.unavailable(reason)));
            }
        }
    }

    /// Requests waiting for a replica (those whose client left are not counted).
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::SeqCst)
    }

    /// Ends a wait, once: takes it out of the deployment's and the node's
    /// count. False when it had ended already.
    fn unqueue(&self, state: &WaitState) -> bool {
        let was = state.waiting.swap(false, Ordering::SeqCst);
        if was {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            self.backlog.dequeue();
        }
        was
    }

    /// Reserves a slot on a replica, waiting in the bounded FIFO queue if all are
    /// busy (or none is running yet). With a multiplexed `model`, replicas that
    /// hold it come first (see [`DeploymentRouter::try_reserve`]).
    pub async fn acquire(self: &Arc<Self>, model: Option<&str>) -> Result<Permit, RouteError> {
        if self.failed.load(Ordering::SeqCst) {
            return Err(self.unavailable(&self.refusal.lock().unwrap()));
        }
        if let Some(permit) = self.try_acquire(model) {
            return Ok(permit);
        }
        if self.all_unreachable() {
            return Err(self.unavailable(UNREACHABLE));
        }
        let model: Option<Arc<str>> = model.map(Arc::from);
        let (tx, rx) = oneshot::channel();
        let state = Arc::new(WaitState::default());
        // Dropped with this future (a client that left, a handle's timeout):
        // it leaves the queue's count, and a replica handed over meanwhile
        // gets its slot back.
        let mut waiting = Waiting {
            rx,
            router: self.clone(),
            model: model.clone(),
            state: state.clone(),
        };
        {
            let mut waiters = self.waiters.lock().unwrap();
            // Only this lock's holders add to `queued`, so the bound holds.
            let max = self.max_queued.load(Ordering::SeqCst);
            let queued = self.queued.load(Ordering::SeqCst);
            if max >= 0 && queued >= max as u64 {
                return Err(RouteError::Overloaded {
                    deployment: self.name.clone(),
                    queued,
                    max,
                });
            }
            if !self.backlog.enqueue() {
                return Err(RouteError::NodeOverloaded {
                    queued: self.backlog.figures().queued,
                    max: self.backlog.max_queued(),
                });
            }
            // Entries of requests that left are passed over by `dispatch`;
            // when they outnumber the living, drop them all (amortised O(1)
            // an arrival: each sweep removes at least as many as it keeps).
            if waiters.len() as u64 > 2 * queued + 64 {
                waiters.retain(|w| w.state.waiting.load(Ordering::SeqCst));
            }
            state.waiting.store(true, Ordering::SeqCst);
            waiters.push_back(Waiter {
                tx,
                model: model.clone(),
                state: state.clone(),
            });
            self.queued.fetch_add(1, Ordering::SeqCst);
        }
        // A slot may have been freed between the fast path and the push.
        self.dispatch();
        if model.is_some() {
            // Past the matching window any replica will do: look again then.
            tokio::select! {
                handed = &mut waiting.rx => return self.handed(handed, model),
                () = tokio::time::sleep(MODEL_MATCH_WINDOW) => {
                    state.relaxed.store(true, Ordering::SeqCst);
                    self.dispatch();
                }
            }
        }
        let deadline = self
            .replicas
            .load()
            .is_empty()
            .then(|| tokio::time::Instant::now() + NO_REPLICA_WAIT);
        loop {
            tokio::select! {
                handed = &mut waiting.rx => return self.handed(handed, model),
                // Capacity can also come back without a release: a proxy whose
                // node was unreachable is tried again after its pause.
                () = tokio::time::sleep(REDISPATCH) => self.dispatch(),
            }
            // Every replica's node stopped answering (a dead node the head
            // has not replaced, or a head that is gone): answer now.
            if self.all_unreachable() {
                waiting.rx.close();
                return match waiting.rx.try_recv() {
                    Ok(handed) => self.handed(Ok(handed), model),
                    Err(_) => Err(self.unavailable(UNREACHABLE)),
                };
            }
            // Nothing is running (starting, or recovering): bound the wait.
            if deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                waiting.rx.close();
                return match waiting.rx.try_recv() {
                    Ok(handed) => self.handed(Ok(handed), model),
                    Err(_) => Err(self.unavailable("none became ready in time")),
                };
            }
        }
    }

    /// Whether the deployment has replicas and every one of them is on a node
    /// that has not answered for [`UNREACHABLE_LIMIT`].
    pub(crate) fn all_unreachable(&self) -> bool {
        let replicas = self.replicas.load();
        !replicas.is_empty()
            && replicas
                .iter()
                .all(|r| r.unreachable_for().is_some_and(|d| d >= UNREACHABLE_LIMIT))
    }

    /// [`acquire`](Self::acquire)'s fast path: a free slot now, when
    /// nobody is queued ahead (and the deployment is not refusing).
    pub(crate) fn try_acquire(self: &Arc<Self>, model: Option<&str>) -> Option<Permit> {
        if self.queued.load(Ordering::SeqCst) != 0 {
            return None;
        }
        let replica = self.try_reserve(model, false)?;
        Some(self.permit(replica, model.map(Arc::from)))
    }

    fn handed(
        self: &Arc<Self>,
        handed: Result<Result<Arc<Replica>, RouteError>, oneshot::error::RecvError>,
        model: Option<Arc<str>>,
    ) -> Result<Permit, RouteError> {
        match handed {
            Ok(Ok(replica)) => Ok(self.permit(replica, model)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(self.unavailable("the router was reset")),
        }
    }

    /// Gives free slots to the oldest waiting requests. A request for a model
    /// whose replicas are all busy is passed over (up to [`DISPATCH_SCAN`]
    /// waiting requests deep) so requests behind it for other models are not
    /// held up. Entries of requests that left are removed on the way.
    fn dispatch(&self) {
        let mut waiters = self.waiters.lock().unwrap();
        let (mut i, mut scanned) = (0, 0);
        while i < waiters.len() && scanned < DISPATCH_SCAN {
            let w = &waiters[i];
            if !w.state.waiting.load(Ordering::SeqCst) {
                waiters.remove(i);
                continue;
            }
            scanned += 1;
            let relaxed = w.state.relaxed.load(Ordering::SeqCst);
            let Some(replica) = self.try_reserve(w.model.as_deref(), relaxed) else {
                if w.model.is_none() || relaxed {
                    break; // no free slot anywhere
                }
                i += 1;
                continue;
            };
            let waiter = waiters.remove(i).expect("index in range");
            let unhanded = if self.unqueue(&waiter.state) {
                waiter.tx.send(Ok(replica)).err().and_then(Result::ok)
            } else {
                Some(replica)
            };
            if let Some(replica) = unhanded {
                // The waiter left just now: give the slot back.
                if let Some(model) = &waiter.model {
                    replica.models().finished(model);
                }
                replica.release();
            }
        }
    }

    /// A permit for a reserved slot (already counted against its model).
    fn permit(self: &Arc<Self>, replica: Arc<Replica>, model: Option<Arc<str>>) -> Permit {
        Permit {
            replica,
            router: self.clone(),
            model,
        }
    }

    fn unavailable(&self, reason: &str) -> RouteError {
        RouteError::Unavailable {
            deployment: self.name.clone(),
            reason: reason.to_owned(),
        }
    }

    /// Reserves a slot for a request, the replica chosen by power of two choices
    /// within the first candidate tier that has a free slot:
    ///
    /// - no model: all replicas;
    /// - a multiplexed model: the replicas that hold it (loaded or being
    ///   loaded); then, if fewer replicas hold it than its target (default 1)
    ///   or the request is `relaxed` (waited past [`MODEL_MATCH_WINDOW`]), the
    ///   replicas with the fewest models, then all (Ray's rule). Otherwise it
    ///   waits for a holder, so a hot model does not spread over every
    ///   replica's cache.
    ///
    /// A reservation for a model is counted on the replica's [`ModelSet`]
    /// (released with the permit).
    ///
    /// [`ModelSet`]: crate::replica::ModelSet
    fn try_reserve(&self, model: Option<&str>, relaxed: bool) -> Option<Arc<Replica>> {
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let replicas = self.replicas.load();
        let Some(model) = model else {
            return Self::local_first(&replicas);
        };
        if *RANDOM_MODEL_ROUTING {
            let chosen = Self::two_choices(&replicas)?;
            chosen.models().routed(model);
            return Some(chosen);
        }
        let (holders, others): (Vec<_>, Vec<_>) = replicas
            .iter()
            .cloned()
            .partition(|r| r.models().holds(model));
        let chosen = Self::two_choices(&holders).or_else(|| {
            let target = self.model_targets.load().get(model).copied().unwrap_or(1) as usize;
            if !(relaxed || holders.len() < target) {
                return None;
            }
            let fewest = others.iter().map(|r| r.models().count()).min()?;
            let least_loaded: Vec<_> = others
                .iter()
                .filter(|r| r.models().count() == fewest)
                .cloned()
                .collect();
            Self::two_choices(&least_loaded).or_else(|| Self::two_choices(&others))
        })?;
        // Counted at once, so the next request for the model sees a holder.
        chosen.models().routed(model);
        Some(chosen)
    }

    /// Replicas on this node first (no hop), then any (Ray's locality
    /// preference): two choices within each set.
    fn local_first(replicas: &[Arc<Replica>]) -> Option<Arc<Replica>> {
        if replicas.iter().all(|r| r.is_local()) || !replicas.iter().any(|r| r.is_local()) {
            return Self::two_choices(replicas);
        }
        let local: Vec<Arc<Replica>> = replicas.iter().filter(|r| r.is_local()).cloned().collect();
        Self::two_choices(&local).or_else(|| Self::two_choices(replicas))
    }

    /// Power of two choices: the less loaded of two random replicas, falling back
    /// to a scan when both are full. The returned replica's slot is reserved.
    fn two_choices(replicas: &[Arc<Replica>]) -> Option<Arc<Replica>> {
        let n = replicas.len();
        match n {
            0 => None,
            1 => replicas[0].try_reserve().then(|| replicas[0].clone()),
            _ => {
                let i = rand::random_range(0..n);
                let mut j = rand::random_range(0..n - 1);
                if j >= i {
                    j += 1;
                }
                let (a, b) = (&replicas[i], &replicas[j]);
                let (first, second) = if a.ongoing() <= b.ongoing() {
                    (a, b)
                } else {
                    (b, a)
                };
                if first.try_reserve() {
                    return Some(first.clone());
                }
                if second.try_reserve() {
                    return Some(second.clone());
                }
                (1..n)
                    .map(|k| &replicas[(i + k) % n])
                    .find(|r| r.try_reserve())
                    .cloned()
            }
        }
    }
}

#[cfg(test)]
mod tests;

//! One deployment's reconcile state: its replicas, failures and status
//! ([`status`] derives and renders the status).

mod scaling;
mod status;

use std::sync::Arc;
use std::time::Duration;

use rserve_protocol::config::{DeploymentConfig, Replicas};
use rserve_protocol::status::{DeploymentStatus, DeploymentStatusTrigger as Trigger};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use std::collections::HashMap;

use rserve_protocol::stream::EventReason;
use rserve_protocol::wire::{ReplicaLocation, ReplicaReport, Request, Response};

use super::autoscale::Autoscaler;
use super::changes::KeyChanges;
use crate::cluster::fleet::Fleet;
use crate::cluster::placement::{Host, Placer, Usage};
use crate::observe::events::{EventLog, Subject};
use crate::replica::report::fingerprint;
use crate::replica::{Phase, RemoteTarget, Replica, ReplicaEnv};
use crate::router::DeploymentRouter;

/// Ray's `max_constructor_retry_count` default.
const MAX_CONSTRUCTOR_RETRIES: u32 = 20;
/// Ray's per-replica startup retry count.
const RETRIES_PER_REPLICA: u32 = 3;
/// First restart delay after a failure; doubles per consecutive failure.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest restart delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A replica the deployment manages, with what reconcile needs to know of it.
struct Managed {
    replica: Arc<Replica>,
    /// Config generation the replica was started with.
    generation: u64,
    /// Asked to stop (it no longer counts towards the target).
    stopping: bool,
    /// Its node (for events).
    node: String,
    /// Whether its RUNNING event was recorded.
    announced: bool,
}

/// Where reconcile records what happens (the cluster's event log) and which
/// node "here" is.
pub(super) struct Recorder<'a> {
    pub(super) events: &'a EventLog,
    pub(super) node_id: &'a str,
}

impl Recorder<'_> {
    fn replica(&self, reason: EventReason, m: &Managed, message: String) {
        let r = &m.replica;
        self.events.record(
            reason,
            Subject::replica(r.app(), r.deployment(), r.id(), &m.node),
            message,
        );
    }
}

/// Reconcile state of one deployment.
pub(super) struct DeploymentRuntime {
    pub(super) config: DeploymentConfig,
    pub(super) router: Arc<DeploymentRouter>,
    app: String,
    /// Bumped by every change that needs new replicas.
    generation: u64,
    replicas: Vec<Managed>,
    /// Replicas should all go (deployment or app being deleted).
    pub(super) retiring: bool,
    startup_failures_in_row: u32,
    failures_in_row: u32,
    total_failures: u64,
    next_start_at: Instant,
    deploy_failed: bool,
    last_failure: Option<String>,
    /// Why a replica could not be placed (no node has the resources).
    pending: Option<String>,
    /// How many could not be placed at that attempt.
    unplaced: usize,
    /// What the deployment is converging towards, for its status.
    goal: DeploymentStatus,
    status: DeploymentStatus,
    trigger: Trigger,
    /// The target and load history of an autoscaled deployment.
    autoscaler: Option<Autoscaler>,
    /// What replicas started here get from the node.
    env: Arc<ReplicaEnv>,
}

impl DeploymentRuntime {
    pub(super) fn new(app: &str, config: DeploymentConfig, env: Arc<ReplicaEnv>) -> Self {
        Self {
            router: Arc::new(DeploymentRouter::for_deployment(app, &config, &env.backlog)),
            env,
            app: app.to_owned(),
            autoscaler: match config.replicas() {
                Replicas::Auto(a) => Some(Autoscaler::new(a.initial_replicas)),
                Replicas::Fixed(_) => None,
            },
            config,
            generation: 0,
            replicas: Vec::new(),
            retiring: false,
            startup_failures_in_row: 0,
            failures_in_row: 0,
            total_failures: 0,
            next_start_at: Instant::now(),
            deploy_failed: false,
            last_failure: None,
            pending: None,
            unplaced: 0,
            goal: DeploymentStatus::Updating,
            status: DeploymentStatus::Updating,
            trigger: Trigger::ConfigUpdateStarted,
        }
    }

    /// Applies a new config: in place where Ray does (replica counts, limits,
    /// health and shutdown timing, user_config through reconfigure), with new
    /// replicas where the replica itself changes (kind, options, resources,
    /// handles, batching).
    pub(super) fn update(&mut self, config: DeploymentConfig) {
        if std::mem::take(&mut self.retiring) {
            self.router.set_failed(false); // deployed again while going away
        }
        let restart = !KeyChanges::between(&self.config, &config)
            .replacing
            .is_empty();
        let replaced = restart || self.deploy_failed;
        if replaced {
            self.generation += 1;
            self.deploy_failed = false;
            self.startup_failures_in_row = 0;
            self.failures_in_row = 0;
            self.next_start_at = Instant::now();
            self.router.set_failed(false);
            self.goal = DeploymentStatus::Updating;
        }
        let before = self.target();
        self.autoscaler = match (config.replicas(), self.autoscaler.take()) {
            (Replicas::Fixed(_), _) => None,
            // New bounds or delays apply in place; the target is kept (and
            // clamped into new bounds on the next tick).
            (Replicas::Auto(_), Some(scaler)) => Some(scaler),
            // Autoscaling switched on: start from where the deployment is.
            (Replicas::Auto(a), None) => Some(Autoscaler::new(
                before.max(a.min_replicas).min(a.max_replicas),
            )),
        };
        if !replaced {
            let after = match config.replicas() {
                Replicas::Fixed(n) => n,
                Replicas::Auto(_) => self.autoscaler.as_ref().map_or(before, |a| a.target),
            };
            if after > before {
                self.goal = DeploymentStatus::Upscaling;
            } else if after < before {
                self.goal = DeploymentStatus::Downscaling;
            }
        }
        self.router.configure(&config);
        for managed in &self.replicas {
            managed.replica.set_max_ongoing(config.max_ongoing_requests);
            managed.replica.set_timing(&config);
            // Not older generations: they are being replaced (maybe by another kind).
            if !replaced && !managed.stopping && managed.generation == self.generation {
                managed.replica.reconfigure(config.user_config.as_ref());
            }
        }
        self.router.capacity_changed();
        self.config = config;
    }

    /// Whether the deployment is `DEPLOY_FAILED` (a deploy of it starts new
    /// replicas even with an unchanged config).
    pub(super) fn deploy_failed(&self) -> bool {
        self.deploy_failed
    }

    /// Whether every replica is gone (after `retiring`).
    pub(super) fn is_empty(&self) -> bool {
        self.replicas.is_empty()
    }

    /// The node is shutting down: stops the replicas it runs itself; those on
    /// other nodes keep serving (a restarted head re-adopts them).
    pub(super) fn stop_local(&mut self, tasks: &TaskTracker) {
        for managed in &mut self.replicas {
            if managed.replica.is_local() {
                managed.stopping = true;
                managed.replica.stop(tasks);
            }
        }
        self.router.set_replicas(Vec::new());
    }

    /// One reconcile step: reap, start, stop, publish, and derive the status.
    /// In a cluster, `placement` chooses the node of each new replica.
    pub(super) fn reconcile(
        &mut self,
        now: Instant,
        changed: &Arc<Notify>,
        tasks: &TaskTracker,
        mut placement: Option<(&mut Placer, &Fleet)>,
        holding: bool,
        recorder: &Recorder<'_>,
    ) {
        self.reap(now, recorder);

        let target = self.target() as usize;
        self.router.set_target(self.target());
        let limit = RETRIES_PER_REPLICA
            .saturating_mul(self.target().max(1))
            .min(MAX_CONSTRUCTOR_RETRIES);
        if !self.deploy_failed && self.startup_failures_in_row >= limit.max(1) {
            self.deploy_failed = true;
            self.router.set_failed(true);
            warn!(app = %self.app, deployment = %self.config.name, failures = self.startup_failures_in_row,
                "Deployment failed: replicas keep failing to start.");
            recorder.events.record(
                EventReason::DeployFailed,
                Subject::deployment(&self.app, &self.config.name),
                format!(
                    "{} replicas in a row failed to start; last: {}",
                    self.startup_failures_in_row,
                    self.last_failure.as_deref().unwrap_or("unknown")
                ),
            );
        }

        let current = |s: &Managed, generation: u64| s.generation == generation && !s.stopping;
        let live = self
            .replicas
            .iter()
            .filter(|m| current(m, self.generation))
            .count();
        let was_pending = self.pending.take();
        if live < target && !self.deploy_failed && (now < self.next_start_at || holding) {
            // Not placing now (backoff, hold): what could not be placed still cannot.
            self.pending = was_pending;
        } else if live < target && !self.deploy_failed {
            for placed in live..target {
                let replica = match placement.as_mut() {
                    None => {
                        Replica::spawn(&self.app, &self.config, &self.env, changed.clone(), tasks)
                    }
                    Some((placer, fleet)) => match self.place(placer, fleet, changed, tasks) {
                        Ok(replica) => replica,
                        Err(reason) => {
                            if was_pending.as_deref() != Some(reason.as_str()) {
                                recorder.events.record(
                                    EventReason::Unschedulable,
                                    Subject::deployment(&self.app, &self.config.name),
                                    reason.clone(),
                                );
                            }
                            self.pending = Some(reason);
                            self.unplaced = target - placed;
                            break;
                        }
                    },
                };
                info!(replica = replica.id(), app = %self.app, node = replica.remote_target().map_or("local", |t| t.node_id.as_str()), "Replica starting.");
                let node = replica
                    .remote_target()
                    .map_or(recorder.node_id, |t| t.node_id.as_str())
                    .to_owned();
                let managed = Managed {
                    replica,
                    generation: self.generation,
                    stopping: false,
                    announced: false,
                    node,
                };
                recorder.replica(
                    EventReason::ReplicaStarting,
                    &managed,
                    format!("placed on node {}", managed.node),
                );
                self.replicas.push(managed);
            }
        } else if live > target {
            // Stop the least useful first: still starting; then on the node
            // holding the most of this deployment (spread stays even); then
            // the least busy (fewest requests to drain); then the youngest.
            let mut extra: Vec<usize> = (0..self.replicas.len())
                .filter(|&i| current(&self.replicas[i], self.generation))
                .collect();
            let mut per_node: HashMap<&str, usize> = HashMap::new();
            for &i in &extra {
                *per_node.entry(self.replicas[i].node.as_str()).or_default() += 1;
            }
            extra.sort_by_key(|&i| {
                let m = &self.replicas[i];
                (
                    m.replica.phase() == Phase::Running,
                    std::cmp::Reverse(per_node[m.node.as_str()]),
                    m.replica.ongoing(),
                    std::cmp::Reverse(m.replica.start_time_s().to_bits()),
                )
            });
            for &i in extra.iter().take(live - target) {
                self.stop_at(i, tasks, recorder);
            }
        }
        let unschedulable = self.unschedulable(target);
        self.router
            .set_unschedulable(u32::try_from(unschedulable).unwrap_or(u32::MAX));

        // Start before stop: outdated replicas keep serving until enough new ones run.
        let new_running = self
            .replicas
            .iter()
            .filter(|m| current(m, self.generation) && m.replica.phase() == Phase::Running)
            .count();
        let keep_old = target.saturating_sub(new_running);
        let old: Vec<usize> = (0..self.replicas.len())
            .filter(|&i| {
                self.replicas[i].generation != self.generation && !self.replicas[i].stopping
            })
            .collect();
        for &i in old.iter().skip(keep_old) {
            self.stop_at(i, tasks, recorder);
        }

        self.publish();
        self.derive_status(target, new_running);
    }

    /// Drops replicas that are gone, recording failures and the restart backoff.
    fn reap(&mut self, now: Instant, recorder: &Recorder<'_>) {
        let mut i = 0;
        while i < self.replicas.len() {
            let managed = &mut self.replicas[i];
            let phase = managed.replica.phase();
            if phase == Phase::Running && !managed.announced {
                managed.announced = true;
                recorder.replica(EventReason::ReplicaRunning, managed, "RUNNING".to_owned());
            }
            let managed = &self.replicas[i];
            match phase {
                Phase::Failed {
                    during_startup,
                    reason,
                } => {
                    let id = managed.replica.id().to_owned();
                    let current = managed.generation == self.generation;
                    let what = if during_startup {
                        "failed to start"
                    } else {
                        "failed"
                    };
                    recorder.replica(
                        EventReason::ReplicaFailed,
                        managed,
                        format!("{what}: {reason}"),
                    );
                    self.replicas.swap_remove(i);
                    self.total_failures += 1;
                    self.last_failure = Some(format!("replica {id} {what}: {reason}"));
                    if !current {
                        continue;
                    }
                    self.failures_in_row += 1;
                    if during_startup {
                        self.startup_failures_in_row += 1;
                    } else if self.status == DeploymentStatus::Healthy {
                        self.goal = DeploymentStatus::Unhealthy;
                    }
                    let exp = self.failures_in_row.saturating_sub(1).min(16);
                    self.next_start_at = now + (BACKOFF_BASE * 2u32.pow(exp)).min(BACKOFF_MAX);
                }
                Phase::Stopped => {
                    recorder.replica(EventReason::ReplicaStopped, managed, "stopped".to_owned());
                    self.replicas.swap_remove(i);
                }
                Phase::Running if managed.generation == self.generation => {
                    self.startup_failures_in_row = 0;
                    self.failures_in_row = 0;
                    i += 1;
                }
                _ => i += 1,
            }
        }
    }

    /// Starts a replica on the node the placer picks: here, or on a member
    /// (a proxy here, `StartReplica` there).
    fn place(
        &self,
        placer: &mut Placer,
        fleet: &Fleet,
        changed: &Arc<Notify>,
        tasks: &TaskTracker,
    ) -> Result<Arc<Replica>, String> {
        let node = placer.place(&self.config, &self.per_node(&fleet.head.node_id))?;
        if node.node_id == fleet.head.node_id {
            let replica =
                Replica::spawn(&self.app, &self.config, &self.env, changed.clone(), tasks);
            fleet.local.insert(replica.clone());
            return Ok(replica);
        }
        let id = crate::replica::new_id(&self.config.name);
        let replica = self.proxy(id.clone(), &node, fleet, Phase::Starting, changed);
        let request = Request::StartReplica {
            app: self.app.clone(),
            replica_id: id,
            config: Box::new(self.config.clone()),
        };
        let proxy = replica.clone();
        let mesh = fleet.mesh.clone();
        tasks.spawn(async move {
            let refused = match mesh.call(node.address, &request).await {
                Ok(Response::Accepted) => return,
                Ok(other) => format!("node {} refused to start it: {other:?}", node.node_id),
                Err(e) => format!("cannot reach node {}: {e}", node.node_id),
            };
            if let Some(remote) = proxy.as_remote() {
                remote.apply_report(Phase::Failed {
                    during_startup: true,
                    reason: refused,
                });
            }
        });
        Ok(replica)
    }

    /// Takes over a replica a member still runs after the head restarted, if
    /// it is of the current config and one is missing. `false`: not wanted.
    pub(super) fn adopt(
        &mut self,
        node: Host,
        report: &ReplicaReport,
        fleet: &Fleet,
        changed: &Arc<Notify>,
    ) -> bool {
        let live = self
            .replicas
            .iter()
            .filter(|m| m.generation == self.generation && !m.stopping)
            .count();
        // An autoscaled deployment takes back what its members still run (up
        // to its max): a restarted head must not scale down on an empty history.
        let room = match &self.autoscaler {
            Some(_) if fleet.holding() => self.config.max_replicas(),
            _ => self.target(),
        };
        if self.retiring || live >= room as usize || fingerprint(&self.config) != report.fingerprint
        {
            return false;
        }
        if let Some(scaler) = &mut self.autoscaler {
            scaler.target = scaler.target.max(live as u32 + 1);
        }
        let replica = self.proxy(
            report.replica_id.clone(),
            &node,
            fleet,
            Phase::from(report),
            changed,
        );
        info!(replica = replica.id(), node = %node.node_id, app = %self.app, "Replica re-adopted after a head restart.");
        // Its RUNNING was recorded before the restart.
        let announced = replica.phase() == Phase::Running;
        self.replicas.push(Managed {
            replica,
            generation: self.generation,
            stopping: false,
            node: node.node_id.clone(),
            announced,
        });
        true
    }

    /// A proxy for replica `id` on `node`, known to the fleet (for reports).
    fn proxy(
        &self,
        id: String,
        node: &Host,
        fleet: &Fleet,
        phase: Phase,
        changed: &Arc<Notify>,
    ) -> Arc<Replica> {
        let replica = Replica::remote(
            id,
            &self.app,
            &self.config,
            RemoteTarget {
                node_id: node.node_id.clone(),
                address: node.address,
                link: fleet.mesh.clone(),
            },
            phase,
            Some(changed.clone()),
        );
        fleet.register_proxy(&replica);
        replica
    }

    /// Live replicas of this deployment per node.
    fn per_node(&self, head_id: &str) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for managed in self.replicas.iter().filter(|m| !m.stopping) {
            let node = managed
                .replica
                .remote_target()
                .map_or(head_id, |t| t.node_id.as_str());
            *counts.entry(node.to_owned()).or_insert(0) += 1;
        }
        counts
    }

    /// What this deployment's live replicas take on each node.
    pub(super) fn usage(&self, head_id: &str, usage: &mut HashMap<String, Usage>) {
        for managed in self.replicas.iter().filter(|m| !m.stopping) {
            let node = managed
                .replica
                .remote_target()
                .map_or(head_id, |t| t.node_id.as_str());
            let u = usage.entry(node.to_owned()).or_default();
            u.cpus += self.config.resources.num_cpus;
            u.gpus += self.config.resources.num_gpus;
            u.memory += self.config.resources.memory;
            u.replicas += 1;
        }
    }

    /// The running replicas and where they are, for the cluster route table.
    pub(super) fn locations(&self, head: &Host) -> Vec<ReplicaLocation> {
        self.replicas
            .iter()
            .filter(|m| !m.stopping && m.replica.phase() == Phase::Running)
            .map(|m| match m.replica.remote_target() {
                Some(t) => ReplicaLocation {
                    replica_id: m.replica.id().to_owned(),
                    node_id: t.node_id.clone(),
                    address: t.address.to_string(),
                },
                None => ReplicaLocation {
                    replica_id: m.replica.id().to_owned(),
                    node_id: head.node_id.clone(),
                    address: head.address.to_string(),
                },
            })
            .collect()
    }

    fn stop_at(&mut self, i: usize, tasks: &TaskTracker, recorder: &Recorder<'_>) {
        self.stop_because(i, tasks, recorder, "draining");
    }

    fn stop_because(&mut self, i: usize, tasks: &TaskTracker, recorder: &Recorder<'_>, why: &str) {
        let managed = &mut self.replicas[i];
        managed.stopping = true;
        managed.replica.stop(tasks);
        info!(replica = managed.replica.id(), why, "Replica stopping.");
        recorder.replica(EventReason::ReplicaStopping, managed, why.to_owned());
    }

    /// Stops replica `id` (not already stopping) so that the next reconcile
    /// starts a fresh one in its place; `false` if this deployment has no such
    /// replica.
    pub(super) fn restart(
        &mut self,
        id: &str,
        tasks: &TaskTracker,
        recorder: &Recorder<'_>,
    ) -> bool {
        let Some(i) = self
            .replicas
            .iter()
            .position(|m| !m.stopping && m.replica.id() == id)
        else {
            return false;
        };
        self.stop_because(i, tasks, recorder, "restarted by an operator: draining");
        true
    }

    /// Hands the router the replicas that may take requests, if that set changed.
    fn publish(&self) {
        let serving: Vec<Arc<Replica>> = self
            .replicas
            .iter()
            .filter(|m| !m.stopping && m.replica.phase() == Phase::Running)
            .map(|m| m.replica.clone())
            .collect();
        let current = self.router.replicas();
        let same = current.len() == serving.len()
            && current.iter().zip(&serving).all(|(a, b)| Arc::ptr_eq(a, b));
        if !same {
            self.router.set_replicas(serving);
        }
    }
}

//! A replica in this process: its kind's [`Handler`] and the supervisor task
//! that builds it, health-checks it, and drains it on stop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::FutureExt;
use rserve_models::LoadProgress;
use rserve_protocol::config::DeploymentConfig;
use rserve_protocol::status::BatchFigures;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::compute::Crash;
use super::env::ReplicaEnv;
use super::kinds::{Handler, StartContext};
use super::{
    Attempt, CallError, Core, HEALTH_CHECK_FAILURE_THRESHOLD, Phase, Replica, ReplicaRequest,
    ReplicaResponse, panic_message,
};

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

/// A replica hosted by this process.
pub struct LocalReplica {
    pub(super) core: Core,
    /// Set while running.
    /// Set while running (read on every request without a lock).
    handler: ArcSwapOption<Handler>,
    /// Wakes the supervisor when a request reports a crash.
    crashed: Notify,
    /// Health-check and drain timing, updated in place.
    timing: Mutex<Timing>,
    /// Batches run by this replica (kinds that batch).
    batches: Arc<Mutex<BatchFigures>>,
    /// How far the current start's model load has got (model kinds).
    pub(super) load: Arc<LoadProgress>,
    /// The `user_config` the replica should run with (changed in place by
    /// reconfigure; one that arrives while it starts is applied once it runs).
    user_config: Mutex<Option<serde_json::Value>>,
    /// Held while a reconfigure runs: one at a time.
    applying: Arc<tokio::sync::Mutex<()>>,
    stop: CancellationToken,
}

impl std::fmt::Debug for LocalReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalReplica")
            .field("id", &self.core.id)
            .finish_non_exhaustive()
    }
}

impl LocalReplica {
    pub(super) fn new(core: Core, config: &DeploymentConfig) -> Self {
        Self {
            core,
            handler: ArcSwapOption::empty(),
            crashed: Notify::new(),
            timing: Mutex::new(Timing::of(config)),
            batches: Arc::new(Mutex::new(BatchFigures::default())),
            load: Arc::default(),
            user_config: Mutex::new(config.user_config.clone()),
            applying: Arc::default(),
            stop: CancellationToken::new(),
        }
    }

    pub(super) fn set_timing(&self, config: &DeploymentConfig) {
        *self.timing.lock().unwrap() = Timing::of(config);
    }

    fn timing(&self) -> Timing {
        *self.timing.lock().unwrap()
    }

    pub(super) fn batch_figures(&self) -> BatchFigures {
        self.batches.lock().unwrap().clone()
    }

    pub(super) fn stop(&self) {
        self.stop.cancel();
    }

    pub(super) async fn call(&self, req: ReplicaRequest) -> Result<ReplicaResponse, CallError> {
        let Some(handler) = self.handler.load_full() else {
            return Err(self.not_running());
        };
        let reason = match std::panic::AssertUnwindSafe(handler.call(req))
            .catch_unwind()
            .await
        {
            Ok(Ok(response)) => return Ok(response),
            Ok(Err(Crash(reason))) => reason,
            Err(panic) => panic_message(&panic),
        };
        Err(self.crashed(reason))
    }

    /// [`call`](Self::call) without a future, for kinds that answer at
    /// once (`echo`); the request back for the others.
    pub(super) fn call_now(
        &self,
        req: ReplicaRequest,
    ) -> Attempt<Result<ReplicaResponse, CallError>, ReplicaRequest> {
        let handler = self.handler.load();
        let Some(handler) = handler.as_deref() else {
            return Attempt::Done(Err(self.not_running()));
        };
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.call_now(req))) {
            Ok(Attempt::Done(response)) => Attempt::Done(Ok(response)),
            Ok(Attempt::Later(req)) => Attempt::Later(req),
            Err(panic) => Attempt::Done(Err(self.crashed(panic_message(&panic)))),
        }
    }

    fn not_running(&self) -> CallError {
        CallError::NotRunning(self.core.id.clone())
    }

    /// A request crashed the replica: it fails (and is replaced).
    fn crashed(&self, reason: String) -> CallError {
        self.fail(false, reason.clone());
        CallError::Crashed {
            replica: self.core.id.clone(),
            reason,
        }
    }

    fn set_phase(&self, phase: Phase, changed: &Notify) {
        *self.core.phase.lock().unwrap() = phase;
        changed.notify_one();
    }

    /// Marks the replica failed (first failure wins) and wakes its supervisor.
    fn fail(&self, during_startup: bool, reason: String) {
        let mut phase = self.core.phase.lock().unwrap();
        if matches!(*phase, Phase::Starting | Phase::Running) {
            *phase = Phase::Failed {
                during_startup,
                reason,
            };
        }
        drop(phase);
        self.crashed.notify_one();
    }

    /// Drops the handler (its threads end once their queues drain).
    fn release_handler(&self) {
        self.handler.store(None);
    }
}

/// The replica's life: construct, serve with health checks, drain, stop.
/// Its kept log lines then become `--previous` lines.
pub(super) async fn supervise(
    replica: Arc<Replica>,
    config: DeploymentConfig,
    env: Arc<ReplicaEnv>,
    changed: Arc<Notify>,
) {
    let id = replica.id().to_owned();
    live(replica, config, env, changed).await;
    crate::observe::logs::hub().retire(&id);
}

async fn live(
    replica: Arc<Replica>,
    config: DeploymentConfig,
    env: Arc<ReplicaEnv>,
    changed: Arc<Notify>,
) {
    let Replica::Local(local) = replica.as_ref() else {
        unreachable!("only local replicas are supervised")
    };
    let id = local.core.id.clone();
    local.load.clear();
    let context = StartContext {
        app: local.core.app.clone(),
        replica_id: id.clone(),
        env,
        batches: local.batches.clone(),
        load: local.load.clone(),
        models: local.core.models.clone(),
        on_death: {
            let weak = Arc::downgrade(&replica);
            Arc::new(move |reason: String| {
                if let Some(Replica::Local(local)) = weak.upgrade().as_deref() {
                    local.fail(false, reason);
                }
            })
        },
    };
    let handler = tokio::select! {
        built = Handler::start(&config, context) => built,
        () = local.stop.cancelled() => {
            local.set_phase(Phase::Stopped, &changed);
            return;
        }
    };
    let handler = match handler {
        Ok(handler) => Arc::new(handler),
        Err(reason) => {
            warn!(replica = %id, app = %local.core.app, %reason, "Replica failed to start.");
            local.fail(true, reason);
            changed.notify_one();
            return;
        }
    };
    local.handler.store(Some(handler.clone()));
    local.set_phase(Phase::Running, &changed);
    // A user_config that changed while the replica started.
    let desired = local.user_config.lock().unwrap().clone();
    if desired != config.user_config {
        apply_user_config(replica.clone());
    }
    info!(replica = %id, app = %local.core.app, deployment = %local.core.deployment, "Replica running.");

    if serve(local, &handler).await == Ended::Failed {
        local.release_handler();
        changed.notify_one();
        return;
    }
    drain(local, &changed).await;
}

/// How serving ended.
#[derive(Debug, PartialEq)]
enum Ended {
    /// Asked to stop: drain.
    Stopped,
    /// Crashed or unhealthy; the replica is already marked failed.
    Failed,
}

/// Runs health checks until a stop or a failure.
async fn serve(local: &LocalReplica, handler: &Handler) -> Ended {
    let mut failures = 0;
    loop {
        // Read each round: health timing is updated in place (as in Ray).
        let Timing {
            health_period: period,
            health_timeout: timeout,
            ..
        } = local.timing();
        tokio::select! {
            () = local.stop.cancelled() => return Ended::Stopped,
            () = local.crashed.notified() => {
                if let Phase::Failed { reason, .. } = local.core.phase() {
                    warn!(replica = %local.core.id, %reason, "Replica crashed.");
                }
                return Ended::Failed;
            }
            () = tokio::time::sleep(period) => {
                // A user kind's check may panic: that fails the replica.
                let check = std::panic::AssertUnwindSafe(handler.check_health()).catch_unwind();
                let error = match tokio::time::timeout(timeout, check).await {
                    Ok(Ok(Ok(()))) => { failures = 0; continue; }
                    Ok(Ok(Err(e))) => e,
                    Ok(Err(panic)) => {
                        local.fail(false, format!("health check {}", panic_message(&panic)));
                        return Ended::Failed;
                    }
                    Err(_) => format!("health check timed out after {timeout:?}"),
                };
                failures += 1;
                warn!(replica = %local.core.id, failures, %error, "Replica health check failed.");
                if failures >= HEALTH_CHECK_FAILURE_THRESHOLD {
                    local.fail(false, format!(
                        "failed {failures} health checks in a row; last: {error}"
                    ));
                    return Ended::Failed;
                }
            }
        }
    }
}

/// Graceful stop: the router no longer picks this replica; wait for in-flight
/// requests, polling like Ray's `graceful_shutdown_wait_loop_s`.
async fn drain(local: &LocalReplica, changed: &Notify) {
    local.set_phase(Phase::Stopping, changed);
    let Timing {
        drain_poll: poll,
        drain_timeout,
        ..
    } = local.timing();
    let ongoing = || local.core.ongoing.load(std::sync::atomic::Ordering::SeqCst);
    let deadline = tokio::time::Instant::now() + drain_timeout;
    while ongoing() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(poll).await;
    }
    if ongoing() > 0 {
        warn!(replica = %local.core.id, ongoing = ongoing(), "Replica stopped with requests in flight (graceful_shutdown_timeout_s).");
    }
    // A user kind's shutdown hook: within what is left of the drain timeout
    // (at least a second), and a panic in it stops the replica all the same.
    let handler = local.handler.load_full();
    if let Some(handler) = handler {
        let left = deadline
            .saturating_duration_since(tokio::time::Instant::now())
            .max(SHUTDOWN_HOOK_MIN);
        let hook = std::panic::AssertUnwindSafe(handler.shutdown()).catch_unwind();
        match tokio::time::timeout(left, hook).await {
            Ok(Ok(())) => {}
            Ok(Err(panic)) => {
                warn!(replica = %local.core.id, error = %panic_message(&panic), "Shutdown hook failed.");
            }
            Err(_) => warn!(replica = %local.core.id, ?left, "Shutdown hook timed out."),
        }
    }
    local.release_handler();
    local.set_phase(Phase::Stopped, changed);
    info!(replica = %local.core.id, "Replica stopped.");
}

/// Least time a user kind's shutdown hook gets, even past the drain timeout.
const SHUTDOWN_HOOK_MIN: Duration = Duration::from_secs(1);

/// Applies `user_config` to a running replica in place, on its own task; a
/// failure fails the replica (the controller replaces it, and the new one
/// starts with the new config). Changes are applied one at a time, and the
/// newest one last.
pub(super) fn reconfigure(replica: Arc<Replica>, user_config: Option<serde_json::Value>) {
    let Replica::Local(local) = replica.as_ref() else {
        return;
    };
    {
        let mut desired = local.user_config.lock().unwrap();
        if *desired == user_config {
            return;
        }
        desired.clone_from(&user_config);
    }
    apply_user_config(replica.clone());
}

/// Hands the replica's newest desired `user_config` to the running kind, on
/// its own task. One apply runs at a time per replica (`applying`), and each
/// reads the newest value once it holds the turn, so the last change wins
/// however the tasks are scheduled.
fn apply_user_config(replica: Arc<Replica>) {
    let Replica::Local(local) = replica.as_ref() else {
        return;
    };
    let handler = local.handler.load_full();
    let Some(handler) = handler else {
        return;
    };
    let turn = local.applying.clone();
    let span = tracing::Span::current();
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            let Replica::Local(local) = replica.as_ref() else {
                return;
            };
            let _turn = turn.lock().await;
            let user_config = local.user_config.lock().unwrap().clone();
            match std::panic::AssertUnwindSafe(handler.reconfigure(user_config))
                .catch_unwind()
                .await
            {
                Ok(Ok(true)) => {
                    info!(replica = %local.core.id, "Applied a new user_config in place.")
                }
                Ok(Ok(false)) => {}
                Ok(Err(reason)) => {
                    warn!(replica = %local.core.id, %reason, "Reconfigure failed.");
                    local.fail(false, reason);
                }
                Err(panic) => local.fail(false, format!("reconfigure {}", panic_message(&panic))),
            }
        },
        span,
    ));
}

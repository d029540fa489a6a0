//! The controller: desired state in, running replicas and a route table out.
//!
//! Deploy and delete calls change the desired state, which is persisted before it
//! is acted on; the reconcile loop then converges replicas towards it (on every
//! replica phase change and at least every [`RECONCILE_INTERVAL`]), and publishes a
//! new route table snapshot when the set of applications changes.
//!
//! Two locks: `writer` orders the calls that change the desired state (one at
//! a time, each persisted before it takes effect); `state` guards what
//! reconcile and status read, and is never held across the state file's
//! fsync, so status answers while a deploy is being written. A deploy or delete
//! runs on its own task, so a caller that goes away mid-call cannot leave the
//! file on disk ahead of the state in memory.

pub mod autoscale;
mod changes;
mod deployment;
mod restart;
mod routing;
mod scale;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use rserve_protocol::config::{AppConfig, AppFile};
use rserve_protocol::status::{
    ApplicationDetails, ApplicationStatus, DeploymentStatus, NodeInfo, STATUS_API_VERSION,
    ServeStatus,
};
use rserve_protocol::stream::EventReason;
use rserve_protocol::wire::{AppChange, AppPlan, Change, ErrorCode, WireError};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use self::changes::{check_conflicts, plan_app, plan_changes};
use self::deployment::{DeploymentRuntime, Recorder};
use self::store::{AppRecord, DesiredState, Store};
use crate::cluster::fleet::Fleet;
use crate::cluster::placement::Placer;
use crate::notify::Heartbeat;
use crate::observe::events::{EventLog, Subject};
use crate::replica::ReplicaEnv;
use crate::router::Routes;
use crate::state_dir::{NodeFile, StateFileError};
use crate::unix_now_s as unix_now;

/// Ray's control loop interval.
pub const RECONCILE_INTERVAL: Duration = Duration::from_millis(100);

struct AppRuntime {
    config: AppConfig,
    deployed_at_s: f64,
    deleting: bool,
    deployments: BTreeMap<String, DeploymentRuntime>,
}

struct State {
    desired: DesiredState,
    apps: BTreeMap<String, AppRuntime>,
    route_version: u64,
}

/// The node's controller.
pub struct Controller {
    state: Mutex<State>,
    /// Held by deploy and delete for their whole course (validate, persist,
    /// apply): they change the desired state one at a time.
    writer: Mutex<()>,
    store: Store,
    routes: Arc<Routes>,
    changed: Arc<Notify>,
    tasks: TaskTracker,
    /// This node, for status.
    node: NodeFile,
    started: StdInstant,
    /// On the head: placement on other nodes, proxies, the cluster route table.
    fleet: Option<Arc<Fleet>>,
    /// The cluster's event log (on the head; members keep theirs in memory).
    events: Arc<EventLog>,
    /// What replicas started here get from the node (kinds, routes for handles).
    env: Arc<ReplicaEnv>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller").finish_non_exhaustive()
    }
}

impl Controller {
    /// Loads the persisted desired state; replicas start on the first reconcile.
    pub fn new(
        store: Store,
        node: NodeFile,
        fleet: Option<Arc<Fleet>>,
        events: Arc<EventLog>,
        env: Arc<ReplicaEnv>,
    ) -> Result<Arc<Self>, StateFileError> {
        let desired = store.load()?;
        let mut state = State {
            desired: desired.clone(),
            apps: BTreeMap::new(),
            route_version: 0,
        };
        for record in desired.applications.values() {
            info!(app = %record.config.name, "Restoring application from the state file.");
            apply_app(&mut state, record, &env);
        }
        let controller = Arc::new(Self {
            state: Mutex::new(State {
                desired: DesiredState::default(),
                apps: BTreeMap::new(),
                route_version: 0,
            }),
            writer: Mutex::new(()),
            store,
            routes: env.routes.clone(),
            changed: Arc::new(Notify::new()),
            tasks: TaskTracker::new(),
            node,
            started: StdInstant::now(),
            fleet,
            events,
            env,
        });
        // Serve the restored applications' routes from the start.
        controller.publish_routes(&mut state);
        *controller
            .state
            .try_lock()
            .expect("no one else holds a new controller") = state;
        Ok(controller)
    }

    /// Runs the reconcile loop until `shutdown`, beating `heartbeat` on every
    /// pass (systemd's watchdog is pinged only while it beats), then stops
    /// every replica (each drains for at most its `graceful_shutdown_timeout_s`).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken, heartbeat: Heartbeat) {
        loop {
            heartbeat.beat().await;
            self.reconcile().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.changed.notified() => {}
                () = tokio::time::sleep(RECONCILE_INTERVAL) => {}
            }
        }
        let mut state = self.state.lock().await;
        for app in state.apps.values_mut() {
            for dep in app.deployments.values_mut() {
                dep.stop_local(&self.tasks);
            }
        }
        drop(state);
        self.tasks.close();
        self.tasks.wait().await;
        info!("All replicas stopped.");
    }

    /// One reconcile pass over every deployment.
    pub async fn reconcile(&self) {
        let now = tokio::time::Instant::now();
        let mut state = self.state.lock().await;
        let holding = self.fleet.as_ref().is_some_and(|f| f.holding());
        if let Some(fleet) = &self.fleet {
            self.adopt(&mut state, fleet);
        }
        let mut placer = self.fleet.as_ref().map(|fleet| placer(&state, fleet));
        let members = self
            .fleet
            .as_ref()
            .map(|f| f.member_figures())
            .unwrap_or_default();
        // Delays run on the monotonic clock; decisions are shown in Unix time.
        let clock = (self.started.elapsed().as_secs_f64(), crate::unix_now_s());
        let mut gone = Vec::new();
        for (name, app) in &mut state.apps {
            app.deployments.retain(|_, dep| {
                let placement = placer.as_mut().zip(self.fleet.as_deref());
                let recorder = Recorder {
                    events: &self.events,
                    node_id: &self.node.node_id,
                };
                dep.autoscale(clock, &members, holding, &recorder);
                dep.reconcile(
                    now,
                    &self.changed,
                    &self.tasks,
                    placement,
                    holding,
                    &recorder,
                );
                !(dep.retiring && dep.is_empty())
            });
            if app.deleting && app.deployments.is_empty() {
                gone.push(name.clone());
            }
        }
        for name in gone {
            state.apps.remove(&name);
            info!(app = %name, "Application deleted.");
        }
        if let Some(fleet) = self.fleet.as_ref().filter(|_| !holding) {
            fleet.local.prune();
            fleet.set_routes(routing::cluster_routes(&state, fleet));
        }
    }

    /// Takes over the replicas members report that this head has no proxy
    /// for (it restarted), or stops those the cluster no longer wants.
    fn adopt(&self, state: &mut State, fleet: &Fleet) {
        for (node_id, report) in fleet.take_adoptable() {
            let Some(node) = fleet.member(&node_id) else {
                continue;
            };
            let adopted = state
                .apps
                .get_mut(&report.app)
                .filter(|a| !a.deleting)
                .and_then(|a| a.deployments.get_mut(&report.deployment))
                .is_some_and(|d| d.adopt(node.clone(), &report, fleet, &self.changed));
            if !adopted {
                // Not wanted any more (deleted, changed, or enough replicas).
                info!(replica = %report.replica_id, node = %node_id, "Stopping a replica the cluster no longer wants.");
                let mesh = fleet.mesh.clone();
                let request = rserve_protocol::wire::Request::StopReplica {
                    replica_id: report.replica_id.clone(),
                };
                self.tasks.spawn(async move {
                    let _ = mesh.call(node.address, &request).await;
                });
            }
        }
    }

    /// What a file must pass before anything changes: its own validation,
    /// and that this node serves every kind it names, with a `user_config`
    /// each kind can take.
    fn check_file(&self, file_name: &str, file: &AppFile) -> Result<(), WireError> {
        file.validate(file_name)
            .and_then(|()| self.env.kinds.check(file_name, file))
            .map_err(|e| bad_request(e.to_string()))
    }

    /// Creates or updates every application in `file`; never removes others.
    ///
    /// The change runs to its end on its own task even if the caller goes away
    /// (a dropped RPC): the state file and the state in memory never part.
    pub async fn deploy(
        self: &Arc<Self>,
        file_name: &str,
        file: AppFile,
    ) -> Result<Vec<AppChange>, WireError> {
        self.check_file(file_name, &file)?;
        let this = self.clone();
        let file_name = file_name.to_owned();
        run_to_end(
            self.tasks
                .spawn(async move { this.apply_file(&file_name, file).await }),
        )
        .await?
    }

    async fn apply_file(
        &self,
        file_name: &str,
        file: AppFile,
    ) -> Result<Vec<AppChange>, WireError> {
        self.apply_edit(file_name, |_| Ok(file)).await
    }

    /// Applies the file `make` builds from the desired state, read and
    /// applied under `writer` (so `rserve scale`'s edit of the deployed
    /// config cannot overwrite a deploy that lands meanwhile).
    async fn apply_edit(
        &self,
        file_name: &str,
        make: impl FnOnce(&DesiredState) -> Result<AppFile, WireError>,
    ) -> Result<Vec<AppChange>, WireError> {
        // The desired state only changes under `writer`: what is read from it
        // here still holds when the change is applied.
        let _writer = self.writer.lock().await;
        let (desired, changes) = {
            let state = self.state.lock().await;
            let file = make(&state.desired)?;
            self.check_file(file_name, &file)?;
            check_conflicts(&state.desired, file_name, &file)?;
            plan_changes(&state, file)
        };
        if changes.iter().all(|c| c.change == Change::Unchanged) {
            return Ok(changes);
        }
        self.persist(&desired).await?;
        let mut state = self.state.lock().await;
        for change in &changes {
            if change.change != Change::Unchanged {
                let record = desired.applications[&change.app].clone();
                info!(app = %change.app, change = ?change.change, "Application deployed.");
                let what = if change.change == Change::Created {
                    "created"
                } else {
                    "updated"
                };
                self.events.record(
                    EventReason::Deployed,
                    Subject::app(&change.app),
                    format!("{what} from {file_name}"),
                );
                apply_app(&mut state, &record, &self.env);
            }
        }
        state.desired = desired;
        self.publish_routes(&mut state);
        drop(state);
        self.changed.notify_one();
        Ok(changes)
    }

    /// What [`Controller::deploy`] of `file` would change, per deployment,
    /// after the same checks (validation, conflicts); changes nothing.
    pub async fn plan(&self, file_name: &str, file: AppFile) -> Result<Vec<AppPlan>, WireError> {
        self.check_file(file_name, &file)?;
        let state = self.state.lock().await;
        check_conflicts(&state.desired, file_name, &file)?;
        let (_, changes) = plan_changes(&state, file.clone());
        Ok(file
            .applications
            .iter()
            .zip(changes)
            .map(|(app, change)| plan_app(&state, app, change.change))
            .collect())
    }

    /// Deletes an application: its route goes at once, its replicas drain. Like
    /// [`Controller::deploy`], runs to its end even if the caller goes away.
    pub async fn delete(self: &Arc<Self>, app: &str) -> Result<(), WireError> {
        let this = self.clone();
        let app = app.to_owned();
        run_to_end(self.tasks.spawn(async move { this.remove_app(&app).await })).await?
    }

    async fn remove_app(&self, app: &str) -> Result<(), WireError> {
        let _writer = self.writer.lock().await;
        let mut desired = {
            let state = self.state.lock().await;
            if !state.desired.applications.contains_key(app) {
                return Err(not_found(app, &state.desired));
            }
            state.desired.clone()
        };
        desired.applications.remove(app);
        self.persist(&desired).await?;
        let mut state = self.state.lock().await;
        state.desired = desired;
        if let Some(runtime) = state.apps.get_mut(app) {
            runtime.deleting = true;
            for dep in runtime.deployments.values_mut() {
                dep.retiring = true;
                dep.router.retire("its application was deleted");
            }
        }
        self.publish_routes(&mut state);
        drop(state);
        info!(app, "Application deleting.");
        self.events.record(
            EventReason::Deleting,
            Subject::app(app),
            "deleting: its route is gone, its replicas drain",
        );
        self.changed.notify_one();
        Ok(())
    }

    /// Status of every application, or of one.
    pub async fn status(&self, app: Option<&str>) -> Result<ServeStatus, WireError> {
        let state = self.state.lock().await;
        if let Some(name) = app
            && !state.apps.contains_key(name)
        {
            return Err(not_found(name, &state.desired));
        }
        let applications = state
            .apps
            .iter()
            .filter(|(name, _)| app.is_none_or(|a| a == name.as_str()))
            .map(|(name, runtime)| (name.clone(), app_details(runtime)))
            .collect();
        Ok(ServeStatus {
            api_version: STATUS_API_VERSION.to_owned(),
            kind: "Status".to_owned(),
            node: NodeInfo {
                node_id: self.node.node_id.clone(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                http_address: self.node.http_address.to_string(),
                control_address: self.node.control_address.to_string(),
                uptime_s: self.started.elapsed().as_secs_f64(),
            },
            applications,
        })
    }

    /// The deployed config of every application, or of one.
    pub async fn config(&self, app: Option<&str>) -> Result<AppFile, WireError> {
        let state = self.state.lock().await;
        let applications: Vec<AppConfig> = state
            .desired
            .applications
            .values()
            .filter(|r| app.is_none_or(|a| a == r.config.name))
            .map(|r| r.config.clone())
            .collect();
        if let (Some(name), true) = (app, applications.is_empty()) {
            return Err(not_found(name, &state.desired));
        }
        Ok(AppFile { applications })
    }

    async fn persist(&self, desired: &DesiredState) -> Result<(), WireError> {
        let store = self.store.clone();
        let desired = desired.clone();
        run_to_end(tokio::task::spawn_blocking(move || store.save(&desired)))
            .await?
            .map_err(|e| {
                warn!(error = %e, "Could not persist the desired state.");
                WireError {
                    code: ErrorCode::Internal,
                    message: format!("{e}; nothing was changed"),
                }
            })
    }

    /// Publishes the route table of the applications not being deleted.
    fn publish_routes(&self, state: &mut State) {
        state.route_version += 1;
        self.routes.store(Arc::new(
            routing::route_table(state).build(state.route_version),
        ));
    }
}

/// A placer over the fleet's hosts and what every deployment's replicas
/// already take on them.
fn placer(state: &State, fleet: &Fleet) -> Placer {
    let mut usage = HashMap::new();
    for app in state.apps.values() {
        for dep in app.deployments.values() {
            dep.usage(&fleet.head.node_id, &mut usage);
        }
    }
    fleet.set_usage(&usage);
    Placer::new(fleet.hosts(), &usage)
}

/// Awaits a change that runs on its own task; a panic there is an internal
/// error for the caller, not a crash of the node.
async fn run_to_end<T>(task: tokio::task::JoinHandle<T>) -> Result<T, WireError> {
    task.await.map_err(|e| {
        warn!(error = %e, "A change to the desired state failed.");
        WireError {
            code: ErrorCode::Internal,
            message: format!("the change failed inside the node: {e}"),
        }
    })
}

/// Brings the runtime of `record`'s application in line with its config.
fn apply_app(state: &mut State, record: &AppRecord, env: &Arc<ReplicaEnv>) {
    let config = &record.config;
    let runtime = state
        .apps
        .entry(config.name.clone())
        .or_insert_with(|| AppRuntime {
            config: config.clone(),
            deployed_at_s: record.deployed_at_s,
            deleting: false,
            deployments: BTreeMap::new(),
        });
    runtime.config = config.clone();
    runtime.deployed_at_s = record.deployed_at_s;
    runtime.deleting = false;
    for dep in &config.deployments {
        match runtime.deployments.get_mut(&dep.name) {
            Some(existing) => existing.update(dep.clone()),
            None => {
                runtime.deployments.insert(
                    dep.name.clone(),
                    DeploymentRuntime::new(&config.name, dep.clone(), env.clone()),
                );
            }
        }
    }
    for (name, dep) in &mut runtime.deployments {
        if !config.deployments.iter().any(|d| &d.name == name) {
            dep.retiring = true;
            dep.router.retire("it was removed from its application");
        }
    }
}

fn is_failed(state: &State, app: &str) -> bool {
    state.apps.get(app).is_some_and(|a| {
        a.deployments
            .values()
            .any(|d| d.status() == DeploymentStatus::DeployFailed)
    })
}

fn app_details(runtime: &AppRuntime) -> ApplicationDetails {
    let deployments: BTreeMap<_, _> = runtime
        .deployments
        .iter()
        .filter(|(name, _)| {
            runtime.deleting || runtime.config.deployments.iter().any(|d| &&d.name == name)
        })
        .map(|(name, dep)| (name.clone(), dep.details()))
        .collect();
    let worst = |status: DeploymentStatus| deployments.iter().find(|(_, d)| d.status == status);
    let (status, message) = if runtime.deleting {
        (ApplicationStatus::Deleting, String::new())
    } else if let Some((name, d)) = worst(DeploymentStatus::DeployFailed) {
        (
            ApplicationStatus::DeployFailed,
            format!("Deployment `{name}`: {}", d.message),
        )
    } else if let Some((name, d)) = worst(DeploymentStatus::Unhealthy) {
        (
            ApplicationStatus::Unhealthy,
            format!("Deployment `{name}`: {}", d.message),
        )
    } else if deployments.values().all(|d| {
        d.status == DeploymentStatus::Healthy
            // An autoscaler at work keeps the application RUNNING (as Ray).
            || d.status_trigger == rserve_protocol::status::DeploymentStatusTrigger::Autoscaling
    }) {
        (ApplicationStatus::Running, String::new())
    } else {
        (ApplicationStatus::Deploying, String::new())
    };
    ApplicationDetails {
        status,
        message,
        route_prefix: runtime.config.route_prefix.clone(),
        ingress: runtime.config.ingress_deployment().name.clone(),
        last_deployed_time_s: runtime.deployed_at_s,
        deployments,
    }
}

fn bad_request(message: String) -> WireError {
    WireError {
        code: ErrorCode::BadRequest,
        message,
    }
}

fn not_found(app: &str, desired: &DesiredState) -> WireError {
    let known: Vec<&str> = desired.applications.keys().map(String::as_str).collect();
    WireError {
        code: ErrorCode::NotFound,
        message: if known.is_empty() {
            format!("no application named `{app}`: nothing is deployed")
        } else {
            format!(
                "no application named `{app}`; deployed: {}",
                known.join(", ")
            )
        },
    }
}

#[cfg(test)]
mod tests;

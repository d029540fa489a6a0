//! A member node's agent: runs replicas for the head (start and stop on its
//! command), reports their phases in every heartbeat, and serves the cluster
//! route table the head distributes (replicas on this node called directly,
//! the others through proxies over the mesh).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rserve_protocol::config::DeploymentConfig;
use rserve_protocol::wire::{
    ClusterRoutes, ReplicaLocation, ReplicaReport, Request, Response, WireError,
};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::mesh::Mesh;
use crate::replica::report::{fingerprint, report_of};
use crate::replica::{LocalReplicas, Phase, RemoteTarget, Replica, ReplicaEnv};
use crate::router::{DeploymentRouter, RouteTable, Routes};

/// Replicas this member runs, and the route table it serves.
#[derive(Debug)]
pub struct MemberAgent {
    node_id: String,
    tasks: TaskTracker,
    changed: Arc<Notify>,
    /// Replicas hosted here.
    pub local: Arc<LocalReplicas>,
    mesh: Arc<Mesh>,
    routes: Arc<Routes>,
    /// What replicas started here get from the node.
    env: Arc<ReplicaEnv>,
    routers: Mutex<HashMap<String, Arc<DeploymentRouter>>>,
    proxies: Mutex<HashMap<String, Arc<Replica>>>,
    routes_version: Mutex<u64>,
    /// Config fingerprint of each hosted replica.
    fingerprints: Mutex<HashMap<String, String>>,
    /// Certificates of removed nodes, as the head last said (refused here too).
    pub revoked: Arc<super::revoked::Revoked>,
    /// `/-/ready`: set once the head has answered a heartbeat (this node's
    /// routes are then the cluster's).
    pub readiness: Arc<crate::ingress::Readiness>,
}

impl MemberAgent {
    /// The agent of node `node_id`, serving `env`'s routes.
    pub fn new(
        node_id: String,
        local: Arc<LocalReplicas>,
        mesh: Arc<Mesh>,
        env: Arc<ReplicaEnv>,
    ) -> Self {
        Self {
            revoked: Arc::default(),
            readiness: Arc::default(),
            routes: env.routes.clone(),
            env,
            node_id,
            tasks: TaskTracker::new(),
            changed: Arc::new(Notify::new()),
            local,
            mesh,
            routers: Mutex::new(HashMap::new()),
            proxies: Mutex::new(HashMap::new()),
            routes_version: Mutex::new(0),
            fingerprints: Mutex::new(HashMap::new()),
        }
    }

    /// Handles the head's replica commands (`StartReplica`, `StopReplica`).
    pub fn handle(&self, request: Request) -> Response {
        match request {
            Request::StartReplica {
                app,
                replica_id,
                config,
            } => {
                // Checked as a deploy checks it: a head of another version,
                // or a bug, must not start what a deploy would refuse.
                if let Err(e) = config.check() {
                    warn!(replica = %replica_id, app, error = %e, "Refused to start a replica.");
                    return Response::Error(WireError {
                        code: rserve_protocol::wire::ErrorCode::BadRequest,
                        message: format!("replica {replica_id} of {app}: invalid config: {e}"),
                    });
                }
                self.start(&app, replica_id, &config);
            }
            Request::StopReplica { replica_id } => self.stop(&replica_id),
            other => {
                return Response::Error(WireError {
                    code: rserve_protocol::wire::ErrorCode::BadRequest,
                    message: format!("not a replica command: {other:?}"),
                });
            }
        }
        Response::Accepted
    }

    /// Starts replica `id` of `config` (again: no-op).
    pub fn start(&self, app: &str, id: String, config: &DeploymentConfig) {
        if self.local.get(&id).is_some() {
            return;
        }
        info!(replica = %id, app, "Replica starting (placed here by the head).");
        self.fingerprints
            .lock()
            .unwrap()
            .insert(id.clone(), fingerprint(config));
        let replica = Replica::spawn_with_id(
            id,
            app,
            config,
            &self.env,
            self.changed.clone(),
            &self.tasks,
        );
        self.local.insert(replica);
    }

    /// Drains and stops replica `id`.
    pub fn stop(&self, id: &str) {
        if let Some(replica) = self.local.get(id) {
            info!(replica = %id, "Replica stopping (asked by the head).");
            replica.stop(&self.tasks);
        }
    }

    /// Every hosted replica's phase; replicas that are gone are reported one
    /// last time, then forgotten.
    pub fn reports(&self) -> Vec<ReplicaReport> {
        let mut fingerprints = self.fingerprints.lock().unwrap();
        let reports = self
            .local
            .all()
            .iter()
            .map(|r| report_of(r, fingerprints.get(r.id()).map_or("", String::as_str)))
            .collect();
        self.local.prune();
        fingerprints.retain(|id, _| self.local.get(id).is_some());
        reports
    }

    /// One call to another node (the head) over the mesh.
    pub async fn ask(&self, addr: SocketAddr, request: &Request) -> Result<Response, String> {
        self.mesh.call(addr, request).await
    }

    /// This node's routers now (their load, for the head's autoscaler).
    pub fn router_snapshot(&self) -> Vec<crate::observe::DeploymentSnapshot> {
        self.routes.load().snapshot()
    }

    /// The node-to-node connections (streaming calls to the head).
    pub fn mesh(&self) -> &Arc<Mesh> {
        &self.mesh
    }

    /// The version of the route table applied.
    pub fn routes_version(&self) -> u64 {
        *self.routes_version.lock().unwrap()
    }

    /// Serves the cluster route table from the head: routers are kept across
    /// updates (queues survive), replicas on this node are called directly, the
    /// others through proxies.
    pub fn apply_routes(&self, table: &ClusterRoutes) {
        let mut routers = self.routers.lock().unwrap();
        let mut proxies = self.proxies.lock().unwrap();
        let mut used_proxies = HashMap::new();
        let mut builder = RouteTable::builder();
        let mut live_routers = HashMap::new();
        for app in &table.apps {
            if let Err(e) = app.check() {
                warn!(app = %app.app, error = %e, "Skipped an application of the head's route table.");
                continue;
            }
            let ingress = (&app.deployment, &app.replicas);
            let others = app.others.iter().map(|o| (&o.deployment, &o.replicas));
            for (n, (config, locations)) in std::iter::once(ingress).chain(others).enumerate() {
                let key = format!("{}/{}", app.app, config.name);
                let router = match routers.remove(&key) {
                    Some(router) => {
                        router.configure(config);
                        router
                    }
                    None => Arc::new(DeploymentRouter::for_deployment(
                        &app.app,
                        config,
                        &self.env.backlog,
                    )),
                };
                let replicas =
                    self.replicas_at(&app.app, config, locations, &mut proxies, &mut used_proxies);
                router.set_replicas(replicas);
                if n == 0 {
                    builder.app(&app.app, &app.route_prefix, &router);
                }
                builder.model(&app.app, config, &router).deployment(
                    &app.app,
                    &config.name,
                    &router,
                );
                live_routers.insert(key, router);
            }
        }
        // Deployments no longer in the table: their waiting requests go now.
        for gone in routers.values() {
            gone.retire("it is no longer deployed");
        }
        *routers = live_routers;
        *proxies = used_proxies;
        self.routes.store(Arc::new(builder.build(table.version)));
        *self.routes_version.lock().unwrap() = table.version;
        tracing::debug!(
            version = table.version,
            apps = table.apps.len(),
            "Applied the cluster route table from the head."
        );
    }

    /// The replicas of deployment `config` at `locations`: those here called
    /// directly (and given the deployment's in-place settings), the others
    /// through proxies (kept across tables).
    fn replicas_at(
        &self,
        app: &str,
        config: &DeploymentConfig,
        locations: &[ReplicaLocation],
        proxies: &mut HashMap<String, Arc<Replica>>,
        used_proxies: &mut HashMap<String, Arc<Replica>>,
    ) -> Vec<Arc<Replica>> {
        let mut replicas = Vec::new();
        for location in locations {
            if location.node_id == self.node_id {
                if let Some(local) = self.local.get(&location.replica_id)
                    && local.phase() == Phase::Running
                {
                    local.set_max_ongoing(config.max_ongoing_requests);
                    local.set_timing(config);
                    // Only a replica made from this config (not an older one
                    // an update is replacing) takes its user_config.
                    let current = self.fingerprints.lock().unwrap().get(local.id()).cloned()
                        == Some(fingerprint(config));
                    if current {
                        local.reconfigure(config.user_config.as_ref());
                    }
                    replicas.push(local);
                }
                continue;
            }
            let Ok(address) = location.address.parse() else {
                continue;
            };
            let proxy = proxies.remove(&location.replica_id).unwrap_or_else(|| {
                Replica::remote(
                    location.replica_id.clone(),
                    app,
                    config,
                    RemoteTarget {
                        node_id: location.node_id.clone(),
                        address,
                        link: self.mesh.clone(),
                    },
                    Phase::Running,
                    None,
                )
            });
            proxy.set_max_ongoing(config.max_ongoing_requests);
            used_proxies.insert(location.replica_id.clone(), proxy.clone());
            replicas.push(proxy);
        }
        replicas
    }

    /// Stops every hosted replica and waits for them to drain.
    pub async fn shutdown(&self) {
        for replica in self.local.all() {
            replica.stop(&self.tasks);
        }
        self.tasks.close();
        self.tasks.wait().await;
    }
}

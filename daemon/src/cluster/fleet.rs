//! The head's view of the replicas that run across the cluster: which nodes
//! can host replicas now (the head and alive members), the proxies of the
//! replicas members run (fed by their heartbeat reports), the replicas a
//! restarted head may re-adopt, and the cluster route table it hands members.
//! The controller places replicas through it; the head's RPC handler feeds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use rserve_protocol::stream::RouterFigures;
use rserve_protocol::wire::{AppRoute, ClusterRoutes, NodeUsage, ReplicaReport, ReportedPhase};

use super::mesh::Mesh;
use super::placement::{Host, Usage};
use crate::replica::{LocalReplicas, Phase, Replica};

/// Shared by the head's RPC handler and its controller.
#[derive(Debug)]
pub struct Fleet {
    /// The head itself, as a node that hosts replicas too.
    pub head: Host,
    /// Connections to members.
    pub mesh: Arc<Mesh>,
    /// Replicas hosted by the head (for requests forwarded by members).
    pub local: Arc<LocalReplicas>,
    members: Mutex<Vec<Host>>,
    proxies: Mutex<HashMap<String, Weak<Replica>>>,
    routes: Mutex<ClusterRoutes>,
    /// Replicas members report that the head has no proxy for (it restarted).
    adoptable: Mutex<Vec<(String, ReplicaReport)>>,
    /// After a restart, no new replica is placed before this: members first
    /// report what they still run, to be re-adopted rather than replaced.
    hold_until: Mutex<Option<Instant>>,
    /// Each member's latest router figures (`rserve routes`).
    figures: Mutex<HashMap<String, Vec<RouterFigures>>>,
    /// What the replicas placed on each node reserve, as of the last reconcile.
    usage: Mutex<HashMap<String, NodeUsage>>,
}

impl Fleet {
    /// The fleet of head `head`.
    pub fn new(head: Host, mesh: Arc<Mesh>, local: Arc<LocalReplicas>) -> Self {
        Self {
            head,
            mesh,
            local,
            members: Mutex::new(Vec::new()),
            proxies: Mutex::new(HashMap::new()),
            routes: Mutex::new(ClusterRoutes::default()),
            adoptable: Mutex::new(Vec::new()),
            hold_until: Mutex::new(None),
            figures: Mutex::new(HashMap::new()),
            usage: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps a member's router figures from its heartbeat.
    pub fn set_figures(&self, node_id: &str, figures: Vec<RouterFigures>) {
        self.figures
            .lock()
            .unwrap()
            .insert(node_id.to_owned(), figures);
    }

    /// The router figures of every alive member.
    pub fn member_figures(&self) -> Vec<RouterFigures> {
        let alive: Vec<String> = self.hosts().into_iter().map(|h| h.node_id).collect();
        let figures = self.figures.lock().unwrap();
        alive
            .iter()
            .filter_map(|id| figures.get(id))
            .flatten()
            .cloned()
            .collect()
    }

    /// Holds placement (and the route table) until `until`.
    pub fn hold_until(&self, until: Instant) {
        *self.hold_until.lock().unwrap() = Some(until);
    }

    /// Whether placement is on hold (just after a restart).
    pub fn holding(&self) -> bool {
        let mut hold = self.hold_until.lock().unwrap();
        match *hold {
            Some(until) if Instant::now() < until => true,
            Some(_) => {
                *hold = None;
                false
            }
            None => false,
        }
    }

    /// Takes the reported replicas that have no proxy here: `(node id, report)`.
    pub fn take_adoptable(&self) -> Vec<(String, ReplicaReport)> {
        std::mem::take(&mut *self.adoptable.lock().unwrap())
    }

    /// The alive member `node_id`.
    pub fn member(&self, node_id: &str) -> Option<Host> {
        self.members
            .lock()
            .unwrap()
            .iter()
            .find(|n| n.node_id == node_id)
            .cloned()
    }

    /// Sets the members that are alive now.
    pub fn set_members(&self, alive: Vec<Host>) {
        *self.members.lock().unwrap() = alive;
    }

    /// Every node that can host replicas now: the head first, then alive members.
    pub fn hosts(&self) -> Vec<Host> {
        let mut nodes = vec![self.head.clone()];
        nodes.extend(self.members.lock().unwrap().iter().cloned());
        nodes
    }

    /// Remembers a proxy, so its node's reports reach it.
    pub fn register_proxy(&self, replica: &Arc<Replica>) {
        let mut proxies = self.proxies.lock().unwrap();
        proxies.retain(|_, p| p.strong_count() > 0);
        proxies.insert(replica.id().to_owned(), Arc::downgrade(replica));
    }

    fn proxies_on(&self, node_id: &str) -> Vec<Arc<Replica>> {
        self.proxies
            .lock()
            .unwrap()
            .values()
            .filter_map(Weak::upgrade)
            .filter(|r| r.remote_target().is_some_and(|t| t.node_id == node_id))
            .collect()
    }

    /// Records what the replicas on each node reserve (`rserve nodes`).
    pub fn set_usage(&self, usage: &HashMap<String, Usage>) {
        let usage = usage
            .iter()
            .map(|(node, u)| {
                let used = NodeUsage {
                    num_cpus: u.cpus,
                    num_gpus: u.gpus,
                    memory: u.memory,
                };
                (node.clone(), used)
            })
            .collect();
        *self.usage.lock().unwrap() = usage;
    }

    /// What the replicas on `node_id` reserve.
    pub fn usage_on(&self, node_id: &str) -> NodeUsage {
        self.usage
            .lock()
            .unwrap()
            .get(node_id)
            .copied()
            .unwrap_or_default()
    }

    /// The live replicas on `node_id` (the head's own, or a member's proxies).
    pub fn replicas_on(&self, node_id: &str) -> Vec<String> {
        let replicas = if node_id == self.head.node_id {
            self.local.all()
        } else {
            self.proxies_on(node_id)
        };
        let mut ids: Vec<String> = replicas
            .iter()
            .filter(|r| !r.phase().is_gone())
            .map(|r| r.id().to_owned())
            .collect();
        ids.sort();
        ids
    }

    /// A member's report of the replicas it runs. A proxy that was running and
    /// is no longer reported is gone (its node restarted).
    pub fn report(&self, node_id: &str, reports: &[ReplicaReport]) {
        let by_id: HashMap<&str, &ReplicaReport> =
            reports.iter().map(|r| (r.replica_id.as_str(), r)).collect();
        {
            let proxies = self.proxies.lock().unwrap();
            let mut adoptable = self.adoptable.lock().unwrap();
            for report in reports {
                let known = proxies
                    .get(&report.replica_id)
                    .is_some_and(|p| p.strong_count() > 0);
                let alive = matches!(
                    report.phase,
                    ReportedPhase::Starting | ReportedPhase::Running
                );
                if !known
                    && alive
                    && !adoptable
                        .iter()
                        .any(|(_, r)| r.replica_id == report.replica_id)
                {
                    adoptable.push((node_id.to_owned(), report.clone()));
                }
            }
        }
        for proxy in self.proxies_on(node_id) {
            let Some(remote) = proxy.as_remote() else {
                continue;
            };
            match by_id.get(proxy.id()) {
                Some(report) => remote.apply_report(Phase::from(*report)),
                None if proxy.phase() == Phase::Running => {
                    remote.apply_report(Phase::Failed {
                        during_startup: false,
                        reason: format!("node {node_id} no longer runs it (the node restarted?)"),
                    });
                }
                None if proxy.phase() == Phase::Stopping => remote.apply_report(Phase::Stopped),
                None => {}
            }
        }
    }

    /// A member was declared dead, or came back under its id with none of
    /// its state (`why`): its replicas are gone.
    pub fn node_died(&self, node_id: &str, why: &str) {
        for proxy in self.proxies_on(node_id) {
            let Some(remote) = proxy.as_remote() else {
                continue;
            };
            let phase = if proxy.phase() == Phase::Stopping {
                Phase::Stopped
            } else {
                Phase::Failed {
                    during_startup: false,
                    reason: format!("its node {node_id} {why}"),
                }
            };
            remote.apply_report(phase);
        }
    }

    /// Node `node_id` left (it drains): its replicas count as stopped, not
    /// failed, so they are placed again without a failure or a backoff.
    pub fn node_left(&self, node_id: &str) {
        for proxy in self.proxies_on(node_id) {
            if let Some(remote) = proxy.as_remote() {
                remote.apply_report(Phase::Stopped);
            }
        }
    }

    /// Replaces the applications in the cluster route table (the version moves
    /// only when something changed).
    pub fn set_routes(&self, apps: Vec<AppRoute>) {
        let mut routes = self.routes.lock().unwrap();
        if routes.apps != apps {
            routes.apps = apps;
            routes.version += 1;
        }
    }

    /// The cluster route table.
    pub fn routes(&self) -> ClusterRoutes {
        self.routes.lock().unwrap().clone()
    }

    /// Its version.
    pub fn routes_version(&self) -> u64 {
        self.routes.lock().unwrap().version
    }
}

//! The head's side of running replicas on other nodes: which members can take
//! replicas (placement), the proxies of replicas they run (updated from their
//! heartbeat reports), and the cluster route table handed to members.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use rserve_protocol::config::DeploymentConfig;
use rserve_protocol::wire::{AppRoute, ClusterRoutes, NodeResources, ReplicaPhase, ReplicaReport};

use super::mesh::Mesh;
use crate::replica::{LocalReplicas, Phase, Replica};

/// A node that can take replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// Node id.
    pub node_id: String,
    /// Control address.
    pub address: SocketAddr,
    /// What it offers.
    pub resources: NodeResources,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Shared by the head's cluster state and its controller.
#[derive(Debug)]
pub struct ClusterLink {
    /// The head itself, as a node that takes replicas too.
    pub head: NodeView,
    /// Connections to members.
    pub mesh: Arc<Mesh>,
    /// Replicas hosted by the head (for requests forwarded by members).
    pub local: Arc<LocalReplicas>,
    members: Mutex<Vec<NodeView>>,
    proxies: Mutex<HashMap<String, Weak<Replica>>>,
    routes: Mutex<ClusterRoutes>,
    /// Replicas members report that the head has no proxy for (it restarted).
    adoptable: Mutex<Vec<(String, ReplicaReport)>>,
    /// After a restart, no new replica is placed before this: members first
    /// report what they still run, to be re-adopted rather than replaced.
    hold_until: Mutex<Option<std::time::Instant>>,
}

impl ClusterLink {
    /// A link for head `head`.
    pub fn new(head: NodeView, mesh: Arc<Mesh>, local: Arc<LocalReplicas>) -> Self {
        Self {
            head,
            mesh,
            local,
            members: Mutex::new(Vec::new()),
            proxies: Mutex::new(HashMap::new()),
            routes: Mutex::new(ClusterRoutes::default()),
            adoptable: Mutex::new(Vec::new()),
            hold_until: Mutex::new(None),
        }
    }

    /// Holds placement (and the route table) until `until`.
    pub fn hold_until(&self, until: std::time::Instant) {
        *self.hold_until.lock().unwrap() = Some(until);
    }

    /// Whether placement is on hold (just after a restart).
    pub fn holding(&self) -> bool {
        let mut hold = self.hold_until.lock().unwrap();
        match *hold {
            Some(until) if std::time::Instant::now() < until => true,
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
    pub fn member(&self, node_id: &str) -> Option<NodeView> {
        self.members
            .lock()
            .unwrap()
            .iter()
            .find(|n| n.node_id == node_id)
            .cloned()
    }

    /// Sets the members that are alive now.
    pub fn set_members(&self, alive: Vec<NodeView>) {
        *self.members.lock().unwrap() = alive;
    }

    /// Every node that can take replicas now: the head first, then alive members.
    pub fn nodes(&self) -> Vec<NodeView> {
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

    /// The live replicas on `node_id` (the head's own, or a member's proxies).
    pub fn replicas_on(&self, node_id: &str) -> Vec<String> {
        let replicas = if node_id == self.head.node_id {
            self.local.all()
        } else {
            self.proxies_on(node_id)
        };
        let mut ids: Vec<String> = replicas
            .iter()
            .filter(|r| {
                matches!(
                    r.phase(),
                    Phase::Starting | Phase::Running | Phase::Stopping
                )
            })
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
                let alive = matches!(report.phase, ReplicaPhase::Starting | ReplicaPhase::Running);
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
            match by_id.get(proxy.id()) {
                Some(report) => proxy.apply_report(phase_of(report)),
                None if proxy.phase() == Phase::Running => {
                    proxy.apply_report(Phase::Failed {
                        during_startup: false,
                        reason: format!("node {node_id} no longer runs it (the node restarted?)"),
                    });
                }
                None if proxy.phase() == Phase::Stopping => proxy.apply_report(Phase::Stopped),
                None => {}
            }
        }
    }

    /// A member was declared dead: its replicas are gone.
    pub fn node_died(&self, node_id: &str) {
        for proxy in self.proxies_on(node_id) {
            let phase = if proxy.phase() == Phase::Stopping {
                Phase::Stopped
            } else {
                Phase::Failed {
                    during_startup: false,
                    reason: format!("its node {node_id} is dead (no heartbeat)"),
                }
            };
            proxy.apply_report(phase);
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

/// The fingerprint of what makes a replica what it is (kind and options,
/// resources, user_config, batching, multiplexing): a change needs new replicas.
pub fn fingerprint(config: &DeploymentConfig) -> String {
    let parts = serde_json::json!([
        config.replica,
        config.resources,
        config.user_config,
        config.batching,
        config.multiplexing,
    ]);
    ring::digest::digest(&ring::digest::SHA256, parts.to_string().as_bytes()).as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The phase a report describes.
pub fn phase_of(report: &ReplicaReport) -> Phase {
    match report.phase {
        ReplicaPhase::Starting => Phase::Starting,
        ReplicaPhase::Running => Phase::Running,
        ReplicaPhase::Stopping => Phase::Stopping,
        ReplicaPhase::Stopped => Phase::Stopped,
        ReplicaPhase::FailedStarting | ReplicaPhase::Failed => Phase::Failed {
            during_startup: report.phase == ReplicaPhase::FailedStarting,
            reason: report.reason.clone(),
        },
    }
}

/// The report of a local replica's phase.
pub fn report_of(replica: &Replica, fingerprint: &str) -> ReplicaReport {
    let (phase, reason) = match replica.phase() {
        Phase::Starting => (ReplicaPhase::Starting, String::new()),
        Phase::Running => (ReplicaPhase::Running, String::new()),
        Phase::Stopping => (ReplicaPhase::Stopping, String::new()),
        Phase::Stopped => (ReplicaPhase::Stopped, String::new()),
        Phase::Failed {
            during_startup,
            reason,
        } => (
            if during_startup {
                ReplicaPhase::FailedStarting
            } else {
                ReplicaPhase::Failed
            },
            reason,
        ),
    };
    ReplicaReport {
        replica_id: replica.id().to_owned(),
        app: replica.app().to_owned(),
        deployment: replica.deployment().to_owned(),
        fingerprint: fingerprint.to_owned(),
        phase,
        reason,
    }
}

/// Chooses nodes for new replicas: hard limits on GPUs and memory, and spread
/// (fewest replicas of the deployment, then fewest replicas) for the rest. CPUs
/// only spread load: serving replicas mostly wait on I/O or share cores well,
/// so `num_cpus` never leaves a replica pending.
#[derive(Debug)]
pub struct Placer {
    nodes: Vec<(NodeView, Usage)>,
}

/// What a node's replicas already take.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// GPUs.
    pub gpus: f64,
    /// Memory in bytes.
    pub memory: u64,
    /// Replicas of any deployment.
    pub replicas: usize,
}

impl Placer {
    /// A placer over `nodes` with their current usage.
    pub fn new(nodes: Vec<NodeView>, usage: &HashMap<String, Usage>) -> Self {
        Self {
            nodes: nodes
                .into_iter()
                .map(|n| {
                    let u = usage.get(&n.node_id).cloned().unwrap_or_default();
                    (n, u)
                })
                .collect(),
        }
    }

    /// A node for one replica of `config`, given how many replicas of the
    /// deployment each node has; `Err` says why none fits.
    pub fn place(
        &mut self,
        config: &DeploymentConfig,
        per_node: &HashMap<String, usize>,
    ) -> Result<NodeView, String> {
        let need = &config.resources;
        let fits = |n: &NodeView, u: &Usage| {
            u.gpus + need.num_gpus <= n.resources.num_gpus + 1e-9
                && (need.memory == 0 || u.memory + need.memory <= n.resources.memory)
                && need
                    .label_selector
                    .iter()
                    .all(|(k, v)| n.labels.get(k) == Some(v))
        };
        let best = self
            .nodes
            .iter_mut()
            .filter(|(n, u)| fits(n, u))
            .min_by_key(|(n, u)| (per_node.get(&n.node_id).copied().unwrap_or(0), u.replicas));
        match best {
            Some((node, usage)) => {
                usage.gpus += need.num_gpus;
                usage.memory += need.memory;
                usage.replicas += 1;
                Ok(node.clone())
            }
            None => {
                let mut wants = Vec::new();
                if need.num_gpus > 0.0 {
                    wants.push(format!("{} GPU", need.num_gpus));
                }
                if need.memory > 0 {
                    wants.push(format!("{} bytes of memory", need.memory));
                }
                if !need.label_selector.is_empty() {
                    let labels: Vec<String> = need
                        .label_selector
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    wants.push(format!("a node labelled {}", labels.join(",")));
                }
                Err(format!(
                    "needs {}, no node has it free ({} node(s) alive)",
                    wants.join(" and "),
                    self.nodes.len()
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rserve_protocol::AppFile;

    use super::*;

    fn node(id: &str, gpus: f64) -> NodeView {
        NodeView {
            node_id: id.into(),
            labels: [("zone".to_owned(), format!("z-{id}"))].into(),
            address: "127.0.0.1:1".parse().unwrap(),
            resources: NodeResources {
                num_cpus: 2.0,
                num_gpus: gpus,
                gpu_memory: 0,
                memory: 8 << 30,
            },
        }
    }

    fn deployment(extra: &str) -> DeploymentConfig {
        AppFile::parse(
            "t.toml",
            &format!(
                "[[applications]]\nname = \"a\"\n[[applications.deployments]]\nname = \"d\"\n{extra}\nreplica = {{ kind = \"echo\" }}\n"
            ),
        )
        .unwrap()
        .applications[0]
            .deployments[0]
            .clone()
    }

    #[test]
    fn replicas_spread_over_nodes() {
        let mut placer = Placer::new(
            vec![node("h", 0.0), node("a", 0.0), node("b", 0.0)],
            &HashMap::new(),
        );
        let config = deployment("");
        let mut per_node = HashMap::new();
        for _ in 0..6 {
            let n = placer.place(&config, &per_node).unwrap();
            *per_node.entry(n.node_id).or_insert(0) += 1;
        }
        assert_eq!(
            per_node.values().copied().collect::<Vec<_>>(),
            vec![2, 2, 2]
        );
    }

    #[test]
    fn label_selectors_pick_matching_nodes_only() {
        let mut placer = Placer::new(
            vec![node("h", 0.0), node("a", 0.0), node("b", 0.0)],
            &HashMap::new(),
        );
        let zone_a = deployment("resources = { label_selector = { zone = \"z-a\" } }");
        let mut per_node = HashMap::new();
        for _ in 0..3 {
            let n = placer.place(&zone_a, &per_node).unwrap();
            assert_eq!(n.node_id, "a");
            *per_node.entry(n.node_id).or_insert(0) += 1;
        }
        let nowhere =
            deployment("resources = { label_selector = { zone = \"z-x\", gpu = \"h100\" } }");
        let err = placer.place(&nowhere, &HashMap::new()).unwrap_err();
        assert!(err.contains("a node labelled gpu=h100,zone=z-x"), "{err}");
    }

    #[test]
    fn gpus_are_a_hard_limit_with_fractions() {
        let mut placer = Placer::new(vec![node("h", 0.0), node("g", 1.0)], &HashMap::new());
        let half = deployment("resources = { num_gpus = 0.5 }");
        let per_node = HashMap::new();
        assert_eq!(placer.place(&half, &per_node).unwrap().node_id, "g");
        assert_eq!(placer.place(&half, &per_node).unwrap().node_id, "g");
        let err = placer.place(&half, &per_node).unwrap_err();
        assert!(err.contains("needs 0.5 GPU"), "{err}");
    }
}

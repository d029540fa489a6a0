//! Placement: which node a new replica goes to. Pure logic over the nodes'
//! resources and what their replicas already take, so it is tested without
//! sockets.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use rserve_protocol::config::DeploymentConfig;
use rserve_protocol::wire::NodeResources;

/// A node that can host replicas: the head, or an alive member.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// Node id.
    pub node_id: String,
    /// Control address.
    pub address: SocketAddr,
    /// What it offers.
    pub resources: NodeResources,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// Chooses nodes for new replicas: hard limits on GPUs and memory, and spread
/// (fewest replicas of the deployment, then fewest replicas) for the rest. CPUs
/// only spread load: serving replicas mostly wait on I/O or share cores well,
/// so `num_cpus` never leaves a replica pending.
#[derive(Debug)]
pub struct Placer {
    nodes: Vec<(Host, Usage)>,
}

/// What a node's replicas already take.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    /// CPU cores (shown to operators; placement does not count them).
    pub cpus: f64,
    /// GPUs.
    pub gpus: f64,
    /// Memory in bytes.
    pub memory: u64,
    /// Replicas of any deployment.
    pub replicas: usize,
}

impl Placer {
    /// A placer over `nodes` with their current usage.
    pub fn new(nodes: Vec<Host>, usage: &HashMap<String, Usage>) -> Self {
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
    ) -> Result<Host, String> {
        let need = &config.resources;
        let fits = |n: &Host, u: &Usage| {
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

    fn node(id: &str, gpus: f64) -> Host {
        Host {
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

//! What a local replica gets from its node: the route table (the handles of
//! user deployments call through it), the kinds the node serves, the tap
//! point and the node's id (handle calls are sampled like ingress calls).

use std::sync::Arc;

use crate::api::Kinds;
use crate::observe::tap::Tap;
use crate::router::{Backlog, RouteTable, Routes};

/// A node's services to its replicas.
#[derive(Debug)]
pub struct ReplicaEnv {
    /// The node's route table.
    pub routes: Arc<Routes>,
    /// User kinds served beside the built-in ones.
    pub kinds: Arc<Kinds>,
    /// Where handle calls are sampled for `rserve tap`.
    pub tap: Arc<Tap>,
    /// This node.
    pub node_id: String,
    /// The node-wide bounds on queued requests and request bodies.
    pub backlog: Arc<Backlog>,
}

impl ReplicaEnv {
    /// Built-in kinds, an empty route table of its own: for replicas made
    /// outside a node (tests).
    pub fn standalone() -> Arc<Self> {
        Arc::new(Self {
            routes: Arc::new(Routes::from_pointee(RouteTable::default())),
            kinds: Arc::default(),
            tap: Arc::default(),
            node_id: String::new(),
            backlog: Arc::default(),
        })
    }
}

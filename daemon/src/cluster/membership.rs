//! Membership as the head sees it: every node that joined, its last advert, and
//! whether heartbeats still arrive. Pure logic over explicit times, so failure
//! detection is tested without sockets or sleeps.
//!
//! Why heartbeats to the head and not SWIM (foca): the head is the only place
//! where decisions are made (it runs the controller), so it is the one that must
//! know who is alive; a worker cut off from the head cannot decide anything, so a
//! partition cannot cause split-brain decisions. Ray does the same (raylets
//! heartbeat the GCS). Gossip's advantage — no central point, detection load
//! spread over peers — matters at thousands of nodes, not at the cluster sizes a
//! single head serves.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rserve_protocol::wire::{NodeAdvert, NodeState, NodeStatus, NodeUsage};

/// A node's membership record.
#[derive(Debug, Clone)]
struct Member {
    advert: NodeAdvert,
    /// SHA-256 (hex) of the certificate the node was given: its heartbeats must
    /// come over a connection authenticated with exactly that certificate.
    cert_fingerprint: String,
    joined_at_s: f64,
    last_heartbeat: Option<Instant>,
    state: NodeState,
    /// When it was declared dead (for [`DEAD_RETENTION`]).
    dead_since: Option<Instant>,
}

/// How long a dead node's record is kept (its replicas placed elsewhere, its
/// heartbeats taken again if it comes back); then it is forgotten and must
/// join again with a new token.
pub const DEAD_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// A change worth logging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipEvent {
    /// A node joined for the first time.
    Joined(String),
    /// A dead (or restarted) node's heartbeats arrive again.
    Alive(String),
    /// No heartbeat within the timeout.
    Dead(String),
    /// Dead for [`DEAD_RETENTION`]: forgotten.
    Removed(String),
}

/// Why a heartbeat was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeartbeatError {
    /// The node never joined this cluster.
    #[error("node {0} is not a member of this cluster (join it with `rserve up --join`)")]
    Unknown(String),
    /// The connection's certificate is not the one this node was given.
    #[error("node {0} sent a heartbeat with another node's certificate")]
    WrongCertificate(String),
}

/// The head's view of the cluster.
#[derive(Debug)]
pub struct Membership {
    head: NodeAdvert,
    head_joined_at_s: f64,
    members: BTreeMap<String, Member>,
    timeout: Duration,
}

impl Membership {
    /// A cluster of the head alone; nodes are declared dead after `timeout`
    /// without a heartbeat.
    pub fn new(head: NodeAdvert, timeout: Duration, now_s: f64) -> Self {
        Self {
            head,
            head_joined_at_s: now_s,
            members: BTreeMap::new(),
            timeout,
        }
    }

    /// The failure-detection timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Records a node that was just given a certificate (joined). A node that
    /// joins again (new state dir, same id) replaces its old record.
    pub fn admit(
        &mut self,
        advert: NodeAdvert,
        cert_fingerprint: String,
        now: Instant,
        now_s: f64,
    ) -> MembershipEvent {
        let id = advert.node_id.clone();
        self.members.insert(
            id.clone(),
            Member {
                advert,
                cert_fingerprint,
                joined_at_s: now_s,
                last_heartbeat: Some(now),
                state: NodeState::Alive,
                dead_since: None,
            },
        );
        MembershipEvent::Joined(id)
    }

    /// A heartbeat from a node over a connection authenticated with the
    /// certificate whose SHA-256 is `cert_fingerprint`.
    pub fn heartbeat(
        &mut self,
        advert: NodeAdvert,
        cert_fingerprint: &str,
        now: Instant,
    ) -> Result<Option<MembershipEvent>, HeartbeatError> {
        let id = advert.node_id.clone();
        let member = self
            .members
            .get_mut(&id)
            .ok_or_else(|| HeartbeatError::Unknown(id.clone()))?;
        if member.cert_fingerprint != cert_fingerprint {
            return Err(HeartbeatError::WrongCertificate(id));
        }
        member.advert = advert;
        member.last_heartbeat = Some(now);
        if member.state == NodeState::Dead {
            member.state = NodeState::Alive;
            member.dead_since = None;
            return Ok(Some(MembershipEvent::Alive(id)));
        }
        Ok(None)
    }

    /// Declares dead the nodes not heard from within the timeout, and
    /// forgets those dead for [`DEAD_RETENTION`].
    pub fn sweep(&mut self, now: Instant) -> Vec<MembershipEvent> {
        let mut events = Vec::new();
        for (id, member) in &mut self.members {
            let silent = member
                .last_heartbeat
                .is_none_or(|t| now.saturating_duration_since(t) > self.timeout);
            if silent && member.state == NodeState::Alive {
                member.state = NodeState::Dead;
                member.dead_since = Some(now);
                events.push(MembershipEvent::Dead(id.clone()));
            }
        }
        self.members.retain(|id, member| {
            let expired = member
                .dead_since
                .is_some_and(|t| now.saturating_duration_since(t) >= DEAD_RETENTION);
            if expired {
                events.push(MembershipEvent::Removed(id.clone()));
            }
            !expired
        });
        events
    }

    /// A member's advert as last heard.
    pub fn advert(&self, id: &str) -> Option<&NodeAdvert> {
        self.members.get(id).map(|m| &m.advert)
    }

    /// A member's certificate fingerprint.
    pub fn fingerprint(&self, id: &str) -> Option<String> {
        self.members.get(id).map(|m| m.cert_fingerprint.clone())
    }

    /// Forgets a member (an operator removed it).
    pub fn remove(&mut self, id: &str) {
        self.members.remove(id);
    }

    /// The adverts of the members alive now.
    pub fn alive(&self) -> Vec<NodeAdvert> {
        self.members
            .values()
            .filter(|m| m.state == NodeState::Alive)
            .map(|m| m.advert.clone())
            .collect()
    }

    /// `(advert, certificate fingerprint, joined at)` of every member, to persist.
    pub fn records(&self) -> Vec<(NodeAdvert, String, f64)> {
        self.members
            .values()
            .map(|m| (m.advert.clone(), m.cert_fingerprint.clone(), m.joined_at_s))
            .collect()
    }

    /// Every node, the head first.
    pub fn list(&self, now: Instant) -> Vec<NodeStatus> {
        let mut out = vec![NodeStatus {
            advert: self.head.clone(),
            state: NodeState::Alive,
            head: true,
            last_heartbeat_s: 0.0,
            joined_at_s: self.head_joined_at_s,
            replicas: Vec::new(),
            used: NodeUsage::default(),
        }];
        out.extend(self.members.values().map(|m| NodeStatus {
            advert: m.advert.clone(),
            state: m.state,
            head: false,
            last_heartbeat_s: m.last_heartbeat.map_or(f64::INFINITY, |t| {
                now.saturating_duration_since(t).as_secs_f64()
            }),
            joined_at_s: m.joined_at_s,
            replicas: Vec::new(),
            used: NodeUsage::default(),
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use rserve_protocol::wire::NodeResources;

    use super::*;

    fn advert(id: &str) -> NodeAdvert {
        NodeAdvert {
            node_id: id.to_owned(),
            http_address: "127.0.0.1:8000".into(),
            control_address: "127.0.0.1:8265".into(),
            resources: NodeResources {
                num_cpus: 2.0,
                num_gpus: 0.0,
                gpu_memory: 0,
                memory: 1 << 30,
            },
            labels: BTreeMap::new(),
            software_version: "0.1.0".into(),
        }
    }

    #[test]
    fn silent_nodes_die_after_the_timeout_and_come_back() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut m = Membership::new(advert("head"), Duration::from_secs(3), 0.0);
        m.admit(advert("a"), "fa".into(), at(0), 0.0);
        m.admit(advert("b"), "fb".into(), at(0), 0.0);
        for s in 1..=10 {
            // a keeps beating every second; b falls silent after 1 s.
            assert_eq!(m.heartbeat(advert("a"), "fa", at(s * 1000)), Ok(None));
            if s == 1 {
                m.heartbeat(advert("b"), "fb", at(1000)).unwrap();
            }
            let events = m.sweep(at(s * 1000 + 1));
            if s == 4 {
                assert_eq!(events, vec![MembershipEvent::Dead("b".into())], "at {s} s");
            } else {
                assert!(events.is_empty(), "at {s} s: {events:?}");
            }
        }
        let states: Vec<_> = m
            .list(at(10_000))
            .iter()
            .map(|n| (n.advert.node_id.clone(), n.state))
            .collect();
        assert_eq!(
            states,
            [
                ("head".into(), NodeState::Alive),
                ("a".into(), NodeState::Alive),
                ("b".into(), NodeState::Dead)
            ]
        );
        // b restarts and beats again: alive, once.
        assert_eq!(
            m.heartbeat(advert("b"), "fb", at(11_000)),
            Ok(Some(MembershipEvent::Alive("b".into())))
        );
        assert!(m.sweep(at(11_500)).is_empty());
    }

    #[test]
    fn nodes_dead_for_the_retention_are_forgotten_and_must_join_again() {
        let t0 = Instant::now();
        let mut m = Membership::new(advert("head"), Duration::from_secs(3), 0.0);
        m.admit(advert("a"), "fa".into(), t0, 0.0);
        m.admit(advert("b"), "fb".into(), t0, 0.0);
        let dead_at = t0 + Duration::from_secs(4);
        // a keeps beating; b dies at 4 s.
        let beat = |m: &mut Membership, at: Instant| m.heartbeat(advert("a"), "fa", at).unwrap();
        beat(&mut m, dead_at);
        assert_eq!(m.sweep(dead_at), vec![MembershipEvent::Dead("b".into())]);
        let almost = dead_at + DEAD_RETENTION - Duration::from_secs(1);
        beat(&mut m, almost);
        assert!(m.sweep(almost).is_empty(), "kept within the retention");
        let past = dead_at + DEAD_RETENTION;
        beat(&mut m, past);
        assert_eq!(m.sweep(past), vec![MembershipEvent::Removed("b".into())]);
        assert_eq!(m.records().len(), 1, "only a is persisted now");
        assert_eq!(
            m.heartbeat(advert("b"), "fb", past),
            Err(HeartbeatError::Unknown("b".into())),
            "b must join again"
        );
    }

    #[test]
    fn heartbeats_need_membership_and_the_nodes_own_certificate() {
        let now = Instant::now();
        let mut m = Membership::new(advert("head"), Duration::from_secs(3), 0.0);
        assert_eq!(
            m.heartbeat(advert("x"), "fx", now),
            Err(HeartbeatError::Unknown("x".into()))
        );
        m.admit(advert("a"), "fa".into(), now, 0.0);
        m.admit(advert("b"), "fb".into(), now, 0.0);
        assert_eq!(
            m.heartbeat(advert("a"), "fb", now),
            Err(HeartbeatError::WrongCertificate("a".into()))
        );
    }
}

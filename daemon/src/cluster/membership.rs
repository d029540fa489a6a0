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
use serde::{Deserialize, Serialize};

use crate::pki;

/// A certificate the head gave a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedCert {
    /// Its SHA-256 (hex).
    pub fingerprint: String,
    /// Unix time it expires; `None` for one issued before certificates
    /// expired (renewed at the node's first heartbeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_s: Option<f64>,
}

/// The certificates a member may present: the one it was given last, and
/// the one before it until that one expires (the answer to a renewal may
/// have been lost: the node then comes back with the old one and renews
/// again).
#[derive(Debug, Clone, PartialEq)]
pub struct MemberCerts {
    /// The newest.
    pub current: IssuedCert,
    /// The one it replaced.
    pub previous: Option<IssuedCert>,
}

impl MemberCerts {
    /// Whether `fingerprint` is one of them and still valid at `now_s`.
    fn holds(&self, fingerprint: &str, now_s: f64) -> bool {
        self.current.fingerprint == fingerprint
            || self.previous.as_ref().is_some_and(|p| {
                p.fingerprint == fingerprint && p.expires_at_s.is_none_or(|at| now_s < at)
            })
    }
}

/// A node's membership record.
#[derive(Debug, Clone)]
struct Member {
    advert: NodeAdvert,
    /// The certificates the node was given: its heartbeats must come over a
    /// connection authenticated with one of them.
    certs: MemberCerts,
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

/// Why a renewal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenewError {
    /// The certificate is no member's (current or previous).
    #[error("this certificate belongs to no member of the cluster")]
    Unknown,
    /// Not in the last third of its life yet.
    #[error("node {0}'s certificate is not due for renewal yet")]
    NotDue(String),
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
        certs: MemberCerts,
        now: Instant,
        now_s: f64,
    ) -> MembershipEvent {
        let id = advert.node_id.clone();
        self.members.insert(
            id.clone(),
            Member {
                advert,
                certs,
                joined_at_s: now_s,
                last_heartbeat: Some(now),
                state: NodeState::Alive,
                dead_since: None,
            },
        );
        MembershipEvent::Joined(id)
    }

    /// A heartbeat from a node over a connection authenticated with the
    /// certificate whose SHA-256 is `cert_fingerprint`, at `now` (`now_s` on
    /// the wall clock, for certificates).
    pub fn heartbeat(
        &mut self,
        advert: NodeAdvert,
        cert_fingerprint: &str,
        now: Instant,
        now_s: f64,
    ) -> Result<Option<MembershipEvent>, HeartbeatError> {
        let id = advert.node_id.clone();
        let member = self
            .members
            .get_mut(&id)
            .ok_or_else(|| HeartbeatError::Unknown(id.clone()))?;
        if !member.certs.holds(cert_fingerprint, now_s) {
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

    /// The member holding certificate `fingerprint` leaves (it drains): it is
    /// dead from now on, until a heartbeat says otherwise (it came back).
    /// Its id, and the event if it was alive.
    pub fn leave(
        &mut self,
        fingerprint: &str,
        now: Instant,
        now_s: f64,
    ) -> Option<(String, Option<MembershipEvent>)> {
        let member = self
            .members
            .values_mut()
            .find(|m| m.certs.holds(fingerprint, now_s))?;
        let id = member.advert.node_id.clone();
        if member.state != NodeState::Alive {
            return Some((id, None));
        }
        member.state = NodeState::Dead;
        member.dead_since = Some(now);
        Some((id.clone(), Some(MembershipEvent::Dead(id))))
    }

    /// A member's advert as last heard.
    pub fn advert(&self, id: &str) -> Option<&NodeAdvert> {
        self.members.get(id).map(|m| &m.advert)
    }

    /// A member's certificates.
    pub fn certs(&self, id: &str) -> Option<&MemberCerts> {
        self.members.get(id).map(|m| &m.certs)
    }

    /// Whether the member presenting `fingerprint` should renew: its newest
    /// certificate is in the last third of `lifetime`, or it still presents
    /// the one before (it never got the newest).
    pub fn renewal_due(&self, fingerprint: &str, lifetime: Duration, now_s: f64) -> bool {
        self.holder(fingerprint, now_s).is_some_and(|m| {
            m.certs.current.fingerprint != fingerprint
                || pki::renewal_due(m.certs.current.expires_at_s, lifetime, now_s)
        })
    }

    /// The member that holds the certificate `fingerprint`, valid at `now_s`.
    fn holder(&self, fingerprint: &str, now_s: f64) -> Option<&Member> {
        self.members
            .values()
            .find(|m| m.certs.holds(fingerprint, now_s))
    }

    /// Which member presenting `fingerprint` may be given a new certificate
    /// now (its id), as [`Membership::renewal_due`] says.
    pub fn may_renew(
        &self,
        fingerprint: &str,
        lifetime: Duration,
        now_s: f64,
    ) -> Result<String, RenewError> {
        let member = self.holder(fingerprint, now_s).ok_or(RenewError::Unknown)?;
        let id = member.advert.node_id.clone();
        if self.renewal_due(fingerprint, lifetime, now_s) {
            Ok(id)
        } else {
            Err(RenewError::NotDue(id))
        }
    }

    /// Records the certificate `new` given to member `id`, which presented
    /// `presented`: the one it replaces stays valid until it expires. A node
    /// that renews with the previous certificate (the newest never reached
    /// it) keeps that one as the previous.
    pub fn renewed(&mut self, id: &str, presented: &str, new: IssuedCert, now_s: f64) {
        let Some(member) = self.members.get_mut(id) else {
            return;
        };
        let certs = &mut member.certs;
        if certs.current.fingerprint == presented {
            let mut replaced = std::mem::replace(&mut certs.current, new);
            // One from before certificates expired stays valid no longer
            // than a new one would need to be renewed.
            replaced.expires_at_s.get_or_insert(now_s + 3600.0);
            certs.previous = Some(replaced);
        } else {
            certs.current = new;
        }
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

    /// `(advert, certificates, joined at)` of every member, to persist.
    pub fn records(&self) -> Vec<(NodeAdvert, MemberCerts, f64)> {
        self.members
            .values()
            .map(|m| (m.advert.clone(), m.certs.clone(), m.joined_at_s))
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
            // The head's own is the head's to say.
            cert_expires_at_s: None,
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
            cert_expires_at_s: m.certs.current.expires_at_s,
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

    /// Certificate `fingerprint`, far from expiring.
    fn certs(fingerprint: &str) -> MemberCerts {
        MemberCerts {
            current: IssuedCert {
                fingerprint: fingerprint.to_owned(),
                expires_at_s: Some(1e12),
            },
            previous: None,
        }
    }

    fn issued(fingerprint: &str, expires_at_s: Option<f64>) -> IssuedCert {
        IssuedCert {
            fingerprint: fingerprint.to_owned(),
            expires_at_s,
        }
    }

    #[test]
    fn silent_nodes_die_after_the_timeout_and_come_back() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut m = Membership::new(advert("head"), Duration::from_secs(3), 0.0);
        m.admit(advert("a"), certs("fa"), at(0), 0.0);
        m.admit(advert("b"), certs("fb"), at(0), 0.0);
        for s in 1..=10 {
            // a keeps beating every second; b falls silent after 1 s.
            assert_eq!(m.heartbeat(advert("a"), "fa", at(s * 1000), 0.0), Ok(None));
            if s == 1 {
                m.heartbeat(advert("b"), "fb", at(1000), 0.0).unwrap();
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
            m.heartbeat(advert("b"), "fb", at(11_000), 0.0),
            Ok(Some(MembershipEvent::Alive("b".into())))
        );
        assert!(m.sweep(at(11_500)).is_empty());
    }

    #[test]
    fn a_member_that_leaves_is_dead_at_once_and_alive_again_when_it_beats() {
        let t0 = Instant::now();
        let mut m = Membership::new(advert("head"), Duration::from_secs(60), 0.0);
        m.admit(advert("a"), certs("fa"), t0, 0.0);
        assert_eq!(m.leave("nobody's", t0, 0.0), None);
        assert_eq!(
            m.leave("fa", t0, 0.0),
            Some(("a".into(), Some(MembershipEvent::Dead("a".into()))))
        );
        // Twice: no second event; the sweep adds none either.
        assert_eq!(m.leave("fa", t0, 0.0), Some(("a".into(), None)));
        assert!(m.sweep(t0 + Duration::from_secs(1)).is_empty());
        assert!(m.alive().is_empty(), "no member alive: {:?}", m.alive());
        // The pod came back with its state: alive again.
        assert_eq!(
            m.heartbeat(advert("a"), "fa", t0 + Duration::from_secs(2), 0.0),
            Ok(Some(MembershipEvent::Alive("a".into())))
        );
    }

    #[test]
    fn nodes_dead_for_the_retention_are_forgotten_and_must_join_again() {
        let t0 = Instant::now();
        let mut m = Membership::new(advert("head"), Duration::from_secs(3), 0.0);
        m.admit(advert("a"), certs("fa"), t0, 0.0);
        m.admit(advert("b"), certs("fb"), t0, 0.0);
        let dead_at = t0 + Duration::from_secs(4);
        // a keeps beating; b dies at 4 s.
        let beat =
            |m: &mut Membership, at: Instant| m.heartbeat(advert("a"), "fa", at, 0.0).unwrap();
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
            m.heartbeat(advert("b"), "fb", past, 0.0),
            Err(HeartbeatError::Unknown("b".into())),
            "b must join again"
        );
    }

    #[test]
    fn heartbeats_need_membership_and_the_nodes_own_certificate() {
        let now = Instant::now();
        let mut m = Membership::new(advert("head"), Duration::from_secs(3), 0.0);
        assert_eq!(
            m.heartbeat(advert("x"), "fx", now, 0.0),
            Err(HeartbeatError::Unknown("x".into()))
        );
        m.admit(advert("a"), certs("fa"), now, 0.0);
        m.admit(advert("b"), certs("fb"), now, 0.0);
        assert_eq!(
            m.heartbeat(advert("a"), "fb", now, 0.0),
            Err(HeartbeatError::WrongCertificate("a".into()))
        );
    }

    #[test]
    fn certificates_are_renewed_in_the_last_third_of_their_life_and_the_old_one_lapses() {
        let now = Instant::now();
        let life = Duration::from_secs(90);
        let mut m = Membership::new(advert("head"), Duration::from_secs(3), 0.0);
        let first = MemberCerts {
            current: issued("f1", Some(90.0)),
            previous: None,
        };
        m.admit(advert("a"), first, now, 0.0);
        assert!(!m.renewal_due("f1", life, 59.0));
        assert_eq!(
            m.may_renew("f1", life, 59.0),
            Err(RenewError::NotDue("a".into()))
        );
        assert!(m.renewal_due("f1", life, 61.0));
        assert_eq!(m.may_renew("f1", life, 61.0), Ok("a".into()));
        assert_eq!(m.may_renew("fx", life, 61.0), Err(RenewError::Unknown));
        m.renewed("a", "f1", issued("f2", Some(151.0)), 61.0);
        assert_eq!(m.list(now)[1].cert_expires_at_s, Some(151.0));
        // Connections made before the renewal carry the old one: taken until
        // it expires, and a node still on it renews again.
        assert_eq!(m.heartbeat(advert("a"), "f2", now, 62.0), Ok(None));
        assert!(!m.renewal_due("f2", life, 62.0));
        assert_eq!(m.heartbeat(advert("a"), "f1", now, 89.0), Ok(None));
        assert!(m.renewal_due("f1", life, 89.0));
        assert_eq!(
            m.heartbeat(advert("a"), "f1", now, 90.0),
            Err(HeartbeatError::WrongCertificate("a".into()))
        );
        assert_eq!(m.may_renew("f1", life, 90.0), Err(RenewError::Unknown));
        // The answer to a renewal never arrived: the node renews with the
        // old one again, which stays the previous one.
        m.renewed("a", "f2", issued("f3", Some(200.0)), 120.0);
        m.renewed("a", "f2", issued("f4", Some(201.0)), 121.0);
        let certs = m.certs("a").unwrap();
        assert_eq!(certs.current, issued("f4", Some(201.0)));
        assert_eq!(certs.previous, Some(issued("f2", Some(151.0))));
        assert_eq!(
            m.heartbeat(advert("a"), "f3", now, 121.0),
            Err(HeartbeatError::WrongCertificate("a".into()))
        );
    }

    #[test]
    fn a_certificate_from_before_expiry_is_due_at_once_and_lapses_an_hour_after_renewal() {
        let now = Instant::now();
        let life = Duration::from_secs(90);
        let mut m = Membership::new(advert("head"), Duration::from_secs(3), 0.0);
        let old = MemberCerts {
            current: issued("f1", None),
            previous: None,
        };
        m.admit(advert("a"), old, now, 0.0);
        assert!(m.renewal_due("f1", life, 0.0));
        m.renewed("a", "f1", issued("f2", Some(1000.0)), 10.0);
        assert_eq!(m.heartbeat(advert("a"), "f1", now, 3609.0), Ok(None));
        assert_eq!(
            m.heartbeat(advert("a"), "f1", now, 3610.0),
            Err(HeartbeatError::WrongCertificate("a".into()))
        );
    }
}

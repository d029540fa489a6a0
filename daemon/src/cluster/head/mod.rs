//! The head's side of the cluster: it holds the CA key, makes join tokens,
//! signs joining nodes' certificates, keeps membership from heartbeats
//! (persisted in `nodes.json`), answers members' heartbeats with the cluster
//! route table, and runs the failure detector that declares silent nodes dead.

mod admission;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rserve_protocol::stream::EventReason;
use rserve_protocol::wire::{ErrorCode, NodeAdvert, ReplicaReport, Request, Response, WireError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::fleet::Fleet;
use super::heartbeat::HEARTBEAT_PERIOD;
use super::membership::{Membership, MembershipEvent};
use super::nodes_file::NodesFile;
use super::placement::Host;
use super::pool_token::{Binding, PoolToken};
use super::revoked::{self, RemovedNode, Revoked};
use super::tokens::TokenStore;
use crate::observe::events::{EventLog, Subject};
use crate::pki::{self, CaIssuer, LiveCert};
use crate::unix_now_s as now_s;

/// How often the failure detector looks at membership.
const SWEEP_PERIOD: Duration = Duration::from_millis(200);
/// How often the head looks at its own certificate's expiry.
const CERT_CHECK_PERIOD: Duration = Duration::from_secs(1);

/// What only the head holds.
#[derive(Debug)]
pub struct Head {
    /// The cluster id (the CA fingerprint).
    cluster_id: String,
    /// Signs joining nodes' certificates.
    issuer: CaIssuer,
    /// Join tokens.
    tokens: Mutex<TokenStore>,
    /// Reusable pool tokens (`--pool-token-file`), read at start.
    pool_tokens: Vec<PoolToken>,
    /// Who is in the cluster and alive.
    membership: Mutex<Membership>,
    /// Where membership is persisted.
    nodes_file: Arc<NodesFile>,
    /// The state dir (`revoked_nodes.json`).
    state_dir: PathBuf,
    /// Nodes an operator removed, and their refused certificates.
    removed: Mutex<Vec<RemovedNode>>,
    /// Those certificates, as every call checks them (shared with the endpoint).
    pub revoked: Arc<Revoked>,
    /// Placement, proxies and the cluster route table (shared with the controller).
    pub fleet: Arc<Fleet>,
    /// The cluster's event log.
    pub events: Arc<EventLog>,
    /// The head's node id.
    node_id: String,
    /// Its own certificate (renewed here before it expires), and the
    /// lifetime of those it issues.
    certs: HeadCerts,
}

/// How the head's certificates are made: its own, presented by the node,
/// and the lifetime of every one it issues (`--node-cert-lifetime-s`).
#[derive(Debug, Clone)]
pub struct HeadCerts {
    /// The head's own certificate.
    pub cert: Arc<LiveCert>,
    /// How long the certificates the head issues are valid.
    pub lifetime: Duration,
}

impl Head {
    /// Loads the CA key, join tokens and persisted members (who get one
    /// timeout from now to heartbeat again, while placement holds).
    /// The head's own certificate is reissued now if it is due, or if it
    /// does not name the head (made before certificates did).
    pub fn load(
        state_dir: &Path,
        advert: NodeAdvert,
        timeout: Duration,
        fleet: Arc<Fleet>,
        events: Arc<EventLog>,
        certs: HeadCerts,
    ) -> anyhow::Result<Self> {
        let issuer = CaIssuer::load(state_dir)?.with_context(|| {
            format!(
                "{} has no cluster CA key and no cluster.json: it is neither a head nor a member; use a fresh --state-dir",
                state_dir.display()
            )
        })?;
        let node_id = advert.node_id.clone();
        let nodes_file = Arc::new(NodesFile::new(state_dir));
        let mut membership = Membership::new(advert, timeout, now_s());
        let records = nodes_file.load()?;
        let now = Instant::now();
        if !records.is_empty() {
            // Members report what they still run before anything is placed.
            fleet.hold_until(now + timeout + HEARTBEAT_PERIOD * 2);
        }
        for (advert, certs, joined_at_s) in records {
            membership.admit(advert, certs, now, joined_at_s);
        }
        fleet.set_members(hosts(&membership));
        let removed = revoked::load(state_dir)?;
        let revoked = Arc::new(Revoked::default());
        revoked.replace(removed.iter().map(|r| r.cert_fingerprint.clone()).collect());
        let unmarked = !certs.cert.is_head();
        if unmarked || pki::renewal_due(certs.cert.expires_at_s(), certs.lifetime, now_s()) {
            renew_own(&issuer, &certs, &node_id)?;
            events.record(
                EventReason::CertificateRenewed,
                Subject::node(&node_id),
                if unmarked {
                    "the head's own, now naming it the head (from before certificates did)"
                        .to_owned()
                } else {
                    format!(
                        "the head's own, valid for {}",
                        human_duration(certs.lifetime)
                    )
                },
            );
        }
        Ok(Self {
            node_id,
            certs,
            state_dir: state_dir.to_owned(),
            removed: Mutex::new(removed),
            revoked,
            cluster_id: issuer.fingerprint.clone(),
            tokens: Mutex::new(TokenStore::load(state_dir, now_s())?),
            pool_tokens: Vec::new(),
            issuer,
            membership: Mutex::new(membership),
            nodes_file,
            fleet,
            events,
        })
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// Handles the head's calls of the control protocol. `peer` is the SHA-256
    /// of the client certificate the connection was authenticated with, if any.
    pub fn handle(
        &self,
        request: Request,
        peer: Option<&str>,
        remote: SocketAddr,
        binding: Option<&Binding>,
    ) -> Response {
        match request {
            Request::CreateJoinToken { ttl_s, uses } => self.create_token(ttl_s, uses),
            Request::Join {
                token,
                public_key,
                advert,
            } => self.join(&token, &public_key, advert, remote, binding),
            Request::Heartbeat {
                advert,
                replicas,
                routes_version,
                router_figures,
            } => match peer {
                Some(peer) => {
                    let node_id = advert.node_id.clone();
                    let ack = self.heartbeat(advert, &replicas, routes_version, peer, remote);
                    if !matches!(ack, Response::Error(_)) {
                        self.fleet.set_figures(&node_id, router_figures);
                    }
                    ack
                }
                None => unauthorized(
                    "heartbeats need the node's cluster certificate (mutual TLS)".to_owned(),
                ),
            },
            Request::RenewCertificate { public_key } => match peer {
                Some(peer) => self.renew(peer, &public_key, remote),
                None => unauthorized(
                    "a renewal needs the node's current cluster certificate (mutual TLS)"
                        .to_owned(),
                ),
            },
            Request::Leaving => match peer {
                Some(peer) => self.leaving(peer, remote),
                None => unauthorized(
                    "leaving needs the node's cluster certificate (mutual TLS)".to_owned(),
                ),
            },
            Request::Nodes => self.nodes(),
            Request::RemoveNode { node_id } => self.remove_node(&node_id),
            other => Response::Error(WireError {
                code: ErrorCode::BadRequest,
                message: format!("not a call for the cluster head: {other:?}"),
            }),
        }
    }

    fn create_token(&self, ttl_s: f64, uses: u32) -> Response {
        let created =
            self.tokens
                .lock()
                .unwrap()
                .create(&self.issuer.fingerprint, ttl_s, uses, now_s());
        match created {
            Ok(token) => {
                info!(ttl_s, uses, "Join token created.");
                Response::JoinToken {
                    token: token.to_text(),
                    expires_at_s: now_s() + ttl_s,
                }
            }
            Err(e) => Response::Error(WireError {
                code: ErrorCode::Internal,
                message: format!("{e:#}"),
            }),
        }
    }

    /// A member's heartbeat: membership, its replicas' phases, and the route
    /// table if it has an older one.
    fn heartbeat(
        &self,
        mut advert: NodeAdvert,
        replicas: &[ReplicaReport],
        routes_version: u64,
        peer: &str,
        remote: SocketAddr,
    ) -> Response {
        if let Err(e) = advert.check() {
            warn!(%remote, reason = %e, "Refused a heartbeat: bad advert.");
            return bad_advert(e);
        }
        fix_addresses(&mut advert, remote);
        let node_id = advert.node_id.clone();
        let mut membership = self.membership.lock().unwrap();
        // Placement sees the members again only when one changed: a steady
        // heartbeat costs O(1) under the lock, not a copy of every advert.
        let mut changed = membership.advert(&node_id) != Some(&advert);
        let now = now_s();
        match membership.heartbeat(advert, peer, Instant::now(), now) {
            Ok(Some(MembershipEvent::Alive(id))) => {
                changed = true;
                info!(node = %id, "Node is alive again.");
                self.events.record(
                    EventReason::NodeAlive,
                    Subject::node(&id),
                    "heartbeats again; it stands down and rejoins",
                );
            }
            Ok(_) => {}
            Err(e) => {
                warn!(%remote, reason = %e, "Refused a heartbeat.");
                return unauthorized(e.to_string());
            }
        }
        if changed {
            self.fleet.set_members(hosts(&membership));
        }
        self.fleet.report(&node_id, replicas);
        // Just after a restart the table is not yet authoritative (members
        // keep serving with the one they have), nor before it was ever set.
        let current = self.fleet.routes_version();
        let routes = (routes_version != current && current > 0 && !self.fleet.holding())
            .then(|| Box::new(self.fleet.routes()));
        Response::HeartbeatAck {
            node_timeout_s: membership.timeout().as_secs_f64(),
            routes,
            revoked: self.revoked.all(),
            renew_certificate: membership.renewal_due(peer, self.certs.lifetime, now),
        }
    }

    /// `rserve nodes remove ID`: forgets the member, places its replicas
    /// elsewhere, and refuses its certificate on every node from now on (it
    /// may come back only by joining again with a new token).
    fn remove_node(&self, node_id: &str) -> Response {
        let mut membership = self.membership.lock().unwrap();
        let Some(certs) = membership.certs(node_id).cloned() else {
            return Response::Error(WireError {
                code: ErrorCode::NotFound,
                message: if membership.list(Instant::now())[0].advert.node_id == node_id {
                    format!("{node_id} is the head; it cannot remove itself")
                } else {
                    format!("no member {node_id} in the cluster (see `rserve nodes`)")
                },
            });
        };
        // Its newest certificate and the one before (still valid until it
        // expires) are both refused.
        let fingerprints: Vec<String> = std::iter::once(certs.current.fingerprint)
            .chain(certs.previous.map(|p| p.fingerprint))
            .collect();
        let mut removed = self.removed.lock().unwrap();
        let before = removed.len();
        removed.extend(fingerprints.iter().map(|f| RemovedNode {
            node_id: node_id.to_owned(),
            cert_fingerprint: f.clone(),
            removed_at_s: now_s(),
        }));
        if let Err(e) = revoked::save(&self.state_dir, &removed) {
            // Nothing changes unless the revocation holds across a restart.
            removed.truncate(before);
            return Response::Error(WireError {
                code: ErrorCode::Internal,
                message: format!("{e:#}"),
            });
        }
        membership.remove(node_id);
        for f in fingerprints {
            self.revoked.insert(f);
        }
        self.nodes_file.save(&membership);
        self.fleet.set_members(hosts(&membership));
        self.fleet
            .node_died(node_id, "was removed from the cluster");
        warn!(node = %node_id, "Node removed: its replicas are placed elsewhere and its certificate is refused.");
        self.events.record(
            EventReason::NodeRemoved,
            Subject::node(node_id),
            "removed by an operator: its replicas are placed elsewhere and its certificate is refused"
                .to_owned(),
        );
        Response::Accepted
    }

    fn nodes(&self) -> Response {
        let mut nodes = self.membership.lock().unwrap().list(Instant::now());
        nodes[0].cert_expires_at_s = self.certs.cert.expires_at_s();
        for node in &mut nodes {
            node.replicas = self.fleet.replicas_on(&node.advert.node_id);
            node.used = self.fleet.usage_on(&node.advert.node_id);
        }
        Response::Nodes { nodes }
    }

    /// Renews the head's own certificate if it is due (blocking file I/O:
    /// run off the async threads).
    fn renew_own_if_due(&self) {
        if !pki::renewal_due(self.certs.cert.expires_at_s(), self.certs.lifetime, now_s()) {
            return;
        }
        match renew_own(&self.issuer, &self.certs, &self.node_id) {
            Ok(()) => self.events.record(
                EventReason::CertificateRenewed,
                Subject::node(&self.node_id),
                format!(
                    "the head's own, valid for {}",
                    human_duration(self.certs.lifetime)
                ),
            ),
            Err(e) => {
                warn!(error = %format!("{e:#}"), "Cannot renew the head's certificate; retrying.");
            }
        }
    }

    /// The failure detector: sweeps membership until `stop`; a dead node's
    /// replicas are placed elsewhere. The head's own certificate is renewed
    /// here too when it is due.
    pub async fn watch_members(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_PERIOD);
        let mut cert_check = tokio::time::interval(CERT_CHECK_PERIOD);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = cert_check.tick() => {
                    let head = self.clone();
                    let _ = tokio::task::spawn_blocking(move || head.renew_own_if_due()).await;
                    continue;
                }
                _ = tick.tick() => {}
            }
            let mut membership = self.membership.lock().unwrap();
            let events = membership.sweep(Instant::now());
            if events.is_empty() {
                continue;
            }
            self.fleet.set_members(hosts(&membership));
            if events
                .iter()
                .any(|e| matches!(e, MembershipEvent::Removed(_)))
            {
                self.nodes_file.save(&membership);
            }
            for event in events {
                if let MembershipEvent::Removed(id) = &event {
                    info!(node = %id, "Node forgotten: dead for 24 h; it must join again.");
                    self.events.record(
                        EventReason::NodeRemoved,
                        Subject::node(id),
                        "dead for 24 h: forgotten; it must join again with a new token".to_owned(),
                    );
                }
                if let MembershipEvent::Dead(id) = event {
                    warn!(node = %id, timeout_s = membership.timeout().as_secs_f64(), "Node declared dead: no heartbeat within the node timeout; its replicas will be placed elsewhere.");
                    self.events.record(
                        EventReason::NodeDead,
                        Subject::node(&id),
                        format!(
                            "no heartbeat within {:?}; its replicas are placed elsewhere",
                            membership.timeout()
                        ),
                    );
                    self.fleet.node_died(&id, "is dead (no heartbeat)");
                }
            }
        }
    }
}

/// Issues the head a new certificate and presents it from now on.
fn renew_own(issuer: &CaIssuer, certs: &HeadCerts, node_id: &str) -> anyhow::Result<()> {
    let (key, issued) = issuer.issue_head(node_id, certs.lifetime, now_s())?;
    certs.cert.install(&key, &issued.cert_pem)?;
    info!(
        expires_at_s = issued.expires_at_s,
        "Renewed the head's certificate."
    );
    Ok(())
}

/// `90d`, `12h`, `30m` or `45s`: the largest whole unit.
fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        86400.. => format!("{}d", s / 86400),
        3600.. => format!("{}h", s / 3600),
        60.. => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

fn bad_request(message: String) -> Response {
    Response::Error(WireError {
        code: ErrorCode::BadRequest,
        message,
    })
}

fn unauthorized(message: String) -> Response {
    Response::Error(WireError {
        code: ErrorCode::Unauthorized,
        message,
    })
}

/// The alive members as placement candidates.
fn hosts(membership: &Membership) -> Vec<Host> {
    membership
        .alive()
        .into_iter()
        .filter_map(|a| {
            Some(Host {
                address: a.control_address.parse().ok()?,
                node_id: a.node_id,
                resources: a.resources,
                labels: a.labels,
            })
        })
        .collect()
}

/// A node bound to `0.0.0.0` advertises the address the head sees it from.
fn fix_addresses(advert: &mut NodeAdvert, remote: SocketAddr) {
    for addr in [&mut advert.http_address, &mut advert.control_address] {
        if let Ok(mut parsed) = addr.parse::<SocketAddr>()
            && parsed.ip().is_unspecified()
        {
            parsed.set_ip(remote.ip());
            *addr = parsed.to_string();
        }
    }
}

/// A join or heartbeat whose advert does not hold up.
fn bad_advert(reason: String) -> Response {
    Response::Error(WireError {
        code: ErrorCode::BadRequest,
        message: format!("the node's advert is refused: {reason}"),
    })
}

//! Clusters: nodes joined under one CA, the head's membership view, and the
//! node-to-node connections (mutual TLS over QUIC, the control protocol).
//!
//! The first node (`rserve up`) is the head: it holds the cluster CA key, makes
//! join tokens, signs joining nodes' certificates and tracks membership from
//! heartbeats. A node started with `--join HOST:PORT --token T` generates a key
//! pair, checks that the head's certificate chains to the CA named in the token,
//! proves the token, receives a certificate for its key, and from then on
//! connects to the head with that certificate (mutual TLS) and heartbeats.

pub mod host;
pub mod link;
pub mod membership;
pub mod mesh;
pub mod resources;
pub mod tokens;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use rserve_protocol::wire::{NodeAdvert, Request, Response, WireError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::control::client::{ClientError, ControlClient};
use crate::control::tls::{self, CaIssuer, MESH_SERVER_NAME, NodeIdentity, TlsPaths};
use crate::replica::LocalReplicas;
use crate::router::Routes;
use host::ReplicaHost;
use link::{ClusterLink, NodeView};
use membership::{Membership, MembershipEvent};
use mesh::Mesh;
use tokens::{JoinToken, TokenStore};

/// How often a member node heartbeats the head.
pub const HEARTBEAT_PERIOD: Duration = Duration::from_secs(1);
/// Default time without a heartbeat after which the head declares a node dead.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long node-to-node calls wait for an answer.
const MESH_TIMEOUT: Duration = Duration::from_secs(5);

/// `<state dir>/cluster.json`: present on member nodes (not on the head).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterFile {
    /// The head's control address.
    pub head: SocketAddr,
    /// The cluster id (the CA fingerprint).
    pub cluster_id: String,
}

impl ClusterFile {
    fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("cluster.json")
    }

    /// Reads the file, if this state dir belongs to a member node.
    pub fn read(state_dir: &Path) -> anyhow::Result<Option<Self>> {
        let path = Self::path(state_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{} is not a cluster file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn write(&self, state_dir: &Path) -> anyhow::Result<()> {
        crate::controller::store::write_atomic(
            &Self::path(state_dir),
            &serde_json::to_vec_pretty(self)?,
        )
    }
}

/// What only the head holds.
pub struct HeadState {
    /// Signs joining nodes' certificates.
    issuer: CaIssuer,
    /// Join tokens.
    tokens: Mutex<TokenStore>,
    /// Who is in the cluster and alive.
    membership: Mutex<Membership>,
    /// Where membership is persisted.
    nodes_file: PathBuf,
}

/// A node's place in its cluster.
pub enum Role {
    /// The head: CA, join tokens, membership.
    Head(Box<HeadState>),
    /// A member node that heartbeats the head.
    Member {
        /// The head's control address.
        head: SocketAddr,
    },
}

/// The cluster as this node knows it.
pub struct Cluster {
    /// Head or member.
    pub role: Role,
    /// The cluster id (the CA fingerprint).
    pub cluster_id: String,
    /// Replicas hosted by this process (served to requests forwarded by others).
    pub local: Arc<LocalReplicas>,
    /// Head: placement, proxies, the cluster route table.
    pub link: Option<Arc<ClusterLink>>,
    /// Member: replicas run for the head, and the route table it serves.
    pub host: Option<Arc<ReplicaHost>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("cluster_id", &self.cluster_id)
            .finish_non_exhaustive()
    }
}

/// A membership record as persisted by the head.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeRecord {
    advert: NodeAdvert,
    cert_fingerprint: String,
    joined_at_s: f64,
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 (hex) of a leaf certificate: how the head recognises a member's connection.
pub fn cert_fingerprint(der: &[u8]) -> String {
    sha256_hex(der)
}

impl Cluster {
    /// The cluster of a head: loads the CA key, join tokens and persisted members
    /// (who get one timeout from now to heartbeat again).
    pub fn head(
        state_dir: &Path,
        advert: NodeAdvert,
        timeout: Duration,
        mesh: Arc<Mesh>,
    ) -> anyhow::Result<Self> {
        let issuer = CaIssuer::load(state_dir)?.with_context(|| {
            format!(
                "{} has no cluster CA key and no cluster.json: it is neither a head nor a member; use a fresh --state-dir",
                state_dir.display()
            )
        })?;
        let nodes_file = state_dir.join("nodes.json");
        let local = Arc::new(LocalReplicas::default());
        let link = Arc::new(ClusterLink::new(
            NodeView {
                node_id: advert.node_id.clone(),
                address: advert
                    .control_address
                    .parse()
                    .context("the head's control address")?,
                resources: advert.resources.clone(),
                labels: advert.labels.clone(),
            },
            mesh,
            local.clone(),
        ));
        let mut membership = Membership::new(advert, timeout, now_s());
        if let Ok(bytes) = std::fs::read(&nodes_file) {
            let records: Vec<NodeRecord> = serde_json::from_slice(&bytes).map_err(|e| {
                crate::controller::store::StoreError::Corrupt {
                    path: nodes_file.clone(),
                    reason: e.to_string(),
                }
            })?;
            let now = Instant::now();
            if !records.is_empty() {
                // Members report what they still run before anything is placed.
                link.hold_until(now + timeout + HEARTBEAT_PERIOD * 2);
            }
            for r in records {
                membership.admit(r.advert, r.cert_fingerprint, now, r.joined_at_s);
            }
        }
        link.set_members(node_views(&membership));
        Ok(Self {
            cluster_id: issuer.fingerprint.clone(),
            local,
            link: Some(link),
            host: None,
            role: Role::Head(Box::new(HeadState {
                tokens: Mutex::new(TokenStore::load(state_dir)?),
                issuer,
                membership: Mutex::new(membership),
                nodes_file,
            })),
        })
    }

    /// The cluster of a member node, serving the head's route table on `routes`.
    pub fn member(
        file: &ClusterFile,
        node_id: String,
        mesh: Arc<Mesh>,
        routes: Arc<Routes>,
    ) -> Self {
        let local = Arc::new(LocalReplicas::default());
        Self {
            cluster_id: file.cluster_id.clone(),
            role: Role::Member { head: file.head },
            host: Some(Arc::new(ReplicaHost::new(
                node_id,
                local.clone(),
                mesh,
                routes,
            ))),
            link: None,
            local,
        }
    }

    /// On a member: asks the head (read-only calls: status, config, nodes), so
    /// the CLI gets the cluster's answer whichever node it talks to.
    pub async fn ask_head(&self, request: &Request) -> Result<Response, String> {
        match (&self.role, &self.host) {
            (Role::Member { head }, Some(host)) => host
                .ask(*head, request)
                .await
                .map_err(|e| format!("cannot reach the cluster head at {head}: {e}")),
            _ => Err("this node is the head".to_owned()),
        }
    }

    /// The head's address, on a member.
    pub fn head_address(&self) -> Option<SocketAddr> {
        match &self.role {
            Role::Member { head } => Some(*head),
            Role::Head(_) => None,
        }
    }

    /// Whether this node is the head.
    pub fn is_head(&self) -> bool {
        matches!(self.role, Role::Head(_))
    }

    fn not_head(&self) -> Response {
        let Role::Member { head } = &self.role else {
            unreachable!("only members are not the head")
        };
        Response::Error(WireError {
            code: rserve_protocol::wire::ErrorCode::BadRequest,
            message: format!(
                "this node is a member of cluster {}; cluster calls go to the head: rserve --address {head} …",
                self.cluster_id
            ),
        })
    }

    /// Handles the cluster calls of the control protocol. `peer` is the SHA-256
    /// of the client certificate the connection was authenticated with, if any.
    pub fn handle(&self, request: Request, peer: Option<&str>, remote: SocketAddr) -> Response {
        if let Request::StartReplica { .. } | Request::StopReplica { .. } = &request {
            if peer.is_none() {
                return Response::Error(WireError {
                    code: rserve_protocol::wire::ErrorCode::Unauthorized,
                    message: "replica commands need a node certificate of this cluster".to_owned(),
                });
            }
            let Some(host) = &self.host else {
                return Response::Error(WireError {
                    code: rserve_protocol::wire::ErrorCode::BadRequest,
                    message: "the head places replicas; it takes no replica commands".to_owned(),
                });
            };
            match request {
                Request::StartReplica {
                    app,
                    replica_id,
                    config,
                } => host.start(&app, replica_id, &config),
                Request::StopReplica { replica_id } => host.stop(&replica_id),
                _ => unreachable!("matched above"),
            }
            return Response::Accepted;
        }
        let Role::Head(head) = &self.role else {
            return self.not_head();
        };
        let HeadState {
            issuer,
            tokens,
            membership,
            nodes_file,
        } = head.as_ref();
        let unauthorized = |message: String| {
            Response::Error(WireError {
                code: rserve_protocol::wire::ErrorCode::Unauthorized,
                message,
            })
        };
        match request {
            Request::CreateJoinToken { ttl_s } => {
                match tokens
                    .lock()
                    .unwrap()
                    .create(&issuer.fingerprint, ttl_s, now_s())
                {
                    Ok(token) => {
                        info!(ttl_s, "Join token created.");
                        Response::JoinToken {
                            token: token.to_text(),
                            expires_at_s: now_s() + ttl_s,
                        }
                    }
                    Err(e) => Response::Error(WireError {
                        code: rserve_protocol::wire::ErrorCode::Internal,
                        message: format!("{e:#}"),
                    }),
                }
            }
            Request::Join {
                token,
                public_key,
                mut advert,
            } => {
                if let Err(e) = tokens.lock().unwrap().verify(&token, now_s()) {
                    warn!(%remote, node = %advert.node_id, reason = %e, "Refused a node's join.");
                    return unauthorized(e.to_string());
                }
                let key = match decode_hex(&public_key) {
                    Some(key) => key,
                    None => return unauthorized("the public key is not hex".to_owned()),
                };
                let cert_pem = match issuer.sign_node(&advert.node_id, &key) {
                    Ok(pem) => pem,
                    Err(e) => return unauthorized(format!("{e:#}")),
                };
                let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
                    .expect("rcgen writes valid PEM");
                fix_addresses(&mut advert, remote);
                let mut membership = membership.lock().unwrap();
                let event = membership.admit(
                    advert.clone(),
                    cert_fingerprint(&der),
                    Instant::now(),
                    now_s(),
                );
                if let Err(e) = persist(&membership, nodes_file) {
                    warn!(error = %e, "Cannot persist the node list.");
                }
                if let MembershipEvent::Joined(id) = event {
                    info!(node = %id, %remote, http = %advert.http_address, "Node joined the cluster.");
                }
                Response::Joined {
                    cert_pem,
                    ca_pem: issuer.ca_pem.clone(),
                    cluster_id: self.cluster_id.clone(),
                }
            }
            Request::Heartbeat {
                mut advert,
                replicas,
                routes_version,
            } => {
                let Some(peer) = peer else {
                    return unauthorized(
                        "heartbeats need the node's cluster certificate (mutual TLS)".to_owned(),
                    );
                };
                fix_addresses(&mut advert, remote);
                let node_id = advert.node_id.clone();
                let mut membership = membership.lock().unwrap();
                match membership.heartbeat(advert, peer, Instant::now()) {
                    Ok(Some(MembershipEvent::Alive(id))) => {
                        info!(node = %id, "Node is alive again.");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        warn!(%remote, reason = %e, "Refused a heartbeat.");
                        return unauthorized(e.to_string());
                    }
                }
                let link = self.link.as_ref().expect("the head has a link");
                link.set_members(node_views(&membership));
                link.report(&node_id, &replicas);
                // Just after a restart the table is not yet authoritative (members
                // keep serving with the one they have), nor before it was ever set.
                let current = link.routes_version();
                let routes = (routes_version != current && current > 0 && !link.holding())
                    .then(|| Box::new(link.routes()));
                Response::HeartbeatAck {
                    node_timeout_s: membership.timeout().as_secs_f64(),
                    routes,
                }
            }
            Request::Nodes => {
                let mut nodes = membership.lock().unwrap().list(Instant::now());
                let link = self.link.as_ref().expect("the head has a link");
                for node in &mut nodes {
                    node.replicas = link.replicas_on(&node.advert.node_id);
                }
                Response::Nodes { nodes }
            }
            other => unreachable!("not a cluster call: {other:?}"),
        }
    }

    /// The head's failure detector: sweeps membership until `stop`.
    pub async fn watch_members(self: Arc<Self>, stop: CancellationToken) {
        let Role::Head(head) = &self.role else {
            return;
        };
        let membership = &head.membership;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let mut membership = membership.lock().unwrap();
            let events = membership.sweep(Instant::now());
            if events.is_empty() {
                continue;
            }
            let link = self.link.as_ref().expect("the head has a link");
            link.set_members(node_views(&membership));
            for event in events {
                if let MembershipEvent::Dead(id) = event {
                    warn!(node = %id, timeout_s = membership.timeout().as_secs_f64(), "Node declared dead: no heartbeat within the node timeout; its replicas will be placed elsewhere.");
                    link.node_died(&id);
                }
            }
        }
    }
}

/// The alive members as placement candidates.
fn node_views(membership: &Membership) -> Vec<NodeView> {
    membership
        .alive()
        .into_iter()
        .filter_map(|a| {
            Some(NodeView {
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

fn persist(membership: &Membership, path: &Path) -> anyhow::Result<()> {
    let records: Vec<NodeRecord> = membership
        .records()
        .into_iter()
        .map(|(advert, cert_fingerprint, joined_at_s)| NodeRecord {
            advert,
            cert_fingerprint,
            joined_at_s,
        })
        .collect();
    crate::controller::store::write_atomic(path, &serde_json::to_vec_pretty(&records)?)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Trusts a server whose chain includes the CA named by a join token (by
/// fingerprint), and verifies the chain against that CA.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|c| tokens::ca_fingerprint(c) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(
                    "the node's CA is not the one in the join token (another cluster, or a wrong address)"
                        .to_owned(),
                )
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(ca.clone().into_owned())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?
        .verify_server_cert(end_entity, &[], server_name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_builder()
-> anyhow::Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?)
}

/// Why joining failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The token or the head refused (wrong, expired, another cluster).
    #[error("{0}")]
    Refused(String),
    /// Anything else (unreachable head, disk).
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// Joins the cluster whose head is at `head` with `token`: writes this node's
/// key, certificate, the cluster CA and `cluster.json` into `state_dir`.
pub async fn join(
    state_dir: &Path,
    head: SocketAddr,
    token: &str,
    advert: NodeAdvert,
) -> Result<ClusterFile, JoinError> {
    let parsed = JoinToken::parse(token).map_err(|e| JoinError::Refused(e.to_string()))?;
    let key = rcgen::KeyPair::generate().context("cannot generate a key pair")?;
    let crypto = client_builder()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedCa {
            fingerprint: parsed.ca.clone(),
            provider: provider(),
        }))
        .with_no_client_auth();
    let client = ControlClient::connect_with(head, MESH_SERVER_NAME, crypto, None, MESH_TIMEOUT)
        .await
        .map_err(|e| match e {
            ClientError::Rejected(reason) => JoinError::Refused(format!(
                "the node at {head} is not the cluster of this token: {reason}"
            )),
            other => JoinError::Other(other.into()),
        })?;
    let public_key: String = key
        .public_key_raw()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let response = client
        .call(&Request::Join {
            token: token.trim().to_owned(),
            public_key,
            advert,
        })
        .await
        .map_err(|e| JoinError::Other(e.into()))?;
    client.close().await;
    let (cert_pem, ca_pem, cluster_id) = match response {
        Response::Joined {
            cert_pem,
            ca_pem,
            cluster_id,
        } => (cert_pem, ca_pem, cluster_id),
        Response::Error(e) => {
            return Err(JoinError::Refused(format!(
                "the head at {head} refused to let this node join: {}",
                e.message
            )));
        }
        other => {
            return Err(JoinError::Other(anyhow::anyhow!(
                "unexpected answer to a join: {other:?}"
            )));
        }
    };
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes())
        .context("the head sent an unreadable CA certificate")?;
    if tokens::ca_fingerprint(&ca_der) != parsed.ca {
        return Err(JoinError::Refused(
            "the head sent a CA that is not the token's".to_owned(),
        ));
    }
    let paths = TlsPaths::new(state_dir);
    std::fs::create_dir_all(paths.ca_cert.parent().expect("tls dir"))
        .context("cannot create the tls directory")?;
    tls::write_file(&paths.node_key, key.serialize_pem().as_bytes(), 0o600)
        .context("cannot write the node key")?;
    tls::write_file(&paths.ca_cert, ca_pem.as_bytes(), 0o644)
        .context("cannot write the CA certificate")?;
    // Written last: its presence marks the material complete.
    tls::write_file(&paths.node_cert, cert_pem.as_bytes(), 0o644)
        .context("cannot write the node certificate")?;
    let file = ClusterFile { head, cluster_id };
    file.write(state_dir)?;
    Ok(file)
}

/// TLS for connections from this node to another node of the cluster: trust
/// the cluster CA, present this node's certificate.
pub fn mesh_client_config(
    state_dir: &Path,
    identity: NodeIdentity,
) -> anyhow::Result<rustls::ClientConfig> {
    let paths = TlsPaths::new(state_dir);
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&paths.ca_cert)
        .with_context(|| format!("cannot read {}", paths.ca_cert.display()))?
    {
        roots.add(cert.context("bad CA certificate")?)?;
    }
    Ok(client_builder()?
        .with_root_certificates(roots)
        .with_client_auth_cert(identity.chain, identity.key)?)
}

/// A member node's heartbeat loop: connects to the head with the node's
/// certificate, reports `advert` every [`HEARTBEAT_PERIOD`], reconnects with
/// backoff when the head is gone, until `stop`.
pub async fn heartbeat_loop(
    head: SocketAddr,
    crypto: rustls::ClientConfig,
    advert: NodeAdvert,
    host: Arc<ReplicaHost>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    let mut last_warning: Option<Instant> = None;
    while !stop.is_cancelled() {
        let attempt = async {
            let client = ControlClient::connect_with(
                head,
                MESH_SERVER_NAME,
                crypto.clone(),
                None,
                MESH_TIMEOUT,
            )
            .await?;
            Ok::<_, ClientError>(client)
        };
        let client = tokio::select! {
            () = stop.cancelled() => return,
            client = attempt => client,
        };
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(30)) {
                    warn!(%head, error = %e, "Cannot reach the cluster head; retrying.");
                    last_warning = Some(Instant::now());
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        info!(%head, "Connected to the cluster head.");
        backoff = Duration::from_millis(200);
        let mut tick = tokio::time::interval(HEARTBEAT_PERIOD);
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    client.close().await;
                    return;
                }
                _ = tick.tick() => {}
            }
            match client
                .call(&Request::Heartbeat {
                    advert: advert.clone(),
                    replicas: host.reports(),
                    routes_version: host.routes_version(),
                })
                .await
            {
                Ok(Response::HeartbeatAck { routes, .. }) => {
                    if let Some(routes) = routes {
                        host.apply_routes(&routes);
                    }
                }
                Ok(Response::Error(e)) => {
                    warn!(%head, reason = %e.message, "The head refused this node's heartbeat.");
                    break;
                }
                Ok(other) => {
                    warn!(%head, answer = ?other, "Unexpected answer to a heartbeat.");
                    break;
                }
                Err(e) => {
                    warn!(%head, error = %e, "Lost the cluster head; reconnecting.");
                    break;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
    }
}

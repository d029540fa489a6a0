//! The control protocol between the CLI (or another node) and a node.
//!
//! Sans-I/O: this module only turns messages into bytes and back. Transport (QUIC
//! streams) lives in the daemon. Each frame is a 4-byte big-endian length followed
//! by a JSON document; JSON keeps the control path debuggable, and it is not hot.
//!
//! A connection starts with a handshake on its first stream: the client sends
//! [`Hello`], the node answers [`HelloReply`]. The node refuses a client whose
//! protocol version it does not speak, naming both versions. Every later stream
//! carries one [`Request`] and one [`Response`], except streaming calls
//! ([`Request::Logs`], [`Request::Events`], [`Request::Tap`], [`Request::Watch`]),
//! answered by [`Response::Streaming`] and then [`StreamFrame`]s (see
//! [`stream`]).

use serde::{Deserialize, Serialize};

#[cfg(doc)]
use self::stream::StreamFrame;
use self::stream::{LogQuery, RouterFigures, RoutesView, TapQuery, WatchTarget};
use crate::config::AppFile;
use crate::status::ServeStatus;

mod advert;
mod frame;
pub mod stream;

pub use self::advert::MAX_NODE_UNITS;
pub use self::frame::{FrameDecoder, FrameError, decode, encode};

/// The protocol version this build speaks. Version 2 added the streaming
/// calls; every version-1 call is unchanged, so a node still takes version-1
/// clients.
pub const PROTOCOL_VERSION: u32 = 2;
/// The oldest client version a node still serves.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
/// The QUIC ALPN token of the control protocol.
pub const ALPN: &[u8] = b"rserve-control/1";
/// The largest frame either side accepts (an application file is far smaller).
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// First message from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version the client speaks.
    pub protocol_version: u32,
    /// The client's rserve version, for logs.
    pub software_version: String,
    /// The admin token; required for calls that change state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// The node's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum HelloReply {
    /// The connection may carry requests.
    Accepted {
        /// The version both sides will speak.
        protocol_version: u32,
        /// The node's id.
        node_id: String,
        /// The node's rserve version.
        software_version: String,
        /// Whether the token was valid (mutating calls need it).
        authorized: bool,
    },
    /// The connection is refused.
    Rejected {
        /// Why, e.g. "protocol version 2 is not supported by this node (speaks 1)".
        reason: String,
    },
}

/// A call from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Request {
    /// Create or update every application in the file (never removes others).
    Deploy {
        /// The file name, for messages.
        file: String,
        /// The parsed, client-validated file; the node validates it again.
        config: AppFile,
    },
    /// Delete one application.
    Delete {
        /// Application name.
        app: String,
    },
    /// The status of every application, or of one.
    Status {
        /// Only this application.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
    },
    /// The deployed configuration of every application, or of one.
    Config {
        /// Only this application.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
    },
    /// Stop the node gracefully.
    Shutdown,
    /// Create a join token (head only).
    CreateJoinToken {
        /// Seconds until it expires.
        ttl_s: f64,
        /// Joins it allows (clients before this field: one).
        #[serde(default = "one")]
        uses: u32,
    },
    /// A new node asks to join: authenticated by a join token; answered with a
    /// certificate for `public_key` signed by the cluster CA.
    Join {
        /// The join token.
        token: String,
        /// The joining node's ECDSA P-256 public key (raw point, hex).
        public_key: String,
        /// What the node offers.
        advert: NodeAdvert,
    },
    /// A member node's periodic report (needs the node's cluster certificate).
    Heartbeat {
        /// What the node offers now.
        advert: NodeAdvert,
        /// The replicas it runs for the cluster.
        #[serde(default)]
        replicas: Vec<ReplicaReport>,
        /// The version of the cluster route table it has.
        #[serde(default)]
        routes_version: u64,
        /// Its routers' figures over the last window (for `rserve routes`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        router_figures: Vec<RouterFigures>,
    },
    /// A member asks for a new certificate for `public_key` before its own
    /// expires (when a [`Response::HeartbeatAck`] says it is due), over a
    /// connection authenticated with its current certificate.
    RenewCertificate {
        /// The member's new ECDSA P-256 public key (raw point, hex).
        public_key: String,
    },
    /// A member that is draining (SIGTERM, `rserve down`) tells the head, over
    /// a connection authenticated with its certificate: the head counts it
    /// out at once, places its replicas elsewhere and routes around it,
    /// rather than waiting out the node timeout. It sends no more
    /// heartbeats; answered with [`Response::Accepted`].
    Leaving,
    /// Forget a member for good (admin): its replicas are placed elsewhere
    /// and its certificate is refused by every node from then on.
    RemoveNode {
        /// The node.
        node_id: String,
    },
    /// Head → member: start a replica of a deployment (node certificate needed).
    StartReplica {
        /// Application.
        app: String,
        /// The replica's id, chosen by the head.
        replica_id: String,
        /// The deployment's config.
        config: Box<crate::config::DeploymentConfig>,
    },
    /// Head → member: drain and stop a replica.
    StopReplica {
        /// The replica.
        replica_id: String,
    },
    /// Node → node: one HTTP request for a replica hosted by the called node
    /// (node certificate needed). The request body follows this frame on the
    /// stream as raw bytes; the answer is a [`Response::Forwarded`] frame
    /// followed by the raw response body, streamed.
    Forward {
        /// The replica.
        replica_id: String,
        /// HTTP method.
        method: String,
        /// Full request path.
        path: String,
        /// The query string, if any (absent from older nodes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
        /// Request headers.
        headers: Vec<(String, String)>,
    },
    /// The cluster's nodes (head only).
    Nodes,
    /// What [`Request::Deploy`] of this file would change, checked as deploy
    /// checks it (validation, route and model-name conflicts), changing
    /// nothing. Read-only: needs no admin token (it reveals no more than
    /// [`Request::Config`]).
    Plan {
        /// The file name, for messages.
        file: String,
        /// The parsed, client-validated file; the node validates it again.
        config: AppFile,
    },
    /// Streaming: captured log lines of replicas and nodes, the history
    /// first, then (with `follow`) new lines as they are logged.
    Logs(LogQuery),
    /// Streaming: the cluster's event log (kept on the head), then (with
    /// `follow`) new events.
    Events {
        /// Only the last N events of the history.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tail: Option<u32>,
        /// Keep the stream open for new events.
        #[serde(default)]
        follow: bool,
    },
    /// Streaming: a rate-limited sample of requests as every node's ingress
    /// answers them.
    Tap(TapQuery),
    /// Streaming: a document (status, nodes, routes) now and on every change.
    Watch {
        /// Which document.
        target: WatchTarget,
        /// For `status`: only this application.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app: Option<String>,
    },
    /// The live route view (head, or asked of the head).
    Routes,
    /// Set a deployment's fixed replica count, persisted as if its file said
    /// `num_replicas = N` (refused for an autoscaled deployment).
    Scale {
        /// Application.
        app: String,
        /// Deployment.
        deployment: String,
        /// The new count.
        num_replicas: u32,
    },
    /// Drain and stop one replica; reconcile starts a fresh one in its place
    /// (the deployment's target is unchanged).
    RestartReplica {
        /// The replica.
        replica_id: String,
    },
}

impl Request {
    /// Whether the node answers with a stream of frames.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::Logs(_) | Self::Events { .. } | Self::Tap(_) | Self::Watch { .. }
        )
    }

    /// Whether the call changes state (and so needs the admin token).
    pub fn is_mutating(&self) -> bool {
        matches!(
            self,
            Self::Deploy { .. }
                | Self::Delete { .. }
                | Self::Scale { .. }
                | Self::RestartReplica { .. }
                | Self::Shutdown
                | Self::CreateJoinToken { .. }
                | Self::RemoveNode { .. }
        )
    }
}

/// What a node offers the cluster: addresses, resources, labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeAdvert {
    /// Node id (stable across restarts: kept in the state dir).
    pub node_id: String,
    /// HTTP ingress address.
    pub http_address: String,
    /// Control endpoint address (UDP).
    pub control_address: String,
    /// Resources, discovered or set by flags.
    pub resources: NodeResources,
    /// Free-form labels (`--label key=value`).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// rserve version.
    pub software_version: String,
}

/// A node's resources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeResources {
    /// CPU cores.
    pub num_cpus: f64,
    /// GPUs.
    pub num_gpus: f64,
    /// Memory of each GPU in bytes (0 = unknown).
    #[serde(default)]
    pub gpu_memory: u64,
    /// Memory in bytes.
    pub memory: u64,
}

/// A replica a member runs, as reported to the head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaReport {
    /// The replica.
    pub replica_id: String,
    /// Its application.
    #[serde(default)]
    pub app: String,
    /// Its deployment.
    #[serde(default)]
    pub deployment: String,
    /// Fingerprint of the config parts that need new replicas when they
    /// change: a restarted head re-adopts a replica whose fingerprint matches.
    #[serde(default)]
    pub fingerprint: String,
    /// Where it is in its life.
    pub phase: ReportedPhase,
    /// Why it failed, for `failed`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// A replica's phase as a member reports it to the head (the daemon's own
/// `Phase` carries the failure reason inside; Ray's `ReplicaState` in
/// `status` is what operators see).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportedPhase {
    /// Loading.
    Starting,
    /// Serving.
    Running,
    /// Draining.
    Stopping,
    /// Gone after a stop.
    Stopped,
    /// Failed before it ever ran.
    FailedStarting,
    /// Failed while running.
    Failed,
}

/// The cluster's route table as the head distributes it to members: every
/// application's route and the replicas serving its ingress deployment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterRoutes {
    /// Bumped on every change.
    pub version: u64,
    /// One entry per application.
    pub apps: Vec<AppRoute>,
}

/// One application's route in [`ClusterRoutes`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRoute {
    /// Application.
    pub app: String,
    /// Route prefix.
    pub route_prefix: String,
    /// The ingress deployment's config (limits, kind, OpenAI model name).
    pub deployment: Box<crate::config::DeploymentConfig>,
    /// Its running replicas.
    pub replicas: Vec<ReplicaLocation>,
    /// The application's other deployments (what deployment handles call),
    /// each with its running replicas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<DeploymentRoute>,
}

/// A deployment of an application other than its ingress, in [`AppRoute`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRoute {
    /// Its config.
    pub deployment: Box<crate::config::DeploymentConfig>,
    /// Its running replicas.
    pub replicas: Vec<ReplicaLocation>,
}

/// Where a replica runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaLocation {
    /// The replica.
    pub replica_id: String,
    /// Its node.
    pub node_id: String,
    /// The node's control address.
    pub address: String,
}

/// Whether the head hears from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeState {
    /// Heartbeats arrive.
    Alive,
    /// No heartbeat within the node timeout.
    Dead,
}

/// One node as the head sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// What the node last advertised.
    pub advert: NodeAdvert,
    /// Alive or dead.
    pub state: NodeState,
    /// Whether this is the head.
    pub head: bool,
    /// Seconds since the last heartbeat (0 for the head itself).
    pub last_heartbeat_s: f64,
    /// Unix time the node joined.
    pub joined_at_s: f64,
    /// The replicas it runs (ids).
    #[serde(default)]
    pub replicas: Vec<String>,
    /// What the replicas placed on it reserve (their `resources`).
    #[serde(default)]
    pub used: NodeUsage,
    /// Unix time its certificate expires (renewed before by the head);
    /// absent for one from before certificates expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expires_at_s: Option<f64>,
}

/// What a node's replicas reserve of what it offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeUsage {
    /// CPU cores.
    pub num_cpus: f64,
    /// GPUs.
    pub num_gpus: f64,
    /// Memory in bytes.
    pub memory: u64,
}

/// What happened to one application in a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// The application is new.
    Created,
    /// The application existed and its config changed.
    Updated,
    /// The application existed with exactly this config.
    Unchanged,
}

/// One application's outcome of a deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppChange {
    /// Application name.
    pub app: String,
    /// What happened.
    pub change: Change,
}

/// What a deploy would do to one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentAction {
    /// The deployment is new: its replicas start.
    Created,
    /// Only keys that apply in place changed: running replicas keep serving.
    Updated,
    /// A replica-defining key changed (or the deployment is `DEPLOY_FAILED`):
    /// new replicas replace the running ones.
    Replaced,
    /// Nothing changes.
    Unchanged,
    /// The application's new config no longer has this deployment: its
    /// replicas drain and stop.
    Removed,
}

/// One deployment's part of a [`Response::Planned`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentPlan {
    /// Deployment name.
    pub deployment: String,
    /// What would happen to it.
    pub action: DeploymentAction,
    /// Changed keys that apply in place (`num_replicas`,
    /// `max_ongoing_requests`, …), as paths into the deployment's table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_place: Vec<String>,
    /// Changed keys that force new replicas (`replica.model_path`,
    /// `resources.num_gpus`, `user_config`, `batching.*`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replacing: Vec<String>,
    /// Why, when the keys alone do not say (a failed deployment is retried).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

/// One application's part of a [`Response::Planned`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppPlan {
    /// Application name.
    pub app: String,
    /// What deploy would report for it.
    pub change: Change,
    /// Changed application keys (`route_prefix`, `ingress`); all apply in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// Its deployments, the file's first, then those it would remove.
    pub deployments: Vec<DeploymentPlan>,
}

/// The node's answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Response {
    /// Answer to [`Request::Deploy`].
    Deployed {
        /// One entry per application in the file.
        changes: Vec<AppChange>,
    },
    /// Answer to [`Request::Delete`].
    Deleted {
        /// The application being deleted.
        app: String,
    },
    /// Answer to [`Request::Plan`].
    Planned {
        /// One entry per application in the file, in the file's order.
        changes: Vec<AppPlan>,
    },
    /// Answer to [`Request::Status`].
    Status(Box<ServeStatus>),
    /// Answer to [`Request::Config`].
    Config(AppFile),
    /// Answer to [`Request::CreateJoinToken`].
    JoinToken {
        /// The token to pass to `rserve up --join`.
        token: String,
        /// Unix time it expires.
        expires_at_s: f64,
    },
    /// Answer to [`Request::Join`].
    Joined {
        /// The node's certificate (PEM), signed by the cluster CA.
        cert_pem: String,
        /// The cluster CA certificate (PEM).
        ca_pem: String,
        /// The cluster id.
        cluster_id: String,
        /// Unix time the certificate expires (the head renews it before).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at_s: Option<f64>,
        /// For a join with a pool token: the head's proof that it holds the
        /// same token, over this session and the certificates above (HMAC,
        /// hex).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        head_proof: Option<String>,
    },
    /// Answer to [`Request::RenewCertificate`].
    CertificateRenewed {
        /// The node's new certificate (PEM), signed by the cluster CA.
        cert_pem: String,
        /// Unix time it expires.
        expires_at_s: f64,
    },
    /// Answer to [`Request::Heartbeat`].
    HeartbeatAck {
        /// Seconds without a heartbeat after which the head declares a node dead.
        node_timeout_s: f64,
        /// The cluster route table, when the member's version is not current.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        routes: Option<Box<ClusterRoutes>>,
        /// SHA-256 (hex) of the certificates of removed nodes: refused by
        /// every node.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        revoked: Vec<String>,
        /// The member's certificate is due for renewal: it should send a
        /// [`Request::RenewCertificate`].
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        renew_certificate: bool,
    },
    /// Answer to [`Request::StartReplica`] / [`Request::StopReplica`].
    Accepted,
    /// Head of the answer to [`Request::Forward`]; the body follows raw.
    Forwarded {
        /// HTTP status.
        status: u16,
        /// Response headers (content type included).
        headers: Vec<(String, String)>,
    },
    /// Answer to [`Request::Nodes`].
    Nodes {
        /// Every node, the head first.
        nodes: Vec<NodeStatus>,
    },
    /// Answer to [`Request::Shutdown`].
    ShuttingDown,
    /// Answer to [`Request::Routes`].
    Routes(RoutesView),
    /// Answer to [`Request::Scale`].
    Scaled {
        /// What happened to the application (`unchanged` when it already had N).
        change: Change,
    },
    /// Answer to [`Request::RestartReplica`]: the replica is draining.
    Restarting {
        /// Its application.
        app: String,
        /// Its deployment.
        deployment: String,
    },
    /// A streaming call was accepted: [`StreamFrame`]s follow until the node
    /// finishes the stream or the client stops reading.
    Streaming,
    /// The call failed.
    Error(WireError),
}

/// A failed call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    /// Class of failure, which the CLI maps to an exit code.
    pub code: ErrorCode,
    /// What went wrong, for the operator.
    pub message: String,
}

/// Classes of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is invalid (bad config, ...).
    BadRequest,
    /// The named application does not exist.
    NotFound,
    /// The call needs the admin token.
    Unauthorized,
    /// The node failed to carry out a valid call.
    Internal,
}

/// The default of [`Request::CreateJoinToken`]'s `uses`.
fn one() -> u32 {
    1
}

/// The node's side of version negotiation: the version to speak, or why not.
pub fn negotiate(client_version: u32) -> Result<u32, String> {
    if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&client_version) {
        Ok(client_version)
    } else {
        Err(format!(
            "protocol version {client_version} is not supported by this node (it speaks \
             {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}); use an rserve CLI of the same release as the node"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_when_split_anywhere() {
        let msgs = vec![
            Request::Status { app: None },
            Request::Delete { app: "a".into() },
            Request::Shutdown,
        ];
        let bytes: Vec<u8> = msgs.iter().flat_map(encode).collect();
        for split in 0..bytes.len() {
            let mut dec = FrameDecoder::default();
            let mut got = Vec::new();
            for chunk in [&bytes[..split], &bytes[split..]] {
                dec.push(chunk);
                while let Some(frame) = dec.next_frame().unwrap() {
                    got.push(decode::<Request>(&frame).unwrap());
                }
            }
            assert_eq!(got, msgs, "split at {split}");
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_buffering() {
        let mut dec = FrameDecoder::default();
        dec.push(&(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
        assert!(matches!(dec.next_frame(), Err(FrameError::TooLarge { .. })));
        // A smaller limit (before authentication) holds the same way.
        let mut dec = FrameDecoder::with_limit(100);
        dec.push(&101u32.to_be_bytes());
        let err = dec.next_frame().unwrap_err().to_string();
        assert_eq!(err, "frame of 101 bytes exceeds the 100-byte limit");
        let mut dec = FrameDecoder::with_limit(100);
        dec.push(&100u32.to_be_bytes());
        assert!(dec.next_frame().unwrap().is_none(), "100 bytes may come");
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let mut dec = FrameDecoder::default();
        dec.push(&[0, 0, 0, 3, b'{', b'x', b'}']);
        let frame = dec.next_frame().unwrap().unwrap();
        assert!(matches!(
            decode::<Request>(&frame),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn negotiation_names_both_versions() {
        assert_eq!(negotiate(PROTOCOL_VERSION), Ok(PROTOCOL_VERSION));
        assert_eq!(negotiate(1), Ok(1), "version-1 clients keep working");
        assert!(negotiate(0).is_err());
        let err = negotiate(99).unwrap_err();
        assert!(
            err.contains("99") && err.contains(&PROTOCOL_VERSION.to_string()),
            "{err}"
        );
    }

    #[test]
    fn only_state_changes_are_mutating() {
        assert!(Request::Shutdown.is_mutating());
        assert!(Request::Delete { app: "x".into() }.is_mutating());
        assert!(!Request::Status { app: None }.is_mutating());
        assert!(!Request::Config { app: None }.is_mutating());
        let plan = Request::Plan {
            file: "f.toml".into(),
            config: AppFile {
                applications: Vec::new(),
            },
        };
        assert!(!plan.is_mutating(), "diff needs read access only");
    }
}

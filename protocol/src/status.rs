//! Status types with Ray Serve's enum names, as `rserve status -o json` prints them.
//!
//! The JSON shape is a stable, documented schema (`docs/api.md`): fields are only
//! ever added, and `api_version` changes if one is ever removed or renamed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `api_version` of every status document.
pub const STATUS_API_VERSION: &str = "rserve/v1";

/// Ray's `ApplicationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationStatus {
    /// Accepted, nothing started yet.
    NotStarted,
    /// Replicas are starting or being replaced.
    Deploying,
    /// Replicas failed to start too many times; no more retries until redeployed.
    DeployFailed,
    /// Every deployment is healthy.
    Running,
    /// A deployment lost replicas after it was running.
    Unhealthy,
    /// Being deleted; replicas are draining.
    Deleting,
}

/// Ray's `DeploymentStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    /// Replicas are starting or being replaced after a config change.
    Updating,
    /// The target number of replicas is running.
    Healthy,
    /// Fewer replicas are running than the target after being healthy.
    Unhealthy,
    /// Replicas failed to start too many times in a row.
    DeployFailed,
    /// Adding replicas.
    Upscaling,
    /// Removing replicas.
    Downscaling,
}

/// Ray's `DeploymentStatusTrigger`: why the deployment has its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatusTrigger {
    /// No particular reason.
    Unspecified,
    /// A new config is being rolled out.
    ConfigUpdateStarted,
    /// The last config change finished.
    ConfigUpdateCompleted,
    /// Replicas were added.
    UpscaleCompleted,
    /// Replicas were removed.
    DownscaleCompleted,
    /// The autoscaler changed the target; replicas are starting or stopping.
    Autoscaling,
    /// A replica failed to start.
    ReplicaStartupFailed,
    /// A replica failed its health check or crashed.
    HealthCheckFailed,
    /// Being deleted.
    Deleting,
}

/// Ray's `ReplicaState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReplicaState {
    /// Loading its model / running its constructor.
    Starting,
    /// Applying a new `user_config`.
    Updating,
    /// Being re-adopted after a controller restart.
    Recovering,
    /// Serving traffic.
    Running,
    /// Draining in-flight requests before it stops.
    Stopping,
}

/// What `rserve status` prints: the node and every application on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServeStatus {
    /// Always [`STATUS_API_VERSION`].
    pub api_version: String,
    /// Always `Status`.
    pub kind: String,
    /// The node that answered.
    pub node: NodeInfo,
    /// Applications by name.
    pub applications: BTreeMap<String, ApplicationDetails>,
}

/// The node that answered a status call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Stable node id (kept in the state dir).
    pub node_id: String,
    /// rserve version of the node.
    pub version: String,
    /// HTTP ingress address.
    pub http_address: String,
    /// Control endpoint address (QUIC).
    pub control_address: String,
    /// Seconds since the node started.
    pub uptime_s: f64,
}

/// One application's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplicationDetails {
    /// Overall status, derived from the deployments.
    pub status: ApplicationStatus,
    /// Human-readable reason for the status ("" when there is none).
    pub message: String,
    /// Where the application is served.
    pub route_prefix: String,
    /// The deployment that receives HTTP traffic.
    pub ingress: String,
    /// Unix time of the last deploy that changed this application.
    pub last_deployed_time_s: f64,
    /// Deployments by name.
    pub deployments: BTreeMap<String, DeploymentDetails>,
}

/// One deployment's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentDetails {
    /// Overall status.
    pub status: DeploymentStatus,
    /// Why it has that status.
    pub status_trigger: DeploymentStatusTrigger,
    /// Human-readable reason ("" when there is none); names the last failure.
    pub message: String,
    /// The replica kind (`echo`, `sleep`, `digits`, ...).
    pub kind: String,
    /// Replicas wanted.
    pub target_num_replicas: u32,
    /// Count of replicas in each state.
    pub replica_states: BTreeMap<ReplicaState, u32>,
    /// Replicas that failed to start, crashed or failed health checks since the
    /// deployment was created on this node.
    pub replica_failures: u64,
    /// The most recent replica failure (`replica ID failed: reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// Requests waiting for a replica on this node.
    pub queued_requests: u64,
    /// Batches run by the current replicas, for deployments with `batching`
    /// and for `chat` (each decode step is a batch of sequences).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batching: Option<BatchFigures>,
    /// The autoscaler's state (Ray's `autoscaling_detail`), for autoscaled deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling_detail: Option<AutoscalingDetail>,
    /// Each replica.
    pub replicas: Vec<ReplicaDetails>,
}

/// Ray's `AutoscalingStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AutoscalingStatus {
    /// The target is above the replicas running.
    Upscaling,
    /// The target is below the replicas running.
    Downscaling,
    /// Running replicas match the target.
    Stable,
}

/// The autoscaler of one deployment, as `rserve status -o json` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoscalingDetail {
    /// Upscaling, downscaling or stable.
    pub status: AutoscalingStatus,
    /// The load the decision sees: ongoing plus queued requests across the
    /// cluster, folded over the look-back period.
    pub current_metric: f64,
    /// The replica count the autoscaler wants.
    pub target_num_replicas: u32,
    /// Its bounds.
    pub min_replicas: u32,
    /// Its bounds.
    pub max_replicas: u32,
    /// The latest decisions, oldest first.
    pub decisions: Vec<ScalingDecision>,
}

/// One change of an autoscaler's target (Ray's `ScalingDecision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingDecision {
    /// Unix time, seconds.
    pub timestamp_s: f64,
    /// Why, for people.
    pub reason: String,
    /// Target before.
    pub prev_num_replicas: u32,
    /// Target after.
    pub curr_num_replicas: u32,
}

/// What dynamic batching has done, summed over a deployment's current replicas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchFigures {
    /// Batches run.
    pub batches: u64,
    /// Inputs in those batches.
    pub inputs: u64,
    /// Batches by size: the key is the largest size in the bucket ("1", "2", "4",
    /// "8", ...; strings, as JSON object keys are).
    pub size_histogram: BTreeMap<String, u64>,
    /// Chat: prompt tokens of the sequences started.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Chat: those of them whose keys and values came from the prefix cache.
    #[serde(default)]
    pub cached_prompt_tokens: u64,
}

impl BatchFigures {
    /// Counts one batch of `size` inputs.
    pub fn record(&mut self, size: usize) {
        self.batches += 1;
        self.inputs += size as u64;
        let bucket = size.max(1).next_power_of_two();
        *self.size_histogram.entry(bucket.to_string()).or_insert(0) += 1;
    }

    /// Adds another replica's figures.
    pub fn merge(&mut self, other: &Self) {
        self.batches += other.batches;
        self.inputs += other.inputs;
        for (k, v) in &other.size_histogram {
            *self.size_histogram.entry(k.clone()).or_insert(0) += v;
        }
        self.prompt_tokens += other.prompt_tokens;
        self.cached_prompt_tokens += other.cached_prompt_tokens;
    }

    /// Counts a started chat sequence: its prompt and the part of it taken
    /// from the prefix cache.
    pub fn record_prompt(&mut self, prompt: usize, cached: usize) {
        self.prompt_tokens += prompt as u64;
        self.cached_prompt_tokens += cached as u64;
    }
}

/// One replica.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaDetails {
    /// Unique replica id, `<deployment>-<hex>`.
    pub replica_id: String,
    /// Lifecycle state.
    pub state: ReplicaState,
    /// Requests in flight on the replica.
    pub ongoing_requests: u32,
    /// Unix time the replica was started.
    pub start_time_s: f64,
    /// Multiplexed models loaded, least recently used first (multiplexed
    /// deployments only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub multiplexed_models: Vec<String>,
    /// The node that runs it, in a cluster (empty: the node answering).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_id: String,
    /// While a replica on the answering node is STARTING: how far its model
    /// load has got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loading: Option<LoadSteps>,
}

/// A model load under way: `done` of `total` steps (reading the weights, each
/// layer, the embeddings and head).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadSteps {
    /// Steps finished.
    pub done: u64,
    /// Steps in all.
    pub total: u64,
}

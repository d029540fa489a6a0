//! The application file: what an operator deploys.
//!
//! One TOML file holds one or more applications; each has a route prefix and one or
//! more deployments. Field names and defaults are Ray Serve's (`num_replicas = 1`,
//! `max_ongoing_requests = 5`, `max_queued_requests = -1`, ...), so a Ray Serve user
//! can read a file without a manual. Every struct denies unknown keys: a typo is an
//! error that names the file, the key path and the line, never a silent default.

mod autoscaling;
pub mod defaults;
mod error;
mod kinds;
mod limits;
mod parse;
mod validate;

use serde::{Deserialize, Serialize};

pub use self::autoscaling::{Aggregation, Autoscaling, AutoscalingConfig, NumReplicas, Replicas};
pub use self::error::{ConfigError, ConfigIssue};
pub use self::kinds::{
    BUILTIN_KINDS, ChatOptions, CustomKind, DigitsOptions, EchoOptions, EmbeddingsOptions,
    ReplicaKind, SleepOptions,
};
pub use self::limits::{MAX_REPLICAS, MAX_SECONDS};
/// The rule for names used in URLs, file names and metric labels.
pub use self::validate::check_name as check_plain_name;

/// The root of an application file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppFile {
    /// The applications in this file; deploying the file creates or updates each.
    pub applications: Vec<AppConfig>,
}

/// One application: a group of deployments exposed at one route prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Unique application name.
    pub name: String,
    /// HTTP path prefix that routes to the ingress deployment (longest match wins).
    #[serde(default = "defaults::route_prefix")]
    pub route_prefix: String,
    /// The deployment that receives HTTP traffic; defaults to the first deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<String>,
    /// The application's deployments.
    pub deployments: Vec<DeploymentConfig>,
}

/// One deployment: a replica kind and how many replicas of it to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Deployment name, unique within the application.
    pub name: String,
    /// Replicas to run: a count (default 1), or `"auto"` (Ray's autoscaling
    /// defaults, with `autoscaling_config` overriding them).
    #[serde(default, skip_serializing_if = "NumReplicas::is_unset")]
    pub num_replicas: NumReplicas,
    /// Ray's autoscaling settings; excludes an integer `num_replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling_config: Option<AutoscalingConfig>,
    /// Most requests one replica works on at once; the router never exceeds it.
    #[serde(default = "defaults::max_ongoing_requests")]
    pub max_ongoing_requests: u32,
    /// Requests that may wait for a replica on each node; -1 = unbounded. Past it: 503.
    #[serde(default = "defaults::max_queued_requests")]
    pub max_queued_requests: i64,
    /// Seconds between health checks of each replica.
    #[serde(default = "defaults::health_check_period_s")]
    pub health_check_period_s: f64,
    /// Seconds a health check may take before it counts as failed.
    #[serde(default = "defaults::health_check_timeout_s")]
    pub health_check_timeout_s: f64,
    /// Seconds between checks for in-flight requests while a replica drains.
    #[serde(default = "defaults::graceful_shutdown_wait_loop_s")]
    pub graceful_shutdown_wait_loop_s: f64,
    /// Seconds a stopping replica may drain before it is stopped anyway.
    #[serde(default = "defaults::graceful_shutdown_timeout_s")]
    pub graceful_shutdown_timeout_s: f64,
    /// Free-form table handed to the replica (Ray's `user_config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_config: Option<serde_json::Value>,
    /// Resources each replica needs (Ray's `ray_actor_options`).
    #[serde(default, alias = "ray_actor_options")]
    pub resources: Resources,
    /// Dynamic request batching (Ray's `@serve.batch`), for kinds that support it
    /// (`embeddings`); absent = every request runs alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batching: Option<BatchingConfig>,
    /// Model multiplexing (Ray's `@serve.multiplexed`), for kinds that support it
    /// (`digits`); absent = one model per deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplexing: Option<MultiplexingConfig>,
    /// The other deployments of this application that this one calls
    /// (Ray's deployment handles), for kinds written in Rust: a key per
    /// dependency, naming a deployment of the same application. Each replica
    /// gets a handle per key at start.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub handles: std::collections::BTreeMap<String, String>,
    /// What the replicas run, with the kind's own options.
    pub replica: ReplicaKind,
}

/// Ray's `@serve.batch` options, plus a token budget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchingConfig {
    /// Most inputs in one model call.
    #[serde(default = "defaults::max_batch_size")]
    pub max_batch_size: u32,
    /// How long the first request of a batch waits for more before the batch runs anyway.
    #[serde(default = "defaults::batch_wait_timeout_s")]
    pub batch_wait_timeout_s: f64,
    /// Batches that may run at once on a replica.
    #[serde(default = "defaults::max_concurrent_batches")]
    pub max_concurrent_batches: u32,
    /// Most tokens in a batch, padding included (longest input × inputs); none = no budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_batch_tokens: Option<u32>,
    /// Wait `batch_wait_timeout_s` for company even when no batch is running
    /// (Ray's exact semantics). By default an idle replica runs at once and
    /// requests wait only while it is busy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait_when_idle: bool,
}

/// Ray's `@serve.multiplexed` options, a model repository, and per-model
/// replica targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiplexingConfig {
    /// Models one replica keeps loaded (LRU eviction past it); 0 or -1 = no limit.
    #[serde(default = "defaults::max_num_models_per_replica")]
    pub max_num_models_per_replica: i64,
    /// A directory whose `<id>.safetensors` files are the models, looked up on
    /// first use (files added later are found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models_dir: Option<String>,
    /// Model ids mapped to weight files (checked before `models_dir`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub models: std::collections::BTreeMap<String, String>,
    /// Replicas a model may be loaded on at once before its requests wait for
    /// one of them (default 1, then spill after the matching window as in Ray);
    /// a hot model may be given more.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub model_replicas: std::collections::BTreeMap<String, u32>,
}

impl Default for MultiplexingConfig {
    fn default() -> Self {
        Self {
            max_num_models_per_replica: defaults::max_num_models_per_replica(),
            models_dir: None,
            models: Default::default(),
            model_replicas: Default::default(),
        }
    }
}

/// Resources one replica reserves on its node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU cores (fractional allowed).
    #[serde(default = "defaults::num_cpus")]
    pub num_cpus: f64,
    /// GPUs (fractional allowed, e.g. 0.5 to share one GPU between two replicas).
    #[serde(default)]
    pub num_gpus: f64,
    /// Memory in bytes (0 = not accounted).
    #[serde(default)]
    pub memory: u64,
    /// Node labels a replica's node must have (`rserve up --label key=value`);
    /// Ray's `label_selector`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub label_selector: std::collections::BTreeMap<String, String>,
}

impl Default for Resources {
    fn default() -> Self {
        Self {
            num_cpus: defaults::num_cpus(),
            num_gpus: 0.0,
            memory: 0,
            label_selector: Default::default(),
        }
    }
}

impl AppConfig {
    /// The deployment that receives this application's HTTP traffic.
    pub fn ingress_deployment(&self) -> &DeploymentConfig {
        self.ingress
            .as_ref()
            .and_then(|name| self.deployments.iter().find(|d| &d.name == name))
            .unwrap_or(&self.deployments[0])
    }
}

//! The application file: what an operator deploys.
//!
//! One TOML file holds one or more applications; each has a route prefix and one or
//! more deployments. Field names and defaults are Ray Serve's (`num_replicas = 1`,
//! `max_ongoing_requests = 5`, `max_queued_requests = -1`, ...), so a Ray Serve user
//! can read a file without a manual. Every struct denies unknown keys: a typo is an
//! error that names the file, the key path and the line, never a silent default.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

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
    /// Replicas to run.
    #[serde(default = "defaults::num_replicas")]
    pub num_replicas: u32,
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

/// The replica kind and its options, selected by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReplicaKind {
    /// Returns each request's body; for tests and overhead benchmarks.
    Echo(EchoOptions),
    /// Holds each request for a fixed time, then answers; for backpressure tests.
    Sleep(SleepOptions),
    /// The demo digit classifier (a Burn MLP over 8×8 images).
    Digits(DigitsOptions),
    /// Sentence embeddings from a BERT model (e.g. all-MiniLM-L6-v2); serves
    /// OpenAI's `/v1/embeddings`.
    Embeddings(EmbeddingsOptions),
    /// A chat LLM (Llama architecture, GGUF); serves OpenAI's
    /// `/v1/chat/completions` and `/v1/completions`, streaming included.
    Chat(ChatOptions),
}

impl ReplicaKind {
    /// The `kind` string.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Echo(_) => "echo",
            Self::Sleep(_) => "sleep",
            Self::Digits(_) => "digits",
            Self::Embeddings(_) => "embeddings",
            Self::Chat(_) => "chat",
        }
    }

    /// The OpenAI `model` name this kind answers to, if it serves the OpenAI API.
    pub fn openai_model<'a>(&'a self, deployment: &'a str) -> Option<&'a str> {
        match self {
            Self::Embeddings(opts) => Some(opts.model_id.as_deref().unwrap_or(deployment)),
            Self::Chat(opts) => Some(opts.model_id.as_deref().unwrap_or(deployment)),
            _ => None,
        }
    }
}

/// Options of the `echo` kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoOptions {
    /// Honour the `x-rserve-fault: panic|unhealthy` request header (chaos testing).
    #[serde(default)]
    pub fault_injection: bool,
}

/// Options of the `sleep` kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SleepOptions {
    /// Milliseconds each request is held.
    #[serde(default = "defaults::sleep_ms")]
    pub duration_ms: u64,
}

/// Options of the `digits` kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigitsOptions {
    /// `cpu`, `cuda` or `cuda:N`.
    #[serde(default = "defaults::device")]
    pub device: String,
    /// A safetensors file to load instead of the bundled weights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<String>,
}

/// Options of the `embeddings` kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsOptions {
    /// A sentence-transformers model directory (`config.json`, `model.safetensors`,
    /// `tokenizer.json`), as `scripts/fetch-models.sh` unpacks it.
    #[serde(default = "defaults::embeddings_model_dir")]
    pub model_dir: String,
    /// The OpenAI `model` name clients use; defaults to the deployment name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// `cpu`, `cuda` or `cuda:N`.
    #[serde(default = "defaults::device")]
    pub device: String,
    /// Float type of weights and activations: `f32`, or `f16`/`bf16` on CUDA.
    #[serde(default = "defaults::dtype")]
    pub dtype: String,
}

/// Options of the `chat` kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatOptions {
    /// A Llama-architecture GGUF file (F32, F16, Q8_0, Q4_0 or Q4_1 tensors) with
    /// its tokenizer and chat template in the metadata.
    #[serde(default = "defaults::chat_model_path")]
    pub model_path: String,
    /// The OpenAI `model` name clients use; defaults to the deployment name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// `cpu`, `cuda` or `cuda:N`.
    #[serde(default = "defaults::device")]
    pub device: String,
    /// Float type of weights and activations: `f32`, or `f16`/`bf16` on CUDA.
    #[serde(default = "defaults::dtype")]
    pub dtype: String,
    /// `max_tokens` when a request gives none.
    #[serde(default = "defaults::chat_max_tokens")]
    pub default_max_tokens: u32,
    /// Most sequences decoded together by one replica (continuous batching);
    /// more wait in the replica's queue.
    #[serde(default = "defaults::max_num_seqs")]
    pub max_num_seqs: u32,
    /// Most tokens fed in one step: one per decoding sequence plus prefill
    /// chunks of new prompts (a long prompt is prefilled over several steps).
    #[serde(default = "defaults::max_num_batched_tokens")]
    pub max_num_batched_tokens: u32,
    /// KV-cache budget in tokens: a sequence reserves its prompt plus
    /// `max_tokens` at admission; one that does not fit waits.
    #[serde(default = "defaults::max_kv_cache_tokens")]
    pub max_kv_cache_tokens: u32,
}

impl Default for DigitsOptions {
    fn default() -> Self {
        Self {
            device: defaults::device(),
            weights: None,
        }
    }
}

/// Ray Serve's defaults, in one place (the configuration reference is tested against these).
pub mod defaults {
    #![allow(missing_docs)]
    pub fn route_prefix() -> String {
        "/".to_owned()
    }
    pub fn num_replicas() -> u32 {
        1
    }
    pub fn max_ongoing_requests() -> u32 {
        5
    }
    pub fn max_queued_requests() -> i64 {
        -1
    }
    pub fn health_check_period_s() -> f64 {
        10.0
    }
    pub fn health_check_timeout_s() -> f64 {
        30.0
    }
    pub fn graceful_shutdown_wait_loop_s() -> f64 {
        2.0
    }
    pub fn graceful_shutdown_timeout_s() -> f64 {
        20.0
    }
    pub fn num_cpus() -> f64 {
        1.0
    }
    pub fn sleep_ms() -> u64 {
        100
    }
    pub fn dtype() -> String {
        "f32".to_owned()
    }
    pub fn device() -> String {
        "cpu".to_owned()
    }
    pub fn max_batch_size() -> u32 {
        10
    }
    pub fn batch_wait_timeout_s() -> f64 {
        0.01
    }
    pub fn max_concurrent_batches() -> u32 {
        1
    }
    pub fn chat_model_path() -> String {
        "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf".to_owned()
    }
    pub fn chat_max_tokens() -> u32 {
        256
    }
    pub fn max_num_models_per_replica() -> i64 {
        3
    }
    pub fn max_num_seqs() -> u32 {
        16
    }
    pub fn max_num_batched_tokens() -> u32 {
        512
    }
    pub fn max_kv_cache_tokens() -> u32 {
        16384
    }
    pub fn embeddings_model_dir() -> String {
        "models/all-minilm-l6-v2".to_owned()
    }
}

/// Why an application file was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid TOML, or a value has the wrong type or an unknown key.
    #[error("{file}{location}: {path}{message}", location = fmt_location(*.line, *.column), path = fmt_path(.path))]
    Parse {
        /// The file name as given by the operator.
        file: String,
        /// 1-based line, where TOML reports one.
        line: Option<usize>,
        /// 1-based column, where TOML reports one.
        column: Option<usize>,
        /// Key path, e.g. `applications[0].deployments[1].num_replicas`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The file parsed but some values are impossible.
    #[error("{file}: {}", issues.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The file name as given by the operator.
        file: String,
        /// Every problem found, in file order.
        issues: Vec<ConfigIssue>,
    },
}

/// One impossible value: where it is and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigIssue {
    /// Key path, e.g. `applications[0].deployments[1].num_replicas`.
    pub path: String,
    /// Why the value is rejected.
    pub reason: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

fn fmt_location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

fn fmt_path(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl AppFile {
    /// Parses and validates an application file. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let parse_error = |path: String, message: String, span: Option<std::ops::Range<usize>>| {
            let (line, column) = span
                .map(|s| line_column(text, s.start))
                .map_or((None, None), |(l, c)| (Some(l), Some(c)));
            ConfigError::Parse {
                file: file.to_owned(),
                line,
                column,
                path,
                message,
            }
        };
        let de = toml::de::Deserializer::parse(text)
            .map_err(|e| parse_error(String::new(), e.message().to_owned(), e.span()))?;
        let parsed: AppFile = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            parse_error(path, inner.message().to_owned(), inner.span())
        })?;
        parsed.validate(file)?;
        Ok(parsed)
    }

    /// Checks values that the types alone cannot (names, limits, references).
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let mut issues = Vec::new();
        let mut issue = |path: String, reason: String| issues.push(ConfigIssue { path, reason });
        if self.applications.is_empty() {
            issue(
                "applications".into(),
                "at least one application is required".into(),
            );
        }
        let mut names = BTreeSet::new();
        let mut prefixes = BTreeSet::new();
        let mut models = BTreeSet::new();
        for (a, app) in self.applications.iter().enumerate() {
            let at = format!("applications[{a}]");
            if let Err(reason) = check_name(&app.name) {
                issue(format!("{at}.name"), reason);
            }
            if !names.insert(app.name.as_str()) {
                issue(
                    format!("{at}.name"),
                    format!("application `{}` appears twice", app.name),
                );
            }
            if let Err(reason) = check_route_prefix(&app.route_prefix) {
                issue(format!("{at}.route_prefix"), reason);
            } else if !prefixes.insert(app.route_prefix.as_str()) {
                issue(
                    format!("{at}.route_prefix"),
                    format!(
                        "route prefix `{}` is used by another application",
                        app.route_prefix
                    ),
                );
            }
            if app.deployments.is_empty() {
                issue(
                    format!("{at}.deployments"),
                    "at least one deployment is required".into(),
                );
            }
            if let Some(ingress) = &app.ingress
                && !app.deployments.iter().any(|d| &d.name == ingress)
            {
                issue(
                    format!("{at}.ingress"),
                    format!("no deployment named `{ingress}` in this application"),
                );
            }
            let mut deployment_names = BTreeSet::new();
            for (d, dep) in app.deployments.iter().enumerate() {
                let at = format!("{at}.deployments[{d}]");
                if let Err(reason) = check_name(&dep.name) {
                    issue(format!("{at}.name"), reason);
                }
                if !deployment_names.insert(dep.name.as_str()) {
                    issue(
                        format!("{at}.name"),
                        format!("deployment `{}` appears twice", dep.name),
                    );
                }
                for (path, reason) in dep.impossible_values() {
                    issue(format!("{at}.{path}"), reason);
                }
                if let Some(model) = dep.replica.openai_model(&dep.name)
                    && !models.insert(model)
                {
                    issue(
                        format!("{at}.replica.model_id"),
                        format!(
                            "OpenAI model `{model}` is served by another deployment in this file"
                        ),
                    );
                }
            }
        }
        if issues.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                file: file.to_owned(),
                issues,
            })
        }
    }

    /// Renders the file back to TOML (every default spelled out).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("an AppFile always serialises to TOML")
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

impl DeploymentConfig {
    /// `(key, reason)` for every value out of range.
    fn impossible_values(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.num_replicas > MAX_REPLICAS {
            out.push((
                "num_replicas",
                format!("is {}; at most {MAX_REPLICAS}", self.num_replicas),
            ));
        }
        if self.num_replicas == 0 {
            out.push((
                "num_replicas",
                "must be at least 1 (the application has a route)".into(),
            ));
        }
        if self.max_ongoing_requests == 0 {
            out.push(("max_ongoing_requests", "must be at least 1".into()));
        }
        if self.max_queued_requests < -1 {
            out.push((
                "max_queued_requests",
                format!(
                    "is {}; use -1 for unbounded or a bound >= 0",
                    self.max_queued_requests
                ),
            ));
        }
        for (key, value, min) in [
            (
                "health_check_period_s",
                self.health_check_period_s,
                MIN_PERIOD_S,
            ),
            (
                "health_check_timeout_s",
                self.health_check_timeout_s,
                MIN_PERIOD_S,
            ),
            (
                "graceful_shutdown_wait_loop_s",
                self.graceful_shutdown_wait_loop_s,
                MIN_PERIOD_S,
            ),
            (
                "graceful_shutdown_timeout_s",
                self.graceful_shutdown_timeout_s,
                0.0,
            ),
        ] {
            if !(min..=MAX_SECONDS).contains(&value) {
                out.push((
                    key,
                    format!("is {value}; must be between {min} and {MAX_SECONDS} seconds"),
                ));
            }
        }
        for (key, value) in [
            ("resources.num_cpus", self.resources.num_cpus),
            ("resources.num_gpus", self.resources.num_gpus),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                out.push((key, format!("is {value}; must be >= 0")));
            }
        }
        if let Some(b) = &self.batching {
            if b.max_batch_size == 0 {
                out.push(("batching.max_batch_size", "must be at least 1".into()));
            }
            if b.max_concurrent_batches == 0 {
                out.push((
                    "batching.max_concurrent_batches",
                    "must be at least 1".into(),
                ));
            }
            if !(0.0..=MAX_SECONDS).contains(&b.batch_wait_timeout_s) {
                out.push((
                    "batching.batch_wait_timeout_s",
                    format!(
                        "is {}; must be between 0 and {MAX_SECONDS} seconds",
                        b.batch_wait_timeout_s
                    ),
                ));
            }
            if b.max_batch_tokens == Some(0) {
                out.push(("batching.max_batch_tokens", "must be at least 1".into()));
            }
            if !matches!(
                self.replica,
                ReplicaKind::Embeddings(_) | ReplicaKind::Digits(_)
            ) {
                out.push((
                    "batching",
                    format!(
                        "the `{}` kind does not support batching (embeddings and digits do)",
                        self.replica.name()
                    ),
                ));
            }
        }
        if let Some(m) = &self.multiplexing {
            if !matches!(self.replica, ReplicaKind::Digits(_)) {
                out.push((
                    "multiplexing",
                    format!(
                        "the `{}` kind does not support multiplexing (digits does)",
                        self.replica.name()
                    ),
                ));
            }
            if m.models_dir.is_none() && m.models.is_empty() {
                out.push((
                    "multiplexing",
                    "needs a model repository: `models_dir` or `models`".into(),
                ));
            }
            if m.max_num_models_per_replica < -1 {
                out.push((
                    "multiplexing.max_num_models_per_replica",
                    format!(
                        "is {}; use -1 or 0 for no limit, or a limit >= 1",
                        m.max_num_models_per_replica
                    ),
                ));
            }
            for (id, n) in &m.model_replicas {
                if *n == 0 {
                    out.push((
                        "multiplexing.model_replicas",
                        format!("`{id}` = 0; each target must be at least 1"),
                    ));
                }
            }
            for id in m.models.keys().chain(m.model_replicas.keys()) {
                if let Err(reason) = check_name(id) {
                    out.push(("multiplexing.models", format!("model id {reason}")));
                }
            }
        }
        if let ReplicaKind::Chat(c) = &self.replica {
            if c.max_num_seqs == 0 {
                out.push(("replica.max_num_seqs", "must be at least 1".into()));
            }
            if c.max_num_batched_tokens < c.max_num_seqs {
                out.push((
                    "replica.max_num_batched_tokens",
                    format!(
                        "is {}; must be at least max_num_seqs ({}), one token per decoding sequence",
                        c.max_num_batched_tokens, c.max_num_seqs
                    ),
                ));
            }
            if c.max_kv_cache_tokens == 0 {
                out.push(("replica.max_kv_cache_tokens", "must be at least 1".into()));
            }
        }
        let device = match &self.replica {
            ReplicaKind::Digits(opts) => Some(&opts.device),
            ReplicaKind::Embeddings(opts) => Some(&opts.device),
            ReplicaKind::Chat(opts) => Some(&opts.device),
            ReplicaKind::Echo(_) | ReplicaKind::Sleep(_) => None,
        };
        if let Some(device) = device
            && !valid_device(device)
        {
            out.push((
                "replica.device",
                format!("unknown device `{device}`: expected cpu, cuda or cuda:N"),
            ));
        }
        let dtype = match &self.replica {
            ReplicaKind::Embeddings(opts) => Some((&opts.dtype, &opts.device)),
            ReplicaKind::Chat(opts) => Some((&opts.dtype, &opts.device)),
            _ => None,
        };
        if let Some((dtype, device)) = dtype {
            if !matches!(dtype.as_str(), "f32" | "f16" | "bf16") {
                out.push((
                    "replica.dtype",
                    format!("unknown dtype `{dtype}`: expected f32, f16 or bf16"),
                ));
            } else if dtype != "f32" && !device.starts_with("cuda") {
                out.push((
                    "replica.dtype",
                    format!("`{dtype}` needs a cuda device: the CPU backend computes in f32"),
                ));
            }
        }
        if let Some(model) = self.replica.openai_model(&self.name)
            && (model.is_empty() || model.chars().any(char::is_whitespace))
        {
            out.push((
                "replica.model_id",
                format!("`{model}` must be non-empty without spaces"),
            ));
        }
        out
    }
}

/// Most replicas of one deployment (a typo guard, far above any node's capacity).
pub const MAX_REPLICAS: u32 = 10_000;

/// Shortest period accepted for timers (a zero period would spin).
const MIN_PERIOD_S: f64 = 0.001;
/// Longest duration accepted anywhere (about 11.6 days): far beyond any sane
/// setting, and far below what `Duration` can hold.
pub const MAX_SECONDS: f64 = 1_000_000.0;

fn valid_device(device: &str) -> bool {
    matches!(device, "cpu" | "cuda")
        || device
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

/// Names are used in URLs, file names and metric labels: keep them plain.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!("`{name}` must be 1 to 63 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{name}` may only hold letters, digits, `-`, `_` and `.`"
        ));
    }
    Ok(())
}

/// Ray's rule: starts with `/`, no trailing `/` except the root, no `{` or `}`.
fn check_route_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') {
        return Err(format!("`{prefix}` must start with `/`"));
    }
    if prefix.len() > 1 && prefix.ends_with('/') {
        return Err(format!("`{prefix}` must not end with `/`"));
    }
    if prefix
        .chars()
        .any(|c| matches!(c, '{' | '}' | '?' | '#') || c.is_whitespace())
    {
        return Err(format!(
            "`{prefix}` must not contain `{{`, `}}`, `?`, `#` or spaces"
        ));
    }
    Ok(())
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

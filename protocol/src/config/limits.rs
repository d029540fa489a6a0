//! Per-deployment limits: every value out of range, as `(key, reason)` pairs in
//! the order a reader meets the keys.

use super::kinds::ChatOptions;
use super::validate::check_name;
use super::{BatchingConfig, DeploymentConfig, MultiplexingConfig, ReplicaKind, Resources};

/// Most replicas of one deployment (a typo guard, far above any node's capacity).
pub const MAX_REPLICAS: u32 = 10_000;

/// Most sequences one chat replica decodes together (vLLM's default is 256).
pub const MAX_NUM_SEQS: u32 = 1024;

/// Shortest period accepted for timers (a zero period would spin).
const MIN_PERIOD_S: f64 = 0.001;
/// Longest duration accepted anywhere (about 11.6 days): far beyond any sane
/// setting, and far below what `Duration` can hold.
pub const MAX_SECONDS: f64 = 1_000_000.0;

/// `(key relative to the deployment, reason)` for each impossible value.
type Issues = Vec<(&'static str, String)>;

impl DeploymentConfig {
    /// `(key, reason)` for every value out of range.
    pub(super) fn impossible_values(&self) -> Issues {
        let mut out = Vec::new();
        self.check_counts(&mut out);
        self.check_durations(&mut out);
        check_resources(&self.resources, &mut out);
        if let Some(b) = &self.batching {
            self.check_batching(b, &mut out);
        }
        if let Some(m) = &self.multiplexing {
            self.check_multiplexing(m, &mut out);
        }
        if let ReplicaKind::Chat(c) = &self.replica {
            check_chat(c, &mut out);
        }
        self.check_device_and_dtype(&mut out);
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

    /// Replica and request counts.
    fn check_counts(&self, out: &mut Issues) {
        self.check_replicas(out);
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
    }

    /// Health-check and shutdown timers.
    fn check_durations(&self, out: &mut Issues) {
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
    }

    /// `@serve.batch` options, and whether the kind batches at all.
    fn check_batching(&self, b: &BatchingConfig, out: &mut Issues) {
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

    /// `@serve.multiplexed` options, the model repository and per-model targets.
    fn check_multiplexing(&self, m: &MultiplexingConfig, out: &mut Issues) {
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

    /// The device string, and a float type the device can compute in.
    fn check_device_and_dtype(&self, out: &mut Issues) {
        let (device, dtype) = match &self.replica {
            ReplicaKind::Digits(opts) => (&opts.device, None),
            ReplicaKind::Embeddings(opts) => (&opts.device, Some(&opts.dtype)),
            ReplicaKind::Chat(opts) => (&opts.device, Some(&opts.dtype)),
            ReplicaKind::Echo(_) | ReplicaKind::Sleep(_) | ReplicaKind::Custom(_) => return,
        };
        if !valid_device(device) {
            out.push((
                "replica.device",
                format!("unknown device `{device}`: expected cpu, cuda or cuda:N"),
            ));
        }
        let Some(dtype) = dtype else { return };
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
        if let ReplicaKind::Chat(opts) = &self.replica {
            let kv = opts.kv_cache_dtype.as_str();
            let cpu = !device.starts_with("cuda");
            if !matches!(kv, "auto" | "f32" | "f16" | "bf16") {
                out.push((
                    "replica.kv_cache_dtype",
                    format!("unknown dtype `{kv}`: expected auto, f32, f16 or bf16"),
                ));
            } else if cpu && kv == "bf16" {
                out.push((
                    "replica.kv_cache_dtype",
                    "`bf16` is not available on the cpu: its KV cache holds f32 or f16".into(),
                ));
            } else if !cpu && kv != "auto" && kv != dtype {
                out.push((
                    "replica.kv_cache_dtype",
                    format!(
                        "`{kv}` differs from dtype `{dtype}`: a GPU's KV cache holds the \
                         model's dtype (set dtype, or kv_cache_dtype = \"auto\")"
                    ),
                ));
            }
        }
    }
}

/// Reserved CPUs and GPUs.
fn check_resources(resources: &Resources, out: &mut Issues) {
    for (key, value) in [
        ("resources.num_cpus", resources.num_cpus),
        ("resources.num_gpus", resources.num_gpus),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            out.push((key, format!("is {value}; must be >= 0")));
        }
    }
}

/// Continuous-batching limits of the `chat` kind.
fn check_chat(c: &ChatOptions, out: &mut Issues) {
    if c.max_num_seqs == 0 {
        out.push(("replica.max_num_seqs", "must be at least 1".into()));
    }
    // A replica warms up a step of each batch size it may run, so this
    // one is allocated up front.
    if c.max_num_seqs > MAX_NUM_SEQS {
        out.push((
            "replica.max_num_seqs",
            format!("is {}; must be at most {MAX_NUM_SEQS}", c.max_num_seqs),
        ));
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

/// `cpu`, `cuda` or `cuda:N`.
fn valid_device(device: &str) -> bool {
    matches!(device, "cpu" | "cuda")
        || device
            .strip_prefix("cuda:")
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

//! The replica kinds an application file can name, each with its own options.

use serde::{Deserialize, Serialize};

use super::defaults;

/// The replica kind and its options, selected by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// A kind a user wrote in Rust (a `Deployment` registered in their own
    /// `rserve` build). Any other `kind` parses as this; the node refuses
    /// kinds it does not know at deploy time. Its settings go in `user_config`.
    #[serde(untagged)]
    Custom(CustomKind),
}

/// The built-in kinds as the file spells them (what [`ReplicaKind`]'s
/// `Deserialize` reads when `kind` names one of them).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Builtin {
    Echo(EchoOptions),
    Sleep(SleepOptions),
    Digits(DigitsOptions),
    Embeddings(EmbeddingsOptions),
    Chat(ChatOptions),
}

impl<'de> Deserialize<'de> for ReplicaKind {
    /// A built-in `kind` with its own options (unknown ones refused, by
    /// name); any other `kind` is a user's, with no options.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let table = serde_json::Value::deserialize(deserializer)?;
        let Some(kind) = table.get("kind") else {
            return Err(D::Error::missing_field("kind"));
        };
        let Some(kind) = kind.as_str() else {
            return Err(D::Error::custom(format!(
                "`kind` must be a string, not {kind}"
            )));
        };
        if !BUILTIN_KINDS.contains(&kind) {
            return CustomKind::deserialize(table)
                .map(Self::Custom)
                .map_err(|e| {
                    D::Error::custom(format!(
                        "{e} (a kind written in Rust takes its settings from `user_config`)"
                    ))
                });
        }
        Ok(
            match Builtin::deserialize(table).map_err(D::Error::custom)? {
                Builtin::Echo(o) => Self::Echo(o),
                Builtin::Sleep(o) => Self::Sleep(o),
                Builtin::Digits(o) => Self::Digits(o),
                Builtin::Embeddings(o) => Self::Embeddings(o),
                Builtin::Chat(o) => Self::Chat(o),
            },
        )
    }
}

/// A user-written kind: only its name (settings go in `user_config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomKind {
    /// The name it was registered under.
    pub kind: String,
}

/// The kinds every `rserve` serves.
pub const BUILTIN_KINDS: &[&str] = &["echo", "sleep", "digits", "embeddings", "chat"];

impl ReplicaKind {
    /// The `kind` string.
    pub fn name(&self) -> &str {
        match self {
            Self::Echo(_) => "echo",
            Self::Sleep(_) => "sleep",
            Self::Digits(_) => "digits",
            Self::Embeddings(_) => "embeddings",
            Self::Chat(_) => "chat",
            Self::Custom(custom) => &custom.kind,
        }
    }

    /// Whether a user wrote this kind.
    pub fn is_custom(&self) -> bool {
        matches!(self, Self::Custom(_))
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
    /// A Llama-architecture GGUF file (F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
    /// Q4_K or Q6_K tensors) with
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
    /// Automatic prefix caching: finished sequences' KV caches stay in the
    /// budget the running ones leave, and a prompt that starts with the same
    /// tokens reuses them instead of prefilling again (vLLM's name).
    #[serde(default = "defaults::enable_prefix_caching")]
    pub enable_prefix_caching: bool,
    /// On the CPU, also keep an f32 copy of the GGUF's quantised layers
    /// (about 4.8× their size) for faster prefill of long prompts; by
    /// default they are held only as the file's blocks.
    #[serde(default)]
    pub dequantize_weights: bool,
    /// What the KV cache holds: `auto` (f16 on the CPU, as llama.cpp's
    /// default cache; the model's `dtype` on a GPU), `f32`, or `f16` on the
    /// CPU.
    /// Not written when `auto`, so a config without it reads the same to a
    /// node of an earlier release (whose options deny unknown fields).
    #[serde(
        default = "defaults::kv_cache_dtype",
        skip_serializing_if = "defaults::is_auto"
    )]
    pub kv_cache_dtype: String,
}

impl Default for DigitsOptions {
    fn default() -> Self {
        Self {
            device: defaults::device(),
            weights: None,
        }
    }
}

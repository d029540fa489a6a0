//! The replica kinds an application file can name, each with its own options.

use serde::{Deserialize, Serialize};

use super::defaults;

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

//! Burn model families for rserve.
//!
//! Every Burn backend generic is instantiated *inside* this crate and hidden behind
//! backend-erased types ([`DigitsClassifier`]), so the daemon (router, ingress,
//! controller) never compiles Burn code and a change there never rebuilds a model.
//! Models are plain synchronous objects: the daemon owns the threads they run on.

mod bert;
mod chat;
mod device;
mod digits;
#[doc(hidden)]
pub mod fuzz;
pub mod gguf;
mod kernels;
mod llama;
mod progress;
mod tokens;
mod weights;

pub use bert::{BertConfig, EmbeddingModel, EncodedText, SentenceEmbedding, TextEncoder};
pub use chat::{
    ChatModel, ChatText, FinishReason, Generation, IncrementalDecoder, Message, PrefixCache,
    Sampling, Sequence, sample,
};
pub use device::{Device, DeviceError, Dtype, persist_autotune_cache};
pub use digits::{DIGITS_CLASSES, DIGITS_INPUTS, DigitsClassifier, DigitsPrediction};
pub use llama::{ChatLoad, LlamaConfig};
pub use progress::LoadProgress;
pub use weights::WeightsError;

/// An error from loading or running a model, naming what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The weights could not be read or do not match the model's shapes.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The requested device is not available in this build or on this machine.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// A GGUF file is unusable (wrapped with its path by the loader).
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),
    /// The input does not fit the model (wrong length, out of range values, ...).
    #[error("invalid input: {0}")]
    Input(String),
}

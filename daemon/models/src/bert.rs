//! Sentence embeddings: a BERT encoder (all-MiniLM-L6-v2 and its kin), mean pooling
//! over the attention mask and L2 normalisation — the sentence-transformers
//! pipeline `Transformer → Pooling(mean) → Normalize`.
//!
//! Weights come from a Hugging Face model directory (`config.json`,
//! `model.safetensors`, `tokenizer.json`, `sentence_bert_config.json`); the
//! tokenizer is the HF `tokenizers` crate on the same `tokenizer.json`.

use std::path::Path;

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::prelude::Backend;
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Int, Tensor, TensorData};
use serde::Deserialize;

use crate::weights::{Weights, WeightsError};
use crate::{Device, ModelError};

/// The subset of a BERT `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Model width.
    pub hidden_size: usize,
    /// Encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward width.
    pub intermediate_size: usize,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Token type vocabulary (segment ids).
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Must be `gelu` (the exact, erf-based GELU).
    pub hidden_act: String,
}

#[derive(Debug, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

/// One input's embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceEmbedding {
    /// The L2-normalised vector.
    pub vector: Vec<f32>,
    /// Tokens fed to the model (after truncation, with `[CLS]` and `[SEP]`).
    pub tokens: usize,
    /// Tokens the input had before truncation (with `[CLS]` and `[SEP]`).
    pub input_tokens: usize,
}

impl SentenceEmbedding {
    /// Whether the input was cut to the model's maximum length.
    pub fn truncated(&self) -> bool {
        self.input_tokens > self.tokens
    }
}

/// A loaded sentence-embedding model on some device; the backend is erased.
pub struct EmbeddingModel {
    inner: Box<dyn Encode>,
    encoder: TextEncoder,
    config: BertConfig,
    max_seq_length: usize,
    device: Device,
}

impl std::fmt::Debug for EmbeddingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingModel")
            .field("config", &self.config)
            .field("max_seq_length", &self.max_seq_length)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

trait Encode {
    /// Pooled, normalised embeddings `[batch, hidden]` for padded token ids.
    fn encode(&self, ids: Vec<i64>, mask: Vec<f32>, batch: usize, len: usize) -> Vec<f32>;
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, WeightsError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: name.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| WeightsError::Format {
        path: name,
        reason: e.to_string(),
    })
}

impl EmbeddingModel {
    /// Loads a sentence-transformers model directory.
    pub fn load(dir: &Path, device: Device) -> Result<Self, ModelError> {
        let config: BertConfig = read_json(&dir.join("config.json"))?;
        if config.num_hidden_layers > 1024
            || config.hidden_size > 65_536
            || config.vocab_size > 10_000_000
        {
            return Err(WeightsError::Format {
                path: dir.join("config.json").display().to_string(),
                reason: "implausible sizes (more than 1024 layers, 65536 hidden or 10M vocabulary)"
                    .to_owned(),
            }
            .into());
        }
        if config.hidden_act != "gelu"
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(WeightsError::Format {
                path: dir.join("config.json").display().to_string(),
                reason: format!(
                    "unsupported BERT config (hidden_act `{}`, hidden_size {} over {} heads)",
                    config.hidden_act, config.hidden_size, config.num_attention_heads
                ),
            }
            .into());
        }
        let max_seq_length =
            match read_json::<SentenceBertConfig>(&dir.join("sentence_bert_config.json")) {
                Ok(c) => c.max_seq_length,
                Err(WeightsError::Io { .. }) => config.max_position_embeddings,
                Err(e) => return Err(e.into()),
            }
            .min(config.max_position_embeddings);

        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer = tokenizers::Tokenizer::from_file(&tokenizer_path).map_err(|e| {
            WeightsError::Format {
                path: tokenizer_path.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        // We truncate and pad ourselves, to report truncation and pad per batch.
        tokenizer
            .with_truncation(None)
            .expect("disabling truncation cannot fail");
        tokenizer.with_padding(None);

        let weights_path = dir.join("model.safetensors");
        let name = weights_path.display().to_string();
        let bytes = std::fs::read(&weights_path).map_err(|source| WeightsError::Io {
            path: name.clone(),
            source,
        })?;
        let weights = Weights::parse(&name, &bytes)?;
        let inner: Box<dyn Encode> = match device.check_built()? {
            Device::Cpu => Box::new(Bert::<crate::device::CpuBackend>::load(
                &weights,
                &config,
                &Default::default(),
            )?),
            #[cfg(feature = "cuda")]
            Device::Cuda(index) => Box::new(Bert::<burn::backend::Cuda>::load(
                &weights,
                &config,
                &burn::backend::cuda::CudaDevice::new(index),
            )?),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => unreachable!("check_built rejects cuda without the feature"),
        };
        Ok(Self {
            inner,
            encoder: TextEncoder {
                tokenizer: std::sync::Arc::new(tokenizer),
                max_seq_length,
            },
            config,
            max_seq_length,
            device,
        })
    }

    /// Longest input in tokens (longer inputs are truncated and reported).
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Width of the embeddings.
    pub fn dimensions(&self) -> usize {
        self.config.hidden_size
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Token ids of `text` as the model sees them (with `[CLS]`/`[SEP]`, untruncated).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.encoder.tokenize(text)
    }

    /// The tokenizer side of the model, to run on any thread (it is cheap to
    /// clone), so the model thread only runs the encoder.
    pub fn encoder(&self) -> TextEncoder {
        self.encoder.clone()
    }

    /// Embeds a batch of texts (one padded forward pass).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<SentenceEmbedding>, ModelError> {
        let inputs = texts
            .iter()
            .map(|t| self.encoder.encode(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.embed_encoded(&inputs))
    }

    /// Embeds already tokenized inputs (one padded forward pass).
    pub fn embed_encoded(&self, inputs: &[EncodedText]) -> Vec<SentenceEmbedding> {
        if inputs.is_empty() {
            return Vec::new();
        }
        let len = inputs.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        let batch = inputs.len();
        let mut ids = vec![0i64; batch * len];
        let mut mask = vec![0f32; batch * len];
        for (row, input) in inputs.iter().enumerate() {
            for (col, id) in input.ids.iter().enumerate() {
                ids[row * len + col] = i64::from(*id);
                mask[row * len + col] = 1.0;
            }
        }
        let vectors = self.inner.encode(ids, mask, batch, len);
        vectors
            .chunks_exact(self.config.hidden_size)
            .zip(inputs)
            .map(|(v, input)| SentenceEmbedding {
                vector: v.to_vec(),
                tokens: input.ids.len(),
                input_tokens: input.input_tokens,
            })
            .collect()
    }
}

/// One input, tokenized and truncated for the encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedText {
    /// Token ids fed to the model (truncated, with `[CLS]` and `[SEP]`).
    pub ids: Vec<u32>,
    /// Tokens before truncation.
    pub input_tokens: usize,
}

/// The tokenizer of an [`EmbeddingModel`], shareable across threads.
#[derive(Clone)]
pub struct TextEncoder {
    tokenizer: std::sync::Arc<tokenizers::Tokenizer>,
    max_seq_length: usize,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder")
            .field("max_seq_length", &self.max_seq_length)
            .finish_non_exhaustive()
    }
}

impl TextEncoder {
    /// Token ids with `[CLS]`/`[SEP]`, untruncated.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::Input(format!("cannot tokenize: {e}")))
    }

    /// Tokenizes and truncates one input.
    pub fn encode(&self, text: &str) -> Result<EncodedText, ModelError> {
        let ids = self.tokenize(text)?;
        let input_tokens = ids.len();
        Ok(EncodedText {
            ids: truncate(ids, self.max_seq_length),
            input_tokens,
        })
    }
}

/// Keeps the first `max - 1` tokens and the final `[SEP]`, as HF truncation does
/// (it truncates before adding the special tokens).
fn truncate(mut ids: Vec<u32>, max: usize) -> Vec<u32> {
    if ids.len() > max && max >= 2 {
        let last = *ids.last().expect("non-empty");
        ids.truncate(max - 1);
        ids.push(last);
    }
    ids
}

/// A linear layer over `[batch, seq, d]` as one 2-D matmul: Burn's batched
/// (broadcast) matmul path is several times slower on the CPU backends.
fn flat<B: Backend>(layer: &Linear<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [b, s, d] = x.dims();
    let y = layer.forward(x.reshape([b * s, d]));
    let out = y.dims()[1];
    y.reshape([b, s, out])
}

struct Norm<B: Backend> {
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
}

impl<B: Backend> Norm<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let mean = x.clone().mean_dim(2);
        let centered = x - mean;
        let var = centered.clone().powi_scalar(2).mean_dim(2);
        let normed = centered / (var + self.eps).sqrt();
        normed * self.gamma.clone().unsqueeze::<3>() + self.beta.clone().unsqueeze::<3>()
    }
}

struct Layer<B: Backend> {
    query: Linear<B>,
    key: Linear<B>,
    value: Linear<B>,
    output: Linear<B>,
    norm1: Norm<B>,
    up: Linear<B>,
    down: Linear<B>,
    norm2: Norm<B>,
}

struct Bert<B: Backend> {
    words: Embedding<B>,
    positions: Tensor<B, 2>,
    token_type: Tensor<B, 1>,
    norm: Norm<B>,
    layers: Vec<Layer<B>>,
    heads: usize,
    device: B::Device,
}

struct Loader<'a, 'w, B: Backend> {
    weights: &'a Weights<'w>,
    device: &'a B::Device,
}

impl<B: Backend> Loader<'_, '_, B> {
    fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Tensor<B, D>, WeightsError> {
        let data = self.weights.f32(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(data, shape), self.device))
    }

    fn linear(&self, prefix: &str, d_in: usize, d_out: usize) -> Result<Linear<B>, WeightsError> {
        let w = self
            .weights
            .f32(&format!("{prefix}.weight"), &[d_out, d_in])?;
        let w = crate::weights::transpose(&w, d_out, d_in);
        Ok(Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [d_in, d_out]),
                self.device,
            )),
            bias: Some(Param::from_tensor(
                self.tensor(&format!("{prefix}.bias"), [d_out])?,
            )),
        })
    }

    fn norm(&self, prefix: &str, d: usize, eps: f64) -> Result<Norm<B>, WeightsError> {
        Ok(Norm {
            gamma: self.tensor(&format!("{prefix}.weight"), [d])?,
            beta: self.tensor(&format!("{prefix}.bias"), [d])?,
            eps,
        })
    }
}

impl<B: Backend> Bert<B> {
    fn load(
        weights: &Weights<'_>,
        c: &BertConfig,
        device: &B::Device,
    ) -> Result<Self, WeightsError> {
        let l = Loader::<B> { weights, device };
        let h = c.hidden_size;
        let token_types: Tensor<B, 2> = l.tensor(
            "embeddings.token_type_embeddings.weight",
            [c.type_vocab_size, h],
        )?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            layers.push(Layer {
                query: l.linear(&format!("{p}.attention.self.query"), h, h)?,
                key: l.linear(&format!("{p}.attention.self.key"), h, h)?,
                value: l.linear(&format!("{p}.attention.self.value"), h, h)?,
                output: l.linear(&format!("{p}.attention.output.dense"), h, h)?,
                norm1: l.norm(
                    &format!("{p}.attention.output.LayerNorm"),
                    h,
                    c.layer_norm_eps,
                )?,
                up: l.linear(&format!("{p}.intermediate.dense"), h, c.intermediate_size)?,
                down: l.linear(&format!("{p}.output.dense"), c.intermediate_size, h)?,
                norm2: l.norm(&format!("{p}.output.LayerNorm"), h, c.layer_norm_eps)?,
            });
        }
        Ok(Self {
            words: Embedding {
                weight: Param::from_tensor(
                    l.tensor("embeddings.word_embeddings.weight", [c.vocab_size, h])?,
                ),
            },
            positions: l.tensor(
                "embeddings.position_embeddings.weight",
                [c.max_position_embeddings, h],
            )?,
            // Single-segment inputs only: every token has type 0.
            token_type: token_types.slice([0..1, 0..h]).reshape([h]),
            norm: l.norm("embeddings.LayerNorm", h, c.layer_norm_eps)?,
            layers,
            heads: c.num_attention_heads,
            device: device.clone(),
        })
    }

    fn attention(&self, layer: &Layer<B>, x: Tensor<B, 3>, bias: Tensor<B, 4>) -> Tensor<B, 3> {
        let [b, s, h] = x.dims();
        let d = h / self.heads;
        let split = |t: Tensor<B, 3>| t.reshape([b, s, self.heads, d]).swap_dims(1, 2);
        let q = split(flat(&layer.query, x.clone()));
        let k = split(flat(&layer.key, x.clone()));
        let v = split(flat(&layer.value, x));
        let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt() + bias;
        let context = softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([b, s, h]);
        flat(&layer.output, context)
    }
}

impl<B: Backend> Encode for Bert<B> {
    fn encode(&self, ids: Vec<i64>, mask: Vec<f32>, batch: usize, len: usize) -> Vec<f32> {
        let ids: Tensor<B, 2, Int> =
            Tensor::from_data(TensorData::new(ids, [batch, len]), &self.device);
        let mask: Tensor<B, 2> =
            Tensor::from_data(TensorData::new(mask, [batch, len]), &self.device);
        let h = self.positions.dims()[1];
        let positions = self
            .positions
            .clone()
            .slice([0..len, 0..h])
            .unsqueeze::<3>();
        let mut x = self.words.forward(ids) + positions + self.token_type.clone().unsqueeze::<3>();
        x = self.norm.forward(x);
        // Padding gets a large negative score so softmax gives it no weight.
        let bias = ((mask.clone() - 1.0) * 1e9).reshape([batch, 1, 1, len]);
        for layer in &self.layers {
            let attended = self.attention(layer, x.clone(), bias.clone());
            x = layer.norm1.forward(x + attended);
            let ff = flat(&layer.down, gelu(flat(&layer.up, x.clone())));
            x = layer.norm2.forward(x + ff);
        }
        // Mean pooling over real tokens, then L2 normalisation.
        let mask3 = mask.reshape([batch, len, 1]);
        let summed = (x * mask3.clone()).sum_dim(1).reshape([batch, h]);
        let counts = mask3.sum_dim(1).reshape([batch, 1]).clamp_min(1e-9);
        let pooled = summed / counts;
        let norms = pooled
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        (pooled / norms)
            .into_data()
            .to_vec::<f32>()
            .expect("f32 output")
    }
}

//! Sentence embeddings: a BERT encoder (all-MiniLM-L6-v2 and its kin), mean pooling
//! over the attention mask and L2 normalisation — the sentence-transformers
//! pipeline `Transformer → Pooling(mean) → Normalize`.
//!
//! Weights come from a Hugging Face model directory (`config.json`,
//! `model.safetensors`, `tokenizer.json`, `sentence_bert_config.json`); the
//! tokenizer is the HF `tokenizers` crate on the same `tokenizer.json`.

use std::path::Path;

use burn::prelude::Backend;
use burn::tensor::{FloatDType, Int, Tensor, TensorData};
use serde::Deserialize;

use crate::kernels::{Activation, Dense, Kernels};
use crate::weights::{Weights, WeightsError};
use crate::{Device, Dtype, LoadProgress, ModelError};

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
    /// Pooled, normalised embeddings `[batch, hidden]` for the token ids of every
    /// input one after the other (`lengths` says where each ends).
    fn encode(&self, ids: Vec<i64>, lengths: &[usize]) -> Vec<f32>;
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
    /// Loads a sentence-transformers model directory (f32).
    pub fn load(dir: &Path, device: Device) -> Result<Self, ModelError> {
        Self::load_as(dir, device, Dtype::F32)
    }

    /// Loads a sentence-transformers model directory, its weights and
    /// activations in `dtype` (f16/bf16 only on CUDA).
    pub fn load_as(dir: &Path, device: Device, dtype: Dtype) -> Result<Self, ModelError> {
        Self::load_with_progress(dir, device, dtype, &LoadProgress::default())
    }

    /// [`EmbeddingModel::load_as`], counting its steps in `progress`: reading
    /// the weights, each encoder layer, the embeddings.
    pub fn load_with_progress(
        dir: &Path,
        device: Device,
        dtype: Dtype,
        progress: &LoadProgress,
    ) -> Result<Self, ModelError> {
        let dtype = dtype.check(device)?;
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
        progress.begin(config.num_hidden_layers as u64 + 2);
        let bytes = std::fs::read(&weights_path).map_err(|source| WeightsError::Io {
            path: name.clone(),
            source,
        })?;
        let weights = Weights::parse(&name, &bytes)?;
        progress.step();
        let inner: Box<dyn Encode> = match device.check_built()? {
            Device::Cpu => Box::new(Bert::<crate::device::CpuBackend>::load(
                &weights,
                &config,
                &Default::default(),
                dtype,
                progress,
            )?),
            #[cfg(feature = "cuda")]
            Device::Cuda(index) => Box::new(Bert::<burn::backend::Cuda>::load(
                &weights,
                &config,
                &burn::backend::cuda::CudaDevice::new(index),
                dtype,
                progress,
            )?),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => unreachable!("check_built rejects cuda without the feature"),
        };
        Ok(Self {
            inner,
            encoder: TextEncoder {
                bytes_per_token: crate::tokens::bytes_per_token(&tokenizer),
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

    /// Whether a call's attention runs padded to its longest input (the generic
    /// path: CUDA, or the ndarray CPU backend), so its cost grows with inputs ×
    /// longest, not only with its tokens. The CPU kernels pack rows.
    pub fn pads_batches(&self) -> bool {
        self.device != Device::Cpu || cfg!(feature = "ndarray")
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

    /// Embeds a batch of texts (one forward pass).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<SentenceEmbedding>, ModelError> {
        let inputs = texts
            .iter()
            .map(|t| self.encoder.encode(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.embed_encoded(&inputs))
    }

    /// Runs the encoder once per typical call shape (lengths from 8 tokens to
    /// the maximum and batch sizes from 1 to `max_inputs`, in powers of two,
    /// within `max_tokens` tokens per call), so a GPU backend autotunes its
    /// kernels before the first request rather than during it. Returns the
    /// number of forward passes.
    pub fn warm_up(&self, max_inputs: usize, max_tokens: usize) -> usize {
        let mut passes = 0;
        for len in crate::device::warm_up_sizes(8, self.max_seq_length) {
            for batch in crate::device::warm_up_sizes(1, max_inputs) {
                if batch > 1 && batch * len > max_tokens {
                    break;
                }
                let input = EncodedText {
                    ids: vec![0; len],
                    input_tokens: len,
                };
                self.embed_encoded(&vec![input; batch]);
                passes += 1;
            }
        }
        passes
    }

    /// Embeds already tokenized inputs (one forward pass over their packed rows).
    pub fn embed_encoded(&self, inputs: &[EncodedText]) -> Vec<SentenceEmbedding> {
        if inputs.is_empty() {
            return Vec::new();
        }
        let ids: Vec<i64> = inputs
            .iter()
            .flat_map(|input| input.ids.iter().map(|&id| i64::from(id)))
            .collect();
        let lengths: Vec<usize> = inputs.iter().map(|input| input.ids.len()).collect();
        let vectors = self.inner.encode(ids, &lengths);
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
    /// Bytes of text a token holds at most (with a margin).
    bytes_per_token: usize,
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

    /// Tokenizes and truncates one input. A text far longer than the model
    /// takes is cut first (to what `max_seq_length` tokens could hold at
    /// most), so its cost is bounded; it is truncated either way, and its
    /// `input_tokens` then count the cut text.
    pub fn encode(&self, text: &str) -> Result<EncodedText, ModelError> {
        let max = self.max_seq_length.saturating_mul(self.bytes_per_token);
        let ids = self.tokenize(crate::tokens::cut(text, max))?;
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

struct Norm<B: Backend> {
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
}

struct Layer<B: Backend> {
    /// Query, key and value projections side by side: `[hidden, 3 * hidden]`.
    qkv: Dense<B>,
    output: Dense<B>,
    norm1: Norm<B>,
    up: Dense<B>,
    down: Dense<B>,
    norm2: Norm<B>,
}

struct Bert<B: Backend> {
    words: Tensor<B, 2>,
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
    dtype: FloatDType,
}

impl<B: Kernels> Loader<'_, '_, B> {
    fn tensor<const D: usize>(
        &self,
        name: &str,
        shape: [usize; D],
    ) -> Result<Tensor<B, D>, WeightsError> {
        let data = self.weights.f32(name, &shape)?;
        let t: Tensor<B, D> = Tensor::from_data(TensorData::new(data, shape), self.device);
        Ok(t.cast(self.dtype))
    }

    /// Several linear layers over the same input as one, their outputs side by
    /// side (one product instead of several).
    fn dense(
        &self,
        prefixes: &[&str],
        d_in: usize,
        d_out: usize,
    ) -> Result<Dense<B>, WeightsError> {
        let width = d_out * prefixes.len();
        let mut weight = vec![0f32; d_in * width];
        let mut biases = Vec::with_capacity(width);
        for (i, prefix) in prefixes.iter().enumerate() {
            let w = self
                .weights
                .f32(&format!("{prefix}.weight"), &[d_out, d_in])?;
            // Stored [d_out, d_in]; the fused weight is row-major [d_in, width]
            // with this layer's outputs in columns i * d_out ..
            for (o, row) in w.chunks_exact(d_in).enumerate() {
                for (r, v) in row.iter().enumerate() {
                    weight[r * width + i * d_out + o] = *v;
                }
            }
            biases.extend(self.weights.f32(&format!("{prefix}.bias"), &[d_out])?);
        }
        let bias = Tensor::from_data(TensorData::new(biases, [width]), self.device);
        Ok(Dense::new(&weight, d_in, width, Some(bias), self.device).cast(self.dtype))
    }

    fn norm(&self, prefix: &str, d: usize, eps: f64) -> Result<Norm<B>, WeightsError> {
        Ok(Norm {
            gamma: self.tensor(&format!("{prefix}.weight"), [d])?,
            beta: self.tensor(&format!("{prefix}.bias"), [d])?,
            eps,
        })
    }
}

impl<B: Kernels> Bert<B> {
    fn load(
        weights: &Weights<'_>,
        c: &BertConfig,
        device: &B::Device,
        dtype: Dtype,
        progress: &LoadProgress,
    ) -> Result<Self, WeightsError> {
        let l = Loader::<B> {
            weights,
            device,
            dtype: dtype.burn(),
        };
        let h = c.hidden_size;
        let token_types: Tensor<B, 2> = l.tensor(
            "embeddings.token_type_embeddings.weight",
            [c.type_vocab_size, h],
        )?;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let attn = format!("{p}.attention.self");
            layers.push(Layer {
                qkv: l.dense(
                    &[
                        &format!("{attn}.query"),
                        &format!("{attn}.key"),
                        &format!("{attn}.value"),
                    ],
                    h,
                    h,
                )?,
                output: l.dense(&[&format!("{p}.attention.output.dense")], h, h)?,
                norm1: l.norm(
                    &format!("{p}.attention.output.LayerNorm"),
                    h,
                    c.layer_norm_eps,
                )?,
                up: l.dense(
                    &[&format!("{p}.intermediate.dense")],
                    h,
                    c.intermediate_size,
                )?,
                down: l.dense(&[&format!("{p}.output.dense")], c.intermediate_size, h)?,
                norm2: l.norm(&format!("{p}.output.LayerNorm"), h, c.layer_norm_eps)?,
            });
            progress.step();
        }
        let model = Self {
            words: l.tensor("embeddings.word_embeddings.weight", [c.vocab_size, h])?,
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
        };
        progress.step();
        Ok(model)
    }
}

/// Tokens up to which one encode runs on a pool thread.
const SMALL_ENCODE: usize = 128;

impl<B: Kernels> Encode for Bert<B> {
    fn encode(&self, ids: Vec<i64>, lengths: &[usize]) -> Vec<f32> {
        // Small inputs on a pool thread (as the decoder's steps): their many
        // small products share threads that are already awake. Large ones
        // not: measured, they ran ~12 % faster at batch 32 when the model
        // thread drives the pool.
        if ids.len() <= SMALL_ENCODE {
            B::run(|| self.forward(ids, lengths))
        } else {
            self.forward(ids, lengths)
        }
    }
}

impl<B: Kernels> Bert<B> {
    fn forward(&self, ids: Vec<i64>, lengths: &[usize]) -> Vec<f32> {
        let tokens = ids.len();
        let batch = lengths.len();
        let h = self.positions.dims()[1];
        let index = |v: Vec<i64>| {
            let n = v.len();
            Tensor::<B, 1, Int>::from_data(TensorData::new(v, [n]), &self.device)
        };
        let positions: Vec<i64> = lengths.iter().flat_map(|&n| 0..n as i64).collect();
        // Packed rows: every sequence's tokens one after the other, no padding.
        let words = self.words.clone().select(0, index(ids));
        let extra = self.positions.clone().select(0, index(positions))
            + self.token_type.clone().unsqueeze::<2>();
        let norm = &self.norm;
        let mut x = B::add_layer_norm(words, extra, &norm.gamma, &norm.beta, norm.eps);
        for layer in &self.layers {
            let qkv = B::dense(x.clone(), &layer.qkv, Activation::Identity);
            let context = B::packed_attention(qkv, lengths, self.heads);
            let attended = B::dense(context, &layer.output, Activation::Identity);
            let n = &layer.norm1;
            x = B::add_layer_norm(attended, x, &n.gamma, &n.beta, n.eps);
            let up = B::dense(x.clone(), &layer.up, Activation::Gelu);
            let ff = B::dense(up, &layer.down, Activation::Identity);
            let n = &layer.norm2;
            x = B::add_layer_norm(ff, x, &n.gamma, &n.beta, n.eps);
        }
        // Mean pooling over each sequence's rows (one product with a
        // `[batch, tokens]` averaging matrix), then L2 normalisation.
        let mut pool = vec![0f32; batch * tokens];
        let mut offset = 0;
        for (b, &n) in lengths.iter().enumerate() {
            pool[b * tokens + offset..b * tokens + offset + n].fill(1.0 / n.max(1) as f32);
            offset += n;
        }
        let pool = Tensor::<B, 2>::from_data(TensorData::new(pool, [batch, tokens]), &self.device)
            .cast(x.dtype());
        let pooled = pool.matmul(x);
        let norms = pooled
            .clone()
            .powi_scalar(2)
            .sum_dim(1)
            .sqrt()
            .clamp_min(1e-12);
        debug_assert_eq!(pooled.dims(), [batch, h]);
        (pooled / norms)
            .cast(FloatDType::F32)
            .into_data()
            .to_vec::<f32>()
            .expect("f32 output")
    }
}

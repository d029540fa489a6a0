//! A Llama-architecture decoder (SmolLM2 and kin) from a GGUF file: RoPE, grouped
//! query attention, RMSNorm, SwiGLU, a KV cache per sequence, and the tokenizer
//! and chat template carried in the GGUF metadata.
//!
//! Weights are dequantised to f32 at load. The Q and K projections in GGUF files
//! are stored permuted for llama.cpp's RoPE, which rotates adjacent pairs
//! `(2i, 2i + 1)`; this implementation rotates the same pairs, so no un-permuting
//! is needed.

use std::any::Any;

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::Backend;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Int, Tensor, TensorData};

use crate::gguf::{Gguf, GgufError};
use crate::{Device, ModelError};

/// Hyper-parameters read from the GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// Decoder blocks.
    pub layers: usize,
    /// Model width.
    pub dim: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Feed-forward width.
    pub ffn_dim: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
    /// Longest context the model was trained for.
    pub context_length: usize,
}

impl LlamaConfig {
    /// Reads the `llama.*` keys.
    pub fn from_gguf(g: &Gguf<'_>) -> Result<Self, GgufError> {
        let arch = g.get("general.architecture")?.as_str().unwrap_or_default();
        if arch != "llama" {
            return Err(GgufError::Missing(format!(
                "architecture `{arch}` is not supported (llama is)"
            )));
        }
        let int = |k: &str| -> Result<usize, GgufError> {
            g.get(k)?
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| GgufError::Missing(format!("`{k}` is not an integer")))
        };
        let float = |k: &str| -> Result<f64, GgufError> {
            g.get(k)?
                .as_f64()
                .ok_or_else(|| GgufError::Missing(format!("`{k}` is not a number")))
        };
        let vocab = match g.metadata.get("llama.vocab_size").and_then(|v| v.as_u64()) {
            Some(v) => v as usize,
            None => g
                .get("tokenizer.ggml.tokens")?
                .as_array()
                .map_or(0, <[_]>::len),
        };
        let config = Self {
            layers: int("llama.block_count")?,
            dim: int("llama.embedding_length")?,
            heads: int("llama.attention.head_count")?,
            kv_heads: int("llama.attention.head_count_kv")?,
            ffn_dim: int("llama.feed_forward_length")?,
            vocab,
            rope_theta: float("llama.rope.freq_base").unwrap_or(10_000.0),
            rms_eps: float("llama.attention.layer_norm_rms_epsilon")?,
            context_length: int("llama.context_length")?,
        };
        // Every block has 9 tensors: a layer count beyond that is corrupt metadata
        // (and must not size an allocation).
        if config.layers == 0 || config.layers * 9 > g.tensors.len() {
            return Err(GgufError::Missing(format!(
                "`llama.block_count` = {} does not match the file's {} tensors",
                config.layers,
                g.tensors.len()
            )));
        }
        if config.heads == 0
            || config.kv_heads == 0
            || !config.dim.is_multiple_of(config.heads)
            || !config.heads.is_multiple_of(config.kv_heads)
        {
            return Err(GgufError::Missing(format!(
                "inconsistent attention shape in {config:?}"
            )));
        }
        Ok(config)
    }

    fn head_dim(&self) -> usize {
        self.dim / self.heads
    }
}

/// The backend-erased decoder: a sequence is an opaque KV cache.
pub(crate) trait Decode: Send {
    /// An empty cache for a new sequence.
    fn new_cache(&self) -> Box<dyn Any + Send>;
    /// One step for several sequences at once: each item feeds its tokens (at
    /// its cache's next positions). Returns the logits of each item's last token.
    /// The weight matmuls run once over all the items' tokens; attention runs per
    /// sequence over its own cache, so a sequence's result does not depend on the
    /// others in the step.
    fn forward_batch(&self, items: &mut [(&mut Box<dyn Any + Send>, &[u32])]) -> Vec<Vec<f32>>;
}

/// Loads the decoder for `device`.
pub(crate) fn load(
    g: &Gguf<'_>,
    config: &LlamaConfig,
    device: Device,
) -> Result<Box<dyn Decode>, ModelError> {
    Ok(match device.check_built()? {
        Device::Cpu => Box::new(Llama::<crate::device::CpuBackend>::load(
            g,
            config,
            &Default::default(),
        )?),
        #[cfg(feature = "cuda")]
        Device::Cuda(index) => Box::new(Llama::<burn::backend::Cuda>::load(
            g,
            config,
            &burn::backend::cuda::CudaDevice::new(index),
        )?),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => unreachable!("check_built rejects cuda without the feature"),
    })
}

struct Block<B: Backend> {
    attn_norm: Tensor<B, 1>,
    q: Linear<B>,
    k: Linear<B>,
    v: Linear<B>,
    o: Linear<B>,
    ffn_norm: Tensor<B, 1>,
    gate: Linear<B>,
    up: Linear<B>,
    down: Linear<B>,
}

struct Llama<B: Backend> {
    config: LlamaConfig,
    embed: Tensor<B, 2>,
    /// `embed` transposed, for the tied output projection.
    unembed: Tensor<B, 2>,
    blocks: Vec<Block<B>>,
    norm: Tensor<B, 1>,
    /// Inverse RoPE frequencies, `[head_dim / 2]`.
    inv_freq: Vec<f32>,
    device: B::Device,
}

struct Cache<B: Backend> {
    /// Per block: keys and values `[1, kv_heads, t, head_dim]`.
    kv: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    len: usize,
}

impl<B: Backend> Llama<B> {
    fn load(g: &Gguf<'_>, c: &LlamaConfig, device: &B::Device) -> Result<Self, GgufError> {
        let tensor2 = |name: &str, rows: usize, cols: usize| -> Result<Tensor<B, 2>, GgufError> {
            // GGUF dims are [cols, rows] (fastest first); the data is row-major [rows][cols].
            let data = g.f32(name, &[cols, rows])?;
            Ok(Tensor::from_data(
                TensorData::new(data, [rows, cols]),
                device,
            ))
        };
        let vector = |name: &str, n: usize| -> Result<Tensor<B, 1>, GgufError> {
            Ok(Tensor::from_data(
                TensorData::new(g.f32(name, &[n])?, [n]),
                device,
            ))
        };
        // Row-major [cols, rows] of a [rows, cols] GGUF matrix, contiguous.
        let transposed =
            |name: &str, rows: usize, cols: usize| -> Result<Tensor<B, 2>, GgufError> {
                let data = crate::weights::transpose(&g.f32(name, &[cols, rows])?, rows, cols);
                Ok(Tensor::from_data(
                    TensorData::new(data, [cols, rows]),
                    device,
                ))
            };
        let linear = |name: &str, d_in: usize, d_out: usize| -> Result<Linear<B>, GgufError> {
            Ok(Linear {
                weight: Param::from_tensor(transposed(name, d_out, d_in)?),
                bias: None,
            })
        };
        let hd = c.head_dim();
        let mut blocks = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let p = format!("blk.{i}");
            blocks.push(Block {
                attn_norm: vector(&format!("{p}.attn_norm.weight"), c.dim)?,
                q: linear(&format!("{p}.attn_q.weight"), c.dim, c.heads * hd)?,
                k: linear(&format!("{p}.attn_k.weight"), c.dim, c.kv_heads * hd)?,
                v: linear(&format!("{p}.attn_v.weight"), c.dim, c.kv_heads * hd)?,
                o: linear(&format!("{p}.attn_output.weight"), c.heads * hd, c.dim)?,
                ffn_norm: vector(&format!("{p}.ffn_norm.weight"), c.dim)?,
                gate: linear(&format!("{p}.ffn_gate.weight"), c.dim, c.ffn_dim)?,
                up: linear(&format!("{p}.ffn_up.weight"), c.dim, c.ffn_dim)?,
                down: linear(&format!("{p}.ffn_down.weight"), c.ffn_dim, c.dim)?,
            });
        }
        let embed = tensor2("token_embd.weight", c.vocab, c.dim)?;
        let output = if g.tensors.contains_key("output.weight") {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        let unembed = transposed(output, c.vocab, c.dim)?;
        let inv_freq = (0..hd / 2)
            .map(|i| (1.0 / c.rope_theta.powf(2.0 * i as f64 / hd as f64)) as f32)
            .collect();
        Ok(Self {
            config: c.clone(),
            embed,
            unembed,
            blocks,
            norm: vector("output_norm.weight", c.dim)?,
            inv_freq,
            device: device.clone(),
        })
    }

    fn rms_norm(&self, x: Tensor<B, 3>, weight: &Tensor<B, 1>) -> Tensor<B, 3> {
        let rms = (x.clone().powi_scalar(2).mean_dim(2) + self.config.rms_eps).sqrt();
        x / rms * weight.clone().unsqueeze::<3>()
    }

    /// `(cos, sin)` tables `[1, 1, n, head_dim / 2]` for the rows' positions.
    fn rope_tables(&self, positions: &[usize]) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let half = self.inv_freq.len();
        let n = positions.len();
        let mut cos = Vec::with_capacity(n * half);
        let mut sin = Vec::with_capacity(n * half);
        for &pos in positions {
            for f in &self.inv_freq {
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let t = |v: Vec<f32>| {
            Tensor::<B, 1>::from_data(TensorData::new(v, [n * half]), &self.device)
                .reshape([1, 1, n, half])
        };
        (t(cos), t(sin))
    }

    /// Rotates adjacent pairs of `x` `[1, h, n, d]`.
    fn rope(x: Tensor<B, 4>, cos: &Tensor<B, 4>, sin: &Tensor<B, 4>) -> Tensor<B, 4> {
        let [b, h, n, d] = x.dims();
        let pairs = x.reshape([b, h, n, d / 2, 2]);
        let x0 = pairs.clone().narrow(4, 0, 1).reshape([b, h, n, d / 2]);
        let x1 = pairs.narrow(4, 1, 1).reshape([b, h, n, d / 2]);
        let r0 = x0.clone() * cos.clone() - x1.clone() * sin.clone();
        let r1 = x0 * sin.clone() + x1 * cos.clone();
        Tensor::stack::<5>(vec![r0, r1], 4).reshape([b, h, n, d])
    }
}

impl<B: Backend> Decode for Llama<B> {
    fn new_cache(&self) -> Box<dyn Any + Send> {
        Box::new(Cache::<B> {
            kv: (0..self.config.layers).map(|_| None).collect(),
            len: 0,
        })
    }

    fn forward_batch(&self, items: &mut [(&mut Box<dyn Any + Send>, &[u32])]) -> Vec<Vec<f32>> {
        if items.is_empty() {
            return Vec::new();
        }
        let c = &self.config;
        let hd = c.head_dim();
        let group = c.heads / c.kv_heads;
        // Row offsets of each item in the packed `[1, rows, dim]` activations.
        let mut spans = Vec::with_capacity(items.len());
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for (cache, tokens) in items.iter() {
            let start = cache
                .downcast_ref::<Cache<B>>()
                .expect("a cache made by this model")
                .len;
            assert!(!tokens.is_empty(), "a step feeds at least one token");
            spans.push((ids.len(), tokens.len(), start));
            ids.extend(tokens.iter().map(|t| i64::from(*t)));
            positions.extend(start..start + tokens.len());
        }
        let rows = ids.len();
        let ids = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [rows]), &self.device);
        let mut x = self.embed.clone().select(0, ids).reshape([1, rows, c.dim]);
        let (cos, sin) = self.rope_tables(&positions);
        // Causal masks for items that feed more than one token: new rows over all
        // cached + new columns.
        let masks: Vec<Option<Tensor<B, 4>>> = spans
            .iter()
            .map(|&(_, n, start)| {
                let total = start + n;
                (n > 1).then(|| {
                    let mut m = vec![0f32; n * total];
                    for i in 0..n {
                        for j in start + i + 1..total {
                            m[i * total + j] = f32::NEG_INFINITY;
                        }
                    }
                    Tensor::<B, 1>::from_data(TensorData::new(m, [n * total]), &self.device)
                        .reshape([1, 1, n, total])
                })
            })
            .collect();
        let mut caches: Vec<&mut Cache<B>> = items
            .iter_mut()
            .map(|(cache, _)| cache.downcast_mut::<Cache<B>>().expect("checked above"))
            .collect();
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = self.rms_norm(x.clone(), &block.attn_norm);
            let split =
                |t: Tensor<B, 3>, heads: usize| t.reshape([1, rows, heads, hd]).swap_dims(1, 2);
            let q = Self::rope(split(block.q.forward(h.clone()), c.heads), &cos, &sin);
            let k = Self::rope(split(block.k.forward(h.clone()), c.kv_heads), &cos, &sin);
            let v = split(block.v.forward(h), c.kv_heads);
            let mut attended = Vec::with_capacity(spans.len());
            for ((&(offset, n, start), cache), mask) in
                spans.iter().zip(caches.iter_mut()).zip(&masks)
            {
                let total = start + n;
                let (q, k, v) = if spans.len() == 1 {
                    (q.clone(), k.clone(), v.clone())
                } else {
                    (
                        q.clone().narrow(2, offset, n),
                        k.clone().narrow(2, offset, n),
                        v.clone().narrow(2, offset, n),
                    )
                };
                let kv = &mut cache.kv[layer];
                let (k, v) = match kv.take() {
                    Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
                    None => (k, v),
                };
                *kv = Some((k.clone(), v.clone()));
                // Each key/value head serves `group` consecutive query heads.
                let expand = |t: Tensor<B, 4>| {
                    t.unsqueeze_dim::<5>(2)
                        .repeat_dim(2, group)
                        .reshape([1, c.heads, total, hd])
                };
                let mut scores = q.matmul(expand(k).swap_dims(2, 3)) / (hd as f64).sqrt();
                if let Some(mask) = mask {
                    scores = scores + mask.clone();
                }
                attended.push(
                    softmax(scores, 3)
                        .matmul(expand(v))
                        .swap_dims(1, 2)
                        .reshape([1, n, c.dim]),
                );
            }
            let attended = if attended.len() == 1 {
                attended.pop().expect("one item")
            } else {
                Tensor::cat(attended, 1)
            };
            x = x + block.o.forward(attended);
            let h = self.rms_norm(x.clone(), &block.ffn_norm);
            let ff = block
                .down
                .forward(silu(block.gate.forward(h.clone())) * block.up.forward(h));
            x = x + ff;
        }
        for (cache, &(_, n, start)) in caches.iter_mut().zip(&spans) {
            cache.len = start + n;
        }
        let last: Vec<i64> = spans
            .iter()
            .map(|&(offset, n, _)| (offset + n - 1) as i64)
            .collect();
        let count = last.len();
        let last = Tensor::<B, 1, Int>::from_data(TensorData::new(last, [count]), &self.device);
        let logits = self
            .rms_norm(x.select(1, last), &self.norm)
            .reshape([count, c.dim])
            .matmul(self.unembed.clone())
            .into_data()
            .to_vec::<f32>()
            .expect("f32 logits");
        logits.chunks(c.vocab).map(<[f32]>::to_vec).collect()
    }
}

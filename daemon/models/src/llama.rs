//! A Llama-architecture decoder (SmolLM2 and kin) from a GGUF file: RoPE, grouped
//! query attention, RMSNorm, SwiGLU, a KV cache per sequence, and the tokenizer
//! and chat template carried in the GGUF metadata.
//!
//! On the CPU, layers whose GGUF tensors are Q4_0, Q4_1, Q8_0, Q5_0, Q5_1, Q4_K
//! or Q6_K are kept only as those blocks (every product reads them; the
//! embedding table's rows are dequantised per token); other tensors, and every
//! tensor on CUDA, are
//! dequantised to f32 (or the chosen dtype) at load. The Q and K projections in GGUF files
//! are stored permuted for llama.cpp's RoPE, which rotates adjacent pairs
//! `(2i, 2i + 1)`; this implementation rotates the same pairs, so no un-permuting
//! is needed.

use std::any::Any;

use burn::prelude::Backend;
use burn::tensor::{FloatDType, Int, Tensor, TensorData};

use crate::gguf::{Gguf, GgufError};
use crate::kernels::quant::QuantWeight;
use crate::kernels::{Activation, Dense, Heads, Kernels, Rope, Span};
use crate::{Device, DeviceError, Dtype, LoadProgress, ModelError};

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
    /// Positions held by `cache`.
    fn cache_len(&self, cache: &(dyn Any + Send)) -> usize;
    /// A new cache holding the first `len` positions of `cache` (at most its
    /// length); `cache` is unchanged.
    fn fork_cache(&self, cache: &(dyn Any + Send), len: usize) -> Box<dyn Any + Send>;
    /// Gives back the memory `cache` holds beyond its positions.
    fn trim_cache(&self, cache: &mut (dyn Any + Send));
    /// One step for several sequences at once: each item feeds its tokens (at
    /// its cache's next positions). Returns the logits of each item's last token.
    /// The weight matmuls run once over all the items' tokens; attention runs per
    /// sequence over its own cache, so a sequence's result does not depend on the
    /// others in the step.
    fn forward_batch(&self, items: &mut [(&mut Box<dyn Any + Send>, &[u32])]) -> Vec<Vec<f32>>;
}

/// How [`crate::ChatModel::load_with`] loads a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChatLoad {
    /// Where it runs.
    pub device: Device,
    /// Float type of weights and activations (f16/bf16 only on CUDA).
    pub dtype: Dtype,
    /// On the CPU, also keep an f32 copy of the quantised layers (about
    /// 4.8× their size) for prefill, which runs faster on it than on the
    /// blocks; without, those layers are held only as the file's blocks.
    pub dequantize_weights: bool,
    /// What the KV cache holds; `None`: f16 on the CPU (half of f32's
    /// memory, keys and values rounded to f16 as in llama.cpp's default
    /// cache), `dtype` on a GPU. The CPU's cache holds f32 or f16; a GPU's
    /// holds the model's dtype.
    pub kv_cache_dtype: Option<Dtype>,
}

/// Loads the decoder as `options` say.
pub(crate) fn load(
    g: &Gguf<'_>,
    config: &LlamaConfig,
    options: &ChatLoad,
    progress: &LoadProgress,
) -> Result<Box<dyn Decode>, ModelError> {
    let ChatLoad {
        device,
        dtype,
        dequantize_weights: dequantize,
        kv_cache_dtype,
    } = *options;
    let dtype = dtype.check(device)?;
    // By default the CPU keeps f16 (as llama.cpp does; the reference tests
    // pass token for token with it), a GPU the model's dtype.
    let kv = kv_cache_dtype.unwrap_or(match device {
        Device::Cpu => Dtype::F16,
        Device::Cuda(_) => dtype,
    });
    Ok(match device.check_built()? {
        Device::Cpu => {
            type Cpu = crate::device::CpuBackend;
            check_kv::<Cpu>(device, dtype, kv)?;
            Box::new(Llama::<Cpu>::load(
                g,
                config,
                &Default::default(),
                (dtype.burn(), kv.burn()),
                dequantize,
                progress,
            )?)
        }
        #[cfg(feature = "cuda")]
        Device::Cuda(index) => {
            check_kv::<burn::backend::Cuda>(device, dtype, kv)?;
            Box::new(Llama::<burn::backend::Cuda>::load(
                g,
                config,
                &burn::backend::cuda::CudaDevice::new(index),
                (dtype.burn(), kv.burn()),
                dequantize,
                progress,
            )?)
        }
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(_) => unreachable!("check_built rejects cuda without the feature"),
    })
}

/// Whether `B`'s KV cache holds `kv` for a model in `dtype`.
fn check_kv<B: Kernels>(device: Device, dtype: Dtype, kv: Dtype) -> Result<(), DeviceError> {
    if B::kv_cache_holds(dtype.burn(), kv.burn()) {
        Ok(())
    } else {
        Err(DeviceError::KvCacheDtype { kv, dtype, device })
    }
}

struct Block<B: Backend> {
    attn_norm: Tensor<B, 1>,
    q: Dense<B>,
    k: Dense<B>,
    v: Dense<B>,
    o: Dense<B>,
    ffn_norm: Tensor<B, 1>,
    gate: Dense<B>,
    up: Dense<B>,
    down: Dense<B>,
}

/// The token embedding table.
enum Embeddings<B: Backend> {
    /// `[vocab, dim]` in the model's float type.
    Table(Tensor<B, 2>),
    /// The GGUF blocks, a row dequantised per token looked up.
    Quantized(QuantWeight),
}

struct Llama<B: Backend> {
    config: LlamaConfig,
    embed: Embeddings<B>,
    /// The output projection (`embed`, tied, transposed; or `output.weight`).
    unembed: Dense<B>,
    blocks: Vec<Block<B>>,
    norm: Tensor<B, 1>,
    /// Inverse RoPE frequencies, `[head_dim / 2]`.
    inv_freq: Vec<f32>,
    /// What the KV caches hold.
    kv_dtype: FloatDType,
    device: B::Device,
}

struct Cache<B: Kernels> {
    kv: B::KvCache,
    len: usize,
}

impl<B: Kernels> Llama<B> {
    fn load(
        g: &Gguf<'_>,
        c: &LlamaConfig,
        device: &B::Device,
        (dtype, kv_dtype): (FloatDType, FloatDType),
        dequantize: bool,
        progress: &LoadProgress,
    ) -> Result<Self, GgufError> {
        let tensor2 = |name: &str, rows: usize, cols: usize| -> Result<Tensor<B, 2>, GgufError> {
            // GGUF dims are [cols, rows] (fastest first); the data is row-major [rows][cols].
            let data = g.f32(name, &[cols, rows])?;
            let t: Tensor<B, 2> = Tensor::from_data(TensorData::new(data, [rows, cols]), device);
            Ok(t.cast(dtype))
        };
        let vector = |name: &str, n: usize| -> Result<Tensor<B, 1>, GgufError> {
            let t: Tensor<B, 1> =
                Tensor::from_data(TensorData::new(g.f32(name, &[n])?, [n]), device);
            Ok(t.cast(dtype))
        };
        // A GGUF matrix [d_out rows of d_in] as a layer: transposed once into
        // contiguous [d_in, d_out], and its quantised blocks where the CPU
        // kernels read them (decode steps).
        // Blocks the backend reads for every product, so no f32 copy is made.
        let blocks_only = B::reads_quantized() && dtype == FloatDType::F32 && !dequantize;
        let quant = |name: &str, d_in: usize, d_out: usize| {
            let (info, raw) = g.checked(name, &[d_in, d_out])?;
            Ok::<_, GgufError>(QuantWeight::from_gguf(info.kind, d_in, d_out, raw))
        };
        let linear = |name: &str, d_in: usize, d_out: usize| -> Result<Dense<B>, GgufError> {
            let quant = quant(name, d_in, d_out)?;
            if blocks_only && let Some(quant) = quant {
                return Ok(Dense::quantized(quant));
            }
            let weight = crate::weights::transpose(&g.f32(name, &[d_in, d_out])?, d_out, d_in);
            Ok(Dense::new(&weight, d_in, d_out, None, device)
                .with_quant(quant)
                .cast(dtype))
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
            progress.step();
        }
        let embed = match quant("token_embd.weight", c.dim, c.vocab)? {
            Some(q) if blocks_only => Embeddings::Quantized(q),
            _ => Embeddings::Table(tensor2("token_embd.weight", c.vocab, c.dim)?),
        };
        let unembed = match &embed {
            _ if g.tensors.contains_key("output.weight") => {
                linear("output.weight", c.dim, c.vocab)?
            }
            // Tied: the same blocks.
            Embeddings::Quantized(q) => Dense::quantized(q.clone()),
            Embeddings::Table(_) => linear("token_embd.weight", c.dim, c.vocab)?,
        };
        progress.step();
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
            kv_dtype,
            device: device.clone(),
        })
    }
}

impl<B: Kernels> Llama<B> {
    /// The embeddings of `ids`, `[ids, dim]`.
    fn embed(&self, ids: Vec<i64>) -> Tensor<B, 2> {
        let rows = ids.len();
        match &self.embed {
            Embeddings::Table(table) => {
                let ids =
                    Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [rows]), &self.device);
                table.clone().select(0, ids)
            }
            Embeddings::Quantized(q) => {
                let dim = q.d_in();
                let mut out = vec![0f32; rows * dim];
                for (row, id) in out.chunks_exact_mut(dim).zip(ids) {
                    q.dequantize_output(id as usize, row);
                }
                Tensor::from_data(TensorData::new(out, [rows, dim]), &self.device)
            }
        }
    }
}

impl<B: Kernels> Decode for Llama<B> {
    fn new_cache(&self) -> Box<dyn Any + Send> {
        Box::new(Cache::<B> {
            kv: B::new_kv_cache(self.config.layers, self.kv_dtype),
            len: 0,
        })
    }

    fn cache_len(&self, cache: &(dyn Any + Send)) -> usize {
        cache
            .downcast_ref::<Cache<B>>()
            .expect("a cache made by this model")
            .len
    }

    fn fork_cache(&self, cache: &(dyn Any + Send), len: usize) -> Box<dyn Any + Send> {
        let cache = cache
            .downcast_ref::<Cache<B>>()
            .expect("a cache made by this model");
        let len = len.min(cache.len);
        let width = self.config.kv_heads * self.config.head_dim();
        Box::new(Cache::<B> {
            kv: B::kv_prefix(&cache.kv, len, width),
            len,
        })
    }

    fn trim_cache(&self, cache: &mut (dyn Any + Send)) {
        let cache = cache
            .downcast_mut::<Cache<B>>()
            .expect("a cache made by this model");
        B::kv_trim(&mut cache.kv);
    }

    fn forward_batch(&self, items: &mut [(&mut Box<dyn Any + Send>, &[u32])]) -> Vec<Vec<f32>> {
        B::run(|| self.forward(items))
    }
}

impl<B: Kernels> Llama<B> {
    fn forward(&self, items: &mut [(&mut Box<dyn Any + Send>, &[u32])]) -> Vec<Vec<f32>> {
        if items.is_empty() {
            return Vec::new();
        }
        let c = &self.config;
        let eps = c.rms_eps;
        let heads = Heads {
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim(),
        };
        // Each item's rows in the packed `[rows, dim]` activations.
        let mut spans = Vec::with_capacity(items.len());
        let mut ids = Vec::new();
        let mut positions = Vec::new();
        for (cache, tokens) in items.iter() {
            let start = cache
                .downcast_ref::<Cache<B>>()
                .expect("a cache made by this model")
                .len;
            assert!(!tokens.is_empty(), "a step feeds at least one token");
            spans.push(Span {
                offset: ids.len(),
                len: tokens.len(),
                start,
            });
            ids.extend(tokens.iter().map(|t| i64::from(*t)));
            positions.extend(start..start + tokens.len());
        }
        let mut x = self.embed(ids);
        let rope = Rope::new(&positions, &self.inv_freq);
        let mut caches: Vec<&mut B::KvCache> = items
            .iter_mut()
            .map(|(cache, _)| &mut cache.downcast_mut::<Cache<B>>().expect("checked above").kv)
            .collect();
        let plain = Activation::Identity;
        for (layer, block) in self.blocks.iter().enumerate() {
            let h = B::rms_norm(&x, &block.attn_norm, eps);
            let q = B::dense(h.clone(), &block.q, plain);
            let k = B::dense(h.clone(), &block.k, plain);
            let v = B::dense(h, &block.v, plain);
            let attended = B::decoder_attention(q, k, v, &mut caches, layer, &spans, &rope, heads);
            x = x + B::dense(attended, &block.o, plain);
            let h = B::rms_norm(&x, &block.ffn_norm, eps);
            let gate = B::dense(h.clone(), &block.gate, plain);
            let up = B::dense(h, &block.up, plain);
            x = x + B::dense(B::swiglu(gate, up), &block.down, plain);
        }
        drop(caches);
        for ((cache, _), span) in items.iter_mut().zip(&spans) {
            cache.downcast_mut::<Cache<B>>().expect("checked above").len = span.start + span.len;
        }
        let last: Vec<i64> = spans
            .iter()
            .map(|span| (span.offset + span.len - 1) as i64)
            .collect();
        let count = last.len();
        let last = Tensor::<B, 1, Int>::from_data(TensorData::new(last, [count]), &self.device);
        let last = B::rms_norm(&x.select(0, last), &self.norm, eps);
        let logits = B::dense(last, &self.unembed, Activation::Identity)
            .cast(FloatDType::F32)
            .into_data()
            .to_vec::<f32>()
            .expect("f32 logits");
        logits.chunks(c.vocab).map(<[f32]>::to_vec).collect()
    }
}

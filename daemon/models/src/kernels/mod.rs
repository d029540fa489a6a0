//! Fused kernels: the few places where a model's composition of small Burn ops
//! costs more than its arithmetic.
//!
//! Each is a method of [`Kernels`] whose default is the plain Burn composition
//! ([`generic`]); that is what CUDA runs, where Burn's `fusion` feature compiles
//! the elementwise tails into few kernels. The CPU backend (burn-flex) runs each
//! op as its own pass over memory with a fresh allocation (and GELU through a
//! scalar `erf`), so it overrides them with single passes over the tensors' own
//! buffers ([`flex`]). The two are tested against each other.
//!
//! Activations are *packed*: the rows of every sequence of a batch one after the
//! other (`[rows, width]`), with no padding. Only attention mixes rows, and it
//! runs per sequence, so padding costs nothing anywhere else.

use burn::prelude::Backend;
use burn::tensor::{FloatDType, Tensor, TensorData};

#[cfg(not(feature = "ndarray"))]
pub(crate) mod flex;
pub(crate) mod generic;
mod math;
pub(crate) mod quant;

pub(crate) use math::{exp, gelu_erf, silu};

/// What runs on a linear layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// Nothing.
    Identity,
    /// The exact (erf) GELU.
    Gelu,
}

/// A dense layer `y = x · weight + bias`. The weight is stored `[d_in, d_out]`
/// (transposed once at load, so every product reads it contiguously), as
/// column panels side by side: one panel, or on the CPU one per thread so that
/// small products (a decode step's few rows) use every core.
pub(crate) struct Dense<B: Backend> {
    pub panels: Vec<Tensor<B, 2>>,
    pub bias: Option<Tensor<B, 1>>,
    /// The weight as the file's quantised blocks too, on backends that read
    /// them for products of few rows ([`Kernels::reads_quantized`]).
    pub quant: Option<quant::QuantWeight>,
}

impl<B: Kernels> Dense<B> {
    /// A layer from its row-major `[d_in, d_out]` weight.
    pub(crate) fn new(
        weight: &[f32],
        d_in: usize,
        d_out: usize,
        bias: Option<Tensor<B, 1>>,
        device: &B::Device,
    ) -> Self {
        Self::with_panels(
            weight,
            d_in,
            d_out,
            B::weight_panels(d_in, d_out),
            bias,
            device,
        )
    }

    /// A layer stored in `panels` column panels.
    pub(crate) fn with_panels(
        weight: &[f32],
        d_in: usize,
        d_out: usize,
        panels: usize,
        bias: Option<Tensor<B, 1>>,
        device: &B::Device,
    ) -> Self {
        assert_eq!(weight.len(), d_in * d_out, "weight size");
        let width = d_out.div_ceil(panels.max(1));
        let panels = (0..d_out)
            .step_by(width)
            .map(|start| {
                let w = width.min(d_out - start);
                let mut data = Vec::with_capacity(d_in * w);
                for row in weight.chunks_exact(d_out) {
                    data.extend_from_slice(&row[start..start + w]);
                }
                Tensor::from_data(TensorData::new(data, [d_in, w]), device)
            })
            .collect();
        Self {
            panels,
            bias,
            quant: None,
        }
    }

    /// A layer kept only as its quantised blocks, on a backend that reads
    /// them for every product ([`Kernels::reads_quantized`]): no f32 copy.
    pub(crate) fn quantized(quant: quant::QuantWeight) -> Self {
        assert!(B::reads_quantized(), "this backend needs f32 panels");
        Self {
            panels: Vec::new(),
            bias: None,
            quant: Some(quant),
        }
    }

    /// Keeps the weight's quantised blocks too, where the backend reads them.
    pub(crate) fn with_quant(mut self, quant: Option<quant::QuantWeight>) -> Self {
        if B::reads_quantized() {
            self.quant = quant;
        }
        self
    }

    /// The layer in another float type.
    pub(crate) fn cast(self, dtype: burn::tensor::FloatDType) -> Self {
        Self {
            panels: self.panels.into_iter().map(|p| p.cast(dtype)).collect(),
            bias: self.bias.map(|b| b.cast(dtype)),
            quant: self.quant,
        }
    }

    /// Output width.
    pub(crate) fn d_out(&self) -> usize {
        match (&self.quant, self.panels.is_empty()) {
            (Some(q), true) => q.d_out(),
            _ => self.panels.iter().map(|p| p.dims()[1]).sum(),
        }
    }
}

/// Head layout of a decoder's attention (grouped-query: each key/value head
/// serves `heads / kv_heads` consecutive query heads).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Heads {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// One sequence's rows in a decoder step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// First row in the step's packed activations.
    pub offset: usize,
    /// Rows (new tokens) it feeds.
    pub len: usize,
    /// Position of its first new token (= tokens already in its cache).
    pub start: usize,
}

/// RoPE angles of a step's rows: `cos`/`sin` `[rows, head_dim / 2]`, for
/// rotating adjacent pairs `(2i, 2i + 1)` of every head (the GGUF layout).
#[derive(Debug)]
pub(crate) struct Rope {
    pub cos: Vec<f32>,
    pub sin: Vec<f32>,
}

impl Rope {
    /// The tables for `positions` with inverse frequencies `inv_freq`.
    pub(crate) fn new(positions: &[usize], inv_freq: &[f32]) -> Self {
        let mut cos = Vec::with_capacity(positions.len() * inv_freq.len());
        let mut sin = Vec::with_capacity(positions.len() * inv_freq.len());
        for &pos in positions {
            for f in inv_freq {
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Self { cos, sin }
    }
}

/// Backend-specific versions of the ops below; defaults are plain Burn.
pub(crate) trait Kernels: Backend {
    /// A sequence's keys and values, every layer.
    type KvCache: Send + 'static;

    /// Runs a whole decoder step where this backend's kernels run best. The
    /// CPU runs it on a thread of rayon's pool, so the many small parallel
    /// products of a decode step are shared between pool threads that are
    /// already awake, instead of each waking the pool from outside. (The
    /// encoder's few large products measured faster without.)
    fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        f()
    }

    /// Whether [`Kernels::dense`] reads a layer's quantised blocks (for every
    /// product when the layer keeps no f32 panels, else for decode steps);
    /// other backends do not keep them.
    fn reads_quantized() -> bool {
        false
    }

    /// Column panels to store a `[d_in, d_out]` weight in (see [`Dense`]).
    fn weight_panels(_d_in: usize, _d_out: usize) -> usize {
        1
    }

    /// `act(x · weight + bias)` for `x` `[rows, d_in]`.
    fn dense(x: Tensor<Self, 2>, dense: &Dense<Self>, act: Activation) -> Tensor<Self, 2> {
        generic::linear(x, dense, act)
    }

    /// `LayerNorm(x + residual) * gamma + beta` over the last dimension.
    fn add_layer_norm(
        x: Tensor<Self, 2>,
        residual: Tensor<Self, 2>,
        gamma: &Tensor<Self, 1>,
        beta: &Tensor<Self, 1>,
        eps: f64,
    ) -> Tensor<Self, 2> {
        generic::add_layer_norm(x, residual, gamma, beta, eps)
    }

    /// `x / rms(x) * weight` over the last dimension.
    fn rms_norm(x: &Tensor<Self, 2>, weight: &Tensor<Self, 1>, eps: f64) -> Tensor<Self, 2> {
        generic::rms_norm(x, weight, eps)
    }

    /// `silu(gate) * up`.
    fn swiglu(gate: Tensor<Self, 2>, up: Tensor<Self, 2>) -> Tensor<Self, 2> {
        generic::swiglu(gate, up)
    }

    /// Bidirectional multi-head attention over packed sequences: `qkv` is
    /// `[rows, 3 * width]` (queries, keys, values side by side), `lengths` the
    /// rows of each sequence in order; returns the context `[rows, width]`.
    fn packed_attention(qkv: Tensor<Self, 2>, lengths: &[usize], heads: usize) -> Tensor<Self, 2> {
        generic::packed_attention(qkv, lengths, heads)
    }

    /// Whether a cache can hold `kv` for a model computing in `model`. The
    /// generic caches hold the model's tensors as they are.
    fn kv_cache_holds(model: FloatDType, kv: FloatDType) -> bool {
        model == kv
    }

    /// An empty cache for `layers` layers, holding `dtype` (one that
    /// [`Kernels::kv_cache_holds`]).
    fn new_kv_cache(layers: usize, dtype: FloatDType) -> Self::KvCache;

    /// A new cache holding the first `len` positions of `cache`, whose rows
    /// are `kv_width` (= `kv_heads * head_dim`) wide; `cache` is unchanged.
    fn kv_prefix(cache: &Self::KvCache, len: usize, kv_width: usize) -> Self::KvCache;

    /// Gives back memory `cache` holds beyond its positions (growth room).
    fn kv_trim(_cache: &mut Self::KvCache) {}

    /// Causal attention of one decoder layer for a step: `q` `[rows, heads *
    /// head_dim]`, `k`/`v` `[rows, kv_heads * head_dim]` (not yet rotated), the
    /// rows of `spans[i]` belonging to the sequence of `caches[i]`. Appends the
    /// new keys and values to each cache and returns the context
    /// `[rows, heads * head_dim]`. A sequence's result does not depend on the
    /// others in the step.
    #[allow(clippy::too_many_arguments)]
    fn decoder_attention(
        q: Tensor<Self, 2>,
        k: Tensor<Self, 2>,
        v: Tensor<Self, 2>,
        caches: &mut [&mut Self::KvCache],
        layer: usize,
        spans: &[Span],
        rope: &Rope,
        heads: Heads,
    ) -> Tensor<Self, 2>;
}

/// Implements [`Kernels`] with the generic compositions only.
#[cfg(any(feature = "cuda", feature = "ndarray"))]
macro_rules! generic_kernels {
    ($backend:ty) => {
        impl Kernels for $backend {
            type KvCache = generic::KvCache<Self>;

            fn new_kv_cache(layers: usize, _dtype: FloatDType) -> Self::KvCache {
                generic::KvCache::new(layers)
            }

            fn kv_prefix(cache: &Self::KvCache, len: usize, _kv_width: usize) -> Self::KvCache {
                cache.prefix(len)
            }

            fn decoder_attention(
                q: Tensor<Self, 2>,
                k: Tensor<Self, 2>,
                v: Tensor<Self, 2>,
                caches: &mut [&mut Self::KvCache],
                layer: usize,
                spans: &[Span],
                rope: &Rope,
                heads: Heads,
            ) -> Tensor<Self, 2> {
                generic::decoder_attention(q, k, v, caches, layer, spans, rope, heads)
            }
        }
    };
}

#[cfg(feature = "ndarray")]
generic_kernels!(burn::backend::NdArray);

#[cfg(feature = "cuda")]
generic_kernels!(burn::backend::Cuda);

#[cfg(not(feature = "ndarray"))]
impl Kernels for burn::backend::Flex {
    type KvCache = flex::KvCache;

    fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
        // From outside the pool, `scope` runs its body on a pool thread.
        rayon::scope(|_| f())
    }

    fn weight_panels(d_in: usize, d_out: usize) -> usize {
        flex::weight_panels(d_in, d_out)
    }

    fn reads_quantized() -> bool {
        true
    }

    fn dense(x: Tensor<Self, 2>, dense: &Dense<Self>, act: Activation) -> Tensor<Self, 2> {
        flex::linear(x, dense, act)
    }

    fn add_layer_norm(
        x: Tensor<Self, 2>,
        residual: Tensor<Self, 2>,
        gamma: &Tensor<Self, 1>,
        beta: &Tensor<Self, 1>,
        eps: f64,
    ) -> Tensor<Self, 2> {
        flex::add_layer_norm(x, residual, gamma, beta, eps)
    }

    fn rms_norm(x: &Tensor<Self, 2>, weight: &Tensor<Self, 1>, eps: f64) -> Tensor<Self, 2> {
        flex::rms_norm(x, weight, eps)
    }

    fn swiglu(gate: Tensor<Self, 2>, up: Tensor<Self, 2>) -> Tensor<Self, 2> {
        flex::swiglu(gate, up)
    }

    fn packed_attention(qkv: Tensor<Self, 2>, lengths: &[usize], heads: usize) -> Tensor<Self, 2> {
        flex::packed_attention(qkv, lengths, heads)
    }

    fn kv_cache_holds(model: FloatDType, kv: FloatDType) -> bool {
        model == FloatDType::F32 && flex::KvCache::holds(kv)
    }

    fn new_kv_cache(layers: usize, dtype: FloatDType) -> Self::KvCache {
        flex::KvCache::new(layers, dtype)
    }

    fn kv_prefix(cache: &Self::KvCache, len: usize, kv_width: usize) -> Self::KvCache {
        cache.prefix(len, kv_width)
    }

    fn kv_trim(cache: &mut Self::KvCache) {
        cache.trim();
    }

    fn decoder_attention(
        q: Tensor<Self, 2>,
        k: Tensor<Self, 2>,
        v: Tensor<Self, 2>,
        caches: &mut [&mut Self::KvCache],
        layer: usize,
        spans: &[Span],
        rope: &Rope,
        heads: Heads,
    ) -> Tensor<Self, 2> {
        flex::decoder_attention(q, k, v, caches, layer, spans, rope, heads)
    }
}

//! The plain Burn compositions of the kernels (any backend).

// A CPU-only build runs the decoder composition only in tests (against burn-flex).
#![cfg_attr(not(any(feature = "cuda", feature = "ndarray")), allow(dead_code))]

use burn::prelude::Backend;
use burn::tensor::activation::{gelu, silu, softmax};
use burn::tensor::{FloatDType, Int, Tensor, TensorData};

use super::{Activation, Dense, Heads, Rope, Span};

pub(crate) fn linear<B: Backend>(
    x: Tensor<B, 2>,
    dense: &Dense<B>,
    act: Activation,
) -> Tensor<B, 2> {
    let weight = match dense.panels.as_slice() {
        [one] => one.clone(),
        panels => Tensor::cat(panels.to_vec(), 1),
    };
    let mut y = x.matmul(weight);
    if let Some(bias) = &dense.bias {
        y = y + bias.clone().unsqueeze::<2>();
    }
    match act {
        Activation::Identity => y,
        Activation::Gelu => gelu(y),
    }
}

pub(crate) fn add_layer_norm<B: Backend>(
    x: Tensor<B, 2>,
    residual: Tensor<B, 2>,
    gamma: &Tensor<B, 1>,
    beta: &Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, 2> {
    // Statistics in f32 whatever the activations' type: a square overflows
    // f16 from |x| > 256 (as HF and llama.cpp, which also normalise in f32).
    let dtype = x.dtype();
    let x = (x + residual).cast(FloatDType::F32);
    let mean = x.clone().mean_dim(1);
    let centered = x - mean;
    let var = centered.clone().powi_scalar(2).mean_dim(1);
    let normed = (centered / (var + eps).sqrt()).cast(dtype);
    normed * gamma.clone().unsqueeze::<2>() + beta.clone().unsqueeze::<2>()
}

/// Pads the packed rows into `[batch, longest, ...]` with one gather, runs
/// batched attention with padded keys masked out, and gathers the real rows
/// back.
pub(crate) fn packed_attention<B: Backend>(
    qkv: Tensor<B, 2>,
    lengths: &[usize],
    heads: usize,
) -> Tensor<B, 2> {
    let device = qkv.device();
    let dtype = qkv.dtype();
    let [tokens, three_h] = qkv.dims();
    let h = three_h / 3;
    let d = h / heads;
    let batch = lengths.len();
    let longest = lengths.iter().copied().max().unwrap_or(0);
    let mut pad_index = Vec::with_capacity(batch * longest);
    let mut unpad_index = Vec::with_capacity(tokens);
    let mut bias = Vec::with_capacity(batch * longest);
    let mut offset = 0;
    for (b, &len) in lengths.iter().enumerate() {
        for j in 0..longest {
            // Padding repeats a real row of the same sequence; it is masked.
            // (An empty sequence would have no row: it gathers any, all masked.)
            let row = (offset + j.min(len.saturating_sub(1))).min(tokens.saturating_sub(1));
            pad_index.push(row as i64);
            bias.push(if j < len { 0.0f32 } else { -1e9 });
        }
        unpad_index.extend((0..len).map(|j| (b * longest + j) as i64));
        offset += len;
    }
    let index = |v: Vec<i64>| {
        let n = v.len();
        Tensor::<B, 1, Int>::from_data(TensorData::new(v, [n]), &device)
    };
    let padded = qkv
        .select(0, index(pad_index))
        .reshape([batch, longest, 3, heads, d]);
    let part = |i: usize| {
        padded
            .clone()
            .narrow(2, i, 1)
            .reshape([batch, longest, heads, d])
            .swap_dims(1, 2)
    };
    let (q, k, v) = (part(0), part(1), part(2));
    let bias = Tensor::<B, 1>::from_data(TensorData::new(bias, [batch * longest]), &device)
        .cast(dtype)
        .reshape([batch, 1, 1, longest]);
    let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt() + bias;
    softmax(scores, 3)
        .matmul(v)
        .swap_dims(1, 2)
        .reshape([batch * longest, h])
        .select(0, index(unpad_index))
}

pub(crate) fn rms_norm<B: Backend>(
    x: &Tensor<B, 2>,
    weight: &Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, 2> {
    // In f32 whatever the activations' type (see `add_layer_norm`).
    let x32 = x.clone().cast(FloatDType::F32);
    let rms = (x32.clone().powi_scalar(2).mean_dim(1) + eps).sqrt();
    (x32 / rms).cast(x.dtype()) * weight.clone().unsqueeze::<2>()
}

pub(crate) fn swiglu<B: Backend>(gate: Tensor<B, 2>, up: Tensor<B, 2>) -> Tensor<B, 2> {
    silu(gate) * up
}

/// Per layer: keys (rotated) and values `[1, kv_heads, t, head_dim]`.
pub(crate) struct KvCache<B: Backend> {
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
}

impl<B: Backend> KvCache<B> {
    pub(crate) fn new(layers: usize) -> Self {
        Self {
            layers: (0..layers).map(|_| None).collect(),
        }
    }

    /// The first `len` positions (views of the same tensors: appends make new ones).
    pub(crate) fn prefix(&self, len: usize) -> Self {
        Self {
            layers: self
                .layers
                .iter()
                .map(|kv| match kv {
                    Some((k, v)) if len > 0 => {
                        let len = len.min(k.dims()[2]);
                        Some((k.clone().narrow(2, 0, len), v.clone().narrow(2, 0, len)))
                    }
                    _ => None,
                })
                .collect(),
        }
    }
}

/// Rotates adjacent pairs of `x` `[1, h, n, d]` by `(cos, sin)` `[1, 1, n, d / 2]`.
fn rotate<B: Backend>(x: Tensor<B, 4>, cos: &Tensor<B, 4>, sin: &Tensor<B, 4>) -> Tensor<B, 4> {
    let [b, h, n, d] = x.dims();
    let pairs = x.reshape([b, h, n, d / 2, 2]);
    let x0 = pairs.clone().narrow(4, 0, 1).reshape([b, h, n, d / 2]);
    let x1 = pairs.narrow(4, 1, 1).reshape([b, h, n, d / 2]);
    let r0 = x0.clone() * cos.clone() - x1.clone() * sin.clone();
    let r1 = x0 * sin.clone() + x1 * cos.clone();
    Tensor::stack::<5>(vec![r0, r1], 4).reshape([b, h, n, d])
}

/// Rotates the step's queries and keys, then per sequence: appends to its cache
/// (`Tensor::cat`), expands the key/value heads to the query heads, and runs
/// masked attention over everything cached.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decoder_attention<B: Backend>(
    q: Tensor<B, 2>,
    k: Tensor<B, 2>,
    v: Tensor<B, 2>,
    caches: &mut [&mut KvCache<B>],
    layer: usize,
    spans: &[Span],
    rope: &Rope,
    shape: Heads,
) -> Tensor<B, 2> {
    let device = q.device();
    let dtype = q.dtype();
    let rows = q.dims()[0];
    let Heads {
        heads,
        kv_heads,
        head_dim: hd,
    } = shape;
    let group = heads / kv_heads;
    let table = |v: &[f32]| {
        Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), [v.len()]), &device)
            .cast(dtype)
            .reshape([1, 1, rows, hd / 2])
    };
    let (cos, sin) = (table(&rope.cos), table(&rope.sin));
    let split = |t: Tensor<B, 2>, heads: usize| t.reshape([1, rows, heads, hd]).swap_dims(1, 2);
    let q = rotate(split(q, heads), &cos, &sin);
    let k = rotate(split(k, kv_heads), &cos, &sin);
    let v = split(v, kv_heads);
    let mut attended = Vec::with_capacity(spans.len());
    for (span, cache) in spans.iter().zip(caches.iter_mut()) {
        let Span {
            offset,
            len: n,
            start,
        } = *span;
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
        let kv = &mut cache.layers[layer];
        let (k, v) = match kv.take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        *kv = Some((k.clone(), v.clone()));
        // Each key/value head serves `group` consecutive query heads.
        let expand = |t: Tensor<B, 4>| {
            t.unsqueeze_dim::<5>(2)
                .repeat_dim(2, group)
                .reshape([1, heads, total, hd])
        };
        let mut scores = q.matmul(expand(k).swap_dims(2, 3)) / (hd as f64).sqrt();
        if n > 1 {
            // Causal: new row i sees columns up to start + i.
            let mut m = vec![0f32; n * total];
            for i in 0..n {
                for j in start + i + 1..total {
                    m[i * total + j] = f32::NEG_INFINITY;
                }
            }
            let mask = Tensor::<B, 1>::from_data(TensorData::new(m, [n * total]), &device)
                .cast(dtype)
                .reshape([1, 1, n, total]);
            scores = scores + mask;
        }
        attended.push(
            softmax(scores, 3)
                .matmul(expand(v))
                .swap_dims(1, 2)
                .reshape([n, heads * hd]),
        );
    }
    if attended.len() == 1 {
        attended.pop().expect("one item")
    } else {
        Tensor::cat(attended, 0)
    }
}

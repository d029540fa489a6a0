//! The kernels as single passes over burn-flex buffers (f32; another dtype falls
//! back to the generic composition).

use burn::backend::Flex;
use burn::tensor::{DType, FloatDType, Tensor, TensorData, TensorPrimitive};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::quant::{QuantWeight, f16_bits_to_f32};
use super::{Activation, Dense, Heads, Rope, Span, exp, gelu_erf, generic, silu};

/// Below this many elements a pass stays on the calling thread.
const PARALLEL_ELEMENTS: usize = 32 * 1024;

/// The tensor's buffer, contiguous, exactly its size and not shared, so it
/// can be written in place.
fn owned<const D: usize>(t: Tensor<Flex, D>) -> FlexTensor {
    let t = t.into_primitive().tensor();
    let exact = t.is_contiguous()
        && t.layout().start_offset() == 0
        && t.bytes().len() == t.layout().num_elements() * 4;
    if exact && t.is_unique() {
        t
    } else {
        // A copy: contiguous, exact and unique by construction.
        FlexTensor::from_data(t.into_data())
    }
}

/// A (possibly shared) tensor whose `storage()` starts with its values in
/// row-major order: no copy when it already is contiguous from offset 0.
fn values<const D: usize>(t: &Tensor<Flex, D>) -> FlexTensor {
    let t = t.clone().into_primitive().tensor();
    if t.is_contiguous() && t.layout().start_offset() == 0 {
        t
    } else {
        t.to_contiguous()
    }
}

fn wrap<const D: usize>(t: FlexTensor) -> Tensor<Flex, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// Runs `f` on each row of `data` (rows of `width`), in parallel when large.
fn rows_mut(data: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    if data.len() >= PARALLEL_ELEMENTS {
        data.par_chunks_mut(width)
            .with_min_len((PARALLEL_ELEMENTS / 4 / width).max(1))
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    } else {
        data.chunks_mut(width)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
    }
}

/// burn-flex threads a product only from 192³ multiply-adds; a decode step's
/// products (a few rows) are smaller and would run on one core. Weights are
/// stored in one column panel per thread instead, and the panels' products run
/// in parallel (each a contiguous GEMV or GEMM).
const MIN_PANEL: usize = 64;
/// Rows up to which a layer with quantised blocks reads those instead of its
/// f32 panels (decode steps; prefill chunks are products the f32 GEMM does
/// better).
const QUANT_MAX_ROWS: usize = 8;

/// Rows up to which a layer held only as blocks multiplies them with the
/// blocks kernel; from here dequantised tiles through burn-flex's GEMM are
/// faster (`chat_steps`, decode: even at 12 rows, 1.3× at 16).
const BLOCKS_MAX_ROWS: usize = 12;

/// Bytes of f32 weights per tile of a dequantising product (kept in L2).
const TILE_BYTES: usize = 512 * 1024;

/// Multiply-adds below which the panels run one after the other.
const PARALLEL_PRODUCT: usize = 64 * 1024;

pub(crate) fn weight_panels(_d_in: usize, d_out: usize) -> usize {
    rayon::current_num_threads().min(d_out / MIN_PANEL).max(1)
}

pub(crate) fn linear(x: Tensor<Flex, 2>, dense: &Dense<Flex>, act: Activation) -> Tensor<Flex, 2> {
    if x.dtype() != DType::F32 {
        return generic::linear(x, dense, act);
    }
    let [m, k] = x.dims();
    let n = dense.d_out();
    let bias = dense.bias.as_ref().map(values);
    let bias: Option<&[f32]> = bias.as_ref().map(|b| b.storage::<f32>());
    // Bias and activation, in the same pass that writes the output.
    let finish = |row: &mut [f32]| {
        if let Some(bias) = bias {
            for (v, b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
        if act == Activation::Gelu {
            for v in row.iter_mut() {
                *v = gelu_erf(*v);
            }
        }
    };
    // Without f32 panels the blocks kernel takes the products it does
    // better than dequantised tiles through the GEMM.
    let direct = if dense.panels.is_empty() {
        BLOCKS_MAX_ROWS
    } else {
        QUANT_MAX_ROWS
    };
    if let Some(q) = &dense.quant
        && (m <= direct || dense.panels.is_empty())
    {
        let mut y = if m <= direct {
            q.matmul(&values(&x).storage::<f32>()[..m * k], m)
        } else {
            dequantising_product(&x, q)
        };
        rows_mut(&mut y, n, |_, row| finish(row));
        return wrap(FlexTensor::from_data(TensorData::new(y, [m, n])));
    }
    if let [weight] = dense.panels.as_slice() {
        let mut y = owned(x.matmul(weight.clone()));
        rows_mut(y.storage_mut::<f32>(), n, |_, row| finish(row));
        return wrap(y);
    }
    let product = |w: &Tensor<Flex, 2>| values(&x.clone().matmul(w.clone()));
    let pieces: Vec<FlexTensor> = if m * n * k >= PARALLEL_PRODUCT {
        dense.panels.par_iter().map(product).collect()
    } else {
        dense.panels.iter().map(product).collect()
    };
    let pieces: Vec<&[f32]> = pieces.iter().map(|p| p.storage::<f32>()).collect();
    let mut out = vec![0f32; m * n];
    rows_mut(&mut out, n, |i, row| {
        let mut start = 0;
        for piece in &pieces {
            let w = piece.len() / m;
            row[start..start + w].copy_from_slice(&piece[i * w..(i + 1) * w]);
            start += w;
        }
        finish(row);
    });
    wrap(FlexTensor::from_data(TensorData::new(out, [m, n])))
}

/// Rows from which a dequantising product multiplies `x` by each tile
/// transposed (`[d_in, tile]`) rather than the tile by `xᵀ`: with many rows,
/// transposing `x` and the result costs more than transposing the tile.
const WIDE_PRODUCT_ROWS: usize = 64;

/// `x · W` for a weight kept only as quantised blocks, any number of rows:
/// each task dequantises one tile of outputs (`[tile, d_in]`, contiguous, in
/// L2) and multiplies it with burn-flex's GEMM — the tile by `xᵀ` for few
/// rows, `x` by the tile transposed for many — so the weight is read as blocks
/// (0.6 bytes a weight for Q4_1) and never held as f32 whole.
fn dequantising_product(x: &Tensor<Flex, 2>, q: &QuantWeight) -> Vec<f32> {
    let [m, k] = x.dims();
    let n = q.d_out();
    let wide = m >= WIDE_PRODUCT_ROWS;
    let xt = (!wide).then(|| {
        let xt = crate::weights::transpose(&values(x).storage::<f32>()[..m * k], m, k);
        Tensor::<Flex, 2>::from_data(TensorData::new(xt, [k, m]), &x.device())
    });
    // Tiles as wide as L2 allows (fewer, larger products), but at least two
    // per thread.
    let tile = (TILE_BYTES / (k * 4))
        .min(n.div_ceil(2 * rayon::current_num_threads()))
        .next_multiple_of(16)
        .max(16);
    let firsts: Vec<usize> = (0..n).step_by(tile).collect();
    let tiles: Vec<FlexTensor> = firsts
        .par_iter()
        .map(|&first| {
            let count = tile.min(n - first);
            let w = q.dequantize_outputs(first, count);
            match &xt {
                Some(xt) => {
                    let w =
                        Tensor::<Flex, 2>::from_data(TensorData::new(w, [count, k]), &x.device());
                    values(&w.matmul(xt.clone()))
                }
                None => {
                    let wt = crate::weights::transpose(&w, count, k);
                    let wt =
                        Tensor::<Flex, 2>::from_data(TensorData::new(wt, [k, count]), &x.device());
                    values(&x.clone().matmul(wt))
                }
            }
        })
        .collect();
    let mut out = vec![0f32; m * n];
    rows_mut(&mut out, n, |i, row| {
        for (tile, &first) in tiles.iter().zip(&firsts) {
            let t = tile.storage::<f32>();
            let count = t.len() / m;
            let row = &mut row[first..first + count];
            if wide {
                // `[m, count]`: row `i` is contiguous.
                row.copy_from_slice(&t[i * count..(i + 1) * count]);
            } else {
                // `[count, m]`: output `first + c` of row `i` at `c * m + i`.
                for (c, v) in row.iter_mut().enumerate() {
                    *v = t[c * m + i];
                }
            }
        }
    });
    out
}

pub(crate) fn add_layer_norm(
    x: Tensor<Flex, 2>,
    residual: Tensor<Flex, 2>,
    gamma: &Tensor<Flex, 1>,
    beta: &Tensor<Flex, 1>,
    eps: f64,
) -> Tensor<Flex, 2> {
    if x.dtype() != DType::F32 {
        return generic::add_layer_norm(x, residual, gamma, beta, eps);
    }
    let width = x.dims()[1];
    let residual = values(&residual);
    let residual = residual.storage::<f32>();
    let (gamma, beta) = (values(gamma), values(beta));
    let (gamma, beta) = (gamma.storage::<f32>(), beta.storage::<f32>());
    let mut x = owned(x);
    rows_mut(x.storage_mut::<f32>(), width, |i, row| {
        let res = &residual[i * width..(i + 1) * width];
        let mut sum = 0.0f32;
        for (v, r) in row.iter_mut().zip(res) {
            *v += r;
            sum += *v;
        }
        let mean = sum / width as f32;
        let mut var = 0.0f32;
        for v in row.iter_mut() {
            *v -= mean;
            var += *v * *v;
        }
        let scale = 1.0 / (var / width as f32 + eps as f32).sqrt();
        for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *v = *v * scale * g + b;
        }
    });
    wrap(x)
}

/// Query rows per parallel task.
const QUERY_BLOCK: usize = 8;

pub(crate) fn packed_attention(
    qkv: Tensor<Flex, 2>,
    lengths: &[usize],
    heads: usize,
) -> Tensor<Flex, 2> {
    if qkv.dtype() != DType::F32 {
        return generic::packed_attention(qkv, lengths, heads);
    }
    let [tokens, three_h] = qkv.dims();
    let h = three_h / 3;
    let d = h / heads;
    let qkv = values(&qkv);
    let qkv = qkv.storage::<f32>();
    let mut out = vec![0f32; tokens * h];
    // Tasks: (first row of the sequence, its length, first query row, the
    // output rows of that query block). Every output row belongs to one task.
    let mut tasks = Vec::new();
    let mut rest: &mut [f32] = &mut out;
    let mut start = 0;
    for &len in lengths {
        let mut i = 0;
        while i < len {
            let n = QUERY_BLOCK.min(len - i);
            let (block, tail) = rest.split_at_mut(n * h);
            tasks.push((start, len, i, block));
            rest = tail;
            i += n;
        }
        start += len;
    }
    assert!(rest.is_empty(), "lengths must add up to the rows");
    let scale = 1.0 / (d as f32).sqrt();
    let run = |(seq, len, first, block): (usize, usize, usize, &mut [f32])| {
        let mut scores = vec![0f32; len];
        for (r, out_row) in block.chunks_mut(h).enumerate() {
            let q_row = &qkv[(seq + first + r) * three_h..][..h];
            for head in 0..heads {
                let q = &q_row[head * d..][..d];
                let mut max = f32::NEG_INFINITY;
                for (j, s) in scores.iter_mut().enumerate() {
                    let k = &qkv[(seq + j) * three_h + h + head * d..][..d];
                    *s = dot(q, k) * scale;
                    max = max.max(*s);
                }
                let mut total = 0.0;
                for s in scores.iter_mut() {
                    *s = exp(*s - max);
                    total += *s;
                }
                let o = &mut out_row[head * d..][..d];
                for (j, s) in scores.iter().enumerate() {
                    let v = &qkv[(seq + j) * three_h + 2 * h + head * d..][..d];
                    let p = s / total;
                    for (o, v) in o.iter_mut().zip(v) {
                        *o += p * v;
                    }
                }
            }
        }
    };
    if tokens * h >= PARALLEL_ELEMENTS || tasks.len() > 1 && tokens > 64 {
        tasks.into_par_iter().for_each(run);
    } else {
        tasks.into_iter().for_each(run);
    }
    wrap(FlexTensor::from_data(TensorData::new(out, [tokens, h])))
}

pub(crate) fn rms_norm(x: &Tensor<Flex, 2>, weight: &Tensor<Flex, 1>, eps: f64) -> Tensor<Flex, 2> {
    if x.dtype() != DType::F32 {
        return generic::rms_norm(x, weight, eps);
    }
    let [rows, width] = x.dims();
    let input = values(x);
    let input = input.storage::<f32>();
    let weight = values(weight);
    let weight = weight.storage::<f32>();
    let mut out = vec![0f32; rows * width];
    rows_mut(&mut out, width, |i, row| {
        let src = &input[i * width..(i + 1) * width];
        let mean_square = src.iter().map(|v| v * v).sum::<f32>() / width as f32;
        let scale = 1.0 / (mean_square + eps as f32).sqrt();
        for ((o, v), w) in row.iter_mut().zip(src).zip(weight) {
            *o = v * scale * w;
        }
    });
    wrap(FlexTensor::from_data(TensorData::new(out, [rows, width])))
}

pub(crate) fn swiglu(gate: Tensor<Flex, 2>, up: Tensor<Flex, 2>) -> Tensor<Flex, 2> {
    if gate.dtype() != DType::F32 {
        return generic::swiglu(gate, up);
    }
    let width = gate.dims()[1];
    let up = values(&up);
    let up = up.storage::<f32>();
    let mut gate = owned(gate);
    rows_mut(gate.storage_mut::<f32>(), width, |i, row| {
        for (g, u) in row.iter_mut().zip(&up[i * width..(i + 1) * width]) {
            *g = silu(*g) * u;
        }
    });
    wrap(gate)
}

/// Per layer: keys (rotated) and values, one row of `kv_heads * head_dim` per
/// position, in f32 or as f16 bits (half the memory; what llama.cpp keeps by
/// default). Growing a `Vec` is amortised O(1) per token (no copy of the whole
/// cache per step).
#[derive(Debug)]
pub(crate) enum KvCache {
    F32(Vec<(Vec<f32>, Vec<f32>)>),
    F16(Vec<(Vec<u16>, Vec<u16>)>),
}

impl KvCache {
    /// An empty cache holding `dtype` (f32 or f16: see [`KvCache::holds`]).
    pub(crate) fn new(layers: usize, dtype: FloatDType) -> Self {
        match dtype {
            FloatDType::F16 => Self::F16(vec![(Vec::new(), Vec::new()); layers]),
            _ => Self::F32(vec![(Vec::new(), Vec::new()); layers]),
        }
    }

    /// Whether a cache can hold `dtype`.
    pub(crate) fn holds(dtype: FloatDType) -> bool {
        matches!(dtype, FloatDType::F32 | FloatDType::F16)
    }

    /// Frees the growth room of every layer's buffers (a large buffer shrinks
    /// in place).
    pub(crate) fn trim(&mut self) {
        fn trim<E>(layers: &mut [(Vec<E>, Vec<E>)]) {
            for (k, v) in layers {
                k.shrink_to_fit();
                v.shrink_to_fit();
            }
        }
        match self {
            Self::F32(layers) => trim(layers),
            Self::F16(layers) => trim(layers),
        }
    }

    /// A copy of the first `len` positions (rows of `width` values).
    pub(crate) fn prefix(&self, len: usize, width: usize) -> Self {
        fn prefix<E: Clone>(layers: &[(Vec<E>, Vec<E>)], n: usize) -> Vec<(Vec<E>, Vec<E>)> {
            layers
                .iter()
                .map(|(k, v)| (k[..n.min(k.len())].to_vec(), v[..n.min(v.len())].to_vec()))
                .collect()
        }
        match self {
            Self::F32(layers) => Self::F32(prefix(layers, len * width)),
            Self::F16(layers) => Self::F16(prefix(layers, len * width)),
        }
    }
}

/// What a [`KvCache`] holds per value.
trait KvValue: Copy + Send + Sync + 'static {
    /// Appends `src` to `dst`.
    fn extend(dst: &mut Vec<Self>, src: &[f32]);

    /// `src` as f32: itself, or widened into `buf` (as long as `src`).
    fn widen<'a>(src: &'a [Self], buf: &'a mut [f32]) -> &'a [f32];
}

impl KvValue for f32 {
    fn extend(dst: &mut Vec<Self>, src: &[f32]) {
        dst.extend_from_slice(src);
    }

    #[inline(always)]
    fn widen<'a>(src: &'a [Self], _buf: &'a mut [f32]) -> &'a [f32] {
        src
    }
}

/// f16 by its bits, rounded to nearest even on the way in.
impl KvValue for u16 {
    fn extend(dst: &mut Vec<Self>, src: &[f32]) {
        dst.extend(src.iter().map(|&x| half::f16::from_f32(x).to_bits()));
    }

    #[inline(always)]
    fn widen<'a>(src: &'a [Self], buf: &'a mut [f32]) -> &'a [f32] {
        for (w, h) in buf.iter_mut().zip(src) {
            *w = f16_bits_to_f32(*h);
        }
        buf
    }
}

/// Rotates adjacent pairs `(2i, 2i + 1)` of every head in `row`.
#[inline(always)]
fn rotate(row: &mut [f32], cos: &[f32], sin: &[f32]) {
    let half = cos.len();
    for head in row.chunks_exact_mut(2 * half) {
        for (pair, (c, s)) in head.chunks_exact_mut(2).zip(cos.iter().zip(sin)) {
            let (x0, x1) = (pair[0], pair[1]);
            pair[0] = x0 * c - x1 * s;
            pair[1] = x0 * s + x1 * c;
        }
    }
}

/// Multiply-adds below which a step's attention stays on the calling thread
/// (about a sequence of 110 tokens for SmolLM2-135M).
const PARALLEL_ATTENTION: usize = 1 << 16;

#[allow(clippy::too_many_arguments)]
pub(crate) fn decoder_attention(
    q: Tensor<Flex, 2>,
    k: Tensor<Flex, 2>,
    v: Tensor<Flex, 2>,
    caches: &mut [&mut KvCache],
    layer: usize,
    spans: &[Span],
    rope: &Rope,
    shape: Heads,
) -> Tensor<Flex, 2> {
    let rows = q.dims()[0];
    let (q, k, v) = (values(&q), values(&k), values(&v));
    let step = Step {
        rows,
        q: q.storage::<f32>(),
        k: k.storage::<f32>(),
        v: v.storage::<f32>(),
        spans,
        rope,
        shape,
    };
    // One model's caches all hold its one KV dtype.
    let out = if let Some(KvCache::F16(_)) = caches.first().map(|c| &**c) {
        step.attend(caches.iter_mut().map(|c| match &mut **c {
            KvCache::F16(layers) => &mut layers[layer],
            KvCache::F32(_) => panic!("caches of two KV dtypes in one step"),
        }))
    } else {
        step.attend(caches.iter_mut().map(|c| match &mut **c {
            KvCache::F32(layers) => &mut layers[layer],
            KvCache::F16(_) => panic!("caches of two KV dtypes in one step"),
        }))
    };
    wrap(FlexTensor::from_data(TensorData::new(
        out,
        [rows, shape.heads * shape.head_dim],
    )))
}

/// One decoder attention step's inputs (see [`decoder_attention`]).
struct Step<'a> {
    /// Query rows (`q` may hold more: a view's buffer).
    rows: usize,
    q: &'a [f32],
    k: &'a [f32],
    v: &'a [f32],
    spans: &'a [Span],
    rope: &'a Rope,
    shape: Heads,
}

impl Step<'_> {
    /// Appends the step's keys and values to each sequence's layer cache and
    /// returns the context rows.
    fn attend<'c, E: KvValue>(
        &self,
        layers: impl Iterator<Item = &'c mut (Vec<E>, Vec<E>)>,
    ) -> Vec<f32> {
        let Heads {
            heads,
            kv_heads,
            head_dim: d,
        } = self.shape;
        let (k, v, spans, rope) = (self.k, self.v, self.spans, self.rope);
        let rows = self.rows;
        let (qw, kvw, half) = (heads * d, kv_heads * d, d / 2);
        // Append every sequence's new keys (rotated) and values to its cache.
        let mut layers: Vec<&'c mut (Vec<E>, Vec<E>)> = layers.collect();
        assert_eq!(layers.len(), spans.len(), "a cache per span");
        let mut key = vec![0f32; kvw];
        for (span, (keys, vals)) in spans.iter().zip(layers.iter_mut()) {
            assert_eq!(keys.len(), span.start * kvw, "cache and span disagree");
            for r in span.offset..span.offset + span.len {
                key.copy_from_slice(&k[r * kvw..(r + 1) * kvw]);
                rotate(
                    &mut key,
                    &rope.cos[r * half..(r + 1) * half],
                    &rope.sin[r * half..(r + 1) * half],
                );
                E::extend(keys, &key);
                E::extend(vals, &v[r * kvw..(r + 1) * kvw]);
            }
        }
        // Tasks own disjoint blocks of a head-major `[kv_heads, rows, group *
        // d]` output: one key/value head (with its group of query heads) for
        // a block of one sequence's query rows. Split by head, even one
        // sequence's decode uses several threads once its context is long.
        let gw = heads / kv_heads * d;
        let mut by_head = vec![0f32; rows * qw];
        let mut tasks = Vec::new();
        let mut rest: &mut [f32] = &mut by_head;
        for kv_head in 0..kv_heads {
            for (i, span) in spans.iter().enumerate() {
                let mut r = 0;
                while r < span.len {
                    let n = QUERY_BLOCK.min(span.len - r);
                    let (block, tail) = rest.split_at_mut(n * gw);
                    tasks.push((kv_head, i, r, block));
                    rest = tail;
                    r += n;
                }
            }
        }
        assert!(rest.is_empty(), "spans must cover the rows");
        let work: usize = spans.iter().map(|s| s.len * (s.start + s.len) * qw).sum();
        let layers: Vec<&(Vec<E>, Vec<E>)> = layers.into_iter().map(|l| &*l).collect();
        let arch = pulp::Arch::new();
        let run = |(kv_head, i, first, block): (usize, usize, usize, &mut [f32])| {
            let (keys, vals) = layers[i];
            arch.dispatch(QueryBlock {
                step: self,
                kv_head,
                span: spans[i],
                first,
                keys,
                vals,
                out: block,
            });
        };
        if work >= PARALLEL_ATTENTION {
            tasks.into_par_iter().for_each(run);
        } else {
            tasks.into_iter().for_each(run);
        }
        // Back to row-major `[rows, heads * d]` (spans cover the rows in order).
        let mut out = vec![0f32; rows * qw];
        for (kv_head, head_rows) in by_head.chunks_exact(rows * gw).enumerate() {
            for (row, part) in out.chunks_exact_mut(qw).zip(head_rows.chunks_exact(gw)) {
                row[kv_head * gw..][..gw].copy_from_slice(part);
            }
        }
        out
    }
}

/// One task of [`Step::attend`]: the query heads of one key/value head
/// (`kv_head`) for query rows `first..` of one sequence (its `span`), against
/// its cached keys and values, into `out` (`[rows, group * head_dim]`). Each
/// cached row is widened once and used by every query head of the group. A
/// `pulp::WithSimd` so that its loops are compiled for the CPU's best SIMD
/// level (AVX2/AVX-512, where an f16 row widens in a few instructions).
struct QueryBlock<'a, E> {
    step: &'a Step<'a>,
    kv_head: usize,
    span: Span,
    first: usize,
    keys: &'a [E],
    vals: &'a [E],
    out: &'a mut [f32],
}

impl<E: KvValue> pulp::WithSimd for QueryBlock<'_, E> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            step,
            kv_head,
            span,
            first,
            keys,
            vals,
            out,
        } = self;
        let Heads {
            heads,
            kv_heads,
            head_dim: d,
        } = step.shape;
        let group = heads / kv_heads;
        let (qw, kvw, gw, half) = (heads * d, kv_heads * d, group * d, d / 2);
        // This head's columns in a cache row.
        let col = kv_head * d;
        let (q, rope) = (step.q, step.rope);
        let scale = 1.0 / (d as f32).sqrt();
        let mut query = vec![0f32; gw];
        let mut widened = vec![0f32; d];
        // `[group, visible]`.
        let mut scores = vec![0f32; group * (span.start + span.len)];
        let mut totals = vec![0f32; group];
        for (n, out_row) in out.chunks_mut(gw).enumerate() {
            let r = span.offset + first + n;
            // Causal: the row at position p sees positions 0..=p.
            let visible = span.start + first + n + 1;
            query.copy_from_slice(&q[r * qw + kv_head * gw..][..gw]);
            rotate(
                &mut query,
                &rope.cos[r * half..(r + 1) * half],
                &rope.sin[r * half..(r + 1) * half],
            );
            let scores = &mut scores[..group * visible];
            for j in 0..visible {
                let key = E::widen(&keys[j * kvw + col..][..d], &mut widened);
                for (h, q_head) in query.chunks_exact(d).enumerate() {
                    scores[h * visible + j] = dot(q_head, key) * scale;
                }
            }
            for (row, total) in scores.chunks_exact_mut(visible).zip(&mut totals) {
                let max = row.iter().fold(f32::NEG_INFINITY, |m, s| m.max(*s));
                *total = 0.0;
                for s in row.iter_mut() {
                    *s = exp(*s - max);
                    *total += *s;
                }
            }
            for j in 0..visible {
                let value = E::widen(&vals[j * kvw + col..][..d], &mut widened);
                for (h, o) in out_row.chunks_exact_mut(d).enumerate() {
                    add_scaled(o, scores[h * visible + j] / totals[h], value);
                }
            }
        }
    }
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums so the loop vectorises (f32 addition is not
    // associative, so the compiler will not reorder one sum).
    let mut acc = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `o += p · v`.
#[inline(always)]
fn add_scaled(o: &mut [f32], p: f32, v: &[f32]) {
    for (o, v) in o.iter_mut().zip(v) {
        *o += p * v;
    }
}

#[cfg(test)]
mod tests;

//! Causal decoder attention over per-sequence KV caches (f32 or f16), for
//! [`super`]'s backend.

use burn::backend::Flex;
use burn::tensor::{FloatDType, Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::super::quant::f16_bits_to_f32;
use super::super::{Heads, Rope, Span, exp};
use super::{QUERY_BLOCK, dot, values, wrap};

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

/// `o += p · v`.
#[inline(always)]
fn add_scaled(o: &mut [f32], p: f32, v: &[f32]) {
    for (o, v) in o.iter_mut().zip(v) {
        *o += p * v;
    }
}

//! Fused kernels: the few places where a model's composition of small Burn ops
//! costs more than its arithmetic.
//!
//! Each is a method of [`Kernels`] whose default is the plain Burn composition
//! (in [`generic`]); that is what CUDA runs, where Burn's `fusion` feature
//! compiles the elementwise tails into few kernels. The CPU backend (burn-flex)
//! runs each op as its own pass over memory with a fresh allocation, and an
//! exact GELU through scalar `erf`, so it overrides them with single passes over
//! the tensor's own buffer ([`flex`]). Both are tested against each other.
//!
//! Encoder activations are *packed*: the rows of every sequence of a batch one
//! after the other (`[tokens, width]`), with no padding. Only attention mixes
//! rows, and it runs per sequence, so padding costs nothing anywhere else.

use burn::prelude::Backend;
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Int, Tensor, TensorData};

/// What runs on a linear layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// Nothing.
    Identity,
    /// The exact (erf) GELU.
    Gelu,
}

/// A dense layer `y = x · weight + bias`, weight stored `[d_in, d_out]`
/// (transposed once at load, so every product reads it contiguously).
pub(crate) struct Dense<B: Backend> {
    pub weight: Tensor<B, 2>,
    pub bias: Option<Tensor<B, 1>>,
}

/// Backend-specific versions of the ops below; defaults are plain Burn.
pub(crate) trait Kernels: Backend {
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

    /// Bidirectional multi-head attention over packed sequences: `qkv` is
    /// `[tokens, 3 * width]` (queries, keys, values side by side), `lengths`
    /// the tokens of each sequence in order; returns the context `[tokens, width]`.
    fn packed_attention(qkv: Tensor<Self, 2>, lengths: &[usize], heads: usize) -> Tensor<Self, 2> {
        generic::packed_attention(qkv, lengths, heads)
    }
}

#[cfg(not(feature = "ndarray"))]
impl Kernels for burn::backend::Flex {
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

    fn packed_attention(qkv: Tensor<Self, 2>, lengths: &[usize], heads: usize) -> Tensor<Self, 2> {
        flex::packed_attention(qkv, lengths, heads)
    }
}

#[cfg(feature = "ndarray")]
impl Kernels for burn::backend::NdArray {}

#[cfg(feature = "cuda")]
impl Kernels for burn::backend::Cuda {}

/// The plain Burn compositions (any backend).
pub(crate) mod generic {
    use super::*;

    pub(crate) fn linear<B: Backend>(
        x: Tensor<B, 2>,
        dense: &Dense<B>,
        act: Activation,
    ) -> Tensor<B, 2> {
        let mut y = x.matmul(dense.weight.clone());
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
        let x = x + residual;
        let mean = x.clone().mean_dim(1);
        let centered = x - mean;
        let var = centered.clone().powi_scalar(2).mean_dim(1);
        let normed = centered / (var + eps).sqrt();
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
                pad_index.push((offset + j.min(len.saturating_sub(1))) as i64);
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
            .reshape([batch, 1, 1, longest]);
        let scores = q.matmul(k.swap_dims(2, 3)) / (d as f64).sqrt() + bias;
        softmax(scores, 3)
            .matmul(v)
            .swap_dims(1, 2)
            .reshape([batch * longest, h])
            .select(0, index(unpad_index))
    }
}

/// Single-pass versions on burn-flex tensors (f32, contiguous, owned buffers).
#[cfg(not(feature = "ndarray"))]
pub(crate) mod flex {
    use burn::backend::Flex;
    use burn::tensor::TensorPrimitive;
    use burn_flex::FlexTensor;
    use rayon::prelude::*;

    use super::*;

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

    /// Contiguous f32 values of a (possibly shared) tensor, without a copy when
    /// it already is contiguous.
    fn values<const D: usize>(t: &Tensor<Flex, D>) -> FlexTensor {
        let t = t.clone().into_primitive().tensor();
        if t.is_contiguous() {
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

    pub(crate) fn linear(
        x: Tensor<Flex, 2>,
        dense: &Dense<Flex>,
        act: Activation,
    ) -> Tensor<Flex, 2> {
        if x.dtype() != burn::tensor::DType::F32 {
            return generic::linear(x, dense, act);
        }
        // burn-flex's product (gemm, threaded for large shapes, a GEMV path for
        // one row), then bias and activation in one pass over the output.
        let y = x.matmul(dense.weight.clone());
        let width = y.dims()[1];
        let bias = dense.bias.as_ref().map(values);
        let mut y = owned(y);
        let bias: Option<&[f32]> = bias.as_ref().map(|b| b.storage::<f32>());
        rows_mut(y.storage_mut::<f32>(), width, |_, row| {
            if let Some(bias) = bias {
                for (v, b) in row.iter_mut().zip(bias) {
                    *v += b;
                }
            }
            if act == Activation::Gelu {
                for v in row.iter_mut() {
                    *v = super::gelu_erf(*v);
                }
            }
        });
        wrap(y)
    }

    pub(crate) fn add_layer_norm(
        x: Tensor<Flex, 2>,
        residual: Tensor<Flex, 2>,
        gamma: &Tensor<Flex, 1>,
        beta: &Tensor<Flex, 1>,
        eps: f64,
    ) -> Tensor<Flex, 2> {
        if x.dtype() != burn::tensor::DType::F32 {
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
        if qkv.dtype() != burn::tensor::DType::F32 {
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
                        *s = super::exp(*s - max);
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
}

/// `0.5 x (1 + erf(x / √2))` with [`erf`].
#[inline]
pub(crate) fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf(x) by Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7 in exact
/// arithmetic, under 5e-7 in f32) with
/// [`exp`] below: no branches and no library calls, so loops over it vectorise.
#[inline]
pub(crate) fn erf(x: f32) -> f32 {
    // Plain multiply-adds: `mul_add` is a library call without the FMA target
    // feature, which the default x86-64 target lacks.
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let mut poly = 1.061_405_4f32;
    for c in [-1.453_152, 1.421_413_8, -0.284_496_74, 0.254_829_6] {
        poly = poly * t + c;
    }
    (1.0 - poly * t * exp(-a * a)).copysign(x)
}

/// e^x for x ≤ 88 (below −87 it returns about 1e-38 instead of subnormals):
/// x = n ln2 + r with |r| ≤ ln2 / 2, a degree-7 Taylor polynomial for e^r (relative
/// error < 1e-8 before rounding) and 2^n built in the exponent bits.
#[inline]
pub(crate) fn exp(x: f32) -> f32 {
    // Adding and subtracting 1.5 · 2^23 rounds to an integer without `round`
    // (which has no SSE2 instruction and would stop vectorisation).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    // ln 2 split in two so r keeps its low bits.
    let r = (x - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let mut p = 1.0 / 5040.0f32;
    for c in [
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
        1.0,
        1.0,
    ] {
        p = p * r + c;
    }
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64: its Taylor series up to |x| = 3 (terms stay small enough for
    /// f64), beyond that 1 − erfc by erfc's asymptotic series.
    fn erf_reference(x: f64) -> f64 {
        if x.abs() > 3.0 {
            let (a, x2) = (x.abs(), x * x);
            let series = 1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2.powi(3))
                + 105.0 / (16.0 * x2.powi(4));
            let erfc = (-x2).exp() / (a * std::f64::consts::PI.sqrt()) * series;
            return x.signum() * (1.0 - erfc);
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..400 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    #[test]
    fn erf_is_accurate() {
        let mut worst = 0.0f64;
        for i in -6000..=6000 {
            let x = i as f64 / 1000.0;
            let err = (f64::from(erf(x as f32)) - erf_reference(x)).abs();
            worst = worst.max(err);
        }
        assert!(worst < 5e-7, "max |erf error| {worst}");
        assert_eq!(erf(0.0), 0.0);
        assert!((erf(100.0) - 1.0).abs() < 1e-7);
        assert!((erf(-1.0) + erf(1.0)).abs() < 1e-7, "odd");
    }

    #[test]
    fn exp_is_accurate() {
        for i in -8700..=8800 {
            let x = i as f32 / 100.0;
            let (ours, std) = (exp(x), x.exp());
            let rel = ((ours - std) / std).abs();
            assert!(rel < 4e-7, "exp({x}) = {ours}, std {std}");
        }
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(-1000.0) >= 0.0 && exp(-1000.0) < 1e-37);
    }

    #[cfg(not(feature = "ndarray"))]
    mod flex_matches_generic {
        use super::super::*;
        use burn::backend::Flex;

        fn random(rows: usize, cols: usize, seed: u64) -> Tensor<Flex, 2> {
            use rand::{Rng, SeedableRng};
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let data: Vec<f32> = (0..rows * cols)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect();
            Tensor::from_data(TensorData::new(data, [rows, cols]), &Default::default())
        }

        fn assert_close(a: Tensor<Flex, 2>, b: Tensor<Flex, 2>, tol: f32) {
            assert_eq!(a.dims(), b.dims());
            let (a, b) = (
                a.into_data().to_vec::<f32>().unwrap(),
                b.into_data().to_vec::<f32>().unwrap(),
            );
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(worst <= tol, "max difference {worst} > {tol}");
        }

        #[test]
        fn linear_with_bias_and_gelu() {
            for (rows, act) in [
                (1, Activation::Identity),
                (3, Activation::Gelu),
                (300, Activation::Gelu),
            ] {
                let dense = Dense {
                    weight: random(48, 200, 1),
                    bias: Some(random(1, 200, 2).reshape([200])),
                };
                let x = random(rows, 48, 3);
                assert_close(
                    flex::linear(x.clone(), &dense, act),
                    generic::linear(x.clone(), &dense, act),
                    1e-4,
                );
                // A shared input is not written through.
                let before = x.clone().into_data();
                let _ = flex::linear(x.clone(), &dense, act);
                assert_eq!(x.into_data(), before);
            }
        }

        #[test]
        fn add_layer_norm() {
            for rows in [1, 7, 400] {
                let (x, r) = (random(rows, 96, 4), random(rows, 96, 5));
                let (g, b) = (
                    random(1, 96, 6).reshape([96]),
                    random(1, 96, 7).reshape([96]),
                );
                assert_close(
                    flex::add_layer_norm(x.clone(), r.clone(), &g, &b, 1e-12),
                    generic::add_layer_norm(x.clone(), r.clone(), &g, &b, 1e-12),
                    1e-4,
                );
                // Inputs the caller still holds are left as they were.
                let before = r.clone().into_data();
                let _ = flex::add_layer_norm(x.clone(), r.clone(), &g, &b, 1e-12);
                assert_eq!(r.into_data(), before);
            }
        }

        #[test]
        fn packed_attention_matches_padded() {
            // One sequence, several of different lengths, long ones (parallel path).
            for lengths in [vec![5], vec![1, 9, 3, 16, 2], vec![70, 130, 1]] {
                let tokens: usize = lengths.iter().sum();
                let qkv = random(tokens, 3 * 64, 8);
                assert_close(
                    flex::packed_attention(qkv.clone(), &lengths, 4),
                    generic::packed_attention(qkv, &lengths, 4),
                    1e-4,
                );
            }
        }
    }
}

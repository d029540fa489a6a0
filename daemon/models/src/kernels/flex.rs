//! The kernels as single passes over burn-flex buffers (f32; another dtype falls
//! back to the generic composition).

use burn::backend::Flex;
use burn::tensor::{DType, Tensor, TensorData, TensorPrimitive};
use burn_flex::FlexTensor;
use rayon::prelude::*;

use super::quant::QuantWeight;
use super::{Activation, Dense, exp, gelu_erf, generic, silu};

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

mod decoder;
pub(crate) use decoder::{KvCache, decoder_attention};

#[cfg(test)]
mod tests;

//! Products with a GGUF weight in its own quantised blocks (Q4_0, Q4_1, Q8_0):
//! directly for a few rows, and tiles of dequantised outputs for the CPU's
//! prefill products (`flex::dequantising_product`).
//!
//! A decode step multiplies a handful of rows by every weight matrix, so it is
//! bound by reading the weights: 4 bytes per weight as f32, 0.56 for Q4_0, 0.625
//! for Q4_1 and 1.06 for Q8_0. This kernel reads the blocks as the file stores them (one
//! output feature's weights contiguous, in blocks of 32) and unpacks each block
//! once for all rows. The values are exactly the dequantised ones
//! (`d · q + m`); only the order of the additions differs from an f32 product.
//! The loops are compiled for the CPU's best SIMD level through `pulp`.

use rayon::prelude::*;

#[cfg(target_arch = "x86_64")]
mod intdot;

use crate::gguf::TensorType;

/// A weight `[d_in, d_out]` kept as GGUF blocks: `d_out` rows of `d_in / 32`
/// blocks each.
#[derive(Debug, Clone)]
pub(crate) struct QuantWeight {
    kind: TensorType,
    d_in: usize,
    d_out: usize,
    /// Shared: a tied embedding table is also the output projection.
    blocks: std::sync::Arc<[u8]>,
}

/// Weights per block (every type read here).
const BLOCK: usize = 32;

/// The most weights in one block of a type this kernel reads (a K-quant's
/// super-block).
const MAX_BLOCK: usize = 256;

/// Whether `kind` has integer dot products ([`intdot`]): the 32-weight
/// block types.
fn has_integer_kernel(kind: TensorType) -> bool {
    kind.block().0 == BLOCK
}

/// Most rows per product (a decode step's sequences).
pub(crate) const MAX_ROWS: usize = 16;

/// Outputs per parallel task, about.
const OUTPUTS_PER_TASK: usize = 64;

/// Outputs per task for `d_out` outputs: about [`OUTPUTS_PER_TASK`], in a
/// number of tasks that is a multiple of the pool's threads, so no thread
/// waits on another's last task (192 outputs on 2 threads: 4 tasks of 48, not
/// 3 of 64 with one thread idle a third of the time).
fn outputs_per_task(d_out: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let tasks = d_out.div_ceil(OUTPUTS_PER_TASK).next_multiple_of(threads);
    d_out.div_ceil(tasks).max(1)
}

/// Whether products use integer dot products where the CPU has them
/// ([`intdot`]); off, the f32 kernel below (a benchmark's baseline).
#[cfg(target_arch = "x86_64")]
static INTEGER: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var("RSERVE_QUANT_F32").is_err());

impl QuantWeight {
    /// The raw bytes of a GGUF tensor with dims `[d_in, d_out]` (fastest first),
    /// if its type is one this kernel reads (Q4_0, Q4_1, Q8_0, and Q5_0,
    /// Q5_1, Q4_K and Q6_K, which the common K-quant mixes hold).
    pub(crate) fn from_gguf(
        kind: TensorType,
        d_in: usize,
        d_out: usize,
        raw: &[u8],
    ) -> Option<Self> {
        let (per_block, bytes) = kind.block();
        let supported = matches!(
            kind,
            TensorType::Q4_0
                | TensorType::Q4_1
                | TensorType::Q8_0
                | TensorType::Q5_0
                | TensorType::Q5_1
                | TensorType::Q4_K
                | TensorType::Q6_K
        );
        (supported
            && per_block <= MAX_BLOCK
            && d_in.is_multiple_of(per_block)
            && raw.len() == d_out * d_in / per_block * bytes)
            .then(|| Self {
                kind,
                d_in,
                d_out,
                blocks: raw.into(),
            })
    }

    /// Input features.
    pub(crate) fn d_in(&self) -> usize {
        self.d_in
    }

    /// Output features.
    pub(crate) fn d_out(&self) -> usize {
        self.d_out
    }

    /// The block type.
    fn kind(&self) -> TensorType {
        self.kind
    }

    /// The blocks of output `j` (its `d_in` weights).
    fn output(&self, j: usize) -> &[u8] {
        let (per_block, block_bytes) = self.kind.block();
        let bytes = self.d_in / per_block * block_bytes;
        &self.blocks[j * bytes..][..bytes]
    }

    /// The weights of output `j` (a row of the GGUF matrix: an embedding
    /// table's row for token `j`), dequantised into `out` (`d_in` long).
    pub(crate) fn dequantize_output(&self, j: usize, out: &mut [f32]) {
        let (per_block, block_bytes) = self.kind.block();
        for (block, w) in self
            .output(j)
            .chunks_exact(block_bytes)
            .zip(out.chunks_exact_mut(per_block))
        {
            read_block(self.kind, block, w);
        }
    }

    /// The weights of outputs `first..first + count`, dequantised as
    /// `[count, d_in]` (row-major: one row per output), in loops compiled for
    /// the CPU's best SIMD level. The tile is built by appending, not zeroed
    /// first: zeroing the tiles of a 16-row step was ~9 % of it.
    pub(crate) fn dequantize_outputs(&self, first: usize, count: usize) -> Vec<f32> {
        let (per_block, block_bytes) = self.kind.block();
        let bytes = self.d_in / per_block * block_bytes;
        let blocks = &self.blocks[first * bytes..(first + count) * bytes];
        let mut out = Vec::with_capacity(self.d_in * count);
        pulp::Arch::new().dispatch(Dequantize {
            kind: self.kind,
            blocks,
            out: &mut out,
        });
        out
    }

    /// `x · W` for `x` `[rows, d_in]` (row-major, at most [`MAX_ROWS`] rows);
    /// returns `[rows, d_out]`.
    pub(crate) fn matmul(&self, x: &[f32], rows: usize) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.d_in, "input shape");
        assert!((1..=MAX_ROWS).contains(&rows), "1 to {MAX_ROWS} rows");
        // Output-major scratch `[d_out, rows]`: each task owns whole outputs.
        let mut scratch = vec![0f32; self.d_out * rows];
        let per_task = outputs_per_task(self.d_out);
        let arch = pulp::Arch::new();
        // With AVX2 and a few rows: integer dot products on `x` quantised to
        // 16 bits.
        #[cfg(target_arch = "x86_64")]
        let integer = (*INTEGER && rows <= intdot::GROUP && has_integer_kernel(self.kind))
            .then(pulp::x86::V3::try_new)
            .flatten()
            .map(|simd| (simd, intdot::Rows::new(simd, x, self.d_in)));
        let task = |(t, out): (usize, &mut [f32])| {
            let first = t * per_task;
            #[cfg(target_arch = "x86_64")]
            if let Some((simd, x)) = &integer {
                return intdot::Outputs {
                    simd: *simd,
                    weight: self,
                    x,
                    rows,
                    first,
                    out,
                }
                .run();
            }
            arch.dispatch(Outputs {
                weight: self,
                x,
                rows,
                first,
                out,
            })
        };
        if self.d_out > OUTPUTS_PER_TASK {
            scratch
                .par_chunks_mut(per_task * rows)
                .enumerate()
                .for_each(task);
        } else {
            scratch
                .chunks_mut(per_task * rows)
                .enumerate()
                .for_each(task);
        }
        // Back to row-major `[rows, d_out]`.
        let mut out = vec![0f32; rows * self.d_out];
        for (j, column) in scratch.chunks_exact(rows).enumerate() {
            for (i, v) in column.iter().enumerate() {
                out[i * self.d_out + j] = *v;
            }
        }
        out
    }
}

/// One task's outputs `first..` (output-major, `rows` values each). A
/// `pulp::WithSimd` so that its loops are compiled inside pulp's dispatch for
/// the CPU's best SIMD level (AVX2/AVX-512), where they vectorise; all safe.
struct Outputs<'a> {
    weight: &'a QuantWeight,
    x: &'a [f32],
    rows: usize,
    first: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Outputs<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let Self {
            weight,
            x,
            rows,
            first,
            out,
        } = self;
        // One loop per type, so the type is not tested per block.
        match weight.kind {
            TensorType::Q4_0 => accumulate(TensorType::Q4_0, weight, x, rows, first, out),
            TensorType::Q4_1 => accumulate(TensorType::Q4_1, weight, x, rows, first, out),
            TensorType::Q8_0 => accumulate(TensorType::Q8_0, weight, x, rows, first, out),
            TensorType::Q5_0 => accumulate(TensorType::Q5_0, weight, x, rows, first, out),
            TensorType::Q5_1 => accumulate(TensorType::Q5_1, weight, x, rows, first, out),
            TensorType::Q4_K => accumulate(TensorType::Q4_K, weight, x, rows, first, out),
            _ => accumulate(TensorType::Q6_K, weight, x, rows, first, out),
        }
    }
}

/// [`Outputs`] for blocks of `kind`: each output's blocks once, each block
/// against every row of `x`.
#[inline(always)]
fn accumulate(
    kind: TensorType,
    weight: &QuantWeight,
    x: &[f32],
    rows: usize,
    first: usize,
    out: &mut [f32],
) {
    let (per_block, block_bytes) = kind.block();
    let blocks_per_row = weight.d_in / per_block;
    let mut buffer = [0f32; MAX_BLOCK];
    let w = &mut buffer[..per_block];
    let mut acc = [[0f32; 8]; MAX_ROWS];
    for (n, out) in out.chunks_exact_mut(rows).enumerate() {
        let j = first + n;
        let row_bytes =
            &weight.blocks[j * blocks_per_row * block_bytes..][..blocks_per_row * block_bytes];
        acc[..rows].iter_mut().for_each(|a| *a = [0.0; 8]);
        for (b, block) in row_bytes.chunks_exact(block_bytes).enumerate() {
            read_block(kind, block, w);
            for (i, a) in acc[..rows].iter_mut().enumerate() {
                let xs = &x[i * weight.d_in + b * per_block..][..per_block];
                for (ws, xs) in w.chunks_exact(8).zip(xs.chunks_exact(8)) {
                    for l in 0..8 {
                        a[l] += ws[l] * xs[l];
                    }
                }
            }
        }
        for (o, a) in out.iter_mut().zip(&acc[..rows]) {
            *o = a.iter().sum();
        }
    }
}

/// Dequantises whole blocks onto the end of `out`, compiled for the CPU's
/// SIMD level.
struct Dequantize<'a> {
    kind: TensorType,
    blocks: &'a [u8],
    out: &'a mut Vec<f32>,
}

impl pulp::WithSimd for Dequantize<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        // One loop per type, so the type is not tested per block.
        let Self { kind, blocks, out } = self;
        let blocks = blocks.chunks_exact(kind.block().1);
        // `black_box` keeps the compiler from vectorising across blocks (it
        // did, with scatter stores: 1.6× slower than a block at a time).
        match kind {
            TensorType::Q4_0 => append_blocks(TensorType::Q4_0, blocks, out),
            TensorType::Q4_1 => append_blocks(TensorType::Q4_1, blocks, out),
            TensorType::Q8_0 => append_blocks(TensorType::Q8_0, blocks, out),
            TensorType::Q5_0 => append_blocks(TensorType::Q5_0, blocks, out),
            TensorType::Q5_1 => append_blocks(TensorType::Q5_1, blocks, out),
            TensorType::Q4_K => append_blocks(TensorType::Q4_K, blocks, out),
            _ => append_blocks(TensorType::Q6_K, blocks, out),
        }
    }
}

/// Appends each block's weights to `out`. A function, not a closure: as a
/// closure the compiler did not inline into pulp's dispatch, the loop ran
/// without its SIMD level and the tiles took 20 % longer than when zeroed
/// first.
#[inline(always)]
fn append_blocks<'a>(kind: TensorType, blocks: impl Iterator<Item = &'a [u8]>, out: &mut Vec<f32>) {
    let mut buffer = [0f32; MAX_BLOCK];
    let w = &mut buffer[..kind.block().0];
    for block in blocks {
        read_block(kind, std::hint::black_box(block), w);
        out.extend_from_slice(w);
    }
}

/// `gguf::f16_to_f32` without branches (the same value for every input): the
/// f16's exponent and fraction moved into an f32's and rebiased by a multiply
/// (exact, subnormals included); infinities and NaNs selected apart.
#[inline(always)]
pub(crate) fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let rest = u32::from(h & 0x7fff);
    let finite = f32::from_bits(rest << 13) * f32::from_bits((127 + 112) << 23);
    let special = f32::from_bits(0x7f80_0000 | ((rest & 0x3ff) << 13));
    let magnitude = if rest >= 0x7c00 { special } else { finite };
    f32::from_bits(magnitude.to_bits() | sign)
}

/// One block of `kind` into its weights (`w`, `kind.block().0` long),
/// exactly as `gguf::dequantize` computes them.
#[inline(always)]
fn read_block(kind: TensorType, block: &[u8], w: &mut [f32]) {
    match kind {
        TensorType::Q4_K | TensorType::Q6_K => dequantize_super_block(kind, block, w),
        _ => dequantize_block(kind, block, w),
    }
}

/// One block's 32 weights (Q4_0, Q4_1, Q8_0, Q5_0, Q5_1). The block's bytes
/// are copied in and the weights built in a local array before one store, so
/// the compiler need not fear that `w` aliases `block`: the loops then
/// vectorise.
#[inline(always)]
fn dequantize_block(kind: TensorType, block: &[u8], w: &mut [f32]) {
    let w: &mut [f32; BLOCK] = w.try_into().expect("a block of weights");
    let d = f16_bits_to_f32(u16::from_le_bytes([block[0], block[1]]));
    let mut out = [0f32; BLOCK];
    match kind {
        TensorType::Q4_1 | TensorType::Q4_0 => {
            let (q, m, offset): ([u8; 16], f32, f32) = if kind == TensorType::Q4_1 {
                let m = f16_bits_to_f32(u16::from_le_bytes([block[2], block[3]]));
                (block[4..20].try_into().expect("a Q4_1 block"), m, 0.0)
            } else {
                (block[2..18].try_into().expect("a Q4_0 block"), 0.0, 8.0)
            };
            // Low nibbles are weights 0..16, high nibbles 16..32: two straight
            // runs (one interleaved loop compiles to scatters).
            let (low, high) = out.split_at_mut(16);
            for (v, q) in low.iter_mut().zip(q) {
                *v = d * (f32::from(q & 0x0f) - offset) + m;
            }
            for (v, q) in high.iter_mut().zip(q) {
                *v = d * (f32::from(q >> 4) - offset) + m;
            }
        }
        TensorType::Q5_0 | TensorType::Q5_1 => {
            let (m, offset, rest) = if kind == TensorType::Q5_1 {
                let m = f16_bits_to_f32(u16::from_le_bytes([block[2], block[3]]));
                (m, 0.0, &block[4..24])
            } else {
                (0.0, 16.0, &block[2..22])
            };
            let high = u32::from_le_bytes(rest[..4].try_into().expect("a Q5 block"));
            let q: [u8; 16] = rest[4..20].try_into().expect("a Q5 block");
            // As Q4 (low nibbles first), the fifth bit of weight i bit i of
            // `high`.
            let (low, top) = out.split_at_mut(16);
            for (i, (v, q)) in low.iter_mut().zip(q).enumerate() {
                let fifth = ((high >> i) & 1) as u8;
                *v = d * (f32::from((q & 0x0f) | (fifth << 4)) - offset) + m;
            }
            for (i, (v, q)) in top.iter_mut().zip(q).enumerate() {
                let fifth = ((high >> (i + 16)) & 1) as u8;
                *v = d * (f32::from((q >> 4) | (fifth << 4)) - offset) + m;
            }
        }
        _ => {
            let q: [u8; 32] = block[2..34].try_into().expect("a Q8_0 block");
            for i in 0..32 {
                out[i] = d * f32::from(q[i] as i8);
            }
        }
    }
    *w = out;
}

/// One K-quant super-block's 256 weights (Q4_K, Q6_K; layouts as in
/// `gguf::dequantize`), built in a local array as [`dequantize_block`] does.
#[inline(always)]
fn dequantize_super_block(kind: TensorType, block: &[u8], w: &mut [f32]) {
    let w: &mut [f32; MAX_BLOCK] = w.try_into().expect("a super-block of weights");
    let mut out = [0f32; MAX_BLOCK];
    if kind == TensorType::Q4_K {
        let block: &[u8; 144] = block.try_into().expect("a Q4_K block");
        let d = f16_bits_to_f32(u16::from_le_bytes([block[0], block[1]]));
        let dmin = f16_bits_to_f32(u16::from_le_bytes([block[2], block[3]]));
        let sc = &block[4..16];
        // Scale and min of each run of 32: the first four in the low 6 bits
        // of bytes 0..4 and 4..8, the last four split between bytes 8..12
        // and the top 2 bits of bytes 0..8.
        let (mut scales, mut mins) = ([0f32; 8], [0f32; 8]);
        for j in 0..8 {
            let (s, m) = if j < 4 {
                (sc[j] & 63, sc[j + 4] & 63)
            } else {
                (
                    (sc[j + 4] & 0x0f) | ((sc[j - 4] >> 6) << 4),
                    (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4),
                )
            };
            scales[j] = d * f32::from(s);
            mins[j] = dmin * f32::from(m);
        }
        for (run, y) in out.chunks_exact_mut(64).enumerate() {
            let q: &[u8; 32] = block[16 + run * 32..][..32].try_into().expect("32 bytes");
            let (d1, m1, d2, m2) = (
                scales[2 * run],
                mins[2 * run],
                scales[2 * run + 1],
                mins[2 * run + 1],
            );
            let (low, high) = y.split_at_mut(32);
            for (v, q) in low.iter_mut().zip(q) {
                *v = d1 * f32::from(q & 0x0f) - m1;
            }
            for (v, q) in high.iter_mut().zip(q) {
                *v = d2 * f32::from(q >> 4) - m2;
            }
        }
    } else {
        let block: &[u8; 210] = block.try_into().expect("a Q6_K block");
        let d = f16_bits_to_f32(u16::from_le_bytes([block[208], block[209]]));
        for (half, y) in out.chunks_exact_mut(128).enumerate() {
            let ql = &block[half * 64..][..64];
            let qh = &block[128 + half * 32..][..32];
            let sc = &block[192 + half * 8..][..8];
            // Weights l, l + 32, l + 64, l + 96 of the half: low or high
            // nibbles of ql[l] and ql[l + 32], the next two bits of qh[l];
            // the scale changes every 16 l.
            for part in 0..2 {
                let scale = |k: usize| d * f32::from(sc[part + k] as i8);
                let (s0, s2, s4, s6) = (scale(0), scale(2), scale(4), scale(6));
                for l in part * 16..part * 16 + 16 {
                    let h = qh[l];
                    let q = |low: u8, bits: u8| f32::from((low | ((bits & 3) << 4)) as i8 - 32);
                    y[l] = s0 * q(ql[l] & 0x0f, h);
                    y[l + 32] = s2 * q(ql[l + 32] & 0x0f, h >> 2);
                    y[l + 64] = s4 * q(ql[l] >> 4, h >> 4);
                    y[l + 96] = s6 * q(ql[l + 32] >> 4, h >> 6);
                }
            }
        }
    }
    *w = out;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{dequantize, f16_to_f32};

    /// Random blocks of `kind` with plausible scales (f16 bits of small numbers).
    fn blocks(kind: TensorType, count: usize, seed: u64) -> Vec<u8> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let bytes = kind.block().1;
        let mut out = Vec::with_capacity(count * bytes);
        for _ in 0..count {
            let mut block: Vec<u8> = (0..bytes).map(|_| rng.random()).collect();
            // d ≈ 0.01..0.02 and m ≈ -0.1 (f16 0x2100.., 0xae66); a
            // K-quant's super-block scale smaller (its sub-blocks scale it
            // by up to 63 or 127).
            let d = 0x2100u16 + rng.random_range(0..0x100);
            match kind {
                TensorType::Q6_K => block[208..210].copy_from_slice(&(d - 0x1000).to_le_bytes()),
                TensorType::Q4_K => {
                    block[0..2].copy_from_slice(&(d - 0x1000).to_le_bytes());
                    block[2..4].copy_from_slice(&(d - 0x1000).to_le_bytes());
                }
                _ => block[0..2].copy_from_slice(&d.to_le_bytes()),
            }
            if matches!(kind, TensorType::Q4_1 | TensorType::Q5_1) {
                block[2..4].copy_from_slice(&0xae66u16.to_le_bytes());
            }
            out.extend(block);
        }
        out
    }

    /// Every type the kernel reads.
    const KINDS: [TensorType; 7] = [
        TensorType::Q4_0,
        TensorType::Q4_1,
        TensorType::Q8_0,
        TensorType::Q5_0,
        TensorType::Q5_1,
        TensorType::Q4_K,
        TensorType::Q6_K,
    ];

    #[test]
    fn matches_the_dequantised_product() {
        for kind in KINDS {
            // 1–4 rows take the integer kernel where the CPU has AVX2 (for
            // Q4_0, Q4_1, Q8_0), 5 the f32 one.
            let per_block = kind.block().0;
            for (blocks_in, d_out, rows) in
                [(2, 3, 1), (3, 200, 2), (5, 9, 3), (2, 70, 4), (1, 130, 5)]
            {
                let d_in = blocks_in * per_block;
                let raw = blocks(kind, d_out * blocks_in, d_in as u64);
                let w = QuantWeight::from_gguf(kind, d_in, d_out, &raw).unwrap();
                // Dequantised: d_out rows of d_in weights.
                let dense = dequantize(kind, &raw);
                let x: Vec<f32> = (0..rows * d_in)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
                    .collect();
                let got = w.matmul(&x, rows);
                for i in 0..rows {
                    for j in 0..d_out {
                        let (xs, ws) = (&x[i * d_in..][..d_in], &dense[j * d_in..][..d_in]);
                        let want: f32 = xs.iter().zip(ws).map(|(x, w)| x * w).sum();
                        // The integer kernel rounds x to 1/65534 of its
                        // block's largest value: at most half a step each.
                        let rounding: f32 = xs
                            .chunks(BLOCK)
                            .zip(ws.chunks(BLOCK))
                            .map(|(xs, ws)| {
                                let amax = xs.iter().fold(0f32, |m, v| m.max(v.abs()));
                                amax / 65534.0 * ws.iter().map(|w| w.abs()).sum::<f32>()
                            })
                            .sum();
                        let g = got[i * d_out + j];
                        assert!(
                            (g - want).abs() <= rounding + 1e-5 * (1.0 + want.abs()),
                            "{kind:?} [{i},{j}]: {g} vs {want} (rounding {rounding})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn rows_and_column_tiles_are_the_dequantised_values() {
        for kind in KINDS {
            let (d_in, d_out) = (2 * kind.block().0, 5);
            let raw = blocks(kind, d_out * 2, 3);
            let w = QuantWeight::from_gguf(kind, d_in, d_out, &raw).unwrap();
            let dense = dequantize(kind, &raw);
            let mut row = vec![0f32; d_in];
            w.dequantize_output(3, &mut row);
            assert_eq!(row, dense[3 * d_in..4 * d_in]);
            assert_eq!(w.dequantize_outputs(1, 2), dense[d_in..3 * d_in]);
        }
    }

    #[test]
    fn branch_free_f16_is_the_reference_conversion() {
        for h in 0..=u16::MAX {
            let (want, got) = (f16_to_f32(h), f16_bits_to_f32(h));
            assert!(
                want.to_bits() == got.to_bits() || (want.is_nan() && got.is_nan()),
                "{h:#06x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn only_block_types_with_whole_blocks_are_taken() {
        assert!(QuantWeight::from_gguf(TensorType::F32, 32, 1, &[0; 128]).is_none());
        assert!(
            QuantWeight::from_gguf(TensorType::Q4_1, 32, 2, &[0; 20]).is_none(),
            "short"
        );
        assert!(
            QuantWeight::from_gguf(TensorType::Q4_1, 48, 1, &[0; 40]).is_none(),
            "partial block"
        );
        assert!(QuantWeight::from_gguf(TensorType::Q4_1, 32, 2, &[0; 40]).is_some());
        assert!(
            QuantWeight::from_gguf(TensorType::Q4_K, 128, 1, &[0; 72]).is_none(),
            "half a super-block"
        );
        assert!(QuantWeight::from_gguf(TensorType::Q6_K, 256, 2, &[0; 420]).is_some());
    }
}

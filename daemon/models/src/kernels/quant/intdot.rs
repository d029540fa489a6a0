//! Integer dot products for the blocks kernel ([`super`]) on x86-64
//! with AVX2.
//!
//! Each row of `x` is first quantised to 16 bits per block of 32 (a scale,
//! `max |x| / 32767`, and 32 signed 16-bit values). A block of 4-bit weights,
//! widened to 16 bits, then meets a block of the row in `vpmaddwd` (16 products
//! added in pairs into 32 bits: 32 multiply-adds in two instructions, where the
//! f32 path converts and multiplies in eight), and the block's integer sum is
//! scaled by the weight's and the row's scales in f32. Q8_0's signed bytes
//! widen the same way, and Q5's nibbles with their fifth bits set in. Nothing overflows: a pair is at most 2 · 127 · 32767.
//!
//! Why 16 bits and not llama.cpp's 8 (`vpmaddubsw`, half the instructions per
//! row): 8-bit rows move the chat model's logits by ~0.1 and change greedy
//! continuations against transformers; 16-bit rows round `x` to 1/65534 of
//! its block's largest value, and the outputs stay those of the f32 product
//! (the reference tests pass token for token).
//!
//! The weights' offsets (Q4_1's and Q5_1's `m`, Q4_0's `-8`, Q5_0's `-16`)
//! multiply the block's exact f32 sum of `x`.
//!
//! Everything here is safe: `pulp`'s `V3` token proves AVX2 and FMA are
//! there, and its `vectorize` compiles the loops with them. Every helper on
//! that path is an `#[inline(always)]` function, not a closure: a closure
//! the compiler chose not to inline is compiled without AVX2 and calls each
//! intrinsic as a function (10× slower, seen twice while writing this).

use std::arch::x86_64::{__m128i, __m256, __m256i};

use pulp::bytemuck;
use pulp::x86::V3;

use super::{BLOCK, QuantWeight, f16_bits_to_f32};
use crate::gguf::TensorType;

/// Rows of `x` quantised per block of 32.
pub(crate) struct Rows {
    /// 32 signed 16-bit values per block, row after row.
    q: Vec<[i16; BLOCK]>,
    /// Each block's scale (`max |x| / 32767`).
    scale: Vec<f32>,
    /// Each block's exact sum of `x` (for the weights' offsets).
    sum: Vec<f32>,
    /// Blocks per row.
    blocks: usize,
}

impl Rows {
    /// `x` `[rows, d_in]` (`d_in` a multiple of 32), quantised in a function
    /// compiled with AVX2 (where the rounding is one instruction, not a call).
    pub(crate) fn new(simd: V3, x: &[f32], d_in: usize) -> Self {
        struct Quantize<'a>(&'a [f32], usize);
        impl pulp::NullaryFnOnce for Quantize<'_> {
            type Output = Rows;
            #[inline(always)]
            fn call(self) -> Rows {
                let Self(x, d_in) = self;
                let count = x.len() / BLOCK;
                let mut rows = Rows {
                    q: vec![[0; BLOCK]; count],
                    scale: vec![0.0; count],
                    sum: vec![0.0; count],
                    blocks: d_in / BLOCK,
                };
                for (i, block) in x.chunks_exact(BLOCK).enumerate() {
                    let (q, scale) = quantize_block(block.try_into().expect("a block"));
                    rows.q[i] = q;
                    rows.scale[i] = scale;
                    rows.sum[i] = block.iter().sum();
                }
                rows
            }
        }
        simd.vectorize(Quantize(x, d_in))
    }
}

/// Largest magnitude of a quantised value.
const STEPS: f32 = 32767.0;

/// One block of `x` as 32 signed 16-bit values and the scale that brings
/// them back.
#[inline(always)]
fn quantize_block(x: &[f32; BLOCK]) -> ([i16; BLOCK], f32) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let inv = if amax > 0.0 { STEPS / amax } else { 0.0 };
    let mut q = [0i16; BLOCK];
    for (q, v) in q.iter_mut().zip(x) {
        // |v · inv| ≤ 32767 (NaN becomes 0).
        *q = (v * inv).round_ties_even() as i16;
    }
    (q, amax / STEPS)
}

/// The block types, as const parameters (one compiled loop per type).
const Q4_0: u8 = 0;
const Q4_1: u8 = 1;
const Q8_0: u8 = 2;
const Q5_0: u8 = 3;
const Q5_1: u8 = 4;

/// One block's 32 weights widened to 16 bits: weights 0..16 and 16..32.
type Widened = [__m256i; 2];

/// Per-output scratch: each block's scale and offset coefficient (`m`,
/// `-8 · d`, `-16 · d` or 0), and a group's products of the two scales.
struct Scratch {
    bits: Vec<u16>,
    d: Vec<f32>,
    offset: Vec<f32>,
    scales: Vec<f32>,
}

impl Scratch {
    fn new(blocks: usize) -> Self {
        Self {
            bits: vec![0; blocks],
            d: vec![0.0; blocks],
            offset: vec![0.0; blocks],
            scales: vec![0.0; GROUP * blocks],
        }
    }

    /// The f16 scales (and Q4_1's offsets) of one output's blocks, read
    /// first and converted together (a loop that vectorises, where one per
    /// block would not).
    #[inline(always)]
    fn read_scales<const K: u8>(&mut self, bytes: &[u8], block_bytes: usize) {
        f16_bits_at(&mut self.bits, bytes, block_bytes, 0);
        for (d, bits) in self.d.iter_mut().zip(&self.bits) {
            *d = f16_bits_to_f32(*bits);
        }
        match K {
            Q4_1 | Q5_1 => {
                f16_bits_at(&mut self.bits, bytes, block_bytes, 2);
                for (o, bits) in self.offset.iter_mut().zip(&self.bits) {
                    *o = f16_bits_to_f32(*bits);
                }
            }
            Q4_0 | Q5_0 => {
                let centre = if K == Q4_0 { -8.0 } else { -16.0 };
                for (o, d) in self.offset.iter_mut().zip(&self.d) {
                    *o = centre * d;
                }
            }
            _ => self.offset.fill(0.0),
        }
    }
}

/// The f16 at byte `at` of each block.
#[inline(always)]
fn f16_bits_at(bits: &mut [u16], bytes: &[u8], block_bytes: usize, at: usize) {
    for (bits, block) in bits.iter_mut().zip(bytes.chunks_exact(block_bytes)) {
        *bits = u16::from_le_bytes([block[at], block[at + 1]]);
    }
}

/// One block's weights widened to 16 bits: Q4's nibbles (the low ones are
/// weights 0..16, the high ones 16..32), Q5's with their fifth bits, or
/// Q8_0's signed bytes.
#[inline(always)]
fn unpack<const K: u8>(simd: V3, block: &[u8]) -> Widened {
    match K {
        Q5_0 | Q5_1 => {
            let start = if K == Q5_1 { 4 } else { 2 };
            let high = u32::from_le_bytes(block[start..start + 4].try_into().expect("a Q5 block"));
            let packed: [u8; 16] = block[start + 4..start + 20]
                .try_into()
                .expect("16 bytes of nibbles");
            let [lo, hi] = nibbles(simd, packed);
            [
                simd.avx2._mm256_or_si256(lo, fifth_bits(simd, high as u16)),
                simd.avx2
                    ._mm256_or_si256(hi, fifth_bits(simd, (high >> 16) as u16)),
            ]
        }
        Q8_0 => {
            let q: [[u8; 16]; 2] =
                bytemuck::cast::<[u8; 32], _>(block[2..34].try_into().expect("a Q8_0 block"));
            q.map(|half| simd.avx2._mm256_cvtepi8_epi16(bytemuck::cast(half)))
        }
        _ => {
            let start = if K == Q4_1 { 4 } else { 2 };
            let packed: [u8; 16] = block[start..start + 16]
                .try_into()
                .expect("16 bytes of nibbles");
            nibbles(simd, packed)
        }
    }
}

/// 16 bytes' low nibbles (weights 0..16) and high nibbles (16..32), each
/// widened to 16 bits.
#[inline(always)]
fn nibbles(simd: V3, packed: [u8; 16]) -> Widened {
    let packed: __m128i = bytemuck::cast(packed);
    let low = simd.sse2._mm_set1_epi8(0x0f);
    let lo = simd.sse2._mm_and_si128(packed, low);
    let hi = simd
        .sse2
        ._mm_and_si128(simd.sse2._mm_srli_epi16::<4>(packed), low);
    [
        simd.avx2._mm256_cvtepu8_epi16(lo),
        simd.avx2._mm256_cvtepu8_epi16(hi),
    ]
}

/// 16 lanes of 16 bits, lane `i` 16 where bit `i` of `bits` is set, else 0
/// (Q5's fifth bits).
#[inline(always)]
fn fifth_bits(simd: V3, bits: u16) -> __m256i {
    let lane_bit: [u16; 16] = std::array::from_fn(|i| 1 << i);
    let lane_bit: __m256i = bytemuck::cast(lane_bit);
    let all = simd.avx._mm256_set1_epi16(bits as i16);
    let set = simd
        .avx2
        ._mm256_cmpeq_epi16(simd.avx2._mm256_and_si256(all, lane_bit), lane_bit);
    simd.avx2
        ._mm256_and_si256(set, simd.avx._mm256_set1_epi16(16))
}

/// Outputs `first..` of `weight` for the quantised rows (output-major:
/// `rows` values per output), as [`super`]'s f32 tasks lay them out.
pub(crate) struct Outputs<'a> {
    /// The token that proves AVX2 and FMA.
    pub simd: V3,
    pub weight: &'a QuantWeight,
    pub x: &'a Rows,
    pub rows: usize,
    pub first: usize,
    pub out: &'a mut [f32],
}

impl Outputs<'_> {
    /// Runs in a function compiled with AVX2 and FMA.
    pub(crate) fn run(self) {
        self.simd.vectorize(self);
    }
}

impl pulp::NullaryFnOnce for Outputs<'_> {
    type Output = ();

    // Inlined into `vectorize`'s function, so the intrinsics inline too.
    #[inline(always)]
    fn call(self) {
        match self.weight.kind() {
            TensorType::Q4_0 => outputs::<Q4_0>(self),
            TensorType::Q4_1 => outputs::<Q4_1>(self),
            TensorType::Q5_0 => outputs::<Q5_0>(self),
            TensorType::Q5_1 => outputs::<Q5_1>(self),
            _ => outputs::<Q8_0>(self),
        }
    }
}

#[inline(always)]
fn outputs<const K: u8>(job: Outputs<'_>) {
    let Outputs {
        simd,
        weight,
        x,
        rows,
        first,
        out,
    } = job;
    let block_bytes = weight.kind().block().1;
    let mut scratch = Scratch::new(x.blocks);
    for (n, out) in out.chunks_exact_mut(rows).enumerate() {
        let bytes = weight.output(first + n);
        scratch.read_scales::<K>(bytes, block_bytes);
        // Groups of rows, each block unpacked as the group uses it (from
        // L1: cheaper than a buffer of unpacked blocks read back).
        for r in (0..rows).step_by(GROUP) {
            let count = (rows - r).min(GROUP);
            let blocks = bytes.chunks_exact(block_bytes);
            group::<K>(simd, count, &mut scratch, x, r, blocks, &mut out[r..]);
        }
    }
}

/// Rows that share each unpacked block. More rows than this are better
/// served by the f32 kernel on this design (measured: at 8 rows they are
/// even, at 16 the f32 one is 1.2× faster), so [`super`] sends at most
/// this many here.
pub(crate) const GROUP: usize = 4;

/// Rows `r0..r0 + count` (at most [`GROUP`]) against one output's blocks.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn group<'b, const K: u8>(
    simd: V3,
    count: usize,
    scratch: &mut Scratch,
    x: &Rows,
    r0: usize,
    blocks: impl Iterator<Item = &'b [u8]>,
    out: &mut [f32],
) {
    match count {
        1 => rows::<1, K>(simd, scratch, x, r0, blocks, out),
        2 => rows::<2, K>(simd, scratch, x, r0, blocks, out),
        3 => rows::<3, K>(simd, scratch, x, r0, blocks, out),
        _ => rows::<4, K>(simd, scratch, x, r0, blocks, out),
    }
}

#[inline(always)]
fn rows<'b, const R: usize, const K: u8>(
    simd: V3,
    scratch: &mut Scratch,
    x: &Rows,
    r0: usize,
    blocks: impl Iterator<Item = &'b [u8]>,
    out: &mut [f32],
) {
    let n = x.blocks;
    let row = |r: usize| (r0 + r) * n..(r0 + r + 1) * n;
    let qs: [&[[i16; BLOCK]]; R] = std::array::from_fn(|r| &x.q[row(r)]);
    // Each block's two scales multiplied, per row, in a loop that vectorises.
    for (r, scales) in scratch.scales.chunks_exact_mut(n).take(R).enumerate() {
        for ((s, d), xs) in scales.iter_mut().zip(&scratch.d).zip(&x.scale[row(r)]) {
            *s = d * xs;
        }
    }
    let scales = &scratch.scales;
    // Two accumulators per row, for even and odd blocks: a chain of FMAs
    // into one register would wait on each one's latency.
    let zero = simd.avx._mm256_setzero_ps();
    let (mut even, mut odd) = ([zero; R], [zero; R]);
    let mut blocks = blocks.enumerate();
    while let Some((b, block)) = blocks.next() {
        let w = unpack::<K>(simd, block);
        step::<R>(simd, &mut even, w, &qs, b, &scales[b..]);
        if let Some((b, block)) = blocks.next() {
            let w = unpack::<K>(simd, block);
            step::<R>(simd, &mut odd, w, &qs, b, &scales[b..]);
        }
    }
    for r in 0..R {
        let lanes: [f32; 8] = bytemuck::cast(simd.avx._mm256_add_ps(even[r], odd[r]));
        out[r] = lanes.iter().sum::<f32>() + dot(&scratch.offset, &x.sum[row(r)]);
    }
}

/// One block's weights `w` against `R` rows' block `b`, into `acc`
/// (`scales[r * blocks]`: row `r`'s product of the two scales).
#[inline(always)]
fn step<const R: usize>(
    simd: V3,
    acc: &mut [__m256; R],
    w: Widened,
    qs: &[&[[i16; BLOCK]]; R],
    b: usize,
    scales: &[f32],
) {
    let blocks = qs[0].len();
    for r in 0..R {
        let [lo, hi]: [__m256i; 2] = bytemuck::cast(qs[r][b]);
        let sums = simd.avx2._mm256_add_epi32(
            simd.avx2._mm256_madd_epi16(w[0], lo),
            simd.avx2._mm256_madd_epi16(w[1], hi),
        );
        let sums = simd.avx._mm256_cvtepi32_ps(sums);
        let scale = simd.avx._mm256_set1_ps(scales[r * blocks]);
        acc[r] = simd.fma._mm256_fmadd_ps(sums, scale, acc[r]);
    }
}

/// `Σ a · b` over eight lanes (a loop that vectorises, not one serial chain).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    for (a, b) in a8.iter().zip(b8) {
        for l in 0..8 {
            lanes[l] += a[l] * b[l];
        }
    }
    let tail: f32 = a_rest.iter().zip(b_rest).map(|(a, b)| a * b).sum();
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantised_blocks_round_to_the_nearest_step() {
        let x: [f32; BLOCK] = std::array::from_fn(|i| (i as f32 - 13.0) * 0.37);
        let (q, scale) = quantize_block(&x);
        assert_eq!(scale, 18.0 * 0.37 / STEPS);
        assert_eq!(q[31], 32767, "the largest magnitude is ±32767");
        for (q, v) in q.iter().zip(&x) {
            assert!((f32::from(*q) * scale - v).abs() <= scale / 2.0 + 1e-6);
        }
        let (q, scale) = quantize_block(&[0.0; BLOCK]);
        assert_eq!((q, scale), ([0; BLOCK], 0.0));
    }
}

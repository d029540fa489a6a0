//! Tests of `flex`.

use super::*;
use burn::tensor::FloatDType;

use crate::kernels::{Heads, Kernels, Rope, Span};

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
        let weight = random(48, 200, 1).into_data().to_vec::<f32>().unwrap();
        let bias = Some(random(1, 200, 2).reshape([200]));
        let device = Default::default();
        let whole = Dense::<Flex>::with_panels(&weight, 48, 200, 1, bias.clone(), &device);
        let dense = Dense::<Flex>::with_panels(&weight, 48, 200, 3, bias, &device);
        assert_eq!(dense.panels.len(), 3);
        let x = random(rows, 48, 3);
        for split in [&whole, &dense] {
            assert_close(
                linear(x.clone(), split, act),
                generic::linear(x.clone(), &whole, act),
                1e-4,
            );
        }
        // A shared input is not written through.
        let before = x.clone().into_data();
        let _ = linear(x.clone(), &dense, act);
        assert_eq!(x.into_data(), before);
    }
}

#[test]
fn add_layer_norm_matches() {
    for rows in [1, 7, 400] {
        let (x, r) = (random(rows, 96, 4), random(rows, 96, 5));
        let (g, b) = (
            random(1, 96, 6).reshape([96]),
            random(1, 96, 7).reshape([96]),
        );
        assert_close(
            add_layer_norm(x.clone(), r.clone(), &g, &b, 1e-12),
            generic::add_layer_norm(x.clone(), r.clone(), &g, &b, 1e-12),
            1e-4,
        );
        // Inputs the caller still holds are left as they were.
        let before = r.clone().into_data();
        let _ = add_layer_norm(x.clone(), r.clone(), &g, &b, 1e-12);
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
            packed_attention(qkv.clone(), &lengths, 4),
            generic::packed_attention(qkv, &lengths, 4),
            1e-4,
        );
    }
}

#[test]
fn rms_norm_and_swiglu() {
    for rows in [1, 5, 300] {
        let (x, w) = (random(rows, 96, 9), random(1, 96, 10).reshape([96]));
        assert_close(
            rms_norm(&x, &w, 1e-5),
            generic::rms_norm(&x, &w, 1e-5),
            1e-4,
        );
        // A view that starts inside its buffer (rows 1.. of a larger tensor).
        let view = random(rows + 1, 96, 13).narrow(0, 1, rows);
        assert_close(
            rms_norm(&view, &w, 1e-5),
            generic::rms_norm(&view, &w, 1e-5),
            1e-4,
        );
        let (g, u) = (random(rows, 96, 11), random(rows, 96, 12));
        assert_close(
            swiglu(g.clone(), u.clone()),
            generic::swiglu(g.clone(), u),
            1e-5,
        );
    }
}

/// Three sequences over three steps (a prompt, a chunk, single tokens),
/// through both caches: every step's context must agree, with our cache in
/// f32 and in f16 (keys and values rounded to 11 significant bits).
#[test]
fn decoder_attention_matches_generic_across_steps() {
    decoder_attention_across_steps(FloatDType::F32, 1e-4);
    decoder_attention_across_steps(FloatDType::F16, 2e-3);
}

fn decoder_attention_across_steps(dtype: FloatDType, tolerance: f32) {
    let shape = Heads {
        heads: 6,
        kv_heads: 2,
        head_dim: 8,
    };
    let inv_freq: Vec<f32> = (0..4).map(|i| 1.0 / 100f32.powf(i as f32 / 4.0)).collect();
    let layers = 2;
    let mut ours: Vec<KvCache> = (0..3).map(|_| Flex::new_kv_cache(layers, dtype)).collect();
    let mut theirs: Vec<generic::KvCache<Flex>> =
        (0..3).map(|_| generic::KvCache::new(layers)).collect();
    let mut lens = [0usize; 3];
    for (step, feeds) in [[7usize, 3, 20], [1, 4, 1], [1, 1, 1]].iter().enumerate() {
        let mut spans = Vec::new();
        let mut positions = Vec::new();
        let mut offset = 0;
        for (i, &n) in feeds.iter().enumerate() {
            spans.push(Span {
                offset,
                len: n,
                start: lens[i],
            });
            positions.extend(lens[i]..lens[i] + n);
            offset += n;
        }
        let rope = Rope::new(&positions, &inv_freq);
        for layer in 0..layers {
            let seed = (step * 10 + layer) as u64 * 3;
            let q = random(offset, 48, seed);
            let k = random(offset, 16, seed + 1);
            let v = random(offset, 16, seed + 2);
            let mut a: Vec<&mut KvCache> = ours.iter_mut().collect();
            let mut b: Vec<&mut generic::KvCache<Flex>> = theirs.iter_mut().collect();
            assert_close(
                decoder_attention(
                    q.clone(),
                    k.clone(),
                    v.clone(),
                    &mut a,
                    layer,
                    &spans,
                    &rope,
                    shape,
                ),
                generic::decoder_attention(q, k, v, &mut b, layer, &spans, &rope, shape),
                tolerance,
            );
        }
        for (i, &n) in feeds.iter().enumerate() {
            lens[i] += n;
        }
    }
    // A prefix of a cache continues as the whole cache's first positions did.
    let width = shape.kv_heads * shape.head_dim;
    let mut fork = ours[2].prefix(lens[2] - 1, width);
    let spans = [Span {
        offset: 0,
        len: 1,
        start: lens[2] - 1,
    }];
    let rope = Rope::new(&[lens[2] - 1], &inv_freq);
    let (q, k, v) = (random(1, 48, 90), random(1, 16, 91), random(1, 16, 92));
    let mut twin = theirs[2].prefix(lens[2] - 1);
    assert_close(
        decoder_attention(
            q.clone(),
            k.clone(),
            v.clone(),
            &mut [&mut fork],
            0,
            &spans,
            &rope,
            shape,
        ),
        generic::decoder_attention(q, k, v, &mut [&mut twin], 0, &spans, &rope, shape),
        tolerance,
    );
}

/// The generic compositions run in half precision too (what `dtype = "f16"`
/// runs on CUDA): host-built tables and masks follow the activations' type.
#[test]
fn generic_kernels_run_in_f16() {
    let half = |t: Tensor<Flex, 2>| t.cast(FloatDType::F16);
    let back = |t: Tensor<Flex, 2>| {
        assert_eq!(t.dtype(), DType::F16);
        t.cast(FloatDType::F32)
    };
    // Norms of values whose squares overflow f16 (|x| up to 1000).
    let big = random(4, 64, 24) * 500.0;
    let (w, b) = (
        random(1, 64, 25).reshape([64]),
        random(1, 64, 26).reshape([64]),
    );
    let (w16, b16) = (
        w.clone().cast(FloatDType::F16),
        b.clone().cast(FloatDType::F16),
    );
    assert_close(
        back(generic::rms_norm(&half(big.clone()), &w16, 1e-5)),
        generic::rms_norm(&big, &w, 1e-5),
        2e-2,
    );
    assert_close(
        back(generic::add_layer_norm(
            half(big.clone()),
            half(big.clone()),
            &w16,
            &b16,
            1e-5,
        )),
        generic::add_layer_norm(big.clone(), big, &w, &b, 1e-5),
        2e-2,
    );
    let lengths = [3usize, 9, 1];
    let qkv = random(13, 3 * 64, 20);
    assert_close(
        back(generic::packed_attention(half(qkv.clone()), &lengths, 4)),
        generic::packed_attention(qkv, &lengths, 4),
        2e-2,
    );
    let shape = Heads {
        heads: 4,
        kv_heads: 2,
        head_dim: 8,
    };
    let inv_freq = [1.0, 0.1, 0.01, 0.001];
    let spans = [Span {
        offset: 0,
        len: 5,
        start: 0,
    }];
    let rope = Rope::new(&[0, 1, 2, 3, 4], &inv_freq);
    let (q, k, v) = (random(5, 32, 21), random(5, 16, 22), random(5, 16, 23));
    let mut full = generic::KvCache::<Flex>::new(1);
    let mut low = generic::KvCache::<Flex>::new(1);
    assert_close(
        back(generic::decoder_attention(
            half(q.clone()),
            half(k.clone()),
            half(v.clone()),
            &mut [&mut low],
            0,
            &spans,
            &rope,
            shape,
        )),
        generic::decoder_attention(q, k, v, &mut [&mut full], 0, &spans, &rope, shape),
        2e-2,
    );
}

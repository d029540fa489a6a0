//! How the next token is picked: greedy, or temperature with top-k and
//! top-p, from a seeded RNG.

use rand::Rng;

/// How to pick tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// 0 = greedy.
    pub temperature: f32,
    /// Nucleus mass (1 = off).
    pub top_p: f32,
    /// Keep the k most likely (0 = off).
    pub top_k: usize,
    /// RNG seed (random when `None`).
    pub seed: Option<u64>,
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Stop when the generated text contains one of these (not included).
    pub stop: Vec<String>,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            seed: None,
            max_tokens: 256,
            stop: Vec::new(),
        }
    }
}

/// Weight (relative to the most likely token's 1) above which tokens are
/// sorted first for top-p: the nucleus is nearly always among them, and when it
/// is not, the whole vocabulary is sorted.
const NUCLEUS_CUT: f32 = 1e-4;

/// Picks the next token from `logits` (modified in place: they become weights
/// `exp((logit - max) / temperature)`). Greedy at temperature 0; otherwise the
/// `top_k` most likely tokens (0 = all), then the smallest set of those whose
/// probability mass reaches `top_p`, drawn in proportion to their weights.
pub fn sample(logits: &mut [f32], s: &Sampling, rng: &mut impl Rng) -> u32 {
    if s.temperature <= 0.0 || logits.len() < 2 {
        return argmax_of(logits);
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let inv = 1.0 / s.temperature;
    // Branch-free exp: this loop vectorises (a vocabulary is ~50k logits).
    for l in logits.iter_mut() {
        *l = crate::kernels::exp((*l - max) * inv);
    }
    let weights: &[f32] = logits;
    if s.top_k == 0 && s.top_p >= 1.0 {
        let total = sum(weights);
        return draw(weights.iter().copied().enumerate(), total, rng);
    }
    let by_weight = |a: &u32, b: &u32| weights[*b as usize].total_cmp(&weights[*a as usize]);
    let mut order: Vec<u32>;
    let total;
    if s.top_k > 0 && s.top_k < weights.len() {
        order = (0..weights.len() as u32).collect();
        order.select_nth_unstable_by(s.top_k - 1, by_weight);
        order.truncate(s.top_k);
        total = order.iter().map(|&i| weights[i as usize]).sum::<f32>();
    } else {
        total = sum(weights);
        order = (0..weights.len() as u32)
            .filter(|&i| weights[i as usize] >= NUCLEUS_CUT)
            .collect();
    }
    order.sort_unstable_by(by_weight);
    let mut keep = order.len();
    if s.top_p < 1.0 {
        let goal = s.top_p * total;
        let mut mass = 0.0;
        match order.iter().position(|&i| {
            mass += weights[i as usize];
            mass >= goal
        }) {
            Some(i) => keep = i + 1,
            None if order.len() < weights.len() && s.top_k == 0 => {
                // The cut left out part of the nucleus (a very flat distribution).
                order = (0..weights.len() as u32).collect();
                order.sort_unstable_by(by_weight);
                let mut mass = 0.0;
                keep = order
                    .iter()
                    .position(|&i| {
                        mass += weights[i as usize];
                        mass >= goal
                    })
                    .map_or(order.len(), |i| i + 1);
            }
            None => {}
        }
    }
    order.truncate(keep);
    let kept = order.iter().map(|&i| weights[i as usize]).sum::<f32>();
    draw(
        order.iter().map(|&i| (i as usize, weights[i as usize])),
        kept,
        rng,
    )
}

/// A sum with 8 accumulators (vectorises, unlike one running `f32` sum).
fn sum(values: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder().iter().sum::<f32>();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// One of `(token, weight)` in proportion to its weight (`total` their sum).
fn draw(weighted: impl Iterator<Item = (usize, f32)>, total: f32, rng: &mut impl Rng) -> u32 {
    let mut r = rng.random::<f32>() * total;
    let mut last = 0;
    for (i, w) in weighted {
        if w > 0.0 {
            last = i;
        }
        r -= w;
        if r <= 0.0 && w > 0.0 {
            return i as u32;
        }
    }
    last as u32 // rounding left a sliver: the last token with weight
}

fn argmax_of(values: &[f32]) -> u32 {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0 as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn logits(seed: u64, n: usize, spread: f32) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| rng.random::<f32>() * spread).collect()
    }

    /// The nucleus by the definition: sort everything, keep the smallest
    /// prefix whose probability reaches `top_p`.
    fn nucleus(logits: &[f32], t: f32, top_k: usize, top_p: f32) -> Vec<u32> {
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        order.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
        if top_k > 0 {
            order.truncate(top_k);
        }
        let max = logits[order[0] as usize];
        let w: Vec<f64> = order
            .iter()
            .map(|&i| f64::from((logits[i as usize] - max) / t).exp())
            .collect();
        let total: f64 = w.iter().sum();
        let mut mass = 0.0;
        let keep = w
            .iter()
            .position(|p| {
                mass += p / total;
                mass >= f64::from(top_p)
            })
            .map_or(order.len(), |i| i + 1);
        order.truncate(keep);
        order
    }

    #[test]
    fn draws_stay_in_the_nucleus_and_reach_all_of_it() {
        // Peaked (the cut holds the nucleus) and flat (it does not: full sort).
        for (seed, spread, top_k, top_p) in [
            (1, 20.0, 0, 0.9),
            (2, 20.0, 40, 0.95),
            (3, 0.5, 0, 0.5),
            (4, 8.0, 5, 1.0),
        ] {
            let base = logits(seed, 5000, spread);
            let s = Sampling {
                temperature: 0.8,
                top_p,
                top_k,
                ..Sampling::default()
            };
            let allowed = nucleus(&base, 0.8, top_k, top_p);
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..4000 {
                let t = sample(&mut base.clone(), &s, &mut rng);
                assert!(allowed.contains(&t), "case {seed}: {t} outside the nucleus");
                seen.insert(t);
            }
            if allowed.len() <= 10 {
                assert_eq!(seen.len(), allowed.len(), "case {seed}: all reachable");
            }
        }
    }

    #[test]
    fn greedy_and_degenerate_settings_pick_the_argmax() {
        let base = logits(9, 1000, 10.0);
        let best = argmax_of(&base);
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        for s in [
            Sampling::default(),
            Sampling {
                temperature: 1.0,
                top_k: 1,
                ..Sampling::default()
            },
            Sampling {
                temperature: 1.0,
                top_p: 1e-6,
                ..Sampling::default()
            },
        ] {
            assert_eq!(sample(&mut base.clone(), &s, &mut rng), best, "{s:?}");
        }
        // Plain temperature sampling follows the weights: a token 3 logits
        // above the other at temperature 1 is drawn ~95% of the time.
        let s = Sampling {
            temperature: 1.0,
            ..Sampling::default()
        };
        let hits = (0..10_000)
            .filter(|_| sample(&mut [0.0, 3.0], &s, &mut rng) == 1)
            .count();
        assert!((9300..9700).contains(&hits), "{hits}");
    }
}

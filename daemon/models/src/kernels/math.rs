//! Elementwise math without library calls or branches, so loops over it vectorise
//! on the baseline x86-64 target (SSE2) as well as wider ones.

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

/// `x · sigmoid(x)` with [`exp`].
#[inline]
pub(crate) fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
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
}

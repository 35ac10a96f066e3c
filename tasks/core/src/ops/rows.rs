//! Row reductions shared by the row-wise kernels.
//!
//! A plain `iter().sum()` over f32 is a serial dependency chain that LLVM may not reorder, so it
//! never vectorises. Keeping `LANES` independent partial results lets it use SIMD registers;
//! the lanes are combined in a fixed order, so results stay bit-for-bit reproducible.

const LANES: usize = 8;

fn combine(acc: [f32; LANES], op: impl Fn(f32, f32) -> f32) -> f32 {
    let a = [
        op(acc[0], acc[4]),
        op(acc[1], acc[5]),
        op(acc[2], acc[6]),
        op(acc[3], acc[7]),
    ];
    op(op(a[0], a[2]), op(a[1], a[3]))
}

/// `sum_i f(a[i], b[i])`; `a` and `b` have the same length.
#[inline(always)]
pub(crate) fn sum_zip(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += f(xa[i], xb[i]);
        }
    }
    let mut s = combine(acc, |x, y| x + y);
    for (&x, &y) in ra.iter().zip(rb) {
        s += f(x, y);
    }
    s
}

/// `sum_i f(a[i])`.
#[inline(always)]
pub(crate) fn sum_map(a: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    sum_zip(a, a, |x, _| f(x))
}

/// Largest element (`-inf` for an empty row); NaNs are skipped as by `f32::max`.
#[inline(always)]
pub(crate) fn max(a: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let c = a.chunks_exact(LANES);
    let r = c.remainder();
    for x in c {
        for i in 0..LANES {
            acc[i] = acc[i].max(x[i]);
        }
    }
    r.iter().fold(combine(acc, f32::max), |m, &x| m.max(x))
}

/// `e^x` for `x <= 0`, the shifted scores of a softmax, to about 1 ulp (Cephes' `expf`
/// polynomial). libm's `expf` is a call per element, which keeps the softmax's hottest loop
/// scalar; this is branch-free, so the loop vectorises. Below `ln(f32::MIN_POSITIVE)` it
/// returns exactly 0 (as `expf` does for masked keys, up to denormals); NaN stays NaN.
#[inline(always)]
pub(crate) fn exp_nonpos(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n * LN2_HI is exact for the n that occur here.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer (ties to even) without a libm call; the integer
    // is then in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_2e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // 2^n from n's bits; wrapping, as out-of-range x is discarded below anyway.
    let k = t.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127);
    let y = er * f32::from_bits(k << 23);
    if x < -87.33 {
        0.0
    } else {
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_match_serial_ones_for_every_remainder() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7919) % 23) as f32 - 11.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 104729) % 13) as f32 * 0.5).collect();
            let dot: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert_eq!(sum_zip(&a, &b, |x, y| x * y), dot, "n = {n}");
            assert_eq!(sum_map(&a, |x| x), a.iter().sum::<f32>(), "n = {n}");
            let m = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&a), m, "n = {n}");
        }
    }

    #[test]
    fn exp_is_within_two_ulp_of_f64_exp() {
        let mut worst = 0f64;
        for i in 0..=2_000_000 {
            let x = -87.3 * i as f32 / 2_000_000.0;
            let (got, want) = (exp_nonpos(x) as f64, (x as f64).exp());
            let ulp = f32::EPSILON as f64 * want;
            worst = worst.max((got - want).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst error {worst} ulp");
        assert_eq!(exp_nonpos(0.0), 1.0);
        assert_eq!(exp_nonpos(-0.0), 1.0);
        assert_eq!(exp_nonpos(-88.0), 0.0);
        assert_eq!(exp_nonpos(-1e9), 0.0);
        assert_eq!(exp_nonpos(f32::NEG_INFINITY), 0.0);
        assert!(exp_nonpos(f32::NAN).is_nan());
    }
}

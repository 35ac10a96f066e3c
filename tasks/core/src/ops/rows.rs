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
}

//! Helpers for the kernels' tests: random inputs, tolerant comparisons, finite differences.

use candle_core::{DType, Device, Tensor, Var};

use crate::Rng;

pub fn randn(rng: &mut Rng, n: usize, mean: f64, std: f64) -> Vec<f32> {
    (0..n).map(|_| (mean + std * rng.normal()) as f32).collect()
}

pub fn var(data: Vec<f32>, dims: &[usize]) -> Var {
    Var::from_vec(data, dims, &Device::Cpu).unwrap()
}

/// Every element as f32, in row-major order whatever the layout.
pub fn values(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

pub fn values_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// `|got - want| <= tol * (1 + |want|)` elementwise: absolute near 0, relative for the large
/// sums a weight gradient collects over rows.
pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

pub fn assert_close_f64(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: got {g}, finite differences {w}"
        );
    }
}

/// Guards against comparisons that pass because everything is zero.
pub fn assert_nontrivial(v: &[f32], what: &str) {
    let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    assert!(
        m > 1e-3,
        "{what}: all |values| <= {m}, the check would be vacuous"
    );
}

/// Central differences of `f` at `x` in f64 with step `h`.
pub fn central_diff(x: &[f64], h: f64, f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut y = x.to_vec();
    (0..x.len())
        .map(|i| {
            y[i] = x[i] + h;
            let up = f(&y);
            y[i] = x[i] - h;
            let down = f(&y);
            y[i] = x[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}

/// An f64 tensor of `dims` on the CPU.
pub fn f64_tensor(x: &[f64], dims: &[usize]) -> Tensor {
    Tensor::from_slice(x, dims, &Device::Cpu).unwrap()
}

//! Test helpers: f64 reference maths and a central finite-difference gradient check.

use candle_core::{Device, Result, Shape, Tensor, Var};

pub fn tensor(data: &[f64], shape: impl Into<Shape>) -> Tensor {
    Tensor::from_slice(data, shape, &Device::Cpu).unwrap()
}

pub fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

pub fn softmax_ref(z: &[f64], tau: f64) -> Vec<f64> {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| ((v - m) / tau).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

pub fn kl_ref(p: &[f64], q: &[f64]) -> f64 {
    p.iter()
        .zip(q)
        .map(|(a, b)| if *a > 0.0 { a * (a / b).ln() } else { 0.0 })
        .sum()
}

/// Analytic gradient of `f` at `x` (through a Var) and its loss value.
pub fn grad(f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &Tensor) -> (f64, Vec<f64>) {
    let v = Var::from_tensor(x).unwrap();
    let loss = f(v.as_tensor()).unwrap();
    let g = loss.backward().unwrap();
    let gx = match g.get(v.as_tensor()) {
        Some(t) => t.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
        None => vec![0.0; x.elem_count()],
    };
    (scalar(&loss), gx)
}

/// Asserts that the autograd gradient of `f` (scalar-valued) at `x` (f64) matches central
/// finite differences with step `h` to within `tol` (absolute, scaled by max(1, |g|)).
pub fn check_grad(f: &dyn Fn(&Tensor) -> Result<Tensor>, x: &Tensor, h: f64, tol: f64) {
    let (_, g) = grad(f, x);
    let base = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let mut nonzero = 0;
    for i in 0..base.len() {
        let eval = |d: f64| {
            let mut v = base.clone();
            v[i] += d;
            scalar(&f(&tensor(&v, x.shape().clone())).unwrap())
        };
        let num = (eval(h) - eval(-h)) / (2.0 * h);
        assert!(
            (num - g[i]).abs() <= tol * g[i].abs().max(1.0),
            "gradient entry {i}: autograd {} vs finite difference {num}",
            g[i]
        );
        if g[i].abs() > 1e-6 {
            nonzero += 1;
        }
    }
    assert!(
        nonzero > 0,
        "all gradient entries are zero: the check is vacuous"
    );
}

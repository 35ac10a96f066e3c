//! Test helpers shared by the fused kernels' tests: value comparison and finite differences.

use candle_core::{Device, Result, Shape, Tensor, Var};

use crate::Rng;

/// A standard-normal f32 tensor on the CPU.
pub(crate) fn randn<S: Into<Shape>>(shape: S, rng: &mut Rng) -> Tensor {
    let shape = shape.into();
    let v: Vec<f32> = (0..shape.elem_count())
        .map(|_| rng.normal() as f32)
        .collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

pub(crate) fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Same shape and every element within `tol` (absolute, scaled up for large values).
pub(crate) fn assert_close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    for (i, (x, y)) in values(a).iter().zip(values(b)).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "{what}: element {i}: {x} vs {y}"
        );
    }
}

/// `sum(f(inputs) * r)` in f64.
fn weighted_sum(y: &Tensor, r: &[f32]) -> f64 {
    values(y)
        .iter()
        .zip(r)
        .map(|(&y, &r)| y as f64 * r as f64)
        .sum()
}

/// Checks the gradients autograd gives for `sum(f(inputs) * r)` (`r` random) against f64
/// central differences with step `eps`, to `tol` (absolute, scaled up for large values).
pub(crate) fn check_grads(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    eps: f32,
    tol: f64,
    seed: u64,
) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(&ts).unwrap();
    let r = randn(y.shape().clone(), &mut Rng::new(seed));
    let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
    let r = values(&r);
    for (i, v) in vars.iter().enumerate() {
        let g = values(grads.get(v).expect("input without a gradient"));
        let x0 = values(v.as_tensor());
        for j in 0..x0.len() {
            let at = |delta: f32| {
                let mut x = x0.clone();
                x[j] += delta;
                let mut args: Vec<Tensor> = inputs.to_vec();
                args[i] = Tensor::from_vec(x, inputs[i].shape(), &Device::Cpu).unwrap();
                weighted_sum(&f(&args).unwrap(), &r)
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            let a = g[j] as f64;
            assert!(
                (a - fd).abs() <= tol * (1.0 + fd.abs()),
                "input {i} element {j}: autograd {a} vs finite differences {fd}"
            );
        }
    }
}

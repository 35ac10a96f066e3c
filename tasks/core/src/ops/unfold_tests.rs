use candle_core::{DType, Device, Result, Tensor, Var};

use super::*;
use crate::Rng;

/// Deterministic N(0, 1) data of `shape`.
pub(crate) fn randn(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
    let mut rng = Rng::new(seed);
    let n = shape.iter().product::<usize>();
    let v: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// max |a - b| <= tol * max |b| (and the shapes agree).
pub(crate) fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) -> Result<()> {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes");
    let a = a.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let b = b.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-12);
    let err = a
        .iter()
        .zip(&b)
        .fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        err <= tol * scale,
        "{what}: max abs err {err:e} > {tol:e} * {scale:e}"
    );
    Ok(())
}

/// Central differences of `f` at `x` (f64), every element.
pub(crate) fn finite_diff(x: &Tensor, f: impl Fn(&Tensor) -> Result<f64>) -> Result<Tensor> {
    let v = x.flatten_all()?.to_vec1::<f64>()?;
    let eps = 1e-5;
    let mut g = vec![0.0; v.len()];
    for i in 0..v.len() {
        let at = |d: f64| {
            let mut w = v.clone();
            w[i] += d;
            f(&Tensor::from_vec(w, x.shape(), &Device::Cpu)?)
        };
        g[i] = (at(eps)? - at(-eps)?) / (2.0 * eps);
    }
    Tensor::from_vec(g, x.shape(), &Device::Cpu)
}

/// sum(y * r): the scalar whose gradient checks a whole Jacobian-vector product.
pub(crate) fn dot(y: &Tensor, r: &Tensor) -> Result<Tensor> {
    (y * r)?.sum_all()
}

#[test]
fn unfold_copies_windows_with_zero_padding() -> Result<()> {
    let x = Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?.reshape((1, 1, 3, 1))?;
    let y = unfold_nhwc(&x, (1, 3), (1, 2), (0, 1))?;
    assert_eq!(y.dims(), &[1, 1, 2, 3]);
    assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [0., 1., 2., 2., 3., 0.]);
    // Two channels: rows are (kw, c) ordered.
    let x = Tensor::new(&[1f32, 10., 2., 20.], &Device::Cpu)?.reshape((1, 1, 2, 2))?;
    let y = unfold_nhwc(&x, (1, 2), (1, 1), (0, 0))?;
    assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [1., 10., 2., 20.]);
    Ok(())
}

#[test]
fn unfold_backward_matches_finite_differences() -> Result<()> {
    // (dims, kernel, stride, padding)
    let cases = [
        ((2, 4, 5, 3), (3, 3), (1, 1), (1, 1)),
        ((1, 5, 7, 2), (3, 2), (2, 3), (2, 0)),
        ((3, 1, 9, 2), (1, 3), (1, 2), (0, 1)),
        ((1, 2, 2, 1), (3, 3), (1, 1), (3, 3)),
    ];
    for (i, &(dims, k, s, p)) in cases.iter().enumerate() {
        let (b, h, w, c) = dims;
        let x = Var::from_tensor(&randn(&[b, h, w, c], 10 + i as u64, DType::F64)?)?;
        let y = unfold_nhwc(x.as_tensor(), k, s, p)?;
        let r = randn(y.dims(), 20 + i as u64, DType::F64)?;
        let g = dot(&y, &r)?.backward()?;
        let fd = finite_diff(x.as_tensor(), |x| {
            dot(&unfold_nhwc(x, k, s, p)?, &r)?.to_scalar::<f64>()
        })?;
        assert_close(g.get(&x).unwrap(), &fd, 1e-7, &format!("case {i}"))?;
    }
    Ok(())
}

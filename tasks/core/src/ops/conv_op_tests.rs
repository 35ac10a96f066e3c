use candle_core::{DType, Result, Tensor, Var};

use super::unfold_matmul;
use crate::ops::unfold::tests::{assert_close, dot, randn};
use crate::ops::unfold_nhwc;

/// The composite the fused op replaces: `unfold_nhwc` then candle's matmul.
fn composite(
    x: &Tensor,
    wm: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    let cols = unfold_nhwc(x, kernel, stride, padding)?;
    let (b, oh, ow, k) = cols.dims4()?;
    cols.reshape((b * oh * ow, k))?
        .matmul(wm)?
        .reshape((b, oh, ow, wm.dim(1)?))
}

#[test]
fn unfold_matmul_matches_unfold_then_matmul() -> Result<()> {
    // (b, h, w, c, o, kernel, stride, padding): conv1d time-major (h = kh = 1) and conv2d,
    // stride 2, padding edges, batch > 1, a 1x1 kernel.
    let cases = [
        (2, 1, 9, 5, 6, (1, 3), (1, 2), (0, 1)),
        (3, 1, 10, 4, 3, (1, 3), (1, 1), (0, 1)),
        (2, 1, 8, 2, 5, (1, 5), (1, 1), (0, 2)),
        (1, 1, 3, 3, 2, (1, 3), (1, 2), (0, 1)),
        (2, 7, 6, 3, 4, (3, 3), (1, 1), (1, 1)),
        (3, 8, 9, 2, 5, (3, 3), (2, 2), (1, 1)),
        (2, 5, 5, 4, 3, (3, 3), (2, 2), (0, 0)),
        (2, 6, 4, 3, 2, (1, 1), (1, 1), (0, 0)),
    ];
    for dtype in [DType::F32, DType::F64] {
        for (i, &(b, h, w, c, o, k, s, p)) in cases.iter().enumerate() {
            let x = Var::from_tensor(&randn(&[b, h, w, c], i as u64, dtype)?)?;
            let wm = Var::from_tensor(&randn(&[k.0 * k.1 * c, o], 50 + i as u64, dtype)?)?;
            let what = format!("case {i} {dtype:?}");
            let y = unfold_matmul(x.as_tensor(), wm.as_tensor(), k, s, p)?;
            let want = composite(x.as_tensor(), wm.as_tensor(), k, s, p)?;
            assert_eq!(y.dims(), want.dims(), "{what}: shape");
            assert_close(&y, &want, 1e-5, &format!("{what}: value"))?;
            let r = randn(y.dims(), 99, dtype)?;
            let (g, gw) = (dot(&y, &r)?.backward()?, dot(&want, &r)?.backward()?);
            for (v, name) in [(&x, "x"), (&wm, "weight")] {
                let (a, e) = (g.get(v).unwrap(), gw.get(v).unwrap());
                assert_close(a, e, 1e-5, &format!("{what}: grad {name}"))?;
            }
        }
    }
    Ok(())
}

use candle_core::{Device, Result, Tensor, Var};

use super::{depthwise_conv_time, depthwise_conv_time_composite};
use crate::ops::grad_check::{assert_close, check_grads, randn, values};
use crate::Rng;

/// (B, T, C, K, lens): channels off the lane width, a kernel longer than the sequence,
/// K = 1, and lengths short of T.
const CASES: &[(usize, usize, usize, usize, &[usize])] = &[
    (1, 5, 3, 3, &[5]),
    (2, 7, 13, 5, &[7, 4]),
    (3, 4, 8, 9, &[4, 1, 0]),
    (2, 6, 2, 1, &[6, 3]),
    (2, 40, 17, 15, &[40, 23]),
];

#[test]
fn worked_example_by_hand() -> Result<()> {
    let dev = Device::Cpu;
    let x = Tensor::new(&[[[1f32], [10.], [100.]]], &dev)?;
    let w = Tensor::new(&[[1f32, 2., 3.]], &dev)?;
    // y[t] = 1 * x[t - 1] + 2 * x[t] + 3 * x[t + 1], zeros outside.
    assert_eq!(
        values(&depthwise_conv_time(&x, &w, &[3])?),
        [32., 321., 210.]
    );
    // Length 2: frame 2 (100) reads as zero everywhere.
    assert_eq!(values(&depthwise_conv_time(&x, &w, &[2])?), [32., 21., 10.]);
    Ok(())
}

#[test]
fn fused_matches_composite_values_and_gradients() -> Result<()> {
    let mut rng = Rng::new(7);
    for &(b, t, c, k, lens) in CASES {
        let x = Var::from_tensor(&randn((b, t, c), &mut rng))?;
        let w = Var::from_tensor(&randn((c, k), &mut rng))?;
        let r = randn((b, t, c), &mut rng);
        let what = format!("B{b} T{t} C{c} K{k} {lens:?}");
        let run = |f: fn(&Tensor, &Tensor, &[usize]) -> Result<Tensor>| -> Result<_> {
            let y = f(&x, &w, lens)?;
            let grads = (&y * &r)?.sum_all()?.backward()?;
            Ok((y, grads.get(&x).cloned(), grads.get(&w).cloned()))
        };
        let (y, dx, dw) = run(depthwise_conv_time)?;
        let (y0, dx0, dw0) = run(depthwise_conv_time_composite)?;
        assert_close(&y, &y0, 1e-5, &format!("{what}: y"));
        assert_close(&dx.unwrap(), &dx0.unwrap(), 1e-5, &format!("{what}: dx"));
        assert_close(&dw.unwrap(), &dw0.unwrap(), 1e-5, &format!("{what}: dw"));
    }
    Ok(())
}

#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng::new(11);
    for &(b, t, c, k, lens) in &CASES[..4] {
        let x = randn((b, t, c), &mut rng);
        let w = randn((c, k), &mut rng);
        check_grads(
            |a| depthwise_conv_time(&a[0], &a[1], lens),
            &[x, w],
            1e-2,
            2e-3,
            3,
        );
    }
}

#[test]
fn padding_does_not_leak_and_gets_no_gradient() -> Result<()> {
    let mut rng = Rng::new(5);
    let (t, c, k, len) = (9, 6, 5, 5);
    let x = randn((1, t, c), &mut rng);
    let w = randn((c, k), &mut rng);
    // The same example with different values in its padded frames.
    let noise = randn((1, t - len, c), &mut rng);
    let x2 = Tensor::cat(&[x.narrow(1, 0, len)?, (noise * 100.)?], 1)?;
    let y = depthwise_conv_time(&x, &w, &[len])?;
    let y2 = depthwise_conv_time(&x2, &w, &[len])?;
    assert_eq!(values(&y), values(&y2));
    let xv = Var::from_tensor(&x2)?;
    let grads = depthwise_conv_time(&xv, &w, &[len])?
        .sum_all()?
        .backward()?;
    let dx = grads.get(&xv).unwrap().narrow(1, len, t - len)?;
    assert!(values(&dx).iter().all(|&v| v == 0.0));
    Ok(())
}

#[test]
fn bad_shapes_are_errors() {
    let dev = Device::Cpu;
    let x = Tensor::zeros((2, 4, 3), candle_core::DType::F32, &dev).unwrap();
    let even = Tensor::zeros((3, 4), candle_core::DType::F32, &dev).unwrap();
    let other = Tensor::zeros((5, 3), candle_core::DType::F32, &dev).unwrap();
    let ok = Tensor::zeros((3, 3), candle_core::DType::F32, &dev).unwrap();
    for (w, lens, want) in [
        (&even, &[4usize, 4][..], "odd kernel"),
        (&other, &[4, 4][..], "odd kernel"),
        (&ok, &[4][..], "1 lengths for batch 2"),
    ] {
        let err = depthwise_conv_time(&x, w, lens).unwrap_err().to_string();
        assert!(err.contains(want), "{err}");
    }
}

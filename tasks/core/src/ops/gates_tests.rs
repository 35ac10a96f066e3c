use candle_core::{Result, Tensor, Var};

use super::{bias_silu, bias_silu_composite, glu, glu_composite};
use crate::ops::grad_check::{assert_close, check_grads, randn, values};
use crate::Rng;

/// Shapes with the last dim below, at and off the kernels' lane width, and a 3-D input.
const SHAPES: &[&[usize]] = &[&[1, 2], &[3, 8], &[2, 5, 14], &[4, 40]];

#[test]
fn bias_silu_matches_composite_and_finite_differences() -> Result<()> {
    let mut rng = Rng::new(1);
    for dims in SHAPES {
        let d = *dims.last().unwrap();
        let x = Var::from_tensor(&(randn(*dims, &mut rng) * 3.0)?)?;
        let b = Var::from_tensor(&randn(d, &mut rng))?;
        let r = randn(*dims, &mut rng);
        let run = |f: fn(&Tensor, &Tensor) -> Result<Tensor>| -> Result<[Tensor; 3]> {
            let y = f(&x, &b)?;
            let g = (&y * &r)?.sum_all()?.backward()?;
            Ok([y, g.get(&x).unwrap().clone(), g.get(&b).unwrap().clone()])
        };
        let (fused, reference) = (run(bias_silu)?, run(bias_silu_composite)?);
        for ((f, c), name) in fused.iter().zip(&reference).zip(["y", "dx", "db"]) {
            assert_close(f, c, 1e-5, &format!("{dims:?} {name}"));
        }
        check_grads(
            |a| bias_silu(&a[0], &a[1]),
            &[x.as_tensor().clone(), b.as_tensor().clone()],
            1e-2,
            2e-3,
            2,
        );
    }
    // Hand-computed: silu(0) = 0, silu(1) = 1 / (1 + e^-1).
    let x = Tensor::new(&[[-1f32, 0.0]], &candle_core::Device::Cpu)?;
    let b = Tensor::new(&[1f32, 1.0], &candle_core::Device::Cpu)?;
    let y = values(&bias_silu(&x, &b)?);
    assert_eq!(y[0], 0.0);
    assert!((y[1] - 0.731_058_6).abs() < 1e-6, "{y:?}");
    Ok(())
}

#[test]
fn glu_matches_composite_and_finite_differences() -> Result<()> {
    let mut rng = Rng::new(2);
    for dims in SHAPES {
        let x = Var::from_tensor(&(randn(*dims, &mut rng) * 2.0)?)?;
        let mut out = dims.to_vec();
        *out.last_mut().unwrap() /= 2;
        let r = randn(out, &mut rng);
        let run = |f: fn(&Tensor) -> Result<Tensor>| -> Result<[Tensor; 2]> {
            let y = f(&x)?;
            let g = (&y * &r)?.sum_all()?.backward()?;
            Ok([y, g.get(&x).unwrap().clone()])
        };
        let (fused, reference) = (run(glu)?, run(glu_composite)?);
        assert_close(&fused[0], &reference[0], 1e-5, &format!("{dims:?} y"));
        assert_close(&fused[1], &reference[1], 1e-5, &format!("{dims:?} dx"));
        check_grads(|a| glu(&a[0]), &[x.as_tensor().clone()], 1e-2, 2e-3, 3);
    }
    // Hand-computed: [a | g] = [2 | 0] gives 2 * sigmoid(0) = 1.
    let x = Tensor::new(&[[2f32, 0.0]], &candle_core::Device::Cpu)?;
    assert_eq!(values(&glu(&x)?), [1.0]);
    let odd = Tensor::zeros((2, 3), candle_core::DType::F32, &candle_core::Device::Cpu)?;
    assert!(glu(&odd).unwrap_err().to_string().contains("odd"));
    Ok(())
}

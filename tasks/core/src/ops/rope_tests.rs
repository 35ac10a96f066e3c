use candle_core::{Device, Result, Tensor, Var};

use super::{rope, rope_composite};
use crate::ops::grad_check::{assert_close, check_grads, randn, values};
use crate::Rng;

fn tables(t: usize, half: usize, rng: &mut Rng) -> (Tensor, Tensor) {
    // Any angles: the op must not assume the standard frequencies.
    let a = (randn((t, half), rng) * 3.0).unwrap();
    (a.cos().unwrap(), a.sin().unwrap())
}

#[test]
fn rope_matches_composite_and_finite_differences() -> Result<()> {
    let mut rng = Rng::new(3);
    for &(b, h, t, dh) in &[(1, 1, 1, 2), (2, 3, 5, 8), (1, 2, 7, 18)] {
        let (cos, sin) = tables(t, dh / 2, &mut rng);
        let x = Var::from_tensor(&randn((b, h, t, dh), &mut rng))?;
        let r = randn((b, h, t, dh), &mut rng);
        let run = |f: fn(&Tensor, &Tensor, &Tensor) -> Result<Tensor>| -> Result<[Tensor; 2]> {
            let y = f(&x, &cos, &sin)?;
            let g = (&y * &r)?.sum_all()?.backward()?;
            Ok([y, g.get(&x).unwrap().clone()])
        };
        let (fused, reference) = (run(rope)?, run(rope_composite)?);
        let what = format!("{b}x{h}x{t}x{dh}");
        assert_close(&fused[0], &reference[0], 1e-5, &format!("{what} y"));
        assert_close(&fused[1], &reference[1], 1e-5, &format!("{what} dx"));
        check_grads(
            |a| rope(&a[0], &cos, &sin),
            &[x.as_tensor().clone()],
            1e-2,
            2e-3,
            4,
        );
    }
    Ok(())
}

#[test]
fn a_quarter_turn_by_hand_and_bad_tables() -> Result<()> {
    let dev = Device::Cpu;
    // dh = 2: (x1, x2) rotated by 90 degrees is (-x2, x1).
    let x = Tensor::new(&[[[[3f32, 4.0]]]], &dev)?;
    let (cos, sin) = (Tensor::new(&[[0f32]], &dev)?, Tensor::new(&[[1f32]], &dev)?);
    assert_eq!(values(&rope(&x, &cos, &sin)?), [-4.0, 3.0]);
    let wrong = Tensor::new(&[[0f32, 1.0]], &dev)?;
    assert!(rope(&x, &wrong, &wrong)
        .unwrap_err()
        .to_string()
        .contains("do not fit"));
    Ok(())
}

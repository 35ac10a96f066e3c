//! Fused dropout against the composite `x * mask`, finite differences and its mask statistics.

use candle_core::{DType, Device, Tensor, Var};

use super::*;
use crate::ops::grad_check::{assert_close, check_grads, randn, values};
use crate::Rng;

const TOL: f32 = 1e-5;

fn train(seed: u64) -> Fwd {
    Fwd::train(Rng::new(seed))
}

#[test]
fn same_seed_same_mask_and_the_generator_advances() {
    let x = Tensor::ones((4, 7, 9), DType::F32, &Device::Cpu).unwrap();
    let (mut a, mut b) = (train(3), train(3));
    let ya = values(&dropout(&x, 0.3, &mut a).unwrap());
    let yb = values(&dropout(&x, 0.3, &mut b).unwrap());
    assert_eq!(ya, yb);
    assert_eq!(a.rng, b.rng);
    // 252 elements take 126 draws.
    let mut r = Rng::new(3);
    (0..126).for_each(|_| {
        rand::RngCore::next_u64(&mut r);
    });
    assert_eq!(a.rng, r);
    let again = values(&dropout(&x, 0.3, &mut a).unwrap());
    assert_ne!(ya, again, "the next mask must differ");
    let other = values(&dropout(&x, 0.3, &mut train(4)).unwrap());
    assert_ne!(ya, other);
}

#[test]
fn keep_rate_and_scale() {
    for p in [0.1, 0.5, 0.9] {
        let mut rng = Rng::new(11);
        let m = DropoutMask::draw(200_000, p, &mut rng);
        assert!(
            (m.keep_rate() - (1.0 - p)).abs() < 0.005,
            "p {p}: {}",
            m.keep_rate()
        );
        assert_eq!(m.scale(), (1.0 / (1.0 - p)) as f32);
    }
    let all = DropoutMask::draw(1000, 1.0, &mut Rng::new(1));
    assert_eq!(all.keep_rate(), 0.0);
    let x = Tensor::ones(1000, DType::F32, &Device::Cpu).unwrap();
    assert!(values(&all.apply(&x).unwrap()).iter().all(|&v| v == 0.0));
    assert_eq!(
        DropoutMask::draw(1000, 0.0, &mut Rng::new(1)).keep_rate(),
        1.0
    );
}

#[test]
fn outputs_are_zero_or_scaled_inputs() {
    let mut rng = Rng::new(5);
    let x = randn((8, 33), &mut rng);
    let y = dropout(&x, 0.25, &mut train(6)).unwrap();
    let s = (1.0f64 / 0.75) as f32;
    let (mut kept, mut dropped) = (0, 0);
    for (a, b) in values(&x).iter().zip(values(&y)) {
        if b == 0.0 {
            dropped += 1;
        } else {
            assert_eq!(b, a * s);
            kept += 1;
        }
    }
    assert!(kept > 150 && dropped > 40, "kept {kept} dropped {dropped}");
}

/// Shapes, some non-contiguous (a transposed view).
fn inputs(rng: &mut Rng) -> Vec<Tensor> {
    vec![
        randn((5, 13), rng),
        randn((2, 3, 17), rng),
        randn((3, 7, 2), rng).transpose(1, 2).unwrap(),
        randn(1, rng),
    ]
}

#[test]
fn matches_composite_values_and_gradients() {
    let mut rng = Rng::new(21);
    for x in inputs(&mut rng) {
        let mask = DropoutMask::draw(x.elem_count(), 0.4, &mut rng);
        let m = mask.to_tensor(&x).unwrap();
        let xv = Var::from_tensor(&x).unwrap();
        let rv = Var::from_tensor(&randn(x.shape().clone(), &mut rng)).unwrap();
        let r = randn(x.shape().clone(), &mut rng);
        let what = format!("{:?}", x.dims());
        // dropout: gradient = r * mask * scale, as the composite's.
        let xin = if x.is_contiguous() {
            xv.as_tensor().clone()
        } else {
            xv.as_tensor()
                .transpose(1, 2)
                .unwrap()
                .transpose(1, 2)
                .unwrap()
        };
        let fast = mask.apply(&xin).unwrap();
        let slow = dropout_composite(&xin, &m).unwrap();
        assert_close(&fast, &slow, TOL, &what);
        let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let gs = (&slow * &r).unwrap().sum_all().unwrap().backward().unwrap();
        assert_close(gf.get(&xv).unwrap(), gs.get(&xv).unwrap(), TOL, &what);
        let want = (&r * &m).unwrap();
        assert_close(gf.get(&xv).unwrap(), &want, TOL, &what);
        // dropout_add: (g, g * mask * scale).
        let fast = mask.apply_add(rv.as_tensor(), &xin).unwrap();
        let slow = dropout_add_composite(rv.as_tensor(), &xin, &m).unwrap();
        assert_close(&fast, &slow, TOL, &what);
        let gf = (&fast * &r).unwrap().sum_all().unwrap().backward().unwrap();
        assert_close(gf.get(&rv).unwrap(), &r, TOL, &what);
        assert_close(gf.get(&xv).unwrap(), &want, TOL, &what);
    }
}

#[test]
fn agrees_with_finite_differences() {
    let mut rng = Rng::new(31);
    let x = randn((3, 11), &mut rng);
    let r = randn((3, 11), &mut rng);
    let mask = DropoutMask::draw(33, 0.5, &mut rng);
    check_grads(
        |t| mask.apply(&t[0]),
        std::slice::from_ref(&x),
        1e-2,
        1e-3,
        1,
    );
    check_grads(|t| mask.apply_add(&t[0], &t[1]), &[r, x], 1e-2, 1e-3, 2);
}

#[test]
fn eval_mode_and_zero_p_are_the_identity_or_a_plain_add() {
    let mut rng = Rng::new(41);
    let x = randn((4, 5), &mut rng);
    let r = randn((4, 5), &mut rng);
    let mut eval = Fwd::eval();
    let before = eval.rng.clone();
    assert_eq!(values(&dropout(&x, 0.5, &mut eval).unwrap()), values(&x));
    let sum = (&r + &x).unwrap();
    assert_eq!(
        values(&dropout_add(&r, &x, 0.5, &mut eval).unwrap()),
        values(&sum)
    );
    assert_eq!(eval.rng, before, "eval mode draws nothing");
    let mut t = train(1);
    assert_eq!(values(&dropout(&x, 0.0, &mut t).unwrap()), values(&x));
    assert_eq!(
        values(&dropout_add(&r, &x, 0.0, &mut t).unwrap()),
        values(&sum)
    );
    assert_eq!(t.rng, Rng::new(1));
}

#[test]
fn dropout_add_uses_the_same_mask_as_dropout() {
    let mut rng = Rng::new(51);
    let x = randn((6, 10), &mut rng);
    let r = randn((6, 10), &mut rng);
    let a = dropout(&x, 0.3, &mut train(9)).unwrap();
    let b = dropout_add(&r, &x, 0.3, &mut train(9)).unwrap();
    assert_close(&(&b - &r).unwrap(), &a, TOL, "residual removed");
    assert!(dropout_add(&r, &x.reshape((10, 6)).unwrap(), 0.3, &mut train(9)).is_err());
}

#[test]
fn f64_takes_the_composite_path() {
    let mut rng = Rng::new(61);
    let x = randn((3, 9), &mut rng);
    let a = dropout(&x, 0.5, &mut train(2)).unwrap();
    let b = dropout(&x.to_dtype(DType::F64).unwrap(), 0.5, &mut train(2)).unwrap();
    assert_eq!(b.dtype(), DType::F64);
    assert_close(&b.to_dtype(DType::F32).unwrap(), &a, TOL, "f64");
}

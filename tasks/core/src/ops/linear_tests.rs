//! The fused linear layer and bias ops against the candle ops they replace and against
//! finite differences.

use candle_core::{DType, Device, Module, Result, Tensor, Var};

use super::*;
use crate::ops::grad_check::{assert_close, check_grads, randn, values};
use crate::params::ParamStore;
use crate::Rng;

const TOL: f32 = 1e-5;

/// `sum(y * r)`'s gradients w.r.t. `vars`, for a fixed random `r`.
fn grads_of(y: &Tensor, vars: &[&Var], seed: u64) -> Vec<Tensor> {
    let r = randn(y.shape().clone(), &mut Rng::new(seed));
    let g = (y * r).unwrap().sum_all().unwrap().backward().unwrap();
    vars.iter()
        .map(|v| g.get(v).expect("no gradient").clone())
        .collect()
}

/// Input shapes (the last dimension is `in`), with `out` not a multiple of 8 in most.
const SHAPES: &[(&[usize], usize)] = &[
    (&[6, 5], 7),
    (&[2, 3, 11], 13),
    (&[3, 4, 16], 9),
    (&[2, 2, 3, 5], 1),
    (&[1, 1, 8], 24),
];

fn layer(input: usize, out: usize, rng: &mut Rng) -> (Var, Var) {
    let w = Var::from_tensor(&randn((out, input), rng)).unwrap();
    let b = Var::from_tensor(&randn(out, rng)).unwrap();
    (w, b)
}

/// Forward values and every gradient of `Linear` (plain and with ReLU) equal candle_nn's.
fn check_linear_vs_composite(shape: &[usize], out: usize, transposed: bool, relu: bool) {
    let mut rng = Rng::new(shape.iter().product::<usize>() as u64 + out as u64);
    let input = *shape.last().unwrap();
    let (w, b) = layer(input, out, &mut rng);
    let x = if transposed {
        // The same logical shape from a transposed view of a (..., in, T) tensor.
        let r = shape.len();
        let mut s = shape.to_vec();
        s.swap(r - 1, r - 2);
        Var::from_tensor(&randn(s, &mut rng)).unwrap()
    } else {
        Var::from_tensor(&randn(shape.to_vec(), &mut rng)).unwrap()
    };
    let xin = if transposed {
        let r = shape.len();
        let t = x.as_tensor().transpose(r - 1, r - 2).unwrap();
        assert!(!t.is_contiguous() || shape[r - 2] == 1);
        t
    } else {
        x.as_tensor().clone()
    };
    let lin = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
    let fast = if relu {
        lin.forward_relu(&xin).unwrap()
    } else {
        lin.forward(&xin).unwrap()
    };
    // The reference copies a transposed input first: candle 0.11.1's CPU matmul of a transposed
    // 3-D lhs by a broadcast weight (what candle_nn::Linear does for it) is wrong
    // (huggingface/candle#3758); see `candle_nn_linear_on_a_transposed_input_is_wrong`.
    let slow_in = xin.contiguous().unwrap();
    let mut slow = linear_composite(&slow_in, w.as_tensor(), Some(b.as_tensor())).unwrap();
    if relu {
        slow = slow.relu().unwrap();
    }
    let what = format!("{shape:?} -> {out} transposed={transposed} relu={relu}");
    assert_close(&fast, &slow, TOL, &what);
    let gf = grads_of(&fast, &[&x, &w, &b], 9);
    let gs = grads_of(&slow, &[&x, &w, &b], 9);
    for (name, (f, s)) in ["dx", "dw", "db"].iter().zip(gf.iter().zip(&gs)) {
        assert_close(f, s, TOL, &format!("{what}: {name}"));
    }
}

#[test]
fn linear_matches_candle_nn_values_and_gradients() {
    for &(shape, out) in SHAPES {
        for relu in [false, true] {
            check_linear_vs_composite(shape, out, false, relu);
            check_linear_vs_composite(shape, out, true, relu);
        }
    }
}

#[test]
fn linear_has_candle_nn_parameters() -> Result<()> {
    let dev = Device::Cpu;
    let ours = ParamStore::new(4);
    let theirs = ParamStore::new(4);
    let a = linear(11, 13, ours.vb(&dev).pp("l"))?;
    let _ = candle_nn::linear(11, 13, theirs.vb(&dev).pp("l"))?;
    let (ov, tv) = (ours.vars(), theirs.vars());
    assert_eq!(ov.len(), 2);
    for ((on, o), (tn, t)) in ov.iter().zip(&tv) {
        assert_eq!(on, tn);
        assert_eq!(values(o.as_tensor()), values(t.as_tensor()), "{on}");
    }
    assert_eq!(a.weight().dims(), &[13, 11]);
    assert_eq!(a.bias().unwrap().dims(), &[13]);
    Ok(())
}

#[test]
fn linear_without_bias_and_f64_take_the_composite_path() -> Result<()> {
    let mut rng = Rng::new(12);
    let x = randn((2, 3, 5), &mut rng);
    let (w, b) = layer(5, 6, &mut rng);
    let no_bias = Linear::new(w.as_tensor().clone(), None);
    let want = linear_composite(&x, w.as_tensor(), None)?;
    assert_close(&no_bias.forward(&x)?, &want, TOL, "no bias");
    assert_close(
        &no_bias.forward_relu(&x)?,
        &want.relu()?,
        TOL,
        "no bias relu",
    );
    let lin64 = Linear::new(
        w.as_tensor().to_dtype(DType::F64)?,
        Some(b.as_tensor().to_dtype(DType::F64)?),
    );
    let y64 = lin64.forward(&x.to_dtype(DType::F64)?)?;
    assert_eq!(y64.dtype(), DType::F64);
    let want = linear_composite(&x, w.as_tensor(), Some(b.as_tensor()))?;
    assert_close(&y64.to_dtype(DType::F32)?, &want, TOL, "f64");
    Ok(())
}

/// `x` (n, d) and `b` (d) with every `x + b` at least 0.1 away from the ReLU's kink.
fn away_from_kink(shape: &[usize], rng: &mut Rng) -> (Tensor, Tensor) {
    let d = *shape.last().unwrap();
    let b = values(&randn(d, rng));
    let mut x = values(&randn(shape.to_vec(), rng));
    for (i, x) in x.iter_mut().enumerate() {
        let s = *x + b[i % d];
        if s.abs() < 0.1 {
            *x += if s < 0.0 { -0.2 } else { 0.2 };
        }
    }
    let dev = Device::Cpu;
    (
        Tensor::from_vec(x, shape.to_vec(), &dev).unwrap(),
        Tensor::from_vec(b, d, &dev).unwrap(),
    )
}

#[test]
fn bias_ops_match_composite_values_and_gradients() {
    let shapes: &[&[usize]] = &[&[5, 1], &[7, 13], &[4, 64], &[2, 3, 13], &[0, 3]];
    for (k, &shape) in shapes.iter().enumerate() {
        let mut rng = Rng::new(40 + k as u64);
        let (x, b) = away_from_kink(shape, &mut rng);
        let (x, b) = (Var::from_tensor(&x).unwrap(), Var::from_tensor(&b).unwrap());
        let (xt, bt) = (x.as_tensor(), b.as_tensor());
        for relu in [false, true] {
            let what = format!("{shape:?} relu={relu}");
            let (fast, slow) = if relu {
                (
                    bias_relu(xt, bt).unwrap(),
                    bias_relu_composite(xt, bt).unwrap(),
                )
            } else {
                (
                    bias_add(xt, bt).unwrap(),
                    bias_add_composite(xt, bt).unwrap(),
                )
            };
            assert_close(&fast, &slow, TOL, &what);
            if x.elem_count() == 0 {
                continue;
            }
            let gf = grads_of(&fast, &[&x, &b], 3);
            let gs = grads_of(&slow, &[&x, &b], 3);
            assert_close(&gf[0], &gs[0], TOL, &format!("{what}: dx"));
            assert_close(&gf[1], &gs[1], TOL, &format!("{what}: db"));
        }
    }
}

#[test]
fn relu_backward_masks_where_the_output_is_zero() {
    let dev = Device::Cpu;
    let x = Var::from_slice(&[-1f32, 2., 0.5, -3.], (2, 2), &dev).unwrap();
    let b = Var::from_slice(&[0.5f32, -1.], 2, &dev).unwrap();
    let y = bias_relu(x.as_tensor(), b.as_tensor()).unwrap();
    assert_eq!(values(&y), [0., 1., 1., 0.]);
    let g = y.sum_all().unwrap().backward().unwrap();
    assert_eq!(values(g.get(&x).unwrap()), [0., 1., 1., 0.]);
    assert_eq!(values(g.get(&b).unwrap()), [1., 1.]);
}

#[test]
fn bias_ops_refuse_a_mismatched_bias() {
    let x = Tensor::zeros((3, 4), DType::F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap();
    assert!(bias_add(&x, &b).is_err());
    assert!(bias_relu(&x, &b.reshape((1, 5)).unwrap()).is_err());
}

#[test]
fn bias_ops_agree_with_finite_differences() {
    for (k, shape) in [&[6usize, 5][..], &[2, 3, 13]].iter().enumerate() {
        let (x, b) = away_from_kink(shape, &mut Rng::new(60 + k as u64));
        check_grads(
            |t| bias_add(&t[0], &t[1]),
            &[x.clone(), b.clone()],
            1e-2,
            1e-3,
            1,
        );
        check_grads(|t| bias_relu(&t[0], &t[1]), &[x, b], 1e-2, 1e-3, 2);
    }
}

#[test]
fn linear_agrees_with_finite_differences() {
    // A non-contiguous (2, 3, 6) input, 6 -> 5. The first seed whose pre-activations are all
    // 0.2 away from the ReLU's kink, so that no central difference straddles it.
    let (x, w, b) = (80..)
        .map(|seed| {
            let mut rng = Rng::new(seed);
            let x = randn((2, 6, 3), &mut rng);
            let (w, b) = layer(6, 5, &mut rng);
            (x, w.as_tensor().clone(), b.as_tensor().clone())
        })
        .find(|(x, w, b)| {
            let pre = Linear::new(w.clone(), Some(b.clone()))
                .forward(&x.transpose(1, 2).unwrap())
                .unwrap();
            values(&pre).iter().all(|v| v.abs() > 0.2)
        })
        .unwrap();
    for relu in [false, true] {
        let f = |t: &[Tensor]| {
            let lin = Linear::new(t[1].clone(), Some(t[2].clone()));
            let x = t[0].transpose(1, 2)?;
            if relu {
                lin.forward_relu(&x)
            } else {
                lin.forward(&x)
            }
        };
        check_grads(f, &[x.clone(), w.clone(), b.clone()], 1e-2, 2e-3, 5);
    }
}

/// Why the reference above copies transposed inputs; if this starts failing, candle is fixed
/// and the copy can go.
#[test]
fn candle_nn_linear_on_a_transposed_input_is_wrong() {
    let mut rng = Rng::new(1);
    let x = randn((2, 11, 3), &mut rng).transpose(1, 2).unwrap();
    let (w, b) = layer(11, 13, &mut rng);
    let (w, b) = (w.as_tensor(), Some(b.as_tensor()));
    let right = linear_composite(&x.contiguous().unwrap(), w, b).unwrap();
    let candle = linear_composite(&x, w, b).unwrap();
    let diff = (&candle - &right).unwrap().abs().unwrap();
    assert!(diff.max_all().unwrap().to_scalar::<f32>().unwrap() > 1e-2);
    let ours = Linear::new(w.clone(), b.cloned()).forward(&x).unwrap();
    assert_close(&ours, &right, TOL, "ours");
}

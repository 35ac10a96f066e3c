//! CTC loss gradients through candle autograd, padding and reductions.

use candle_core::{Device, Tensor, Var, D};

use super::kernel::Mode;
use super::loss::ctc_loss_with_mode;
use super::tests::{close, opts};
use super::*;
use crate::Rng;

/// Central differences of `f` at `x`, in f64 from f32 losses.
fn finite_diff(x: &[f32], f: impl Fn(&[f32]) -> f32) -> Vec<f64> {
    let eps = 1e-2f32;
    let mut y = x.to_vec();
    (0..x.len())
        .map(|i| {
            y[i] = x[i] + eps;
            let up = f(&y) as f64;
            y[i] = x[i] - eps;
            let down = f(&y) as f64;
            y[i] = x[i];
            (up - down) / (2.0 * eps as f64)
        })
        .collect()
}

fn check_grad_through_autograd(logits: bool) {
    let (b, t, v) = (3, 6, 4);
    let mut rng = Rng::new(if logits { 2 } else { 3 });
    let x: Vec<f32> = (0..b * t * v).map(|_| rng.normal() as f32).collect();
    let lens = [6, 4, 5];
    let targets = [vec![1, 2, 2], vec![3], vec![]];
    let o = opts(Reduction::Mean, logits);
    // var -> 0.5 * var -> (log_softmax) -> ctc_loss: the op must compose with ordinary autograd.
    let loss_of = |t_in: &Tensor| -> Tensor {
        let h = (t_in * 0.5).unwrap();
        let h = if logits {
            h
        } else {
            candle_nn::ops::log_softmax(&h, D::Minus1).unwrap()
        };
        ctc_loss(&h, &lens, &targets, &o).unwrap().loss
    };
    let var = Var::from_vec(x.clone(), (b, t, v), &Device::Cpu).unwrap();
    let grads = loss_of(var.as_tensor()).backward().unwrap();
    let g = grads
        .get(&var)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let fd = finite_diff(&x, |y| {
        let t_in = Tensor::from_vec(y.to_vec(), (b, t, v), &Device::Cpu).unwrap();
        loss_of(&t_in).to_scalar::<f32>().unwrap()
    });
    for (i, (&a, &n)) in g.iter().zip(&fd).enumerate() {
        assert!(
            (a as f64 - n).abs() < 2e-3,
            "logits={logits} elem {i}: autograd {a} vs fd {n}"
        );
        if i % (t * v) >= lens[i / (t * v)] * v {
            assert_eq!(a, 0.0, "padded frame got gradient");
        }
    }
    assert!(g.iter().any(|&a| a.abs() > 1e-2));
}

#[test]
fn gradient_from_logits_matches_finite_differences() {
    check_grad_through_autograd(true);
}

#[test]
fn gradient_from_log_probs_matches_finite_differences() {
    check_grad_through_autograd(false);
}

#[test]
fn fused_logit_gradient_equals_chained_log_softmax_and_log_space() {
    let (b, t, v) = (2, 8, 5);
    let mut rng = Rng::new(4);
    let x: Vec<f32> = (0..b * t * v)
        .map(|_| (2.0 * rng.normal()) as f32)
        .collect();
    let (lens, targets) = ([8, 7], [vec![1, 1, 3, 4], vec![2, 2, 2]]);
    let grad = |logits: bool, mode: Mode| {
        let var = Var::from_vec(x.clone(), (b, t, v), &Device::Cpu).unwrap();
        let h = if logits {
            var.as_tensor().clone()
        } else {
            candle_nn::ops::log_softmax(var.as_tensor(), D::Minus1).unwrap()
        };
        let out =
            ctc_loss_with_mode(&h, &lens, &targets, &opts(Reduction::Sum, logits), mode).unwrap();
        let g = out.loss.backward().unwrap();
        g.get(&var)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let fused = grad(true, Mode::Auto);
    for other in [
        grad(false, Mode::Auto),
        grad(true, Mode::LogSpace),
        grad(false, Mode::LogSpace),
    ] {
        for (a, o) in fused.iter().zip(&other) {
            assert!((a - o).abs() < 1e-5, "{a} vs {o}");
        }
    }
}

#[test]
fn padding_does_not_leak_and_reductions_agree() {
    let (t, v) = (5, 4);
    let mut rng = Rng::new(5);
    let utts: Vec<Vec<f32>> = (0..3)
        .map(|_| (0..t * v).map(|_| rng.normal() as f32).collect())
        .collect();
    let lens = [5, 3, 4];
    let targets = [vec![1, 2], vec![3, 3], vec![2]];
    let single = |i: usize| {
        let var = Var::from_vec(
            utts[i][..lens[i] * v].to_vec(),
            (1, lens[i], v),
            &Device::Cpu,
        )
        .unwrap();
        let out = ctc_loss(
            var.as_tensor(),
            &lens[i..=i],
            &targets[i..=i],
            &opts(Reduction::Sum, true),
        )
        .unwrap();
        let g = out
            .loss
            .backward()
            .unwrap()
            .get(&var)
            .unwrap()
            .flatten_all()
            .unwrap();
        (out.per_utt[0], g.to_vec1::<f32>().unwrap())
    };
    // Padded frames hold large garbage: it must not reach any loss or gradient.
    let mut batch = Vec::new();
    for (i, u) in utts.iter().enumerate() {
        let mut u = u.clone();
        for x in &mut u[lens[i] * v..] {
            *x = 50.0 * rng.normal() as f32;
        }
        batch.extend(u);
    }
    let var = Var::from_vec(batch, (3, t, v), &Device::Cpu).unwrap();
    let out = ctc_loss(
        var.as_tensor(),
        &lens,
        &targets,
        &opts(Reduction::Sum, true),
    )
    .unwrap();
    let g = out
        .loss
        .backward()
        .unwrap()
        .get(&var)
        .unwrap()
        .to_vec3::<f32>()
        .unwrap();
    for i in 0..3 {
        let (loss, grad) = single(i);
        assert!(close(out.per_utt[i] as f64, loss as f64, 1e-6));
        let flat: Vec<f32> = g[i].iter().flatten().copied().collect();
        assert_eq!(&flat[..lens[i] * v], &grad[..]);
        assert!(flat[lens[i] * v..].iter().all(|&x| x == 0.0));
    }
    let run = |r| {
        ctc_loss(var.as_tensor(), &lens, &targets, &opts(r, true))
            .unwrap()
            .loss
    };
    let none = run(Reduction::None).to_vec1::<f32>().unwrap();
    assert_eq!(none, out.per_utt);
    let sum: f32 = none.iter().sum();
    assert!(close(
        run(Reduction::Sum).to_scalar::<f32>().unwrap() as f64,
        sum as f64,
        1e-6
    ));
    let mean = (none[0] / 2.0 + none[1] / 2.0 + none[2] / 1.0) / 3.0;
    assert!(close(
        run(Reduction::Mean).to_scalar::<f32>().unwrap() as f64,
        mean as f64,
        1e-6
    ));
}

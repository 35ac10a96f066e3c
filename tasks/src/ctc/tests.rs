//! CTC loss tests against brute force, hand-computed values and finite differences.

use candle_core::{Device, Tensor, Var, D};

use super::kernel::Mode;
use super::loss::ctc_loss_with_mode;
use super::*;
use crate::Rng;

const LN2: f64 = std::f64::consts::LN_2;

fn opts(reduction: Reduction, logits: bool) -> CtcOptions {
    CtcOptions {
        reduction,
        zero_infinity: false,
        inputs_are_logits: logits,
    }
}

fn log_softmax_rows(x: &[f32], v: usize) -> Vec<f64> {
    x.chunks_exact(v)
        .flat_map(|row| {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            let z = m + row.iter().map(|&r| (r as f64 - m).exp()).sum::<f64>().ln();
            row.iter().map(move |&r| r as f64 - z)
        })
        .collect()
}

/// -ln of the summed probability of every path over `v^t` classes that collapses to `target`.
fn brute_nll(lp: &[f64], t: usize, v: usize, target: &[u32]) -> f64 {
    let mut p = 0.0;
    for code in 0..v.pow(t as u32) {
        let path: Vec<u32> = (0..t).map(|f| (code / v.pow(f as u32) % v) as u32).collect();
        if collapse(&path) == target {
            p += path.iter().enumerate().map(|(f, &k)| lp[f * v + k as usize]).sum::<f64>().exp();
        }
    }
    -p.ln()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a == b) || (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-3)
}

#[test]
fn loss_matches_brute_force_over_all_paths() {
    let mut rng = Rng::new(1);
    for trial in 0..60 {
        let v = 2 + rng.below(3);
        let t_max = 1 + rng.below(6);
        let b = 1 + rng.below(3);
        let x: Vec<f32> = (0..b * t_max * v).map(|_| (1.5 * rng.normal()) as f32).collect();
        let lens: Vec<usize> = (0..b).map(|_| 1 + rng.below(t_max)).collect();
        // Small V' makes repeated labels common; lengths from 0 up to (sometimes past) feasible.
        let targets: Vec<Vec<u32>> = (0..b)
            .map(|_| (0..rng.below(4)).map(|_| 1 + rng.below(v - 1) as u32).collect())
            .collect();
        let lp = log_softmax_rows(&x, v);
        let lp32: Vec<f32> = lp.iter().map(|&l| l as f32).collect();
        for mode in [Mode::Auto, Mode::LogSpace] {
            for logits in [true, false] {
                let data = if logits { x.clone() } else { lp32.clone() };
                let input = Tensor::from_vec(data, (b, t_max, v), &Device::Cpu).unwrap();
                let out = ctc_loss_with_mode(&input, &lens, &targets, &opts(Reduction::None, logits), mode).unwrap();
                for i in 0..b {
                    let frames = &lp[i * t_max * v..(i * t_max + lens[i]) * v];
                    let want = brute_nll(frames, lens[i], v, &targets[i]);
                    let got = out.per_utt[i] as f64;
                    assert!(
                        close(got, want, 1e-5),
                        "trial {trial} {mode:?} logits={logits} utt {i}: {got} vs brute {want} (target {:?}, len {})",
                        targets[i],
                        lens[i]
                    );
                }
                let want_inf = (0..b).filter(|&i| lens[i] < min_frames(&targets[i])).count();
                assert_eq!(out.infeasible, want_inf);
            }
        }
    }
}

#[test]
fn known_values_with_uniform_posteriors() {
    let uniform = |b: usize, t: usize| Tensor::zeros((b, t, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
    for t in 1..=5 {
        let out = ctc_loss(&uniform(1, t), &[t], &[vec![]], &opts(Reduction::None, true)).unwrap();
        assert!(close(out.per_utt[0] as f64, t as f64 * LN2, 1e-6));
    }
    // Only the path 1,0,1 collapses to [1, 1] in three frames.
    let out = ctc_loss(&uniform(1, 3), &[3], &[vec![1, 1]], &opts(Reduction::None, true)).unwrap();
    assert!(close(out.per_utt[0] as f64, 3.0 * LN2, 1e-6));
    assert_eq!(out.infeasible, 0);

    let var = Var::from_tensor(&uniform(2, 3)).unwrap();
    let targets = [vec![1, 1], vec![1, 1]];
    let out = ctc_loss(var.as_tensor(), &[2, 3], &targets, &opts(Reduction::Sum, true)).unwrap();
    assert_eq!(out.per_utt[0], f32::INFINITY);
    assert_eq!(out.infeasible, 1);
    assert_eq!(out.loss.to_scalar::<f32>().unwrap(), f32::INFINITY);

    let zi = CtcOptions {
        zero_infinity: true,
        ..opts(Reduction::Mean, true)
    };
    let out = ctc_loss(var.as_tensor(), &[2, 3], &targets, &zi).unwrap();
    assert_eq!(out.per_utt[0], 0.0);
    assert_eq!(out.infeasible, 1);
    let mean = out.loss.to_scalar::<f32>().unwrap() as f64;
    assert!(close(mean, 3.0 * LN2 / 2.0 / 2.0, 1e-6));
    let grads = out.loss.backward().unwrap();
    let g = grads.get(&var).unwrap().to_vec3::<f32>().unwrap();
    assert!(g[0].iter().flatten().all(|&x| x == 0.0), "infeasible utterance got gradient");
    assert!(g[1].iter().flatten().any(|&x| x != 0.0));
}

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
        let h = if logits { h } else { candle_nn::ops::log_softmax(&h, D::Minus1).unwrap() };
        ctc_loss(&h, &lens, &targets, &o).unwrap().loss
    };
    let var = Var::from_vec(x.clone(), (b, t, v), &Device::Cpu).unwrap();
    let grads = loss_of(var.as_tensor()).backward().unwrap();
    let g = grads.get(&var).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let fd = finite_diff(&x, |y| {
        let t_in = Tensor::from_vec(y.to_vec(), (b, t, v), &Device::Cpu).unwrap();
        loss_of(&t_in).to_scalar::<f32>().unwrap()
    });
    for (i, (&a, &n)) in g.iter().zip(&fd).enumerate() {
        assert!((a as f64 - n).abs() < 2e-3, "logits={logits} elem {i}: autograd {a} vs fd {n}");
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
    let x: Vec<f32> = (0..b * t * v).map(|_| (2.0 * rng.normal()) as f32).collect();
    let (lens, targets) = ([8, 7], [vec![1, 1, 3, 4], vec![2, 2, 2]]);
    let grad = |logits: bool, mode: Mode| {
        let var = Var::from_vec(x.clone(), (b, t, v), &Device::Cpu).unwrap();
        let h = if logits {
            var.as_tensor().clone()
        } else {
            candle_nn::ops::log_softmax(var.as_tensor(), D::Minus1).unwrap()
        };
        let out = ctc_loss_with_mode(&h, &lens, &targets, &opts(Reduction::Sum, logits), mode).unwrap();
        let g = out.loss.backward().unwrap();
        g.get(&var).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
    };
    let fused = grad(true, Mode::Auto);
    for other in [grad(false, Mode::Auto), grad(true, Mode::LogSpace), grad(false, Mode::LogSpace)] {
        for (a, o) in fused.iter().zip(&other) {
            assert!((a - o).abs() < 1e-5, "{a} vs {o}");
        }
    }
}

#[test]
fn padding_does_not_leak_and_reductions_agree() {
    let (t, v) = (5, 4);
    let mut rng = Rng::new(5);
    let utts: Vec<Vec<f32>> = (0..3).map(|_| (0..t * v).map(|_| rng.normal() as f32).collect()).collect();
    let lens = [5, 3, 4];
    let targets = [vec![1, 2], vec![3, 3], vec![2]];
    let single = |i: usize| {
        let var = Var::from_vec(utts[i][..lens[i] * v].to_vec(), (1, lens[i], v), &Device::Cpu).unwrap();
        let out = ctc_loss(var.as_tensor(), &lens[i..=i], &targets[i..=i], &opts(Reduction::Sum, true)).unwrap();
        let g = out.loss.backward().unwrap().get(&var).unwrap().flatten_all().unwrap();
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
    let out = ctc_loss(var.as_tensor(), &lens, &targets, &opts(Reduction::Sum, true)).unwrap();
    let g = out.loss.backward().unwrap().get(&var).unwrap().to_vec3::<f32>().unwrap();
    for i in 0..3 {
        let (loss, grad) = single(i);
        assert!(close(out.per_utt[i] as f64, loss as f64, 1e-6));
        let flat: Vec<f32> = g[i].iter().flatten().copied().collect();
        assert_eq!(&flat[..lens[i] * v], &grad[..]);
        assert!(flat[lens[i] * v..].iter().all(|&x| x == 0.0));
    }
    let run = |r| ctc_loss(var.as_tensor(), &lens, &targets, &opts(r, true)).unwrap().loss;
    let none = run(Reduction::None).to_vec1::<f32>().unwrap();
    assert_eq!(none, out.per_utt);
    let sum: f32 = none.iter().sum();
    assert!(close(run(Reduction::Sum).to_scalar::<f32>().unwrap() as f64, sum as f64, 1e-6));
    let mean = (none[0] / 2.0 + none[1] / 2.0 + none[2] / 1.0) / 3.0;
    assert!(close(run(Reduction::Mean).to_scalar::<f32>().unwrap() as f64, mean as f64, 1e-6));
}

#[test]
fn extreme_logits_fall_back_to_log_space_without_nan() {
    // Blank and label 1 sit 800 nats below class 2, beyond f64's range once exponentiated;
    // every path has log-probability 4 * -800 and 10 paths of 4 frames collapse to [1].
    let mut x = vec![-800f32, -800.0, 0.0];
    x = x.repeat(4);
    let var = Var::from_vec(x, (1, 4, 3), &Device::Cpu).unwrap();
    let out = ctc_loss(var.as_tensor(), &[4], &[vec![1]], &opts(Reduction::Sum, true)).unwrap();
    let want = 3200.0 - 10f64.ln();
    assert!(close(out.per_utt[0] as f64, want, 1e-6), "{} vs {want}", out.per_utt[0]);
    let g = out.loss.backward().unwrap().get(&var).unwrap().to_vec3::<f32>().unwrap();
    for row in &g[0] {
        assert!(row.iter().all(|x| x.is_finite()));
        assert!(row.iter().sum::<f32>().abs() < 1e-5);
        assert!((row[2] - 1.0).abs() < 1e-6);
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let x = Tensor::zeros((1, 3, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    let o = CtcOptions::default();
    assert!(ctc_loss(&x, &[4], &[vec![1]], &o).is_err());
    assert!(ctc_loss(&x, &[3], &[vec![3]], &o).is_err());
    assert!(ctc_loss(&x, &[3], &[vec![0]], &o).is_err());
    assert!(ctc_loss(&x, &[3, 3], &[vec![1]], &o).is_err());
    let nan = Tensor::from_vec(vec![0.0, f32::NAN, 0.0], (1, 1, 3), &Device::Cpu).unwrap();
    let err = ctc_loss(&nan, &[1], &[vec![]], &o).unwrap_err().to_string();
    assert!(err.contains("utterance 0") && err.contains("frame 0"), "{err}");
}

#[test]
fn untracked_input_gives_the_same_losses() {
    let mut rng = Rng::new(6);
    let x: Vec<f32> = (0..2 * 6 * 3).map(|_| rng.normal() as f32).collect();
    let t = Tensor::from_vec(x, (2, 6, 3), &Device::Cpu).unwrap();
    let var = Var::from_tensor(&t).unwrap();
    let (lens, targets) = ([6, 5], [vec![1, 2, 1], vec![2, 2]]);
    let a = ctc_loss(&t, &lens, &targets, &CtcOptions::default()).unwrap();
    let b = ctc_loss(var.as_tensor(), &lens, &targets, &CtcOptions::default()).unwrap();
    assert_eq!(a.per_utt, b.per_utt);
}

#[test]
fn padded_targets_unpad() {
    let t = Tensor::new(&[[1u32, 2, 0], [3, 0, 0]], &Device::Cpu).unwrap();
    assert_eq!(targets_from_padded(&t, &[2, 1]).unwrap(), vec![vec![1, 2], vec![3]]);
    assert!(targets_from_padded(&t, &[4, 1]).is_err());
}

#[test]
fn wide_beam_search_finds_the_most_probable_labelling() {
    let mut rng = Rng::new(8);
    let (t, v) = (4, 3);
    for _ in 0..30 {
        let x: Vec<f32> = (0..t * v).map(|_| rng.normal() as f32).collect();
        let lp = log_softmax_rows(&x, v);
        // Every labelling of up to 4 labels over {1, 2}, scored by brute force.
        let mut best = (f64::INFINITY, Vec::new());
        for len in 0..=t {
            for code in 0..2usize.pow(len as u32) {
                let y: Vec<u32> = (0..len).map(|i| 1 + (code >> i & 1) as u32).collect();
                let nll = brute_nll(&lp, t, v, &y);
                if nll < best.0 {
                    best = (nll, y);
                }
            }
        }
        // 31 prefixes exist, so a beam of 64 never prunes and the search is exact.
        assert_eq!(prefix_beam_search(&x, t, v, 64), best.1);
    }
}

//! CTC loss values against brute force and hand-computed values; edge cases and errors.

use candle_core::{Device, Tensor, Var};

use super::kernel::Mode;
use super::loss::ctc_loss_with_mode;
use super::*;
use crate::Rng;

const LN2: f64 = std::f64::consts::LN_2;

pub(super) fn opts(reduction: Reduction, logits: bool) -> CtcOptions {
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
        let path: Vec<u32> = (0..t)
            .map(|f| (code / v.pow(f as u32) % v) as u32)
            .collect();
        if collapse(&path) == target {
            p += path
                .iter()
                .enumerate()
                .map(|(f, &k)| lp[f * v + k as usize])
                .sum::<f64>()
                .exp();
        }
    }
    -p.ln()
}

pub(super) fn close(a: f64, b: f64, rel: f64) -> bool {
    (a == b) || (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-3)
}

#[test]
fn loss_matches_brute_force_over_all_paths() {
    let mut rng = Rng::new(1);
    for trial in 0..60 {
        let v = 2 + rng.below(3);
        let t_max = 1 + rng.below(6);
        let b = 1 + rng.below(3);
        let x: Vec<f32> = (0..b * t_max * v)
            .map(|_| (1.5 * rng.normal()) as f32)
            .collect();
        let lens: Vec<usize> = (0..b).map(|_| 1 + rng.below(t_max)).collect();
        // Small V' makes repeated labels common; lengths from 0 up to (sometimes past) feasible.
        let targets: Vec<Vec<u32>> = (0..b)
            .map(|_| {
                (0..rng.below(4))
                    .map(|_| 1 + rng.below(v - 1) as u32)
                    .collect()
            })
            .collect();
        let lp = log_softmax_rows(&x, v);
        let lp32: Vec<f32> = lp.iter().map(|&l| l as f32).collect();
        for mode in [Mode::Auto, Mode::LogSpace] {
            for logits in [true, false] {
                let data = if logits { x.clone() } else { lp32.clone() };
                let input = Tensor::from_vec(data, (b, t_max, v), &Device::Cpu).unwrap();
                let out = ctc_loss_with_mode(
                    &input,
                    &lens,
                    &targets,
                    &opts(Reduction::None, logits),
                    mode,
                )
                .unwrap();
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
                let want_inf = (0..b)
                    .filter(|&i| lens[i] < min_frames(&targets[i]))
                    .count();
                assert_eq!(out.infeasible, want_inf);
            }
        }
    }
}

#[test]
fn known_values_with_uniform_posteriors() {
    let uniform = |b: usize, t: usize| {
        Tensor::zeros((b, t, 2), candle_core::DType::F32, &Device::Cpu).unwrap()
    };
    for t in 1..=5 {
        let out = ctc_loss(
            &uniform(1, t),
            &[t],
            &[vec![]],
            &opts(Reduction::None, true),
        )
        .unwrap();
        assert!(close(out.per_utt[0] as f64, t as f64 * LN2, 1e-6));
    }
    // Zero frames emit exactly the empty sequence, also when the whole batch has T = 0.
    let out = ctc_loss(
        &uniform(2, 3),
        &[0, 0],
        &[vec![], vec![1]],
        &opts(Reduction::None, true),
    )
    .unwrap();
    assert_eq!(out.per_utt, vec![0.0, f32::INFINITY]);
    let empty = Var::from_tensor(&uniform(1, 0)).unwrap();
    let out = ctc_loss(
        empty.as_tensor(),
        &[0],
        &[vec![]],
        &opts(Reduction::Sum, true),
    )
    .unwrap();
    assert_eq!(out.per_utt, vec![0.0]);
    assert_eq!(
        out.loss.backward().unwrap().get(&empty).unwrap().dims(),
        &[1, 0, 2]
    );
    // Only the path 1,0,1 collapses to [1, 1] in three frames.
    let out = ctc_loss(
        &uniform(1, 3),
        &[3],
        &[vec![1, 1]],
        &opts(Reduction::None, true),
    )
    .unwrap();
    assert!(close(out.per_utt[0] as f64, 3.0 * LN2, 1e-6));
    assert_eq!(out.infeasible, 0);

    let var = Var::from_tensor(&uniform(2, 3)).unwrap();
    let targets = [vec![1, 1], vec![1, 1]];
    let out = ctc_loss(
        var.as_tensor(),
        &[2, 3],
        &targets,
        &opts(Reduction::Sum, true),
    )
    .unwrap();
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
    assert!(
        g[0].iter().flatten().all(|&x| x == 0.0),
        "infeasible utterance got gradient"
    );
    assert!(g[1].iter().flatten().any(|&x| x != 0.0));
}

#[test]
fn extreme_logits_fall_back_to_log_space_without_nan() {
    // Blank and label 1 sit 800 nats below class 2, beyond f64's range once exponentiated;
    // every path has log-probability 4 * -800 and 10 paths of 4 frames collapse to [1].
    let mut x = vec![-800f32, -800.0, 0.0];
    x = x.repeat(4);
    let var = Var::from_vec(x, (1, 4, 3), &Device::Cpu).unwrap();
    let out = ctc_loss(
        var.as_tensor(),
        &[4],
        &[vec![1]],
        &opts(Reduction::Sum, true),
    )
    .unwrap();
    let want = 3200.0 - 10f64.ln();
    assert!(
        close(out.per_utt[0] as f64, want, 1e-6),
        "{} vs {want}",
        out.per_utt[0]
    );
    let g = out
        .loss
        .backward()
        .unwrap()
        .get(&var)
        .unwrap()
        .to_vec3::<f32>()
        .unwrap();
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
    assert!(
        err.contains("utterance 0") && err.contains("frame 0"),
        "{err}"
    );
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

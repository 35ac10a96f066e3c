use super::*;
use crate::losses::testutil::{check_grad, grad, kl_ref, scalar, softmax_ref, tensor};
use candle_core::{Tensor, Var};
use ctc_core::Rng;

// B=2, T=3, V'=3; example 1 has 2 valid frames.
const ZS: [f64; 18] = [
    0.2, -1.0, 0.5, 1.5, 0.3, -0.7, -0.2, 0.9, 0.1, // b0
    0.0, 2.0, -1.0, 0.4, 0.4, 1.2, 3.0, -2.0, 0.7, // b1 (last frame padding)
];
const ZT: [f64; 18] = [
    2.0, 0.1, -0.3, -0.5, 1.7, 0.2, 0.3, 0.2, 1.1, // argmax 0, 1, 2
    1.0, 0.0, -1.0, -0.2, 0.1, 2.5, 0.0, 5.0, 0.0, // argmax 0, 2, (padding)
];
const LENS: [usize; 2] = [3, 2];

/// f64 reference: tau^2 * mean over the kept frames of KL(q_T || q_S).
fn reference(tau: f64, drop_blank: bool) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (b, &len) in LENS.iter().enumerate() {
        for t in 0..len {
            let o = (b * 3 + t) * 3;
            let (zs, zt) = (&ZS[o..o + 3], &ZT[o..o + 3]);
            let argmax = (0..3).max_by(|&i, &j| zt[i].total_cmp(&zt[j])).unwrap();
            if drop_blank && argmax == 0 {
                continue;
            }
            sum += kl_ref(&softmax_ref(zt, tau), &softmax_ref(zs, tau));
            n += 1;
        }
    }
    tau * tau * sum / n as f64
}

fn inputs() -> (Tensor, Tensor) {
    (tensor(&ZS, (2, 3, 3)), tensor(&ZT, (2, 3, 3)))
}

#[test]
fn kl_of_one_frame_by_hand() {
    // q_S = (1/2, 1/2), p_T = (3/4, 1/4): KL = 3/4 ln(3/2) + 1/4 ln(1/2).
    let s = tensor(&[0.0, 0.0], (1, 1, 2));
    let t = tensor(&[3f64.ln(), 0.0], (1, 1, 2));
    let expected = 0.75 * 1.5f64.ln() + 0.25 * 0.5f64.ln();
    let got = scalar(&frame_kd(&s, &t, &[1], 1.0, false).unwrap());
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    // tau = 2 tempers both sides and multiplies by 4.
    let q = softmax_ref(&[3f64.ln(), 0.0], 2.0);
    let expected2 = 4.0 * kl_ref(&q, &[0.5, 0.5]);
    let got2 = scalar(&soft_kl(&s, &t, &[1], 2.0).unwrap());
    assert!((got2 - expected2).abs() < 1e-12, "{got2} vs {expected2}");
}

#[test]
fn soft_kl_and_frame_kd_match_reference() {
    let (s, t) = inputs();
    for tau in [1.0, 2.0, 5.0] {
        let got = scalar(&soft_kl(&s, &t, &LENS, tau).unwrap());
        assert!((got - reference(tau, false)).abs() < 1e-12);
    }
    let kept = scalar(&frame_kd(&s, &t, &LENS, 1.0, true).unwrap());
    assert!((kept - reference(1.0, true)).abs() < 1e-12);
    // Dropping blank frames really changes the value here (3 of 5 frames kept).
    assert!((kept - reference(1.0, false)).abs() > 1e-3);
    // f32 gives the same value to single precision.
    let s32 = s.to_dtype(candle_core::DType::F32).unwrap();
    let t32 = t.to_dtype(candle_core::DType::F32).unwrap();
    let got32 = scalar(&frame_kd(&s32, &t32, &LENS, 1.0, false).unwrap());
    assert!((got32 - reference(1.0, false)).abs() < 1e-5);
    // An f32 student against an f64 (e.g. cached) teacher computes in the student's dtype.
    let mixed = frame_kd(&s32, &t, &LENS, 1.0, true).unwrap();
    assert_eq!(mixed.dtype(), candle_core::DType::F32);
    assert!((scalar(&mixed) - reference(1.0, true)).abs() < 1e-5);
}

#[test]
fn hinton_combines_soft_and_hard() {
    let (s, t) = inputs();
    let hard = tensor(&[7.25], ());
    let got = scalar(&hinton(&s, &t, &LENS, 2.0, 0.3, &hard).unwrap());
    let expected = 0.3 * reference(2.0, false) + 0.7 * 7.25;
    assert!((got - expected).abs() < 1e-12);
    assert!(hinton(&s, &t, &LENS, 2.0, 1.5, &hard).is_err());
}

#[test]
fn gradients_match_finite_differences() {
    let (s, t) = inputs();
    let fkd = |x: &Tensor| frame_kd(x, &t, &LENS, 1.0, false);
    check_grad(&fkd, &s, 1e-5, 1e-7);
    let fkd_nb = |x: &Tensor| frame_kd(x, &t, &LENS, 1.5, true);
    check_grad(&fkd_nb, &s, 1e-5, 1e-7);
    let soft = |x: &Tensor| soft_kl(x, &t, &LENS, 3.0);
    check_grad(&soft, &s, 1e-5, 1e-7);
    let hard = tensor(&[2.0], ());
    let hin = |x: &Tensor| hinton(x, &t, &LENS, 2.0, 0.5, &hard);
    check_grad(&hin, &s, 1e-5, 1e-7);
}

#[test]
fn padding_changes_neither_loss_nor_gradient() {
    let (s, t) = inputs();
    let mut zs = ZS;
    let mut zt = ZT;
    // Padded frame of example 1: frame 2, offsets 15..18.
    zs[15..18].copy_from_slice(&[1e4, f64::NAN, -3.0]);
    zt[15..18].copy_from_slice(&[f64::INFINITY, 0.0, 9.0]);
    let (s2, t2) = (tensor(&zs, (2, 3, 3)), tensor(&zt, (2, 3, 3)));
    for drop in [false, true] {
        let (l1, g1) = grad(&|x: &Tensor| frame_kd(x, &t, &LENS, 2.0, drop), &s);
        let (l2, g2) = grad(&|x: &Tensor| frame_kd(x, &t2, &LENS, 2.0, drop), &s2);
        assert_eq!(l1, l2);
        assert_eq!(g1, g2);
        assert!(g2[15..18].iter().all(|g| *g == 0.0));
    }
}

#[test]
fn tau_squared_keeps_gradient_scale() {
    let mut rng = Rng::new(7);
    let (b, t, v) = (2, 5, 6);
    let n = b * t * v;
    let zs: Vec<f64> = (0..n).map(|_| 2.0 * rng.normal()).collect();
    let zt: Vec<f64> = (0..n).map(|_| 2.0 * rng.normal()).collect();
    let (s, te) = (tensor(&zs, (b, t, v)), tensor(&zt, (b, t, v)));
    let lens = [5, 3];
    let norm = |tau: f64| {
        let (_, g) = grad(&|x: &Tensor| soft_kl(x, &te, &lens, tau), &s);
        g.iter().map(|x| x * x).sum::<f64>().sqrt()
    };
    let (g20, g40) = (norm(20.0), norm(40.0));
    let ratio = g40 / g20;
    // Without the tau^2 factor this ratio would be ~1/4.
    assert!((ratio - 1.0).abs() < 0.03, "|g(40)|/|g(20)| = {ratio}");
}

#[test]
fn no_gradient_reaches_the_teacher() {
    let (s, t) = inputs();
    let sv = Var::from_tensor(&s).unwrap();
    let tv = Var::from_tensor(&t).unwrap();
    let hard = tensor(&[1.0], ());
    let loss = (frame_kd(sv.as_tensor(), tv.as_tensor(), &LENS, 1.0, true).unwrap()
        + hinton(sv.as_tensor(), tv.as_tensor(), &LENS, 2.0, 0.5, &hard).unwrap())
    .unwrap();
    let grads = loss.backward().unwrap();
    assert!(grads.get(sv.as_tensor()).is_some());
    if let Some(g) = grads.get(tv.as_tensor()) {
        assert_eq!(scalar(&g.abs().unwrap().sum_all().unwrap()), 0.0);
    }
}

#[test]
fn bad_inputs_are_errors() {
    let (s, t) = inputs();
    assert!(frame_kd(&s, &t, &[3], 1.0, false).is_err());
    assert!(frame_kd(&s, &t, &[3, 4], 1.0, false).is_err());
    assert!(frame_kd(&s, &t, &LENS, 0.0, false).is_err());
    let t2 = tensor(&ZT[..12], (2, 3, 2));
    assert!(soft_kl(&s, &t2, &LENS, 1.0).is_err());
    // All frames blank and dropped: nothing contributes, the loss is 0.
    let blank = tensor(&[5.0, 0.0, 0.0, 5.0, 0.0, 0.0], (1, 2, 3));
    let st = tensor(&[0.0, 1.0, 0.0, 0.0, 0.0, 1.0], (1, 2, 3));
    assert_eq!(
        scalar(&frame_kd(&st, &blank, &[2], 1.0, true).unwrap()),
        0.0
    );
}

/// f64 reference of the per-label reduction: per example tau^2 * the sum of KL over its kept
/// frames divided by its label count `labels[b]`, averaged over the batch.
fn reference_per_label(tau: f64, drop_blank: bool, labels: [usize; 2]) -> f64 {
    let mut total = 0.0;
    for (b, &len) in LENS.iter().enumerate() {
        let mut sum = 0.0;
        for t in 0..len {
            let o = (b * 3 + t) * 3;
            let (zs, zt) = (&ZS[o..o + 3], &ZT[o..o + 3]);
            let argmax = (0..3).max_by(|&i, &j| zt[i].total_cmp(&zt[j])).unwrap();
            if drop_blank && argmax == 0 {
                continue;
            }
            sum += kl_ref(&softmax_ref(zt, tau), &softmax_ref(zs, tau));
        }
        total += tau * tau * sum / labels[b] as f64;
    }
    total / 2.0
}

#[test]
fn per_label_reduction_matches_reference_values_and_gradients() {
    let (s, t) = inputs();
    let labels = [2usize, 1];
    let norm = Norm::PerLabel(labels.to_vec());
    for (tau, drop) in [(1.0, false), (2.0, false), (1.0, true)] {
        let got = scalar(&frame_kd_norm(&s, &t, &LENS, tau, drop, &norm).unwrap());
        let want = reference_per_label(tau, drop, labels);
        assert!(
            (got - want).abs() < 1e-12,
            "tau {tau} drop {drop}: {got} vs {want}"
        );
    }
    // Even with as many labels as frames it is not the frame mean: it weighs examples
    // equally (a mean of per-example means), not frames.
    let same = Norm::PerLabel(LENS.to_vec());
    let per_label = scalar(&frame_kd_norm(&s, &t, &LENS, 1.0, false, &same).unwrap());
    let frames = scalar(&frame_kd(&s, &t, &LENS, 1.0, false).unwrap());
    assert!((per_label - frames).abs() > 1e-6, "{per_label} {frames}");
    let f = |x: &Tensor| frame_kd_norm(x, &t, &LENS, 2.0, false, &norm);
    check_grad(&f, &s, 1e-6, 1e-7);
    // Hinton's soft term uses the same reduction.
    let hard = tensor(&[0.7], (1,));
    let h = scalar(&hinton_norm(&s, &t, &LENS, 2.0, 0.25, &hard, &norm).unwrap());
    let want = 0.25 * reference_per_label(2.0, false, labels) + 0.75 * 0.7;
    assert!((h - want).abs() < 1e-12, "{h} vs {want}");
    let e = frame_kd_norm(&s, &t, &LENS, 1.0, false, &Norm::PerLabel(vec![1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("1 label counts for a batch of 2"), "{e}");
}

//! Guided CTC (Kurata & Audhkhasi, Interspeech 2019): the student is pushed to put probability
//! on the teacher's best class at every frame, which aligns the student's CTC spikes with the
//! teacher's (plain frame KD cannot, because CTC spike timings differ between models).

use candle_core::{DType, Result, Tensor, D};
use candle_nn::ops::softmax;

use super::{check_lens, check_pair, frame_mask, reduce_frames, zero_padding, Norm};

/// The guiding mask M, `(B, T, V')` in the teacher's dtype: M[b, t, k] = 1 where
/// k = argmax_k' z_T[b, t, k'] (ties: the lowest index), for valid frames only; with
/// `exclude_blank`, rows whose argmax is the blank (class 0) are all zero. Detached.
pub fn guided_mask(teacher: &Tensor, lens: &[usize], exclude_blank: bool) -> Result<Tensor> {
    if teacher.rank() != 3 {
        candle_core::bail!(
            "guided_mask: teacher logits must be (B, T, V'), got {:?}",
            teacher.dims()
        );
    }
    let (_, t) = check_lens("guided_mask", teacher, lens)?;
    let (dtype, dev) = (teacher.dtype(), teacher.device());
    let v = teacher.dim(2)?;
    let best = teacher.detach().argmax_keepdim(D::Minus1)?; // (B, T, 1) u32
    let classes = Tensor::arange(0u32, v as u32, dev)?.reshape((1, 1, v))?;
    let one_hot = best.broadcast_eq(&classes)?.to_dtype(dtype)?;
    let mut rows = frame_mask(lens, t, dtype, dev)?;
    if exclude_blank {
        rows = (rows * best.squeeze(D::Minus1)?.ne(0u32)?.to_dtype(dtype)?)?;
    }
    one_hot.broadcast_mul(&rows.unsqueeze(D::Minus1)?)
}

/// Guided CTC term: `-(1/N) * sum_{b,t,k} M[b,t,k] * P_S(k | b, t)` with M = `guided_mask`,
/// P_S = softmax of the student logits (probabilities, as in the paper, not log-probabilities)
/// and N the number of frames with a non-zero mask row (valid frames, minus blank-argmax frames
/// when `exclude_blank`); 0 when N = 0. The value lies in [-1, 0]. Kurata & Audhkhasi add the
/// unnormalised sum over frames to the CTC loss with weight 1: `guided_ctc_norm` with
/// `Norm::PerLabel` keeps that ratio to a CTC loss reduced per label. Returns a scalar.
pub fn guided_ctc(
    student: &Tensor,
    teacher: &Tensor,
    lens: &[usize],
    exclude_blank: bool,
) -> Result<Tensor> {
    guided_ctc_norm(student, teacher, lens, exclude_blank, &Norm::Frames)
}

/// `guided_ctc` with the sum over guided frames reduced by `norm` instead of divided by N.
pub fn guided_ctc_norm(
    student: &Tensor,
    teacher: &Tensor,
    lens: &[usize],
    exclude_blank: bool,
    norm: &Norm,
) -> Result<Tensor> {
    let (_, t, _) = check_pair("guided_ctc", student, teacher, lens)?;
    let mask = guided_mask(teacher, lens, exclude_blank)?.to_dtype(student.dtype())?;
    let valid = frame_mask(lens, t, DType::U8, student.device())?;
    let p_s = softmax(&zero_padding(student, &valid)?, D::Minus1)?;
    let picked = (p_s * &mask)?.sum(D::Minus1)?; // (B, T)
    let rows = mask.sum(D::Minus1)?; // 1 on guided frames, 0 elsewhere
    reduce_frames(&picked, &rows, norm)?.neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::testutil::{check_grad, grad, scalar, softmax_ref, tensor};
    use candle_core::Var;

    // B=2, T=3, V'=3: teacher argmax per frame 1, 0, 2 | 2, 1, (padding).
    const ZT: [f64; 18] = [
        0.1, 2.0, 0.3, 3.0, 1.0, 0.0, -1.0, 0.0, 0.5, //
        0.0, 0.2, 0.9, 0.0, 4.0, 1.0, 9.0, 0.0, 0.0,
    ];
    const ZS: [f64; 18] = [
        0.5, 0.1, -0.4, 1.0, 0.2, 0.3, 0.0, -1.2, 0.8, //
        -0.3, 0.6, 0.1, 0.7, 0.0, -0.5, 2.0, 1.0, 0.0,
    ];
    const LENS: [usize; 2] = [3, 2];
    const BEST: [usize; 5] = [1, 0, 2, 2, 1];

    #[test]
    fn mask_from_a_known_teacher() {
        let t = tensor(&ZT, (2, 3, 3));
        let m = guided_mask(&t, &LENS, false).unwrap();
        let expected = [
            0., 1., 0., 1., 0., 0., 0., 0., 1., //
            0., 0., 1., 0., 1., 0., 0., 0., 0.,
        ];
        assert_eq!(m.flatten_all().unwrap().to_vec1::<f64>().unwrap(), expected);
        let m = guided_mask(&t, &LENS, true).unwrap();
        let mut expected_nb = expected;
        expected_nb[3] = 0.0; // frame (0, 1) has the blank as argmax
        assert_eq!(
            m.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            expected_nb
        );
    }

    fn reference(exclude_blank: bool) -> f64 {
        let frames = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)];
        let (mut sum, mut n) = (0.0, 0.0);
        for (&(b, t), &k) in frames.iter().zip(&BEST) {
            if exclude_blank && k == 0 {
                continue;
            }
            let o = (b * 3 + t) * 3;
            sum += softmax_ref(&ZS[o..o + 3], 1.0)[k];
            n += 1.0;
        }
        -sum / n
    }

    #[test]
    fn loss_matches_reference() {
        let (s, t) = (tensor(&ZS, (2, 3, 3)), tensor(&ZT, (2, 3, 3)));
        for ex in [false, true] {
            let got = scalar(&guided_ctc(&s, &t, &LENS, ex).unwrap());
            assert!(
                (got - reference(ex)).abs() < 1e-12,
                "{got} vs {}",
                reference(ex)
            );
        }
        // One frame by hand: P_S = softmax(0, ln 3) = (1/4, 3/4), teacher picks class 1.
        let s1 = tensor(&[0.0, 3f64.ln()], (1, 1, 2));
        let t1 = tensor(&[0.0, 1.0], (1, 1, 2));
        let got = scalar(&guided_ctc(&s1, &t1, &[1], false).unwrap());
        assert!((got + 0.75).abs() < 1e-12);
        // An f32 student with an f64 teacher computes in f32.
        let s32 = s.to_dtype(DType::F32).unwrap();
        let got32 = guided_ctc(&s32, &t, &LENS, true).unwrap();
        assert_eq!(got32.dtype(), DType::F32);
        assert!((scalar(&got32) - reference(true)).abs() < 1e-6);
    }

    #[test]
    fn per_label_reduction_sums_each_example_over_its_labels() {
        let (s, t) = (tensor(&ZS, (2, 3, 3)), tensor(&ZT, (2, 3, 3)));
        // Example 0 has 4 labels, example 1 has 1: -(1/2) (sum_0 / 4 + sum_1 / 1).
        let frames = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)];
        for ex in [false, true] {
            let mut sums = [0.0; 2];
            for (&(b, t), &k) in frames.iter().zip(&BEST) {
                if !(ex && k == 0) {
                    sums[b] += softmax_ref(&ZS[(b * 3 + t) * 3..(b * 3 + t) * 3 + 3], 1.0)[k];
                }
            }
            let want = -(sums[0] / 4.0 + sums[1]) / 2.0;
            let norm = Norm::PerLabel(vec![4, 1]);
            let got = scalar(&guided_ctc_norm(&s, &t, &LENS, ex, &norm).unwrap());
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
            let f = |x: &Tensor| guided_ctc_norm(x, &t, &LENS, ex, &norm);
            check_grad(&f, &s, 1e-5, 1e-7);
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (s, t) = (tensor(&ZS, (2, 3, 3)), tensor(&ZT, (2, 3, 3)));
        for ex in [false, true] {
            let f = |x: &Tensor| guided_ctc(x, &t, &LENS, ex);
            check_grad(&f, &s, 1e-5, 1e-7);
        }
    }

    #[test]
    fn padding_and_teacher_are_inert() {
        let (s, t) = (tensor(&ZS, (2, 3, 3)), tensor(&ZT, (2, 3, 3)));
        let (mut zs, mut zt) = (ZS, ZT);
        zs[15..18].copy_from_slice(&[f64::NAN, 50.0, -1e5]);
        zt[15..18].copy_from_slice(&[0.0, f64::INFINITY, 1.0]);
        let (s2, t2) = (tensor(&zs, (2, 3, 3)), tensor(&zt, (2, 3, 3)));
        let (l1, g1) = grad(&|x: &Tensor| guided_ctc(x, &t, &LENS, true), &s);
        let (l2, g2) = grad(&|x: &Tensor| guided_ctc(x, &t2, &LENS, true), &s2);
        assert_eq!((l1, &g1), (l2, &g2));

        let sv = Var::from_tensor(&s).unwrap();
        let tv = Var::from_tensor(&t).unwrap();
        let loss = guided_ctc(sv.as_tensor(), tv.as_tensor(), &LENS, false).unwrap();
        let grads = loss.backward().unwrap();
        assert!(grads.get(sv.as_tensor()).is_some());
        if let Some(g) = grads.get(tv.as_tensor()) {
            assert_eq!(scalar(&g.abs().unwrap().sum_all().unwrap()), 0.0);
        }
    }
}

//! Attention-map KD (stage 1 of the two-stage recipe): match the student's last-layer
//! self-attention map to the teacher's. Maps carry relations between frames, which survive the
//! change of width between models where direct feature matching tends to collapse.

use candle_core::{DType, Result, Tensor};

use super::{check_lens, frame_mask};

/// Mean squared error between head-averaged attention maps:
/// `(1/N) * sum_b sum_{q < lens[b], k < lens[b]} (mean_h A_S[b,h,q,k] - mean_h A_T[b,h,q,k])^2`
/// with N = sum_b lens[b]^2 (the number of valid query/key pairs); 0 when N = 0.
///
/// Heads are **always** averaged on both sides, whether or not the head counts differ: the
/// i-th head of two independently trained models has no reason to correspond, while the
/// average map is comparable. `student_maps` is `(B, Hs, T, T)`, `teacher_maps` `(B, Ht, T, T)`
/// (detached here); both must have the same B and T.
pub fn attention_map_l2(
    student_maps: &Tensor,
    teacher_maps: &Tensor,
    lens: &[usize],
) -> Result<Tensor> {
    let (sd, td) = (student_maps.dims(), teacher_maps.dims());
    if sd.len() != 4 || td.len() != 4 || sd[0] != td[0] || sd[2..] != td[2..] || sd[2] != sd[3] {
        candle_core::bail!(
            "attention_map_l2: maps must be (B, H, T, T) with equal B and T, \
             got student {sd:?} and teacher {td:?}"
        );
    }
    let (b, t) = (sd[0], sd[2]);
    check_lens("attention_map_l2", &student_maps.transpose(1, 2)?, lens)?;
    let frames = frame_mask(lens, t, DType::U8, student_maps.device())?;
    // (B, 1, T, T): query valid and key valid.
    let pairs = frames
        .unsqueeze(2)?
        .broadcast_mul(&frames.unsqueeze(1)?)?
        .unsqueeze(1)?;
    let head_mean = |maps: &Tensor| -> Result<Tensor> {
        let keep = pairs.broadcast_as(maps.shape())?;
        keep.where_cond(maps, &maps.zeros_like()?)?.mean_keepdim(1)
    };
    let s = head_mean(student_maps)?;
    let te = head_mean(&teacher_maps.detach())?.to_dtype(s.dtype())?;
    let n: usize = lens.iter().map(|l| l * l).sum();
    debug_assert_eq!(s.dims(), &[b, 1, t, t]);
    (s - te)?
        .sqr()?
        .sum_all()?
        .affine(1.0 / n.max(1) as f64, 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::testutil::{check_grad, grad, scalar, tensor};
    use candle_core::Var;

    #[test]
    fn matches_hand_computed_value() {
        // B=1, T=2, student has 1 head, teacher 2 heads.
        let s = tensor(&[0.6, 0.4, 0.1, 0.9], (1, 1, 2, 2));
        let t = tensor(&[1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.5, 0.5], (1, 2, 2, 2));
        // Teacher head mean: [[0.5, 0.5], [0.5, 0.5]]; squared errors 0.01, 0.01, 0.16, 0.16.
        let got = scalar(&attention_map_l2(&s, &t, &[2]).unwrap());
        assert!((got - 0.34 / 4.0).abs() < 1e-12, "{got}");
        // Only the (0, 0) pair is valid with length 1.
        let got1 = scalar(&attention_map_l2(&s, &t, &[1]).unwrap());
        assert!((got1 - 0.01).abs() < 1e-12, "{got1}");
    }

    #[test]
    fn two_examples_normalise_by_valid_pairs() {
        // B=2, T=2, 2 student heads, 1 teacher head; example 1 has one valid frame.
        let s = tensor(
            &[
                0.2, 0.8, 0.6, 0.4, 0.4, 0.6, 0.2, 0.8, // b0: head mean [[.3,.7],[.4,.6]]
                0.9, 0.1, 0.3, 0.7, 0.7, 0.3, 5.0, 5.0, // b1: (0,0) mean 0.8, rest padding
            ],
            (2, 2, 2, 2),
        );
        let t = tensor(&[0.5, 0.5, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0], (2, 1, 2, 2));
        let b0 = 0.2f64.powi(2) + 0.2f64.powi(2) + 0.6f64.powi(2) + 0.6f64.powi(2);
        let b1 = 0.2f64.powi(2);
        let got = scalar(&attention_map_l2(&s, &t, &[2, 1]).unwrap());
        assert!((got - (b0 + b1) / 5.0).abs() < 1e-12, "{got}");
    }

    #[test]
    fn gradient_padding_and_teacher() {
        let s = tensor(
            &[0.2, 0.8, 0.6, 0.4, 0.9, 0.1, 0.3, 0.7, 0.7, 0.3, 0.5, 0.5],
            (1, 3, 2, 2),
        );
        let t = tensor(&[0.5, 0.5, 1.0, 0.0], (1, 1, 2, 2));
        let f = |x: &Tensor| attention_map_l2(x, &t, &[2]);
        check_grad(&f, &s, 1e-5, 1e-7);
        // Example with one valid frame: padded rows/columns are inert.
        let (l1, g1) = grad(&|x: &Tensor| attention_map_l2(x, &t, &[1]), &s);
        let mut v = s.flatten_all().unwrap().to_vec1::<f64>().unwrap();
        for h in 0..3 {
            v[h * 4 + 1] = f64::NAN;
            v[h * 4 + 3] = 7.0;
        }
        let s2 = tensor(&v, (1, 3, 2, 2));
        let (l2, g2) = grad(&|x: &Tensor| attention_map_l2(x, &t, &[1]), &s2);
        assert_eq!((l1, &g1), (l2, &g2));

        let (sv, tv) = (Var::from_tensor(&s).unwrap(), Var::from_tensor(&t).unwrap());
        let grads = attention_map_l2(sv.as_tensor(), tv.as_tensor(), &[2])
            .unwrap()
            .backward()
            .unwrap();
        assert!(grads.get(sv.as_tensor()).is_some());
        if let Some(g) = grads.get(tv.as_tensor()) {
            assert_eq!(scalar(&g.abs().unwrap().sum_all().unwrap()), 0.0);
        }
        assert!(attention_map_l2(&s, &t, &[3]).is_err());
        assert!(attention_map_l2(&s, &tensor(&[0.0; 9], (1, 1, 3, 3)), &[2]).is_err());
    }
}

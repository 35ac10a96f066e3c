use candle_core::{DType, Device, Result, Tensor, Var};

use super::{softmax_scaled_biased, softmax_scaled_biased_composite};
use crate::nn::key_padding_bias;
use crate::ops::check::*;
use crate::Rng;

const SCALE: f64 = 0.35;

struct Case {
    scores: Var,
    /// The loss is `sum(y * r)`, so every output element gets a different upstream gradient.
    r: Tensor,
}

impl Case {
    fn new(rng: &mut Rng, dims: &[usize]) -> Self {
        let n: usize = dims.iter().product();
        Self {
            scores: var(randn(rng, n, 0.0, 3.0), dims),
            r: var(randn(rng, n, 0.0, 1.0), dims).as_tensor().clone(),
        }
    }
}

/// `(B, 1, Tq, Tk)` bias with random padded keys; row `(0, 0, 0)` is fully masked if `full`.
fn row_bias(rng: &mut Rng, b: usize, tq: usize, tk: usize, full: bool) -> Tensor {
    let m: Vec<f32> = (0..b * tq * tk)
        .map(|i| {
            let masked = (full && i < tk) || rng.bernoulli(0.3);
            if masked {
                -1e9
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(m, (b, 1, tq, tk), &Device::Cpu).unwrap()
}

type SmFn = fn(&Tensor, f64, Option<&Tensor>) -> Result<Tensor>;

/// Output and the gradient of `sum(y * r)` w.r.t. the scores; the scores are `view(scores)`.
fn run(
    c: &Case,
    bias: Option<&Tensor>,
    f: SmFn,
    view: impl Fn(&Tensor) -> Tensor,
) -> [Vec<f32>; 2] {
    let y = f(&view(c.scores.as_tensor()), SCALE, bias).unwrap();
    let loss = (&y * view(&c.r)).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    [
        values(&y),
        values(grads.get(&c.scores).expect("no gradient")),
    ]
}

fn assert_matches_composite(
    c: &Case,
    bias: Option<&Tensor>,
    view: impl Fn(&Tensor) -> Tensor,
    what: &str,
) {
    let fused = run(c, bias, softmax_scaled_biased, &view);
    let reference = run(c, bias, softmax_scaled_biased_composite, &view);
    for ((f, r), name) in fused.iter().zip(&reference).zip(["y", "dscores"]) {
        assert_close(f, r, 1e-5, &format!("{what}: {name}"));
        // A single key gets probability 1 whatever its score: the gradient is exactly 0.
        if name == "y" || c.scores.dims()[3] > 1 {
            assert_nontrivial(f, &format!("{what}: {name}"));
        }
    }
}

#[test]
fn values_and_gradients_match_the_composite_ops() {
    let mut rng = Rng::new(21);
    // Tk below, at and off a multiple of 8 (the kernels' lane width), and Tk = 1.
    for &(b, h, tq, tk) in &[(2, 3, 5, 7), (1, 2, 4, 16), (3, 1, 2, 37), (2, 2, 3, 1)] {
        let dims = [b, h, tq, tk];
        let c = Case::new(&mut rng, &dims);
        // Batch 0 has no valid key at all; with Tk = 1 it is the only length that masks.
        let lens: Vec<usize> = (0..b)
            .map(|i| if i == 0 { 0 } else { tk - i % tk })
            .collect();
        let keys = key_padding_bias(&lens, tk, &Device::Cpu).unwrap();
        let rows = row_bias(&mut rng, b, tq, tk, true);
        let flat = keys
            .flatten_all()
            .unwrap()
            .narrow(0, (b - 1) * tk, tk)
            .unwrap();
        let biases = [
            ("none", None),
            ("(B,1,1,Tk)", Some(&keys)),
            ("(B,1,Tq,Tk)", Some(&rows)),
            ("(Tk,)", Some(&flat)),
        ];
        for (name, bias) in biases {
            let what = format!("{dims:?} bias {name}");
            assert_matches_composite(&c, bias, |t| t.clone(), &what);
        }
    }
}

#[test]
fn fully_masked_rows_are_uniform() {
    let c = Case::new(&mut Rng::new(22), &[2, 2, 3, 5]);
    let bias = key_padding_bias(&[0, 5], 5, &Device::Cpu).unwrap();
    let y = softmax_scaled_biased(&c.scores, SCALE, Some(&bias)).unwrap();
    let y = values(&y);
    // The scores vanish next to -1e9 in f32, so all keys tie: the composite's behaviour.
    assert!(
        y[..2 * 3 * 5].iter().all(|&p| (p - 0.2).abs() < 1e-6),
        "{y:?}"
    );
    assert!(y[2 * 3 * 5..].iter().any(|&p| (p - 0.2).abs() > 1e-2));
}

#[test]
fn broadcast_key_dim_and_non_contiguous_scores_match_the_composite_ops() {
    let mut rng = Rng::new(23);
    // Scores stored as (B, H, Tk, Tq) and used transposed, as `q k^T` views would be.
    let c = Case::new(&mut rng, &[2, 3, 9, 4]);
    let t = |t: &Tensor| t.transpose(2, 3).unwrap();
    let rows = row_bias(&mut rng, 2, 4, 9, true);
    assert_matches_composite(&c, Some(&rows), t, "transposed");
    // A bias constant along the keys has stride 0 there and is copied before the kernel.
    let per_query = Tensor::from_vec(vec![0.5f32, -1.0, 2.0, 0.0], (1, 1, 4, 1), &Device::Cpu);
    assert_matches_composite(&c, Some(&per_query.unwrap()), t, "key-broadcast bias");
}

#[test]
fn the_bias_gets_no_gradient() {
    let mut rng = Rng::new(24);
    let c = Case::new(&mut rng, &[2, 1, 3, 6]);
    let bias = Var::from_tensor(&row_bias(&mut rng, 2, 3, 6, true)).unwrap();
    for f in [
        softmax_scaled_biased as SmFn,
        softmax_scaled_biased_composite,
    ] {
        let y = f(&c.scores, SCALE, Some(&bias)).unwrap();
        let grads = (y * &c.r).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&c.scores).is_some());
        assert!(grads.get(&bias).is_none());
    }
}

/// The gradient against central differences of an f64 forward pass, which involves no autograd.
#[test]
fn gradients_match_finite_differences() {
    let mut rng = Rng::new(25);
    let dims = [2, 2, 3, 11];
    let c = Case::new(&mut rng, &dims);
    // No fully masked row: in f64 the scores still count next to -1e9, in f32 they vanish.
    let bias = row_bias(&mut rng, 2, 3, 11, false);
    let [_, dx] = run(&c, Some(&bias), softmax_scaled_biased, |t| t.clone());
    let bias64 = bias.to_dtype(DType::F64).unwrap();
    let r = f64_tensor(&values_f64(&c.r), &dims);
    let fd = central_diff(&values_f64(&c.scores), 1e-4, |x| {
        let y = softmax_scaled_biased_composite(&f64_tensor(x, &dims), SCALE, Some(&bias64));
        (y.unwrap() * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap()
    });
    assert_close_f64(&dx, &fd, 1e-5, "dscores");
    assert_nontrivial(&dx, "dscores");
}

#[test]
fn same_input_gives_the_same_bits() {
    let mut rng = Rng::new(26);
    let c = Case::new(&mut rng, &[2, 4, 6, 50]);
    let bias = row_bias(&mut rng, 2, 6, 50, true);
    let bits = |v: [Vec<f32>; 2]| v.map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    let first = bits(run(&c, Some(&bias), softmax_scaled_biased, |t| t.clone()));
    let again = bits(run(&c, Some(&bias), softmax_scaled_biased, |t| t.clone()));
    assert_eq!(first, again);
}

#[test]
fn other_dtypes_take_the_composite_path() {
    let c = Case::new(&mut Rng::new(27), &[1, 2, 3, 4]);
    let x = c.scores.to_dtype(DType::F64).unwrap();
    let y = softmax_scaled_biased(&x, SCALE, None).unwrap();
    assert_eq!(y.dtype(), DType::F64);
    let want = softmax_scaled_biased_composite(&x, SCALE, None).unwrap();
    assert_eq!(values_f64(&y), values_f64(&want));
}

#[test]
fn a_bias_that_does_not_broadcast_is_an_error() {
    let c = Case::new(&mut Rng::new(28), &[2, 1, 3, 4]);
    let bias = Tensor::zeros((2, 1, 1, 5), DType::F32, &Device::Cpu).unwrap();
    assert!(softmax_scaled_biased(&c.scores, SCALE, Some(&bias)).is_err());
}

/// The AVX-512F and AVX2 builds of the forward give the baseline build's bits, with and without
/// a bias, for row lengths around the reductions' lane count (where remainders start).
#[test]
#[cfg(target_arch = "x86_64")]
fn every_instruction_set_path_gives_the_same_bits() {
    use candle_core::Layout;
    let mut rng = Rng::new(5);
    for tk in [1, 3, 7, 8, 9, 16, 17, 31, 180] {
        let rows = 6;
        let x: Vec<f32> = (0..rows * tk).map(|_| 4.0 * rng.normal() as f32).collect();
        let b: Vec<f32> = (0..tk)
            .map(|i| {
                if i % 5 == 4 {
                    -1e9
                } else {
                    rng.normal() as f32
                }
            })
            .collect();
        // One bias row broadcast over every score row (stride 0 on the leading dim).
        let layout = Layout::contiguous((1, tk))
            .broadcast_as((rows, tk))
            .unwrap();
        let bias = super::BiasRows {
            data: &b,
            layout: &layout,
        };
        for bias in [None, Some(&bias)] {
            let mut want = vec![0f32; x.len()];
            super::rows_body(&x, tk, bias, 0.35, &mut want);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut got = vec![0f32; x.len()];
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe { super::rows_avx2(&x, tk, bias, 0.35, &mut got) };
                assert_eq!(bits(&got), bits(&want), "avx2, tk {tk}");
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                let mut got = vec![0f32; x.len()];
                // SAFETY: the CPU has AVX-512F (checked above).
                unsafe { super::rows_avx512(&x, tk, bias, 0.35, &mut got) };
                assert_eq!(bits(&got), bits(&want), "avx512f, tk {tk}");
            }
        }
    }
}

use candle_core::{DType, Device, Result, Tensor, Var};

use super::*;
use crate::ops::unfold::tests::{assert_close, dot, finite_diff, randn};

// (b, h, w, c, kernel): odd sizes drop trailing rows/columns.
type Case = (usize, usize, usize, usize, (usize, usize));
const CASES: [Case; 6] = [
    (2, 4, 6, 3, (2, 2)),
    (2, 5, 7, 3, (2, 2)),
    (1, 4, 6, 2, (2, 1)),
    (3, 7, 5, 1, (3, 2)),
    (2, 4, 4, 5, (1, 1)),
    (1, 2, 9, 4, (2, 4)),
];

#[test]
fn max_pool_matches_candle_values_and_gradients() -> Result<()> {
    for (i, &(b, h, w, c, k)) in CASES.iter().enumerate() {
        // Distinct values (ties have measure zero), so candle's tie splitting never applies.
        let x = Var::from_tensor(&randn(&[b, h, w, c], 60 + i as u64, DType::F32)?)?;
        let y = max_pool2d_nhwc(x.as_tensor(), k)?;
        let want = x
            .as_tensor()
            .permute((0, 3, 1, 2))?
            .max_pool2d_with_stride(k, k)?;
        let want = want.permute((0, 2, 3, 1))?;
        assert_eq!(y.dims(), &[b, h / k.0, w / k.1, c]);
        assert_close(&y, &want, 0.0, &format!("pool case {i}: value"))?;
        let r = randn(y.dims(), 70 + i as u64, DType::F32)?;
        let g = dot(&y, &r)?.backward()?;
        let g = g.get(&x).unwrap();
        // candle's max_pool2d gradient is divided by the window size (a candle 0.11.1 bug,
        // see `candle_bugs_these_ops_avoid` in conv_tests.rs) ...
        // (Only for whole windows: with trailing rows/columns its upsampling misroutes it.)
        if h % k.0 == 0 && w % k.1 == 0 {
            let gw = dot(&want, &r)?.backward()?;
            let scaled = (gw.get(&x).unwrap() * (k.0 * k.1) as f64)?;
            assert_close(
                g,
                &scaled,
                1e-6,
                &format!("pool case {i}: grad vs max_pool2d"),
            )?;
        }
        // ... and the composite fallback (windows as an axis, argmax, gather) is exact.
        let fb = composite(x.as_tensor(), k)?;
        assert_close(&fb, &y, 0.0, &format!("pool case {i}: fallback value"))?;
        let gf = dot(&fb, &r)?.backward()?;
        assert_close(
            g,
            gf.get(&x).unwrap(),
            1e-6,
            &format!("pool case {i}: fallback grad"),
        )?;
    }
    Ok(())
}

#[test]
fn max_pool_backward_matches_finite_differences() -> Result<()> {
    for (i, &(b, h, w, c, k)) in CASES.iter().enumerate() {
        let x = Var::from_tensor(&randn(&[b, h, w, c], 80 + i as u64, DType::F64)?)?;
        let y = max_pool2d_nhwc(x.as_tensor(), k)?;
        let r = randn(y.dims(), 90 + i as u64, DType::F64)?;
        let g = dot(&y, &r)?.backward()?;
        let fd = finite_diff(x.as_tensor(), |x| {
            dot(&max_pool2d_nhwc(x, k)?, &r)?.to_scalar::<f64>()
        })?;
        assert_close(g.get(&x).unwrap(), &fd, 1e-6, &format!("pool fd case {i}"))?;
    }
    Ok(())
}

#[test]
fn max_pool_ties_route_the_gradient_to_the_first_maximum() -> Result<()> {
    // One 2x2 window per channel; channel 0 all tied, channel 1 tied at positions 1 and 3
    // (row-major), channel 2 a unique maximum at position 2.
    #[rustfmt::skip]
    let x = [
        5f32, 0., 1.,
        5., 7., 2.,
        5., 3., 9.,
        5., 7., 4.,
    ];
    let x = Var::from_tensor(&Tensor::new(&x, &Device::Cpu)?.reshape((1, 2, 2, 3))?)?;
    #[rustfmt::skip]
    let want = [
        1f32, 0., 0.,
        0., 2., 0.,
        0., 0., 3.,
        0., 0., 0.,
    ];
    // The fused op and the composite path of other devices alike.
    for y in [
        max_pool2d_nhwc(x.as_tensor(), (2, 2))?,
        composite(x.as_tensor(), (2, 2))?,
    ] {
        assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [5., 7., 9.]);
        let r = Tensor::new(&[1f32, 2., 3.], &Device::Cpu)?.reshape((1, 1, 1, 3))?;
        let g = dot(&y, &r)?.backward()?;
        let gx = g.get(&x).unwrap().flatten_all()?.to_vec1::<f32>()?;
        assert_eq!(gx, want);
    }
    Ok(())
}

/// The AVX-512F and AVX2 builds of the forward pick the baseline build's maxima and offsets,
/// bit for bit, with ties (all-zero windows), NaNs and channel counts around vector widths.
#[test]
#[cfg(target_arch = "x86_64")]
fn every_instruction_set_path_gives_the_same_maxima_and_offsets() {
    let mut rng = crate::Rng::new(9);
    for c in [1, 3, 8, 16, 17, 32, 64] {
        let dims = (2, 4, 6, c);
        let n = dims.0 * dims.1 * dims.2 * c;
        let x: Vec<f32> = (0..n)
            .map(|i| match i % 11 {
                0 => 0.0,
                1 => f32::NAN,
                _ => rng.normal() as f32,
            })
            .collect();
        let op = MaxPool {
            dims,
            kh: 2,
            kw: 2,
            argmax: OnceLock::new(),
        };
        let (y, at) = op.fwd::<f32>(&x);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            let (y2, at2) = unsafe { op.fwd_avx2(&x) };
            assert_eq!((bits(&y2), at2), (bits(&y), at.clone()), "avx2, c {c}");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above).
            let (y5, at5) = unsafe { op.fwd_avx512(&x) };
            assert_eq!((bits(&y5), at5), (bits(&y), at), "avx512f, c {c}");
        }
    }
}

//! Non-overlapping max-pooling (kernel == stride), channels last, with a backward that routes
//! each output gradient to its window's argmax.
//!
//! Ties: the first maximum in window order (rows, then columns) takes the whole gradient.
//! (Ties have measure zero for real-valued inputs but occur e.g. for all-zero windows.) NaNs are not propagated: a NaN
//! never replaces the running maximum. Trailing rows/columns that do not fill a window are
//! dropped, as in candle. Single-threaded and deterministic; CPU f32/f64, other devices and
//! dtypes use a composite of candle ops (see `composite`).

use std::sync::OnceLock;

use candle_core::backend::BackendStorage;

use candle_core::{bail, CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, WithDType};

use super::storage::{slice_of, with_cpu};
use super::unfold::fast;

#[derive(Debug)]
struct MaxPool {
    dims: (usize, usize, usize, usize),
    kh: usize,
    kw: usize,
    /// Input offset of each output's maximum, found by the forward and read by the backward
    /// (the graph keeps this op instance), so the backward is one scatter.
    argmax: OnceLock<Vec<u32>>,
}

impl MaxPool {
    fn out_dims(&self) -> (usize, usize, usize, usize) {
        let (b, h, w, c) = self.dims;
        (b, h / self.kh, w / self.kw, c)
    }

    /// Maxima and their input offsets, windows scanned in row-then-column order with a strict
    /// `>` (so the first maximum wins ties and a NaN never replaces the running maximum).
    #[inline(always)]
    fn fwd<T: WithDType>(&self, x: &[T]) -> (Vec<T>, Vec<u32>) {
        let (b, h, w, c) = self.dims;
        let (_, oh, ow, _) = self.out_dims();
        let n = b * oh * ow * c;
        let (mut y, mut at) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for bi in 0..b {
            for oy in 0..oh {
                for ox in 0..ow {
                    let offset = |i: usize, j: usize| {
                        ((bi * h + oy * self.kh + i) * w + ox * self.kw + j) * c
                    };
                    let (base, first) = (y.len(), offset(0, 0));
                    y.extend_from_slice(&x[first..first + c]);
                    at.extend((first..first + c).map(|i| i as u32));
                    let (ym, am) = (&mut y[base..], &mut at[base..]);
                    for i in 0..self.kh {
                        for j in (0..self.kw).filter(|&j| i > 0 || j > 0) {
                            let s = offset(i, j);
                            // Selects rather than a branch, so the channel loop vectorises.
                            let lanes = x[s..s + c].iter().zip(ym.iter_mut()).zip(am.iter_mut());
                            for (ch, ((&v, m), a)) in lanes.enumerate() {
                                let gt = v > *m;
                                *m = if gt { v } else { *m };
                                *a = if gt { (s + ch) as u32 } else { *a };
                            }
                        }
                    }
                }
            }
        }
        (y, at)
    }
}

impl MaxPool {
    /// `fwd` for f32, built for AVX-512F and AVX2 beside the baseline and chosen at run time
    /// (`cpu::fused_kernels`); comparisons and copies only, so every path gives the same bits.
    fn fwd_f32(&self, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
        #[cfg(target_arch = "x86_64")]
        match crate::cpu::fused_kernels() {
            // SAFETY: `fused_kernels` reports a build only when the CPU has its features.
            crate::cpu::KernelBuild::Avx512f => return unsafe { self.fwd_avx512(x) },
            crate::cpu::KernelBuild::Avx2 => return unsafe { self.fwd_avx2(x) },
            crate::cpu::KernelBuild::Baseline => {}
        }
        self.fwd(x)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn fwd_avx512(&self, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
        self.fwd(x)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn fwd_avx2(&self, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
        self.fwd(x)
    }
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max_pool2d_nhwc"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        if l.shape().dims4()? != self.dims {
            bail!(
                "max_pool2d_nhwc: shape {:?} does not match {self:?}",
                l.shape()
            )
        }
        if l.shape().elem_count() > u32::MAX as usize {
            bail!(
                "max_pool2d_nhwc: input of {} elements is too large",
                l.shape().elem_count()
            )
        }
        let (y, at) = match s.dtype() {
            DType::F32 => {
                let (y, at) = self.fwd_f32(slice_of(s, l, "fused op", "input")?);
                (CpuStorage::F32(y), at)
            }
            DType::F64 => {
                let (y, at) = self.fwd::<f64>(slice_of(s, l, "fused op", "input")?);
                (CpuStorage::F64(y), at)
            }
            d => bail!("max_pool2d_nhwc: unsupported dtype {d:?}"),
        };
        // A second forward of the same op instance cannot happen (candle applies it once).
        let _ = self.argmax.set(at);
        Ok((y, Shape::from(self.out_dims())))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        fn run<T: WithDType>(at: &[u32], arg: &Tensor, grad: &Tensor) -> Result<Tensor> {
            let mut gx = vec![T::from_f64(0.0); arg.elem_count()];
            with_cpu(grad, |g: &[T]| {
                for (&a, &gv) in at.iter().zip(g) {
                    gx[a as usize] += gv;
                }
            })?;
            Tensor::from_vec(gx, arg.shape(), arg.device())
        }
        let Some(at) = self.argmax.get() else {
            bail!("max_pool2d_nhwc: backward before forward")
        };
        let gx = match arg.dtype() {
            DType::F32 => run::<f32>(at, arg, grad)?,
            DType::F64 => run::<f64>(at, arg, grad)?,
            d => bail!("max_pool2d_nhwc: unsupported dtype {d:?}"),
        };
        Ok(Some(gx))
    }
}

/// Max-pool of a (B, H, W, C) tensor over non-overlapping `(kh, kw)` windows:
/// (B, H / kh, W / kw, C). See the module docs for ties.
pub fn max_pool2d_nhwc(x: &Tensor, (kh, kw): (usize, usize)) -> Result<Tensor> {
    if kh == 0 || kw == 0 {
        bail!("max_pool2d_nhwc: kernel ({kh}, {kw}) must be positive")
    }
    if !fast(x) {
        return composite(x, (kh, kw));
    }
    let dims = x.dims4()?;
    x.contiguous()?.apply_op1(MaxPool {
        dims,
        kh,
        kw,
        argmax: OnceLock::new(),
    })
}

/// The fallback for other devices and dtypes, from candle ops: each window's elements as one
/// axis, the first maximum's index (`argmax`), and a `gather` of it, whose backward routes the
/// gradient to that element alone, as the fused op does. Not candle's `max_pool2d`, whose
/// backward (candle 0.11.1) multiplies the gradient by the fraction of maxima in the window
/// (divides it by kh*kw for a unique maximum), nor `max`, whose backward gives every tied
/// maximum the whole gradient (so a constant window, e.g. over padding, passes it kh*kw times).
pub(super) fn composite(x: &Tensor, (kh, kw): (usize, usize)) -> Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    let (oh, ow) = (h / kh, w / kw);
    let x = x.narrow(1, 0, oh * kh)?.narrow(2, 0, ow * kw)?;
    let windows = x
        .reshape((b, oh, kh, ow, kw, c))?
        .permute((0, 1, 3, 2, 4, 5))?
        .contiguous()?
        .reshape((b, oh, ow, kh * kw, c))?;
    let first = windows.argmax_keepdim(3)?;
    windows.gather(&first, 3)?.squeeze(3)
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;

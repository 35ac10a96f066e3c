//! Non-overlapping max-pooling (kernel == stride), channels last, with a backward that routes
//! each output gradient to its window's argmax.
//!
//! Ties: the first maximum in window order (rows, then columns) takes the whole gradient.
//! (Ties have measure zero for real-valued inputs but occur e.g. for all-zero windows.) NaNs are not propagated: a NaN
//! never replaces the running maximum. Trailing rows/columns that do not fill a window are
//! dropped, as in candle. Single-threaded and deterministic; CPU f32/f64, other devices and
//! dtypes use a composite of candle ops (see `composite`).

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, WithDType};

use super::unfold::{cpu_slice, fast, with_cpu};

#[derive(Clone, Copy, Debug)]
struct MaxPool {
    dims: (usize, usize, usize, usize),
    kh: usize,
    kw: usize,
}

impl MaxPool {
    fn out_dims(&self) -> (usize, usize, usize, usize) {
        let (b, h, w, c) = self.dims;
        (b, h / self.kh, w / self.kw, c)
    }

    /// Calls `f(out_offset, window_offsets)` for every output position: the offsets (in the
    /// input, each the start of C channels) of the window's elements in window order.
    fn for_each_window(&self, mut f: impl FnMut(usize, &[usize])) {
        let (b, h, w, c) = self.dims;
        let (_, oh, ow, _) = self.out_dims();
        let mut win = vec![0; self.kh * self.kw];
        for bi in 0..b {
            for y in 0..oh {
                for x in 0..ow {
                    for i in 0..self.kh {
                        for j in 0..self.kw {
                            let (r, col) = (y * self.kh + i, x * self.kw + j);
                            win[i * self.kw + j] = ((bi * h + r) * w + col) * c;
                        }
                    }
                    f(((bi * oh + y) * ow + x) * c, &win);
                }
            }
        }
    }

    fn fwd<T: WithDType>(&self, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        let x = cpu_slice::<T>(s, l)?;
        let (b, oh, ow, c) = self.out_dims();
        let mut y = vec![T::from_f64(0.0); b * oh * ow * c];
        self.for_each_window(|o, win| {
            let out = &mut y[o..o + c];
            out.copy_from_slice(&x[win[0]..win[0] + c]);
            for &s in &win[1..] {
                for (m, &v) in out.iter_mut().zip(&x[s..s + c]) {
                    if v > *m {
                        *m = v;
                    }
                }
            }
        });
        Ok(T::to_cpu_storage_owned(y))
    }

    /// The input gradient: each output gradient added at its argmax, found by the forward's
    /// scan (so the first maximum on ties).
    fn bwd_cpu<T: WithDType>(&self, x: &[T], g: &[T]) -> Vec<T> {
        let c = self.dims.3;
        let mut gx = vec![T::from_f64(0.0); x.len()];
        let mut best = vec![T::from_f64(0.0); c];
        let mut at = vec![0usize; c];
        self.for_each_window(|o, win| {
            best.copy_from_slice(&x[win[0]..win[0] + c]);
            at.iter_mut()
                .enumerate()
                .for_each(|(ch, a)| *a = win[0] + ch);
            for &s in &win[1..] {
                for (ch, &v) in x[s..s + c].iter().enumerate() {
                    if v > best[ch] {
                        best[ch] = v;
                        at[ch] = s + ch;
                    }
                }
            }
            for (&a, &gv) in at.iter().zip(&g[o..o + c]) {
                gx[a] += gv;
            }
        });
        gx
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
        let y = match s.dtype() {
            DType::F32 => self.fwd::<f32>(s, l)?,
            DType::F64 => self.fwd::<f64>(s, l)?,
            d => bail!("max_pool2d_nhwc: unsupported dtype {d:?}"),
        };
        Ok((y, Shape::from(self.out_dims())))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        fn run<T: WithDType>(p: &MaxPool, arg: &Tensor, grad: &Tensor) -> Result<Tensor> {
            let g = with_cpu(grad, |g: &[T]| g.to_vec())?;
            let gx = with_cpu(arg, |x: &[T]| p.bwd_cpu(x, &g))?;
            Tensor::new(gx, arg.device())?.reshape(arg.shape())
        }
        let gx = match arg.dtype() {
            DType::F32 => run::<f32>(self, arg, grad)?,
            DType::F64 => run::<f64>(self, arg, grad)?,
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
    x.contiguous()?.apply_op1(MaxPool { dims, kh, kw })
}

/// The fallback for other devices and dtypes, from candle ops: windows as reshaped axes, then
/// `max` over them. Not candle's `max_pool2d`, whose backward (candle 0.11.1) multiplies the
/// gradient by the fraction of maxima in the window, i.e. divides it by kh*kw for a unique max.
/// `max`'s backward gives every tied maximum the whole gradient.
pub(super) fn composite(x: &Tensor, (kh, kw): (usize, usize)) -> Result<Tensor> {
    let (b, h, w, c) = x.dims4()?;
    let (oh, ow) = (h / kh, w / kw);
    let x = x.narrow(1, 0, oh * kh)?.narrow(2, 0, ow * kw)?;
    x.reshape((b, oh, kh, ow, kw, c))?.max(4)?.max(2)
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;

//! im2col over channels-last tensors: [`unfold_nhwc`] copies every kernel window of a
//! (B, H, W, C) tensor into one row of a (B, OH, OW, KH*KW*C) tensor; its backward is the
//! adjoint scatter-add (col2im). Single-threaded and deterministic, CPU f32/f64. Also the CPU
//! storage helpers the fused ops share.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, DType, Layout, Result, Shape};
use candle_core::{Tensor, WithDType};

use super::storage::{slice_of, with_cpu};

/// Window geometry of an unfold over a contiguous (B, H, W, C) tensor.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    pub(super) b: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) c: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
    pub(super) oh: usize,
    pub(super) ow: usize,
}

/// Output positions along one axis: candle's formula, 0 when the padded input is shorter than
/// the kernel.
fn out_len(n: usize, k: usize, s: usize, p: usize) -> usize {
    if n + 2 * p < k {
        0
    } else {
        (n + 2 * p - k) / s + 1
    }
}

impl Geom {
    pub(super) fn new(
        dims: (usize, usize, usize, usize),
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Result<Self> {
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            bail!("unfold: kernel ({kh}, {kw}) and stride ({sh}, {sw}) must be positive")
        }
        let (b, h, w, c) = dims;
        let (oh, ow) = (out_len(h, kh, sh, ph), out_len(w, kw, sw, pw));
        Ok(Self {
            b,
            h,
            w,
            c,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            oh,
            ow,
        })
    }

    /// Length of one unfolded row, KH*KW*C.
    pub(super) fn row(&self) -> usize {
        self.kh * self.kw * self.c
    }

    /// Calls `f(col_offset, x_offset, len)` for every run of elements the unfold copies: for
    /// each output position and kernel row, the in-range kernel columns times all channels are
    /// contiguous in both the input and the unfolded row (channels last). Padding is skipped.
    /// Number of unfolded rows, B*OH*OW.
    pub(super) fn rows(&self) -> usize {
        self.b * self.oh * self.ow
    }

    /// Whether a contiguous (B, H, W, C) layout has this geometry's input shape.
    pub(super) fn check_input(&self, op: &str, l: &Layout) -> Result<()> {
        if l.shape().dims4()? != (self.b, self.h, self.w, self.c) {
            bail!("{op}: shape {:?} does not match {self:?}", l.shape())
        }
        Ok(())
    }

    fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        let g = self;
        for b in 0..g.b {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let row = ((b * g.oh + oy) * g.ow + ox) * g.row();
                    let x0 = (ox * g.sw) as isize - g.pw as isize;
                    let j0 = (-x0).max(0) as usize;
                    let j1 = (g.w as isize - x0).clamp(0, g.kw as isize) as usize;
                    if j0 >= j1 {
                        continue;
                    }
                    for i in 0..g.kh {
                        let y = (oy * g.sh + i) as isize - g.ph as isize;
                        if y < 0 || y >= g.h as isize {
                            continue;
                        }
                        let xo = ((b * g.h + y as usize) * g.w + (x0 + j0 as isize) as usize) * g.c;
                        f(row + (i * g.kw + j0) * g.c, xo, (j1 - j0) * g.c);
                    }
                }
            }
        }
    }
}

/// Whether the fused CPU path is taken for `t`.
pub(super) fn fast(t: &Tensor) -> bool {
    super::fused_allowed() && on_host(t)
}

/// Whether the CPU kernels can handle `t` at all.
fn on_host(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}

/// im2col: the (B*OH*OW, KH*KW*C) row-major unfolded matrix of a contiguous (B, H, W, C) input.
pub(super) fn im2col<T: WithDType>(g: Geom, x: &[T]) -> Vec<T> {
    let mut cols = vec![T::from_f64(0.0); g.rows() * g.row()];
    g.for_each_run(|co, xo, n| cols[co..co + n].copy_from_slice(&x[xo..xo + n]));
    cols
}

struct Unfold(Geom);

impl Unfold {
    fn fwd<T: WithDType>(&self, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        Ok(T::to_cpu_storage_owned(im2col(
            self.0,
            slice_of::<T>(s, l, "fused op", "input")?,
        )))
    }
}

/// col2im: scatter-adds unfolded rows back onto the (B, H, W, C) input positions.
pub(super) fn col2im<T: WithDType>(g: Geom, cols: &[T]) -> Vec<T> {
    let mut x = vec![T::from_f64(0.0); g.b * g.h * g.w * g.c];
    g.for_each_run(|co, xo, n| {
        for (d, &s) in x[xo..xo + n].iter_mut().zip(&cols[co..co + n]) {
            *d += s;
        }
    });
    x
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "unfold_nhwc"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        g.check_input(self.name(), l)?;
        let out = match s.dtype() {
            DType::F32 => self.fwd::<f32>(s, l)?,
            DType::F64 => self.fwd::<f64>(s, l)?,
            d => bail!("unfold_nhwc: unsupported dtype {d:?}"),
        };
        Ok((out, Shape::from((g.b, g.oh, g.ow, g.row()))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = self.0;
        let gx = match grad.dtype() {
            DType::F32 => Tensor::new(with_cpu(grad, |c| col2im::<f32>(g, c))?, arg.device()),
            DType::F64 => Tensor::new(with_cpu(grad, |c| col2im::<f64>(g, c))?, arg.device()),
            d => bail!("unfold_nhwc: unsupported dtype {d:?}"),
        }?;
        Ok(Some(gx.reshape(arg.shape())?))
    }
}

/// Every `kernel` window of a (B, H, W, C) tensor (zero padded by `padding` on both sides of
/// H and W), as a (B, OH, OW, KH*KW*C) tensor whose rows are ordered (kh, kw, c). CPU, f32 or
/// f64 only; differentiable (the backward is col2im).
pub fn unfold_nhwc(
    x: &Tensor,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
) -> Result<Tensor> {
    if !on_host(x) {
        bail!(
            "unfold_nhwc: CPU f32/f64 only, got {:?} {:?}",
            x.device(),
            x.dtype()
        )
    }
    let g = Geom::new(x.dims4()?, kernel, stride, padding)?;
    x.contiguous()?.apply_op1(Unfold(g))
}

#[cfg(test)]
#[path = "unfold_tests.rs"]
pub(crate) mod tests;

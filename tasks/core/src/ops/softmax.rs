//! Attention's `softmax(scores * scale + bias)` over the last dim as one CPU op with a fused
//! backward.
//!
//! The composite chain (scale, broadcast add, max, sub, exp, sum, div) allocates seven
//! `(B, H, Tq, Tk)` tensors forward and more backward, the largest tensors of a transformer
//! step. Here each row is produced in place in the output, with a vectorisable polynomial exp
//! (`rows::exp_nonpos`, within 2 ulp of libm's). candle-nn's `softmax_last_dim` has no
//! backward, which is why this exists.

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, D,
};

use super::rows::{exp_nonpos, max, sum_map, sum_zip};
use super::storage::slice_of;

/// `softmax(scores * scale + bias)` over the last dim. `bias` is an additive mask broadcastable
/// to `scores`, e.g. `(B, 1, 1, Tk)` or `(B, 1, Tq, Tk)` from `nn::key_padding_bias` (-1e9 on
/// padded keys). The bias is treated as a constant: it never receives a gradient, even when it
/// is tracked. Differentiable w.r.t. `scores`. Fused on the CPU for f32, composite otherwise.
pub fn softmax_scaled_biased(scores: &Tensor, scale: f64, bias: Option<&Tensor>) -> Result<Tensor> {
    let on_cpu_f32 =
        |t: &Tensor| super::fused_allowed() && t.device().is_cpu() && t.dtype() == DType::F32;
    if !on_cpu_f32(scores) || !bias.is_none_or(on_cpu_f32) {
        return softmax_scaled_biased_composite(scores, scale, bias);
    }
    let tk = scores.dim(D::Minus1)?;
    let x = scores.contiguous()?;
    let op = ScaledSoftmax {
        scale: scale as f32,
    };
    let Some(bias) = bias else {
        return x.apply_op1(op);
    };
    // A zero-stride view: the kernel walks the broadcast dims itself instead of materialising
    // the mask per head. Only a broadcast key dim has to be copied, as rows must be slices.
    let mut bias = bias.detach().broadcast_as(x.shape())?;
    if tk > 1 && bias.stride().last() != Some(&1) {
        bias = bias.contiguous()?;
    }
    x.apply_op2(&bias, op)
}

/// The same softmax from differentiable candle ops: the fallback off the fast path and the
/// tests' reference.
pub fn softmax_scaled_biased_composite(
    scores: &Tensor,
    scale: f64,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let mut x = (scores * scale)?;
    if let Some(bias) = bias {
        x = x.broadcast_add(&bias.detach())?;
    }
    candle_nn::ops::softmax(&x, D::Minus1)
}

struct ScaledSoftmax {
    scale: f32,
}

/// A bias broadcast to the scores: rows are slices, the leading dims may have stride 0.
struct BiasRows<'a> {
    data: &'a [f32],
    layout: &'a Layout,
}

impl BiasRows<'_> {
    /// Row `r` of the scores' row-major order, walked back through the leading dims' strides.
    fn row(&self, mut r: usize, tk: usize) -> &[f32] {
        let (dims, strides) = (self.layout.dims(), self.layout.stride());
        let lead = dims.len() - 1;
        let mut off = self.layout.start_offset();
        for (&n, &s) in dims[..lead].iter().zip(&strides[..lead]).rev() {
            off += (r % n) * s;
            r /= n;
        }
        &self.data[off..off + tk]
    }
}

/// Every row of the forward into `y`: scale (and bias), then the stable softmax.
#[inline(always)]
fn rows_body(x: &[f32], tk: usize, bias: Option<&BiasRows>, scale: f32, y: &mut [f32]) {
    for (r, (xr, yr)) in x.chunks_exact(tk).zip(y.chunks_exact_mut(tk)).enumerate() {
        match bias {
            Some(bias) => {
                // Same rounding as the composite: the product, then the sum (no FMA).
                for ((o, &v), &b) in yr.iter_mut().zip(xr).zip(bias.row(r, tk)) {
                    *o = v * scale + b;
                }
            }
            None => {
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = v * scale;
                }
            }
        }
        let m = max(yr);
        for o in yr.iter_mut() {
            *o = exp_nonpos(*o - m);
        }
        let s = sum_map(yr, |v| v);
        for o in yr.iter_mut() {
            *o /= s;
        }
    }
}

/// `rows_body` compiled for AVX-512F and for AVX2, chosen at run time (`cpu::fused_kernels`).
/// The body has no reassociation the vector width could change (reductions keep a fixed
/// number of lanes, products and sums stay separate): every path gives the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn rows_avx512(x: &[f32], tk: usize, bias: Option<&BiasRows>, scale: f32, y: &mut [f32]) {
    rows_body(x, tk, bias, scale, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn rows_avx2(x: &[f32], tk: usize, bias: Option<&BiasRows>, scale: f32, y: &mut [f32]) {
    rows_body(x, tk, bias, scale, y)
}

fn forward_rows(x: &[f32], tk: usize, bias: Option<&BiasRows>, scale: f32, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    match crate::cpu::fused_kernels() {
        // SAFETY: `fused_kernels` reports a build only when the CPU has its features.
        crate::cpu::KernelBuild::Avx512f => return unsafe { rows_avx512(x, tk, bias, scale, y) },
        crate::cpu::KernelBuild::Avx2 => return unsafe { rows_avx2(x, tk, bias, scale, y) },
        crate::cpu::KernelBuild::Baseline => {}
    }
    rows_body(x, tk, bias, scale, y)
}

impl ScaledSoftmax {
    fn run(&self, x: &[f32], shape: &Shape, bias: Option<BiasRows>) -> Result<(CpuStorage, Shape)> {
        let tk = shape.dims().last().copied().unwrap_or(1);
        let mut y = vec![0f32; x.len()];
        if tk > 0 {
            forward_rows(x, tk, bias.as_ref(), self.scale, &mut y);
        }
        Ok((CpuStorage::F32(y), shape.clone()))
    }

    fn grad(&self, y: &Tensor, grad: &Tensor) -> Result<Tensor> {
        y.apply_op2_no_bwd(
            &grad.contiguous()?,
            &ScaledSoftmaxGrad { scale: self.scale },
        )
    }
}

impl CustomOp1 for ScaledSoftmax {
    fn name(&self) -> &'static str {
        "softmax_scaled"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.run(
            slice_of::<f32>(s, l, "softmax_scaled_biased", "scores")?,
            l.shape(),
            None,
        )
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(self.grad(y, grad)?))
    }
}

impl CustomOp2 for ScaledSoftmax {
    fn name(&self) -> &'static str {
        "softmax_scaled_biased"
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        l: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if lb.dims() != l.dims() || l.dims().is_empty() {
            bail!(
                "softmax_scaled_biased: bias {:?} is not broadcast to scores {:?}",
                lb.dims(),
                l.dims()
            )
        }
        if l.dims()[l.dims().len() - 1] > 1 && lb.stride().last() != Some(&1) {
            bail!("softmax_scaled_biased: bias rows must be contiguous")
        }
        let bias = BiasRows {
            data: sb.as_slice::<f32>()?,
            layout: lb,
        };
        self.run(
            slice_of::<f32>(s, l, "softmax_scaled_biased", "scores")?,
            l.shape(),
            Some(bias),
        )
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _bias: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(self.grad(y, grad)?), None))
    }
}

/// `scale * y * (grad - sum(grad * y))` per row, from `(y, grad)`.
struct ScaledSoftmaxGrad {
    scale: f32,
}

impl CustomOp2 for ScaledSoftmaxGrad {
    fn name(&self) -> &'static str {
        "softmax_scaled_grad"
    }

    fn cpu_fwd(
        &self,
        sy: &CpuStorage,
        ly: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, g) = (
            slice_of::<f32>(sy, ly, "softmax_scaled_biased", "y")?,
            slice_of::<f32>(sg, lg, "softmax_scaled_biased", "grad")?,
        );
        if g.len() != y.len() {
            bail!(
                "softmax_scaled_grad: grad has {} elements, y has {}",
                g.len(),
                y.len()
            )
        }
        let tk = ly.dims().last().copied().unwrap_or(1);
        let mut dx = vec![0f32; y.len()];
        if tk > 0 {
            let rows = y.chunks_exact(tk).zip(g.chunks_exact(tk));
            for ((yr, gr), dr) in rows.zip(dx.chunks_exact_mut(tk)) {
                let s = sum_zip(yr, gr, |y, g| y * g);
                for ((o, &y), &g) in dr.iter_mut().zip(yr).zip(gr) {
                    *o = self.scale * y * (g - s);
                }
            }
        }
        Ok((CpuStorage::F32(dx), ly.shape().clone()))
    }
}

#[cfg(test)]
#[path = "softmax_tests.rs"]
mod tests;

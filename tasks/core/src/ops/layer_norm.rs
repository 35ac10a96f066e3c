//! LayerNorm over the last dimension as one CPU op with a fused backward.
//!
//! The composite formula allocates about ten `(N, d)` temporaries in the forward pass and as
//! many again in autograd's backward; here each row is read a few times while it sits in cache
//! and written once. Nothing is kept between the passes: the backward recomputes each row's
//! mean and rstd from `x`, which is two cheap sweeps and keeps no per-row state alive for
//! the whole step. candle-nn's fused LayerNorm has no backward, which is why this exists.

use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, D};

use super::rows::{sum_map, sum_zip};
use super::storage::slice_of;

/// `(x - mean) / sqrt(var + eps) * weight + bias` over the last dim of `x`, with the biased
/// variance; `weight` and `bias` are `(d,)`. Differentiable w.r.t. all three. Fused on the CPU
/// for f32, the composite formula otherwise.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let d = x.dim(D::Minus1)?;
    if weight.dims() != [d] || bias.dims() != [d] {
        bail!(
            "layer_norm: weight {:?} and bias {:?} must be ({d},)",
            weight.dims(),
            bias.dims()
        )
    }
    let fused = super::fused_allowed()
        && x.device().is_cpu()
        && [x, weight, bias].iter().all(|t| t.dtype() == DType::F32);
    if !fused {
        return layer_norm_composite(x, weight, bias, eps);
    }
    // `contiguous` is a no-op clone for contiguous tensors, so Vars keep their identity.
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        LayerNorm { eps: eps as f32 },
    )
}

/// The same LayerNorm from differentiable candle ops: the fallback off the fast path and the
/// tests' reference.
pub fn layer_norm_composite(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    xn.broadcast_mul(weight)?.broadcast_add(bias)
}

/// Mean and `1 / sqrt(var + eps)` of one row. Two passes, because `E[x^2] - E[x]^2` cancels
/// badly on the residual stream, whose rows can have a large common offset.
#[inline(always)]
fn stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = sum_map(x, |v| v) / n;
    let var = sum_map(x, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

struct LayerNorm {
    eps: f32,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "layer_norm"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice_of::<f32>(sx, lx, "layer_norm", "x")?;
        let (w, b) = (
            slice_of::<f32>(sw, lw, "layer_norm", "weight")?,
            slice_of::<f32>(sb, lb, "layer_norm", "bias")?,
        );
        let d = w.len();
        let mut y = vec![0f32; x.len()];
        // d = 0 has no rows to normalise, and chunks_exact(0) would panic.
        if d > 0 {
            for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
                let (mean, rstd) = stats(xr, self.eps);
                for (((o, &v), &w), &b) in yr.iter_mut().zip(xr).zip(w).zip(b) {
                    *o = (v - mean) * rstd * w + b;
                }
            }
        }
        Ok((CpuStorage::F32(y), lx.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, d) = (x.elem_count(), weight.elem_count());
        // One kernel writes [dx | dweight | dbias]; the three results are views into it.
        let all = x.apply_op3_no_bwd(
            weight,
            &grad.contiguous()?,
            &LayerNormGrad { eps: self.eps },
        )?;
        let dx = all.narrow(0, 0, n)?.reshape(x.shape())?;
        Ok((
            Some(dx),
            Some(all.narrow(0, n, d)?),
            Some(all.narrow(0, n + d, d)?),
        ))
    }
}

/// Backward of [`LayerNorm`] from `(x, weight, grad)`, flat `[dx (N*d), dweight (d), dbias (d)]`.
struct LayerNormGrad {
    eps: f32,
}

impl CustomOp3 for LayerNormGrad {
    fn name(&self) -> &'static str {
        "layer_norm_grad"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sg: &CpuStorage,
        lg: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, g) = (
            slice_of::<f32>(sx, lx, "layer_norm", "x")?,
            slice_of::<f32>(sw, lw, "layer_norm", "weight")?,
            slice_of::<f32>(sg, lg, "layer_norm", "grad")?,
        );
        let (n, d) = (x.len(), w.len());
        if g.len() != n {
            bail!("layer_norm_grad: grad has {} elements, x has {n}", g.len())
        }
        let mut out = vec![0f32; n + 2 * d];
        if d > 0 {
            let (dx, dwb) = out.split_at_mut(n);
            // Summed over every row of the batch: f64 keeps that sum accurate for long batches,
            // and being per column it still vectorises.
            let mut dw = vec![0f64; d];
            let mut db = vec![0f64; d];
            let inv_d = 1.0 / d as f32;
            for ((xr, gr), dxr) in x
                .chunks_exact(d)
                .zip(g.chunks_exact(d))
                .zip(dx.chunks_exact_mut(d))
            {
                let (mean, rstd) = stats(xr, self.eps);
                // With xhat = (x - mean) * rstd and gy = grad * weight:
                // dx = rstd * (gy - mean(gy) - xhat * mean(gy * xhat)). dxr holds gy meanwhile.
                for ((o, &g), &w) in dxr.iter_mut().zip(gr).zip(w) {
                    *o = g * w;
                }
                let m1 = sum_map(dxr, |v| v) * inv_d;
                let m2 = sum_zip(dxr, xr, |gy, v| gy * (v - mean)) * rstd * inv_d;
                let (xr, gr, dxr, dw, db) = (
                    &xr[..d],
                    &gr[..d],
                    &mut dxr[..d],
                    &mut dw[..d],
                    &mut db[..d],
                );
                for i in 0..d {
                    let xhat = (xr[i] - mean) * rstd;
                    dxr[i] = rstd * (dxr[i] - m1 - xhat * m2);
                    dw[i] += (gr[i] * xhat) as f64;
                    db[i] += gr[i] as f64;
                }
            }
            let (dwo, dbo) = dwb.split_at_mut(d);
            for (o, &v) in dwo.iter_mut().zip(&dw).chain(dbo.iter_mut().zip(&db)) {
                *o = v as f32;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(n + 2 * d)))
    }
}

#[cfg(test)]
#[path = "layer_norm_tests.rs"]
mod tests;

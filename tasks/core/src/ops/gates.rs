//! The Conformer's sigmoid-gated activations as CPU ops with fused backward passes: bias +
//! Swish (SiLU) after a linear layer, and the GLU of the convolution module.
//!
//! Composite, each is several `(N, d)` passes forward and more in autograd's backward (for the
//! GLU, two `narrow` backwards that each zero a full `(N, 2d)` buffer); here each is one pass
//! forward and one backward, the sigmoid recomputed from the input instead of kept.

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, D,
};

use super::linear::{check_bias, fast_path};
use super::storage::slice_of;

#[inline(always)]
fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// `silu(x + b)` with `x` `(..., d)` and `b` `(d)`; fused on CPU f32, composite elsewhere.
pub fn bias_silu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if !fast_path(&[x, b]) {
        return bias_silu_composite(x, b);
    }
    check_bias("bias_silu", x, b)?;
    x.contiguous()?.apply_op2(&b.contiguous()?, BiasSilu)
}

/// The candle ops the fused bias + SiLU replaces.
pub fn bias_silu_composite(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.broadcast_add(b)?.silu()
}

/// GLU over the last dimension: `a * sigmoid(g)` for `x = [a | g]` `(..., 2d)` -> `(..., d)`.
/// Fused on CPU f32, composite elsewhere.
pub fn glu(x: &Tensor) -> Result<Tensor> {
    let two_d = x.dim(D::Minus1)?;
    if !two_d.is_multiple_of(2) {
        bail!("glu: last dimension {two_d} is odd")
    }
    if !fast_path(&[x]) {
        return glu_composite(x);
    }
    x.contiguous()?.apply_op1(Glu)
}

/// The candle ops the fused GLU replaces.
pub fn glu_composite(x: &Tensor) -> Result<Tensor> {
    let d = x.dim(D::Minus1)? / 2;
    let (a, g) = (x.narrow(D::Minus1, 0, d)?, x.narrow(D::Minus1, d, d)?);
    a * candle_nn::ops::sigmoid(&g)?
}

struct BiasSilu;

impl CustomOp2 for BiasSilu {
    fn name(&self) -> &'static str {
        "bias_silu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice_of::<f32>(s1, l1, self.name(), "input")?;
        let b = slice_of::<f32>(s2, l2, self.name(), "bias")?;
        let d = b.len();
        let mut y = Vec::with_capacity(x.len());
        if d > 0 {
            for row in x.chunks_exact(d) {
                y.extend(row.iter().zip(b).map(|(&x, &b)| {
                    let z = x + b;
                    z * sigmoid(z)
                }));
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let d = b.elem_count();
        let n = x.elem_count().checked_div(d).unwrap_or(0);
        // One (n + 1, d) buffer: rows 0..n hold dx, row n the bias gradient; both views.
        let both = grad.contiguous()?.apply_op3_no_bwd(x, b, &BiasSiluBwd)?;
        let dx = both.narrow(0, 0, n)?.reshape(x.shape())?;
        let db = both.narrow(0, n, 1)?.reshape(d)?;
        Ok((Some(dx), Some(db)))
    }
}

/// `dz = g * s * (1 + z * (1 - s))` with `z = x + b`, `s = sigmoid(z)`, from `(grad, x, b)`,
/// and the column sums of `dz` (the bias gradient) in the last row, one sweep.
struct BiasSiluBwd;

impl CustomOp3 for BiasSiluBwd {
    fn name(&self) -> &'static str {
        "bias_silu_bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = slice_of::<f32>(s1, l1, self.name(), "grad")?;
        let x = slice_of::<f32>(s2, l2, self.name(), "input")?;
        let b = slice_of::<f32>(s3, l3, self.name(), "bias")?;
        let d = b.len();
        if g.len() != x.len() {
            bail!("bias_silu_bwd: gradient and input sizes differ");
        }
        let n = g.len().checked_div(d).unwrap_or(0);
        let mut acc = vec![0f32; d];
        let mut dz = Vec::with_capacity((n + 1) * d);
        if d > 0 {
            for (gr, xr) in g.chunks_exact(d).zip(x.chunks_exact(d)) {
                let start = dz.len();
                dz.extend(gr.iter().zip(xr).zip(b).map(|((&g, &x), &b)| {
                    let z = x + b;
                    let s = sigmoid(z);
                    g * s * (1.0 + z * (1.0 - s))
                }));
                for (a, &v) in acc.iter_mut().zip(&dz[start..]) {
                    *a += v;
                }
            }
        }
        dz.extend_from_slice(&acc);
        Ok((CpuStorage::F32(dz), Shape::from((n + 1, d))))
    }
}

struct Glu;

impl CustomOp1 for Glu {
    fn name(&self) -> &'static str {
        "glu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice_of::<f32>(s, l, self.name(), "input")?;
        let d = l.dims().last().copied().unwrap_or(0) / 2;
        let mut y = Vec::with_capacity(x.len() / 2);
        if d > 0 {
            for row in x.chunks_exact(2 * d) {
                let (a, g) = row.split_at(d);
                y.extend(a.iter().zip(g).map(|(&a, &g)| a * sigmoid(g)));
            }
        }
        let mut dims = l.dims().to_vec();
        if let Some(last) = dims.last_mut() {
            *last = d;
        }
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let dx = x.apply_op2_no_bwd(&grad.contiguous()?, &GluBwd)?;
        Ok(Some(dx))
    }
}

/// `[da | dg] = [grad * s | grad * a * s * (1 - s)]`, `s = sigmoid(g)`, from `x` and the gradient.
struct GluBwd;

impl CustomOp2 for GluBwd {
    fn name(&self) -> &'static str {
        "glu_bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice_of::<f32>(s1, l1, self.name(), "input")?;
        let g = slice_of::<f32>(s2, l2, self.name(), "grad")?;
        let d = l1.dims().last().copied().unwrap_or(0) / 2;
        if g.len() * 2 != x.len() {
            bail!("glu_bwd: gradient and input sizes differ");
        }
        let mut dx = vec![0f32; x.len()];
        if d > 0 {
            for ((row, gr), out) in x
                .chunks_exact(2 * d)
                .zip(g.chunks_exact(d))
                .zip(dx.chunks_exact_mut(2 * d))
            {
                let (a, gate) = row.split_at(d);
                let (da, dg) = out.split_at_mut(d);
                for i in 0..d {
                    let s = sigmoid(gate[i]);
                    da[i] = gr[i] * s;
                    dg[i] = gr[i] * a[i] * s * (1.0 - s);
                }
            }
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

#[cfg(test)]
#[path = "gates_tests.rs"]
mod tests;

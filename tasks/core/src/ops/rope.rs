//! Rotary position embedding of `(B, heads, T, dh)` queries or keys as one CPU op: dimension
//! pairs `(i, i + dh/2)` of position `t` rotated by the angle whose cosine and sine are
//! `cos[t, i]`, `sin[t, i]`. The backward pass is the inverse rotation, the same sweep with
//! the sine negated. Composite, the rotation is two `narrow`s, four broadcast products, a
//! sum, a difference and a `cat`, with as many ops again backward; candle-nn's `rope` has no
//! backward pass at all.

use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, D};

use super::linear::fast_path;
use super::storage::{slice_of, with_cpu};

/// Rotates `x` `(B, heads, T, dh)` by the `(T, dh/2)` tables `cos` and `sin`. Differentiable
/// w.r.t. `x`. Fused on CPU f32, composite elsewhere.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (_, _, t, dh) = x.dims4()?;
    if !dh.is_multiple_of(2) || cos.dims() != [t, dh / 2] || sin.dims() != cos.dims() {
        bail!(
            "rope: tables {:?} / {:?} do not fit input {:?} (even head size needed)",
            cos.dims(),
            sin.dims(),
            x.dims()
        )
    }
    if !fast_path(&[x, cos, sin]) {
        return rope_composite(x, cos, sin);
    }
    let op = Rope {
        cos: Arc::new(with_cpu(cos, |v: &[f32]| v.to_vec())?),
        sin: Arc::new(with_cpu(sin, |v: &[f32]| v.to_vec())?),
        inverse: false,
    };
    x.contiguous()?.apply_op1(op)
}

/// The same rotation from differentiable candle ops: the fallback and the tests' reference.
pub fn rope_composite(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let (x1, x2) = (
        x.narrow(D::Minus1, 0, half)?,
        x.narrow(D::Minus1, half, half)?,
    );
    let r1 = (x1.broadcast_mul(cos)? - x2.broadcast_mul(sin)?)?;
    let r2 = (x1.broadcast_mul(sin)? + x2.broadcast_mul(cos)?)?;
    Tensor::cat(&[r1, r2], D::Minus1)
}

#[derive(Clone)]
struct Rope {
    cos: Arc<Vec<f32>>,
    sin: Arc<Vec<f32>>,
    /// Rotate by minus the angle (the backward pass).
    inverse: bool,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice_of::<f32>(s, l, self.name(), "input")?;
        let dh = l.dims().last().copied().unwrap_or(0);
        let half = dh / 2;
        let t = l.dims().get(2).copied().unwrap_or(0);
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let mut y = vec![0f32; x.len()];
        if half > 0 && t > 0 {
            for (head_x, head_y) in x.chunks_exact(t * dh).zip(y.chunks_exact_mut(t * dh)) {
                for (pos, (xr, yr)) in head_x
                    .chunks_exact(dh)
                    .zip(head_y.chunks_exact_mut(dh))
                    .enumerate()
                {
                    let (c, sn) = (
                        &self.cos[pos * half..(pos + 1) * half],
                        &self.sin[pos * half..(pos + 1) * half],
                    );
                    let (x1, x2) = xr.split_at(half);
                    let (y1, y2) = yr.split_at_mut(half);
                    for i in 0..half {
                        let s = sign * sn[i];
                        y1[i] = x1[i] * c[i] - x2[i] * s;
                        y2[i] = x1[i] * s + x2[i] * c[i];
                    }
                }
            }
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let inverse = Rope {
            inverse: !self.inverse,
            ..self.clone()
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&inverse)?))
    }
}

#[cfg(test)]
#[path = "rope_tests.rs"]
mod tests;

//! Fused dropout and dropout + residual add, with masks drawn in bulk from the run's generator.
//!
//! The mask is one byte per element, drawn from 32-bit halves of the generator's `u64`s
//! (`Rng::fill_u32`): an element is dropped when its draw is below `p * 2^32`. The op holding
//! the mask computes `x * mask * scale` (scale = 1/(1-p)) in one pass; its backward applies the
//! same mask, shared through an `Arc`, to the gradient.

use std::sync::Arc;

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::linear::fast_path;
use super::storage::slice_of;
use crate::rng::Rng;
use crate::task::Fwd;

/// A drawn dropout mask: which elements are kept, and the scale of the kept ones.
#[derive(Clone, Debug)]
pub struct DropoutMask {
    keep: Arc<Vec<u8>>,
    scale: f32,
}

impl DropoutMask {
    /// Draws a mask of `n` elements, each dropped with probability `p` (to within 2^-32).
    /// Same generator state, same mask; the generator advances by `ceil(n / 2)` draws.
    pub fn draw(n: usize, p: f64, rng: &mut Rng) -> Self {
        let p = p.clamp(0.0, 1.0);
        // Drop when the draw is below the threshold; 2^32 (p = 1) drops everything.
        let threshold = (p * (1u64 << 32) as f64).round() as u64;
        let mut keep = Vec::with_capacity(n);
        let mut buf = [0u32; 512];
        let mut left = n;
        while left > 0 {
            let m = left.min(buf.len());
            rng.fill_u32(&mut buf[..m]);
            keep.extend(buf[..m].iter().map(|&u| (u as u64 >= threshold) as u8));
            left -= m;
        }
        // p = 1 keeps nothing; a zero scale keeps `x * 0 = 0` instead of `0 * inf = NaN`.
        let scale = if p < 1.0 {
            (1.0 / (1.0 - p)) as f32
        } else {
            0.0
        };
        Self {
            keep: Arc::new(keep),
            scale,
        }
    }

    pub fn len(&self) -> usize {
        self.keep.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keep.is_empty()
    }

    /// Fraction of elements kept.
    pub fn keep_rate(&self) -> f64 {
        let kept: usize = self.keep.iter().map(|&k| k as usize).sum();
        kept as f64 / self.keep.len().max(1) as f64
    }

    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The mask as an f32 tensor of `scale` (kept) and 0 (dropped), in `x`'s row-major order:
    /// the multiplier of the composite path.
    pub fn to_tensor(&self, like: &Tensor) -> Result<Tensor> {
        self.check(like)?;
        let m: Vec<f32> = self.keep.iter().map(|&k| k as f32 * self.scale).collect();
        Tensor::from_vec(m, like.shape(), like.device())?.to_dtype(like.dtype())
    }

    fn check(&self, x: &Tensor) -> Result<()> {
        if x.elem_count() != self.keep.len() {
            bail!(
                "dropout: mask of {} elements for a tensor of shape {:?}",
                self.keep.len(),
                x.dims()
            );
        }
        Ok(())
    }

    /// `x * mask * scale`; fused on CPU f32, composite elsewhere.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        self.check(x)?;
        if !fast_path(&[x]) {
            return dropout_composite(x, &self.to_tensor(x)?);
        }
        x.contiguous()?.apply_op1(DropoutOp(self.clone()))
    }

    /// `residual + x * mask * scale`; fused on CPU f32, composite elsewhere.
    pub fn apply_add(&self, residual: &Tensor, x: &Tensor) -> Result<Tensor> {
        self.check(x)?;
        if residual.dims() != x.dims() {
            bail!(
                "dropout_add: residual {:?} and input {:?} differ in shape",
                residual.dims(),
                x.dims()
            );
        }
        if !fast_path(&[residual, x]) {
            return dropout_add_composite(residual, x, &self.to_tensor(x)?);
        }
        residual
            .contiguous()?
            .apply_op2(&x.contiguous()?, DropoutAddOp(self.clone()))
    }

    fn scaled(&self, x: &[f32]) -> Vec<f32> {
        let s = self.scale;
        x.iter()
            .zip(self.keep.iter())
            .map(|(&x, &k)| x * (k as f32 * s))
            .collect()
    }
}

/// Dropout with probability `p` in training mode, the mask drawn from `fwd.rng`; the identity
/// in eval mode or for `p <= 0`.
pub fn dropout(x: &Tensor, p: f64, fwd: &mut Fwd) -> Result<Tensor> {
    if !fwd.train || p <= 0.0 {
        return Ok(x.clone());
    }
    DropoutMask::draw(x.elem_count(), p, &mut fwd.rng).apply(x)
}

/// `residual + dropout(x)` in one op (a plain add in eval mode or for `p <= 0`).
pub fn dropout_add(residual: &Tensor, x: &Tensor, p: f64, fwd: &mut Fwd) -> Result<Tensor> {
    if !fwd.train || p <= 0.0 {
        return residual + x;
    }
    DropoutMask::draw(x.elem_count(), p, &mut fwd.rng).apply_add(residual, x)
}

/// The candle ops the fused dropout replaces: `x * mask` with `mask` from `to_tensor`.
pub fn dropout_composite(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    x.mul(mask)
}

/// The candle ops the fused dropout + residual replaces.
pub fn dropout_add_composite(residual: &Tensor, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    residual + x.mul(mask)?
}

/// `x * mask * scale`; its own backward (and the gradient's) is the same op.
struct DropoutOp(DropoutMask);

impl CustomOp1 for DropoutOp {
    fn name(&self) -> &'static str {
        "dropout"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice_of::<f32>(s, l, self.name(), "input")?;
        Ok((CpuStorage::F32(self.0.scaled(x)), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            grad.contiguous()?.apply_op1(DropoutOp(self.0.clone()))?,
        ))
    }
}

/// `residual + x * mask * scale`; backward `(g, g * mask * scale)`.
struct DropoutAddOp(DropoutMask);

impl CustomOp2 for DropoutAddOp {
    fn name(&self) -> &'static str {
        "dropout_add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let r = slice_of::<f32>(s1, l1, self.name(), "input")?;
        let x = slice_of::<f32>(s2, l2, self.name(), "input")?;
        let s = self.0.scale;
        let y = r
            .iter()
            .zip(x)
            .zip(self.0.keep.iter())
            .map(|((&r, &x), &k)| r + x * (k as f32 * s))
            .collect();
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _residual: &Tensor,
        _x: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = grad.contiguous()?.apply_op1(DropoutOp(self.0.clone()))?;
        Ok((Some(grad.clone()), Some(dx)))
    }
}

#[cfg(test)]
#[path = "dropout_tests.rs"]
mod tests;

//! The fused in-place AdamW update of one contiguous f32 CPU variable: parameter, first and
//! second moment in one loop over the elements, the shard gradients summed on the fly.

use std::cell::RefCell;

use candle_core::{CpuStorage, InplaceOp1, Layout, Result, Tensor};

use super::adamw::ParamsAdamW;
use super::shard_grads;

/// The per-step constants of the update, in f32 as candle's `affine` casts them.
#[derive(Clone, Copy)]
struct Coeffs {
    scale: f32,
    b1: f32,
    omb1: f32,
    b2: f32,
    omb2: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
    step_size: f32,
    decay: f32,
}

impl Coeffs {
    fn new(p: &ParamsAdamW, t: i32, scale: f32) -> Self {
        let bc1 = 1.0 - p.beta1.powi(t);
        let bc2 = 1.0 - p.beta2.powi(t);
        Self {
            scale,
            b1: p.beta1 as f32,
            omb1: (1.0 - p.beta1) as f32,
            b2: p.beta2 as f32,
            omb2: (1.0 - p.beta2) as f32,
            inv_sqrt_bc2: (1.0 / bc2.sqrt()) as f32,
            eps: p.eps as f32,
            step_size: (p.lr / bc1) as f32,
            decay: (1.0 - p.lr * p.weight_decay) as f32,
        }
    }

    /// One element, in the operation order of `composite_step` (so the results agree).
    #[inline(always)]
    fn apply(&self, th: &mut f32, m: &mut f32, v: &mut f32, g: f32) {
        let g = g * self.scale;
        let mi = *m * self.b1 + g * self.omb1;
        let vi = *v * self.b2 + (g * g) * self.omb2;
        let denom = vi.sqrt() * self.inv_sqrt_bc2 + self.eps;
        *th = *th * self.decay - (mi / denom) * self.step_size;
        *m = mi;
        *v = vi;
    }
}

/// Writes the variable's storage in place, reading the shard gradients and the moments.
/// (`InplaceOp1::cpu_fwd` takes `&self`, hence the `RefCell`.)
struct FusedStep<'a> {
    grads: &'a [&'a [f32]],
    moments: RefCell<(&'a mut [f32], &'a mut [f32])>,
    k: Coeffs,
}

impl InplaceOp1 for FusedStep<'_> {
    fn name(&self) -> &'static str {
        "adamw-fused-step"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let CpuStorage::F32(data) = storage else {
            candle_core::bail!("adamw-fused-step: the variable is not f32")
        };
        let Some((a, b)) = layout.contiguous_offsets() else {
            candle_core::bail!("adamw-fused-step: the variable is not contiguous")
        };
        let theta = &mut data[a..b];
        let mut mv = self.moments.borrow_mut();
        let (m, v) = &mut *mv;
        let n = theta.len();
        if m.len() != n || v.len() != n || self.grads.iter().any(|g| g.len() != n) {
            candle_core::bail!("adamw-fused-step: lengths differ");
        }
        let k = self.k;
        let it = theta.iter_mut().zip(m.iter_mut()).zip(v.iter_mut());
        match self.grads {
            [g0] => it
                .zip(g0.iter())
                .for_each(|(((th, m), v), &g)| k.apply(th, m, v, g)),
            [g0, g1] => (it.zip(g0.iter()).zip(g1.iter()))
                .for_each(|((((th, m), v), &a), &b)| k.apply(th, m, v, a + b)),
            gs => (it.enumerate())
                .for_each(|(j, ((th, m), v))| k.apply(th, m, v, shard_grads::sum_at(gs, j))),
        }
        Ok(())
    }
}

/// θ, m, v of one variable updated in place from `found` (contiguous CPU f32 gradients, none
/// sharing the variable's storage), the gradient taken as scale · Σ found, t the step.
pub(super) fn fused_step(
    var: &Tensor,
    m: &mut [f32],
    v: &mut [f32],
    found: &[Tensor],
    scale: f32,
    t: i32,
    p: &ParamsAdamW,
) -> Result<()> {
    shard_grads::with_f32(found, |grads| {
        var.inplace_op1(&FusedStep {
            grads,
            moments: RefCell::new((m, v)),
            k: Coeffs::new(p, t, scale),
        })
    })
}

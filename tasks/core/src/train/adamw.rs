//! AdamW with PyTorch semantics (bias correction, decoupled weight decay, per-parameter step
//! counts) and state that can be checkpointed: candle-nn's AdamW keeps its moments private.
//! A step may take the gradients of several shards of the batch (`step_shards`); on the CPU each
//! f32 parameter and its moments are updated in place in one fused loop.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};

use super::{adamw_kernel, shard_grads};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ParamsAdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

/// PyTorch's `torch.optim.AdamW` defaults.
impl Default for ParamsAdamW {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-2,
        }
    }
}

impl ParamsAdamW {
    pub fn validate(&self) -> Result<()> {
        let ok = self.lr >= 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps >= 0.0
            && self.weight_decay >= 0.0;
        if !ok {
            candle_core::bail!(
                "AdamW: need lr >= 0, 0 <= beta1, beta2 < 1, eps >= 0, weight_decay >= 0; got {self:?}"
            );
        }
        Ok(())
    }
}

/// The optimizer state of one variable: its own step count (PyTorch counts steps per
/// parameter, so a variable without gradients for a while keeps correct bias correction) and
/// its first and second moments.
#[derive(Debug, Clone)]
pub struct MomentState {
    pub name: String,
    pub step: usize,
    pub m: Tensor,
    pub v: Tensor,
}

/// Everything needed to resume the optimizer exactly. Its tensors are copies, not shared with
/// the optimizer.
#[derive(Debug, Clone)]
pub struct AdamWState {
    /// Calls of `step`.
    pub step: usize,
    pub params: ParamsAdamW,
    pub vars: Vec<MomentState>,
}

/// The moments of one variable: plain vectors updated in place by the fused CPU loop
/// (contiguous f32 variables on the CPU), tensors replaced by candle ops otherwise.
enum Moments {
    Host { m: Vec<f32>, v: Vec<f32> },
    Tensors { m: Tensor, v: Tensor },
}

struct Slot {
    name: String,
    var: Var,
    step: usize,
    moments: Moments,
}

pub struct AdamW {
    slots: Vec<Slot>,
    params: ParamsAdamW,
    step: usize,
    skipped: Vec<usize>,
    /// One variable's shard gradients during a step (kept for its capacity; empty between steps).
    found: Vec<Tensor>,
}

/// Whether `var` is updated by the fused in-place loop.
fn fused_path(var: &Var) -> bool {
    crate::ops::fused_allowed()
        && var.device().is_cpu()
        && var.dtype() == DType::F32
        && var.layout().is_contiguous()
}

impl AdamW {
    /// Names must be unique (they key the checkpoint); every variable must be a float tensor.
    pub fn new(vars: Vec<(String, Var)>, params: ParamsAdamW) -> Result<Self> {
        params.validate()?;
        let mut names = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        let mut slots = Vec::with_capacity(vars.len());
        for (name, var) in vars {
            if !names.insert(name.clone()) {
                candle_core::bail!("AdamW: variable name {name:?} appears twice");
            }
            if !ids.insert(var.as_tensor().id()) {
                candle_core::bail!("AdamW: variable {name:?} is already listed under another name");
            }
            if !var.dtype().is_float() {
                candle_core::bail!(
                    "AdamW: variable {name:?} has non-float dtype {:?}",
                    var.dtype()
                );
            }
            let moments = if fused_path(&var) {
                let n = var.elem_count();
                Moments::Host {
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            } else {
                Moments::Tensors {
                    m: var.zeros_like()?,
                    v: var.zeros_like()?,
                }
            };
            slots.push(Slot {
                name,
                var,
                step: 0,
                moments,
            });
        }
        Ok(Self {
            slots,
            params,
            step: 0,
            skipped: Vec::new(),
            found: Vec::new(),
        })
    }

    pub fn params(&self) -> &ParamsAdamW {
        &self.params
    }

    pub fn lr(&self) -> f64 {
        self.params.lr
    }

    pub fn set_lr(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// Number of `step` calls so far.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// How many variables had no gradient in the last step (and were left untouched).
    pub fn skipped_last_step(&self) -> usize {
        self.skipped.len()
    }

    /// Names of the variables without a gradient in the last step.
    pub fn skipped_names(&self) -> Vec<&str> {
        self.skipped
            .iter()
            .map(|&i| self.slots[i].name.as_str())
            .collect()
    }

    pub fn vars(&self) -> impl Iterator<Item = (&str, &Var)> {
        self.slots.iter().map(|s| (s.name.as_str(), &s.var))
    }

    /// One update of every variable that has a gradient in `grads`:
    /// θ ← θ(1 − lr·wd);  m ← β1·m + (1−β1)g;  v ← β2·v + (1−β2)g²;
    /// θ ← θ − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε),  t the variable's own step.
    /// The same as `step_shards(&[grads], &[1.0; n])`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_impl(&[grads], None)
    }

    /// One update (as `step`) with the gradient of variable i taken as
    /// g = scales[i] · (shards[0] + shards[1] + …), summed in shard order, from the shards that
    /// have one; a variable without a gradient in any shard is skipped. `scales` has one entry
    /// per variable in the order given to `new` (e.g. from `clip::group_scales`). Contiguous
    /// f32 CPU variables are updated in place, parameter and moments in one loop, with no
    /// tensor allocated; others by candle ops. Shapes are checked first: on error nothing
    /// changes.
    pub fn step_shards(&mut self, shards: &[&GradStore], scales: &[f32]) -> Result<()> {
        if scales.len() != self.slots.len() {
            candle_core::bail!(
                "AdamW: {} scales for {} variables",
                scales.len(),
                self.slots.len()
            );
        }
        self.step_impl(shards, Some(scales))
    }

    fn step_impl(&mut self, shards: &[&GradStore], scales: Option<&[f32]>) -> Result<()> {
        for s in &self.slots {
            for (k, sh) in shards.iter().enumerate() {
                match sh.get(s.var.as_tensor()) {
                    Some(g) if g.shape() != s.var.shape() => candle_core::bail!(
                        "AdamW: gradient of {:?} in shard {k} has shape {:?}, the variable {:?}",
                        s.name,
                        g.shape(),
                        s.var.shape()
                    ),
                    _ => {}
                }
            }
        }
        self.step += 1;
        self.skipped.clear();
        let p = self.params;
        let mut found = std::mem::take(&mut self.found);
        let res = (self.slots.iter_mut().enumerate()).try_for_each(|(i, s)| {
            let scale = scales.map_or(1.0, |sc| sc[i]);
            let host = matches!(s.moments, Moments::Host { .. });
            let var = s.var.as_tensor();
            shard_grads::collect("AdamW", &s.name, var, shards, host, &mut found)?;
            if found.is_empty() {
                self.skipped.push(i);
                return Ok(());
            }
            let t = (s.step + 1) as i32;
            match &mut s.moments {
                Moments::Host { m, v } => {
                    adamw_kernel::fused_step(var, m, v, &found, scale, t, &p)?
                }
                Moments::Tensors { m, v } => {
                    let mut g = shard_grads::sum_tensors(&found)?;
                    if scale != 1.0 {
                        g = g.affine(scale as f64, 0.0)?;
                    }
                    let (m2, v2) = composite_step(&s.var, m, v, &g, t, &p)?;
                    (*m, *v) = (m2, v2);
                }
            }
            s.step += 1;
            Ok(())
        });
        found.clear();
        self.found = found;
        res
    }

    /// A copy of the state. Moments updated in place (CPU f32) are copied out, so the result
    /// stays as it is while training goes on (a copy of all moments: cheap next to a
    /// checkpoint write, too dear for every step).
    pub fn state(&self) -> AdamWState {
        AdamWState {
            step: self.step,
            params: self.params,
            vars: self
                .slots
                .iter()
                .map(|s| {
                    let (m, v) = match &s.moments {
                        Moments::Host { m, v } => {
                            // Cannot fail: the moments have the variable's element count.
                            let t = |x: &[f32]| {
                                Tensor::from_slice(x, s.var.shape(), &Device::Cpu)
                                    .expect("moments have the variable's size")
                            };
                            (t(m), t(v))
                        }
                        // Shared, cheap: candle ops replace these moments rather than mutate.
                        Moments::Tensors { m, v } => (m.clone(), v.clone()),
                    };
                    MomentState {
                        name: s.name.clone(),
                        step: s.step,
                        m,
                        v,
                    }
                })
                .collect(),
        }
    }

    /// Restore a saved state. It must hold exactly this optimizer's variables (by name) with
    /// matching shapes; nothing changes unless all of it fits. The moments are copied in.
    pub fn set_state(&mut self, st: AdamWState) -> Result<()> {
        st.params.validate()?;
        let mut by_name: std::collections::HashMap<String, MomentState> =
            st.vars.into_iter().map(|m| (m.name.clone(), m)).collect();
        let mut restored = Vec::with_capacity(self.slots.len());
        for s in &self.slots {
            let Some(ms) = by_name.remove(&s.name) else {
                candle_core::bail!("optimizer state lacks variable {:?}", s.name);
            };
            for (what, t) in [("first", &ms.m), ("second", &ms.v)] {
                if t.shape() != s.var.shape() {
                    candle_core::bail!(
                        "optimizer state: {what} moment of {:?} has shape {:?}, the variable {:?}",
                        s.name,
                        t.shape(),
                        s.var.shape()
                    );
                }
            }
            let moments = match s.moments {
                Moments::Host { .. } => {
                    let host = |t: &Tensor| {
                        (t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?)
                            .flatten_all()?
                            .to_vec1::<f32>()
                    };
                    Moments::Host {
                        m: host(&ms.m)?,
                        v: host(&ms.v)?,
                    }
                }
                Moments::Tensors { .. } => {
                    let dev = |t: &Tensor| t.to_dtype(s.var.dtype())?.to_device(s.var.device());
                    Moments::Tensors {
                        m: dev(&ms.m)?,
                        v: dev(&ms.v)?,
                    }
                }
            };
            restored.push((ms.step, moments));
        }
        if !by_name.is_empty() {
            let mut extra: Vec<&String> = by_name.keys().collect();
            extra.sort();
            candle_core::bail!("optimizer state has variables this model lacks: {extra:?}");
        }
        for (s, (step, moments)) in self.slots.iter_mut().zip(restored) {
            s.step = step;
            s.moments = moments;
        }
        self.step = st.step;
        self.params = st.params;
        self.skipped.clear();
        Ok(())
    }
}

/// The update by candle ops (other devices and dtypes); returns the new moments.
fn composite_step(
    var: &Var,
    m: &Tensor,
    v: &Tensor,
    g: &Tensor,
    t: i32,
    p: &ParamsAdamW,
) -> Result<(Tensor, Tensor)> {
    let g = g.to_dtype(var.dtype())?;
    let m = (m.affine(p.beta1, 0.0)? + g.affine(1.0 - p.beta1, 0.0)?)?.detach();
    let v = (v.affine(p.beta2, 0.0)? + g.sqr()?.affine(1.0 - p.beta2, 0.0)?)?.detach();
    let bc1 = 1.0 - p.beta1.powi(t);
    let bc2 = 1.0 - p.beta2.powi(t);
    let denom = v.sqrt()?.affine(1.0 / bc2.sqrt(), p.eps)?;
    let update = (m.div(&denom)?).affine(p.lr / bc1, 0.0)?;
    let theta = var.as_tensor().affine(1.0 - p.lr * p.weight_decay, 0.0)?;
    var.set(&(theta - update)?.detach())?;
    Ok((m, v))
}

#[cfg(test)]
#[path = "adamw_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "adamw_fused_tests.rs"]
mod fused_tests;

//! AdamW with PyTorch semantics (bias correction, decoupled weight decay, per-parameter step
//! counts) and state that can be checkpointed: candle-nn's AdamW keeps its moments private.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
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

/// Everything needed to resume the optimizer exactly.
#[derive(Debug, Clone)]
pub struct AdamWState {
    /// Calls of `step`.
    pub step: usize,
    pub params: ParamsAdamW,
    pub vars: Vec<MomentState>,
}

struct Slot {
    name: String,
    var: Var,
    step: usize,
    m: Tensor,
    v: Tensor,
}

pub struct AdamW {
    slots: Vec<Slot>,
    params: ParamsAdamW,
    step: usize,
    skipped: Vec<usize>,
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
            let m = var.zeros_like()?;
            let v = var.zeros_like()?;
            slots.push(Slot {
                name,
                var,
                step: 0,
                m,
                v,
            });
        }
        Ok(Self {
            slots,
            params,
            step: 0,
            skipped: Vec::new(),
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
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        self.skipped.clear();
        let p = self.params;
        for (i, s) in self.slots.iter_mut().enumerate() {
            let Some(g) = grads.get(s.var.as_tensor()) else {
                self.skipped.push(i);
                continue;
            };
            if g.shape() != s.var.shape() {
                candle_core::bail!(
                    "AdamW: gradient of {:?} has shape {:?}, the variable {:?}",
                    s.name,
                    g.shape(),
                    s.var.shape()
                );
            }
            let g = g.to_dtype(s.var.dtype())?;
            let t = (s.step + 1) as i32;
            let m = (s.m.affine(p.beta1, 0.0)? + g.affine(1.0 - p.beta1, 0.0)?)?.detach();
            let v = (s.v.affine(p.beta2, 0.0)? + g.sqr()?.affine(1.0 - p.beta2, 0.0)?)?.detach();
            let bc1 = 1.0 - p.beta1.powi(t);
            let bc2 = 1.0 - p.beta2.powi(t);
            let denom = v.sqrt()?.affine(1.0 / bc2.sqrt(), p.eps)?;
            let update = (m.div(&denom)?).affine(p.lr / bc1, 0.0)?;
            let theta = s.var.as_tensor().affine(1.0 - p.lr * p.weight_decay, 0.0)?;
            s.var.set(&(theta - update)?.detach())?;
            s.m = m;
            s.v = v;
            s.step += 1;
        }
        Ok(())
    }

    /// A copy of the state (tensors are shared, cheap: the optimizer replaces rather than
    /// mutates its moments).
    pub fn state(&self) -> AdamWState {
        AdamWState {
            step: self.step,
            params: self.params,
            vars: self
                .slots
                .iter()
                .map(|s| MomentState {
                    name: s.name.clone(),
                    step: s.step,
                    m: s.m.clone(),
                    v: s.v.clone(),
                })
                .collect(),
        }
    }

    /// Restore a saved state. It must hold exactly this optimizer's variables (by name) with
    /// matching shapes; nothing changes unless all of it fits.
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
            let m = ms.m.to_dtype(s.var.dtype())?.to_device(s.var.device())?;
            let v = ms.v.to_dtype(s.var.dtype())?.to_device(s.var.device())?;
            restored.push((ms.step, m, v));
        }
        if !by_name.is_empty() {
            let mut extra: Vec<&String> = by_name.keys().collect();
            extra.sort();
            candle_core::bail!("optimizer state has variables this model lacks: {extra:?}");
        }
        for (s, (step, m, v)) in self.slots.iter_mut().zip(restored) {
            s.step = step;
            s.m = m;
            s.v = v;
        }
        self.step = st.step;
        self.params = st.params;
        self.skipped.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// PyTorch's AdamW update of one scalar, written out independently of the tensor code.
    fn reference(theta: &mut f64, m: &mut f64, v: &mut f64, t: i32, g: f64, p: &ParamsAdamW) {
        *theta *= 1.0 - p.lr * p.weight_decay;
        *m = p.beta1 * *m + (1.0 - p.beta1) * g;
        *v = p.beta2 * *v + (1.0 - p.beta2) * g * g;
        let (bc1, bc2) = (1.0 - p.beta1.powi(t), 1.0 - p.beta2.powi(t));
        *theta -= p.lr / bc1 * *m / ((*v).sqrt() / bc2.sqrt() + p.eps);
    }

    /// Gradient `g` for `var` by backprop of sum(var · g).
    fn grads_for(var: &Var, g: &[f64]) -> Result<GradStore> {
        let c = Tensor::new(g, var.device())?;
        (var.as_tensor() * c)?.sum_all()?.backward()
    }

    #[test]
    fn two_steps_match_hand_computed_pytorch_adamw() -> Result<()> {
        let p = ParamsAdamW {
            lr: 0.1,
            weight_decay: 0.1,
            ..Default::default()
        };
        let w = Var::new(&[1.0f64, -2.0, 0.3], &Device::Cpu)?;
        let mut opt = AdamW::new(vec![("w".into(), w.clone())], p)?;
        let gs = [[0.5, 3.0, 0.0], [-0.25, 1e-3, 2.0]];
        let mut r = [(1.0, 0.0, 0.0), (-2.0, 0.0, 0.0), (0.3, 0.0, 0.0)];
        for (t, g) in gs.iter().enumerate() {
            opt.step(&grads_for(&w, g)?)?;
            for (k, (th, m, v)) in r.iter_mut().enumerate() {
                reference(th, m, v, t as i32 + 1, g[k], &p);
            }
            let got = w.as_tensor().to_vec1::<f64>()?;
            for k in 0..3 {
                assert!(
                    (got[k] - r[k].0).abs() < 1e-12,
                    "step {t} elem {k}: {} vs {}",
                    got[k],
                    r[k].0
                );
            }
        }
        // By hand for element 0 (lr 0.1, wd 0.1, g 0.5 then -0.25):
        // step 1: 1·0.99 − 0.1·0.5/(0.5 + 1e-8) = 0.890000002;
        // step 2: m = 0.02, v = 3.1225e-4, m̂ = 0.02/0.19, v̂ = 3.1225e-4/0.001999,
        //         0.890000002·0.99 − 0.1·m̂/(√v̂ + 1e-8) = 0.854466298687846.
        let got = w.as_tensor().to_vec1::<f64>()?;
        assert!((got[0] - 0.854_466_298_687_846).abs() < 1e-12, "{}", got[0]);
        let st = opt.state();
        assert_eq!((st.step, st.vars[0].step), (2, 2));
        let m = st.vars[0].m.to_vec1::<f64>()?;
        let v = st.vars[0].v.to_vec1::<f64>()?;
        assert!((m[0] - 0.02).abs() < 1e-15 && (v[0] - 3.1225e-4).abs() < 1e-15);
        Ok(())
    }

    #[test]
    fn vars_without_gradient_are_skipped_and_counted() -> Result<()> {
        let dev = Device::Cpu;
        let a = Var::new(&[1.0f32, 2.0], &dev)?;
        let b = Var::new(&[3.0f32], &dev)?;
        let mut opt = AdamW::new(
            vec![("a".into(), a.clone()), ("b".into(), b.clone())],
            ParamsAdamW::default(),
        )?;
        let grads = (a.as_tensor() * 2.0)?.sum_all()?.backward()?;
        opt.step(&grads)?;
        assert_eq!(opt.skipped_last_step(), 1);
        assert_eq!(opt.skipped_names(), vec!["b"]);
        assert_eq!(b.as_tensor().to_vec1::<f32>()?, vec![3.0]);
        let st = opt.state();
        assert_eq!((st.step, st.vars[0].step, st.vars[1].step), (1, 1, 0));
        assert_eq!(st.vars[1].m.to_vec1::<f32>()?, vec![0.0]);
        assert!(a.as_tensor().to_vec1::<f32>()?[0] < 1.0);
        Ok(())
    }

    #[test]
    fn bad_construction_and_state_are_errors() -> Result<()> {
        let dev = Device::Cpu;
        let a = Var::new(&[1.0f32], &dev)?;
        let dup = AdamW::new(
            vec![
                ("a".into(), a.clone()),
                ("a".into(), Var::new(&[1f32], &dev)?),
            ],
            ParamsAdamW::default(),
        );
        assert!(dup
            .err()
            .unwrap()
            .to_string()
            .contains("\"a\" appears twice"));
        let bad = ParamsAdamW {
            beta1: 1.0,
            ..Default::default()
        };
        assert!(AdamW::new(vec![("a".into(), a.clone())], bad).is_err());
        let mut opt = AdamW::new(vec![("a".into(), a.clone())], ParamsAdamW::default())?;
        let mut st = opt.state();
        st.vars[0].m = Tensor::zeros(2, candle_core::DType::F32, &dev)?;
        let e = opt.set_state(st).unwrap_err().to_string();
        assert!(e.contains("first moment of \"a\""), "{e}");
        let mut st = opt.state();
        st.vars[0].name = "z".into();
        assert!(opt
            .set_state(st)
            .unwrap_err()
            .to_string()
            .contains("lacks variable \"a\""));
        Ok(())
    }
}

//! A parameter store whose initial values come from the run's seeded generator.
//!
//! candle's `VarMap` initialises through the CPU RNG, which cannot be seeded. This store plugs
//! into `VarBuilder` as a backend and honours each layer's own init hint (Kaiming for linear
//! weights, constants for norms, uniform biases), drawing from `crate::Rng`. Model construction
//! order is deterministic, so the same seed gives the same weights.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

use crate::rng::Rng;

#[derive(Clone)]
pub struct ParamStore {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    vars: BTreeMap<String, Var>,
    rng: Rng,
}

impl ParamStore {
    pub fn new(seed: u64) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                vars: BTreeMap::new(),
                rng: Rng::derive(seed, 0x1417),
            })),
        }
    }

    /// A `VarBuilder` that creates (or returns existing) variables in this store.
    pub fn vb(&self, dev: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), DType::F32, dev.clone())
    }

    /// All variables, sorted by name (a stable order for optimizers and checkpoints).
    pub fn vars(&self) -> Vec<(String, Var)> {
        let g = self.inner.lock().expect("param store poisoned");
        g.vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Variables whose name starts with `prefix` (e.g. one sub-model of a joint store).
    pub fn vars_with_prefix(&self, prefix: &str) -> Vec<(String, Var)> {
        self.vars()
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect()
    }

    pub fn num_params(&self) -> usize {
        self.vars().iter().map(|(_, v)| v.elem_count()).sum()
    }

    pub fn num_params_with_prefix(&self, prefix: &str) -> usize {
        self.vars_with_prefix(prefix)
            .iter()
            .map(|(_, v)| v.elem_count())
            .sum()
    }

    /// Overwrite variable values from named tensors (e.g. a loaded checkpoint).
    pub fn load(&self, tensors: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in self.vars() {
            let t = tensors
                .get(&name)
                .ok_or_else(|| candle_core::Error::Msg(format!("missing tensor {name}")))?;
            if t.dims() != var.dims() {
                candle_core::bail!(
                    "tensor {name}: shape {:?} in file, {:?} in model",
                    t.dims(),
                    var.dims()
                );
            }
            var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
        }
        Ok(())
    }

    /// Snapshot of all values (detached copies).
    pub fn snapshot(&self) -> Result<std::collections::HashMap<String, Tensor>> {
        self.vars()
            .into_iter()
            .map(|(k, v)| Ok((k, v.as_tensor().copy()?)))
            .collect()
    }
}

fn draw(rng: &mut Rng, shape: &Shape, init: Init) -> Vec<f32> {
    let n = shape.elem_count();
    match init {
        Init::Const(c) => vec![c as f32; n],
        Init::Randn { mean, stdev } => (0..n)
            .map(|_| (mean + stdev * rng.normal()) as f32)
            .collect(),
        Init::Uniform { lo, up } => (0..n)
            .map(|_| (lo + (up - lo) * rng.uniform()) as f32)
            .collect(),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let dims = shape.dims();
            let receptive: usize = dims.iter().skip(2).product();
            let fan_n = match fan {
                candle_nn::init::FanInOut::FanIn => dims.get(1).copied().unwrap_or(1) * receptive,
                candle_nn::init::FanInOut::FanOut => dims.first().copied().unwrap_or(1) * receptive,
            };
            let std = non_linearity.gain() / (fan_n.max(1) as f64).sqrt();
            match dist {
                candle_nn::init::NormalOrUniform::Normal => {
                    (0..n).map(|_| (std * rng.normal()) as f32).collect()
                }
                candle_nn::init::NormalOrUniform::Uniform => {
                    let b = 3f64.sqrt() * std;
                    (0..n)
                        .map(|_| (b * (2.0 * rng.uniform() - 1.0)) as f32)
                        .collect()
                }
            }
        }
    }
}

impl SimpleBackend for ParamStore {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let mut g = self.inner.lock().expect("param store poisoned");
        if let Some(v) = g.vars.get(name) {
            if v.shape() != &s {
                candle_core::bail!(
                    "parameter {name}: shape {:?} requested, {:?} exists",
                    s,
                    v.shape()
                );
            }
            return Ok(v.as_tensor().clone());
        }
        let data = draw(&mut g.rng, &s, h);
        let t = Tensor::from_vec(data, s, dev)?.to_dtype(dtype)?;
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        g.vars.insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        let g = self.inner.lock().expect("param store poisoned");
        g.vars
            .get(name)
            .map(|v| v.as_tensor().clone())
            .ok_or_else(|| candle_core::Error::Msg(format!("parameter {name} not found")))
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.inner
            .lock()
            .expect("param store poisoned")
            .vars
            .contains_key(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_weights_different_seed_different() -> Result<()> {
        let dev = Device::Cpu;
        let make = |seed| -> Result<Vec<f32>> {
            let ps = ParamStore::new(seed);
            let l = candle_nn::linear(4, 3, ps.vb(&dev).pp("l"))?;
            let _ = l;
            ps.vars()[1].1.as_tensor().flatten_all()?.to_vec1::<f32>()
        };
        assert_eq!(make(1)?, make(1)?);
        assert_ne!(make(1)?, make(2)?);
        Ok(())
    }
}

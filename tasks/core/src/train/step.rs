//! Forward and backward of one training step, as shards of the batch run on parallel threads.
//!
//! Shard `s` of `k` holds a contiguous slice of the batch's examples, is collated on its own
//! (its own padding and augmentation stream) and gives its own gradients. Its loss is weighted
//! by its share of the examples, so the summed gradients are those of the batch mean whenever
//! the objective is a mean over examples (CTC). Terms normalised over the batch's valid frames
//! (frame KD, Guided CTC, attention-map and layer-wise KD) are normalised within each shard
//! instead: the same objective up to how examples of different lengths are weighted. Shard 0
//! draws exactly the streams an unsharded step draws, so `shards = 1` reproduces a
//! single-batch step bit for bit.

use candle_core::backprop::GradStore;
use candle_core::{Device, Result};

use super::{group_scales, AdamW, LossOut, Trainable};
use crate::threads::{run_sharded, shard_ranges};
use crate::{Fwd, Rng, Task};
use candle_core::Var;

/// Log parts that count events (summed over shards) rather than average a quantity (weighted).
pub const COUNT_PARTS: &[&str] = &["infeasible"];

/// What a step's shards produced, combined in shard order.
pub struct ShardedStep {
    /// One gradient store per shard; the step's gradient is their sum.
    pub grads: Vec<GradStore>,
    /// The weighted sum of the shards' losses (the batch objective).
    pub loss: f32,
    pub parts: Vec<(String, f32)>,
}

/// The streams of shard `s`: shard 0 keeps the unsharded stream, the others get their own.
fn shard_stream(base: u64, s: usize) -> u64 {
    base ^ (s as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Everything a step needs to build its shards.
pub struct StepInputs<'a, T: Task> {
    pub task: &'a T,
    pub train: &'a [T::Example],
    /// The batch: indices into `train`.
    pub idx: &'a [usize],
    pub seed: u64,
    pub step: usize,
    pub shards: usize,
    pub device: &'a Device,
}

impl<T: Task> StepInputs<'_, T> {
    /// Collate (with the task's augmentation), forward, loss and backward of every shard.
    pub fn run<M: Trainable + ?Sized>(&self, model: &M) -> Result<ShardedStep> {
        self.run_with(model, true)
    }

    /// `run`, with the task's augmentation on or off (`TrainConfig::augment`).
    pub fn run_with<M: Trainable + ?Sized>(&self, model: &M, augment: bool) -> Result<ShardedStep> {
        let n = self.idx.len();
        let ranges = shard_ranges(n, self.shards);
        let single = ranges.len() == 1;
        let results = run_sharded(
            self.device,
            ranges.len(),
            |s| -> Result<(f64, LossOut, f32, GradStore)> {
                let r = ranges[s].clone();
                let weight = r.len() as f64 / n as f64;
                let items: Vec<(usize, &T::Example)> =
                    self.idx[r].iter().map(|&i| (i, &self.train[i])).collect();
                let mut aug = Rng::derive(shard_stream(self.seed ^ 0xA11CE, s), self.step as u64);
                let batch = self.task.collate(&items, augment, &mut aug, self.device)?;
                let mut fwd = Fwd::train(Rng::derive(
                    shard_stream(self.seed ^ 0xD20, s),
                    self.step as u64,
                ));
                fwd.step = self.step;
                let out = model.loss(&batch, &mut fwd)?;
                let total = if single {
                    out.total.clone()
                } else {
                    (&out.total * weight)?
                };
                let value = total.to_scalar::<f32>()?;
                let grads = total.backward()?;
                Ok((weight, out, value, grads))
            },
        );
        let mut step = ShardedStep {
            grads: Vec::with_capacity(results.len()),
            loss: 0.0,
            parts: Vec::new(),
        };
        for r in results {
            let (weight, out, value, grads) = r?;
            step.loss += value;
            step.grads.push(grads);
            for (name, v) in out.parts {
                let add = if COUNT_PARTS.contains(&name.as_str()) {
                    v
                } else {
                    (weight * v as f64) as f32
                };
                match step.parts.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, acc)) => *acc += add,
                    None => step.parts.push((name, add)),
                }
            }
        }
        Ok(step)
    }
}

/// Clip (`clip` > 0: each of `clip_groups` and the rest to that norm, see
/// `Trainable::clip_groups`) and apply one AdamW update from the shards' gradients, summed in
/// shard order inside the update. `vars` is the list the optimiser was built with. Returns
/// false, and leaves the parameters and the optimiser untouched, when any gradient holds a NaN
/// or an infinity (its group's norm, accumulated in f64 from f32 values, is then non-finite).
pub fn apply_update(
    opt: &mut AdamW,
    vars: &[(String, Var)],
    clip_groups: &[String],
    shards: Vec<GradStore>,
    clip: f64,
) -> Result<bool> {
    let shards: Vec<&GradStore> = shards.iter().collect();
    let scales = if clip > 0.0 {
        let cs = group_scales(vars, clip_groups, &shards, clip)?;
        if cs.norms.iter().any(|n| !n.is_finite()) {
            return Ok(false);
        }
        cs.scales
    } else {
        // Unclipped, the norm is computed only for the check; max_norm 1 scales nothing here.
        let cs = group_scales(vars, &[], &shards, 1.0)?;
        if cs.norms.iter().any(|n| !n.is_finite()) {
            return Ok(false);
        }
        vec![1.0; vars.len()]
    };
    opt.step_shards(&shards, &scales)?;
    Ok(true)
}

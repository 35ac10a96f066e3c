//! CTC loss as a candle op with its own backward (blank = 0).
//!
//! The op's forward computes every utterance's negative log-likelihood and, when the input is
//! part of an autograd graph, the gradient in the same pass (alpha is already in memory then,
//! so beta costs one more sweep). `bwd` only scales the cached gradient by the upstream
//! gradient, so reductions and anything upstream compose through ordinary candle autograd.

use std::sync::{Arc, OnceLock};

use candle_core::{bail, CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::kernel::{forward_backward, Mode, Utt};

/// How per-utterance losses become the returned `loss`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reduction {
    /// The `(B,)` vector of per-utterance losses.
    None,
    /// Sum over the batch.
    Sum,
    /// PyTorch's `mean`: the batch mean of `loss_b / max(target_len_b, 1)`.
    #[default]
    Mean,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CtcOptions {
    pub reduction: Reduction,
    /// Infeasible utterances contribute 0 (and zero gradient) instead of `+inf`.
    pub zero_infinity: bool,
    /// The input is unnormalised logits: log-softmax is applied inside the op, and the
    /// gradient is the fused `softmax - gamma`. Otherwise the input is log-probabilities.
    pub inputs_are_logits: bool,
}

impl Default for CtcOptions {
    fn default() -> Self {
        Self {
            reduction: Reduction::Mean,
            zero_infinity: false,
            inputs_are_logits: true,
        }
    }
}

#[derive(Clone, Debug)]
pub struct CtcOutput {
    /// Scalar for `Sum`/`Mean`, `(B,)` for `None`; on the input's device.
    pub loss: Tensor,
    /// Negative log-likelihood per utterance: `+inf` if infeasible (0 with `zero_infinity`).
    pub per_utt: Vec<f32>,
    /// Utterances with zero likelihood: too few frames for their target
    /// (`len < U + adjacent repeats`), or every path through a zero-probability frame.
    pub infeasible: usize,
}

struct Cache {
    grad: Option<Tensor>,
    infeasible: usize,
}

struct CtcOp {
    lens: Vec<usize>,
    targets: Vec<Vec<u32>>,
    logits: bool,
    zero_infinity: bool,
    want_grad: bool,
    mode: Mode,
    cache: Arc<OnceLock<Cache>>,
}

impl CustomOp1 for CtcOp {
    fn name(&self) -> &'static str {
        "ctc_loss"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, t, v) = layout.shape().dims3()?;
        let Some((start, end)) = layout.contiguous_offsets() else {
            bail!("ctc_loss: input must be contiguous")
        };
        let x = &storage.as_slice::<f32>()?[start..end];
        let run = |i: usize, g: Option<&mut [f32]>| {
            let u = Utt {
                x: &x[i * t * v..(i + 1) * t * v],
                v,
                len: self.lens[i],
                target: &self.targets[i],
                logits: self.logits,
            };
            forward_backward(&u, g, self.mode).map_err(|e| format!("ctc_loss: utterance {i}: {e}"))
        };
        let mut grad = if self.want_grad {
            vec![0f32; b * t * v]
        } else {
            Vec::new()
        };
        // `t > 0` because chunks must be non-empty; zero frames need no gradient rows.
        let nlls: Vec<Result<f64, String>> = if self.want_grad && t > 0 {
            grad.par_chunks_mut(t * v)
                .enumerate()
                .map(|(i, g)| run(i, Some(g)))
                .collect()
        } else {
            (0..b).into_par_iter().map(|i| run(i, None)).collect()
        };
        let mut per_utt = Vec::with_capacity(b);
        let mut infeasible = 0;
        for (i, nll) in nlls.into_iter().enumerate() {
            let nll = nll.map_err(candle_core::Error::Msg)? as f32;
            if nll.is_finite() {
                per_utt.push(nll);
                continue;
            }
            // Also catches a finite f64 beyond f32 range, so loss and gradient stay consistent.
            infeasible += 1;
            per_utt.push(if self.zero_infinity {
                0.0
            } else {
                f32::INFINITY
            });
            if self.want_grad {
                grad[i * t * v..(i + 1) * t * v].fill(0.0);
            }
        }
        let grad = if self.want_grad {
            Some(Tensor::from_vec(grad, (b, t, v), &Device::Cpu)?)
        } else {
            None
        };
        // A fresh op is built per call, so the cell is always empty here.
        let _ = self.cache.set(Cache { grad, infeasible });
        Ok((CpuStorage::F32(per_utt), Shape::from(b)))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let Some(grad) = self.cache.get().and_then(|c| c.grad.as_ref()) else {
            bail!(
                "ctc_loss: backward reached an op whose input was not tracked in the forward pass"
            )
        };
        let b = grad_res.elem_count();
        Ok(Some(grad.broadcast_mul(&grad_res.reshape((b, 1, 1))?)?))
    }
}

/// CTC loss of `input` `(B, T, V')` (blank = 0) with `input_lens[b] <= T` valid frames and
/// unpadded label sequences `targets[b]` (labels in `1..V'`). Differentiable w.r.t. `input`.
pub fn ctc_loss(
    input: &Tensor,
    input_lens: &[usize],
    targets: &[Vec<u32>],
    opts: &CtcOptions,
) -> candle_core::Result<CtcOutput> {
    ctc_loss_with_mode(input, input_lens, targets, opts, Mode::Auto)
}

pub(crate) fn ctc_loss_with_mode(
    input: &Tensor,
    input_lens: &[usize],
    targets: &[Vec<u32>],
    opts: &CtcOptions,
    mode: Mode,
) -> candle_core::Result<CtcOutput> {
    let (b, t, v) = match input.dims() {
        &[b, t, v] => (b, t, v),
        d => bail!("ctc_loss: input must be (B, T, V'), got shape {d:?}"),
    };
    if input_lens.len() != b || targets.len() != b {
        bail!(
            "ctc_loss: batch of {b} but {} input lengths and {} targets",
            input_lens.len(),
            targets.len()
        );
    }
    if v < 2 {
        bail!("ctc_loss: V' = {v}, need the blank plus at least one label");
    }
    for (i, (&len, tgt)) in input_lens.iter().zip(targets).enumerate() {
        if len > t {
            bail!("ctc_loss: utterance {i}: input length {len} exceeds T = {t}");
        }
        if let Some(&l) = tgt.iter().find(|&&l| l == 0 || l as usize >= v) {
            bail!("ctc_loss: utterance {i}: label {l} outside 1..{v} (0 is the blank)");
        }
    }
    // The kernel is CPU-only: other devices go through a differentiable host copy.
    let device = input.device().clone();
    let x = input
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .contiguous()?;
    let cache = Arc::new(OnceLock::new());
    let op = CtcOp {
        lens: input_lens.to_vec(),
        targets: targets.to_vec(),
        logits: opts.inputs_are_logits,
        zero_infinity: opts.zero_infinity,
        want_grad: x.track_op(),
        mode,
        cache: cache.clone(),
    };
    let per = x.apply_op1(op)?;
    let per_utt = per.to_vec1::<f32>()?;
    let infeasible = cache.get().map_or(0, |c| c.infeasible);
    let loss = match opts.reduction {
        Reduction::None => per,
        Reduction::Sum => per.sum_all()?,
        Reduction::Mean => {
            let w: Vec<f32> = targets
                .iter()
                .map(|tg| 1.0 / (tg.len().max(1) as f32 * b.max(1) as f32))
                .collect();
            (per * Tensor::from_vec(w, b, &Device::Cpu)?)?.sum_all()?
        }
    };
    Ok(CtcOutput {
        loss: loss.to_device(&device)?,
        per_utt,
        infeasible,
    })
}

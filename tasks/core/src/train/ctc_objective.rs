//! The CTC training objective, shared by the conventional teacher, the oracle and every student.

use candle_core::{Result, Tensor};

use super::{LossOut, Trainable};
use crate::ctc::{ctc_loss, CtcOptions};
use crate::model::CtcModel;
use crate::{Batch, Fwd};

/// CTC options for training: an infeasible utterance contributes zero instead of +inf (it
/// is counted in the log as `infeasible`).
pub fn train_ctc_options() -> CtcOptions {
    CtcOptions {
        zero_infinity: true,
        ..Default::default()
    }
}

/// CTC loss of `logits` against `targets`, with the infeasible count as a log part.
pub fn ctc_term(
    logits: &Tensor,
    frames: &[usize],
    targets: &[Vec<u32>],
) -> Result<(Tensor, Vec<(String, f32)>)> {
    let out = ctc_loss(logits, frames, targets, &train_ctc_options())?;
    let value = out.loss.to_scalar::<f32>()?;
    let mut parts = vec![("ctc".to_string(), value)];
    if out.infeasible > 0 {
        parts.push(("infeasible".to_string(), out.infeasible as f32));
    }
    Ok((out.loss, parts))
}

impl Trainable for CtcModel {
    fn loss(&self, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let out = self.forward(&batch.src, &batch.src_lens, fwd)?;
        let (total, parts) = ctc_term(&out.logits, &out.enc.lens, &batch.targets)?;
        Ok(LossOut { total, parts })
    }

    fn eval_logits(&self, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        let out = self.forward(&batch.src, &batch.src_lens, &mut Fwd::eval())?;
        Ok((out.logits, out.enc.lens))
    }
}

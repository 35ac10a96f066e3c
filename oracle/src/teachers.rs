//! Both teachers as trainable CTC models. The conventional teacher (and every student) is a
//! `CtcModel`: the task's source encoder plus a linear CTC head; the oracle adds the labels.

use candle_core::{Result, Tensor};
use tasks::ctc::{ctc_loss, CtcOptions};
use tasks::model::CtcModel;
use tasks::{Batch, Fwd, Task};

use crate::oracle::OracleTeacher;
use crate::trainer::{LossOut, Trainable};

/// CTC options for training: an infeasible utterance contributes zero instead of +inf (it
/// is counted in the log as `infeasible`).
pub fn train_ctc_options() -> CtcOptions {
    CtcOptions {
        zero_infinity: true,
        ..Default::default()
    }
}

/// CTC loss of `logits` against the batch's targets, with the infeasible count as a log part.
pub fn ctc_term(
    logits: &Tensor,
    frames: &[usize],
    batch: &Batch,
) -> Result<(Tensor, Vec<(String, f32)>)> {
    let out = ctc_loss(logits, frames, &batch.targets, &train_ctc_options())?;
    let value = out.loss.to_scalar::<f32>()?;
    let mut parts = vec![("ctc".to_string(), value)];
    if out.infeasible > 0 {
        parts.push(("infeasible".to_string(), out.infeasible as f32));
    }
    Ok((out.loss, parts))
}

impl<T: Task> Trainable<T> for CtcModel {
    fn loss(&self, _task: &T, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let out = self.forward(&batch.src, &batch.src_lens, fwd)?;
        let (total, parts) = ctc_term(&out.logits, &out.enc.lens, batch)?;
        Ok(LossOut { total, parts })
    }

    fn eval_logits(&self, _task: &T, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        let out = self.forward(&batch.src, &batch.src_lens, &mut Fwd::eval())?;
        Ok((out.logits, out.enc.lens))
    }
}

impl<T: Task> Trainable<T> for OracleTeacher {
    fn loss(&self, _task: &T, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let frames: Vec<usize> = batch
            .src_lens
            .iter()
            .map(|&l| self.encoder.output_len(l))
            .collect();
        let labels = self.training_labels(&batch.targets, &frames, &mut fwd.rng);
        let out = self.forward(&batch.src, &batch.src_lens, &labels, fwd)?;
        let (total, parts) = ctc_term(&out.logits, &out.enc.lens, batch)?;
        Ok(LossOut { total, parts })
    }

    /// Evaluated with its true labels fed: this is the error a copying oracle drives to zero,
    /// so it is never used to select the oracle (see `TrainConfig::select_best`).
    fn eval_logits(&self, _task: &T, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        let out = self.forward(
            &batch.src,
            &batch.src_lens,
            &batch.targets,
            &mut Fwd::eval(),
        )?;
        Ok((out.logits, out.enc.lens))
    }
}

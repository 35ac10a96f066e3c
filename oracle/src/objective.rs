//! The oracle's training objective: CTC on its own output, with its anti-copy strategy
//! deciding which label sequence it is fed at each step.

use candle_core::{Result, Tensor};
use ctc_core::train::{ctc_term, LossOut, Trainable};
use ctc_core::{Batch, Fwd};

use crate::oracle::OracleTeacher;

impl Trainable for OracleTeacher {
    fn loss(&self, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let frames: Vec<usize> = batch
            .src_lens
            .iter()
            .map(|&l| self.encoder.output_len(l))
            .collect();
        let labels = self.training_labels(&batch.targets, &frames, &mut fwd.rng);
        let out = self.forward(&batch.src, &batch.src_lens, &labels, fwd)?;
        let (total, parts) = ctc_term(&out.logits, &out.enc.lens, &batch.targets)?;
        Ok(LossOut { total, parts })
    }

    /// Evaluated with its true labels fed: this is the error a copying oracle drives to zero,
    /// so it is never used to select the oracle (see `TrainConfig::select_best`).
    fn eval_logits(&self, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        let out = self.infer(
            &batch.src,
            &batch.src_lens,
            &batch.targets,
            &mut Fwd::eval(),
        )?;
        Ok((out.logits, out.enc.lens))
    }
}

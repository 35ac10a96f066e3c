//! One-stage oracle-guided self-distillation (EM-Network style; Yoon et al., ICML 2023): one
//! network with a source-only path (the student: its encoder and CTC head) and an oracle path
//! (the same encoder's frames fused with the label sequence, under an anti-copy strategy, and its
//! own head). Both paths train together with CTC, and the source-only path learns from the
//! oracle path's posteriors of the same step, detached, through the objective's posterior terms.
//! What is exported and scored is the source-only path: a plain `CtcModel`.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use ctc_core::model::CtcModel;
use ctc_core::train::{ctc_term, LossOut, Trainable};
use ctc_core::{Batch, Fwd, Task};
use oracle::{OracleConfig, OracleTeacher};

use crate::losses::{warmup_scale, KdObjective, Norm, TermInputs};

pub struct JointModel<'a> {
    /// The source-only path, the model the stage exports.
    pub source: &'a CtcModel,
    /// The oracle path: label embedding, fusion blocks and head over the source's encoder.
    oracle: OracleTeacher,
    /// The objective: posterior terms on the source path (teacher: the oracle path), CTC on
    /// the references, and `oracle-ctc` on the oracle path.
    objective: KdObjective,
    /// Steps over which the posterior terms ramp up from 0 (`warmup_scale`).
    kd_warmup: usize,
}

impl<'a> JointModel<'a> {
    /// The oracle path of `cfg` (its `encoder` must be the source's config) over `source`'s
    /// encoder parameters, which `encoder_vb` must name (the source model's `encoder` prefix in
    /// the same store, so that both paths share one set of variables); its own parameters under
    /// `vb`. The objective may hold only terms a joint model can compute: no live-teacher
    /// features, hypotheses or initialisation stage.
    pub fn new<T: Task>(
        task: &T,
        source: &'a CtcModel,
        cfg: &OracleConfig,
        objective: KdObjective,
        kd_warmup: usize,
        encoder_vb: VarBuilder,
        vb: VarBuilder,
    ) -> Result<Self> {
        let needs = objective.needs();
        if needs.features
            || needs.hypotheses.is_some()
            || needs.init_fraction.is_some()
            || needs.student_heads.is_some()
        {
            candle_core::bail!(
                "a joint model's objective can hold CTC, posterior terms and oracle-ctc only, \
                 got {}",
                objective.formula()
            );
        }
        if !needs.oracle_path {
            candle_core::bail!(
                "a joint model's objective needs the oracle path's CTC (oracle-ctc), got {}",
                objective.formula()
            );
        }
        let encoder = task.encoder(&cfg.encoder, encoder_vb)?;
        let oracle = OracleTeacher::with_encoder(task, cfg, encoder, vb)?;
        Ok(Self {
            source,
            oracle,
            objective,
            kd_warmup,
        })
    }
}

impl Trainable for JointModel<'_> {
    fn loss(&self, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let out = self.source.forward(&batch.src, &batch.src_lens, fwd)?;
        let lens = &out.enc.lens;
        let labels = self
            .oracle
            .training_labels(&batch.targets, lens, &mut fwd.rng);
        let (oracle_logits, _, _) =
            self.oracle
                .fuse(&out.enc.frames, &labels, batch.src.device(), fwd)?;
        let (ctc, mut parts) = ctc_term(&out.logits, lens, &batch.targets)?;
        let (oracle_ctc, _) = ctc_term(&oracle_logits, lens, &batch.targets)?;
        // The teacher's side of the posterior terms: no gradient reaches the oracle path (the
        // loss functions detach it too).
        let teacher = oracle_logits.detach();
        let teacher_logits = || Ok(teacher.clone());
        let norm = Norm::PerLabel(batch.targets.iter().map(Vec::len).collect());
        let inputs = TermInputs {
            oracle_ctc: Some(&oracle_ctc),
            ..TermInputs::of_student(&out, &ctc, &norm, batch, &teacher_logits)
        };
        let scale = warmup_scale(fwd.step, self.kd_warmup);
        let total = self.objective.evaluate(&inputs, &mut parts, scale)?;
        Ok(LossOut { total, parts })
    }

    /// The source-only path: the exported model, selected on its own dev error.
    fn eval_logits(&self, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        self.source.eval_logits(batch)
    }
}

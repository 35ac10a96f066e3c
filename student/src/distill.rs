//! A student trained under a KD objective, as a `Trainable` for the shared loop.
//!
//! Teacher posteriors come from the on-disk cache (computed once); hidden states and attention
//! maps, which would be too large to cache, come from a live frozen teacher forward.

use candle_core::{Result, Tensor};
use oracle::cache::TeacherOutputs;
use oracle::teachers::ctc_term;
use oracle::{LossOut, Trainable};
use tasks::model::CtcModel;
use tasks::{Batch, Fwd, Task};

use crate::losses::attention::attention_map_l2;
use crate::losses::guided::guided_ctc;
use crate::losses::layerwise::{layerwise_loss, PredictionHeads};
use crate::losses::soft::{frame_kd, hinton};
use crate::losses::{KdObjective, KdTerm};
use crate::teacher::Teacher;

pub struct Distiller<'a, T: Task> {
    pub student: &'a CtcModel,
    /// One stage of the objective (see `KdObjective::stages`).
    pub objective: KdObjective,
    pub cache: Option<&'a TeacherOutputs>,
    pub teacher: Option<&'a dyn Teacher<T>>,
    pub heads: Option<&'a PredictionHeads>,
    /// Sequence-level KD: the teacher's hypothesis for each training example id.
    pub hypotheses: Option<&'a [Vec<u32>]>,
}

impl<T: Task> Distiller<'_, T> {
    fn needs_live_teacher(&self) -> bool {
        self.objective
            .terms
            .iter()
            .any(|t| matches!(t, KdTerm::AttentionMap { .. } | KdTerm::Layerwise { .. }))
    }

    fn teacher_logits(&self, task: &T, batch: &Batch, t: usize, lens: &[usize]) -> Result<Tensor> {
        if let Some(cache) = self.cache {
            for (&id, &l) in batch.ids.iter().zip(lens) {
                if cache.frames(id) != l {
                    candle_core::bail!(
                        "teacher cache: example {id} has {} teacher frames but {l} student frames \
                         (teacher and student must share a frame rate)",
                        cache.frames(id)
                    );
                }
            }
            return cache.batch(&batch.ids, t, batch.src.device());
        }
        match self.teacher {
            Some(teacher) => Ok(teacher.outputs(task, batch, false)?.logits),
            None => candle_core::bail!("distillation needs a teacher cache or a live teacher"),
        }
    }
}

impl<T: Task> Trainable<T> for Distiller<'_, T> {
    fn loss(&self, task: &T, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let live = self.needs_live_teacher();
        fwd.collect = live;
        let out = self.student.forward(&batch.src, &batch.src_lens, fwd)?;
        fwd.collect = false;
        let lens = &out.enc.lens;
        let t = out.logits.dim(1)?;
        let (ctc, mut parts) = ctc_term(&out.logits, lens, batch)?;
        let teacher_out = match (live, self.teacher) {
            (true, Some(teacher)) => Some(teacher.outputs(task, batch, true)?),
            (true, None) => {
                candle_core::bail!("attention-map and layer-wise KD need a live teacher")
            }
            _ => None,
        };
        let mut values: Vec<(&str, Tensor)> = Vec::new();
        let mut teacher_logits: Option<Tensor> = None;
        for term in &self.objective.terms {
            let mut logits = || -> Result<Tensor> {
                if teacher_logits.is_none() {
                    teacher_logits = Some(self.teacher_logits(task, batch, t, lens)?);
                }
                Ok(teacher_logits.clone().expect("set above"))
            };
            let v = match term {
                KdTerm::Ctc { .. } => ctc.clone(),
                KdTerm::Hinton { tau, alpha, .. } => {
                    hinton(&out.logits, &logits()?, lens, *tau, *alpha, &ctc)?
                }
                KdTerm::FrameKd {
                    tau, drop_blank, ..
                } => frame_kd(&out.logits, &logits()?, lens, *tau, *drop_blank)?,
                KdTerm::GuidedCtc { exclude_blank, .. } => {
                    guided_ctc(&out.logits, &logits()?, lens, *exclude_blank)?
                }
                KdTerm::AttentionMap { .. } => {
                    let to = teacher_out.as_ref().expect("live teacher checked above");
                    let (Some(s), Some(tm)) = (out.enc.attn.last(), to.attn.last()) else {
                        candle_core::bail!("attention-map KD: a model returned no attention maps");
                    };
                    attention_map_l2(s, tm, lens)?
                }
                KdTerm::Layerwise { .. } => {
                    let to = teacher_out.as_ref().expect("live teacher checked above");
                    let Some(heads) = self.heads else {
                        candle_core::bail!("layer-wise KD needs prediction heads");
                    };
                    let Some(last) = out.enc.hidden.last() else {
                        candle_core::bail!("layer-wise KD: the student returned no hidden states");
                    };
                    layerwise_loss(&heads.forward(last)?, &heads.targets(&to.hidden)?, lens)?
                }
                KdTerm::SequenceKd { .. } => {
                    let Some(hyps) = self.hypotheses else {
                        candle_core::bail!("sequence-level KD needs the teacher's hypotheses");
                    };
                    let mut b = batch.clone();
                    b.targets = batch.ids.iter().map(|&i| hyps[i].clone()).collect();
                    ctc_term(&out.logits, lens, &b)?.0
                }
            };
            if !matches!(term, KdTerm::Ctc { .. }) {
                // CTC on the references is already in `parts`.
                parts.push((
                    term.name().to_string(),
                    v.to_scalar::<f32>().unwrap_or(f32::NAN),
                ));
            }
            values.push((term.name(), v));
        }
        let total = self.objective.combine(&values)?;
        Ok(LossOut { total, parts })
    }

    fn eval_logits(&self, task: &T, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        <CtcModel as Trainable<T>>::eval_logits(self.student, task, batch)
    }
}

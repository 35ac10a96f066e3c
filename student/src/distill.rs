//! A student trained under a KD objective, as a `Trainable` for the shared loop.
//!
//! With clean teacher input (the default), teacher posteriors come from the on-disk cache
//! (computed once, without augmentation) and hidden states and attention maps, too large to
//! cache, from a live frozen teacher forward on the batch's clean sources; with augmented
//! teacher input, everything comes from a live teacher forward on the same augmented batch the
//! student sees.

use std::borrow::Cow;

use candle_core::{Result, Tensor};
use ctc_core::train::{ctc_term, LossOut, Trainable};

use crate::cache::TeacherOutputs;
use ctc_core::model::CtcModel;
use ctc_core::{Batch, Fwd};

use crate::losses::attention::attention_map_l2;
use crate::losses::layerwise::{layerwise_loss, PredictionHeads};
use crate::losses::soft::{frame_kd_norm, hinton_norm};
use crate::losses::{guided_ctc_norm, KdObjective, KdTerm, Norm};
use crate::teacher::Teacher;

/// What the frozen teacher is shown while a student trains on an augmented batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeacherInput {
    /// The sources without augmentation (posteriors from the cache).
    #[default]
    Clean,
    /// The student's own augmented batch (a live teacher forward every step).
    Augmented,
}

pub struct Distiller<'a> {
    pub student: &'a CtcModel,
    /// One stage of the objective (see `KdObjective::stages`).
    pub objective: KdObjective,
    pub cache: Option<&'a TeacherOutputs>,
    pub teacher: Option<&'a dyn Teacher>,
    pub heads: Option<&'a PredictionHeads>,
    /// Sequence-level KD: the teacher's hypothesis for each training example id.
    pub hypotheses: Option<&'a [Vec<u32>]>,
    pub teacher_input: TeacherInput,
}

impl Distiller<'_> {
    fn needs_live_teacher(&self) -> bool {
        self.objective
            .terms
            .iter()
            .any(|t| matches!(t, KdTerm::AttentionMap { .. } | KdTerm::Layerwise { .. }))
    }

    fn needs_logits(&self) -> bool {
        self.objective.terms.iter().any(|t| {
            matches!(
                t,
                KdTerm::Hinton { .. } | KdTerm::FrameKd { .. } | KdTerm::GuidedCtc { .. }
            )
        })
    }

    fn teacher_logits(&self, batch: &Batch, t: usize, lens: &[usize]) -> Result<Tensor> {
        if let (Some(cache), TeacherInput::Clean) = (self.cache, self.teacher_input) {
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
            Some(teacher) => Ok(teacher.outputs(&self.teacher_batch(batch), false)?.logits),
            None => candle_core::bail!("distillation needs a teacher cache or a live teacher"),
        }
    }

    /// The batch a live teacher is run on.
    fn teacher_batch<'b>(&self, batch: &'b Batch) -> Cow<'b, Batch> {
        match (self.teacher_input, &batch.clean_src) {
            (TeacherInput::Clean, Some(_)) => Cow::Owned(batch.clean()),
            _ => Cow::Borrowed(batch),
        }
    }
}

impl Trainable for Distiller<'_> {
    fn loss(&self, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let live = self.needs_live_teacher();
        fwd.collect = live;
        let out = self.student.forward(&batch.src, &batch.src_lens, fwd)?;
        fwd.collect = false;
        let lens = &out.enc.lens;
        let t = out.logits.dim(1)?;
        let (ctc, mut parts) = ctc_term(&out.logits, lens, &batch.targets)?;
        let teacher_out = match (live, self.teacher) {
            (true, Some(teacher)) => Some(teacher.outputs(&self.teacher_batch(batch), true)?),
            (true, None) => {
                candle_core::bail!("attention-map and layer-wise KD need a live teacher")
            }
            _ => None,
        };
        // The posterior terms on the scale of the CTC term: per utterance over its labels.
        let norm = Norm::PerLabel(batch.targets.iter().map(Vec::len).collect());
        let mut values: Vec<(&str, Tensor)> = Vec::new();
        // A live forward made for the feature terms also gives the posteriors of its input.
        let mut teacher_logits: Option<Tensor> = match (&teacher_out, self.teacher_input) {
            (Some(o), TeacherInput::Augmented) if self.needs_logits() => Some(o.logits.clone()),
            _ => None,
        };
        for term in &self.objective.terms {
            let mut logits = || -> Result<Tensor> {
                if teacher_logits.is_none() {
                    teacher_logits = Some(self.teacher_logits(batch, t, lens)?);
                }
                Ok(teacher_logits.clone().expect("set above"))
            };
            let v = match term {
                KdTerm::Ctc { .. } => ctc.clone(),
                KdTerm::Hinton { tau, alpha, .. } => {
                    hinton_norm(&out.logits, &logits()?, lens, *tau, *alpha, &ctc, &norm)?
                }
                KdTerm::FrameKd {
                    tau, drop_blank, ..
                } => frame_kd_norm(&out.logits, &logits()?, lens, *tau, *drop_blank, &norm)?,
                KdTerm::GuidedCtc { exclude_blank, .. } => {
                    guided_ctc_norm(&out.logits, &logits()?, lens, *exclude_blank, &norm)?
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
                    let targets: Vec<Vec<u32>> =
                        batch.ids.iter().map(|&i| hyps[i].clone()).collect();
                    ctc_term(&out.logits, lens, &targets)?.0
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

    fn eval_logits(&self, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        self.student.eval_logits(batch)
    }
}

//! A student trained under a KD objective, as a `Trainable` for the shared loop.
//!
//! With clean teacher input (the default), teacher posteriors come from the on-disk cache
//! (computed once, without augmentation) and hidden states and attention maps, too large to
//! cache, from a live frozen teacher forward on the batch's clean sources; with augmented
//! teacher input, everything comes from a live teacher forward on the same augmented batch the
//! student sees.

use std::borrow::Cow;
use std::cell::RefCell;

use candle_core::{Result, Tensor};
use ctc_core::train::{ctc_term, LossOut, Trainable};

use crate::cache::TeacherOutputs;
use ctc_core::model::CtcModel;
use ctc_core::{Batch, Fwd};

use crate::losses::layerwise::PredictionHeads;
use crate::losses::IntermediateHeads;
use crate::losses::{warmup_scale, KdObjective, Norm, TermInputs};
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
    /// CTC heads on the student's intermediate layers (self-distillation).
    pub intermediate: Option<&'a IntermediateHeads>,
    /// Sequence-level KD: the teacher's hypothesis for each training example id.
    pub hypotheses: Option<&'a [Vec<u32>]>,
    pub teacher_input: TeacherInput,
    /// Steps over which the distillation terms ramp up from 0 (`warmup_scale`); 0: none.
    pub kd_warmup: usize,
}

impl Distiller<'_> {
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
        let needs = self.objective.needs();
        // Feature terms read the student's hidden states and attention maps too.
        fwd.collect = needs.features || needs.student_heads.is_some();
        let out = self.student.forward(&batch.src, &batch.src_lens, fwd)?;
        fwd.collect = false;
        let lens = &out.enc.lens;
        let t = out.logits.dim(1)?;
        let (ctc, mut parts) = ctc_term(&out.logits, lens, &batch.targets)?;
        let teacher_out = match (needs.features, self.teacher) {
            (true, Some(teacher)) => Some(teacher.outputs(&self.teacher_batch(batch), true)?),
            (true, None) => candle_core::bail!(
                "the objective {} needs a live teacher",
                self.objective.formula()
            ),
            _ => None,
        };
        // A live forward made for the feature terms also gives the posteriors of its input.
        let kept: RefCell<Option<Tensor>> =
            RefCell::new(match (&teacher_out, self.teacher_input) {
                (Some(o), TeacherInput::Augmented) if needs.posteriors => Some(o.logits.clone()),
                _ => None,
            });
        let teacher_logits = || -> Result<Tensor> {
            if let Some(l) = kept.borrow().as_ref() {
                return Ok(l.clone());
            }
            let l = self.teacher_logits(batch, t, lens)?;
            *kept.borrow_mut() = Some(l.clone());
            Ok(l)
        };
        // The posterior terms on the scale of the CTC term: per utterance over its labels.
        let norm = Norm::PerLabel(batch.targets.iter().map(Vec::len).collect());
        let inputs = TermInputs {
            teacher: teacher_out.as_ref(),
            heads: self.heads,
            intermediate: self.intermediate,
            hypotheses: self.hypotheses,
            ..TermInputs::of_student(&out, &ctc, &norm, batch, &teacher_logits)
        };
        let scale = warmup_scale(fwd.step, self.kd_warmup);
        let total = self.objective.evaluate(&inputs, &mut parts, scale)?;
        Ok(LossOut { total, parts })
    }

    fn eval_logits(&self, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        self.student.eval_logits(batch)
    }
}

//! Online distillation: teacher and student updated together in one loop. The teacher trains
//! on its own objective (CTC, and for the oracle its anti-copy strategy); the student distils
//! from the teacher's current outputs, detached, so the student's loss never moves the teacher.
//! Gradients are clipped per model and AdamW is per parameter, so the teacher follows exactly
//! the trajectory it would follow trained alone on the same batches.

use candle_core::{Result, Tensor, Var};
use ctc_core::train::{LossOut, Trainable};
use ctc_core::{Batch, Fwd};

use crate::distill::Distiller;
use crate::losses::KdObjective;
use crate::teacher::Teacher;

/// A teacher that can also be trained: both teacher kinds.
pub trait OnlineTeacher: Trainable + Teacher {
    fn as_teacher(&self) -> &dyn Teacher;
}

impl<M: Trainable + Teacher> OnlineTeacher for M {
    fn as_teacher(&self) -> &dyn Teacher {
        self
    }
}

/// Prefix of the teacher's parameter names in an online run (both models name theirs alike).
pub const TEACHER_PREFIX: &str = "teacher.";

/// The parameters of an online run: the teacher's renamed under `TEACHER_PREFIX`, then the
/// student's (and any heads').
pub fn online_vars(teacher: Vec<(String, Var)>, student: Vec<(String, Var)>) -> Vec<(String, Var)> {
    (teacher.into_iter())
        .map(|(n, v)| (format!("{TEACHER_PREFIX}{n}"), v))
        .chain(student)
        .collect()
}

/// Whether an objective can train online: none of its terms reads hypotheses decoded once from
/// a fixed teacher (sequence-level KD).
pub fn runs_online(objective: &KdObjective) -> bool {
    objective.needs().hypotheses.is_none()
}

pub struct Online<'a> {
    pub teacher: &'a dyn OnlineTeacher,
    pub distiller: Distiller<'a>,
}

impl<'a> Online<'a> {
    /// `distiller` is one stage of the student's objective; its teacher becomes `teacher`.
    /// Refused: a teacher cache (it would be stale after the first step) and sequence-level KD
    /// (its hypotheses are decoded once from a fixed teacher).
    pub fn new(teacher: &'a dyn OnlineTeacher, mut distiller: Distiller<'a>) -> Result<Self> {
        if distiller.cache.is_some() {
            candle_core::bail!("online distillation reads the live teacher, not a cache");
        }
        if !runs_online(&distiller.objective) {
            candle_core::bail!(
                "{} cannot run online: it trains on hypotheses decoded once from a fixed teacher",
                distiller.objective.formula()
            );
        }
        distiller.teacher = Some(teacher.as_teacher());
        Ok(Self { teacher, distiller })
    }
}

impl Trainable for Online<'_> {
    fn loss(&self, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let t = self.teacher.loss(batch, fwd)?;
        let s = self.distiller.loss(batch, fwd)?;
        let mut parts: Vec<(String, f32)> = t
            .parts
            .into_iter()
            .map(|(k, v)| (format!("teacher.{k}"), v))
            .collect();
        parts.extend(s.parts);
        Ok(LossOut {
            total: (t.total + s.total)?,
            parts,
        })
    }

    /// The student is what online distillation produces; the dev curve follows it.
    fn eval_logits(&self, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        self.distiller.eval_logits(batch)
    }

    fn clip_groups(&self) -> Vec<String> {
        vec![TEACHER_PREFIX.to_string()]
    }
}

//! Online distillation: teacher and student updated together in one loop. The teacher trains
//! on its own objective; the student distils from the teacher's current (detached) outputs.

use candle_core::{Result, Tensor};
use oracle::{LossOut, Trainable};
use tasks::model::CtcModel;
use tasks::{Batch, Fwd, Task};

use crate::distill::Distiller;
use crate::losses::KdObjective;
use crate::teacher::Teacher;

pub struct Online<'a, T: Task, M: Trainable<T> + Teacher<T>> {
    pub teacher: &'a M,
    pub student: &'a CtcModel,
    pub objective: KdObjective,
    _task: std::marker::PhantomData<T>,
}

impl<'a, T: Task, M: Trainable<T> + Teacher<T>> Online<'a, T, M> {
    pub fn new(teacher: &'a M, student: &'a CtcModel, objective: KdObjective) -> Self {
        Self {
            teacher,
            student,
            objective,
            _task: std::marker::PhantomData,
        }
    }
}

impl<T: Task, M: Trainable<T> + Teacher<T>> Trainable<T> for Online<'_, T, M> {
    fn loss(&self, task: &T, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut> {
        let t = self.teacher.loss(task, batch, fwd)?;
        let d = Distiller {
            student: self.student,
            objective: self.objective.clone(),
            cache: None,
            teacher: Some(self.teacher as &dyn Teacher<T>),
            heads: None,
            hypotheses: None,
        };
        let s = d.loss(task, batch, fwd)?;
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
    fn eval_logits(&self, task: &T, batch: &Batch) -> Result<(Tensor, Vec<usize>)> {
        <CtcModel as Trainable<T>>::eval_logits(self.student, task, batch)
    }
}

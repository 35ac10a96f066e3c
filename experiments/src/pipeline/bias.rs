//! The omitted-label measurements (Hinton et al. 2015, section 3): errors on the test examples
//! containing the label a student's transfer set left out, and the shift of that label's
//! output score, chosen on dev, that repairs what the student never saw.

use anyhow::Result;
use candle_core::{Device, Tensor};
use ctc_core::ctc::greedy_batch;
use ctc_core::train::{map_eval_batches, Evaluation};
use ctc_core::{Batch, Task};
use serde::{Deserialize, Serialize};

/// The shifts tried: 0 to 20 in steps of 0.25 (Hinton et al. used 3.5).
pub fn grid() -> Vec<f64> {
    (0..=80).map(|i| i as f64 * 0.25).collect()
}

/// (errors, examples) over the examples whose reference contains `label`.
pub fn omitted_counts(eval: &Evaluation, label: &str) -> (u64, u64) {
    let mut errors = 0;
    let mut examples = 0;
    for (r, h) in eval.refs.iter().zip(&eval.hyps) {
        if r.contains(label) {
            examples += 1;
            errors += u64::from(r != h);
        }
    }
    (errors, examples)
}

/// `logits` (B, T, V') with `delta` added to the score of token `id` in every frame: the same
/// as raising that class's output bias by `delta`.
pub fn shift(logits: &Tensor, id: u32, delta: f64) -> candle_core::Result<Tensor> {
    let v = logits.dim(2)?;
    let mut row = vec![0f32; v];
    row[id as usize] = delta as f32;
    let add = Tensor::from_vec(row, (1, 1, v), logits.device())?.to_dtype(logits.dtype())?;
    logits.broadcast_add(&add)
}

/// The chosen shift and the dev error along the grid (kept in the stage's `bias.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BiasChoice {
    pub label: String,
    pub shift: f64,
    pub dev_error_before: f64,
    pub dev_error_after: f64,
    /// (shift, dev error) for every shift tried.
    pub dev_curve: Vec<(f64, f64)>,
}

/// The shift of token `id`'s score with the lowest dev error (the smallest on ties), the
/// logits computed once by `f`.
pub fn choose<T: Task>(
    task: &T,
    dev: &[T::Example],
    batch_size: usize,
    device: &Device,
    id: u32,
    f: impl Fn(&Batch) -> candle_core::Result<(Tensor, Vec<usize>)> + Sync,
) -> Result<BiasChoice> {
    let batches = map_eval_batches(task, dev, batch_size, device, |b| {
        let (logits, frames) = f(b)?;
        Ok((b.texts.clone(), logits, frames))
    })?;
    let refs: Vec<String> = batches.iter().flat_map(|(t, _, _)| t.clone()).collect();
    let mut curve = Vec::new();
    for delta in grid() {
        let mut hyps = Vec::with_capacity(refs.len());
        for (_, logits, frames) in &batches {
            for ids in greedy_batch(&shift(logits, id, delta)?, frames)? {
                hyps.push(task.vocab().decode(&ids));
            }
        }
        curve.push((delta, task.error(&task.score(&refs, &hyps))));
    }
    let (shift, after) =
        curve.iter().copied().fold(
            (0.0, f64::INFINITY),
            |best, (d, e)| {
                if e < best.1 {
                    (d, e)
                } else {
                    best
                }
            },
        );
    Ok(BiasChoice {
        label: task.vocab().decode(&[id]),
        shift,
        dev_error_before: curve[0].1,
        dev_error_after: after,
        dev_curve: curve,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_raises_one_class_in_every_frame() {
        let x = Tensor::zeros((2, 3, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let y = shift(&x, 2, 1.5).unwrap().to_vec3::<f32>().unwrap();
        for frame in y.iter().flatten() {
            assert_eq!(frame, &[0.0, 0.0, 1.5, 0.0]);
        }
    }

    #[test]
    fn omitted_counts_look_only_at_examples_with_the_label() {
        let e = Evaluation {
            scores: Default::default(),
            error: 0.0,
            refs: ["3", "3", "1", "3"].map(String::from).to_vec(),
            hyps: ["3", "5", "2", ""].map(String::from).to_vec(),
        };
        assert_eq!(omitted_counts(&e, "3"), (2, 3));
    }
}

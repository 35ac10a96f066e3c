//! Evaluation: greedy CTC decoding over a split, scored at corpus level by the task.

use crate::batch::sorted_batches;
use crate::ctc::decode::greedy_batch;
use crate::metrics::Scores;
use crate::{Batch, Rng, Task};
use candle_core::{Device, Result, Tensor};

/// Hypotheses, references and scores of one evaluation.
pub struct Evaluation {
    pub scores: Scores,
    /// The task's selection error in percent (CER, or 100 - word accuracy).
    pub error: f64,
    pub refs: Vec<String>,
    pub hyps: Vec<String>,
}

/// `examples` collated without augmentation in length-sorted batches (little padding);
/// each batch's `ids` are the examples' indices.
pub fn eval_batches<'a, T: Task>(
    task: &'a T,
    examples: &'a [T::Example],
    batch_size: usize,
    dev: &'a Device,
) -> impl Iterator<Item = Result<Batch>> + 'a {
    let lens: Vec<usize> = examples.iter().map(|e| task.source_len(e)).collect();
    sorted_batches(&lens, batch_size)
        .into_iter()
        .map(move |idx| {
            let items: Vec<(usize, &T::Example)> = idx.iter().map(|&i| (i, &examples[i])).collect();
            // Without augmentation `collate` draws nothing from the generator.
            task.collate(&items, false, &mut Rng::new(0), dev)
        })
}

/// Run `logits_fn` over `examples` in length-sorted batches and score greedy hypotheses.
/// `logits_fn` returns (B, T, V') scores and the valid frames per example.
pub fn evaluate<T: Task>(
    task: &T,
    examples: &[T::Example],
    batch_size: usize,
    dev: &Device,
    mut logits_fn: impl FnMut(&Batch) -> Result<(Tensor, Vec<usize>)>,
) -> Result<Evaluation> {
    let mut refs = vec![String::new(); examples.len()];
    let mut hyps = vec![String::new(); examples.len()];
    for batch in eval_batches(task, examples, batch_size, dev) {
        let batch = batch?;
        let (logits, frames) = logits_fn(&batch)?;
        let decoded = greedy_batch(&logits, &frames)?;
        for ((&i, ids), text) in batch.ids.iter().zip(decoded).zip(&batch.texts) {
            hyps[i] = task.vocab().decode(&ids);
            refs[i] = text.clone();
        }
    }
    let scores = task.score(&refs, &hyps);
    let error = task.error(&scores);
    Ok(Evaluation {
        scores,
        error,
        refs,
        hyps,
    })
}

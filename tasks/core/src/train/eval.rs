//! Evaluation: greedy CTC decoding over a split, scored at corpus level by the task.

use crate::batch::sorted_batches;
use crate::ctc::decode::greedy_batch;
use crate::metrics::Scores;
use crate::threads::run_sharded;
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
    eval_batch_indices(task, examples, batch_size)
        .into_iter()
        .map(move |idx| eval_collate(task, examples, &idx, dev))
}

/// The example indices of `eval_batches`' batches.
pub fn eval_batch_indices<T: Task>(
    task: &T,
    examples: &[T::Example],
    batch_size: usize,
) -> Vec<Vec<usize>> {
    let lens: Vec<usize> = examples.iter().map(|e| task.source_len(e)).collect();
    sorted_batches(&lens, batch_size)
}

/// One evaluation batch of `examples[idx]`, without augmentation.
pub fn eval_collate<T: Task>(
    task: &T,
    examples: &[T::Example],
    idx: &[usize],
    dev: &Device,
) -> Result<Batch> {
    let items: Vec<(usize, &T::Example)> = idx.iter().map(|&i| (i, &examples[i])).collect();
    // Without augmentation `collate` draws nothing from the generator.
    task.collate(&items, false, &mut Rng::new(0), dev)
}

/// `f` over every evaluation batch, the batches spread over the shard threads (`run_sharded`); results in
/// batch order, so they do not depend on the thread count. Each batch is dropped once `f` has
/// run: `f` keeps what it needs (ids, texts).
pub fn map_eval_batches<T: Task, R: Send>(
    task: &T,
    examples: &[T::Example],
    batch_size: usize,
    dev: &Device,
    f: impl Fn(&Batch) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let batches = eval_batch_indices(task, examples, batch_size);
    run_sharded(dev, batches.len(), |i| {
        f(&eval_collate(task, examples, &batches[i], dev)?)
    })
    .into_iter()
    .collect()
}

/// Run `logits_fn` over `examples` in length-sorted batches and score greedy hypotheses.
/// `logits_fn` returns (B, T, V') scores and the valid frames per example.
pub fn evaluate<T: Task>(
    task: &T,
    examples: &[T::Example],
    batch_size: usize,
    dev: &Device,
    logits_fn: impl Fn(&Batch) -> Result<(Tensor, Vec<usize>)> + Sync,
) -> Result<Evaluation> {
    let mut refs = vec![String::new(); examples.len()];
    let mut hyps = vec![String::new(); examples.len()];
    let done = map_eval_batches(task, examples, batch_size, dev, |b| {
        let (logits, frames) = logits_fn(b)?;
        Ok((
            b.ids.clone(),
            b.texts.clone(),
            greedy_batch(&logits, &frames)?,
        ))
    })?;
    for (batch_ids, texts, decoded) in done {
        for ((&i, ids), text) in batch_ids.iter().zip(decoded).zip(&texts) {
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

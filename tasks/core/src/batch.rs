//! Batching: length-bucketed, seeded shuffling for training; length-sorted order for evaluation.

use crate::rng::Rng;

/// Training batches: examples are shuffled, grouped into chunks of `bucket` batches, sorted by
/// length inside each chunk (so a batch pads little), cut into batches, and the batch order is
/// shuffled again. Every example appears exactly once per epoch.
pub fn bucketed_batches(lens: &[usize], batch_size: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut idx: Vec<usize> = (0..lens.len()).collect();
    rng.shuffle(&mut idx);
    let chunk = batch_size * 32;
    let mut batches = Vec::new();
    for c in idx.chunks_mut(chunk) {
        c.sort_by_key(|&i| lens[i]);
        batches.extend(c.chunks(batch_size).map(|b| b.to_vec()));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Evaluation batches in length order (deterministic, little padding).
pub fn sorted_batches(lens: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..lens.len()).collect();
    idx.sort_by_key(|&i| (lens[i], i));
    idx.chunks(batch_size.max(1)).map(|b| b.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_once_and_seeded() {
        let lens: Vec<usize> = (0..1000).map(|i| (i * 7919) % 300).collect();
        let a = bucketed_batches(&lens, 16, &mut Rng::new(3));
        let b = bucketed_batches(&lens, 16, &mut Rng::new(3));
        assert_eq!(a, b);
        let mut all: Vec<usize> = a.concat();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        // Bucketing keeps padding low: the mean spread inside a batch is small.
        let spread: usize = a
            .iter()
            .map(|bt| {
                let l: Vec<usize> = bt.iter().map(|&i| lens[i]).collect();
                l.iter().max().unwrap() - l.iter().min().unwrap()
            })
            .sum::<usize>()
            / a.len();
        assert!(spread < 30, "spread {spread}");
        assert_ne!(a, bucketed_batches(&lens, 16, &mut Rng::new(4)));
    }
}

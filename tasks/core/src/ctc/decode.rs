//! CTC decoders (blank = 0): the many-to-one map B, greedy (best path) decoding, and prefix
//! beam search.

use std::collections::HashMap;

use candle_core::{bail, DType, Tensor};
use rayon::prelude::*;

/// The CTC map B: merge runs of equal labels, then drop blanks (`[1,1,0,1,2,2] -> [1,1,2]`).
pub fn collapse(path: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    let mut prev = None;
    for &p in path {
        if Some(p) != prev && p != 0 {
            out.push(p);
        }
        prev = Some(p);
    }
    out
}

/// Per-frame argmax over the first `len` frames of `frames` (`T x v`, row-major); ties go to
/// the lowest index. Works on logits or log-probabilities alike.
pub fn best_path(frames: &[f32], v: usize, len: usize) -> Vec<u32> {
    assert!(
        v > 0 && frames.len() >= len * v,
        "best_path: {} values cannot hold {len} frames of {v}",
        frames.len()
    );
    frames[..len * v]
        .chunks_exact(v)
        .map(|row| {
            let mut best = 0;
            for (k, &x) in row.iter().enumerate() {
                if x > row[best] {
                    best = k;
                }
            }
            best as u32
        })
        .collect()
}

/// Greedy decoding: argmax per frame, then `collapse`.
pub fn greedy(frames: &[f32], v: usize, len: usize) -> Vec<u32> {
    collapse(&best_path(frames, v, len))
}

/// The batch as host rows plus its `(T, V')`, checking `lens` against it.
fn host_batch(x: &Tensor, lens: &[usize]) -> candle_core::Result<(Vec<f32>, usize, usize)> {
    let (b, t, v) = x.dims3()?;
    if lens.len() != b {
        bail!("ctc decode: batch of {b} but {} lengths", lens.len());
    }
    if let Some((i, l)) = lens.iter().enumerate().find(|(_, &l)| l > t) {
        bail!("ctc decode: utterance {i}: length {l} exceeds T = {t}");
    }
    let data = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok((data, t, v))
}

/// Greedy decoding of a `(B, T, V')` batch of logits or log-probabilities.
pub fn greedy_batch(x: &Tensor, lens: &[usize]) -> candle_core::Result<Vec<Vec<u32>>> {
    let (data, t, v) = host_batch(x, lens)?;
    Ok(lens
        .iter()
        .enumerate()
        .map(|(i, &l)| greedy(&data[i * t * v..(i + 1) * t * v], v, l))
        .collect())
}

fn log_add(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((a - m).exp() + (b - m).exp()).ln()
}

/// CTC prefix beam search over `t` frames of `v` classes (`log_probs[t * v + k]`). Each frame
/// is log-softmax-normalised first, so logits are accepted too. Every prefix keeps two log
/// probabilities, ending in blank and ending in its last label, so paths that collapse to the
/// same prefix are summed; the `beam_width` most probable prefixes survive each frame (ties
/// broken by the prefix itself, for determinism). With width 1 this matches greedy decoding
/// whenever each frame's argmax holds more than half the mass; on flatter posteriors it can
/// differ, by design.
pub fn prefix_beam_search(log_probs: &[f32], t: usize, v: usize, beam_width: usize) -> Vec<u32> {
    assert!(
        v > 0 && log_probs.len() >= t * v,
        "prefix_beam_search: {} values cannot hold {t} frames of {v}",
        log_probs.len()
    );
    let width = beam_width.max(1);
    // (prefix, log P(ends in blank), log P(ends in last label))
    let mut beams: Vec<(Vec<u32>, f64, f64)> = vec![(Vec::new(), 0.0, f64::NEG_INFINITY)];
    let mut next: HashMap<Vec<u32>, (f64, f64)> = HashMap::new();
    let mut lp = vec![0f64; v];
    for row in log_probs[..t * v].chunks_exact(v) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let z = m + row.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
        for (l, &x) in lp.iter_mut().zip(row) {
            *l = x as f64 - z;
        }
        next.clear();
        for (prefix, pb, pnb) in &beams {
            let total = log_add(*pb, *pnb);
            let last = prefix.last().copied();
            let e = next
                .entry(prefix.clone())
                .or_insert((f64::NEG_INFINITY, f64::NEG_INFINITY));
            e.0 = log_add(e.0, total + lp[0]);
            if let Some(c) = last {
                // Repeating the last label without a blank in between stays on this prefix.
                e.1 = log_add(e.1, pnb + lp[c as usize]);
            }
            for (c, &p) in lp.iter().enumerate().skip(1) {
                if p == f64::NEG_INFINITY {
                    continue;
                }
                let c = c as u32;
                // A repeat only extends the prefix after a blank.
                let from = if Some(c) == last { *pb } else { total };
                let mut ext = prefix.clone();
                ext.push(c);
                let e = next
                    .entry(ext)
                    .or_insert((f64::NEG_INFINITY, f64::NEG_INFINITY));
                e.1 = log_add(e.1, from + p);
            }
        }
        beams = next.drain().map(|(k, (pb, pnb))| (k, pb, pnb)).collect();
        beams.sort_by(|a, b| {
            let (sa, sb) = (log_add(a.1, a.2), log_add(b.1, b.2));
            sb.total_cmp(&sa).then_with(|| a.0.cmp(&b.0))
        });
        beams.truncate(width);
    }
    beams.into_iter().next().map(|b| b.0).unwrap_or_default()
}

/// Prefix beam search over a `(B, T, V')` batch, utterances in parallel.
pub fn prefix_beam_search_batch(
    x: &Tensor,
    lens: &[usize],
    beam_width: usize,
) -> candle_core::Result<Vec<Vec<u32>>> {
    let (data, t, v) = host_batch(x, lens)?;
    Ok(lens
        .par_iter()
        .enumerate()
        .map(|(i, &l)| prefix_beam_search(&data[i * t * v..(i + 1) * t * v], l, v, beam_width))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    fn lp(rows: &[&[f32]]) -> Vec<f32> {
        rows.iter().flat_map(|r| r.iter().map(|p| p.ln())).collect()
    }

    #[test]
    fn collapse_merges_runs_then_drops_blanks() {
        assert_eq!(collapse(&[1, 1, 0, 1, 2, 2, 0, 0, 3]), vec![1, 1, 2, 3]);
        assert_eq!(collapse(&[0, 0, 0]), Vec::<u32>::new());
        assert_eq!(collapse(&[]), Vec::<u32>::new());
        assert_eq!(collapse(&[2, 2, 2]), vec![2]);
        assert_eq!(collapse(&[2, 0, 2]), vec![2, 2]);
    }

    #[test]
    fn greedy_uses_only_the_first_len_frames() {
        let x = lp(&[
            &[0.1, 0.8, 0.1],
            &[0.1, 0.8, 0.1],
            &[0.7, 0.2, 0.1],
            &[0.1, 0.1, 0.8],
        ]);
        assert_eq!(greedy(&x, 3, 4), vec![1, 2]);
        assert_eq!(greedy(&x, 3, 2), vec![1]);
        let batch = Tensor::from_vec(
            [x.clone(), x].concat(),
            (2, 4, 3),
            &candle_core::Device::Cpu,
        )
        .unwrap();
        assert_eq!(
            greedy_batch(&batch, &[4, 3]).unwrap(),
            vec![vec![1, 2], vec![1]]
        );
        assert!(greedy_batch(&batch, &[5, 3]).is_err());
    }

    #[test]
    fn beam_width_one_equals_greedy_on_peaky_posteriors() {
        let mut rng = Rng::new(7);
        let (t, v) = (12, 4);
        for _ in 0..200 {
            let mut x = Vec::with_capacity(t * v);
            for _ in 0..t {
                let top = rng.below(v);
                let rest: Vec<f64> = (0..v).map(|_| rng.uniform() + 1e-3).collect();
                let rs: f64 = rest.iter().sum();
                let peak = 0.55 + 0.4 * rng.uniform();
                for (k, r) in rest.iter().enumerate() {
                    let p = if k == top {
                        peak
                    } else {
                        (1.0 - peak) * r / rs
                    };
                    x.push((p as f32).ln());
                }
            }
            assert_eq!(prefix_beam_search(&x, t, v, 1), greedy(&x, v, t));
        }
    }

    #[test]
    fn beam_search_sums_paths_that_greedy_cannot() {
        // P("") = 0.6^2 = 0.36 is the single best path, but P("a") = 0.4*0.4 + 2*0.4*0.6 = 0.64.
        let x = lp(&[&[0.6, 0.4], &[0.6, 0.4]]);
        assert_eq!(greedy(&x, 2, 2), Vec::<u32>::new());
        assert_eq!(prefix_beam_search(&x, 2, 2, 4), vec![1]);
        let batch = Tensor::from_vec(x, (1, 2, 2), &candle_core::Device::Cpu).unwrap();
        assert_eq!(
            prefix_beam_search_batch(&batch, &[2], 4).unwrap(),
            vec![vec![1]]
        );
    }

    #[test]
    fn beam_search_keeps_repeats_apart_only_across_blanks() {
        // Path 1,0,1 (prob 0.9^3) dominates: the result is [1, 1], not [1].
        let x = lp(&[&[0.05, 0.9, 0.05], &[0.9, 0.05, 0.05], &[0.05, 0.9, 0.05]]);
        assert_eq!(prefix_beam_search(&x, 3, 3, 3), vec![1, 1]);
        // Path 1,1,1 dominates: collapses to [1].
        let y = lp(&[&[0.05, 0.9, 0.05], &[0.05, 0.9, 0.05], &[0.05, 0.9, 0.05]]);
        assert_eq!(prefix_beam_search(&y, 3, 3, 3), vec![1]);
    }
}

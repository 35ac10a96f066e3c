//! Viterbi forced alignment and spike timings (blank = 0).
//!
//! CTC models emit each label as a short spike surrounded by blanks; where those spikes land is
//! what frame-level distillation has to agree on, so the best target-constrained path records
//! the spike frame of every label.

use super::kernel::min_frames;

/// The most probable frame path that collapses to the target.
#[derive(Clone, Debug, PartialEq)]
pub struct Alignment {
    /// One class per frame (blank = 0); `collapse(path) == target`.
    pub path: Vec<u32>,
    /// For each target label, the frame inside its segment (the run of frames the path spends
    /// on that label) where the label's log-probability is highest; ties go to the earliest.
    pub spikes: Vec<usize>,
    /// Log-probability of `path` (per-frame log-softmax applied first).
    pub log_prob: f64,
}

/// Per-frame log-softmax into f64 (an identity on log-probabilities, so logits work too).
fn normalise(frames: &[f32], t: usize, v: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(t * v);
    for row in frames[..t * v].chunks_exact(v) {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let z = m + row.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
        out.extend(row.iter().map(|&x| x as f64 - z));
    }
    out
}

/// Viterbi alignment of `target` (labels in `1..v`) to `t` frames of `log_probs`
/// (`log_probs[t * v + k]`, logits accepted). `None` if no path has non-zero probability
/// (too few frames, or only through zero-probability classes). Ties between predecessors
/// prefer staying in the same state, then the previous state.
///
/// # Panics
/// If `log_probs` is shorter than `t * v` or a label is 0 or `>= v` (caller bugs, not data).
pub fn forced_align(log_probs: &[f32], t: usize, v: usize, target: &[u32]) -> Option<Alignment> {
    assert!(
        v > 0 && log_probs.len() >= t * v,
        "forced_align: {} values cannot hold {t} frames of {v}",
        log_probs.len()
    );
    assert!(
        target.iter().all(|&l| l != 0 && (l as usize) < v),
        "forced_align: target {target:?} has a label outside 1..{v}"
    );
    if t == 0 || t < min_frames(target) {
        return None;
    }
    let lp = normalise(log_probs, t, v);
    let mut ext = vec![0usize];
    for &l in target {
        ext.extend([l as usize, 0]);
    }
    let s_len = ext.len();
    let ninf = f64::NEG_INFINITY;
    let mut delta = vec![ninf; s_len];
    let mut next = vec![ninf; s_len];
    // 0 = stayed, 1 = came from s - 1, 2 = skipped from s - 2.
    let mut back = vec![0u8; t * s_len];
    delta[0] = lp[ext[0]];
    if s_len > 1 {
        delta[1] = lp[ext[1]];
    }
    for f in 1..t {
        for s in 0..s_len {
            let mut best = delta[s];
            let mut from = 0;
            if s >= 1 && delta[s - 1] > best {
                best = delta[s - 1];
                from = 1;
            }
            if s >= 2 && ext[s] != 0 && ext[s] != ext[s - 2] && delta[s - 2] > best {
                best = delta[s - 2];
                from = 2;
            }
            next[s] = best + lp[f * v + ext[s]];
            back[f * s_len + s] = from;
        }
        std::mem::swap(&mut delta, &mut next);
    }
    let mut s = s_len - 1;
    if s_len > 1 && delta[s_len - 2] > delta[s] {
        s = s_len - 2;
    }
    let log_prob = delta[s];
    if log_prob == ninf {
        return None;
    }
    let mut states = vec![0usize; t];
    for f in (0..t).rev() {
        states[f] = s;
        s -= back[f * s_len + s] as usize;
    }
    let path = states.iter().map(|&s| ext[s] as u32).collect();
    let spikes = (0..target.len())
        .map(|u| {
            let state = 2 * u + 1;
            let lab = ext[state];
            let mut best: Option<usize> = None;
            for f in (0..t).filter(|&f| states[f] == state) {
                if best.is_none_or(|b| lp[f * v + lab] > lp[b * v + lab]) {
                    best = Some(f);
                }
            }
            // Every label state lies on any complete path, so its segment is non-empty.
            best.unwrap_or(0)
        })
        .collect();
    Some(Alignment {
        path,
        spikes,
        log_prob,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctc::collapse;

    fn lp(rows: &[&[f32]]) -> Vec<f32> {
        rows.iter().flat_map(|r| r.iter().map(|p| p.ln())).collect()
    }

    #[test]
    fn forced_alignment_of_a_hand_built_case() {
        // Unconstrained, frame 2 would pick class 2; the target [1, 1] forces a blank between
        // the two 1s, and the second 1 is held for two frames with its peak on the last one.
        let x = lp(&[
            &[0.1, 0.8, 0.1],
            &[0.6, 0.3, 0.1],
            &[0.1, 0.3, 0.6],
            &[0.1, 0.5, 0.4],
            &[0.1, 0.8, 0.1],
        ]);
        let a = forced_align(&x, 5, 3, &[1, 1]).unwrap();
        assert_eq!(a.path, vec![1, 0, 1, 1, 1]);
        assert_eq!(collapse(&a.path), vec![1, 1]);
        assert_eq!(a.spikes, vec![0, 4]);
        let expect: f64 = [0.8f64, 0.6, 0.3, 0.5, 0.8].iter().map(|p| p.ln()).sum();
        assert!(
            (a.log_prob - expect).abs() < 1e-5,
            "{} vs {expect}",
            a.log_prob
        );
    }

    #[test]
    fn forced_alignment_path_collapses_to_target_and_beats_all_others() {
        let mut rng = crate::Rng::new(11);
        let (t, v) = (6, 3);
        for _ in 0..50 {
            let x: Vec<f32> = (0..t * v).map(|_| rng.normal() as f32).collect();
            let target: Vec<u32> = (0..rng.below(4))
                .map(|_| 1 + rng.below(v - 1) as u32)
                .collect();
            let lpn = normalise(&x, t, v);
            // Brute force over all v^t paths.
            let mut best = f64::NEG_INFINITY;
            for code in 0..v.pow(t as u32) {
                let path: Vec<u32> = (0..t)
                    .map(|f| (code / v.pow(f as u32) % v) as u32)
                    .collect();
                if collapse(&path) == target {
                    let s: f64 = path
                        .iter()
                        .enumerate()
                        .map(|(f, &k)| lpn[f * v + k as usize])
                        .sum();
                    best = best.max(s);
                }
            }
            match forced_align(&x, t, v, &target) {
                None => assert_eq!(best, f64::NEG_INFINITY),
                Some(a) => {
                    assert_eq!(collapse(&a.path), target);
                    assert!((a.log_prob - best).abs() < 1e-9);
                    assert_eq!(a.spikes.len(), target.len());
                    for (u, &f) in a.spikes.iter().enumerate() {
                        assert_eq!(a.path[f], target[u]);
                    }
                }
            }
        }
    }

    #[test]
    fn infeasible_alignment_is_none() {
        let x = lp(&[&[0.5, 0.5], &[0.5, 0.5]]);
        assert!(forced_align(&x, 2, 2, &[1, 1]).is_none());
        assert!(forced_align(&x, 2, 2, &[1, 1, 1]).is_none());
        assert!(forced_align(&x, 2, 2, &[1]).is_some());
    }
}

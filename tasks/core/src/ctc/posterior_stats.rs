//! What a CTC model's frame posteriors look like on a set of examples: how much is blank, how
//! sure each frame is, how wide the label spikes are, and how much mass goes to characters of
//! the transcript other than the one the frame is aligned to ("hint leakage": an oracle that is
//! told the transcript may spread mass over its characters; a conventional teacher's figure is
//! the baseline to read it against). These are what a student distilled from the model sees.

use serde::{Deserialize, Serialize};

use super::align::forced_align;

/// The statistics, over the frames of the examples tallied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct PosteriorStats {
    /// Frames whose most probable class is blank, as a fraction of all frames.
    pub blank_fraction: f64,
    /// Mean entropy of a frame's distribution over the CTC alphabet, in nats.
    pub frame_entropy: f64,
    /// Frames whose most probable class is a label, per transcript label (1 = every label fires
    /// on exactly one frame; above 1, wider spikes or insertions; below 1, deletions).
    pub spikes_per_label: f64,
    /// Mean over frames of the probability on transcript characters other than the frame's
    /// symbol in the model's own forced alignment (label or blank), over examples it can
    /// align; `None` if none aligns.
    pub hint_leakage: Option<f64>,
    /// Examples and frames tallied.
    pub examples: usize,
    pub frames: usize,
}

/// Running sums behind `PosteriorStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PosteriorTally {
    examples: usize,
    frames: usize,
    blank_frames: usize,
    entropy: f64,
    label_frames: usize,
    labels: usize,
    leak: f64,
    leak_frames: usize,
}

impl PosteriorTally {
    /// Adds one example: `log_probs[f * v + k]` for its `t` valid frames (logits accepted:
    /// each frame is normalised), and its transcript `target` (labels in `1..v`).
    ///
    /// # Panics
    /// If `log_probs` holds fewer than `t * v` values or a label is outside `1..v`.
    pub fn add(&mut self, log_probs: &[f32], t: usize, v: usize, target: &[u32]) {
        assert!(
            log_probs.len() >= t * v,
            "posterior stats: {t} x {v} frames"
        );
        let mut probs = vec![0f64; t * v];
        for (f, row) in log_probs[..t * v].chunks_exact(v).enumerate() {
            let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
            let z: f64 = row.iter().map(|&x| (x as f64 - m).exp()).sum();
            let p = &mut probs[f * v..(f + 1) * v];
            for (q, &x) in p.iter_mut().zip(row) {
                *q = (x as f64 - m).exp() / z;
            }
            let best = (0..v).fold(0, |b, k| if p[k] > p[b] { k } else { b });
            if best == 0 {
                self.blank_frames += 1;
            } else {
                self.label_frames += 1;
            }
            self.entropy -= p
                .iter()
                .filter(|&&q| q > 0.0)
                .map(|q| q * q.ln())
                .sum::<f64>();
        }
        self.examples += 1;
        self.frames += t;
        self.labels += target.len();
        if let Some(a) = forced_align(log_probs, t, v, target) {
            let mut chars: Vec<u32> = target.to_vec();
            chars.sort_unstable();
            chars.dedup();
            for (f, &sym) in a.path.iter().enumerate() {
                let p = &probs[f * v..(f + 1) * v];
                self.leak += chars
                    .iter()
                    .filter(|&&c| c != sym)
                    .map(|&c| p[c as usize])
                    .sum::<f64>();
            }
            self.leak_frames += t;
        }
    }

    pub fn merge(&mut self, o: &PosteriorTally) {
        self.examples += o.examples;
        self.frames += o.frames;
        self.blank_frames += o.blank_frames;
        self.entropy += o.entropy;
        self.label_frames += o.label_frames;
        self.labels += o.labels;
        self.leak += o.leak;
        self.leak_frames += o.leak_frames;
    }

    pub fn stats(&self) -> PosteriorStats {
        let per = |x: f64, n: usize| if n == 0 { 0.0 } else { x / n as f64 };
        PosteriorStats {
            blank_fraction: per(self.blank_frames as f64, self.frames),
            frame_entropy: per(self.entropy, self.frames),
            spikes_per_label: per(self.label_frames as f64, self.labels),
            hint_leakage: (self.leak_frames > 0).then(|| self.leak / self.leak_frames as f64),
            examples: self.examples,
            frames: self.frames,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ln(p: &[f64]) -> Vec<f32> {
        p.iter().map(|&x| x.ln() as f32).collect()
    }

    #[test]
    fn hand_computed_example() {
        // v = 3 (blank, a, b), target [a, b], four frames:
        //   f0 blank .7 a .2 b .1   -> aligned blank: leak .2 + .1 = .3
        //   f1 blank .1 a .8 b .1   -> aligned a:     leak .1
        //   f2 blank .6 a .3 b .1   -> aligned blank: leak .4
        //   f3 blank .2 a .1 b .7   -> aligned b:     leak .1
        let p = [0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.6, 0.3, 0.1, 0.2, 0.1, 0.7];
        let mut t = PosteriorTally::default();
        t.add(&ln(&p), 4, 3, &[1, 2]);
        let s = t.stats();
        assert_eq!((s.examples, s.frames), (1, 4));
        assert!((s.blank_fraction - 0.5).abs() < 1e-12);
        assert!((s.spikes_per_label - 1.0).abs() < 1e-12);
        let h = |r: &[f64]| -r.iter().map(|q| q * q.ln()).sum::<f64>();
        let want_h = (0..4).map(|f| h(&p[f * 3..f * 3 + 3])).sum::<f64>() / 4.0;
        assert!(
            (s.frame_entropy - want_h).abs() < 1e-6,
            "{}",
            s.frame_entropy
        );
        assert!((s.hint_leakage.unwrap() - 0.9 / 4.0).abs() < 1e-6);
    }

    #[test]
    fn sums_merge_and_unalignable_examples_leave_leakage_out() {
        let p = [0.1, 0.9, 0.9, 0.1];
        let mut a = PosteriorTally::default();
        a.add(&ln(&p), 2, 2, &[1]);
        // Two labels equal in a row need three frames: two cannot align them.
        let mut b = PosteriorTally::default();
        b.add(&ln(&p), 2, 2, &[1, 1]);
        assert_eq!(b.stats().hint_leakage, None);
        let mut m = a;
        m.merge(&b);
        let s = m.stats();
        assert_eq!((s.examples, s.frames), (2, 4));
        // One label frame per example over 1 + 2 labels.
        assert!((s.spikes_per_label - 2.0 / 3.0).abs() < 1e-12);
        // Only the first example aligns (path [a, blank]): the blank frame's 0.1 on "a" leaks.
        assert!((s.hint_leakage.unwrap() - 0.05).abs() < 1e-6);
        assert_eq!(PosteriorTally::default().stats().spikes_per_label, 0.0);
    }
}

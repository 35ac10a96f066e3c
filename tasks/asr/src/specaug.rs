//! SpecAugment (Park et al. 2019) frequency and time masks, without time warping.
//!
//! Masked cells are set to the utterance's mean over its valid frames, so the mask is neutral
//! whether or not the features were normalised (after CMVN that mean is about 0, the usual fill).

use serde::{Deserialize, Serialize};

use ctc_core::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpecAugConfig {
    pub n_freq_masks: usize,
    /// Maximum frequency-mask width F (mel bins); each width is uniform in [0, F].
    pub freq_mask_width: usize,
    pub n_time_masks: usize,
    /// Maximum time-mask width as a fraction of the valid length (the paper's p).
    pub time_mask_max_frac: f32,
    /// Absolute cap on a time-mask width in frames (the paper's T).
    pub time_mask_max_frames: usize,
}

impl Default for SpecAugConfig {
    fn default() -> Self {
        // LibriSpeech "LD"-like policy, scaled down for 1-4 s utterances.
        Self {
            n_freq_masks: 2,
            freq_mask_width: 15,
            n_time_masks: 2,
            time_mask_max_frac: 0.1,
            time_mask_max_frames: 40,
        }
    }
}

/// The masks drawn for one utterance: half-open ranges of mel bins and of frames.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Masks {
    pub freq: Vec<(usize, usize)>,
    pub time: Vec<(usize, usize)>,
}

impl SpecAugConfig {
    /// Draw masks for an utterance of `n_frames` valid frames and `n_mels` bins.
    pub fn draw(&self, n_frames: usize, n_mels: usize, rng: &mut Rng) -> Masks {
        let mut m = Masks::default();
        for _ in 0..self.n_freq_masks {
            let f = rng.range(0, self.freq_mask_width.min(n_mels));
            let f0 = rng.range(0, n_mels - f);
            m.freq.push((f0, f0 + f));
        }
        let t_max = ((self.time_mask_max_frac.max(0.0) * n_frames as f32) as usize)
            .min(self.time_mask_max_frames)
            .min(n_frames);
        for _ in 0..self.n_time_masks {
            let t = rng.range(0, t_max);
            let t0 = rng.range(0, n_frames - t);
            m.time.push((t0, t0 + t));
        }
        m
    }

    /// Mask `feats` (at least `n_frames * n_mels` values; anything after the valid frames,
    /// e.g. padding, is left untouched). Returns the masks applied.
    pub fn apply(&self, feats: &mut [f32], n_frames: usize, n_mels: usize, rng: &mut Rng) -> Masks {
        let valid = &mut feats[..n_frames * n_mels];
        let masks = self.draw(n_frames, n_mels, rng);
        if valid.is_empty() {
            return masks;
        }
        let mean = (valid.iter().map(|&v| v as f64).sum::<f64>() / valid.len() as f64) as f32;
        for &(f0, f1) in &masks.freq {
            for row in valid.chunks_exact_mut(n_mels) {
                row[f0..f1].fill(mean);
            }
        }
        for &(t0, t1) in &masks.time {
            valid[t0 * n_mels..t1 * n_mels].fill(mean);
        }
        masks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i % 97) as f32 + 1.0).collect()
    }

    #[test]
    fn same_seed_same_masks_and_padding_untouched() {
        let cfg = SpecAugConfig::default();
        let (nf, nm, pad) = (120, 80, 30);
        let mut a = ramp((nf + pad) * nm);
        let mut b = a.clone();
        let orig = a.clone();
        let ma = cfg.apply(&mut a, nf, nm, &mut Rng::new(5));
        let mb = cfg.apply(&mut b, nf, nm, &mut Rng::new(5));
        assert_eq!(ma, mb);
        assert_eq!(a, b);
        assert_eq!(a[nf * nm..], orig[nf * nm..], "padding must not be masked");
        // Another seed gives other masks (for these sizes a collision is astronomically rare).
        let mut c = orig.clone();
        let mc = cfg.apply(&mut c, nf, nm, &mut Rng::new(6));
        assert_ne!(ma, mc);
    }

    #[test]
    fn masks_respect_bounds_and_fill_exactly_the_masked_cells() {
        let cfg = SpecAugConfig {
            n_freq_masks: 3,
            freq_mask_width: 10,
            n_time_masks: 3,
            time_mask_max_frac: 0.2,
            time_mask_max_frames: 7,
        };
        let mut rng = Rng::new(11);
        for trial in 0..200 {
            let nf = 1 + trial % 50;
            let nm = 80;
            let orig = ramp(nf * nm);
            let mean = orig.iter().map(|&v| v as f64).sum::<f64>() / orig.len() as f64;
            let mut x = orig.clone();
            let m = cfg.apply(&mut x, nf, nm, &mut rng);
            let t_cap = ((0.2 * nf as f32) as usize).min(7);
            for &(t0, t1) in &m.time {
                assert!(
                    t1 <= nf && t1 - t0 <= t_cap,
                    "time mask {t0}..{t1} for {nf} frames"
                );
            }
            for &(f0, f1) in &m.freq {
                assert!(f1 <= nm && f1 - f0 <= 10);
            }
            for t in 0..nf {
                for f in 0..nm {
                    let masked = m.time.iter().any(|&(a, b)| (a..b).contains(&t))
                        || m.freq.iter().any(|&(a, b)| (a..b).contains(&f));
                    let v = x[t * nm + f];
                    if masked {
                        assert!((v as f64 - mean).abs() < 1e-3);
                    } else {
                        assert_eq!(v, orig[t * nm + f]);
                    }
                }
            }
        }
    }
}

//! 80-dim log-mel filterbank features and mean/variance normalisation.
//!
//! Definition (matched exactly by tasks/asr/tests/fixtures/asr/make_fbank_fixture.py):
//! frames of `win_length` samples every `hop_length` samples, no centring/padding (Kaldi's
//! "snip edges": `n_frames = 1 + (n - win) / hop`), a periodic Hann window (as torch's
//! `hann_window`), zero-padded to `n_fft`, power spectrum |X|^2, triangular mel filters built on
//! the FFT bin frequencies the way librosa does (`librosa.filters.mel(htk=..., norm=None)`), the
//! mel scale being HTK (`2595 log10(1 + f/700)`, the default) or Slaney (linear below 1 kHz, log
//! above), then `ln(max(e, log_floor))`.

use std::path::Path;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};

use super::error::{AsrError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MelScale {
    Htk,
    Slaney,
}

/// Which mean/variance normalisation `Fbank::compute` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CmvnMode {
    /// Raw log-mel energies.
    None,
    /// Each utterance normalised by its own per-dimension mean and standard deviation.
    Utterance,
}

impl<'de> Deserialize<'de> for CmvnMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        match String::deserialize(d)?.as_str() {
            "none" => Ok(Self::None),
            "utterance" => Ok(Self::Utterance),
            // Training-set statistics would have to be estimated on the training split only and
            // shipped with every exported model for `eval` and `transcribe`; nothing does that,
            // and accepting the value would silently train on raw features.
            "global" => Err(D::Error::custom(
                "cmvn = \"global\" is not supported (no training-set statistics are computed \
                 or saved with the model); use cmvn = \"utterance\" for per-utterance \
                 normalisation, or \"none\"",
            )),
            other => Err(D::Error::unknown_variant(other, &["none", "utterance"])),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureConfig {
    pub sample_rate: u32,
    pub n_mels: usize,
    pub win_length: usize,
    pub hop_length: usize,
    pub n_fft: usize,
    pub f_min: f32,
    /// Upper filter edge; `None` means the Nyquist frequency.
    pub f_max: Option<f32>,
    pub mel_scale: MelScale,
    pub log_floor: f32,
    pub cmvn: CmvnMode,
    /// Longest audio file accepted, in seconds: a longer one is an error (a counted skip with
    /// `--skip-bad`), refused from its header before it is decoded where the header gives the
    /// length. Applies to audio read from files (eval manifests, `transcribe`). Not written
    /// at its default, so existing corpus cache keys are unchanged.
    #[serde(skip_serializing_if = "is_default_max_seconds")]
    pub max_seconds: f64,
}

/// The default `FeatureConfig::max_seconds`: LibriSpeech utterances are at most 35 s.
pub const DEFAULT_MAX_SECONDS: f64 = 60.0;

fn is_default_max_seconds(s: &f64) -> bool {
    *s == DEFAULT_MAX_SECONDS
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            sample_rate: 16_000,
            n_mels: 80,
            win_length: 400,
            hop_length: 160,
            n_fft: 512,
            f_min: 0.0,
            f_max: None,
            mel_scale: MelScale::Htk,
            log_floor: 1e-10,
            cmvn: CmvnMode::None,
            max_seconds: DEFAULT_MAX_SECONDS,
        }
    }
}

impl FeatureConfig {
    pub fn validate(&self) -> Result<()> {
        let f_max = self.f_max.unwrap_or(self.sample_rate as f32 / 2.0);
        let bad = |m: String| Err(AsrError::Config(m));
        if self.n_mels == 0 || self.hop_length == 0 || self.win_length == 0 {
            return bad("n_mels, hop_length and win_length must be > 0".into());
        }
        if self.win_length > self.n_fft {
            return bad(format!(
                "win_length {} exceeds n_fft {}",
                self.win_length, self.n_fft
            ));
        }
        if !(self.f_min >= 0.0 && self.f_min < f_max && f_max <= self.sample_rate as f32 / 2.0) {
            return bad(format!(
                "need 0 <= f_min < f_max <= sample_rate/2, got {} .. {f_max}",
                self.f_min
            ));
        }
        if self.log_floor.is_nan() || self.log_floor <= 0.0 {
            return bad("log_floor must be > 0".into());
        }
        if !(self.max_seconds.is_finite() && self.max_seconds > 0.0) {
            return bad(format!(
                "max_seconds must be a finite number of seconds > 0, got {}",
                self.max_seconds
            ));
        }
        Ok(())
    }

    /// Frames produced for `n` samples (0 when shorter than one window).
    pub fn n_frames(&self, n: usize) -> usize {
        if n < self.win_length {
            0
        } else {
            1 + (n - self.win_length) / self.hop_length
        }
    }
}

pub fn hz_to_mel(f: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + f / 700.0).log10(),
        MelScale::Slaney => {
            let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
            if f < min_log_hz {
                f / f_sp
            } else {
                min_log_hz / f_sp + (f / min_log_hz).ln() / (6.4f64.ln() / 27.0)
            }
        }
    }
}

pub fn mel_to_hz(m: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(m / 2595.0) - 1.0),
        MelScale::Slaney => {
            let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
            let min_log_mel = min_log_hz / f_sp;
            if m < min_log_mel {
                m * f_sp
            } else {
                min_log_hz * ((m - min_log_mel) * (6.4f64.ln() / 27.0)).exp()
            }
        }
    }
}

/// One triangular filter stored sparsely: weights for bins `start..start + w.len()`.
#[derive(Debug, Clone)]
struct MelFilter {
    start: usize,
    w: Vec<f32>,
}

/// A reusable feature extractor (FFT plan, window and filters built once; `Send + Sync`).
pub struct Fbank {
    cfg: FeatureConfig,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<MelFilter>,
}

impl Fbank {
    pub fn new(cfg: &FeatureConfig) -> Result<Self> {
        cfg.validate()?;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(cfg.n_fft);
        let n = cfg.win_length;
        let window = (0..n)
            .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()) as f32)
            .collect();
        Ok(Self {
            cfg: cfg.clone(),
            fft,
            window,
            filters: mel_filters(cfg),
        })
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.cfg
    }

    /// Dense (n_mels, n_fft/2 + 1) filter matrix, for inspection and tests.
    pub fn filter_matrix(&self) -> Vec<Vec<f32>> {
        let n_bins = self.cfg.n_fft / 2 + 1;
        self.filters
            .iter()
            .map(|f| {
                let mut row = vec![0.0; n_bins];
                row[f.start..f.start + f.w.len()].copy_from_slice(&f.w);
                row
            })
            .collect()
    }

    /// Features of 16 kHz mono samples: (`frames * n_mels` values, `n_frames`). Applies
    /// per-utterance CMVN when the config asks for it. `name` is used in the error message.
    pub fn compute(&self, samples: &[f32], name: &Path) -> Result<(Vec<f32>, usize)> {
        let c = &self.cfg;
        let n_frames = c.n_frames(samples.len());
        if n_frames == 0 {
            return Err(AsrError::TooShort {
                path: name.to_path_buf(),
                samples: samples.len(),
                need: c.win_length,
            });
        }
        let mut input = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; spec.len()];
        let mut out = Vec::with_capacity(n_frames * c.n_mels);
        for t in 0..n_frames {
            let frame = &samples[t * c.hop_length..t * c.hop_length + c.win_length];
            for (dst, (x, w)) in input.iter_mut().zip(frame.iter().zip(&self.window)) {
                *dst = x * w;
            }
            input[c.win_length..].fill(0.0);
            self.fft
                .process_with_scratch(&mut input, &mut spec, &mut scratch)
                .map_err(|e| AsrError::Config(format!("fft: {e}")))?;
            for (p, z) in power.iter_mut().zip(&spec) {
                *p = z.norm_sqr();
            }
            for f in &self.filters {
                let e: f32 = f.w.iter().zip(&power[f.start..]).map(|(w, p)| w * p).sum();
                out.push(e.max(c.log_floor).ln());
            }
        }
        if c.cmvn == CmvnMode::Utterance {
            let stats = CmvnStats::from_feats([(&out[..], n_frames)], c.n_mels);
            stats.apply(&mut out[..n_frames * c.n_mels]);
        }
        Ok((out, n_frames))
    }
}

fn mel_filters(c: &FeatureConfig) -> Vec<MelFilter> {
    let sr = c.sample_rate as f64;
    let f_max = c.f_max.map(f64::from).unwrap_or(sr / 2.0);
    let n_bins = c.n_fft / 2 + 1;
    let (lo, hi) = (
        hz_to_mel(c.f_min as f64, c.mel_scale),
        hz_to_mel(f_max, c.mel_scale),
    );
    let edges: Vec<f64> = (0..c.n_mels + 2)
        .map(|i| {
            mel_to_hz(
                lo + (hi - lo) * i as f64 / (c.n_mels + 1) as f64,
                c.mel_scale,
            )
        })
        .collect();
    (0..c.n_mels)
        .map(|m| {
            let (l, ctr, r) = (edges[m], edges[m + 1], edges[m + 2]);
            let dense: Vec<f32> = (0..n_bins)
                .map(|k| {
                    let f = k as f64 * sr / c.n_fft as f64;
                    let up = (f - l) / (ctr - l);
                    let down = (r - f) / (r - ctr);
                    up.min(down).max(0.0) as f32
                })
                .collect();
            let start = dense.iter().position(|&w| w > 0.0).unwrap_or(0);
            let end = dense
                .iter()
                .rposition(|&w| w > 0.0)
                .map_or(start, |e| e + 1);
            MelFilter {
                start,
                w: dense[start..end].to_vec(),
            }
        })
        .collect()
}

/// Per-dimension mean and standard deviation over the valid frames of some utterances.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CmvnStats {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl CmvnStats {
    /// Statistics over the valid frames of (features, n_frames) pairs, accumulated in f64.
    pub fn from_feats<'a>(
        items: impl IntoIterator<Item = (&'a [f32], usize)>,
        n_mels: usize,
    ) -> Self {
        let mut sum = vec![0f64; n_mels];
        let mut sq = vec![0f64; n_mels];
        let mut frames = 0u64;
        for (x, n) in items {
            for row in x[..n * n_mels].chunks_exact(n_mels) {
                for ((s, q), &v) in sum.iter_mut().zip(sq.iter_mut()).zip(row) {
                    *s += v as f64;
                    *q += v as f64 * v as f64;
                }
            }
            frames += n as u64;
        }
        let d = frames.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / d).collect();
        // The floor keeps a constant dimension (e.g. silence at the floor) from dividing by 0.
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / d - m * m).max(0.0).sqrt().max(1e-5)) as f32)
            .collect();
        Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// Normalise a frames*n_mels buffer in place.
    pub fn apply(&self, x: &mut [f32]) {
        let d = self.mean.len();
        for row in x.chunks_exact_mut(d) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }
}

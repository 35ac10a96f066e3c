//! Waveform augmentation of training audio, the perturbations recorded speech brings and
//! synthetic speech lacks: speed perturbation (Ko et al. 2015: resampling, so tempo and pitch
//! move together), a simple room response (exponentially decaying noise behind the direct
//! path), additive noise of a random colour at a random SNR, and a telephone channel (300-3400 Hz
//! band, 8 kHz, 8-bit mu-law). Each is switched on by its own table in `[data.augment]`.
//!
//! Augmented copies are made once, when the corpus is built, beside the clean utterance (as
//! Kaldi and ESPnet do for speed perturbation): features stay precomputed, and each copy's
//! randomness comes from `Rng::derive(seed, hash(id, copy))`, so the corpus does not depend on
//! thread order. Order of application: speed, room, noise (in the room), telephone (the channel).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;
use serde::{Deserialize, Serialize};

use super::audio::{resample, TARGET_SAMPLE_RATE};
use super::corpus::Utterance;
use super::error::{AsrError, Result};
use super::features::Fbank;
use ctc_core::rng::Rng;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Augmented copies made of every training utterance, kept beside the clean one.
    pub copies: usize,
    pub seed: u64,
    pub speed: Option<SpeedConfig>,
    pub room: Option<RoomConfig>,
    pub noise: Option<NoiseConfig>,
    pub telephone: Option<TelephoneConfig>,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            copies: 1,
            seed: 1,
            speed: None,
            room: None,
            noise: None,
            telephone: None,
        }
    }
}

/// Each copy plays at one of `factors`, drawn uniformly (1.1 = 10 % faster and higher).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpeedConfig {
    pub factors: Vec<f32>,
}

impl Default for SpeedConfig {
    fn default() -> Self {
        Self {
            factors: vec![0.9, 1.0, 1.1],
        }
    }
}

/// With probability `p`, the copy is convolved with a synthetic room response whose
/// reverberation time (60 dB decay) and direct-to-reverberant energy ratio are drawn uniformly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomConfig {
    pub p: f32,
    pub rt60_min: f32,
    pub rt60_max: f32,
    pub drr_min_db: f32,
    pub drr_max_db: f32,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            rt60_min: 0.2,
            rt60_max: 0.8,
            drr_min_db: 0.0,
            drr_max_db: 12.0,
        }
    }
}

/// Noise of power spectrum 1 / f^a: white (a = 0), pink (1), brown (2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseColour {
    White,
    Pink,
    Brown,
}

impl NoiseColour {
    fn exponent(self) -> f32 {
        match self {
            Self::White => 0.0,
            Self::Pink => 1.0,
            Self::Brown => 2.0,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::White => "white",
            Self::Pink => "pink",
            Self::Brown => "brown",
        }
    }
}

/// With probability `p`, noise of a colour drawn from `colours` is added at an SNR drawn
/// uniformly in [snr_min_db, snr_max_db] (power over the whole utterance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseConfig {
    pub p: f32,
    pub snr_min_db: f32,
    pub snr_max_db: f32,
    pub colours: Vec<NoiseColour>,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            p: 0.5,
            snr_min_db: 5.0,
            snr_max_db: 25.0,
            colours: vec![NoiseColour::White, NoiseColour::Pink, NoiseColour::Brown],
        }
    }
}

/// With probability `p`, the copy goes through a narrow-band telephone channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelephoneConfig {
    pub p: f32,
}

impl Default for TelephoneConfig {
    fn default() -> Self {
        Self { p: 0.3 }
    }
}

/// What was done to one copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub speed: f32,
    pub rt60: Option<f32>,
    pub noise: Option<(NoiseColour, f32)>,
    pub telephone: bool,
}

/// Counts over a split's copies, for the run log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AugmentReport {
    pub copies: usize,
    /// Copies per speed factor, keyed by the factor in thousandths.
    pub speeds: BTreeMap<u32, usize>,
    pub room: usize,
    pub noise: BTreeMap<NoiseColour, usize>,
    pub telephone: usize,
}

impl AugmentReport {
    pub fn add(&mut self, a: &Applied) {
        self.copies += 1;
        *self
            .speeds
            .entry((a.speed * 1000.0).round() as u32)
            .or_default() += 1;
        self.room += usize::from(a.rt60.is_some());
        if let Some((c, _)) = a.noise {
            *self.noise.entry(c).or_default() += 1;
        }
        self.telephone += usize::from(a.telephone);
    }
}

impl AugmentReport {
    pub fn merge(&mut self, other: &AugmentReport) {
        self.copies += other.copies;
        for (k, n) in &other.speeds {
            *self.speeds.entry(*k).or_default() += n;
        }
        self.room += other.room;
        for (c, n) in &other.noise {
            *self.noise.entry(*c).or_default() += n;
        }
        self.telephone += other.telephone;
    }
}

impl fmt::Display for AugmentReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} augmented copies", self.copies)?;
        if self.copies == 0 {
            return Ok(());
        }
        let speeds: Vec<String> = self
            .speeds
            .iter()
            .map(|(k, n)| format!("{}x {n}", *k as f32 / 1000.0))
            .collect();
        let noise: Vec<String> = self
            .noise
            .iter()
            .map(|(c, n)| format!("{} {n}", c.name()))
            .collect();
        write!(
            f,
            " (speed {}; room {}; noise {}; telephone {})",
            speeds.join(", "),
            self.room,
            if noise.is_empty() {
                "0".to_string()
            } else {
                noise.join(", ")
            },
            self.telephone
        )
    }
}

impl AugmentConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(AsrError::Config(format!("augment: {m}")));
        let prob = |name: &str, p: f32| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(AsrError::Config(format!(
                    "augment.{name}.p: {p} is not a probability in [0, 1]"
                )))
            }
        };
        let range = |name: &str, lo: f32, hi: f32, min: f32, max: f32| {
            if lo.is_finite() && hi.is_finite() && min <= lo && lo <= hi && hi <= max {
                Ok(())
            } else {
                Err(AsrError::Config(format!(
                    "augment.{name}: need {min} <= min <= max <= {max}, got [{lo}, {hi}]"
                )))
            }
        };
        if self.copies == 0 {
            return bad(
                "copies = 0 makes no copies; remove [data.augment] to train on clean audio only"
                    .into(),
            );
        }
        if self.speed.is_none()
            && self.room.is_none()
            && self.noise.is_none()
            && self.telephone.is_none()
        {
            return bad("no augmentation switched on (add speed, room, noise or telephone)".into());
        }
        if let Some(s) = &self.speed {
            if s.factors.is_empty() {
                return bad("speed.factors is empty".into());
            }
            if let Some(f) = s.factors.iter().find(|f| !(0.5..=2.0).contains(*f)) {
                return bad(format!("speed.factors: {f} is outside [0.5, 2]"));
            }
        }
        if let Some(r) = &self.room {
            prob("room", r.p)?;
            range("room.rt60", r.rt60_min, r.rt60_max, 0.05, 2.0)?;
            range("room.drr_db", r.drr_min_db, r.drr_max_db, -20.0, 40.0)?;
        }
        if let Some(n) = &self.noise {
            prob("noise", n.p)?;
            range("noise.snr_db", n.snr_min_db, n.snr_max_db, -10.0, 60.0)?;
            if n.colours.is_empty() {
                return bad("noise.colours is empty".into());
            }
        }
        if let Some(t) = &self.telephone {
            prob("telephone", t.p)?;
        }
        Ok(())
    }

    /// The random stream of copy `k` of utterance `id`.
    fn rng(&self, id: &str, k: usize) -> Rng {
        let mut h = ctc_core::io::Fnv1a::new();
        h.update(id.as_bytes());
        h.update(&(k as u64).to_le_bytes());
        Rng::derive(self.seed, h.finish())
    }

    /// Copy `k` of the 16 kHz samples of utterance `id`.
    pub fn copy(
        &self,
        id: &str,
        k: usize,
        x: &[f32],
    ) -> std::result::Result<(Vec<f32>, Applied), String> {
        let mut rng = self.rng(id, k);
        let mut y = x.to_vec();
        let mut applied = Applied {
            speed: 1.0,
            rt60: None,
            noise: None,
            telephone: false,
        };
        if let Some(s) = &self.speed {
            let f = *rng.choose(&s.factors).unwrap_or(&1.0);
            applied.speed = f;
            y = speed(&y, f)?;
        }
        if let Some(r) = &self.room {
            if rng.bernoulli(r.p as f64) {
                let rt60 = uniform(&mut rng, r.rt60_min, r.rt60_max);
                let drr = uniform(&mut rng, r.drr_min_db, r.drr_max_db);
                let h = room_response(rt60, drr, TARGET_SAMPLE_RATE, &mut rng);
                y = keep_rms(&y, convolve(&y, &h));
                applied.rt60 = Some(rt60);
            }
        }
        if let Some(n) = &self.noise {
            if rng.bernoulli(n.p as f64) {
                let colour = *rng.choose(&n.colours).unwrap_or(&NoiseColour::White);
                let snr = uniform(&mut rng, n.snr_min_db, n.snr_max_db);
                add_noise(&mut y, colour, snr, &mut rng);
                applied.noise = Some((colour, snr));
            }
        }
        if let Some(t) = &self.telephone {
            if rng.bernoulli(t.p as f64) {
                y = telephone(&y)?;
                applied.telephone = true;
            }
        }
        Ok((y, applied))
    }

    /// The clean utterance `u` (whose audio is `samples`) followed by its augmented copies,
    /// named `ID+augK`, with their features.
    pub fn utterances(
        &self,
        u: Utterance,
        samples: &[f32],
        fbank: &Fbank,
        report: &mut AugmentReport,
    ) -> Result<Vec<Utterance>> {
        let mut out = Vec::with_capacity(1 + self.copies);
        for k in 0..self.copies {
            let id = format!("{}+aug{k}", u.id);
            let (y, applied) = self
                .copy(&u.id, k, samples)
                .map_err(|detail| AsrError::Decode {
                    path: id.clone().into(),
                    detail: format!("augmenting: {detail}"),
                })?;
            let (feats, n_frames) = fbank.compute(&y, std::path::Path::new(&id))?;
            report.add(&applied);
            out.push(Utterance {
                id,
                text: u.text.clone(),
                feats: Arc::new(feats),
                n_frames,
                speaker: u.speaker.clone(),
            });
        }
        out.insert(0, u);
        Ok(out)
    }
}

/// The clean utterance `u` and, with `augment`, its copies (`AugmentConfig::utterances`), with
/// what was done to them: what a corpus builder keeps for one recording.
pub fn with_copies(
    augment: Option<&AugmentConfig>,
    u: Utterance,
    samples: &[f32],
    fbank: &Fbank,
) -> Result<(Vec<Utterance>, AugmentReport)> {
    let mut report = AugmentReport::default();
    let us = match augment {
        Some(a) => a.utterances(u, samples, fbank, &mut report)?,
        None => vec![u],
    };
    Ok((us, report))
}

fn uniform(rng: &mut Rng, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * rng.uniform() as f32
}

/// Play `x` at `factor` times its speed: read it as sampled at `factor` * 16 kHz and resample
/// to 16 kHz (length / factor, pitch * factor).
pub fn speed(x: &[f32], factor: f32) -> std::result::Result<Vec<f32>, String> {
    let from = (TARGET_SAMPLE_RATE as f32 * factor).round() as u32;
    resample(x, from, TARGET_SAMPLE_RATE)
}

/// A room impulse response: 1 at lag 0 (the direct path), silence for a pre-delay of 1-5 ms,
/// then Gaussian noise under an envelope falling 60 dB in `rt60` seconds, scaled so that the
/// direct energy over the tail's energy is `drr_db`. Cut where the envelope is 60 dB down.
pub fn room_response(rt60: f32, drr_db: f32, rate: u32, rng: &mut Rng) -> Vec<f32> {
    let sr = rate as f32;
    let len = ((rt60 * sr).ceil() as usize).max(2);
    let pre = 1 + rng.range(0, (0.005 * sr) as usize);
    let decay = 3.0 * std::f32::consts::LN_10 / (rt60 * sr);
    let mut h = vec![0.0f32; len.max(pre + 1)];
    h[0] = 1.0;
    for (n, v) in h.iter_mut().enumerate().skip(pre) {
        *v = rng.normal() as f32 * (-decay * n as f32).exp();
    }
    let tail: f32 = h[1..].iter().map(|v| v * v).sum();
    if tail > 0.0 {
        let g = (10f32.powf(-drr_db / 10.0) / tail).sqrt();
        h[1..].iter_mut().for_each(|v| *v *= g);
    }
    h
}

/// `x` convolved with `h`, cut to `x`'s length (the reverberant tail past the end of the
/// recording is dropped, so the transcript still spans the audio), through the FFT.
pub fn convolve(x: &[f32], h: &[f32]) -> Vec<f32> {
    if x.is_empty() || h.is_empty() {
        return vec![0.0; x.len()];
    }
    let n = (x.len() + h.len() - 1).next_power_of_two();
    let (mut a, b) = (spectrum(x, n), spectrum(h, n));
    a.iter_mut().zip(&b).for_each(|(p, q)| *p *= q);
    let mut y = signal(a, n);
    y.truncate(x.len());
    y
}

/// The spectrum of `x` zero-padded to `n` samples.
fn spectrum(x: &[f32], n: usize) -> Vec<Complex<f32>> {
    let fwd = RealFftPlanner::<f32>::new().plan_fft_forward(n);
    let mut buf = vec![0.0f32; n];
    buf[..x.len()].copy_from_slice(x);
    let mut out = fwd.make_output_vec();
    // Lengths come from the plan: the transform cannot fail.
    let _ = fwd.process(&mut buf, &mut out);
    out
}

/// The `n`-sample signal of a spectrum made by `spectrum` (inverse transform scaled by 1 / n).
fn signal(mut spec: Vec<Complex<f32>>, n: usize) -> Vec<f32> {
    let inv = RealFftPlanner::<f32>::new().plan_fft_inverse(n);
    let mut y = inv.make_output_vec();
    // realfft reports (and then ignores) rounding-level imaginary parts in the DC and Nyquist
    // bins, which a real signal's spectrum cannot carry: the result is the one wanted.
    let _ = inv.process(&mut spec, &mut y);
    let scale = 1.0 / n as f32;
    y.iter_mut().for_each(|v| *v *= scale);
    y
}

pub(crate) fn power(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32
}

/// `y` rescaled to the power of `x` (a room response changes the level; the level is not what
/// it should teach).
fn keep_rms(x: &[f32], mut y: Vec<f32>) -> Vec<f32> {
    let (px, py) = (power(x), power(&y));
    if py > 0.0 {
        let g = (px / py).sqrt();
        y.iter_mut().for_each(|v| *v *= g);
    }
    y
}

/// Noise of `colour`, `n` samples, unit power.
pub fn coloured_noise(colour: NoiseColour, n: usize, rng: &mut Rng) -> Vec<f32> {
    let mut w: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    let a = colour.exponent();
    if a > 0.0 && n > 1 {
        let mut spec = spectrum(&w, n);
        // Amplitude 1 / f^(a/2) gives power 1 / f^a; the DC bin carries no colour.
        spec[0] = Complex::new(0.0, 0.0);
        for (k, c) in spec.iter_mut().enumerate().skip(1) {
            *c *= (k as f32).powf(-a / 2.0);
        }
        w = signal(spec, n);
    }
    let p = power(&w);
    if p > 0.0 {
        let g = 1.0 / p.sqrt();
        w.iter_mut().for_each(|v| *v *= g);
    }
    w
}

/// Add noise of `colour` at `snr_db` below the power of `x`.
pub fn add_noise(x: &mut [f32], colour: NoiseColour, snr_db: f32, rng: &mut Rng) {
    let noise = coloured_noise(colour, x.len(), rng);
    let g = (power(x) / 10f32.powf(snr_db / 10.0)).sqrt();
    x.iter_mut().zip(&noise).for_each(|(v, n)| *v += g * n);
}

const MU: f32 = 255.0;

/// G.711-style mu-law companding then 8-bit quantisation, decoded back to [-1, 1].
pub fn mu_law(x: f32) -> f32 {
    let x = x.clamp(-1.0, 1.0);
    let y = x.signum() * (1.0 + MU * x.abs()).ln() / (1.0 + MU).ln();
    let q = ((y + 1.0) / 2.0 * 255.0).round() / 255.0 * 2.0 - 1.0;
    q.signum() * ((1.0 + MU).powf(q.abs()) - 1.0) / MU
}

/// The telephone channel: the 300-3400 Hz band, resampled to 8 kHz, mu-law at 8 bits, back to
/// 16 kHz at the input's length.
pub fn telephone(x: &[f32]) -> std::result::Result<Vec<f32>, String> {
    if x.is_empty() {
        return Ok(Vec::new());
    }
    let band = band_pass(x, 300.0, 3400.0, TARGET_SAMPLE_RATE);
    let narrow = resample(&band, TARGET_SAMPLE_RATE, 8000)?;
    let coded: Vec<f32> = narrow.into_iter().map(mu_law).collect();
    let mut y = resample(&coded, 8000, TARGET_SAMPLE_RATE)?;
    y.resize(x.len(), 0.0);
    Ok(y)
}

/// Zero every frequency outside [lo, hi] Hz (an ideal filter over the whole signal).
pub fn band_pass(x: &[f32], lo: f32, hi: f32, rate: u32) -> Vec<f32> {
    let n = x.len();
    if n < 2 {
        return x.to_vec();
    }
    let mut spec = spectrum(x, n);
    let hz = rate as f32 / n as f32;
    for (k, c) in spec.iter_mut().enumerate() {
        let f = k as f32 * hz;
        if f < lo || f > hi {
            *c = Complex::new(0.0, 0.0);
        }
    }
    signal(spec, n)
}

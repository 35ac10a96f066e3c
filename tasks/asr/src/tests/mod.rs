//! Tests of the speech data pipeline (kept out of the modules to keep each file short).

mod audio;
mod augment;
mod corpus;
mod drascula;
mod features;
mod normalize;
mod source;
mod synth;
mod task;

use std::path::PathBuf;

/// The default audio length limit, for tests that are not about it.
pub(super) const MAX: f64 = crate::features::DEFAULT_MAX_SECONDS;

pub(super) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/asr")
}

pub(super) fn tone(sr: u32, f: f64, secs: f64, amp: f64) -> Vec<f32> {
    let n = (sr as f64 * secs) as usize;
    (0..n)
        .map(|i| (amp * (std::f64::consts::TAU * f * i as f64 / sr as f64).sin()) as f32)
        .collect()
}

/// |DFT|^2 of `x` at frequency `f` (a single-bin Goertzel, brute force).
pub(super) fn power_at(x: &[f32], sr: u32, f: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &v) in x.iter().enumerate() {
        let ph = std::f64::consts::TAU * f * n as f64 / sr as f64;
        re += v as f64 * ph.cos();
        im -= v as f64 * ph.sin();
    }
    re * re + im * im
}

/// Frequency with the most power, scanned from `lo` to `hi` in 2 Hz steps.
pub(super) fn peak_freq(x: &[f32], sr: u32, lo: f64, hi: f64) -> f64 {
    let mut best = (lo, 0.0);
    let mut f = lo;
    while f <= hi {
        let p = power_at(x, sr, f);
        if p > best.1 {
            best = (f, p);
        }
        f += 2.0;
    }
    best.0
}

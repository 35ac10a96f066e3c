//! Running espeak-ng: listing its English voices and variants, and speaking one sentence to
//! 16 kHz mono samples (via `std::process::Command`, WAV on stdout).

use std::path::Path;
use std::process::Command;

use super::audio::{decode_bytes, resample, TARGET_SAMPLE_RATE};
use super::error::{AsrError, Result};

pub const MISSING: &str =
    "espeak-ng not found: run scripts/setup-asr.sh (or apt-get install espeak-ng)";

/// espeak-ng voice variants used (intersected with what is installed): the numbered male and
/// female variants, the Klatt-synthesiser voices and named human-like voices. Robotic and
/// whispering variants are left out.
pub const VARIANTS: [&str; 35] = [
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
    "klatt3", "klatt4", "adam", "aunty", "benjamin", "caleb", "david", "ed", "edward", "grandma",
    "grandpa", "john", "linda", "max", "paul", "quincy", "rob", "robert", "steph", "travis", "zac",
];

/// Run espeak-ng and return trimmed 16 kHz mono audio.
pub fn speak(text: &str, voice: &str, rate: usize, pitch: usize, name: &Path) -> Result<Vec<f32>> {
    let out = Command::new("espeak-ng")
        .args([
            "-v",
            voice,
            "-s",
            &rate.to_string(),
            "-p",
            &pitch.to_string(),
            "-z",
            "--stdout",
        ])
        // `--` ends the options: quotations may start with a dash.
        .args(["--", text])
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AsrError::Synth(MISSING.into()),
            _ => AsrError::Synth(format!("running espeak-ng: {e}")),
        })?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(AsrError::Synth(format!(
            "espeak-ng -v {voice} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // Our own output, bounded by the synth config's `max_secs`: no file-length limit.
    let d = decode_bytes(
        fix_streamed_wav(out.stdout),
        Some("wav"),
        name,
        f64::INFINITY,
    )?;
    let x = resample(&d.samples, d.sample_rate, TARGET_SAMPLE_RATE).map_err(|detail| {
        AsrError::Decode {
            path: name.to_path_buf(),
            detail,
        }
    })?;
    Ok(trim_silence(&x, 0.01, TARGET_SAMPLE_RATE as usize / 20))
}

/// espeak-ng streams WAV to stdout with placeholder sizes (0x7fffffff); set the real ones so
/// the decoder does not take the stream for a truncated file.
pub fn fix_streamed_wav(mut b: Vec<u8>) -> Vec<u8> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return b;
    }
    let len = b.len();
    b[4..8].copy_from_slice(&((len - 8) as u32).to_le_bytes());
    let mut pos = 12;
    while pos + 8 <= len {
        if &b[pos..pos + 4] == b"data" {
            b[pos + 4..pos + 8].copy_from_slice(&((len - pos - 8) as u32).to_le_bytes());
            break;
        }
        let size = u32::from_le_bytes([b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]]) as usize;
        pos += 8 + size + (size & 1);
    }
    b
}

/// Cut leading and trailing samples quieter than `rel` x peak, keeping `margin` samples.
pub fn trim_silence(x: &[f32], rel: f32, margin: usize) -> Vec<f32> {
    let peak = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let thr = peak * rel;
    let (Some(a), Some(b)) = (
        x.iter().position(|v| v.abs() > thr),
        x.iter().rposition(|v| v.abs() > thr),
    ) else {
        return x.to_vec();
    };
    x[a.saturating_sub(margin)..(b + 1 + margin).min(x.len())].to_vec()
}

pub fn espeak_version() -> Result<String> {
    let out = Command::new("espeak-ng")
        .arg("--version")
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AsrError::Synth(MISSING.into()),
            _ => AsrError::Synth(format!("running espeak-ng: {e}")),
        })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Installed English accents (espeak-ng's own voices, not MBROLA ones, which need extra data)
/// and the installed subset of `VARIANTS`.
pub fn list_voices() -> Result<(Vec<String>, Vec<String>)> {
    let run = |arg: &str| -> Result<String> {
        let out = Command::new("espeak-ng")
            .arg(arg)
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => AsrError::Synth(MISSING.into()),
                _ => AsrError::Synth(format!("running espeak-ng: {e}")),
            })?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut accents: Vec<String> = Vec::new();
    for line in run("--voices=en")?.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 5 && cols[1].starts_with("en") && !cols[4].starts_with("mb/") {
            let a = cols[1].to_string();
            if !accents.contains(&a) {
                accents.push(a);
            }
        }
    }
    let installed: Vec<String> = run("--voices=variant")?
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter_map(|f| f.strip_prefix("!v/"))
        .map(str::to_string)
        .collect();
    let variants: Vec<String> = VARIANTS
        .iter()
        .filter(|v| installed.iter().any(|i| i == *v))
        .map(|v| v.to_string())
        .collect();
    if accents.is_empty() || variants.is_empty() {
        return Err(AsrError::Synth(format!(
            "espeak-ng lists no usable English voices/variants; {}",
            MISSING.trim_start_matches("espeak-ng not found: ")
        )));
    }
    accents.sort();
    Ok((accents, variants))
}

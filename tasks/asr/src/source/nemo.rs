//! NeMo manifests, from the format's public description.

use std::path::Path;

use serde::Deserialize;

use super::listing::*;
use super::{Listing, Segment, SourceEntry};
use crate::error::Result;
use crate::manifest::ManifestEntry;
use crate::normalize::TextNorm;

#[derive(Deserialize)]
struct NemoLine {
    audio_filepath: String,
    text: String,
    duration: f64,
    #[serde(default)]
    offset: Option<f64>,
    #[serde(default)]
    speaker: Option<serde_json::Value>,
}

/// A NeMo manifest: one JSON object per line with `audio_filepath`, `text`, `duration`
/// (seconds) and optionally `offset` (seconds into the file, 0 when absent) and `speaker`.
/// As NeMo does, the utterance is the `duration` seconds from `offset`.
pub fn read_nemo(path: &Path, norm: &TextNorm) -> Result<Listing> {
    let lines = jsonl::<NemoLine>(path)?;
    Ok(jsonl_entries(path, lines, |line, l| {
        nemo_entry(path, line, l, norm)
    }))
}

fn nemo_entry(
    path: &Path,
    line: usize,
    l: &NemoLine,
    norm: &TextNorm,
) -> std::result::Result<SourceEntry, String> {
    let audio = audio_path(path, &l.audio_filepath)?;
    let duration = check_time("duration", l.duration, true)?;
    let start = check_time("offset", l.offset.unwrap_or(0.0), false)?;
    let text = transcript(&l.text, norm)?;
    let stem = file_stem(&audio);
    let id = match l.offset {
        Some(o) if o > 0.0 => format!("{stem}@{o}"),
        _ => stem.clone(),
    };
    let speaker = l
        .speaker
        .as_ref()
        .and_then(speaker_text)
        .unwrap_or_else(|| stem.split(['-', '_']).next().unwrap_or(&stem).to_string());
    Ok(SourceEntry {
        entry: ManifestEntry {
            id,
            audio,
            raw_text: l.text.clone(),
            text,
            speaker,
            source: path.to_path_buf(),
            line,
        },
        segment: Some(Segment { start, duration }),
    })
}

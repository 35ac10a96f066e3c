//! Lhotse manifests (cuts, or recordings + supervisions), from the format's public
//! description.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::listing::*;
use super::{Listing, Segment, SourceEntry};
use crate::error::{AsrError, Result};
use crate::manifest::ManifestEntry;
use crate::normalize::TextNorm;

#[derive(Deserialize)]
struct LhotseSource {
    #[serde(rename = "type")]
    kind: String,
    source: serde_json::Value,
    #[serde(default)]
    channels: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct LhotseRecording {
    id: String,
    sources: Vec<LhotseSource>,
}

#[derive(Deserialize)]
struct LhotseSupervision {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    recording_id: Option<String>,
    start: f64,
    duration: f64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    speaker: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct LhotseCut {
    id: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    start: Option<f64>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    channel: Option<serde_json::Value>,
    #[serde(default)]
    recording: Option<LhotseRecording>,
    #[serde(default)]
    supervisions: Vec<LhotseSupervision>,
}

/// The audio file of a recording: its source of type `file` that holds `channel` (the only
/// one, when there is one), resolved against the manifest's folder.
fn recording_file(
    manifest: &Path,
    rec: &LhotseRecording,
    channel: Option<&serde_json::Value>,
) -> std::result::Result<PathBuf, String> {
    let src = match rec.sources.as_slice() {
        [] => return Err(format!("recording {:?} has no sources", rec.id)),
        [one] => one,
        many => many
            .iter()
            .find(|s| channel.is_some_and(|c| s.channels.contains(c)))
            .ok_or_else(|| {
                format!(
                    "recording {:?} has {} sources and none holds channel {}",
                    rec.id,
                    many.len(),
                    channel.map_or("(none given)".to_string(), |c| c.to_string())
                )
            })?,
    };
    if src.kind != "file" {
        return Err(format!(
            "recording {:?}: audio source of type {:?} is not supported (only \"file\")",
            rec.id, src.kind
        ));
    }
    let Some(listed) = src.source.as_str() else {
        return Err(format!(
            "recording {:?}: source is not a path string",
            rec.id
        ));
    };
    audio_path(manifest, listed)
}

/// A Lhotse cuts manifest (JSONL, plain or gzipped): each line a `MonoCut` with `id`,
/// `start`, `duration`, its `recording` (`id`, `sources`) and `supervisions`. The utterance is
/// the cut's `duration` seconds from `start` in the recording; its transcript the texts of its
/// supervisions in order of start, joined by spaces; its speaker the first supervision's.
pub fn read_lhotse_cuts(path: &Path, norm: &TextNorm) -> Result<Listing> {
    let lines = jsonl::<LhotseCut>(path)?;
    Ok(jsonl_entries(path, lines, |line, cut| {
        cut_entry(path, line, cut, norm)
    }))
}

fn cut_entry(
    path: &Path,
    line: usize,
    cut: &LhotseCut,
    norm: &TextNorm,
) -> std::result::Result<SourceEntry, String> {
    if let Some(k) = cut.kind.as_deref().filter(|k| *k != "MonoCut") {
        return Err(format!(
            "cut {:?} of type {k:?} is not supported (only MonoCut: one recording, \
             one channel)",
            cut.id
        ));
    }
    let rec = cut
        .recording
        .as_ref()
        .ok_or_else(|| format!("cut {:?} has no recording", cut.id))?;
    let start = check_time("start", cut.start.ok_or("missing field `start`")?, false)?;
    let duration = check_time(
        "duration",
        cut.duration.ok_or("missing field `duration`")?,
        true,
    )?;
    let audio = recording_file(path, rec, cut.channel.as_ref())?;
    let mut sups: Vec<&LhotseSupervision> = cut.supervisions.iter().collect();
    sups.sort_by(|a, b| a.start.total_cmp(&b.start));
    let texts: Vec<&str> = sups
        .iter()
        .filter_map(|s| s.text.as_deref())
        .filter(|t| !t.trim().is_empty())
        .collect();
    if texts.is_empty() {
        return Err(format!("cut {:?} has no supervision with text", cut.id));
    }
    let raw = texts.join(" ");
    let text = transcript(&raw, norm)?;
    let speaker = sups
        .iter()
        .find_map(|s| s.speaker.as_ref().and_then(speaker_text))
        .unwrap_or_else(|| rec.id.clone());
    Ok(SourceEntry {
        entry: ManifestEntry {
            id: cut.id.clone(),
            audio,
            raw_text: raw,
            text,
            speaker,
            source: path.to_path_buf(),
            line,
        },
        segment: Some(Segment { start, duration }),
    })
}

/// A Lhotse recordings manifest and a supervisions manifest (JSONL, plain or gzipped): one
/// utterance per supervision, its `duration` seconds from its `start` in the recording named
/// by its `recording_id`. Audio paths resolve against the recordings manifest's folder.
pub fn read_lhotse_pair(
    recordings: &Path,
    supervisions: &Path,
    norm: &TextNorm,
) -> Result<Listing> {
    let (recs, mut bad) = jsonl::<LhotseRecording>(recordings)?;
    let mut files: HashMap<String, PathBuf> = HashMap::with_capacity(recs.len());
    for (line, rec) in recs {
        let err = |detail: String| AsrError::BadLine {
            path: recordings.to_path_buf(),
            line,
            detail,
        };
        match recording_file(recordings, &rec, None) {
            Ok(_) if files.contains_key(&rec.id) => {
                bad.push(err(format!("recording id {:?} listed twice", rec.id)))
            }
            Ok(p) => {
                files.insert(rec.id, p);
            }
            Err(detail) => bad.push(err(detail)),
        }
    }
    in_line_order(&mut bad);
    let sups = jsonl::<LhotseSupervision>(supervisions)?;
    let (good, sup_bad) = jsonl_entries(supervisions, sups, |line, s| {
        supervision_entry(supervisions, &files, recordings, line, s, norm)
    });
    bad.extend(sup_bad);
    Ok((good, bad))
}

fn supervision_entry(
    supervisions: &Path,
    files: &HashMap<String, PathBuf>,
    recordings: &Path,
    line: usize,
    s: &LhotseSupervision,
    norm: &TextNorm,
) -> std::result::Result<SourceEntry, String> {
    let rec_id = s
        .recording_id
        .as_deref()
        .ok_or("missing field `recording_id`")?;
    let audio = files.get(rec_id).ok_or_else(|| {
        format!(
            "recording {rec_id:?} is not in {} (or its line there is bad)",
            recordings.display()
        )
    })?;
    let start = check_time("start", s.start, false)?;
    let duration = check_time("duration", s.duration, true)?;
    let raw = s.text.clone().unwrap_or_default();
    let text = transcript(&raw, norm)?;
    let id = s.id.clone().unwrap_or_else(|| format!("{rec_id}-{start}"));
    let speaker = s
        .speaker
        .as_ref()
        .and_then(speaker_text)
        .unwrap_or_else(|| rec_id.to_string());
    Ok(SourceEntry {
        entry: ManifestEntry {
            id,
            audio: audio.clone(),
            raw_text: raw,
            text,
            speaker,
            source: supervisions.to_path_buf(),
            line,
        },
        segment: Some(Segment { start, duration }),
    })
}

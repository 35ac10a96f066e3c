//! Reading listing files: gzip-aware bytes with a size limit, JSON lines with their line
//! numbers, and the checks every JSONL reader shares (paths, times, transcripts).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Listing, SourceEntry, MAX_LISTING_BYTES};
use crate::error::{AsrError, Result};
use crate::normalize::TextNorm;

/// A listing file's bytes, gunzipped when they start with the gzip magic (whatever the
/// name), at most `MAX_LISTING_BYTES`.
pub fn read_listing_bytes(path: &Path) -> Result<Vec<u8>> {
    read_listing_bytes_within(path, MAX_LISTING_BYTES)
}

pub(crate) fn read_listing_bytes_within(path: &Path, max: u64) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| AsrError::io(path, e))?;
    if meta.is_dir() {
        return Err(AsrError::BadListing {
            path: path.to_path_buf(),
            detail: "is a folder, not a manifest file".into(),
        });
    }
    if meta.len() > max {
        return Err(AsrError::BadListing {
            path: path.to_path_buf(),
            detail: format!(
                "manifest of {} bytes is larger than the {max} bytes read",
                meta.len()
            ),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| AsrError::io(path, e))?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .take(max + 1)
        .read_to_end(&mut out)
        .map_err(|e| AsrError::BadListing {
            path: path.to_path_buf(),
            detail: format!("corrupt gzip data: {e}"),
        })?;
    if out.len() as u64 > max {
        return Err(AsrError::BadListing {
            path: path.to_path_buf(),
            detail: format!("gzip data inflates to more than {max} bytes"),
        });
    }
    Ok(out)
}

/// Parsed JSON lines with their 1-based line numbers, and one error per bad line.
pub(super) type Lines<T> = (Vec<(usize, T)>, Vec<AsrError>);

/// The non-blank lines of a JSONL file as parsed JSON values of type `T`, with their 1-based
/// line numbers; a line that is not UTF-8 or not a `T` is a bad line naming the file.
pub(super) fn jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Lines<T>> {
    let bytes = read_listing_bytes(path)?;
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let err = |detail: String| AsrError::BadLine {
            path: path.to_path_buf(),
            line: line_no,
            detail,
        };
        let Ok(text) = std::str::from_utf8(line) else {
            bad.push(err("not valid UTF-8".into()));
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(text) {
            Ok(v) => good.push((line_no, v)),
            Err(e) => bad.push(err(json_error(&e))),
        }
    }
    Ok((good, bad))
}

/// serde_json's message without its "at line 1 column N" (each JSONL line is parsed on its
/// own, so the line would always be 1), with the column kept.
pub(super) fn json_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let msg = s.rfind(" at line ").map_or(s.as_str(), |i| &s[..i]);
    format!("invalid JSON line: {msg} (column {})", e.column())
}

/// Bad lines of one file in line order (JSON errors are found before field errors).
/// The entries of a JSONL listing: `entry` turns each parsed line into an entry or the
/// problem with it; problems (and the lines `jsonl` could not parse) become bad lines naming
/// `path`, in line order.
pub(super) fn jsonl_entries<T>(
    path: &Path,
    (lines, mut bad): Lines<T>,
    entry: impl Fn(usize, &T) -> std::result::Result<SourceEntry, String>,
) -> Listing {
    let mut good = Vec::with_capacity(lines.len());
    for (line, item) in lines {
        match entry(line, &item) {
            Ok(e) => good.push(e),
            Err(detail) => bad.push(AsrError::BadLine {
                path: path.to_path_buf(),
                line,
                detail,
            }),
        }
    }
    in_line_order(&mut bad);
    (good, bad)
}

pub(super) fn in_line_order(bad: &mut [AsrError]) {
    bad.sort_by_key(|e| match e {
        AsrError::BadLine { line, .. } => *line,
        _ => 0,
    });
}

/// A relative audio path resolves against the manifest's folder and may not leave it.
pub(super) fn audio_path(manifest: &Path, listed: &str) -> std::result::Result<PathBuf, String> {
    if listed.trim().is_empty() {
        return Err("empty audio path".into());
    }
    let p = Path::new(listed);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    if ctc_core::io::leaves_folder(p) {
        return Err(format!(
            "audio path {listed:?} leads out of the manifest's folder (give an absolute path \
             to use a file outside it)"
        ));
    }
    Ok(manifest.parent().unwrap_or(Path::new(".")).join(p))
}

/// A listed time: finite and >= 0 (`positive`: > 0).
pub(super) fn check_time(what: &str, v: f64, positive: bool) -> std::result::Result<f64, String> {
    let ok = v.is_finite() && if positive { v > 0.0 } else { v >= 0.0 };
    if ok {
        Ok(v)
    } else {
        let need = if positive { "> 0" } else { ">= 0" };
        Err(format!(
            "{what} must be a finite number of seconds {need}, got {v}"
        ))
    }
}

/// A transcript normalised, or why it cannot be used.
pub(super) fn transcript(raw: &str, norm: &TextNorm) -> std::result::Result<String, String> {
    let text = norm.normalize(raw);
    if text.is_empty() {
        Err(format!(
            "empty transcript after normalisation (raw text {raw:?})"
        ))
    } else {
        Ok(text)
    }
}

pub(super) fn file_stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A speaker field that may be a string or a number (both occur in NeMo manifests).
pub(super) fn speaker_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

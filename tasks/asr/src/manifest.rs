//! Corpus listings: a TSV manifest (`path<TAB>transcript`) or the LibriSpeech layout
//! (`*.trans.txt` files of `ID transcript` lines beside `ID.flac`), each transcript normalised
//! as the caller's `TextNorm` says.

use std::path::{Path, PathBuf};

use super::error::{AsrError, Result};
use super::normalize::TextNorm;

/// One listed utterance, before its audio is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    pub id: String,
    pub audio: PathBuf,
    /// The transcript as written in the listing.
    pub raw_text: String,
    /// `raw_text` normalised.
    pub text: String,
    pub speaker: String,
    /// The listing file and 1-based line the entry came from, for error messages.
    pub source: PathBuf,
    pub line: usize,
}

/// Check a normalised transcript: non-empty, no leading/trailing/double spaces, every char in
/// `charset`. The error says what is wrong and where.
pub fn check_transcript(text: &str, charset: &str) -> std::result::Result<(), String> {
    if text.trim().is_empty() {
        return Err("empty transcript".into());
    }
    if text.starts_with(' ') || text.ends_with(' ') || text.contains("  ") {
        return Err(format!("transcript {text:?} has stray spaces"));
    }
    if let Some((i, c)) = text.char_indices().find(|(_, c)| !charset.contains(*c)) {
        return Err(format!(
            "transcript {text:?}: character {c:?} at byte {i} is not in the vocabulary"
        ));
    }
    Ok(())
}

/// Read a TSV manifest or, when `path` is a folder, a LibriSpeech-style tree. Lines that cannot
/// be parsed are returned as errors in the second vector (the caller decides to fail or skip).
pub fn read_listing(path: &Path, norm: &TextNorm) -> Result<(Vec<ManifestEntry>, Vec<AsrError>)> {
    let meta = std::fs::metadata(path).map_err(|e| AsrError::io(path, e))?;
    if meta.is_dir() {
        read_librispeech(path, norm)
    } else {
        read_tsv(path, norm)
    }
}

/// `path<TAB>transcript[<TAB>speaker]` per line; blank lines and `#` comments are ignored;
/// relative audio paths resolve against the manifest's folder. Without the speaker column the
/// speaker is the file name's first `-`/`_` field (LibriSpeech's `19-198-0000`).
pub fn read_tsv(path: &Path, norm: &TextNorm) -> Result<(Vec<ManifestEntry>, Vec<AsrError>)> {
    let text = read_utf8(path)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |detail: String| AsrError::BadLine {
            path: path.to_path_buf(),
            line: line_no,
            detail,
        };
        let fields: Vec<&str> = line.split('\t').collect();
        let (audio, raw, speaker) = match fields.as_slice() {
            [audio, raw] => (*audio, *raw, None),
            [audio, raw, speaker] => (*audio, *raw, Some(speaker.trim())),
            [_] => {
                bad.push(err(format!(
                    "expected `path<TAB>transcript[<TAB>speaker]`, found no tab in {line:?}"
                )));
                continue;
            }
            _ => {
                bad.push(err(format!(
                    "expected `path<TAB>transcript[<TAB>speaker]`, found {} tab-separated \
                     fields",
                    fields.len()
                )));
                continue;
            }
        };
        if speaker == Some("") {
            bad.push(err("empty speaker (third column)".into()));
            continue;
        }
        if audio.trim().is_empty() {
            bad.push(err("empty audio path".into()));
            continue;
        }
        let text = norm.normalize(raw);
        if text.is_empty() {
            bad.push(err(format!(
                "empty transcript for {audio:?} (raw text {raw:?})"
            )));
            continue;
        }
        let p = Path::new(audio.trim());
        if ctc_core::io::leaves_folder(p) {
            bad.push(err(format!(
                "audio path {audio:?} leads out of the manifest's folder (give an absolute \
                 path to use a file outside it)"
            )));
            continue;
        }
        let audio = if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        };
        let id = audio
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("line{line_no}"));
        let speaker = match speaker {
            Some(s) => s.to_string(),
            None => id.split(['-', '_']).next().unwrap_or(&id).to_string(),
        };
        good.push(ManifestEntry {
            id,
            audio,
            raw_text: raw.to_string(),
            text,
            speaker,
            source: path.to_path_buf(),
            line: line_no,
        });
    }
    Ok((good, bad))
}

/// A listing file as text; invalid UTF-8 is an error naming the line it is on.
fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| AsrError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| AsrError::BadLine {
        path: path.to_path_buf(),
        line: 1 + bytes_line(e.as_bytes(), e.utf8_error().valid_up_to()),
        detail: "not valid UTF-8".into(),
    })
}

fn bytes_line(b: &[u8], upto: usize) -> usize {
    b[..upto].iter().filter(|&&c| c == b'\n').count()
}

/// Walk `root` for `*.trans.txt`; each line `ID transcript` names `ID.flac` in the same folder.
/// The speaker is the ID's first `-`-separated field, as in LibriSpeech.
pub fn read_librispeech(
    root: &Path,
    norm: &TextNorm,
) -> Result<(Vec<ManifestEntry>, Vec<AsrError>)> {
    let mut trans = Vec::new();
    find_trans(root, &mut trans)?;
    trans.sort();
    if trans.is_empty() {
        return Err(AsrError::EmptyCorpus {
            path: root.to_path_buf(),
            detail: "no *.trans.txt files in this folder or below".into(),
        });
    }
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for t in trans {
        let text = read_utf8(&t)?;
        let dir = t.parent().unwrap_or(Path::new("."));
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let err = |detail: String| AsrError::BadLine {
                path: t.clone(),
                line: i + 1,
                detail,
            };
            let (id, raw) = line.split_once(' ').unwrap_or((line, ""));
            // The ID names a file beside the listing; a separator or `..` would reach elsewhere.
            if id.is_empty() || id.contains(['/', '\\']) || id == ".." {
                bad.push(err(format!(
                    "utterance ID {id:?} is not a file name in this folder"
                )));
                continue;
            }
            let text = norm.normalize(raw);
            if text.is_empty() {
                bad.push(err(format!("empty transcript for utterance {id:?}")));
                continue;
            }
            good.push(ManifestEntry {
                id: id.to_string(),
                audio: dir.join(format!("{id}.flac")),
                raw_text: raw.to_string(),
                text,
                speaker: id.split('-').next().unwrap_or(id).to_string(),
                source: t.clone(),
                line: i + 1,
            });
        }
    }
    Ok((good, bad))
}

fn find_trans(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let rd = std::fs::read_dir(dir).map_err(|e| AsrError::io(dir, e))?;
    for ent in rd {
        let ent = ent.map_err(|e| AsrError::io(dir, e))?;
        let p = ent.path();
        let ft = ent.file_type().map_err(|e| AsrError::io(&p, e))?;
        if ft.is_dir() {
            find_trans(&p, out)?;
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".trans.txt"))
        {
            out.push(p);
        }
    }
    Ok(())
}

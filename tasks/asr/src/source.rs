//! Where a speech preset's training, dev and test utterances come from (`[data.source]`): the
//! synthetic espeak-ng corpus, or corpora on disk listed as TSV manifests, LibriSpeech
//! folders, Lhotse manifests (cuts, or recordings + supervisions) or NeMo manifests.
//!
//! The Lhotse and NeMo readers follow the formats' public descriptions: one JSON object per
//! line, extra fields ignored (both formats carry many the recogniser has no use for). Every
//! reader returns the entries it could parse and one `AsrError::BadLine` per line it could
//! not, so the caller fails on the first or, with `skip_bad`, counts them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::audio::{load_audio, TARGET_SAMPLE_RATE};
use super::augment::{with_copies, AugmentConfig, AugmentReport};
use super::corpus::{SkipReport, Utterance};
use super::error::{AsrError, Result};
use super::features::{Fbank, FeatureConfig};
use super::manifest::{read_librispeech, read_tsv, ManifestEntry};
use super::normalize::{OutsideChars, TextNorm};

mod lhotse;
mod listing;
mod nemo;

pub use lhotse::{read_lhotse_cuts, read_lhotse_pair};
pub use listing::read_listing_bytes;
#[cfg(test)]
pub(crate) use listing::read_listing_bytes_within;
pub use nemo::read_nemo;

/// Largest listing file read, after gunzipping: a Lhotse cuts manifest of 1,000 h of speech
/// is about 0.5 GB uncompressed; a gzip stream inflating beyond this is refused before it
/// fills the memory.
pub const MAX_LISTING_BYTES: u64 = 1 << 30;

/// How far (seconds) a listed segment may run past the end of its audio before it is an
/// error: durations in manifests are rounded, and resampling moves the end by a sample.
pub const END_TOLERANCE_SECONDS: f64 = 0.05;

/// The default `max_recording_seconds`.
pub const DEFAULT_MAX_RECORDING_SECONDS: f64 = 3600.0;

/// The corpus formats `[data.source] kind` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// The espeak-ng corpus of `[data.synth]`.
    #[default]
    Synth,
    /// `path<TAB>transcript` manifests.
    Tsv,
    /// LibriSpeech folders (`*.trans.txt` beside `ID.flac` or `ID.wav`).
    Librispeech,
    /// Lhotse JSONL manifests, plain or gzipped: a cuts file, or recordings + supervisions.
    Lhotse,
    /// NeMo JSONL manifests (`audio_filepath`, `text`, `duration`, optional `offset`).
    Nemo,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Synth => "synth",
            Self::Tsv => "tsv",
            Self::Librispeech => "librispeech",
            Self::Lhotse => "lhotse",
            Self::Nemo => "nemo",
        }
    }
}

/// The files of one split: a path, or an array of paths (Lhotse's recordings + supervisions).
#[derive(Debug, Clone, PartialEq)]
pub struct SplitFiles(pub Vec<PathBuf>);

impl<'de> Deserialize<'de> for SplitFiles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SplitFiles;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path or an array of paths")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<SplitFiles, E> {
                Ok(SplitFiles(vec![PathBuf::from(s)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<SplitFiles, A::Error> {
                let mut v = Vec::new();
                while let Some(p) = seq.next_element::<String>()? {
                    v.push(PathBuf::from(p));
                }
                Ok(SplitFiles(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[data.source]` of a speech preset. Split paths are used as given: a relative one
/// resolves against the working directory of the run (the registry does not know where a
/// preset file lies). Audio paths inside a manifest resolve against the manifest's folder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceConfig {
    pub kind: SourceKind,
    pub train: Option<SplitFiles>,
    pub dev: Option<SplitFiles>,
    pub test: Option<SplitFiles>,
    /// Count and report bad entries (listing lines, audio files) instead of failing on the
    /// first.
    pub skip_bad: bool,
    /// Longest recording decoded to cut listed segments from (Lhotse cuts and supervisions,
    /// NeMo offsets). Whole-file utterances are held to `features.max_seconds` instead.
    pub max_recording_seconds: f64,
    /// How the transcripts are normalised (`[data.source.text]`); the English default when
    /// absent.
    pub text: TextNorm,
}

impl Default for SourceConfig {
    fn default() -> Self {
        Self {
            kind: SourceKind::Synth,
            train: None,
            dev: None,
            test: None,
            skip_bad: false,
            max_recording_seconds: DEFAULT_MAX_RECORDING_SECONDS,
            text: TextNorm::default(),
        }
    }
}

impl SourceConfig {
    pub fn is_synth(&self) -> bool {
        self.kind == SourceKind::Synth
    }

    /// The split's files, by name ("train", "dev", "test").
    pub fn split(&self, name: &str) -> Option<&SplitFiles> {
        match name {
            "train" => self.train.as_ref(),
            "dev" => self.dev.as_ref(),
            "test" => self.test.as_ref(),
            _ => None,
        }
    }

    /// Reject a table that cannot be loaded, before any file is read. Messages name the key
    /// under `source.` (the caller adds `data.`).
    pub fn validate(&self) -> Result<()> {
        let kind = self.kind.name();
        let bad = |m: String| Err(AsrError::Config(format!("source.{m}")));
        if !(self.max_recording_seconds.is_finite() && self.max_recording_seconds > 0.0) {
            return bad(format!(
                "max_recording_seconds must be a finite number of seconds > 0, got {}",
                self.max_recording_seconds
            ));
        }
        self.text
            .validate()
            .map_err(|m| AsrError::Config(format!("source.{m}")))?;
        if self.is_synth() && self.text != TextNorm::default() {
            return bad(
                "text: kind = \"synth\" generates English sentences, normalised the default \
                 way; [data.source.text] applies to corpora on disk"
                    .into(),
            );
        }
        for name in ["train", "dev", "test"] {
            let files = self.split(name);
            if self.is_synth() {
                if files.is_some() {
                    return bad(format!(
                        "{name}: kind = \"synth\" reads no files (it generates the corpus of \
                         data.synth); give kind = \"tsv\", \"librispeech\", \"lhotse\" or \
                         \"nemo\" to read this one"
                    ));
                }
                continue;
            }
            let Some(SplitFiles(paths)) = files else {
                return bad(format!(
                    "{name}: missing; kind = \"{kind}\" needs train, dev and test"
                ));
            };
            if paths.iter().any(|p| p.as_os_str().is_empty()) {
                return bad(format!("{name}: empty path"));
            }
            let counts: &[usize] = match self.kind {
                SourceKind::Lhotse => &[1, 2],
                _ => &[1],
            };
            if !counts.contains(&paths.len()) {
                let want = match self.kind {
                    SourceKind::Lhotse => {
                        "a cuts manifest, or [recordings, supervisions] manifests"
                    }
                    SourceKind::Librispeech => "one folder",
                    _ => "one manifest file",
                };
                return bad(format!(
                    "{name}: kind = \"{kind}\" takes {want}, got {} paths",
                    paths.len()
                ));
            }
        }
        Ok(())
    }
}

/// Which part of a recording an utterance is, in seconds from the start of the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub start: f64,
    pub duration: f64,
}

/// One listed utterance, before its audio is read; `segment: None` is the whole file.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceEntry {
    pub entry: ManifestEntry,
    pub segment: Option<Segment>,
}

/// Parsed entries and one error per bad line.
pub type Listing = (Vec<SourceEntry>, Vec<AsrError>);

/// A listing file as read, for the run log: enough to tell later which data a run saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListingFile {
    pub path: PathBuf,
    /// Size on disk (compressed, for a gzipped manifest).
    pub bytes: u64,
    /// FNV-1a of the bytes on disk.
    pub fnv1a: u64,
}

impl ListingFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| AsrError::io(path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes: bytes.len() as u64,
            fnv1a: ctc_core::io::fnv1a(&bytes),
        })
    }
}

impl std::fmt::Display for ListingFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} bytes, fnv1a {:016x})",
            self.path.display(),
            self.bytes,
            self.fnv1a
        )
    }
}

/// One split of a corpus on disk, features computed.
#[derive(Debug)]
pub struct LoadedSplit {
    pub utterances: Vec<Utterance>,
    /// Entries left out with `skip_bad`.
    pub skipped: SkipReport,
    /// The listing files read, in order.
    pub files: Vec<ListingFile>,
    pub outside: OutsideChars,
    /// The copies `augment` added (none without it).
    pub augmented: AugmentReport,
}

/// Read the listing of one split: its entries, bad lines and the listing files read.
pub fn read_split(
    kind: SourceKind,
    files: &SplitFiles,
    norm: &TextNorm,
) -> Result<(Listing, Vec<ListingFile>)> {
    let paths = &files.0;
    let listing = match (kind, paths.as_slice()) {
        (SourceKind::Tsv, [p]) => whole_files(read_tsv(p, norm)?),
        (SourceKind::Librispeech, [p]) => {
            let (good, bad) = whole_files(read_librispeech(p, norm)?);
            (good.into_iter().map(prefer_existing_wav).collect(), bad)
        }
        (SourceKind::Nemo, [p]) => read_nemo(p, norm)?,
        (SourceKind::Lhotse, [p]) => read_lhotse_cuts(p, norm)?,
        (SourceKind::Lhotse, [r, s]) => read_lhotse_pair(r, s, norm)?,
        _ => {
            return Err(AsrError::Config(format!(
                "source kind {:?} cannot read {} paths",
                kind.name(),
                paths.len()
            )))
        }
    };
    let listed: Vec<PathBuf> = match kind {
        // The transcripts of a LibriSpeech folder are spread over its chapter listings.
        SourceKind::Librispeech => {
            let mut seen: Vec<PathBuf> = listing
                .0
                .iter()
                .map(|e| e.entry.source.clone())
                .chain(listing.1.iter().filter_map(|e| match e {
                    AsrError::BadLine { path, .. } => Some(path.clone()),
                    _ => None,
                }))
                .collect();
            seen.sort();
            seen.dedup();
            seen
        }
        _ => paths.clone(),
    };
    let files = listed
        .iter()
        .map(|p| ListingFile::read(p))
        .collect::<Result<Vec<_>>>()?;
    Ok((listing, files))
}

/// Load one split: read its listing, decode each recording once, cut the listed segments and
/// compute their features (in parallel over recordings), each utterance followed by its
/// augmented copies when `augment` is given (training splits). Bad lines and bad audio fail the
/// load, naming the listing file and line, or with `cfg.skip_bad` are counted in the report.
pub fn load_split(
    cfg: &SourceConfig,
    split: &str,
    features: &FeatureConfig,
    augment: Option<&AugmentConfig>,
) -> Result<LoadedSplit> {
    let files = cfg.split(split).ok_or_else(|| {
        AsrError::Config(format!(
            "source.{split}: missing; kind = \"{}\" needs train, dev and test",
            cfg.kind.name()
        ))
    })?;
    let ((entries, bad_lines), listing) = read_split(cfg.kind, files, &cfg.text)?;
    let mut skipped = SkipReport::default();
    for e in bad_lines {
        if !cfg.skip_bad {
            return Err(e);
        }
        skipped.add(&e);
    }
    let fbank = Fbank::new(features)?;
    if let Some(a) = augment {
        a.validate()?;
    }
    let results = compute_features(&entries, cfg, features, &fbank, augment);
    let mut utterances = Vec::with_capacity(entries.len());
    let mut outside = OutsideChars::default();
    let mut augmented = AugmentReport::default();
    for (r, e) in results.into_iter().zip(&entries) {
        match r {
            Ok((us, report)) => {
                outside.add(&e.entry.raw_text, &cfg.text);
                utterances.extend(us);
                augmented.merge(&report);
            }
            Err(f) if cfg.skip_bad => {
                *skipped.counts.entry(f.kind).or_default() += 1;
                if skipped.examples.len() < 10 {
                    skipped.examples.push(f.message);
                }
            }
            Err(f) => {
                return Err(AsrError::BadLine {
                    path: e.entry.source.clone(),
                    line: e.entry.line,
                    detail: f.message,
                })
            }
        }
    }
    if utterances.is_empty() {
        return Err(AsrError::EmptyCorpus {
            path: files.0[0].clone(),
            detail: skipped.to_string().trim_end().to_string(),
        });
    }
    Ok(LoadedSplit {
        utterances,
        skipped,
        files: listing,
        outside,
        augmented,
    })
}

/// Why one entry's audio could not be used: the error's kind (for skip counts) and message.
struct Failure {
    kind: &'static str,
    message: String,
}

impl From<AsrError> for Failure {
    fn from(e: AsrError) -> Self {
        Self {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// The utterances of one entry (the clean one, then its augmented copies) and what was done
/// to the copies.
type EntryResult = std::result::Result<(Vec<Utterance>, AugmentReport), Failure>;

/// Features of every entry, in entry order. A recording listed by several entries (segments
/// of one file) is decoded once.
fn compute_features(
    entries: &[SourceEntry],
    cfg: &SourceConfig,
    features: &FeatureConfig,
    fbank: &Fbank,
    augment: Option<&AugmentConfig>,
) -> Vec<EntryResult> {
    let mut by_file: BTreeMap<&Path, Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_file.entry(e.entry.audio.as_path()).or_default().push(i);
    }
    let groups: Vec<(&Path, Vec<usize>)> = by_file.into_iter().collect();
    let done: Vec<Vec<(usize, EntryResult)>> = groups
        .par_iter()
        .map(|(audio, idx)| {
            let segmented = idx.iter().any(|&i| entries[i].segment.is_some());
            // A file cut into segments may be a long recording; a whole-file utterance is
            // held to the features' limit, as in `eval`.
            let limit = if segmented {
                cfg.max_recording_seconds
            } else {
                features.max_seconds
            };
            let checks: Vec<std::result::Result<(), Failure>> = idx
                .iter()
                .map(|&i| check_segment(&entries[i], cfg, features))
                .collect();
            // Nothing to cut from a file whose every entry failed its checks.
            let samples = if checks.iter().any(|c| c.is_ok()) {
                load_audio(audio, limit).map_err(|e| match e {
                    AsrError::TooLong { path, seconds, .. } if segmented => (
                        "too long",
                        format!(
                            "{}: recording is {seconds:.1} s long, more than the limit of {limit} \
                             s (data.source.max_recording_seconds)",
                            path.display()
                        ),
                    ),
                    e => (e.kind(), e.to_string()),
                })
            } else {
                Ok(Vec::new())
            };
            idx.iter()
                .zip(checks)
                .map(|(&i, check)| {
                    let r = check.and_then(|()| match &samples {
                        Ok(s) => utterance(&entries[i], s, fbank, augment),
                        Err((kind, message)) => Err(Failure {
                            kind,
                            message: message.clone(),
                        }),
                    });
                    (i, r)
                })
                .collect()
        })
        .collect();
    let mut out: Vec<Option<EntryResult>> = (0..entries.len()).map(|_| None).collect();
    for (i, r) in done.into_iter().flatten() {
        out[i] = Some(r);
    }
    out.into_iter()
        .map(|r| r.expect("every entry belongs to one file group"))
        .collect()
}

/// Limits a listed segment must meet before its file is decoded.
fn check_segment(
    e: &SourceEntry,
    cfg: &SourceConfig,
    features: &FeatureConfig,
) -> std::result::Result<(), Failure> {
    let Some(seg) = e.segment else {
        return Ok(());
    };
    if seg.duration > features.max_seconds {
        return Err(AsrError::TooLong {
            path: e.entry.audio.clone(),
            seconds: seg.duration,
            max: features.max_seconds,
        }
        .into());
    }
    let end = seg.start + seg.duration;
    if end > cfg.max_recording_seconds {
        return Err(Failure {
            kind: "too long",
            message: format!(
                "{}: segment {:.3}..{end:.3} s ends past the longest recording read, {} s \
                 (data.source.max_recording_seconds)",
                e.entry.audio.display(),
                seg.start,
                cfg.max_recording_seconds
            ),
        });
    }
    Ok(())
}

/// The utterance of one entry from its recording's 16 kHz samples, and its augmented copies.
fn utterance(
    e: &SourceEntry,
    samples: &[f32],
    fbank: &Fbank,
    augment: Option<&AugmentConfig>,
) -> EntryResult {
    let audio = &e.entry.audio;
    let piece = match e.segment {
        None => samples,
        Some(seg) => {
            let sr = TARGET_SAMPLE_RATE as f64;
            let len_s = samples.len() as f64 / sr;
            let end_s = seg.start + seg.duration;
            if end_s > len_s + END_TOLERANCE_SECONDS {
                return Err(Failure {
                    kind: "segment outside audio",
                    message: format!(
                        "{}: segment {:.3}..{end_s:.3} s runs past the end of the audio \
                         ({len_s:.3} s)",
                        audio.display(),
                        seg.start
                    ),
                });
            }
            let a = ((seg.start * sr).round() as usize).min(samples.len());
            let b = ((end_s * sr).round() as usize).min(samples.len());
            &samples[a..b]
        }
    };
    let (feats, n_frames) = fbank.compute(piece, audio)?;
    let u = Utterance {
        id: e.entry.id.clone(),
        text: e.entry.text.clone(),
        feats: Arc::new(feats),
        n_frames,
        speaker: e.entry.speaker.clone(),
    };
    Ok(with_copies(augment, u, piece, fbank)?)
}

fn whole_files((good, bad): (Vec<ManifestEntry>, Vec<AsrError>)) -> Listing {
    let good = good
        .into_iter()
        .map(|entry| SourceEntry {
            entry,
            segment: None,
        })
        .collect();
    (good, bad)
}

/// LibriSpeech lists `ID.flac`; a copy converted to WAV keeps the layout with `ID.wav`.
fn prefer_existing_wav(mut e: SourceEntry) -> SourceEntry {
    let wav = e.entry.audio.with_extension("wav");
    if !e.entry.audio.exists() && wav.is_file() {
        e.entry.audio = wav;
    }
    e
}

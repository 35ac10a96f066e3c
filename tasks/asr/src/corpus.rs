//! Utterances with computed features: loading a manifest corpus (with bad-input skipping and
//! a printable report) and the feature cache format shared with the synthetic corpus.
//!
//! Cache file: one safetensors file per split; tensor `feats` (F32, total_frames x n_mels),
//! tensor `n_frames` (U32, n_utts); metadata `ids`, `texts`, `speakers` (JSON arrays) and `key`
//! (the cache key the file was written for, checked on load).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::audio::load_audio;
use super::error::{AsrError, Result};
use super::features::{Fbank, FeatureConfig};
use super::manifest::read_listing;
use super::normalize::TextNorm;

/// One utterance ready for batching.
#[derive(Debug, Clone)]
pub struct Utterance {
    pub id: String,
    /// Normalised transcript (lower-case a-z, space, apostrophe).
    pub text: String,
    /// `n_frames * n_mels` features, row-major by frame.
    pub feats: Arc<Vec<f32>>,
    pub n_frames: usize,
    pub speaker: String,
}

/// What `skip_bad` left out, counted by reason, with the first few messages kept verbatim.
#[derive(Debug, Clone, Default)]
pub struct SkipReport {
    pub counts: BTreeMap<&'static str, usize>,
    pub examples: Vec<String>,
}

impl SkipReport {
    const MAX_EXAMPLES: usize = 10;

    pub fn add(&mut self, e: &AsrError) {
        *self.counts.entry(e.kind()).or_default() += 1;
        if self.examples.len() < Self::MAX_EXAMPLES {
            self.examples.push(e.to_string());
        }
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

impl std::fmt::Display for SkipReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return write!(f, "skipped 0 utterances");
        }
        writeln!(f, "skipped {} utterances:", self.total())?;
        for (k, n) in &self.counts {
            writeln!(f, "  {k}: {n}")?;
        }
        for e in &self.examples {
            writeln!(f, "  e.g. {e}")?;
        }
        Ok(())
    }
}

/// Load a TSV manifest or LibriSpeech folder, its transcripts normalised by `norm`, and compute
/// features (in parallel). With `skip_bad`, bad lines and bad audio are counted in the report;
/// otherwise the first problem (in listing order) is returned as the error.
pub fn load_manifest_corpus(
    path: &Path,
    cfg: &FeatureConfig,
    norm: &TextNorm,
    skip_bad: bool,
) -> Result<(Vec<Utterance>, SkipReport)> {
    let fbank = Fbank::new(cfg)?;
    let (entries, bad_lines) = read_listing(path, norm)?;
    let mut report = SkipReport::default();
    if let Some(first) = bad_lines.first() {
        if !skip_bad {
            return Err(clone_err(first));
        }
    }
    for e in &bad_lines {
        report.add(e);
    }
    let results: Vec<Result<Utterance>> = entries
        .par_iter()
        .map(|e| {
            let audio = load_audio(&e.audio, cfg.max_seconds)?;
            let (feats, n_frames) = fbank.compute(&audio, &e.audio)?;
            Ok(Utterance {
                id: e.id.clone(),
                text: e.text.clone(),
                feats: Arc::new(feats),
                n_frames,
                speaker: e.speaker.clone(),
            })
        })
        .collect();
    let mut utts = Vec::with_capacity(results.len());
    for (r, e) in results.into_iter().zip(&entries) {
        match r {
            Ok(u) => utts.push(u),
            Err(err) if skip_bad => report.add(&err),
            Err(err) => {
                return Err(AsrError::BadLine {
                    path: e.source.clone(),
                    line: e.line,
                    detail: err.to_string(),
                })
            }
        }
    }
    if utts.is_empty() {
        return Err(AsrError::EmptyCorpus {
            path: path.to_path_buf(),
            detail: report.to_string().trim_end().to_string(),
        });
    }
    Ok((utts, report))
}

// Line errors are built from owned data only, so re-creating one keeps the message exact.
fn clone_err(e: &AsrError) -> AsrError {
    match e {
        AsrError::BadLine { path, line, detail } => AsrError::BadLine {
            path: path.clone(),
            line: *line,
            detail: detail.clone(),
        },
        other => AsrError::Config(other.to_string()),
    }
}

/// Write bytes to `path` atomically, creating its folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| AsrError::io(dir, e))?;
    }
    ctc_core::io::write_atomic(path, bytes).map_err(|e| AsrError::io(path, e))
}

/// Save one split's utterances to a cache file (atomically).
pub fn save_utterances(path: &Path, utts: &[Utterance], n_mels: usize, key: &str) -> Result<()> {
    let cache_err = |detail: String| AsrError::Cache {
        path: path.to_path_buf(),
        detail,
    };
    let mut feats: Vec<u8> = Vec::new();
    let mut lens: Vec<u8> = Vec::with_capacity(utts.len() * 4);
    for u in utts {
        if u.feats.len() < u.n_frames * n_mels {
            return Err(cache_err(format!(
                "utterance {} has too few features",
                u.id
            )));
        }
        for v in &u.feats[..u.n_frames * n_mels] {
            feats.extend_from_slice(&v.to_le_bytes());
        }
        lens.extend_from_slice(&(u.n_frames as u32).to_le_bytes());
    }
    let total: usize = utts.iter().map(|u| u.n_frames).sum();
    let json = |v: Vec<&String>| serde_json::to_string(&v).map_err(|e| cache_err(e.to_string()));
    let meta: HashMap<String, String> = [
        ("key".to_string(), key.to_string()),
        (
            "ids".to_string(),
            json(utts.iter().map(|u| &u.id).collect())?,
        ),
        (
            "texts".to_string(),
            json(utts.iter().map(|u| &u.text).collect())?,
        ),
        (
            "speakers".to_string(),
            json(utts.iter().map(|u| &u.speaker).collect())?,
        ),
    ]
    .into();
    let st = |e: safetensors::SafeTensorError| cache_err(e.to_string());
    let tensors = vec![
        (
            "feats",
            TensorView::new(Dtype::F32, vec![total, n_mels], &feats).map_err(st)?,
        ),
        (
            "n_frames",
            TensorView::new(Dtype::U32, vec![utts.len()], &lens).map_err(st)?,
        ),
    ];
    let bytes = safetensors::serialize(tensors, Some(meta)).map_err(st)?;
    write_atomic(path, &bytes)
}

/// Load a cache file written by `save_utterances`; `Ok(None)` when it was written for another key.
pub fn load_utterances(path: &Path, key: &str) -> Result<Option<Vec<Utterance>>> {
    let bytes = std::fs::read(path).map_err(|e| AsrError::io(path, e))?;
    let cache_err = |detail: String| AsrError::Cache {
        path: path.to_path_buf(),
        detail,
    };
    let st = SafeTensors::deserialize(&bytes).map_err(|e| cache_err(e.to_string()))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| cache_err(e.to_string()))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    if meta.get("key").map(String::as_str) != Some(key) {
        return Ok(None);
    }
    let list = |name: &str| -> Result<Vec<String>> {
        let s = meta
            .get(name)
            .ok_or_else(|| cache_err(format!("missing metadata {name}")))?;
        serde_json::from_str(s).map_err(|e| cache_err(format!("metadata {name}: {e}")))
    };
    let (ids, texts, speakers) = (list("ids")?, list("texts")?, list("speakers")?);
    let feats = st.tensor("feats").map_err(|e| cache_err(e.to_string()))?;
    let lens = st
        .tensor("n_frames")
        .map_err(|e| cache_err(e.to_string()))?;
    if feats.dtype() != Dtype::F32 || lens.dtype() != Dtype::U32 || feats.shape().len() != 2 {
        return Err(cache_err("unexpected tensor types or shapes".into()));
    }
    let n_mels = feats.shape()[1];
    let lens: Vec<usize> = lens
        .data()
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let n = lens.len();
    if ids.len() != n || texts.len() != n || speakers.len() != n {
        return Err(cache_err("metadata and tensor lengths disagree".into()));
    }
    if lens.iter().sum::<usize>() != feats.shape()[0] {
        return Err(cache_err(
            "frame counts do not add up to the feature rows".into(),
        ));
    }
    let vals: Vec<f32> = feats
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut pos = 0;
    let mut out = Vec::with_capacity(n);
    for (((id, text), speaker), nf) in ids.into_iter().zip(texts).zip(speakers).zip(lens) {
        let len = nf * n_mels;
        out.push(Utterance {
            id,
            text,
            feats: Arc::new(vals[pos..pos + len].to_vec()),
            n_frames: nf,
            speaker,
        });
        pos += len;
    }
    Ok(Some(out))
}

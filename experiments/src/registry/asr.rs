//! Speech: espeak-ng synthesised corpora, TSV / LibriSpeech manifests, audio files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use asr::task::{AsrExample, AsrTask};
use asr::{load_manifest_corpus, synth_corpus, SpecAugConfig, SynthConfig, Utterance};
use ctc_core::admit::Purpose;
use ctc_core::task::Splits;
use ctc_core::vocab::{Vocab, VocabSpec};

use super::{check_data_keys, section, Manifest, Registered};
use crate::pipeline::ModelMeta;
use crate::preset::Preset;

pub struct Speech;

impl Registered for Speech {
    type T = AsrTask;
    const DECODE_VERB: &'static str = "transcribe";

    /// `[data.synth]` is a `SynthConfig`, `[data.specaug]` a `SpecAugConfig` for training
    /// batches, `[data.vocab]` a `VocabSpec` (characters by default; a BPE learns its merges
    /// from the training transcripts only). Training utterances too short for their labels
    /// under CTC are skipped and counted; dev and test keep every utterance.
    fn build(p: &Preset, cache: &Path, progress: bool) -> Result<(AsrTask, Splits<AsrExample>)> {
        check_data_keys(
            &p.data,
            &["synth", "specaug", "vocab", "subsampling"],
            "speech",
        )?;
        let subsampling = subsampling(&p.data, "preset data")?;
        let mut cfg: SynthConfig = section(&p.data, Some("synth"), "preset data")?;
        cfg.progress = progress;
        let specaug: Option<SpecAugConfig> = match p.data.get("specaug") {
            Some(v) => Some(v.clone().try_into().context("preset data.specaug")?),
            None => None,
        };
        let vocab: VocabSpec = section(&p.data, Some("vocab"), "preset data")?;
        // Before synthesis, which can take minutes.
        vocab
            .validate(asr::ENGLISH_CHARS)
            .context("preset data.vocab")?;
        let corpus =
            synth_corpus(&cfg, &cache.join("asr")).context("synthesising the speech corpus")?;
        let train_texts: Vec<String> = corpus.train.iter().map(|u| u.text.clone()).collect();
        let vocab = vocab
            .build(asr::ENGLISH_CHARS, &train_texts)
            .context("preset data.vocab")?;
        if vocab.is_bpe() {
            eprintln!(
                "vocabulary: BPE of {} classes from {} training transcripts",
                vocab.size(),
                train_texts.len()
            );
        }
        let task = AsrTask::new(vocab, cfg.features.n_mels, specaug)
            .with_subsampling(subsampling)
            .map_err(|e| anyhow::anyhow!("preset data.subsampling: {e}"))?;
        let split = |name: &str, utts, purpose| -> Result<Vec<AsrExample>> {
            let a = task
                .examples(utts, true, purpose)
                .map_err(anyhow::Error::msg)?;
            if let Some(s) = a.summary(name, "utterances") {
                eprintln!("{s}");
            }
            Ok(a.examples)
        };
        let splits = Splits {
            train: split("train", corpus.train, Purpose::Train)?,
            dev: split("dev", corpus.dev, Purpose::Score)?,
            test: split("test", corpus.test, Purpose::Score)?,
        };
        let (frames, labels) = splits.train.iter().fold((0, 0), |(f, l), e| {
            (f + task.ctc_frames(e.utt.n_frames), l + e.targets.len())
        });
        eprintln!(
            "{}",
            super::frames_per_label(
                "train",
                frames,
                labels,
                &format!("{subsampling}x subsampling")
            )
        );
        Ok((task, splits))
    }

    fn for_model(meta: &ModelMeta, vocab: Vocab) -> Result<AsrTask> {
        let synth: SynthConfig = section(&meta.data, Some("synth"), "model config data")?;
        let sub = subsampling(&meta.data, "model config data")?;
        AsrTask::new(vocab, synth.features.n_mels, None)
            .with_subsampling(sub)
            .map_err(|e| anyhow::anyhow!("model config data.subsampling: {e}"))
    }

    fn load_manifest(
        task: &AsrTask,
        meta: &ModelMeta,
        path: &Path,
        skip_bad: bool,
    ) -> Result<Manifest<AsrExample>> {
        let synth: SynthConfig = section(&meta.data, Some("synth"), "model config data")?;
        let (utts, report) = load_manifest_corpus(path, &synth.features, skip_bad)?;
        let admitted = task
            .examples(utts, skip_bad, Purpose::Score)
            .map_err(anyhow::Error::msg)?;
        let reports = if report.is_empty() {
            Vec::new()
        } else {
            vec![report.to_string()]
        };
        Ok(Manifest::scored(admitted, report.total(), reports))
    }

    fn load_inputs(task: &AsrTask, meta: &ModelMeta, files: &[PathBuf]) -> Result<Vec<AsrExample>> {
        let _ = task;
        let synth: SynthConfig = section(&meta.data, Some("synth"), "model config data")?;
        let fbank = asr::Fbank::new(&synth.features)?;
        let mut items = Vec::new();
        for f in files {
            let samples = asr::audio::load_audio(f, synth.features.max_seconds)?;
            let (feats, n_frames) = fbank.compute(&samples, f)?;
            let utt = Utterance {
                id: f.display().to_string(),
                text: String::new(),
                feats: feats.into(),
                n_frames,
                speaker: String::new(),
            };
            items.push(AsrExample {
                utt,
                targets: Vec::new(),
            });
        }
        Ok(items)
    }
}

/// `data.subsampling` (input frames per CTC frame; 4 when absent), checked.
fn subsampling(data: &toml::Table, what: &str) -> Result<usize> {
    let Some(v) = data.get("subsampling") else {
        return Ok(4);
    };
    let s = v
        .as_integer()
        .and_then(|i| usize::try_from(i).ok())
        .with_context(|| format!("{what}.subsampling: expected an integer, got {v}"))?;
    asr::encoder::check_subsampling(s).map_err(|e| anyhow::anyhow!("{what}.subsampling: {e}"))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Config errors surface before the corpus is synthesised (the cache stays empty).
    fn build_error(sets: &[&str]) -> String {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let p = crate::preset::load("asr-oracle", None, true, &sets).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let e = match Speech::build(&p, cache.path(), false) {
            Ok(_) => panic!("{sets:?} was accepted"),
            Err(e) => format!("{e:#}"),
        };
        assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0, "{e}");
        e
    }

    #[test]
    fn bad_vocab_specs_are_rejected_naming_the_key() {
        let e = build_error(&["data.vocab.kind=wordpiece"]);
        assert!(e.contains("data.vocab") && e.contains("wordpiece"), "{e}");
        let e = build_error(&["data.vocab.kind=bpe"]);
        assert!(e.contains("data.vocab") && e.contains("size"), "{e}");
        for size in ["29", "100000"] {
            let e = build_error(&["data.vocab.kind=bpe", &format!("data.vocab.size={size}")]);
            assert!(
                e.contains("data.vocab") && e.contains(&format!("vocab size {size}")),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_data_keys_are_rejected() {
        let e = build_error(&["data.vocabulary.kind=bpe"]);
        assert!(e.contains("data.vocabulary"), "{e}");
        for key in [
            "data.synth.n_trian=10",
            "data.synth.features.n_mel=40",
            "data.specaug.n_masks=1",
        ] {
            let e = build_error(&[key]);
            assert!(e.contains("unknown field"), "{key}: {e}");
        }
    }

    #[test]
    fn bad_audio_length_limits_are_rejected_before_synthesis() {
        let e = build_error(&["data.synth.features.max_seconds=0"]);
        assert!(e.contains("max_seconds must be a finite number"), "{e}");
        let e = build_error(&["data.synth.features.max_seconds=3.0"]);
        assert!(
            e.contains("max_secs 4 exceeds features.max_seconds 3"),
            "{e}"
        );
    }

    #[test]
    fn global_cmvn_is_rejected_saying_what_to_use() {
        let e = build_error(&["data.synth.features.cmvn=global"]);
        assert!(
            e.contains("data.synth") && e.contains("cmvn = \"utterance\""),
            "{e}"
        );
    }
}

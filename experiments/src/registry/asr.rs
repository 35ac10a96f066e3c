//! Speech: espeak-ng synthesised corpora, TSV / LibriSpeech manifests, audio files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use asr::task::{AsrExample, AsrTask};
use asr::{load_manifest_corpus, synth_corpus, SpecAugConfig, SynthConfig, Utterance};
use ctc_core::task::Splits;
use ctc_core::vocab::Vocab;

use super::{section, Manifest, Registered};
use crate::pipeline::ModelMeta;
use crate::preset::Preset;

pub struct Speech;

impl Registered for Speech {
    type T = AsrTask;
    const DECODE_VERB: &'static str = "transcribe";

    /// `[data.synth]` is a `SynthConfig`, `[data.specaug]` a `SpecAugConfig` for training
    /// batches. Utterances too short for their transcript under CTC are skipped and counted.
    fn build(p: &Preset, cache: &Path, progress: bool) -> Result<(AsrTask, Splits<AsrExample>)> {
        let mut cfg: SynthConfig = section(&p.data, Some("synth"), "preset data")?;
        cfg.progress = progress;
        let specaug: Option<SpecAugConfig> = match p.data.get("specaug") {
            Some(v) => Some(v.clone().try_into().context("preset data.specaug")?),
            None => None,
        };
        let corpus =
            synth_corpus(&cfg, &cache.join("asr")).context("synthesising the speech corpus")?;
        let task = AsrTask::new(
            Vocab::chars(asr::ENGLISH_CHARS)?,
            cfg.features.n_mels,
            specaug,
        );
        let split = |name: &str, utts| -> Result<Vec<AsrExample>> {
            let (ex, skipped) = task.examples(utts, true).map_err(anyhow::Error::msg)?;
            if let Some(first) = skipped.first() {
                eprintln!(
                    "{name}: skipped {} utterances (first: {first})",
                    skipped.len()
                );
            }
            Ok(ex)
        };
        let splits = Splits {
            train: split("train", corpus.train)?,
            dev: split("dev", corpus.dev)?,
            test: split("test", corpus.test)?,
        };
        Ok((task, splits))
    }

    fn for_model(meta: &ModelMeta, vocab: Vocab) -> Result<AsrTask> {
        let synth: SynthConfig = section(&meta.data, Some("synth"), "model config data")?;
        Ok(AsrTask::new(vocab, synth.features.n_mels, None))
    }

    fn load_manifest(
        task: &AsrTask,
        meta: &ModelMeta,
        path: &Path,
        skip_bad: bool,
    ) -> Result<Manifest<AsrExample>> {
        let synth: SynthConfig = section(&meta.data, Some("synth"), "model config data")?;
        let (utts, report) = load_manifest_corpus(path, &synth.features, skip_bad)?;
        let (examples, bad) = task.examples(utts, skip_bad).map_err(anyhow::Error::msg)?;
        let mut m = Manifest {
            examples,
            skipped: report.total(),
            reports: if report.is_empty() {
                Vec::new()
            } else {
                vec![report.to_string()]
            },
        };
        m.skip_examples("utterances", bad);
        Ok(m)
    }

    fn load_inputs(task: &AsrTask, meta: &ModelMeta, files: &[PathBuf]) -> Result<Vec<AsrExample>> {
        let _ = task;
        let synth: SynthConfig = section(&meta.data, Some("synth"), "model config data")?;
        let fbank = asr::Fbank::new(&synth.features)?;
        let mut items = Vec::new();
        for f in files {
            let samples = asr::audio::load_audio(f)?;
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

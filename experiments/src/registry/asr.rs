//! Speech: espeak-ng synthesised corpora, corpora on disk (TSV, LibriSpeech, Lhotse, NeMo),
//! audio files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use asr::task::{AsrExample, AsrTask};
use asr::{
    load_manifest_corpus, synth_corpus, AugmentConfig, SourceConfig, SpecAugConfig, SynthConfig,
    Utterance,
};
use ctc_core::admit::Purpose;
use ctc_core::task::Splits;
use ctc_core::vocab::{Vocab, VocabSpec};

use super::{check_data_keys, optional_section, section, Manifest, Registered};
use crate::pipeline::ModelMeta;
use crate::preset::Preset;

pub struct Speech;

impl Registered for Speech {
    type T = AsrTask;
    const DECODE_VERB: &'static str = "transcribe";

    /// `[data.source]` is a `SourceConfig` (the espeak-ng corpus of `[data.synth]` when absent,
    /// or TSV, LibriSpeech, Lhotse or NeMo listings on disk), `[data.synth]` a `SynthConfig`
    /// whose `features` apply to every source, `[data.augment]` an `AugmentConfig` (augmented
    /// copies of the training audio, made with the corpus), `[data.specaug]` a `SpecAugConfig`
    /// for training batches, `[data.vocab]` a `VocabSpec` (characters by default; a BPE learns its merges
    /// from the training transcripts only). Training utterances too short for their labels
    /// under CTC are skipped and counted; dev and test keep every utterance.
    fn build(p: &Preset, cache: &Path, progress: bool) -> Result<(AsrTask, Splits<AsrExample>)> {
        check_data_keys(
            &p.data,
            &[
                "synth",
                "specaug",
                "vocab",
                "subsampling",
                "source",
                "augment",
            ],
            "speech",
        )?;
        let subsampling = subsampling(&p.data, "preset data")?;
        let mut cfg: SynthConfig = section(&p.data, Some("synth"), "preset data")?;
        cfg.progress = progress;
        let source: SourceConfig = section(&p.data, Some("source"), "preset data")?;
        source.validate().map_err(preset_error)?;
        let specaug: Option<SpecAugConfig> = optional_section(&p.data, "specaug", "preset data")?;
        let augment: Option<AugmentConfig> = optional_section(&p.data, "augment", "preset data")?;
        if let Some(a) = &augment {
            a.validate().map_err(preset_error)?;
        }
        let vocab: VocabSpec = section(&p.data, Some("vocab"), "preset data")?;
        // Before synthesis, which can take minutes; an alphabet read from the training
        // transcripts is checked once they are read.
        if let Some(alphabet) = source.text.fixed_alphabet() {
            vocab.validate(&alphabet).context("preset data.vocab")?;
        }
        let (train, dev, test) = if source.is_synth() {
            let corpus = synth_corpus(&cfg, augment.as_ref(), &cache.join("asr"))
                .context("synthesising the speech corpus")?;
            match (&corpus.augmented, &augment) {
                (Some(r), _) => eprintln!("train: {r}"),
                (None, Some(_)) => eprintln!(
                    "train: {} augmented copies (read from the corpus cache)",
                    corpus
                        .train
                        .iter()
                        .filter(|u| u.id.contains("+aug"))
                        .count()
                ),
                (None, None) => {}
            }
            (corpus.train, corpus.dev, corpus.test)
        } else {
            cfg.features.validate().map_err(|e| match e {
                asr::AsrError::Config(m) => anyhow::anyhow!("preset data.synth.features: {m}"),
                e => e.into(),
            })?;
            (
                load_source_split(&source, "train", &cfg.features, augment.as_ref())?,
                load_source_split(&source, "dev", &cfg.features, None)?,
                load_source_split(&source, "test", &cfg.features, None)?,
            )
        };
        let train_texts: Vec<String> = train.iter().map(|u| u.text.clone()).collect();
        let alphabet = source.text.alphabet(&train_texts);
        if source.text != asr::TextNorm::default() {
            eprintln!(
                "alphabet: {} characters ({alphabet:?}), from data.source.text{}",
                alphabet.chars().count(),
                match source.text.letters {
                    asr::Letters::Any => " and the training transcripts",
                    asr::Letters::Ascii => "",
                }
            );
        }
        let vocab = vocab
            .build(&alphabet, &train_texts)
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
            train: split("train", train, Purpose::Train)?,
            dev: split("dev", dev, Purpose::Score)?,
            test: split("test", test, Purpose::Score)?,
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
        // References are normalised as the model's training transcripts were.
        let source: SourceConfig = section(&meta.data, Some("source"), "model config data")?;
        let (utts, report) = load_manifest_corpus(path, &synth.features, &source.text, skip_bad)?;
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

/// A `SourceConfig` check's message under the preset's key (`preset data.source.dev: ...`).
fn preset_error(e: asr::AsrError) -> anyhow::Error {
    match e {
        asr::AsrError::Config(m) => anyhow::anyhow!("preset data.{m}"),
        e => e.into(),
    }
}

/// Listing files named one by one in the run log; beyond this (a LibriSpeech folder of many
/// chapters) one line sums them up.
const LISTINGS_SHOWN: usize = 4;

/// One split of a corpus on disk, with what the run log needs to trace it: each listing
/// file's path, size and FNV-1a hash (for more than `LISTINGS_SHOWN`, their number, total size
/// and a hash over their paths and hashes), entries skipped with `data.source.skip_bad`, and
/// the characters the vocabulary lacks.
fn load_source_split(
    source: &SourceConfig,
    split: &str,
    features: &asr::FeatureConfig,
    augment: Option<&AugmentConfig>,
) -> Result<Vec<Utterance>> {
    let kind = source.kind.name();
    let loaded = asr::load_split(source, split, features, augment)
        .with_context(|| format!("reading the {split} split of data.source ({kind})"))?;
    match loaded.files.as_slice() {
        few if few.len() <= LISTINGS_SHOWN => {
            for f in few {
                eprintln!("{split}: {kind} listing {f}");
            }
        }
        many => {
            let mut h = ctc_core::io::Fnv1a::new();
            for f in many {
                h.update(f.path.to_string_lossy().as_bytes());
                h.update(&f.fnv1a.to_le_bytes());
            }
            let root = source
                .split(split)
                .and_then(|f| f.0.first())
                .map_or_else(String::new, |p| p.display().to_string());
            eprintln!(
                "{split}: {kind} listings under {root}: {} files, {} bytes, fnv1a {:016x} \
                 (over their paths and hashes)",
                many.len(),
                many.iter().map(|f| f.bytes).sum::<u64>(),
                h.finish()
            );
        }
    }
    eprintln!(
        "{split}: {} utterances; {}",
        loaded.utterances.len(),
        loaded.outside
    );
    if !loaded.skipped.is_empty() {
        eprintln!("{split}: {}", loaded.skipped.to_string().trim_end());
    }
    if augment.is_some() {
        eprintln!("{split}: {}", loaded.augmented);
    }
    Ok(loaded.utterances)
}

/// `experiments prepare synth`: one split of a speech preset's synthetic corpus written as
/// `out/wav/ID.wav` (16 kHz) and `out/SPLIT.tsv`, every file atomically.
pub fn write_synth_split(preset: &str, sets: &[String], split: &str, out: &Path) -> Result<()> {
    let p = crate::preset::load(preset, None, false, sets)?;
    if p.task != "asr" {
        anyhow::bail!("preset {preset} is a {} preset, not speech", p.task);
    }
    let source: SourceConfig = section(&p.data, Some("source"), "preset data")?;
    if !source.is_synth() {
        anyhow::bail!(
            "preset {preset} reads {} listings, not the synthetic corpus",
            source.kind.name()
        );
    }
    let cfg: SynthConfig = section(&p.data, Some("synth"), "preset data")?;
    let audio = asr::synth_split_audio(&cfg, split)
        .with_context(|| format!("synthesising the {split} split of {preset}"))?;
    let wav = out.join("wav");
    std::fs::create_dir_all(&wav).with_context(|| format!("creating {}", wav.display()))?;
    let mut tsv = String::new();
    let mut seconds = 0.0;
    for a in &audio {
        asr::audio::write_wav(
            &wav.join(format!("{}.wav", a.id)),
            &a.samples,
            asr::audio::TARGET_SAMPLE_RATE,
        )?;
        tsv.push_str(&format!("wav/{}.wav\t{}\n", a.id, a.text));
        seconds += a.samples.len() as f64 / asr::audio::TARGET_SAMPLE_RATE as f64;
    }
    let manifest = out.join(format!("{split}.tsv"));
    ctc_core::io::write_atomic(&manifest, tsv.as_bytes())
        .with_context(|| format!("writing {}", manifest.display()))?;
    println!(
        "{}: {} utterances, {:.1} min of the {split} split of {preset}",
        manifest.display(),
        audio.len(),
        seconds / 60.0
    );
    Ok(())
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
        for (set, want) in [
            ("data.subsampling=3", "subsampling 3 is not one of [2, 4]"),
            ("data.subsampling=\"2\"", "expected an integer"),
        ] {
            let e = build_error(&[set]);
            assert!(e.contains("data.subsampling") && e.contains(want), "{e}");
        }
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
    fn bad_data_sources_are_rejected_naming_the_key_before_reading() {
        for (set, want) in [
            (
                "data.source.kind=nemo",
                "preset data.source.train: missing; kind = \"nemo\" needs train, dev and test",
            ),
            (
                "data.source.train=a.tsv",
                "preset data.source.train: kind = \"synth\" reads no files",
            ),
            ("data.source.kind=kaldi", "unknown variant `kaldi`"),
            ("data.source.dir=x", "unknown field `dir`"),
        ] {
            let e = build_error(&[set]);
            assert!(e.contains(want), "{set}: {e}");
        }
        let e = build_error(&[
            r#"data.source={kind="tsv", train="/nonexistent/t.tsv", dev="d", test="t"}"#,
        ]);
        assert!(
            e.contains("train split of data.source (tsv)") && e.contains("/nonexistent/t.tsv"),
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

//! Building each task and its splits from a preset's `[data]` table.

use std::path::Path;

use anyhow::{Context, Result};
use tasks::asr::task::{AsrExample, AsrTask};
use tasks::asr::{synth_corpus, SpecAugConfig, SynthConfig, ENGLISH_CHARS};
use tasks::scene_text::task::{StrExample, StrTask};
use tasks::scene_text::{generate_corpus, RenderConfig};
use tasks::task::Splits;
use tasks::toy::{ToyConfig, ToyExample, ToyTask};
use tasks::vocab::Vocab;

use crate::preset::Preset;

/// Deserialize the preset's `[data]` table (or one of its sub-tables) into a config struct.
pub fn section<C: serde::de::DeserializeOwned + Default>(
    p: &Preset,
    key: Option<&str>,
) -> Result<C> {
    let v = match key {
        None => Some(toml::Value::Table(p.data.clone())),
        Some(k) => p.data.get(k).cloned(),
    };
    match v {
        None => Ok(C::default()),
        Some(v) => v.try_into().with_context(|| {
            format!(
                "preset [data{}]",
                key.map(|k| format!(".{k}")).unwrap_or_default()
            )
        }),
    }
}

pub fn toy(p: &Preset) -> Result<(ToyTask, Splits<ToyExample>)> {
    let mut cfg: ToyConfig = section(p, None)?;
    cfg.seed = cfg.seed.wrapping_add(p.seed);
    Ok(ToyTask::generate(&cfg)?)
}

/// Speech synthesised with espeak-ng (`[data.synth]` is a `SynthConfig`, `[data.specaug]` a
/// `SpecAugConfig` for training batches). Utterances too short for their transcript under CTC
/// are skipped and counted.
pub fn asr(p: &Preset, cache: &Path, progress: bool) -> Result<(AsrTask, Splits<AsrExample>)> {
    let mut cfg: SynthConfig = section(p, Some("synth"))?;
    cfg.progress = progress;
    let specaug: Option<SpecAugConfig> = match p.data.get("specaug") {
        Some(v) => Some(v.clone().try_into().context("preset [data.specaug]")?),
        None => None,
    };
    let corpus =
        synth_corpus(&cfg, &cache.join("asr")).context("synthesising the speech corpus")?;
    let task = AsrTask::new(Vocab::chars(ENGLISH_CHARS)?, cfg.features.n_mels, specaug);
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

/// Rendered word images (`[data.render]` is a `RenderConfig`); fonts are split by family.
pub fn scene_text(p: &Preset, cache: &Path) -> Result<(StrTask, Splits<StrExample>)> {
    let cfg: RenderConfig = section(p, Some("render"))?;
    let corpus =
        generate_corpus(&cfg, &cache.join("str")).context("rendering the word-image corpus")?;
    eprintln!(
        "word images: {} train / {} dev / {} test fonts{}",
        corpus.fonts.train.len(),
        corpus.fonts.dev.len(),
        corpus.fonts.test.len(),
        if corpus.from_cache { " (cached)" } else { "" }
    );
    let alphabet: String = corpus.alphabet.chars().iter().collect();
    let task = StrTask::new(Vocab::chars(&alphabet)?);
    let split = |images| -> Result<Vec<StrExample>> {
        // Rendered images always fit their labels; a failure here is a bug worth stopping for.
        let (ex, _) = task.examples(images, false).map_err(anyhow::Error::msg)?;
        Ok(ex)
    };
    let splits = Splits {
        train: split(corpus.train)?,
        dev: split(corpus.dev)?,
        test: split(corpus.test)?,
    };
    Ok((task, splits))
}

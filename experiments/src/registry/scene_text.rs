//! Word images: rendered corpora, TSV / LMDB manifests, image files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ctc_core::admit::Purpose;
use ctc_core::task::Splits;
use ctc_core::vocab::Vocab;
use scene_text::encoder::CrnnEncoder;
use scene_text::task::{StrExample, StrTask};
use scene_text::{generate_corpus, load_folder, load_lmdb, ImageSource, RenderConfig};

use super::{check_data_keys, section, Manifest, Registered};
use crate::pipeline::ModelMeta;
use crate::preset::Preset;

pub struct WordImages;

fn render_config(meta: &ModelMeta) -> Result<RenderConfig> {
    section(&meta.data, Some("render"), "model config data")
}

/// The rendered corpus of `cfg` (cached under `cache`).
fn rendered(cfg: &RenderConfig, cache: &Path) -> Result<(StrTask, Splits<StrExample>)> {
    let corpus =
        generate_corpus(cfg, &cache.join("str")).context("rendering the word-image corpus")?;
    eprintln!(
        "word images: {} train / {} dev / {} test fonts{}",
        corpus.fonts.train.len(),
        corpus.fonts.dev.len(),
        corpus.fonts.test.len(),
        if corpus.from_cache { " (cached)" } else { "" }
    );
    let alphabet: String = corpus.alphabet.chars().iter().collect();
    let task = StrTask::new(Vocab::chars(&alphabet)?);
    let split = |images, purpose| -> Result<Vec<StrExample>> {
        // Rendered images always fit their labels; a failure here is a bug worth stopping for.
        let a = task
            .examples(images, false, purpose)
            .map_err(anyhow::Error::msg)?;
        Ok(a.examples)
    };
    let splits = Splits {
        train: split(corpus.train, Purpose::Train)?,
        dev: split(corpus.dev, Purpose::Score)?,
        test: split(corpus.test, Purpose::Score)?,
    };
    Ok((task, splits))
}

/// The splits of `source` (a TSV index or an LMDB folder each), read with `cfg`'s alphabet and
/// normalisation. Training images whose labels do not fit their CTC frames are skipped and
/// counted; dev and test keep every image. Each split's path and counts go to the run log.
fn on_disk(cfg: &RenderConfig, source: &ImageSource) -> Result<(StrTask, Splits<StrExample>)> {
    let alphabet = cfg.alphabet();
    let chars: String = alphabet.chars().iter().collect();
    let task = StrTask::new(Vocab::chars(&chars)?);
    let split = |name: &str, purpose| -> Result<Vec<StrExample>> {
        let path = source.path(name);
        let (images, report) = source
            .load(name, &cfg.norm, &alphabet, purpose)
            .with_context(|| format!("data.source.{name}"))?;
        let read = images.len();
        let a = task
            .examples(images, true, purpose)
            .map_err(anyhow::Error::msg)?;
        eprintln!(
            "{name}: {} images from {} ({read} read, {} skipped while reading)",
            a.examples.len(),
            path.display(),
            report.total()
        );
        if report.total() > 0 {
            eprintln!("{report}");
        }
        if let Some(s) = a.summary(name, "images") {
            eprintln!("{s}");
        }
        Ok(a.examples)
    };
    let splits = Splits {
        train: split("train", Purpose::Train)?,
        dev: split("dev", Purpose::Score)?,
        test: split("test", Purpose::Score)?,
    };
    if splits.train.is_empty() {
        anyhow::bail!(
            "data.source.train: no usable training image in {}",
            source.path("train").display()
        );
    }
    Ok((task, splits))
}

impl Registered for WordImages {
    type T = StrTask;
    const DECODE_VERB: &'static str = "recognize";

    /// `[data.render]` is a `RenderConfig`; fonts are split by family. `[data.source]` (an
    /// `ImageSource`) may name datasets on disk instead, which `[data.render]`'s alphabet and
    /// normalisation (`norm`) then read.
    fn build(p: &Preset, cache: &Path, progress: bool) -> Result<(StrTask, Splits<StrExample>)> {
        check_data_keys(&p.data, &["render", "source"], "word-image")?;
        let mut cfg: RenderConfig = section(&p.data, Some("render"), "preset data")?;
        cfg.progress = progress;
        let source: ImageSource = section(&p.data, Some("source"), "preset data")?;
        source
            .validate()
            .map_err(|e| anyhow::anyhow!("preset data.source: {e}"))?;
        let (task, splits) = if source.is_render() {
            rendered(&cfg, cache)?
        } else {
            on_disk(&cfg, &source)?
        };
        let (frames, labels) = splits.train.iter().fold((0, 0), |(f, l), e| {
            (
                f + CrnnEncoder::output_frames(e.image.width),
                l + e.targets.len(),
            )
        });
        eprintln!(
            "{}",
            super::frames_per_label("train", frames, labels, "one CTC frame per 4 image columns")
        );
        Ok((task, splits))
    }

    fn for_model(_meta: &ModelMeta, vocab: Vocab) -> Result<StrTask> {
        Ok(StrTask::new(vocab))
    }

    fn load_manifest(
        task: &StrTask,
        meta: &ModelMeta,
        path: &Path,
        skip_bad: bool,
    ) -> Result<Manifest<StrExample>> {
        let render = render_config(meta)?;
        let load = if path.is_dir() {
            load_lmdb
        } else {
            load_folder
        };
        let (images, report) = load(
            path,
            &render.norm,
            &render.alphabet(),
            Purpose::Score,
            skip_bad,
        )?;
        let admitted = task
            .examples(images, skip_bad, Purpose::Score)
            .map_err(anyhow::Error::msg)?;
        let reports = if report.total() > 0 {
            vec![report.to_string()]
        } else {
            Vec::new()
        };
        Ok(Manifest::scored(admitted, report.total(), reports))
    }

    fn load_inputs(
        _task: &StrTask,
        meta: &ModelMeta,
        files: &[PathBuf],
    ) -> Result<Vec<StrExample>> {
        let render = render_config(meta)?;
        let mut items = Vec::new();
        for f in files {
            let img = scene_text::read_image(f, &render.norm)?;
            let image = scene_text::normalize::word_image(
                &img,
                String::new(),
                &render.norm,
                f.display().to_string(),
                Purpose::Score,
            )?;
            items.push(StrExample {
                image,
                targets: Vec::new(),
            });
        }
        Ok(items)
    }
}

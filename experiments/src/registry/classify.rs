//! One-label image classification (MNIST, Fashion-MNIST): IDX or JSON files named by the
//! preset's `[data]` table; see `classify::ClassifyConfig`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use classify::{ClassifyConfig, ClassifyExample, ClassifyTask};
use ctc_core::task::Splits;
use ctc_core::vocab::Vocab;
use ctc_core::Task;

use super::{section, Manifest, Registered};
use crate::pipeline::ModelMeta;
use crate::preset::Preset;

pub struct Images;

fn config(data: &toml::Table, what: &str) -> Result<ClassifyConfig> {
    section(data, None, what)
}

/// The task of an exported model: its preset's data settings, its saved vocabulary.
fn task_for(meta: &ModelMeta, vocab: &Vocab) -> Result<ClassifyTask> {
    let task = ClassifyTask::new(&config(&meta.data, "the model's data settings")?)?;
    if task.vocab() != vocab {
        bail!("the model's vocabulary does not match its data settings' classes");
    }
    Ok(task)
}

impl Registered for Images {
    type T = ClassifyTask;
    const DECODE_VERB: &'static str = "classify";

    fn build(
        p: &Preset,
        _cache: &Path,
        _progress: bool,
    ) -> Result<(ClassifyTask, Splits<ClassifyExample>)> {
        Ok(ClassifyTask::load(&config(&p.data, "preset data")?)?)
    }

    fn for_model(meta: &ModelMeta, vocab: Vocab) -> Result<ClassifyTask> {
        task_for(meta, &vocab)
    }

    /// A manifest is a file of examples in the JSON form (`[{"image": [...], "label": n}]`).
    fn load_manifest(
        task: &ClassifyTask,
        _meta: &ModelMeta,
        path: &Path,
        skip_bad: bool,
    ) -> Result<Manifest<ClassifyExample>> {
        // Relative to the working directory, not to the model's `data.dir`.
        let path = std::path::absolute(path)
            .with_context(|| format!("{}: cannot resolve the path", path.display()))?;
        let (examples, skipped) = task.read_manifest(&path.display().to_string(), skip_bad)?;
        let reports = if skipped.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{}: skipped {} bad example(s):\n  {}",
                path.display(),
                skipped.len(),
                skipped.join("\n  ")
            )]
        };
        Ok(Manifest {
            examples,
            skipped: skipped.len(),
            untrainable: 0,
            reports,
        })
    }

    /// Grey images of exactly the task's size (PNG, JPEG, BMP).
    fn load_inputs(
        task: &ClassifyTask,
        _meta: &ModelMeta,
        files: &[PathBuf],
    ) -> Result<Vec<ClassifyExample>> {
        let (rows, cols) = (task.cfg.rows, task.cfg.cols);
        files
            .iter()
            .map(|f| {
                let unreadable = || format!("{}: not a readable image", f.display());
                // The size is checked from the header, before a huge image is decoded.
                let reader = image::ImageReader::open(f)
                    .and_then(|r| r.with_guessed_format())
                    .with_context(unreadable)?;
                let (w, h) = reader.into_dimensions().with_context(unreadable)?;
                if (h as usize, w as usize) != (rows, cols) {
                    bail!(
                        "{}: {h} x {w} pixels, the model reads {rows} x {cols} images",
                        f.display()
                    );
                }
                let img = image::ImageReader::open(f)
                    .and_then(|r| r.with_guessed_format())
                    .with_context(unreadable)?
                    .decode()
                    .with_context(unreadable)?
                    .into_luma8();
                let mut ex = task.example(img.into_raw(), 0);
                ex.text.clear();
                Ok(ex)
            })
            .collect()
    }
}

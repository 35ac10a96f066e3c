//! Resumable stages: a finished stage leaves its exported model, its report and a DONE marker;
//! a rerun loads them instead of training again. What a stage restores or resumes is checked
//! against what this run would build: the exported model's config, its tensors and hash, and
//! the training checkpoint's identity; any mismatch is an error naming the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use ctc_core::params::ParamStore;
use ctc_core::task::Splits;
use ctc_core::train::{evaluate, Evaluation, TrainConfig, TrainReport, TrainRun};
use ctc_core::Task;
use serde::{de::DeserializeOwned, Serialize};

use super::{Ctx, ModelMeta};
use crate::results::write_atomic;

pub const MODEL: &str = "model";
const DONE: &str = "DONE";
const REPORT: &str = "report.json";

/// Prefix of every model parameter inside its store (exported without it).
pub const PREFIX: &str = "model.";

pub struct Stage {
    pub dir: PathBuf,
}

impl Stage {
    pub fn new(ctx: &Ctx, name: &str) -> Result<Self> {
        let dir = ctx.dir.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir })
    }

    pub fn done(&self) -> bool {
        self.dir.join(DONE).exists()
    }

    pub fn model_dir(&self) -> PathBuf {
        self.dir.join(MODEL)
    }

    /// The stage's training run; `identity`: what its checkpoints belong to besides the
    /// training settings (the model's config, and for a student its teacher's weights).
    pub fn train_run<'a, T: Task>(
        &self,
        ctx: &'a Ctx,
        task: &'a T,
        splits: &'a Splits<T::Example>,
        cfg: &'a TrainConfig,
        name: &str,
        identity: serde_json::Value,
    ) -> TrainRun<'a, T> {
        TrainRun {
            task,
            train: &splits.train,
            dev: &splits.dev,
            cfg,
            seed: ctx.seed,
            device: &ctx.device,
            out: self.dir.join("train"),
            name: name.to_string(),
            progress: ctx.progress,
            model_config: Some(identity),
        }
    }

    /// Export the model, write the report and mark the stage done (the marker last).
    pub fn finish<M: Serialize, R: Serialize>(
        &self,
        store: &ParamStore,
        meta: &M,
        vocab: &ctc_core::vocab::Vocab,
        report: &R,
    ) -> Result<()> {
        ctc_core::export::export(&self.model_dir(), store, PREFIX, meta, vocab)?;
        write_atomic(
            &self.dir.join(REPORT),
            serde_json::to_string_pretty(report)?.as_bytes(),
        )?;
        write_atomic(&self.dir.join(DONE), b"done\n")?;
        Ok(())
    }

    /// The revision that trained this stage's model, as stored with the exported model.
    pub fn trained_revision(&self) -> Result<String> {
        let (meta, _): (super::ModelMeta, _) = ctc_core::export::read_config(&self.model_dir())?;
        Ok(meta.trained_revision())
    }

    /// Reload a finished stage's weights and report. The exported model must be the one this
    /// run would export (`expected`, up to the revision that trained it) and load into `store`
    /// exactly: a stage marked done whose model is missing, damaged or another's is an error.
    pub fn restore<R: DeserializeOwned>(
        &self,
        store: &ParamStore,
        expected: &ModelMeta,
    ) -> Result<R> {
        let dir = self.model_dir();
        let redo = || {
            format!(
                "stage {} is marked done (delete {} to train it again)",
                self.dir.display(),
                self.dir.join(DONE).display()
            )
        };
        let (found, _): (ModelMeta, _) = ctc_core::export::read_config(&dir).with_context(redo)?;
        let json = |m: &ModelMeta| {
            let mut m = m.clone();
            m.revision = None;
            serde_json::to_value(m)
        };
        if let Some(d) =
            ctc_core::train::identity::first_difference(&json(&found)?, &json(expected)?)
        {
            anyhow::bail!(
                "{}: the exported model is not this run's ({d}); {}",
                dir.join(ctc_core::export::CONFIG).display(),
                redo()
            );
        }
        ctc_core::export::load_weights(&dir, store, PREFIX).with_context(redo)?;
        let path = self.dir.join(REPORT);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// A trained model's scores on dev and test.
pub struct DevTest {
    pub dev: Evaluation,
    pub test: Evaluation,
}

pub fn dev_test<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    batch_size: usize,
    f: impl Fn(&ctc_core::Batch) -> candle_core::Result<(candle_core::Tensor, Vec<usize>)> + Sync,
) -> Result<DevTest> {
    Ok(DevTest {
        dev: evaluate(task, &splits.dev, batch_size, &ctx.device, &f)?,
        test: evaluate(task, &splits.test, batch_size, &ctx.device, &f)?,
    })
}

/// Training outcome kept with a stage: the loop's report plus anything stage-specific.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StageReport<X> {
    pub train: Vec<TrainReport>,
    pub extra: X,
}

pub fn ensure_dir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))
}

/// What a stage's training checkpoints belong to: its model's exported config (without the
/// revision: a rebuilt binary may resume an interrupted run) and, for a student of a frozen
/// teacher, that teacher's weights (`export::weights_fingerprint`).
pub fn identity(meta: &ModelMeta, teacher: Option<u64>) -> Result<serde_json::Value> {
    let mut m = meta.clone();
    m.revision = None;
    let mut v = serde_json::json!({ "model": m });
    if let Some(f) = teacher {
        v["teacher_weights"] = format!("{f:016x}").into();
    }
    Ok(v)
}

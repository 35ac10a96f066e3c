//! Resumable stages: a finished stage leaves its exported model, its report and a DONE marker;
//! a rerun loads them instead of training again. What a stage restores or resumes is checked
//! against what this run would build: the exported model's config, its tensors and hash, and
//! the training checkpoint's identity; any mismatch is an error naming the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::Tensor;
use ctc_core::params::ParamStore;
use ctc_core::task::Splits;
use ctc_core::train::{evaluate, Evaluation, TrainConfig, TrainReport, TrainRun};
use ctc_core::{Batch, Task};
use serde::{de::DeserializeOwned, Serialize};

use super::plan::StageSpec;
use super::{fill_scores, Ctx, ModelMeta};
use crate::results::{write_atomic, ResultRow};

pub const MODEL: &str = "model";
const DONE: &str = "DONE";
pub const REPORT: &str = "report.json";

/// Prefix of every model parameter inside its store (exported without it).
pub const PREFIX: &str = "model.";

const KEY: &str = "stage-key.txt";

pub struct Stage {
    pub dir: PathBuf,
    /// What the stage's result depends on (`grid::stage_key`), written with it when it
    /// finishes; a grid cell adopts another cell's finished stage of the same key.
    key: Option<String>,
}

impl Stage {
    pub fn new(ctx: &Ctx, name: &str) -> Result<Self> {
        let dir = ctx.dir.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir, key: None })
    }

    /// A stage identified by `key`. Unless it is done already, a finished stage of the same
    /// name and key in one of `ctx.share` (the other cells of a grid, `--reuse` directories)
    /// is linked in (files hard linked, or copied where links fail) and used as if it had been
    /// trained here. The key does not hold the code revision: reuse across builds is the
    /// user's call.
    pub fn keyed(ctx: &Ctx, name: &str, key: String) -> Result<Self> {
        let mut stage = Self::new(ctx, name)?;
        if !stage.done() {
            for other in &ctx.share {
                let cand = other.join(name);
                let same = cand.join(DONE).exists()
                    && std::fs::read_to_string(cand.join(KEY)).is_ok_and(|k| k == key);
                if same {
                    link_tree(&cand, &stage.dir)?;
                    eprintln!(
                        "[{name}] reusing the identical finished stage {}",
                        cand.display()
                    );
                    break;
                }
            }
        }
        stage.key = Some(key);
        Ok(stage)
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
            dev: selection(ctx, &splits.dev),
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
        if let Some(key) = &self.key {
            write_atomic(&self.dir.join(KEY), key.as_bytes())?;
        }
        write_atomic(&self.dir.join(DONE), b"done\n")?;
        Ok(())
    }

    /// The revision that trained this stage's model, as stored with the exported model.
    /// The revision and the CPU that trained the stage's exported model.
    pub fn trained_by(&self) -> Result<(String, String)> {
        let (meta, _): (super::ModelMeta, _) = ctc_core::export::read_config(&self.model_dir())?;
        Ok((meta.trained_revision(), meta.trained_cpu()))
    }

    /// Write the per-example edit counts of `scores` (`edits-dev<suffix>.csv`,
    /// `edits-test<suffix>.csv`) with each example's cluster, and return the test file's path
    /// relative to the run directory, for the row's `test_edits`.
    pub fn save_edits(&self, ctx: &Ctx, scores: &DevTest, suffix: &str) -> Result<String> {
        // `dev_test` scores the reported part of dev: the clusters of the same examples.
        let dev = reported(ctx, &ctx.clusters.dev);
        for (split, ev, clusters) in [
            ("dev", &scores.dev, dev),
            ("test", &scores.test, &ctx.clusters.test[..]),
        ] {
            let name = super::edits::file_name(&format!("{split}{suffix}"));
            let rows = super::edits::of(ev, clusters)
                .with_context(|| format!("{split} edits of {}", self.dir.display()))?;
            super::edits::write(&self.dir.join(name), &rows)?;
        }
        let test = self
            .dir
            .join(super::edits::file_name(&format!("test{suffix}")));
        let run_dir = ctx.dir.parent().unwrap_or(&ctx.dir);
        Ok(test
            .strip_prefix(run_dir)
            .unwrap_or(&test)
            .to_string_lossy()
            .into_owned())
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
        let json = |m: &ModelMeta| serde_json::to_value(m.portable());
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

/// How many leading dev examples form the selection subset: the largest `dev_subset` of the
/// run's models, at most half of dev (a model without `dev_subset` counts as half of dev).
/// Models are selected (best checkpoint, bias shifts) on these alone, and the reported dev
/// error is measured on the rest, so that selection and report never share an example.
pub fn selection_len(p: &crate::preset::Preset, dev_len: usize) -> usize {
    let half = dev_len / 2;
    let subsets = [
        Some(&p.teacher.train),
        p.oracle.as_ref().map(|o| &o.train),
        Some(&p.student.train),
    ];
    subsets
        .into_iter()
        .flatten()
        .map(|t| t.dev_subset.unwrap_or(half))
        .max()
        .unwrap_or(half)
        .min(half)
}

/// The selection subset of `dev` (see `selection_len`).
pub fn selection<'a, E>(ctx: &Ctx, dev: &'a [E]) -> &'a [E] {
    &dev[..selection_len(&ctx.preset, dev.len())]
}

/// The reported part of `dev`: what the selection subset leaves.
pub fn reported<'a, E>(ctx: &Ctx, dev: &'a [E]) -> &'a [E] {
    &dev[selection_len(&ctx.preset, dev.len())..]
}

/// Scores on the reported part of dev and on test.
pub fn dev_test<T: Task>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    batch_size: usize,
    f: impl Fn(&ctc_core::Batch) -> candle_core::Result<(candle_core::Tensor, Vec<usize>)> + Sync,
) -> Result<DevTest> {
    Ok(DevTest {
        dev: evaluate(
            task,
            reported(ctx, &splits.dev),
            batch_size,
            &ctx.device,
            &f,
        )?,
        test: evaluate(task, &splits.test, batch_size, &ctx.device, &f)?,
    })
}

/// A stage trained (or restored) and scored, with its row's common columns filled.
pub struct Scored<X> {
    pub stage: Stage,
    pub report: StageReport<X>,
    pub scores: DevTest,
    pub row: ResultRow,
}

/// The lifecycle every stage shares: open the stage under `key`; if it is done, restore its
/// weights into `store` and its report, else `train` it and finish it (export, report, marker);
/// score it on dev and test with `eval`; fill the row's parameters, steps, seconds, scores,
/// edit file and training revision.
#[allow(clippy::too_many_arguments)]
pub fn trained_and_scored<T, X, E>(
    ctx: &Ctx,
    task: &T,
    splits: &Splits<T::Example>,
    spec: &StageSpec,
    key: String,
    (store, meta): (&ParamStore, &ModelMeta),
    batch_size: usize,
    train: impl FnOnce(&Stage) -> Result<StageReport<X>>,
    eval: &E,
) -> Result<Scored<X>>
where
    T: Task,
    X: Serialize + DeserializeOwned,
    E: Fn(&Batch) -> candle_core::Result<(Tensor, Vec<usize>)> + Sync,
{
    let stage = Stage::keyed(ctx, &spec.name, key)?;
    let report = if stage.done() {
        stage.restore(store, meta)?
    } else {
        let r = train(&stage)?;
        stage.finish(store, meta, task.vocab(), &r)?;
        r
    };
    let scores = dev_test(ctx, task, splits, batch_size, eval)?;
    let mut row = ctx.row::<T>(spec);
    // The evaluated (exported) model's: a joint student's oracle path is not part of it.
    row.params = store.num_params_with_prefix(PREFIX) as u64;
    row.train_steps = report.train.iter().map(|r| r.steps as u64).sum();
    row.train_seconds = report.train.iter().map(|r| r.train_seconds).sum();
    fill_scores::<T>(&mut row, &scores);
    row.test_edits = stage.save_edits(ctx, &scores, "")?;
    let (revision, cpu) = stage.trained_by()?;
    row.revision = revision;
    row.cpu = cpu;
    Ok(Scored {
        stage,
        report,
        scores,
        row,
    })
}

/// Training outcome kept with a stage: the loop's report plus anything stage-specific.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StageReport<X> {
    pub train: Vec<TrainReport>,
    pub extra: X,
}

/// Recreate the files of `from` under `to` (existing files are replaced), as hard links where
/// the file system allows, else as copies; `DONE` last, so an interrupted link leaves a stage
/// that is not done.
fn link_tree(from: &Path, to: &Path) -> Result<()> {
    fn walk(from: &Path, to: &Path, done: &mut Option<(PathBuf, PathBuf)>) -> Result<()> {
        ensure_dir(to)?;
        for entry in
            std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))?
        {
            let entry = entry?;
            let (src, dst) = (entry.path(), to.join(entry.file_name()));
            if entry.file_type()?.is_dir() {
                walk(&src, &dst, done)?;
            } else if entry.file_name() == DONE {
                *done = Some((src, dst));
            } else {
                link_file(&src, &dst)?;
            }
        }
        Ok(())
    }
    fn link_file(src: &Path, dst: &Path) -> Result<()> {
        let _ = std::fs::remove_file(dst);
        if std::fs::hard_link(src, dst).is_err() {
            std::fs::copy(src, dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
        Ok(())
    }
    let mut done = None;
    walk(from, to, &mut done)?;
    if let Some((src, dst)) = done {
        link_file(&src, &dst)?;
    }
    Ok(())
}

pub fn ensure_dir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))
}

/// What a stage's training checkpoints belong to: its model's exported config (without the
/// revision: a rebuilt binary may resume an interrupted run) and, for a student of a frozen
/// teacher, that teacher's weights (`export::weights_fingerprint`).
pub fn identity(meta: &ModelMeta, teacher: Option<u64>) -> Result<serde_json::Value> {
    let mut v = serde_json::json!({ "model": meta.portable() });
    if let Some(f) = teacher {
        v["teacher_weights"] = format!("{f:016x}").into();
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::{identity, selection_len};
    use crate::pipeline::ModelMeta;

    #[test]
    fn where_and_by_what_a_model_was_trained_is_not_its_identity() {
        // A model exported before the CPU was recorded, and the same model now: one identity,
        // and the same identity as before the field existed (no `cpu` key at all).
        let old: ModelMeta = serde_json::from_value(serde_json::json!({
            "task": "asr", "kind": "ctc", "role": "teacher",
            "encoder": serde_json::to_value(
                crate::preset::load("asr-oracle", None, false, &[]).unwrap().teacher.encoder
            ).unwrap(),
            "data": {}, "preset": "asr-oracle", "seed": 0, "teacher": "-", "kd": "ctc",
            "revision": "abc"
        }))
        .unwrap();
        assert_eq!(old.trained_cpu(), "unknown");
        let new = ModelMeta {
            revision: Some("def".into()),
            cpu: Some(ctc_core::cpu::numbers_line()),
            ..old.clone()
        };
        assert_eq!(identity(&old, None).unwrap(), identity(&new, None).unwrap());
        let id = identity(&new, Some(7)).unwrap();
        assert!(id["model"].get("cpu").is_none(), "{id}");
        assert_eq!(id["model"]["revision"], serde_json::Value::Null);
        assert!(
            new.trained_cpu().contains("; GEMM "),
            "{}",
            new.trained_cpu()
        );
    }

    #[test]
    fn the_selection_subset_is_the_largest_dev_subset_capped_at_half_of_dev() {
        let p = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            crate::preset::load("asr-oracle", None, false, &sets).unwrap()
        };
        // Every model of the speech preset selects on 150 of its 300 dev utterances.
        assert_eq!(selection_len(&p(&[]), 300), 150);
        assert_eq!(
            selection_len(&p(&["oracle.train.dev_subset=200"]), 300),
            150
        );
        assert_eq!(
            selection_len(&p(&["oracle.train.dev_subset=200"]), 500),
            200
        );
        assert_eq!(selection_len(&p(&[]), 24), 12);
        let none = p(&[
            "teacher.train.dev_subset=20",
            "oracle.train.dev_subset=20",
            "student.train.dev_subset=20",
        ]);
        assert_eq!(selection_len(&none, 300), 20);
    }
}

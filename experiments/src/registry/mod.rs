//! The one list of tasks the binary knows. Each entry says how its task builds its corpus from
//! a preset, rebuilds itself for an exported model, reads a manifest for `eval` and the input
//! files of its decode verb; everything after that is generic over `Task`. Adding a task means
//! one crate under tasks/ and one entry here.

mod asr;
mod classify;
mod scene_text;
mod toy;

pub use asr::write_synth_split;

use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use candle_core::Device;
use ctc_core::admit::Admitted;
use ctc_core::metrics::Scores;
use ctc_core::task::{Splits, WordMetric};
use ctc_core::train::evaluate;
use ctc_core::vocab::Vocab;
use ctc_core::Task;

use crate::clusters::Clustered;
use crate::infer::{decode_files, EvalArgs, Loaded};
use crate::pipeline::ModelMeta;
use crate::seeds::{run_seeds, RunInputs};

/// A manifest's examples, the entries left out with `--skip-bad` (how many, and the loaders'
/// reports of why) and the entries scored although CTC training could not use them.
pub struct Manifest<E> {
    pub examples: Vec<E>,
    pub skipped: usize,
    pub untrainable: usize,
    pub reports: Vec<String>,
}

impl<E> Manifest<E> {
    /// A manifest of what the task admitted for scoring, after the loader skipped `skipped`
    /// entries (its report in `reports`).
    pub fn scored(admitted: Admitted<E>, skipped: usize, mut reports: Vec<String>) -> Self {
        reports.extend(admitted.summary("manifest", "entries"));
        Self {
            skipped: skipped + admitted.skipped.len(),
            untrainable: admitted.untrainable.len(),
            examples: admitted.examples,
            reports,
        }
    }
}

/// A model's scores on a manifest: entries skipped with `--skip-bad`, and entries scored that
/// CTC training could not have used (too short for their labels, characters outside the
/// vocabulary, empty references).
pub struct Scored {
    pub scores: Scores,
    pub skipped: usize,
    pub untrainable: usize,
}

/// What a task contributes to the binary.
pub trait Registered: Sync + 'static {
    /// The examples name their clusters (speakers, fonts) for `compare`'s cluster bootstrap.
    type T: Task<Example: Clustered>;
    /// The verb that decodes raw input files with this task's models.
    const DECODE_VERB: &'static str;
    /// The task and its train / dev / test splits, from the preset's `[data]` table.
    fn build(
        p: &crate::preset::Preset,
        cache: &Path,
        progress: bool,
    ) -> Result<(Self::T, Splits<Ex<Self>>)>;
    /// The task an exported model was trained on, with the model's vocabulary.
    fn for_model(meta: &ModelMeta, vocab: Vocab) -> Result<Self::T>;
    fn load_manifest(
        task: &Self::T,
        meta: &ModelMeta,
        path: &Path,
        skip_bad: bool,
    ) -> Result<Manifest<Ex<Self>>>;
    /// Unlabelled examples from raw input files (audio, images).
    fn load_inputs(task: &Self::T, meta: &ModelMeta, files: &[PathBuf]) -> Result<Vec<Ex<Self>>>;
}

type Ex<R> = <<R as Registered>::T as Task>::Example;

/// A registered task with its types erased, so the registry is one list.
pub trait Entry: Sync {
    fn name(&self) -> &'static str;
    fn words(&self) -> WordMetric;
    fn decode_verb(&self) -> &'static str;
    /// What the task's test examples are clustered by, plural ("speakers", "fonts"); `None`
    /// where they are not.
    fn cluster_unit(&self) -> Option<&'static str>;
    fn run(&self, inputs: &RunInputs) -> Result<()>;
    /// Scores of a model on a manifest, and how many entries were skipped.
    fn eval(&self, a: &EvalArgs, meta: &ModelMeta, vocab: Vocab, dev: &Device) -> Result<Scored>;
    fn decode(
        &self,
        model_dir: &Path,
        meta: &ModelMeta,
        vocab: Vocab,
        files: &[PathBuf],
        beam: Option<usize>,
        dev: &Device,
    ) -> Result<()>;
}

struct Reg<R>(PhantomData<R>);

impl<R: Registered> Entry for Reg<R> {
    fn name(&self) -> &'static str {
        R::T::NAME
    }
    fn words(&self) -> WordMetric {
        R::T::WORDS
    }
    fn decode_verb(&self) -> &'static str {
        R::DECODE_VERB
    }
    fn cluster_unit(&self) -> Option<&'static str> {
        <Ex<R> as Clustered>::UNIT
    }

    fn run(&self, inputs: &RunInputs) -> Result<()> {
        let (task, splits) = R::build(inputs.preset, inputs.data_cache, inputs.progress)?;
        run_seeds(inputs, &task, &splits)
    }

    fn eval(&self, a: &EvalArgs, meta: &ModelMeta, vocab: Vocab, dev: &Device) -> Result<Scored> {
        let task = R::for_model(meta, vocab)?;
        let m = R::load_manifest(&task, meta, &a.manifest, a.skip_bad)?;
        if m.skipped > 0 {
            eprintln!(
                "{}: skipped {} of {} entries",
                a.manifest.display(),
                m.skipped,
                m.skipped + m.examples.len()
            );
        }
        for r in &m.reports {
            eprintln!("{r}");
        }
        let model = Loaded::new(&task, meta, &a.model, dev)?;
        let ev = evaluate(&task, &m.examples, a.batch_size, dev, |b| model.logits(b))?;
        Ok(Scored {
            scores: ev.scores,
            skipped: m.skipped,
            untrainable: m.untrainable,
        })
    }

    fn decode(
        &self,
        model_dir: &Path,
        meta: &ModelMeta,
        vocab: Vocab,
        files: &[PathBuf],
        beam: Option<usize>,
        dev: &Device,
    ) -> Result<()> {
        let task = R::for_model(meta, vocab)?;
        let items = R::load_inputs(&task, meta, files)?;
        let model = Loaded::new(&task, meta, model_dir, dev)?;
        decode_files(&task, &model, items, files, beam, dev)
    }
}

static ASR: Reg<asr::Speech> = Reg(PhantomData);
static SCENE_TEXT: Reg<scene_text::WordImages> = Reg(PhantomData);
static TOY: Reg<toy::Toy> = Reg(PhantomData);
static CLASSIFY: Reg<classify::Images> = Reg(PhantomData);

/// Every task the binary knows.
pub fn all() -> [&'static dyn Entry; 4] {
    [&ASR, &SCENE_TEXT, &TOY, &CLASSIFY]
}

pub fn names() -> Vec<&'static str> {
    all().iter().map(|e| e.name()).collect()
}

pub fn find(name: &str) -> Result<&'static dyn Entry> {
    match all().into_iter().find(|e| e.name() == name) {
        Some(e) => Ok(e),
        None => bail!("task {name:?}: expected one of {}", names().join(", ")),
    }
}

/// The run-log line on a split's CTC frames per label (alignment freedom: a label needs one
/// frame, and frames beyond it are where alignments can differ).
pub fn frames_per_label(split: &str, frames: usize, labels: usize, how: &str) -> String {
    format!(
        "{split}: {:.2} CTC frames per label ({frames} frames, {labels} labels, {how})",
        frames as f64 / labels.max(1) as f64
    )
}

/// Refuse keys of a preset's `[data]` table that the task does not read, so a misspelt
/// `--set data.x=...` is an error instead of being ignored.
pub fn check_data_keys(data: &toml::Table, known: &[&str], task: &str) -> Result<()> {
    if let Some(k) = data.keys().find(|k| !known.contains(&k.as_str())) {
        bail!(
            "preset data.{k}: the {task} task has no such key (it reads data.{})",
            known.join(", data.")
        );
    }
    Ok(())
}

/// `table[key]` as a config struct when the key is present (a switch: absent means off).
pub fn optional_section<C: serde::de::DeserializeOwned>(
    table: &toml::Table,
    key: &str,
    what: &str,
) -> Result<Option<C>> {
    use anyhow::Context;
    table
        .get(key)
        .map(|v| {
            v.clone()
                .try_into()
                .with_context(|| format!("{what}.{key}"))
        })
        .transpose()
}

/// Deserialize `table[key]` (or the whole table without a key) into a config struct; absent
/// keys give the struct's defaults.
pub fn section<C: serde::de::DeserializeOwned + Default>(
    table: &toml::Table,
    key: Option<&str>,
    what: &str,
) -> Result<C> {
    use anyhow::Context;
    let v = match key {
        None => Some(toml::Value::Table(table.clone())),
        Some(k) => table.get(k).cloned(),
    };
    match v {
        None => Ok(C::default()),
        Some(v) => v.try_into().with_context(|| match key {
            Some(k) => format!("{what}.{k}"),
            None => what.to_string(),
        }),
    }
}

//! The synthetic toy task: generated from the preset alone; it has no files to read.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use ctc_core::task::Splits;
use ctc_core::vocab::Vocab;
use toy::{ToyConfig, ToyExample, ToyTask};

use super::{section, Manifest, Registered};
use crate::pipeline::ModelMeta;
use crate::preset::Preset;

pub struct Toy;

fn config(data: &toml::Table, what: &str) -> Result<ToyConfig> {
    section(data, None, what)
}

impl Registered for Toy {
    type T = ToyTask;
    const DECODE_VERB: &'static str = "transcribe";

    fn build(p: &Preset, _cache: &Path, _progress: bool) -> Result<(ToyTask, Splits<ToyExample>)> {
        let mut cfg = config(&p.data, "preset data")?;
        cfg.seed = cfg.seed.wrapping_add(p.seed);
        Ok(ToyTask::generate(&cfg)?)
    }

    fn for_model(meta: &ModelMeta, _vocab: Vocab) -> Result<ToyTask> {
        bail!(
            "a toy model ({} {}) is scored by `run` on its generated splits; the toy task reads \
             no files",
            meta.role,
            meta.kd
        )
    }

    fn load_manifest(
        _task: &ToyTask,
        _meta: &ModelMeta,
        path: &Path,
        _skip_bad: bool,
    ) -> Result<Manifest<ToyExample>> {
        bail!(
            "{}: toy models are scored on their generated splits by `run`; the toy task has \
             no manifest format",
            path.display()
        )
    }

    fn load_inputs(
        _task: &ToyTask,
        _meta: &ModelMeta,
        _files: &[PathBuf],
    ) -> Result<Vec<ToyExample>> {
        bail!("the toy task has no input file format: its examples are generated")
    }
}

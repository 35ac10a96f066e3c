//! Building each task and its splits from a preset's `[data]` table.

use std::path::Path;

use anyhow::{Context, Result};
use tasks::task::Splits;
use tasks::toy::{ToyConfig, ToyExample, ToyTask};

use crate::preset::Preset;

/// Deserialize the preset's `[data]` table (or one of its sub-tables) into a config struct.
pub fn section<C: serde::de::DeserializeOwned + Default>(p: &Preset, key: Option<&str>) -> Result<C> {
    let v = match key {
        None => Some(toml::Value::Table(p.data.clone())),
        Some(k) => p.data.get(k).cloned(),
    };
    match v {
        None => Ok(C::default()),
        Some(v) => v
            .try_into()
            .with_context(|| format!("preset [data{}]", key.map(|k| format!(".{k}")).unwrap_or_default())),
    }
}

pub fn toy(p: &Preset) -> Result<(ToyTask, Splits<ToyExample>)> {
    let mut cfg: ToyConfig = section(p, None)?;
    cfg.seed = cfg.seed.wrapping_add(p.seed);
    Ok(ToyTask::generate(&cfg)?)
}

pub fn asr(_p: &Preset, _cache: &Path, _progress: bool) -> Result<(tasks::toy::ToyTask, Splits<ToyExample>)> {
    anyhow::bail!("asr data: not yet wired")
}

pub fn scene_text(_p: &Preset, _cache: &Path, _progress: bool) -> Result<(tasks::toy::ToyTask, Splits<ToyExample>)> {
    anyhow::bail!("str data: not yet wired")
}

//! Export a trained model on its own: weights (safetensors), its config (JSON) and its
//! vocabulary, in one directory that loads without any teacher or prediction head.
//!
//! The directory is written under a temporary name and renamed into place, so a reader never
//! sees a half-written model.

use std::path::Path;

use crate::params::ParamStore;
use crate::vocab::Vocab;
use candle_core::{Result, Tensor};
use serde::{de::DeserializeOwned, Serialize};

pub const WEIGHTS: &str = "model.safetensors";
pub const CONFIG: &str = "config.json";
pub const VOCAB: &str = "vocab.json";

fn msg(path: &Path, e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {e}", path.display()))
}

/// Save the variables of `store` whose names start with `prefix` (renamed without it), with
/// `config` and `vocab`, as the model directory `dir`.
pub fn export<C: Serialize>(
    dir: &Path,
    store: &ParamStore,
    prefix: &str,
    config: &C,
    vocab: &Vocab,
) -> Result<()> {
    let tmp = dir.with_extension("tmp");
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| msg(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| msg(&tmp, e))?;
    let tensors: std::collections::HashMap<String, Tensor> = store
        .vars_with_prefix(prefix)
        .into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_string(), v.as_tensor().clone()))
        .collect();
    if tensors.is_empty() {
        candle_core::bail!("export: no parameters under prefix {prefix:?}");
    }
    candle_core::safetensors::save(&tensors, tmp.join(WEIGHTS))?;
    let json = serde_json::to_string_pretty(config).map_err(|e| msg(&tmp, e))?;
    std::fs::write(tmp.join(CONFIG), json).map_err(|e| msg(&tmp, e))?;
    vocab.save(&tmp.join(VOCAB)).map_err(|e| msg(&tmp, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| msg(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| msg(dir, e))
}

/// Read an exported model's config and vocabulary.
pub fn read_config<C: DeserializeOwned>(dir: &Path) -> Result<(C, Vocab)> {
    let path = dir.join(CONFIG);
    let text = std::fs::read_to_string(&path).map_err(|e| msg(&path, e))?;
    let cfg = serde_json::from_str(&text).map_err(|e| msg(&path, e))?;
    let vpath = dir.join(VOCAB);
    let vocab = Vocab::load(&vpath).map_err(|e| msg(&vpath, e))?;
    Ok((cfg, vocab))
}

/// Load an exported model's weights into `store`, whose variables (under `prefix`) must have
/// been created by building the same model.
pub fn load_weights(dir: &Path, store: &ParamStore, prefix: &str) -> Result<()> {
    let path = dir.join(WEIGHTS);
    let tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu)
        .map_err(|e| msg(&path, e))?;
    let renamed = tensors
        .into_iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v))
        .collect();
    store.load(&renamed).map_err(|e| msg(&path, e))
}

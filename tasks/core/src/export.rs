//! Export a trained model on its own: weights (safetensors), its config (JSON) and its
//! vocabulary, in one directory that loads without any teacher or prediction head.
//!
//! Every file is written atomically into a temporary directory, which is then renamed into
//! place, so a reader never sees a half-written model. `checksums.json` records the hash of the
//! weights file; loading checks it (when present: exports from before it have none), then every
//! tensor's name, shape and dtype against the model being built, and refuses any mismatch.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::params::ParamStore;
use crate::train::checkpoint::{check_tensors, read_tensors};
use crate::vocab::Vocab;
use candle_core::{DType, Device, Result, Tensor};
use serde::{de::DeserializeOwned, Serialize};

pub const WEIGHTS: &str = "model.safetensors";
pub const CONFIG: &str = "config.json";
pub const VOCAB: &str = "vocab.json";
pub const CHECKSUMS: &str = "checksums.json";

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
    let tensors: HashMap<String, Tensor> = store
        .vars_with_prefix(prefix)
        .into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_string(), v.as_tensor().clone()))
        .collect();
    if tensors.is_empty() {
        candle_core::bail!("export: no parameters under prefix {prefix:?}");
    }
    let wpath = tmp.join(WEIGHTS);
    crate::io::save_safetensors(&wpath, &tensors)?;
    let bytes = std::fs::read(&wpath).map_err(|e| msg(&wpath, e))?;
    let sums = BTreeMap::from([(WEIGHTS.to_string(), file_hash(&bytes))]);
    write_json(&tmp.join(CHECKSUMS), &sums)?;
    write_json(&tmp.join(CONFIG), config)?;
    vocab.save(&tmp.join(VOCAB)).map_err(|e| msg(&tmp, e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| msg(&tmp, e))?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| msg(dir, e))?;
    }
    std::fs::rename(&tmp, dir).map_err(|e| msg(dir, e))
}

fn write_json<S: Serialize + ?Sized>(path: &Path, value: &S) -> Result<()> {
    let json = serde_json::to_string_pretty(value).map_err(|e| msg(path, e))?;
    crate::io::write_atomic(path, json.as_bytes()).map_err(|e| msg(path, e))
}

fn file_hash(bytes: &[u8]) -> String {
    format!("{:016x}", crate::io::fnv1a(bytes))
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

/// The recorded hash of the weights file, if the export has `checksums.json`.
fn recorded_hash(dir: &Path) -> Result<Option<String>> {
    let path = dir.join(CHECKSUMS);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| msg(&path, e))?;
    let sums: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| msg(&path, e))?;
    match sums.get(WEIGHTS) {
        Some(h) => Ok(Some(h.clone())),
        None => Err(msg(&path, format!("no hash for {WEIGHTS}"))),
    }
}

/// Load an exported model's weights into `store`, whose variables (under `prefix`) must have
/// been created by building the same model: the file must hold exactly those tensors, with
/// their shapes and dtypes (the first difference is named), and match its recorded hash.
/// Nothing changes unless everything matches.
pub fn load_weights(dir: &Path, store: &ParamStore, prefix: &str) -> Result<()> {
    let path = dir.join(WEIGHTS);
    let vars = store.vars_with_prefix(prefix);
    let dev = vars
        .first()
        .map_or(Device::Cpu, |(_, v)| v.device().clone());
    let hash = recorded_hash(dir)?;
    let tensors = read_tensors(&path, &dev, hash.as_deref())?;
    let renamed: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v))
        .collect();
    let want: Vec<(String, &Tensor)> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor()))
        .collect();
    check_tensors(&path, &renamed, &want)?;
    for (name, var) in &vars {
        var.set(&renamed[name])
            .map_err(|e| msg(&path, format!("{name}: {e}")))?;
    }
    Ok(())
}

/// A hash of the values of `store`'s variables under `prefix` (names, dtypes, shapes and every
/// element), identifying one set of trained weights, e.g. the teacher a cache was computed
/// from.
pub fn weights_fingerprint(store: &ParamStore, prefix: &str) -> Result<u64> {
    let mut h = crate::io::Fnv1a::new();
    for (name, var) in store.vars_with_prefix(prefix) {
        let t = var.as_tensor();
        h.update(name.as_bytes());
        h.update(format!("{:?}{:?}", t.dtype(), t.dims()).as_bytes());
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        for v in values {
            h.update(&v.to_le_bytes());
        }
    }
    Ok(h.finish())
}

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;

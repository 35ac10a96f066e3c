//! Resumable training checkpoints, written so that a crash never leaves one half-written.
//!
//! A checkpoint is a directory: `model.safetensors` (weights by variable name),
//! `optimizer.safetensors` (`m/<name>`, `v/<name>`), `state.json` (step, optimizer step and
//! hyper-parameters with per-variable steps, schedule, RNG state, free user JSON) and the
//! marker `COMPLETE`, written last. It is assembled in a hidden sibling directory and swapped
//! in by renames; if a crash falls between the two renames, the previous checkpoint survives
//! as `.<name>.old` and `load_checkpoint` uses it.
//!
//! `state.json` also records the FNV-1a hash of each tensor file, checked on load, so a file
//! changed or damaged after it was written is refused rather than resumed from.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::adamw::{AdamW, AdamWState, MomentState, ParamsAdamW};
use super::schedule::Schedule;
use crate::rng::Rng;

pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
pub const STATE_FILE: &str = "state.json";
pub const COMPLETE_MARKER: &str = "COMPLETE";
const FORMAT: u32 = 1;

/// The training-loop state saved beside the weights and optimizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainMeta {
    /// Training steps done.
    pub step: usize,
    pub schedule: Schedule,
    /// `Rng::state()` of the run's generator.
    pub rng: [u64; 4],
    /// Anything else the trainer needs to resume (e.g. the best dev error so far).
    #[serde(default)]
    pub extra: serde_json::Value,
    /// What the checkpoint belongs to (`identity::run_identity`), compared on resume; absent in
    /// checkpoints written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

impl TrainMeta {
    pub fn rng(&self) -> Rng {
        Rng::from_state(self.rng)
    }
}

#[derive(Serialize, Deserialize)]
struct OptimizerMeta {
    step: usize,
    params: ParamsAdamW,
    var_steps: BTreeMap<String, usize>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sidecar {
    format: u32,
    train: TrainMeta,
    optimizer: OptimizerMeta,
    /// File name -> FNV-1a (hex) of its bytes, for the tensor files.
    #[serde(default)]
    files: BTreeMap<String, String>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {e}", path.display()))
}

fn sync_path(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err(path, e))
}

/// Save `tensors` atomically and return the hash of the file written.
fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<String> {
    crate::io::save_safetensors(path, tensors)?;
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    Ok(file_hash(&bytes))
}

fn file_hash(bytes: &[u8]) -> String {
    format!("{:016x}", crate::io::fnv1a(bytes))
}

/// Save the values of `vars` to one safetensors file, atomically (temp file + rename).
pub fn save_weights(path: &Path, vars: &[(String, Var)]) -> Result<()> {
    let map = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    crate::io::save_safetensors(path, &map)
}

/// Read a safetensors file; `hash`: the FNV-1a its bytes must have.
pub(crate) fn read_tensors(
    path: &Path,
    dev: &Device,
    hash: Option<&str>,
) -> Result<HashMap<String, Tensor>> {
    if !path.exists() {
        candle_core::bail!("{}: missing", path.display());
    }
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    if let Some(want) = hash {
        let got = file_hash(&bytes);
        if got != want {
            candle_core::bail!(
                "{}: corrupt: its content hash is {got}, {want} when it was written",
                path.display()
            );
        }
    }
    candle_core::safetensors::load_buffer(&bytes, dev).map_err(|e| {
        io_err(
            path,
            format!("unreadable safetensors (truncated or not a safetensors file): {e}"),
        )
    })
}

/// Check that `tensors` has exactly the names in `want` (with the given shapes and dtypes).
pub(crate) fn check_tensors(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    want: &[(String, &Tensor)],
) -> Result<()> {
    for (name, like) in want {
        let Some(t) = tensors.get(name) else {
            candle_core::bail!("{}: lacks tensor {name:?}", path.display());
        };
        if t.shape() != like.shape() || t.dtype() != like.dtype() {
            candle_core::bail!(
                "{}: tensor {name:?} is {:?} {:?}, the model expects {:?} {:?}",
                path.display(),
                t.dtype(),
                t.shape(),
                like.dtype(),
                like.shape()
            );
        }
    }
    if tensors.len() != want.len() {
        let known: std::collections::HashSet<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
        let mut extra: Vec<&str> = tensors
            .keys()
            .map(String::as_str)
            .filter(|n| !known.contains(n))
            .collect();
        extra.sort_unstable();
        candle_core::bail!("{}: tensors the model lacks: {extra:?}", path.display());
    }
    Ok(())
}

fn device_of(vars: &[(String, Var)]) -> Device {
    vars.first()
        .map_or(Device::Cpu, |(_, v)| v.device().clone())
}

/// Load a safetensors file written by `save_weights` into `vars` (by name). Every tensor is
/// checked before any variable changes, so a failed load leaves the model as it was.
pub fn load_weights(path: &Path, vars: &[(String, Var)]) -> Result<()> {
    let tensors = read_tensors(path, &device_of(vars), None)?;
    let want: Vec<(String, &Tensor)> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor()))
        .collect();
    check_tensors(path, &tensors, &want)?;
    for (name, var) in vars {
        var.set(&tensors[name])
            .map_err(|e| io_err(path, format!("{name}: {e}")))?;
    }
    Ok(())
}

fn hidden_sibling(dir: &Path, suffix: &str) -> Result<PathBuf> {
    let name = dir.file_name().ok_or_else(|| {
        candle_core::Error::Msg(format!("{}: not a directory name", dir.display()))
    })?;
    Ok(dir.with_file_name(format!(".{}.{suffix}", name.to_string_lossy())))
}

fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(dir, e)),
        _ => Ok(()),
    }
}

/// Save a resumable checkpoint of `vars`, the optimizer and `meta` to directory `dir`,
/// replacing any previous one there.
pub fn save_checkpoint(
    dir: &Path,
    vars: &[(String, Var)],
    opt: &AdamW,
    meta: &TrainMeta,
) -> Result<()> {
    let staging = hidden_sibling(dir, "partial")?;
    let old = hidden_sibling(dir, "old")?;
    remove_dir_if_exists(&staging)?;
    std::fs::create_dir_all(&staging).map_err(|e| io_err(&staging, e))?;

    let weights: HashMap<String, Tensor> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
        .collect();
    let mut files = BTreeMap::new();
    let h = save_tensors(&staging.join(WEIGHTS_FILE), &weights)?;
    files.insert(WEIGHTS_FILE.to_string(), h);
    let st = opt.state();
    let mut moments = HashMap::new();
    let mut var_steps = BTreeMap::new();
    for ms in &st.vars {
        moments.insert(format!("m/{}", ms.name), ms.m.clone());
        moments.insert(format!("v/{}", ms.name), ms.v.clone());
        var_steps.insert(ms.name.clone(), ms.step);
    }
    let h = save_tensors(&staging.join(OPTIMIZER_FILE), &moments)?;
    files.insert(OPTIMIZER_FILE.to_string(), h);
    let sidecar = Sidecar {
        format: FORMAT,
        train: meta.clone(),
        optimizer: OptimizerMeta {
            step: st.step,
            params: st.params,
            var_steps,
        },
        files,
    };
    let state_path = staging.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(&sidecar).map_err(|e| io_err(&state_path, e))?;
    crate::io::write_atomic(&state_path, &json).map_err(|e| io_err(&state_path, e))?;
    let marker = staging.join(COMPLETE_MARKER);
    crate::io::write_atomic(&marker, format!("step {}\n", meta.step).as_bytes())
        .map_err(|e| io_err(&marker, e))?;
    sync_path(&staging)?;

    remove_dir_if_exists(&old)?;
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(|e| io_err(dir, e))?;
    }
    std::fs::rename(&staging, dir).map_err(|e| io_err(dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_path(parent)?;
    }
    remove_dir_if_exists(&old)
}

/// The directory holding the complete checkpoint saved as `dir`, if any (see module docs).
pub fn complete_checkpoint(dir: &Path) -> Option<PathBuf> {
    if dir.join(COMPLETE_MARKER).is_file() {
        return Some(dir.to_path_buf());
    }
    let old = hidden_sibling(dir, "old").ok()?;
    old.join(COMPLETE_MARKER).is_file().then_some(old)
}

fn read_sidecar(dir: &Path) -> Result<(PathBuf, Sidecar)> {
    let Some(src) = complete_checkpoint(dir) else {
        candle_core::bail!(
            "{}: no complete checkpoint (marker {COMPLETE_MARKER} missing: absent or interrupted save)",
            dir.display()
        );
    };
    let state_path = src.join(STATE_FILE);
    let text = std::fs::read_to_string(&state_path).map_err(|e| io_err(&state_path, e))?;
    let sc: Sidecar = serde_json::from_str(&text).map_err(|e| io_err(&state_path, e))?;
    if sc.format != FORMAT {
        candle_core::bail!(
            "{}: format {} (this build reads {FORMAT})",
            state_path.display(),
            sc.format
        );
    }
    Ok((src, sc))
}

/// The training state of the checkpoint at `dir` without loading its tensors (e.g. to check
/// what it belongs to before restoring it).
pub fn read_checkpoint_meta(dir: &Path) -> Result<TrainMeta> {
    Ok(read_sidecar(dir)?.1.train)
}

/// Restore `vars` and `opt` from the checkpoint at `dir` and return the training state
/// (call `.rng()` on it for the generator). Everything is checked before anything changes.
pub fn load_checkpoint(dir: &Path, vars: &[(String, Var)], opt: &mut AdamW) -> Result<TrainMeta> {
    let (src, sc) = read_sidecar(dir)?;
    let state_path = src.join(STATE_FILE);
    let dev = device_of(vars);
    let hash = |f: &str| sc.files.get(f).map(String::as_str);
    let wpath = src.join(WEIGHTS_FILE);
    let weights = read_tensors(&wpath, &dev, hash(WEIGHTS_FILE))?;
    let want: Vec<(String, &Tensor)> = vars
        .iter()
        .map(|(n, v)| (n.clone(), v.as_tensor()))
        .collect();
    check_tensors(&wpath, &weights, &want)?;

    let opath = src.join(OPTIMIZER_FILE);
    let mut moments = read_tensors(&opath, &dev, hash(OPTIMIZER_FILE))?;
    let mut want = Vec::new();
    for (name, var) in opt.vars() {
        want.push((format!("m/{name}"), var.as_tensor()));
        want.push((format!("v/{name}"), var.as_tensor()));
    }
    check_tensors(&opath, &moments, &want)?;
    let mut states = Vec::new();
    for (name, _) in opt.vars() {
        let Some(&step) = sc.optimizer.var_steps.get(name) else {
            candle_core::bail!(
                "{}: no optimizer step for variable {name:?}",
                state_path.display()
            );
        };
        let take =
            |m: &mut HashMap<String, Tensor>, k: String| m.remove(&k).expect("checked above");
        states.push(MomentState {
            name: name.to_string(),
            step,
            m: take(&mut moments, format!("m/{name}")),
            v: take(&mut moments, format!("v/{name}")),
        });
    }
    let state = AdamWState {
        step: sc.optimizer.step,
        params: sc.optimizer.params,
        vars: states,
    };
    opt.set_state(state).map_err(|e| io_err(&opath, e))?;
    for (name, var) in vars {
        var.set(&weights[name])
            .map_err(|e| io_err(&wpath, format!("{name}: {e}")))?;
    }
    Ok(sc.train)
}

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;

//! Checkpoint glue between the loop and `checkpoint`: the report (curve, best,
//! time to target) travels in the checkpoint's extra JSON so resume restores it exactly, and the
//! run's identity travels beside it, so a checkpoint of another run is refused.

use std::path::Path;

use super::identity::first_difference;
use super::{checkpoint, AdamW, Schedule, TrainMeta};
use crate::Rng;
use candle_core::{Result, Var};

use super::TrainReport;

/// What `save` writes besides the tensors and the report, fixed for a run.
pub struct Saved<'a> {
    pub schedule: &'a Schedule,
    pub rng: &'a Rng,
    pub identity: &'a serde_json::Value,
}

pub fn save(
    dir: &Path,
    vars: &[(String, Var)],
    opt: &AdamW,
    s: &Saved,
    report: &TrainReport,
) -> Result<()> {
    let meta = TrainMeta {
        step: report.steps,
        schedule: s.schedule.clone(),
        rng: s.rng.state(),
        extra: serde_json::to_value(report).map_err(|e| candle_core::Error::Msg(e.to_string()))?,
        config: Some(s.identity.clone()),
    };
    checkpoint::save_checkpoint(dir, vars, opt, &meta)
}

/// Restore the last complete checkpoint, if there is one. One that records another identity
/// (another model config, seed, training set or optimisation) is refused before anything is
/// loaded; one written before identities were recorded is resumed as it is.
pub fn resume(
    dir: &Path,
    vars: &[(String, Var)],
    opt: &mut AdamW,
    rng: &mut Rng,
    identity: &serde_json::Value,
) -> Result<Option<TrainReport>> {
    let Some(src) = checkpoint::complete_checkpoint(dir) else {
        return Ok(None);
    };
    if let Some(found) = checkpoint::read_checkpoint_meta(dir)?.config {
        if let Some(d) = first_difference(&found, identity) {
            candle_core::bail!(
                "{}: the checkpoint belongs to another run ({d}); delete it to train from scratch",
                src.display()
            );
        }
    }
    let meta = checkpoint::load_checkpoint(dir, vars, opt)?;
    *rng = meta.rng();
    let report: TrainReport = serde_json::from_value(meta.extra)
        .map_err(|e| candle_core::Error::Msg(format!("{}: training report: {e}", dir.display())))?;
    Ok(Some(report))
}

pub fn save_weights(dir: &Path, vars: &[(String, Var)]) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", dir.display())))?;
    checkpoint::save_weights(&dir.join(checkpoint::WEIGHTS_FILE), vars)
}

pub fn load_weights(dir: &Path, vars: &[(String, Var)]) -> Result<()> {
    checkpoint::load_weights(&dir.join(checkpoint::WEIGHTS_FILE), vars)
}

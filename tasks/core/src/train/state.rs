//! Checkpoint glue between the loop and `checkpoint`: the report (curve, best,
//! time to target) travels in the checkpoint's extra JSON so resume restores it exactly.

use std::path::Path;

use super::{checkpoint, AdamW, Schedule, TrainMeta};
use crate::Rng;
use candle_core::{Result, Var};

use super::TrainReport;

pub fn save(
    dir: &Path,
    vars: &[(String, Var)],
    opt: &AdamW,
    schedule: &Schedule,
    rng: &Rng,
    report: &TrainReport,
) -> Result<()> {
    let meta = TrainMeta {
        step: report.steps,
        schedule: schedule.clone(),
        rng: rng.state(),
        extra: serde_json::to_value(report).map_err(|e| candle_core::Error::Msg(e.to_string()))?,
    };
    checkpoint::save_checkpoint(dir, vars, opt, &meta)
}

/// Restore the last complete checkpoint, if there is one.
pub fn resume(
    dir: &Path,
    vars: &[(String, Var)],
    opt: &mut AdamW,
    rng: &mut Rng,
) -> Result<Option<TrainReport>> {
    if checkpoint::complete_checkpoint(dir).is_none() {
        return Ok(None);
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

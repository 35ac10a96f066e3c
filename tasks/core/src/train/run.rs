//! One training loop for teachers and students: AdamW + schedule, length-bucketed batches,
//! periodic dev evaluation, best and last checkpoints, exact resume, time-to-target.
//!
//! Exact resume without storing a data-loader position: the batch order of epoch `e` comes
//! from `Rng::derive(seed, e)` and every step's dropout/augmentation stream from the step
//! number, so a run restarted from step `s` sees exactly what the uninterrupted run saw.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::state;
use super::step::{apply_update, StepInputs};
use super::{evaluate, AdamW, ParamsAdamW, RunLog, TrainConfig};
use crate::batch::bucketed_batches;
use crate::{Batch, Fwd, Rng, Task};

/// A model the shared loop can train. Everything task-specific has happened in `collate` and
/// the task's encoder by the time a batch reaches it.
pub trait Trainable: Sync {
    /// The objective for one batch, and named parts for the log.
    fn loss(&self, batch: &Batch, fwd: &mut Fwd) -> Result<LossOut>;
    /// (B, T, V') scores for greedy evaluation, and valid frames per example.
    fn eval_logits(&self, batch: &Batch) -> Result<(Tensor, Vec<usize>)>;
    /// Parameter-name prefixes whose gradients are clipped as groups of their own, each to the
    /// configured norm (the remaining parameters form one more group). Two models trained in one
    /// loop then step as each would alone. Default: one group.
    fn clip_groups(&self) -> Vec<String> {
        Vec::new()
    }
}

pub struct LossOut {
    pub total: Tensor,
    pub parts: Vec<(String, f32)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CurvePoint {
    pub step: usize,
    /// Training seconds so far (evaluation time excluded).
    pub seconds: f64,
    pub dev_error: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TrainReport {
    pub steps: usize,
    pub train_seconds: f64,
    pub curve: Vec<CurvePoint>,
    pub steps_to_target: Option<usize>,
    pub seconds_to_target: Option<f64>,
    /// The selection error (dev CER, on the selection subset) of the selected step.
    pub best_error: Option<f64>,
    pub best_step: Option<usize>,
}

/// Everything a training run needs besides the model.
pub struct TrainRun<'a, T: Task> {
    pub task: &'a T,
    pub train: &'a [T::Example],
    pub dev: &'a [T::Example],
    pub cfg: &'a TrainConfig,
    pub seed: u64,
    pub device: &'a Device,
    /// Checkpoints, log and report go here.
    pub out: PathBuf,
    pub name: String,
    pub progress: bool,
}

const LAST: &str = "last";
const BEST: &str = "best";

impl<T: Task> TrainRun<'_, T> {
    pub fn best_dir(&self) -> PathBuf {
        self.out.join(BEST)
    }

    /// Train `vars` of `model` and leave the chosen weights (best-by-dev or last) loaded.
    pub fn run<M: Trainable>(&self, model: &M, vars: Vec<(String, Var)>) -> Result<TrainReport> {
        std::fs::create_dir_all(&self.out).map_err(|e| io_err(&self.out, e))?;
        let mut log = RunLog::open(
            &self.out.join("log.txt"),
            &self.name,
            self.cfg.steps,
            self.progress,
        )?;
        let cfg = self.cfg;
        if cfg.shards == 0 {
            candle_core::bail!("{}: train.shards must be at least 1", self.name);
        }
        let mut opt = AdamW::new(
            vars.clone(),
            ParamsAdamW {
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                ..Default::default()
            },
        )?;
        let schedule = cfg.schedule();
        let mut report = TrainReport::default();
        let mut rng = Rng::derive(self.seed, 0xC0FFEE);
        if let Some(r) = state::resume(&self.out.join(LAST), &vars, &mut opt, &mut rng)? {
            log.line(&format!("resumed at step {}", r.steps))?;
            report = r;
        }
        let lens: Vec<usize> = self.train.iter().map(|e| self.task.source_len(e)).collect();
        if lens.is_empty() {
            candle_core::bail!("{}: the training set is empty", self.name);
        }
        let per_epoch = lens.len().div_ceil(cfg.batch_size.max(1));
        let mut epoch_batches: Option<(usize, Vec<Vec<usize>>)> = None;
        let dev_n = cfg.dev_subset.unwrap_or(self.dev.len()).min(self.dev.len());
        let dev = &self.dev[..dev_n];
        let mut step = report.steps;
        let clip_groups = model.clip_groups();
        while step < cfg.steps {
            if cfg.max_seconds.is_some_and(|m| report.train_seconds >= m) {
                log.line(&format!("time budget reached at step {step}"))?;
                break;
            }
            let (epoch, pos) = (step / per_epoch, step % per_epoch);
            if epoch_batches.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let mut r = Rng::derive(self.seed, epoch as u64);
                epoch_batches = Some((epoch, bucketed_batches(&lens, cfg.batch_size, &mut r)));
            }
            let idx: &[usize] = epoch_batches.as_ref().map_or(&[], |(_, b)| &b[pos]);
            let t0 = Instant::now();
            let sharded = StepInputs {
                task: self.task,
                train: self.train,
                idx,
                seed: self.seed,
                step,
                shards: cfg.shards,
                device: self.device,
            }
            .run_with(model, cfg.augment)?;
            let loss_val = sharded.loss;
            if !loss_val.is_finite() {
                candle_core::bail!("{}: non-finite loss {loss_val} at step {step}", self.name);
            }
            opt.set_lr(schedule.lr(cfg.lr, step));
            apply_update(&mut opt, &vars, &clip_groups, sharded.grads, cfg.clip)?;
            step += 1;
            report.steps = step;
            report.train_seconds += t0.elapsed().as_secs_f64();
            log.step(
                step,
                loss_val,
                &sharded.parts,
                idx.len(),
                t0.elapsed().as_secs_f64(),
            );
            let at_end = step == cfg.steps;
            if step.is_multiple_of(cfg.eval_every.max(1)) || at_end {
                let ev = evaluate(self.task, dev, cfg.batch_size, self.device, |b| {
                    model.eval_logits(b)
                })?;
                self.record(&mut report, step, ev.error, ev.scores.cer, &vars)?;
                log.eval(step, ev.error, report.train_seconds)?;
            }
            // The final checkpoint is written after the loop (also after a time-budget stop).
            if step.is_multiple_of(cfg.checkpoint_every.max(1)) && !at_end {
                state::save(&self.out.join(LAST), &vars, &opt, &schedule, &rng, &report)?;
            }
        }
        state::save(&self.out.join(LAST), &vars, &opt, &schedule, &rng, &report)?;
        if cfg.select_best && self.best_dir().exists() {
            state::load_weights(&self.best_dir(), &vars)?;
        }
        log.finish(&report)?;
        Ok(report)
    }

    /// Record a dev evaluation: `error` (the task's) goes into the curve and the target,
    /// `cer` selects the model. One rule for every model: the lowest dev CER (for word images
    /// word error ties long, at low accuracy, where CER still moves), ties going to the later
    /// step.
    fn record(
        &self,
        report: &mut TrainReport,
        step: usize,
        error: f64,
        cer: f64,
        vars: &[(String, Var)],
    ) -> Result<()> {
        report.curve.push(CurvePoint {
            step,
            seconds: report.train_seconds,
            dev_error: error,
        });
        if let Some(target) = self.cfg.target_error {
            if report.steps_to_target.is_none() && error <= target {
                report.steps_to_target = Some(step);
                report.seconds_to_target = Some(report.train_seconds);
            }
        }
        if report.best_error.is_none_or(|b| cer <= b) {
            report.best_error = Some(cer);
            report.best_step = Some(step);
            if self.cfg.select_best {
                state::save_weights(&self.best_dir(), vars)?;
            }
        }
        Ok(())
    }
}

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {e}", path.display()))
}

//! Training budget and optimisation settings shared by teachers and students.

use super::Schedule;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub batch_size: usize,
    /// Step budget (the primary budget: it keeps seeded runs exactly reproducible).
    pub steps: usize,
    /// Optional wall-clock budget in training seconds; stops early when exceeded.
    pub max_seconds: Option<f64>,
    pub lr: f64,
    pub weight_decay: f64,
    /// Warmup steps of the default schedule (linear warmup, cosine decay to 5 % over `steps`).
    pub warmup: usize,
    /// An explicit schedule replaces the default.
    pub schedule: Option<Schedule>,
    /// Clip gradients to this global L2 norm (0 disables).
    pub clip: f64,
    pub eval_every: usize,
    /// Evaluate on at most this many dev examples during training (all at the end).
    pub dev_subset: Option<usize>,
    /// Dev error (percent) whose first crossing is recorded as steps/seconds to target.
    pub target_error: Option<f64>,
    /// Keep the best-by-dev weights as the result. Off for the oracle: its dev error is
    /// measured with the true labels fed, and a copying oracle would win that selection.
    pub select_best: bool,
    /// Save a resumable checkpoint every this many steps (and at the end).
    pub checkpoint_every: usize,
    /// Each batch is split into this many shards, run forward and backward on parallel
    /// threads (`min(shards, cores)` of them) and their gradients summed. Part of the run's
    /// identity: the same value gives the same numbers on any number of cores.
    pub shards: usize,
    /// Apply the task's training augmentation (`collate` with `train`); off, training batches
    /// are collated as for evaluation (e.g. a student that must see what its cached teacher
    /// saw). Not written when on, so existing presets keep their config hashes.
    #[serde(skip_serializing_if = "is_true")]
    pub augment: bool,
    /// A step whose loss or any gradient is NaN or infinite is skipped (no update); this many
    /// skipped in a row stop the run with an error, its last checkpoint holding the weights of
    /// the last good step. At least 1 (1: stop at the first). Not written at its default, so
    /// existing presets keep their config hashes.
    #[serde(skip_serializing_if = "is_default_nonfinite")]
    pub max_nonfinite_in_a_row: usize,
}

/// `TrainConfig::max_nonfinite_in_a_row` unless set.
pub const DEFAULT_MAX_NONFINITE_IN_A_ROW: usize = 20;

fn is_default_nonfinite(n: &usize) -> bool {
    *n == DEFAULT_MAX_NONFINITE_IN_A_ROW
}

impl TrainConfig {
    /// Reject settings the loop could only ignore or misread (a zero batch, step budget or
    /// interval, a non-finite rate), so a preset fails before any data is built.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("batch_size", self.batch_size),
            ("steps", self.steps),
            ("eval_every", self.eval_every),
            ("checkpoint_every", self.checkpoint_every),
            ("shards", self.shards),
        ] {
            if v == 0 {
                return Err(format!("{name} must be at least 1, got 0"));
            }
        }
        if self.dev_subset == Some(0) {
            return Err("dev_subset must be at least 1 (leave it out to use all)".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!("lr must be a finite number > 0, got {}", self.lr));
        }
        for (name, v) in [("weight_decay", self.weight_decay), ("clip", self.clip)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{name} must be a finite number >= 0, got {v}"));
            }
        }
        if let Some(m) = self.max_seconds.filter(|m| !(m.is_finite() && *m > 0.0)) {
            return Err(format!("max_seconds must be a finite number > 0, got {m}"));
        }
        if let Some(t) = self.target_error.filter(|t| !t.is_finite()) {
            return Err(format!("target_error must be finite, got {t}"));
        }
        match &self.schedule {
            Some(s) => s.validate().map_err(|e| format!("schedule: {e}")),
            None => Ok(()),
        }
    }

    pub fn schedule(&self) -> Schedule {
        self.schedule.clone().unwrap_or(Schedule::WarmupCosine {
            warmup: self.warmup,
            total: self.steps,
            min_ratio: 0.05,
        })
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 16,
            steps: 1000,
            max_seconds: None,
            lr: 1e-3,
            weight_decay: 1e-2,
            warmup: 100,
            schedule: None,
            clip: 5.0,
            eval_every: 100,
            dev_subset: None,
            target_error: None,
            select_best: true,
            checkpoint_every: 200,
            shards: 2,
            augment: true,
            max_nonfinite_in_a_row: DEFAULT_MAX_NONFINITE_IN_A_ROW,
        }
    }
}

fn is_true(b: &bool) -> bool {
    *b
}

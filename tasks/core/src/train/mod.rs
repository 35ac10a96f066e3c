//! The seeded training stack: AdamW with checkpointable state, learning-rate schedules,
//! global-norm gradient clipping, atomic resumable checkpoints, and the one training loop
//! every model (teacher, oracle, student) goes through.

pub mod adamw;
mod adamw_kernel;
pub mod checkpoint;
pub mod clip;
mod config;
pub mod crossing;
mod ctc_objective;
pub mod eval;
pub mod identity;
pub mod interrupt;
pub mod leveloff;
mod log;
mod run;
pub mod schedule;
mod shard_grads;
mod state;
pub mod step;

pub use adamw::{AdamW, AdamWState, MomentState, ParamsAdamW};
pub use checkpoint::{
    complete_checkpoint, load_checkpoint, load_weights, read_checkpoint_meta, save_checkpoint,
    save_weights, TrainMeta,
};
pub use clip::{clip_grad_norm, grad_norm, group_scales, ClipScales};
pub use config::{TrainConfig, DEFAULT_MAX_NONFINITE_IN_A_ROW};
pub use ctc_objective::{ctc_term, train_ctc_options};
pub use eval::{eval_batch_indices, eval_batches, evaluate, map_eval_batches, Evaluation};
pub use log::RunLog;
pub use run::{CurvePoint, LossOut, TrainReport, TrainRun, Trainable};
pub use schedule::Schedule;

pub(crate) use run::io_err;

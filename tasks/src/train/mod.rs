//! The seeded training stack: AdamW with checkpointable state, learning-rate schedules,
//! global-norm gradient clipping, and atomic resumable checkpoints.

pub mod adamw;
pub mod checkpoint;
pub mod clip;
pub mod schedule;

pub use adamw::{AdamW, AdamWState, MomentState, ParamsAdamW};
pub use checkpoint::{
    complete_checkpoint, load_checkpoint, load_weights, save_checkpoint, save_weights,
    write_atomic, TrainMeta,
};
pub use clip::{clip_grad_norm, grad_norm};
pub use schedule::Schedule;

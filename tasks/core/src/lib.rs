//! The task-agnostic core of Oracle Teacher: the `Task` trait, CTC (loss, decoding, forced
//! alignment), vocabularies, metrics, batching, shared model parts, the seeded training stack
//! with the training loop every model uses, checkpoints, and export of any trained model.
//! Each recognition task is a crate of its own built on this one.

pub mod admit;
pub mod alloc;
pub mod batch;
pub mod cpu;
pub mod ctc;
pub mod device;
pub mod export;
pub mod io;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod ops;
pub mod params;
pub mod rng;
pub mod task;
pub mod threads;
pub mod train;
pub mod vocab;

pub use rng::Rng;
pub use task::{Batch, Encoded, EncoderConfig, Fwd, SourceEncoder, Task};

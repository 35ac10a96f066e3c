//! The shared foundation of Oracle Teacher: the `Task` trait, CTC, vocabularies, metrics,
//! batching, the seeded training stack, shared model parts, and the two tasks (speech and
//! scene-text word images) plus a tiny synthetic task for fast tests.

pub mod alloc;
pub mod asr;
pub mod batch;
pub mod ctc;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod params;
pub mod rng;
pub mod scene_text;
pub mod task;
pub mod toy;
pub mod train;
pub mod vocab;

pub use rng::Rng;
pub use task::{Batch, Encoded, EncoderConfig, Fwd, SourceEncoder, Task};

//! Teachers for CTC distillation: the Oracle Teacher (source + labels) with switchable
//! anti-copy strategies, the conventional teacher (source only), the training loop shared with
//! students, copy diagnostics, and cached teacher outputs.

pub mod anti_copy;
pub mod cache;
pub mod diagnostics;
pub mod fusion;
pub mod oracle;
pub mod teachers;
pub mod trainer;

pub use anti_copy::AntiCopy;
pub use oracle::{OracleConfig, OracleForward, OracleTeacher};
pub use trainer::{LossOut, TrainConfig, TrainReport, TrainRun, Trainable};

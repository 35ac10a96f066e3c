//! The Oracle Teacher (source + labels, fused by cross-attention) with switchable anti-copy
//! strategies, its training objective, and the copy diagnostics that check a trained oracle
//! reads its source. The conventional teacher is a plain `ctc_core::model::CtcModel`.

pub mod anti_copy;
pub mod diagnostics;
pub mod fusion;
mod objective;
pub mod oracle;

pub use anti_copy::AntiCopy;
pub use oracle::{OracleConfig, OracleForward, OracleTeacher};

//! Students and distillation: the Teacher trait over both teacher kinds, every KD loss, the
//! distillation objective as a `Trainable` for the shared loop, online distillation, and
//! export of a student on its own.

pub mod distill;
pub mod export;
pub mod losses;
pub mod online;
pub mod teacher;

pub use distill::Distiller;
pub use teacher::{Teacher, TeacherOut};
